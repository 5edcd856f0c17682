// The Prometheus text rendering of Metrics, the histograms, and the process_* metrics.
#include "adapters/metrics.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <ctime>
#include <fstream>
#include <sstream>

#include "adapters/log.hpp"

namespace order {
namespace {

// Prometheus' text format for a float: shortest round trip, and its spellings of infinity.
std::string number(double value) {
  if (value == std::numeric_limits<double>::infinity()) return "+Inf";
  return fmt::format("{}", value);
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  if (labels.empty()) {
    out += fmt::format("{} {}\n", name, number(value));
  } else {
    out += fmt::format("{}{{{}}} {}\n", name, labels, number(value));
  }
}

// The _bucket, _sum and _count series of one histogram; `labels` without braces.
void histogram_samples(std::string& out, std::string_view name, std::string_view labels,
                       const Histogram& histogram) {
  const auto snapshot = histogram.snapshot();
  const auto& bounds = histogram.upper_bounds();
  const std::string separator = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    const std::string le =
        i < bounds.size() ? number(bounds[i]) : number(std::numeric_limits<double>::infinity());
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, separator, le,
                       snapshot.cumulative[i]);
  }
  sample(out, std::string(name) + "_sum", labels, snapshot.sum);
  sample(out, std::string(name) + "_count", labels,
         static_cast<double>(snapshot.cumulative.back()));
}

void histogram(std::string& out, std::string_view name, std::string_view help, const Histogram& h) {
  header(out, name, "histogram", help);
  histogram_samples(out, name, "", h);
}

void render_subscriber(std::string& out, std::string_view name, std::string_view what,
                       const SubscriberMetrics& m) {
  const auto metric = [&](std::string_view suffix) {
    return fmt::format("order_{}_{}", name, suffix);
  };
  header(out, metric("events_total"), "counter", fmt::format("Events {}.", what));
  sample(out, metric("events_total"), "", static_cast<double>(m.events_total.load()));
  header(out, metric("failures_total"), "counter",
         "Batches that failed and were retried from the checkpoint.");
  sample(out, metric("failures_total"), "", static_cast<double>(m.failures_total.load()));
  header(out, metric("lag_events"), "gauge", "Events of the log not yet handled.");
  sample(out, metric("lag_events"), "", static_cast<double>(m.lag_events.load()));
  header(out, metric("lag_seconds"), "gauge",
         "Age of the oldest event of the log not yet handled.");
  sample(out, metric("lag_seconds"), "", m.lag_seconds.load());
  header(out, metric("leader"), "gauge", "1 while this process holds the subscriber's lock.");
  sample(out, metric("leader"), "", m.leader.load());
}

std::string label_value(std::string_view value);

// Per shard of each subscription: leadership, lag, events handled (label `shard`; the number of
// series is bounded by SUBSCRIPTION_SHARDS).
void render_shards(std::string& out, const std::vector<Metrics::ShardView>& shards) {
  const auto labels = [](const Metrics::ShardView& s) {
    return fmt::format("subscription=\"{}\",shard=\"{}\",shards=\"{}\"",
                       label_value(s.subscription), s.index, s.count);
  };
  header(out, "order_subscription_shard_leader", "gauge",
         "1 while this process holds the lock of the subscription's shard.");
  for (const auto& s : shards) sample(out, "order_subscription_shard_leader", labels(s), s.leader);
  header(out, "order_subscription_shard_events_total", "counter",
         "Events this process handled in the subscription's shard.");
  for (const auto& s : shards) {
    sample(out, "order_subscription_shard_events_total", labels(s),
           static_cast<double>(s.events_total));
  }
  header(out, "order_subscription_shard_lag_events", "gauge",
         "Events of the log after the shard's checkpoint, as its last leader here saw them.");
  for (const auto& s : shards) {
    sample(out, "order_subscription_shard_lag_events", labels(s),
           static_cast<double>(s.lag_events));
  }
  header(out, "order_subscription_shard_lag_seconds", "gauge",
         "Age of the oldest event of the shard not yet handled, as its last leader here saw it.");
  for (const auto& s : shards) {
    sample(out, "order_subscription_shard_lag_seconds", labels(s), s.lag_seconds);
  }
}

