#pragma once
// The AGI call metric series (astra_agi_calls_total{route,outcome,transport},
// astra_agi_command_duration_seconds{command}), looked up once per route and outcome / per
// command and kept: the hooks then update them with atomics only (no lock, no allocation per
// call or command). Series are still created on first use, with the names and label values
// of issue 6.
//
// Thread affinity: the hooks call it from CAF workers and Asio threads concurrently; every
// member is thread-safe. Must outlive the FastAGI server; the metrics registry outlives it.
#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/agi/hooks.hpp"
#include "service/metrics/astra_metrics.hpp"

namespace astra::runtime {

class agi_series {
 public:
  // `route_paths`: the configured routes (agi.routes[].path); calls of any other route still
  // count, through the family's read-mostly index. `transport`: the value of the transport
  // label of every call series this object updates ("fastagi", or "async" for AsyncAGI over
  // AMI): one agi_series per transport.
  agi_series(metrics::astra_metrics& m, const std::vector<std::string>& route_paths,
             std::string transport = "fastagi");
  agi_series(const agi_series&) = delete;
  agi_series& operator=(const agi_series&) = delete;

  // astra_agi_calls_total{route,outcome,transport} += 1. `route`: the pattern the server reports.
  void call_ended(std::string_view route, agi::call_outcome outcome);
  // astra_agi_calls_total{route="none",outcome=<why>,transport} += 1 (closed_early is not a call: skipped).
  void refused(agi::refusal why);
  // astra_agi_command_duration_seconds{command} observes `latency` in seconds. `command`: the
  // catalog name the server reports ("stream file"), or "raw".
  void command_completed(std::string_view command, std::chrono::nanoseconds latency);

 private:
  static constexpr std::size_t outcome_slots = 8;  // > number of call_outcome values
  static constexpr std::size_t refusal_slots = 16;  // > number of refusal values
  using route_counters = std::array<metrics::series_slot<metrics::counter>, outcome_slots>;

  metrics::astra_metrics& m_;
  const std::string transport_;
  // Built in the constructor, read-only afterwards (lock-free lookups).
  std::unordered_map<std::string_view, std::unique_ptr<route_counters>> routes_;  // keys: patterns_
  std::vector<std::string> patterns_;
  std::unordered_map<std::string_view, std::size_t> command_index_;  // catalog name -> slot
  std::unique_ptr<metrics::series_slot<metrics::histogram>[]> commands_;
  std::array<metrics::series_slot<metrics::counter>, refusal_slots> refusals_;
};

}  // namespace astra::runtime
