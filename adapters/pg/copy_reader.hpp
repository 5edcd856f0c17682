// Rows out of `COPY (query) TO STDOUT (FORMAT binary)` through libpq, within a libpqxx
// transaction: numbers, timestamps and uuids arrive as the bytes the server stores, where a
// cursor's text rows had the server print each and the client parse it back. (libpqxx 6.4 reads
// COPY in its text format only.)
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <string_view>

struct pg_conn;  // libpq's PGconn

namespace order::pg {

class CopyReader {
 public:
  // Starts the COPY on `tx`'s connection; the transaction can run nothing else until the COPY
  // has been read to its end or this reader is gone.
  CopyReader(pqxx::dbtransaction& tx, const std::string& query);
  // Cancels a COPY not read to its end and waits for the connection to be free again.
  ~CopyReader();
  CopyReader(const CopyReader&) = delete;
  CopyReader& operator=(const CopyReader&) = delete;

  // Appends whole rows of the binary format's stream (the header first) to `out` until it holds
  // at least `bytes`, or the COPY ends. Returns false once the COPY has ended and succeeded;
  // throws the server's error as a pqxx::sql_error. Safe to call from another thread than the
  // one that made the reader, one thread at a time.
  bool read(std::string& out, std::size_t bytes);

 private:
  pg_conn* connection_;  // libpq's PGconn, owned by the transaction's connection
  std::string query_;
  bool open_ = false;
};

// A row of the binary format: up to N fields, each its bytes or nothing for NULL.
template <std::size_t N>
struct BinaryRow {
  std::array<std::optional<std::string_view>, N> fields;
  std::size_t count = 0;
};

// Reads the binary format's stream as CopyReader hands it over, row by row.
class BinaryRows {
 public:
  // Reads the header; throws std::runtime_error when `stream` does not start with one.
  explicit BinaryRows(std::string_view stream);
  // Within a stream, each further chunk of whole rows in turn.
  void next_chunk(std::string_view chunk) { rest_ = chunk; }

  // The next row of the current chunk, or false at its end or at the stream's end marker (then
  // ended() is true). Throws std::runtime_error on a row of more than N fields or cut short.
  template <std::size_t N>
  bool next(BinaryRow<N>& row);
  bool ended() const { return ended_; }

  // Values of the binary format, as COPY and a binary result hand them over; each throws
  // std::runtime_error on a field of another size or version.
  static std::int64_t int64(std::string_view field);           // bigint, xid8, timestamptz
  static std::int32_t int32(std::string_view field);           // integer
  static std::string_view jsonb_text(std::string_view field);  // jsonb: its text

 private:
  std::uint32_t take(std::size_t bytes);  // the big-endian unsigned integer of `bytes` bytes
  std::string_view take_bytes(std::size_t bytes);

  std::string_view rest_;
  bool ended_ = false;
};

template <std::size_t N>
bool BinaryRows::next(BinaryRow<N>& row) {
  if (ended_ || rest_.empty()) return false;
  const std::uint32_t count = take(2);
  if (count == 0xffff) {
    ended_ = true;
    return false;
  }
  if (count > N) throw std::runtime_error("COPY row of " + std::to_string(count) + " fields");
  row.count = count;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t length = take(4);
    if (length == 0xffffffff) {
      row.fields[i].reset();
    } else {
      row.fields[i] = take_bytes(length);
    }
  }
  return true;
}

}  // namespace order::pg
