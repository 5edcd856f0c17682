// libpq beneath libpqxx, for what libpqxx 6.4 does not do: COPY in the binary format.
#pragma once

#include <libpq-fe.h>

#include <pqxx/transaction>
#include <string>

namespace order::pg {

// The libpq connection a transaction runs on; it stays the transaction's connection's to own.
PGconn* libpq_handle(const pqxx::dbtransaction& tx);

// Throws the error `result` carries (or, without one, the connection's) as a pqxx::sql_error
// naming `query`, and frees the result.
[[noreturn]] void throw_libpq_error(PGconn* connection, PGresult* result, const std::string& query);

// Consumes the results of the command that last ran on `connection` (after a COPY's end): nothing
// when the first says it succeeded, otherwise its error, thrown as throw_libpq_error() does.
void finish_libpq_command(PGconn* connection, const std::string& query);

}  // namespace order::pg
