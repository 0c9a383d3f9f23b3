// astra::agi::async_agi: configuration, the state shared by dispatchers and calls, attach and
// the drain (see async_agi.hpp).
#include "actors/agi/detail/async_impl.hpp"

#include <random>
#include <stdexcept>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace astra::agi {

namespace detail {

namespace {
std::string random_prefix() {
  std::random_device rd;
  char text[16];
  std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(rd()));
  return std::string("astra-") + text + "-";
}
}  // namespace

async_shared::async_shared(async_agi_config c) : config(std::move(c)) {
  core.command_timeout = config.command_timeout;
  core.timeout_margin = config.timeout_margin;
  core.long_command_timeout = config.long_command_timeout;
  core.hangup_reply_grace = config.hangup_reply_grace;
  core.fail_fast_after_hangup = config.fail_fast_after_hangup;
  core.max_commands_after_close = config.max_commands_after_close;
  core.max_call_duration = config.max_call_duration;
  core.faults = &faults;
  id_prefix = config.command_id_prefix.empty() ? random_prefix() : config.command_id_prefix;
}

bool async_shared::admit() {
  std::lock_guard lock(mutex);
  if (live >= config.max_calls) return false;
  ++live;
  return true;
}

void async_shared::call_ended(call_outcome outcome) {
  switch (outcome) {
    case call_outcome::completed: counters.completed.fetch_add(1, std::memory_order_relaxed); break;
    case call_outcome::failed:
    case call_outcome::exception: counters.failed.fetch_add(1, std::memory_order_relaxed); break;
    case call_outcome::cut: counters.cut.fetch_add(1, std::memory_order_relaxed); break;
    case call_outcome::timed_out: counters.timed_out.fetch_add(1, std::memory_order_relaxed); break;
  }
  {
    std::lock_guard lock(mutex);
    if (live > 0) --live;
  }
  changed.notify_all();
}

}  // namespace detail

async_agi::async_agi(async_agi_config config) {
  if (!config.routes) throw std::invalid_argument("async_agi: routes are required");
  if (config.max_calls == 0) throw std::invalid_argument("async_agi: max_calls must be > 0");
  using ms = std::chrono::milliseconds;
  for (ms t : {config.command_timeout, config.timeout_margin, config.long_command_timeout, config.hangup_reply_grace,
               config.action_timeout})
    if (t <= ms::zero()) throw std::invalid_argument("async_agi: timeouts must be > 0");
  if (config.max_call_duration < ms::zero()) throw std::invalid_argument("async_agi: max_call_duration must be >= 0");
  if (config.subscriber_capacity == 0) throw std::invalid_argument("async_agi: subscriber_capacity must be > 0");
  shared_ = std::make_shared<detail::async_shared>(std::move(config));
}

async_agi::~async_agi() = default;

caf::actor async_agi::attach(caf::actor_system& system, const caf::actor& session) {
  auto d = detail::spawn_async_dispatcher(system, shared_, session);
  std::lock_guard lock(shared_->mutex);
  auto& all = shared_->dispatchers;
  all.erase(std::remove_if(all.begin(), all.end(), [](const caf::actor_addr& a) { return !caf::actor_cast<caf::actor>(a); }),
            all.end());
  all.push_back(d.address());
  return d;
}

std::pair<std::size_t, std::size_t> async_agi::shutdown(std::chrono::milliseconds drain) {
  shared_->draining = true;
  std::unique_lock lock(shared_->mutex);
  const std::size_t at_start = shared_->live;
  shared_->changed.wait_for(lock, drain, [this] { return shared_->live == 0; });
  const std::size_t left = shared_->live;
  if (left > 0) {
    for (const auto& addr : shared_->dispatchers)
      if (auto d = caf::actor_cast<caf::actor>(addr)) caf::anon_send(d, detail::async_cut_all{});
    shared_->changed.wait_for(lock, std::chrono::seconds(2), [this] { return shared_->live == 0; });
  }
  return {at_start > left ? at_start - left : 0, left};
}

void async_agi::refuse_new_calls() noexcept { shared_->draining = true; }

async_agi_stats async_agi::stats() const noexcept {
  const auto& c = shared_->counters;
  async_agi_stats s;
  s.calls_started = c.started.load();
  s.calls_completed = c.completed.load();
  s.calls_failed = c.failed.load();
  s.calls_cut = c.cut.load();
  s.calls_timed_out = c.timed_out.load();
  s.refused_capacity = c.refused_capacity.load();
  s.no_route = c.no_route.load();
  s.bad_environment = c.bad_environment.load();
  s.refused_shutting_down = c.refused_shutting_down.load();
  s.foreign_results = c.foreign_results.load();
  s.hook_errors = shared_->faults.total();
  s.live_calls = live_calls();
  return s;
}

std::size_t async_agi::live_calls() const noexcept {
  std::lock_guard lock(shared_->mutex);
  return shared_->live;
}

}  // namespace astra::agi