// A label value from our own fixed tables; escaped anyway, as the format requires.
std::string label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot out;
  out.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    out.cumulative[i] = running;
  }
  out.sum = sum_.load(std::memory_order_relaxed);
  return out;
}

ScopedTimer::~ScopedTimer() {
  histogram_.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

std::vector<double> request_seconds_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
std::vector<double> latency_seconds_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}
std::vector<double> batch_size_buckets() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512}; }

std::optional<double> seconds_since_recorded(std::string_view text,
                                             std::chrono::system_clock::time_point now) {
  // YYYY-MM-DDTHH:MM:SS[.ffffff]Z, as the log reader formats it.
  if (text.size() < 20 || text.back() != 'Z' || text[4] != '-' || text[7] != '-' ||
      text[10] != 'T' || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  auto field = [&](std::size_t at, std::size_t length, int& value) {
    const auto [end, error] = std::from_chars(text.data() + at, text.data() + at + length, value);
    return error == std::errc() && end == text.data() + at + length;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!field(0, 4, year) || !field(5, 2, month) || !field(8, 2, day) || !field(11, 2, hour) ||
      !field(14, 2, minute) || !field(17, 2, second) || month < 1 || month > 12 || day < 1 ||
      day > 31) {
    return std::nullopt;
  }
  double fraction = 0;
  const std::string_view rest = text.substr(19, text.size() - 20);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2) return std::nullopt;
    double scale = 0.1;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return std::nullopt;
      fraction += (c - '0') * scale;
      scale /= 10;
    }
  }
  // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil): plain
  // arithmetic, where timegm() would normalise a struct tm for each event.
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int year_of_era = y - era * 400;
  const int day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + day_of_era - 719468;
  const std::int64_t seconds =
      days * 86400 + std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + std::int64_t{second};
  const double recorded = static_cast<double>(seconds) + fraction;
  const double at = std::chrono::duration<double>(now.time_since_epoch()).count();
  return at - recorded;
}

void PublicationClock::sent(const std::vector<projections::LogEvent>& events) {
  const double now_seconds =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto now = std::chrono::system_clock::now();
  std::lock_guard lock(mutex_);
  for (const auto& event : events) {
    const auto age = seconds_since_recorded(event.recorded_at, now);
    if (!age) continue;
    // Sent again after a failure or a new lead: what was pending from there on is replaced.
    while (!recorded_at_.empty() && recorded_at_.back().first >= event.position) {
      recorded_at_.pop_back();
    }
    recorded_at_.emplace_back(event.position, now_seconds - *age);
  }
  while (recorded_at_.size() > kMaxPending) recorded_at_.pop_front();
}

void PublicationClock::acknowledged(const projections::LogPosition& to, Histogram& histogram,
                                    std::chrono::system_clock::time_point now) {
  const double now_seconds = std::chrono::duration<double>(now.time_since_epoch()).count();
  std::lock_guard lock(mutex_);
  while (!recorded_at_.empty() && recorded_at_.front().first <= to) {
    histogram.observe(std::max(0.0, now_seconds - recorded_at_.front().second));
    recorded_at_.pop_front();
  }
}

std::size_t PublicationClock::pending() const {
  std::lock_guard lock(mutex_);
  return recorded_at_.size();
}

Metrics::Metrics()
    : append_seconds(request_seconds_buckets()),
      append_batch_size(batch_size_buckets()),
      load_batch_size(batch_size_buckets()),
      publish_ack_seconds(latency_seconds_buckets()),
      publish_wait_seconds(request_seconds_buckets()),
      publish_read_seconds(request_seconds_buckets()),
      projection_seconds(latency_seconds_buckets()) {}

