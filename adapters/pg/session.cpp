// A thread's connection, reopened after it is lost.
#include "adapters/pg/session.hpp"

#include <pqxx/nontransaction>

namespace order::pg {

Session::Session(ConnectionOptions options) : options_(std::move(options)) {}
Session::~Session() = default;

pqxx::connection& Session::connection() {
  if (connection_ && !still_open(*connection_)) connection_.reset();
  if (!connection_) {
    connection_ = connect(options_);
    ++generation_;
  }
  return *connection_;
}

bool Session::ping() {
  try {
    return run([](pqxx::connection& connection) {
      pqxx::nontransaction tx(connection);
      tx.exec("SELECT 1");
      return true;
    });
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace order::pg
