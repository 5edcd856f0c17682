// The loader thread: takes what queued while the last batch ran, loads it in one statement, and
// hands each caller its own stream.
#include "adapters/pg/group_load.hpp"

#include <algorithm>
#include <future>
#include <utility>

#include "adapters/metrics.hpp"

namespace order::pg {

GroupLoad::GroupLoad(ConnectionOptions options, std::size_t max_batch)
    : options_(std::move(options)), max_batch_(std::max<std::size_t>(1, max_batch)) {
  loader_ = std::thread([this] { run(); });
}

GroupLoad::~GroupLoad() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  loader_.join();
}

commands::LoadedStream GroupLoad::load(LoadRequest request) {
  // Held by the callback too: the loader may still be returning from set_value() when this
  // caller wakes up and leaves.
  auto result = std::make_shared<std::promise<commands::LoadedStream>>();
  auto outcome = result->get_future();
  load_then(std::move(request),
            [result](commands::LoadedStream stream, const std::exception_ptr& error) {
              if (error) {
                result->set_exception(error);
              } else {
                result->set_value(std::move(stream));
              }
            });
  return outcome.get();
}

void GroupLoad::load_then(LoadRequest request, commands::EventStore::LoadDone done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(request), std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    done({}, std::make_exception_ptr(commands::StoreUnavailable("the service is shutting down")));
    return;
  }
  ready_.notify_one();
}

GroupLoad::Alone GroupLoad::try_alone() {
  std::lock_guard lock(mutex_);
  if (stopping_ || batch_running_ || alone_ > 0 || !queue_.empty()) return Alone();
  ++alone_;
  ++stats_.alone;
  return Alone(this);
}

void GroupLoad::end_alone() {
  std::lock_guard lock(mutex_);
  --alone_;
}

GroupLoad::Stats GroupLoad::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void GroupLoad::run() {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and every load asked for has its answer
      const auto count = static_cast<std::ptrdiff_t>(std::min(queue_.size(), max_batch_));
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + count));
      queue_.erase(queue_.begin(), queue_.begin() + count);
      batch_running_ = true;
      ++stats_.batches;
      stats_.loads += batch.size();
      stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch.size());
    }
    run_batch(batch);
    batch.clear();
    std::lock_guard lock(mutex_);
    batch_running_ = false;
  }
}

void GroupLoad::run_batch(std::vector<Pending>& batch) {
  metrics().load_batch_size.observe(static_cast<double>(batch.size()));
  std::vector<const LoadRequest*> requests;
  requests.reserve(batch.size());
  for (const auto& pending : batch) requests.push_back(&pending.request);
  std::vector<LoadOutcome> loaded;
  try {
    loaded = load_batch(open_connection(connection_, options_), requests);
  } catch (...) {
    bool connection_lost = false;
    const auto error = translate_store_error(std::current_exception(), connection_lost);
    if (connection_lost) connection_.reset();
    for (auto& pending : batch) pending.done({}, error);
    return;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (loaded[i].error) {
      batch[i].done({}, loaded[i].error);
    } else {
      batch[i].done(std::move(loaded[i].stream), nullptr);
    }
  }
}

}  // namespace order::pg
