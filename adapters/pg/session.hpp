// One thread's connection to the database, opened on first use and opened afresh after it is
// lost; the event store and the read-model queries of a thread share it (a pqxx connection is
// not thread-safe, so a session is never shared across threads).
#pragma once

#include <cstdint>
#include <memory>
#include <pqxx/connection>
#include <utility>

#include "adapters/pg/pg_event_store.hpp"

namespace order::pg {

class Session {
 public:
  explicit Session(ConnectionOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs `work(connection)`, on a fresh connection when the server ended the last one while it
  // sat idle (still_open). A driver error leaves as translate_store_error says (a
  // commands::StoreUnavailable when the database is out of reach), and a lost connection is
  // dropped, so the next call opens a fresh one.
  template <class F>
  auto run(F&& work) -> decltype(work(std::declval<pqxx::connection&>()));

  // Counts the connections opened: statements prepared on one must be prepared again on the next.
  std::uint64_t generation() const { return generation_; }
  // True when the database answers a trivial query now.
  bool ping();

 private:
  pqxx::connection& connection();

  ConnectionOptions options_;
  std::unique_ptr<pqxx::connection> connection_;
  std::uint64_t generation_ = 0;
};

template <class F>
auto Session::run(F&& work) -> decltype(work(std::declval<pqxx::connection&>())) {
  try {
    return work(connection());
  } catch (...) {
    bool connection_lost = false;
    auto error = translate_store_error(std::current_exception(), connection_lost);
    if (connection_lost) connection_.reset();
    std::rethrow_exception(error);
  }
}

}  // namespace order::pg
