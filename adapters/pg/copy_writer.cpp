#include "adapters/pg/copy_writer.hpp"

#include <libpq-fe.h>

#include <pqxx/except>
#include <stdexcept>

#include "adapters/pg/libpq_handle.hpp"
#include "adapters/pg/timestamps.hpp"

namespace order::pg {
namespace {

// Rows go out once this much is buffered: a few hundred rows per send.
constexpr std::size_t kFlushBytes = std::size_t{64} * 1024;

constexpr std::size_t kMaxFieldBytes = std::size_t{1} << 30;

// The binary format's header: its signature, no flags, no header extension.
constexpr std::string_view kHeader("PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);

}  // namespace

CopyWriter::CopyWriter(pqxx::dbtransaction& tx, const std::string& table,
                       const std::vector<std::string>& columns, Freeze freeze)
    : connection_(libpq_handle(tx)) {
  query_ = "COPY " + tx.quote_name(table) + " (";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) query_ += ", ";
    query_ += tx.quote_name(columns[i]);
  }
  query_ += freeze == Freeze::yes ? ") FROM STDIN (FORMAT binary, FREEZE)"
                                  : ") FROM STDIN (FORMAT binary)";
  PGresult* started = PQexec(connection_, query_.c_str());
  if (started == nullptr || PQresultStatus(started) != PGRES_COPY_IN) {
    throw_libpq_error(connection_, started, query_);
  }
  PQclear(started);
  open_ = true;
  buffer_.reserve(kFlushBytes + kFlushBytes / 4);
  buffer_.append(kHeader);
  row_start_ = buffer_.size();
}

CopyWriter::~CopyWriter() {
  if (!open_) return;
  if (PQputCopyEnd(connection_, "the client abandoned the COPY") == 1) {
    while (PGresult* result = PQgetResult(connection_)) PQclear(result);
  }
}

void CopyWriter::put_uint(std::uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    buffer_.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

CopyWriter& CopyWriter::field(std::string_view text) {
  // A field's length is a signed 32-bit count; the server takes no value over 1 GB anyway.
  if (text.size() > kMaxFieldBytes) {
    throw std::length_error("a COPY field of " + std::to_string(text.size()) + " bytes");
  }
  if (fields_++ == 0) put_uint(0, 2);  // the row's field count, set by end_row()
  put_uint(static_cast<std::uint32_t>(text.size()), 4);
  buffer_.append(text);
  return *this;
}

CopyWriter& CopyWriter::field(std::int64_t value) {
  if (fields_++ == 0) put_uint(0, 2);
  put_uint(8, 4);
  put_uint(static_cast<std::uint64_t>(value), 8);
  return *this;
}

CopyWriter& CopyWriter::field(commands::Microseconds time) { return field(timestamptz_of(time)); }

void CopyWriter::end_row() {
  if (fields_ == 0) put_uint(0, 2);  // a row of no fields
  buffer_[row_start_] = static_cast<char>(fields_ >> 8);
  buffer_[row_start_ + 1] = static_cast<char>(fields_ & 0xff);
  fields_ = 0;
  if (buffer_.size() >= kFlushBytes) flush();
  row_start_ = buffer_.size();
}

void CopyWriter::flush() {
  if (buffer_.empty()) return;
  if (PQputCopyData(connection_, buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
    throw pqxx::broken_connection(PQerrorMessage(connection_));
  }
  buffer_.clear();
}

void CopyWriter::complete() {
  buffer_.resize(row_start_);  // a row begun and not ended is not sent
  put_uint(0xffff, 2);         // the trailer: a field count of -1
  flush();
  open_ = false;
  if (PQputCopyEnd(connection_, nullptr) != 1) {
    throw pqxx::broken_connection(PQerrorMessage(connection_));
  }
  finish_libpq_command(connection_, query_);
}

}  // namespace order::pg
