#include "service/metrics/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <variant>

namespace astra::metrics {

namespace {

bool name_char(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (allow_colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += escape_label_value(i < values.size() ? values[i] : std::string());
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

std::string_view type_name(metric_type t) {
  switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

bool valid_metric_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, true)) return false;
  return true;
}

bool valid_label_name(std::string_view name) noexcept {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!name_char(name[i], i == 0, false)) return false;
  return true;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == 0) return "0";  // also folds -0
  char buf[64];
  // Integral values below 2^53 are written in full (no exponent): counters read naturally.
  if (std::fabs(value) < 9007199254740992.0 && std::trunc(value) == value) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(value));
    return std::string(buf, r.ptr);
  }
  // Shortest round-trip form; plain decimals in the everyday range (0.0005, not 5e-04).
  const double magnitude = std::fabs(value);
  auto r = (magnitude >= 1e-6 && magnitude < 1e15)
               ? std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed)
               : std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, r.ptr);
}

histogram::histogram(const std::vector<double>& upper_bounds)
    : bounds_(upper_bounds), buckets_(new std::atomic<std::uint64_t>[upper_bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double value) noexcept {
  // Bucket i counts values <= bounds_[i] (and > bounds_[i-1]); NaN goes to +Inf only.
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  std::size_t index = std::isnan(value) ? bounds_.size() : static_cast<std::size_t>(it - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

histogram::snapshot histogram::snap() const {
  snapshot s;
  s.upper_bounds = bounds_;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // Count from the buckets so _count always equals the +Inf bucket in one scrape even
  // while observations race with the read.
  s.count = running;
  return s;
}

const std::vector<double>& default_latency_buckets() {
  static const std::vector<double> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,    0.25,  0.5,    1,     2.5,   5,     10};
  return buckets;
}

struct registry::entry {
  std::string name;
  metric_type type;
  std::vector<std::string> label_names;
  std::variant<std::unique_ptr<counter_family>, std::unique_ptr<gauge_family>,
               std::unique_ptr<histogram_family>, std::function<double()>>
      impl;
  std::string help;
  std::vector<double> bounds;  // histograms only
};

registry::registry() = default;
registry::~registry() = default;

void registry::check_new(const std::string& name, const std::vector<std::string>& labels) const {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name: " + name);
  for (const auto& l : labels)
    if (!valid_label_name(l) || l == "le" || l == "quantile")
      throw std::invalid_argument("invalid label name '" + l + "' for metric " + name);
}

counter_family& registry::add_counter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  for (auto& e : entries_)
    if (e->name == name) {
      if (e->type == metric_type::counter && e->label_names == label_names &&
          std::holds_alternative<std::unique_ptr<counter_family>>(e->impl))
        return *std::get<std::unique_ptr<counter_family>>(e->impl);
      throw std::invalid_argument("metric registered twice with a different shape: " + name);
    }
  check_new(name, label_names);
  auto e = std::make_unique<entry>();
  e->name = name;
  e->type = metric_type::counter;
  e->label_names = label_names;
  e->help = help;
  auto fam = std::make_unique<counter_family>(name, help, std::move(label_names),
                                              [] { return std::make_unique<counter>(); });
  auto& ref = *fam;
  e->impl = std::move(fam);
  entries_.push_back(std::move(e));
  return ref;
}

gauge_family& registry::add_gauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  for (auto& e : entries_)
    if (e->name == name) {
      if (e->type == metric_type::gauge && e->label_names == label_names &&
          std::holds_alternative<std::unique_ptr<gauge_family>>(e->impl))
        return *std::get<std::unique_ptr<gauge_family>>(e->impl);
      throw std::invalid_argument("metric registered twice with a different shape: " + name);
    }
  check_new(name, label_names);
  auto e = std::make_unique<entry>();
  e->name = name;
  e->type = metric_type::gauge;
  e->label_names = label_names;
  e->help = help;
  auto fam = std::make_unique<gauge_family>(name, help, std::move(label_names),
                                            [] { return std::make_unique<gauge>(); });
  auto& ref = *fam;
  e->impl = std::move(fam);
  entries_.push_back(std::move(e));
  return ref;
}