void Metrics::observe_request(std::string_view method, std::string_view route, int status,
                              double seconds) {
  const int status_class = status / 100;
  if (status_class < 1 || status_class > 5) return;
  ++responses_by_class_[static_cast<std::size_t>(status_class)];
  std::lock_guard lock(requests_mutex_);
  auto key = std::make_tuple(std::string(method), std::string(route), status_class);
  auto it = requests_.find(key);
  if (it == requests_.end()) {
    // Bounded by construction (the callers pass route templates); bounded here too.
    if (requests_.size() >= kMaxRequestSeries) {
      key = std::make_tuple("other", "other", status_class);
    }
    it = requests_.find(key);
    if (it == requests_.end()) {
      it = requests_.emplace(key, std::make_unique<Histogram>(request_seconds_buckets())).first;
    }
  }
  it->second->observe(seconds);
}

void Metrics::projected(const std::vector<projections::LogEvent>& events) {
  const auto now = std::chrono::system_clock::now();
  for (const auto& event : events) {
    if (const auto age = seconds_since_recorded(event.recorded_at, now)) {
      projection_seconds.observe(std::max(0.0, *age));
    }
  }
}

ShardMetrics& Metrics::shard(const std::string& subscription, int index, int count) {
  std::lock_guard lock(shards_mutex_);
  auto& entry = shards_[{subscription, index}];
  if (!entry) {
    entry = std::make_unique<ShardMetrics>();
    entry->subscription = subscription;
    entry->index = index;
  }
  entry->count = count;
  return *entry;
}

void Metrics::refuse(const std::string& subscription, const std::string& reason) {
  std::lock_guard lock(shards_mutex_);
  refusals_[subscription] = reason;
}

