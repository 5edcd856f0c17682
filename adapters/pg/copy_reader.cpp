#include "adapters/pg/copy_reader.hpp"

#include <libpq-fe.h>

#include <pqxx/except>
#include <stdexcept>

#include "adapters/pg/libpq_handle.hpp"

namespace order::pg {
namespace {

// The binary format's signature; a flags word and the length of a header extension follow.
constexpr std::string_view kSignature("PGCOPY\n\377\r\n\0", 11);

// The big-endian integer of a field of exactly `bytes` bytes.
std::uint64_t big_endian(std::string_view field, std::size_t bytes) {
  if (field.size() != bytes) {
    throw std::runtime_error("a binary field of " + std::to_string(field.size()) + " bytes where " +
                             std::to_string(bytes) + " were expected");
  }
  std::uint64_t value = 0;
  for (const char byte : field) value = value << 8U | static_cast<unsigned char>(byte);
  return value;
}

}  // namespace

CopyReader::CopyReader(pqxx::dbtransaction& tx, const std::string& query)
    : connection_(libpq_handle(tx)), query_("COPY (" + query + ") TO STDOUT (FORMAT binary)") {
  PGresult* started = PQexec(connection_, query_.c_str());
  if (started == nullptr || PQresultStatus(started) != PGRES_COPY_OUT) {
    throw_libpq_error(connection_, started, query_);
  }
  PQclear(started);
  open_ = true;
}

CopyReader::~CopyReader() {
  if (!open_) return;
  if (PGcancel* cancel = PQgetCancel(connection_)) {
    char error[256];
    PQcancel(cancel, error, sizeof error);
    PQfreeCancel(cancel);
  }
  char* buffer = nullptr;
  while (PQgetCopyData(connection_, &buffer, 0) > 0) PQfreemem(buffer);
  while (PGresult* result = PQgetResult(connection_)) PQclear(result);
}

bool CopyReader::read(std::string& out, std::size_t bytes) {
  while (open_) {
    char* buffer = nullptr;
    const int size = PQgetCopyData(connection_, &buffer, 0);
    if (size > 0) {
      out.append(buffer, static_cast<std::size_t>(size));
      PQfreemem(buffer);
      if (out.size() >= bytes) return true;
      continue;
    }
    open_ = false;
    if (size == -2) throw pqxx::broken_connection(PQerrorMessage(connection_));
    finish_libpq_command(connection_, query_);
  }
  return false;
}

BinaryRows::BinaryRows(std::string_view stream) : rest_(stream) {
  if (rest_.substr(0, kSignature.size()) != kSignature || rest_.size() < kSignature.size() + 8) {
    throw std::runtime_error("COPY output does not start with the binary format's header");
  }
  rest_.remove_prefix(kSignature.size());
  take(4);  // flags: none defined that a reader must know
  take_bytes(take(4));
}

std::uint32_t BinaryRows::take(std::size_t bytes) {
  return static_cast<std::uint32_t>(big_endian(take_bytes(bytes), bytes));
}

std::string_view BinaryRows::take_bytes(std::size_t bytes) {
  if (rest_.size() < bytes) throw std::runtime_error("COPY output cut short");
  const std::string_view taken = rest_.substr(0, bytes);
  rest_.remove_prefix(bytes);
  return taken;
}

std::int64_t BinaryRows::int64(std::string_view field) {
  return static_cast<std::int64_t>(big_endian(field, 8));
}

std::int32_t BinaryRows::int32(std::string_view field) {
  return static_cast<std::int32_t>(big_endian(field, 4));
}

std::string_view BinaryRows::jsonb_text(std::string_view field) {
  // jsonb's binary form: a version byte (1, the only one), then its text.
  if (field.empty() || field.front() != 1) throw std::runtime_error("a jsonb of another version");
  return field.substr(1);
}

}  // namespace order::pg
