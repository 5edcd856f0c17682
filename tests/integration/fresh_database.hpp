// A fresh database per test, created on the server of DB_URL, migrated, and dropped afterwards,
// so integration tests never see each other's rows.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <pqxx/pqxx>
#include <string>

#include "adapters/pg/migrations.hpp"

namespace order::testing {

class FreshDatabase {
 public:
  FreshDatabase() {
    static std::atomic<int> counter{0};
    const std::string server_url = std::getenv("DB_URL");
    name_ = "order_it_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    admin_url_ = server_url;
    {
      pqxx::connection admin(admin_url_);
      pqxx::nontransaction tx(admin);
      tx.exec("DROP DATABASE IF EXISTS " + name_);
      tx.exec("CREATE DATABASE " + name_);
    }
    // postgresql://user@host:port/db?params → same server, our database.
    const auto slash = server_url.find('/', server_url.find("://") + 3);
    const auto query = server_url.find('?', slash);
    url_ = server_url.substr(0, slash + 1) + name_ +
           (query == std::string::npos ? "" : server_url.substr(query));
    pqxx::connection connection(url_);
    order::pg::apply_migrations(connection, order::pg::embedded_migrations());
  }

  ~FreshDatabase() {
    try {
      pqxx::connection admin(admin_url_);
      pqxx::nontransaction tx(admin);
      tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
      // Leaving a test database behind is untidy, not a failure of the test.
    }
  }

  const std::string& url() const { return url_; }

  // One value of a one-row, one-column query.
  template <class T>
  T scalar(const std::string& sql) const {
    pqxx::connection connection(url_);
    pqxx::nontransaction tx(connection);
    return tx.exec(sql)[0][0].as<T>();
  }

 private:
  std::string name_;
  std::string admin_url_;
  std::string url_;
};

}  // namespace order::testing
