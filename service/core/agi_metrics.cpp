#include "service/core/agi_metrics.hpp"

#include "actors/agi/router.hpp"
#include "protocols/agi/command.hpp"

namespace astra::runtime {

agi_series::agi_series(metrics::astra_metrics& m, const std::vector<std::string>& route_paths, std::string transport)
    : m_(m), transport_(std::move(transport)) {
  // The server reports a route by its normalised pattern (router::normalise).
  patterns_.reserve(route_paths.size());
  for (const auto& path : route_paths) patterns_.push_back(agi::router::normalise(path));
  for (const auto& pattern : patterns_) routes_.emplace(pattern, std::make_unique<route_counters>());
  const auto catalog = agi::all_commands();
  for (std::size_t i = 0; i < catalog.size(); ++i) command_index_.emplace(catalog[i].name, i);
  command_index_.emplace("raw", catalog.size());  // send() of a verb outside the catalog
  commands_ = std::make_unique<metrics::series_slot<metrics::histogram>[]>(catalog.size() + 1);
}

void agi_series::call_ended(std::string_view route, agi::call_outcome outcome) {
  const auto o = static_cast<std::size_t>(outcome);
  auto it = routes_.find(route);
  if (it == routes_.end() || o >= outcome_slots) {
    m_.agi_calls.labels(route, agi::to_string(outcome), transport_).inc();
    return;
  }
  (*it->second)[o]
      .get([&]() -> metrics::counter& { return m_.agi_calls.with({std::string(route), agi::to_string(outcome), transport_}); })
      .inc();
}

void agi_series::refused(agi::refusal why) {
  if (why == agi::refusal::closed_early) return;  // health probes and scanners are not calls
  const auto r = static_cast<std::size_t>(why);
  if (r >= refusal_slots) {
    m_.agi_calls.labels("none", agi::to_string(why), transport_).inc();
    return;
  }
  refusals_[r].get([&]() -> metrics::counter& { return m_.agi_calls.with({"none", agi::to_string(why), transport_}); }).inc();
}

void agi_series::command_completed(std::string_view command, std::chrono::nanoseconds latency) {
  const double seconds = std::chrono::duration<double>(latency).count();
  auto it = command_index_.find(command);
  if (it == command_index_.end()) {
    m_.agi_command_duration.labels(command).observe(seconds);
    return;
  }
  commands_[it->second]
      .get([&]() -> metrics::histogram& { return m_.agi_command_duration.with({std::string(command)}); })
      .observe(seconds);
}

}  // namespace astra::runtime
