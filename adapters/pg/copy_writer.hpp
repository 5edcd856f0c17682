// Rows into `COPY table (columns) FROM STDIN (FORMAT binary)`, encoded here and handed to the
// server tens of kilobytes at a time through libpq, within a libpqxx transaction. In the binary
// format the server reads a number or a timestamp as the eight bytes it stores, where the text
// format had it parse digits and dates: on a rebuild of `orders` that parsing was a third of the
// loading backend's time. (libpqxx 6.4's stream_to speaks only the text format, and escaped each
// field byte by byte into strings of its own.)
#pragma once

#include <cstdint>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <vector>

#include "commands/rfc3339.hpp"

struct pg_conn;  // libpq's PGconn

namespace order::pg {

// Whether the rows go in frozen (COPY's FREEZE): visible to every transaction at once and marked
// so on their pages, which then need no later pass to set hint bits or the visibility map. Only
// for a table created in the COPY's own transaction, under READ COMMITTED, that nobody reads
// until it commits (PostgreSQL refuses it otherwise).
enum class Freeze { no, yes };

class CopyWriter {
 public:
  // Starts the COPY on `tx`'s connection; the transaction can run nothing else until complete().
  CopyWriter(pqxx::dbtransaction& tx, const std::string& table,
             const std::vector<std::string>& columns, Freeze freeze = Freeze::no);
  // Abandons a COPY not completed: the server discards its rows and fails the transaction.
  ~CopyWriter();
  CopyWriter(const CopyWriter&) = delete;
  CopyWriter& operator=(const CopyWriter&) = delete;

  // The next field of the current row, for a column of the matching type: text (also varchar
  // and json, which the server reads as text), bigint, or timestamptz.
  CopyWriter& field(std::string_view text);
  CopyWriter& field(std::int64_t value);
  CopyWriter& field(commands::Microseconds time);
  void end_row();

  // Sends what is buffered and ends the COPY; the server's error, if any, is thrown here as a
  // pqxx::sql_error.
  void complete();

 private:
  void flush();
  void put_uint(std::uint64_t value, int bytes);

  pg_conn* connection_;  // libpq's PGconn, owned by the transaction's connection
  std::string query_;
  std::string buffer_;  // whole rows, then the current row's fields
  std::size_t row_start_ = 0;
  std::uint16_t fields_ = 0;
  bool open_ = false;
};

}  // namespace order::pg
