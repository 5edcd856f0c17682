// The committer thread: takes what queued while the last batch committed, appends it in one
// statement, and hands each caller its own outcome.
#include "adapters/pg/group_commit.hpp"

#include <algorithm>
#include <future>
#include <pqxx/pqxx>
#include <unordered_set>

#include "adapters/metrics.hpp"

namespace order::pg {

GroupCommit::GroupCommit(ConnectionOptions options, std::size_t max_batch)
    : options_(std::move(options)), max_batch_(std::max<std::size_t>(1, max_batch)) {
  committer_ = std::thread([this] { run(); });
}

GroupCommit::~GroupCommit() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  committer_.join();
}

commands::AppendResult GroupCommit::append(EncodedAppend append) {
  auto result = std::make_shared<std::promise<commands::AppendResult>>();
  auto outcome = result->get_future();
  enqueue(std::make_shared<Pending>(
      Pending{std::move(append), commands::fulfilling(std::move(result))}));
  return outcome.get();
}

void GroupCommit::create_then(OrderIdBlocks& ids, std::string key, MakeAppend make, Done done) {
  EncodedAppend placeholder;
  placeholder.key = std::move(key);
  enqueue(std::make_shared<Pending>(
      Pending{std::move(placeholder), std::move(done), std::move(make), &ids}));
}

void GroupCommit::enqueue(std::shared_ptr<Pending> pending) {
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      pending->done(
          {}, std::make_exception_ptr(commands::StoreUnavailable("the service is shutting down")));
      return;
    }
    queue_.push_back(std::move(pending));
  }
  ready_.notify_one();
}

GroupCommit::Stats GroupCommit::stats() const {
  std::lock_guard lock(mutex_);
  Stats now = stats_;
  now.queued = queue_.size();
  return now;
}

void GroupCommit::run() {
  for (;;) {
    std::vector<std::shared_ptr<Pending>> batch = take_batch();
    if (batch.empty()) return;
    batch = make_new_streams(std::move(batch));
    if (!batch.empty()) commit(batch);
  }
}

// Everything queued, in arrival order, but at most one append per stream and per key: a second
// append to a stream was decided before the first one's outcome was known, and waits for it.
std::vector<std::shared_ptr<GroupCommit::Pending>> GroupCommit::take_batch() {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
  std::vector<std::shared_ptr<Pending>> batch;
  std::unordered_set<domain::OrderId> streams;
  std::unordered_set<std::string_view> keys;
  for (auto it = queue_.begin(); it != queue_.end() && batch.size() < max_batch_;) {
    const std::shared_ptr<Pending>& pending = *it;
    const auto& key = pending->append.key;
    // A new stream's id is not taken yet, and it is nobody else's.
    const bool new_stream = static_cast<bool>(pending->make);
    if ((!new_stream && streams.contains(pending->append.stream)) ||
        (!key.empty() && keys.contains(key))) {
      ++it;
      continue;
    }
    if (!new_stream) streams.insert(pending->append.stream);
    if (!key.empty()) keys.insert(key);
    batch.push_back(pending);
    it = queue_.erase(it);
  }
  if (!batch.empty()) {
    ++stats_.batches;
    stats_.appends += batch.size();
    stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch.size());
  }
  return batch;
}

pqxx::connection& GroupCommit::connection() { return open_connection(connection_, options_); }

namespace {

// Whether `error` (translated) says the database cannot be used now.
bool is_unavailable(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const commands::StoreUnavailable&) {
    return true;
  } catch (...) {
    return false;
  }
}

// Whether a batch that failed with `error` is worth retrying append by append: its statement
// failed by itself (nothing was written and the connection is usable) for a reason one of its
// appends may own: a key recorded meanwhile, data the database refuses, a deadlock. Not when
// the database is unreachable, overloaded or timing out: every append would fail the same way.
bool worth_retrying_alone(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::broken_connection&) {
    return false;
  } catch (const pqxx::in_doubt_error&) {
    return false;
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    return state == "40P01" || state == "40001" ||
           !(state.starts_with("08") || state.starts_with("53") || state.starts_with("57"));
  } catch (...) {
    return true;
  }
}

}  // namespace

std::vector<std::shared_ptr<GroupCommit::Pending>> GroupCommit::make_new_streams(
    std::vector<std::shared_ptr<Pending>> batch) {
  std::vector<std::shared_ptr<Pending>> ready;
  ready.reserve(batch.size());
  // Once an id cannot be had (the database is unreachable), no new stream of this batch tries.
  std::exception_ptr no_ids;
  for (auto& pending : batch) {
    if (!pending->make) {
      ready.push_back(std::move(pending));
      continue;
    }
    std::optional<EncodedAppend> made;
    std::exception_ptr failure = no_ids;
    if (!failure) {
      try {
        const domain::OrderId id = pending->ids->next(connection());
        made = pending->make(id);
      } catch (...) {
        failure = std::current_exception();
        bool connection_lost = false;
        failure = translate_store_error(failure, connection_lost);
        if (connection_lost) connection_.reset();
        // A connection lost, or none to be had: each further attempt would wait as long again
        // (connect_timeout, when the server is cut off from the network).
        if (connection_lost || is_unavailable(failure)) no_ids = failure;
      }
    }
    if (failure) {
      pending->done({}, failure);
    } else if (!made) {
      pending->done({}, nullptr);  // refused by the caller's decision: nothing to append
    } else {
      made->key = pending->append.key;
      pending->append = std::move(*made);
      ready.push_back(std::move(pending));
    }
  }
  return ready;
}

void GroupCommit::commit(const std::vector<std::shared_ptr<Pending>>& batch) {
  const ScopedTimer timer(metrics().append_seconds);
  metrics().append_batch_size.observe(static_cast<double>(batch.size()));
  // Runs appends in one statement; on failure returns the driver's error untranslated.
  auto attempt = [&](std::span<const EncodedAppend* const> appends,
                     std::vector<commands::AppendResult>& results) -> std::exception_ptr {
    try {
      results = append_batch(connection(), appends);
      return nullptr;
    } catch (...) {
      return std::current_exception();
    }
  };
  // What a caller is told: a lost connection is dropped, and the next batch opens a fresh one.
  auto answer = [&](const std::exception_ptr& error) {
    bool connection_lost = false;
    auto translated = translate_store_error(error, connection_lost);
    if (connection_lost) connection_.reset();
    return translated;
  };

  std::vector<const EncodedAppend*> appends;
  appends.reserve(batch.size());
  for (const auto& pending : batch) appends.push_back(&pending->append);
  std::vector<commands::AppendResult> results;
  const std::exception_ptr error = attempt(appends, results);
  if (!error) {
    metrics().append_commits += 1;
    metrics().appends_committed += static_cast<std::int64_t>(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->done(std::move(results[i]), nullptr);
    return;
  }
  if (batch.size() == 1 || !worth_retrying_alone(error)) {
    // Unreachable, or the commit's outcome unknown: every append shares that answer (retrying a
    // commit that may have happened could apply it twice).
    const auto translated = answer(error);
    for (const auto& pending : batch) pending->done({}, translated);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.batches_retried_alone;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const EncodedAppend* one[] = {appends[i]};
    std::vector<commands::AppendResult> alone;
    if (const auto failure = attempt(one, alone)) {
      batch[i]->done({}, answer(failure));
    } else {
      batch[i]->done(std::move(alone.front()), nullptr);
    }
  }
}

}  // namespace order::pg
