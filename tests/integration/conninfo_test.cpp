// The connection string the service connects with: the network timeouts libpq leaves off are
// added unless the operator's URL sets them, everything the URL says is kept, and both ends of a
// real connection run with them. Passwords never reach a log in either form of URL.
#include "adapters/pg/conninfo.hpp"

#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <map>
#include <pqxx/pqxx>
#include <string>

#include "adapters/pg/libpq_handle.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "fresh_database.hpp"

namespace {

using namespace order;

// The parameters a connection string sets, as libpq reads it.
std::map<std::string, std::string> parsed(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) {
    const std::string reason = error;
    PQfreemem(error);
    FAIL("libpq cannot parse " << conninfo << ": " << reason);
  }
  std::map<std::string, std::string> set;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr) set.emplace(option->keyword, option->val);
  }
  PQconninfoFree(options);
  return set;
}

// Unsets PGCONNECT_TIMEOUT for a test and puts back what was there.
class ConnectTimeoutVariable {
 public:
  ConnectTimeoutVariable() {
    if (const char* value = std::getenv("PGCONNECT_TIMEOUT")) saved_ = value;
    ::unsetenv("PGCONNECT_TIMEOUT");
  }
  ~ConnectTimeoutVariable() {
    if (saved_.empty()) {
      ::unsetenv("PGCONNECT_TIMEOUT");
    } else {
      ::setenv("PGCONNECT_TIMEOUT", saved_.c_str(), 1);
    }
  }

 private:
  std::string saved_;
};

}  // namespace

TEST_CASE("conninfo: the network timeouts are added to a URL that does not set them") {
  const ConnectTimeoutVariable unset;
  const auto set = parsed(pg::with_network_timeouts(
      "postgresql://orders:p%27a%5Css@db.example:6432,db2.example:6433/shop?sslmode=require",
      5000));
  CHECK(set.at("user") == "orders");
  CHECK(set.at("password") == "p'a\\ss");
  CHECK(set.at("host") == "db.example,db2.example");
  CHECK(set.at("port") == "6432,6433");
  CHECK(set.at("dbname") == "shop");
  CHECK(set.at("sslmode") == "require");
  CHECK(set.at("connect_timeout") == std::to_string(pg::kConnectTimeoutS));
  CHECK(set.at("keepalives") == "1");
  CHECK(set.at("keepalives_idle") == std::to_string(pg::kKeepaliveIdleS));
  CHECK(set.at("keepalives_interval") == std::to_string(pg::kKeepaliveIntervalS));
  CHECK(set.at("tcp_user_timeout") == std::to_string(pg::kNetworkTimeoutMs));
  CHECK(set.size() == 11);
}

TEST_CASE("conninfo: what the operator set wins, in either form and from PGCONNECT_TIMEOUT") {
  const ConnectTimeoutVariable unset;
  auto set = parsed(pg::with_network_timeouts(
      "postgresql://h/db?connect_timeout=30&keepalives_idle=60&tcp_user_timeout=0", 5000));
  CHECK(set.at("connect_timeout") == "30");
  CHECK(set.at("keepalives_idle") == "60");
  CHECK(set.at("tcp_user_timeout") == "0");
  CHECK(set.at("keepalives_interval") == std::to_string(pg::kKeepaliveIntervalS));

  set = parsed(pg::with_network_timeouts("host=h dbname=db keepalives=0", 5000));
  CHECK(set.at("keepalives") == "0");
  CHECK(set.at("host") == "h");

  ::setenv("PGCONNECT_TIMEOUT", "12", 1);
  set = parsed(pg::with_network_timeouts("postgresql://h/db", 5000));
  CHECK_FALSE(set.contains("connect_timeout"));  // libpq reads the variable then
  CHECK(set.at("tcp_user_timeout") == std::to_string(pg::kNetworkTimeoutMs));
}

TEST_CASE("conninfo: a connection whose statements may run longer waits as long on the network") {
  // order-admin's: a rebuild's COPY may find the server busy writing for a while.
  const auto set = parsed(pg::with_network_timeouts("postgresql://h/db", 60'000));
  CHECK(set.at("tcp_user_timeout") == "60000");
}

TEST_CASE("conninfo: a URL libpq cannot parse is left for libpq to refuse with its reason") {
  CHECK(pg::with_network_timeouts("postgresql://h/db?no_such_option=1", 5000) ==
        "postgresql://h/db?no_such_option=1");
  CHECK(pg::with_network_timeouts("host='unterminated", 5000) == "host='unterminated");
}

TEST_CASE("conninfo: both ends of a service connection over TCP run with the timeouts") {
  const ConnectTimeoutVariable unset;
  const testing::FreshDatabase db;
  REQUIRE(parsed(db.url()).contains("host"));  // DB_URL names a TCP host: the settings apply
  auto connection = pg::connect({db.url(), 5000});
  pqxx::work tx(*connection);
  // The server's end: it gives up a vanished client too.
  for (const auto& setting : pg::kServerKeepalives) {
    CAPTURE(setting.name);
    CHECK(tx.exec1(std::string("SHOW ") + setting.name)[0].as<std::string>() ==
          std::to_string(setting.value));
  }
  // The client's end, as libpq opened it.
  std::map<std::string, std::string> in_use;
  PQconninfoOption* options = PQconninfo(pg::libpq_handle(tx));
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr) in_use.emplace(option->keyword, option->val);
  }
  PQconninfoFree(options);
  CHECK(in_use.at("keepalives_idle") == std::to_string(pg::kKeepaliveIdleS));
  CHECK(in_use.at("tcp_user_timeout") == std::to_string(pg::kNetworkTimeoutMs));
  CHECK(in_use.at("connect_timeout") == std::to_string(pg::kConnectTimeoutS));
}

TEST_CASE("conninfo: a password is masked in both forms of URL") {
  CHECK(pg::redact_url("postgresql://orders:s3cret@db:5432/shop") ==
        "postgresql://orders:***@db:5432/shop");
  CHECK(pg::redact_url("postgresql://orders@db/shop?sslmode=require&password=s3cret&x=1") ==
        "postgresql://orders@db/shop?sslmode=require&password=***&x=1");
  CHECK(pg::redact_url("host=db password='a s\\'ecret' dbname=shop") ==
        "host=db password=*** dbname=shop");
  CHECK(pg::redact_url("host=db password=s3cret") == "host=db password=***");
  CHECK(pg::redact_url("postgresql://orders@db/shop") == "postgresql://orders@db/shop");
  CHECK(pg::redact_url("host=db dbname=oldpassword=x") == "host=db dbname=oldpassword=x");
}