histogram_family& registry::add_histogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
  std::lock_guard lock(mutex_);
  for (auto& e : entries_)
    if (e->name == name) {
      if (e->type == metric_type::histogram && e->label_names == label_names && e->bounds == upper_bounds)
        return *std::get<std::unique_ptr<histogram_family>>(e->impl);
      throw std::invalid_argument("metric registered twice with a different shape: " + name);
    }
  check_new(name, label_names);
  for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && upper_bounds[i] <= upper_bounds[i - 1]))
      throw std::invalid_argument("histogram buckets must be finite and strictly increasing: " + name);
  }
  auto e = std::make_unique<entry>();
  e->name = name;
  e->type = metric_type::histogram;
  e->label_names = label_names;
  e->help = help;
  e->bounds = upper_bounds;
  auto fam = std::make_unique<histogram_family>(
      name, help, std::move(label_names),
      [b = std::move(upper_bounds)] { return std::make_unique<histogram>(b); });
  auto& ref = *fam;
  e->impl = std::move(fam);
  entries_.push_back(std::move(e));
  return ref;
}

void registry::add_callback(const std::string& name, const std::string& help, metric_type type,
                            std::function<double()> read) {
  std::lock_guard lock(mutex_);
  for (auto& e : entries_)
    if (e->name == name) throw std::invalid_argument("metric registered twice: " + name);
  check_new(name, {});
  if (type == metric_type::histogram) throw std::invalid_argument("callback histograms are not supported: " + name);
  auto e = std::make_unique<entry>();
  e->name = name;
  e->type = type;
  e->help = help;
  e->impl = std::move(read);
  entries_.push_back(std::move(e));
}

std::string registry::render() const {
  std::string out;
  out.reserve(4096);
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_) {
    out += "# HELP ";
    out += e->name;
    out += ' ';
    out += escape_help(e->help);
    out += "\n# TYPE ";
    out += e->name;
    out += ' ';
    out += type_name(e->type);
    out += '\n';
    const auto& labels = e->label_names;
    if (auto* c = std::get_if<std::unique_ptr<counter_family>>(&e->impl)) {
      (*c)->for_each([&](const std::vector<std::string>& values, const counter& s) {
        out += e->name;
        append_labels(out, labels, values);
        out += ' ';
        out += format_value(s.value());
        out += '\n';
      });
    } else if (auto* g = std::get_if<std::unique_ptr<gauge_family>>(&e->impl)) {
      (*g)->for_each([&](const std::vector<std::string>& values, const gauge& s) {
        out += e->name;
        append_labels(out, labels, values);
        out += ' ';
        out += format_value(s.value());
        out += '\n';
      });
    } else if (auto* h = std::get_if<std::unique_ptr<histogram_family>>(&e->impl)) {
      (*h)->for_each([&](const std::vector<std::string>& values, const histogram& s) {
        auto snap = s.snap();
        for (std::size_t i = 0; i <= snap.upper_bounds.size(); ++i) {
          out += e->name;
          out += "_bucket";
          std::string le = i < snap.upper_bounds.size() ? format_value(snap.upper_bounds[i]) : "+Inf";
          append_labels(out, labels, values, "le", le);
          out += ' ';
          out += format_value(static_cast<double>(snap.cumulative[i]));
          out += '\n';
        }
        out += e->name;
        out += "_sum";
        append_labels(out, labels, values);
        out += ' ';
        out += format_value(snap.sum);
        out += '\n';
        out += e->name;
        out += "_count";
        append_labels(out, labels, values);
        out += ' ';
        out += format_value(static_cast<double>(snap.count));
        out += '\n';
      });
    } else if (auto* fn = std::get_if<std::function<double()>>(&e->impl)) {
      out += e->name;
      out += ' ';
      out += format_value((*fn)());
      out += '\n';
    }
  }
  return out;
}

}  // namespace astra::metrics
