#include "adapters/pg/libpq_handle.hpp"

#include <pqxx/except>
#include <pqxx/largeobject>

namespace order::pg {
namespace {

// libpqxx 6.4 hands its connection's libpq handle to large objects alone, through a protected
// member.
struct RawConnection : pqxx::largeobject {
  static PGconn* of(const pqxx::dbtransaction& tx) { return raw_connection(tx); }
};

}  // namespace

PGconn* libpq_handle(const pqxx::dbtransaction& tx) { return RawConnection::of(tx); }

void throw_libpq_error(PGconn* connection, PGresult* result, const std::string& query) {
  std::string error = result != nullptr ? PQresultErrorMessage(result) : "";
  std::string sqlstate;
  if (result != nullptr) {
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) sqlstate = state;
    if (error.empty()) error = std::string("unexpected ") + PQresStatus(PQresultStatus(result));
    PQclear(result);
  }
  if (error.empty()) error = PQerrorMessage(connection);
  throw pqxx::sql_error(error, query, sqlstate.empty() ? nullptr : sqlstate.c_str());
}

void finish_libpq_command(PGconn* connection, const std::string& query) {
  PGresult* result = PQgetResult(connection);
  for (PGresult* more = result; more != nullptr;) {
    more = PQgetResult(connection);
    if (more != nullptr) PQclear(more);
  }
  if (result == nullptr || PQresultStatus(result) != PGRES_COMMAND_OK) {
    throw_libpq_error(connection, result, query);
  }
  PQclear(result);
}

}  // namespace order::pg
