#pragma once
// astra's own Prometheus metrics: counters, gauges and histograms with labels, rendered in
// the text exposition format 0.0.4 (prometheus-cpp is not packaged for Debian 12).
//
// Thread-safety: every member of registry and the families is thread-safe. Looking up a
// series (family::with) takes the family's mutex and builds a vector of label values; the
// returned reference is stable for the registry's lifetime (series are never removed), and
// increments / sets on it are lock-free atomics. Hot paths keep the reference: in a
// series_slot when the label values are known in advance or enumerable (per route, per
// command), or through family::labels when they are open-ended (AMI action, ARI event type):
// a read-mostly index under a shared lock, without allocation once the series exists.
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace astra::metrics {

// Names follow Prometheus' rules: [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no ':').
bool valid_metric_name(std::string_view name) noexcept;
bool valid_label_name(std::string_view name) noexcept;

// Label value escaping of the text format: backslash, double quote and line feed.
std::string escape_label_value(std::string_view value);
// HELP text escaping of the text format: backslash and line feed.
std::string escape_help(std::string_view help);
// A sample value as the text format writes it: integers without exponent, +Inf, -Inf, NaN.
std::string format_value(double value);

class counter {
 public:
  // Adds `amount` (must be >= 0; negative amounts are ignored: counters never go down).
  void inc(double amount = 1.0) noexcept {
    if (amount >= 0) value_.fetch_add(amount, std::memory_order_relaxed);
  }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void inc(double amount = 1.0) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(double amount = 1.0) noexcept { value_.fetch_sub(amount, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class histogram {
 public:
  // `upper_bounds` strictly increasing, finite; the +Inf bucket is implicit.
  explicit histogram(const std::vector<double>& upper_bounds);
  // Records one observation (seconds, bytes, ...: the unit is the family's).
  void observe(double value) noexcept;

  struct snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then the +Inf bucket (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  snapshot snap() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bucket, non-cumulative; last = +Inf
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

// Default buckets for latencies in seconds: 0.5 ms .. 10 s.
const std::vector<double>& default_latency_buckets();

enum class metric_type { counter, gauge, histogram };

// A metric family: one name, one help text, fixed label names, one series per distinct
// tuple of label values.
template <class Series>
class family {
 public:
  family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<Series>()> make)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        make_(std::move(make)) {
    if (label_names_.empty()) with({});  // a label-less series exists from the start, at 0
  }

  // The series for these label values (created at 0 on first use). The number of values
  // must equal the number of label names; a mismatch is a programming error and yields a
  // series with the values truncated / padded with "".
  Series& with(std::vector<std::string> label_values) {
    label_values.resize(label_names_.size());
    std::lock_guard lock(mutex_);
    auto& slot = series_[label_values];
    if (!slot) slot = make_();
    return *slot;
  }
  Series& with(std::initializer_list<std::string_view> values) {
    return with(std::vector<std::string>(values.begin(), values.end()));
  }

  // The same series as with({values...}), for hot paths with open-ended label values: found
  // in a read-mostly index (shared lock, no allocation: the key is built in a thread-local
  // buffer) once it exists; the first lookup of a tuple also takes with()'s path and an
  // exclusive lock. Each value must convert to std::string_view.
  template <class... Values>
  Series& labels(const Values&... values) {
    thread_local std::string key;  // reused: no allocation once it is long enough
    key.clear();
    (append_key(key, std::string_view(values)), ...);
    {
      std::shared_lock lock(index_mutex_);
      if (auto it = index_.find(std::string_view(key)); it != index_.end()) return *it->second;
    }
    Series& s = with(std::vector<std::string>{std::string(std::string_view(values))...});
    std::unique_lock lock(index_mutex_);
    index_.emplace(key, &s);
    return s;
  }

  // The single series of a label-less family.
  Series& series() { return with(std::vector<std::string>{}); }

  const std::string& name() const noexcept { return name_; }
  const std::string& help() const noexcept { return help_; }
  const std::vector<std::string>& label_names() const noexcept { return label_names_; }

  // Calls fn(label_values, series) for every series in label-value order, under the mutex.
  template <class Fn>
  void for_each(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [values, series] : series_) fn(values, *series);
  }

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  // Unambiguous key of a tuple: each value preceded by its length (so ("a,b","c") and
  // ("a","b,c") differ).
  static void append_key(std::string& key, std::string_view value) {
    const auto n = static_cast<std::uint32_t>(value.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof n);
    key.append(value);
  }
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
  };

  std::function<std::unique_ptr<Series>()> make_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series_;
  // labels()' index: encoded tuple -> series owned by series_ (never removed, so never dangling).
  std::shared_mutex index_mutex_;
  std::unordered_map<std::string, Series*, key_hash, std::equal_to<>> index_;
};

// One series found on first use and kept: every later get() is one atomic load (no lock, no
// allocation). For hot paths whose label values are fixed per slot (a route's outcome, a
// command of the AGI catalog). Thread-safe; racing first uses find the same series.
template <class Series>
class series_slot {
 public:
  // `find` returns the series (e.g. [&] -> auto& { return fam.with({...}); }); called until
  // one call's result is stored.
  template <class Find>
  Series& get(Find&& find) {
    if (auto* s = series_.load(std::memory_order_acquire)) return *s;
    Series* s = &find();
    series_.store(s, std::memory_order_release);
    return *s;
  }

 private:
  std::atomic<Series*> series_{nullptr};
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

class registry {
 public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // Registering a name twice returns the existing family when the type and label names
  // match; otherwise (or for an invalid name) it throws std::invalid_argument: metric
  // families are declared at startup, where exceptions are allowed.
  counter_family& add_counter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  gauge_family& add_gauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  histogram_family& add_histogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> upper_bounds = default_latency_buckets());
  // A label-less series whose value is computed at scrape time (process metrics, queue
  // depths owned elsewhere). `read` runs on the scraping thread and must be thread-safe.
  void add_callback(const std::string& name, const std::string& help, metric_type type,
                    std::function<double()> read);

  // The whole registry in text exposition format 0.0.4, families in registration order.
  std::string render() const;

  // Content-Type of render()'s output.
  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct entry;
  void check_new(const std::string& name, const std::vector<std::string>& labels) const;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<entry>> entries_;
};

// Registers process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds,
// process_start_time_seconds (read from /proc/self at scrape time).
void register_process_metrics(registry& reg);

// Readings used by register_process_metrics; negative when /proc is unreadable.
struct process_reading {
  double resident_memory_bytes = -1;
  double cpu_seconds = -1;
  double open_fds = -1;
  double start_time_seconds = -1;
};
process_reading read_process();

}  // namespace astra::metrics