std::vector<Metrics::ShardView> Metrics::shards() const {
  std::lock_guard lock(shards_mutex_);
  std::vector<ShardView> out;
  for (const auto& [key, m] : shards_) {
    out.push_back({m->subscription, m->index, m->count, m->leader.load(), m->events_total.load(),
                   m->lag_events.load(), m->lag_seconds.load()});
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Metrics::refusals() const {
  std::lock_guard lock(shards_mutex_);
  return {refusals_.begin(), refusals_.end()};
}

Metrics& metrics() {
  static Metrics instance;
  return instance;
}

std::string Metrics::render() const {
  std::string out;
  header(out, "order_http_request_duration_seconds", "histogram",
         "Time from a request's arrival to its answer handed to the transport, queueing included, "
         "by route template and status class.");
  {
    std::lock_guard lock(requests_mutex_);
    for (const auto& [key, h] : requests_) {
      const auto& [method, route, status_class] = key;
      histogram_samples(out, "order_http_request_duration_seconds",
                        fmt::format("method=\"{}\",route=\"{}\",status_class=\"{}xx\"",
                                    label_value(method), label_value(route), status_class),
                        *h);
    }
  }
  header(out, "order_http_responses_total", "counter", "Answers sent, by status class.");
  for (std::size_t i = 1; i <= 5; ++i) {
    sample(out, "order_http_responses_total", fmt::format("class=\"{}xx\"", i),
           static_cast<double>(responses_by_class_[i].load()));
  }
  header(out, "order_command_conflicts_retried_total", "counter",
         "Commands re-decided after a concurrent writer moved their stream.");
  sample(out, "order_command_conflicts_retried_total", "",
         static_cast<double>(conflicts_retried.load()));
  header(out, "order_group_commits_total", "counter", "Group commits that committed appends.");
  sample(out, "order_group_commits_total", "", static_cast<double>(append_commits.load()));
  header(out, "order_group_committed_appends_total", "counter",
         "Appends committed by group commits.");
  sample(out, "order_group_committed_appends_total", "",
         static_cast<double>(appends_committed.load()));
  histogram(out, "order_append_duration_seconds",
            "One group commit's statement, from its start to its commit.", append_seconds);
  histogram(out, "order_append_batch_size", "Appends carried by one group commit.",
            append_batch_size);
  histogram(out, "order_load_batch_size", "Stream loads carried by one group load statement.",
            load_batch_size);
  histogram(out, "order_publication_latency_seconds",
            "From an event's commit to the log to Kafka's acknowledgement of it.",
            publish_ack_seconds);
  histogram(out, "order_publication_wait_seconds",
            "The publisher's wait for Kafka to acknowledge every message of a batch it handed "
            "over.",
            publish_wait_seconds);
  histogram(out, "order_publication_read_seconds",
            "The publisher's read of a batch of events out of the log.", publish_read_seconds);
  histogram(out, "order_projection_latency_seconds",
            "From an event's commit to the log to the commit of its read-model row.",
            projection_seconds);
  render_subscriber(out, "publisher", "published to Kafka and acknowledged", publisher);
  render_subscriber(out, "projector", "projected into the orders read model", projector);
  render_subscriber(out, "product_sales", "projected into the product_sales read model",
                    product_sales);
  render_shards(out, shards());
  header(out, "order_rebuild_events_replayed", "gauge",
         "Events a running rebuild has replayed so far.");
  sample(out, "order_rebuild_events_replayed", "",
         static_cast<double>(rebuild_events_replayed.load()));
  header(out, "order_rebuild_log_events", "gauge",
         "Events in the log when the running rebuild began (its expected total).");
  sample(out, "order_rebuild_log_events", "", static_cast<double>(rebuild_log_events.load()));
  header(out, "order_idempotency_keys_purged_total", "counter",
         "Idempotency keys deleted after their time was up.");
  sample(out, "order_idempotency_keys_purged_total", "",
         static_cast<double>(idempotency_keys_purged.load()));
  header(out, "order_log_lines_dropped_total", "counter",
         "Log lines dropped because the log's queue was full (stderr not keeping up).");
  sample(out, "order_log_lines_dropped_total", "", static_cast<double>(log::dropped_lines()));
  out += render_process_metrics();
  return out;
}

std::string render_process_metrics() {
  std::string out;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page_bytes = static_cast<double>(::sysconf(_SC_PAGESIZE));
  // /proc/self/stat: fields after the command name (which may hold spaces, so split after ')').
  const std::string stat = read_file("/proc/self/stat");
  const auto close = stat.rfind(')');
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  if (close != std::string::npos) {
    std::istringstream rest(stat.substr(close + 2));
    for (std::string field; rest >> field;) fields.push_back(field);
  }
  auto field = [&](std::size_t number) -> double {  // 1-based, as in proc(5)
    const std::size_t index = number - 3;
    return index < fields.size() ? std::strtod(fields[index].c_str(), nullptr) : 0;
  };
  header(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  sample(out, "process_cpu_seconds_total", "", (field(14) + field(15)) / ticks);
  header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  sample(out, "process_resident_memory_bytes", "", field(24) * page_bytes);
  header(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  sample(out, "process_virtual_memory_bytes", "", field(23));

  double boot_seconds = 0;
  std::istringstream proc_stat(read_file("/proc/stat"));
  for (std::string line; std::getline(proc_stat, line);) {
    if (line.rfind("btime ", 0) == 0) boot_seconds = std::strtod(line.c_str() + 6, nullptr);
  }
  header(out, "process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.");
  sample(out, "process_start_time_seconds", "", boot_seconds + field(22) / ticks);

  double open_fds = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++open_fds;
    }
    ::closedir(dir);
    --open_fds;  // the directory's own descriptor
  }
  header(out, "process_open_fds", "gauge", "Number of open file descriptors.");
  sample(out, "process_open_fds", "", open_fds);
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  header(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
  sample(out, "process_max_fds", "", static_cast<double>(limit.rlim_cur));
  return out;
}

}  // namespace order
