// Heartbeats in subscription_members; held advisory locks from pg_locks.
#include "adapters/pg/membership.hpp"

#include <unistd.h>

#include <pqxx/pqxx>
#include <random>

#include "adapters/log.hpp"

namespace order::pg {
namespace {

// Liveness is judged by the database's clock alone, so the instances' clocks need not agree.
constexpr const char* kBeat = R"(
INSERT INTO subscription_members (instance_id) VALUES ($1)
ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = now())";

constexpr const char* kLive = R"(
SELECT instance_id FROM subscription_members
WHERE heartbeat_at > now() - make_interval(secs => $1::float8 / 1000)
ORDER BY instance_id)";

// Rows silent for a minute are gone for good.
constexpr const char* kForget =
    "DELETE FROM subscription_members WHERE heartbeat_at < now() - interval '1 minute'";

// Session advisory locks on one bigint key: classid holds its high half, objid its low half.
constexpr const char* kHeldLocks = R"(
SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))";

}  // namespace

Membership::Membership(ConnectionOptions database, std::string instance, MembershipOptions options)
    : database_(std::move(database)), instance_(std::move(instance)), options_(options) {}

Membership::~Membership() { stop(); }

void Membership::start() {
  try {
    beat();
  } catch (const std::exception& error) {
    log::warn("membership", "heartbeat failed", {{"error", error.what()}});
  }
  thread_ = std::thread([this] { run(); });
}

void Membership::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The last heartbeat found the database out of reach: a new connection would most likely wait
  // its connect_timeout in vain, and hold the stop up. The row expires after live_for anyway.
  if (!connection_ && !answered_) {
    log::warn("membership",
              "not leaving the members: the database did not answer the last "
              "heartbeat; this instance's row expires by itself");
    return;
  }
  try {
    if (!connection_) connection_ = connect(database_);
    pqxx::work tx(*connection_);
    tx.exec_params("DELETE FROM subscription_members WHERE instance_id = $1", instance_);
    tx.commit();
  } catch (const std::exception& error) {
    log::warn("membership", "could not leave the members", {{"error", error.what()}});
  }
  connection_.reset();
}

void Membership::beat() {
  try {
    if (!connection_) connection_ = connect(database_);
    pqxx::work tx(*connection_);
    tx.exec_params(kBeat, instance_);
    std::vector<std::string> members;
    for (const auto& row : tx.exec_params(kLive, options_.live_for.count())) {
      members.push_back(row[0].as<std::string>());
    }
    std::set<long long> held;
    for (const auto& row : tx.exec(kHeldLocks)) held.insert(row[0].as<long long>());
    tx.exec(kForget);
    tx.commit();
    std::lock_guard lock(mutex_);
    members_ = std::move(members);
    held_locks_ = std::move(held);
    last_beat_ = std::chrono::steady_clock::now();
  } catch (const pqxx::broken_connection&) {
    connection_.reset();
    throw;
  }
}

void Membership::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.beat, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    try {
      beat();
      answered_ = true;
    } catch (const std::exception& error) {
      answered_ = false;
      log::warn("membership", "heartbeat failed", {{"error", error.what()}});
    }
    lock.lock();
  }
}

std::vector<std::string> Membership::members() const {
  std::lock_guard lock(mutex_);
  return members_;
}

bool Membership::lock_held(long long key) const {
  std::lock_guard lock(mutex_);
  return held_locks_.contains(key);
}

std::chrono::steady_clock::time_point Membership::last_beat() const {
  std::lock_guard lock(mutex_);
  return last_beat_;
}

std::string default_instance_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device random;
  const auto suffix = std::uniform_int_distribution<unsigned>(0, 0xffff)(random);
  char tail[8];
  std::snprintf(tail, sizeof tail, "%04x", suffix);
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + tail;
}

}  // namespace order::pg
