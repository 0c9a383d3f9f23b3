// The FastAGI server's public API (server.hpp): construction, start, stats, the admission
// bookkeeping shared by connections and call actors (refusals, the call registry) and the
// graceful shutdown. The Asio side is in server_io.cpp, the call actor in server_call.cpp.
#include <utility>  // before Asio (see platform-facts)

#include "actors/agi/detail/server_impl.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace astra::agi {

namespace {

// Up to this many calls, the call registry and deadline heap are allocated at construction.
constexpr std::size_t max_presized_calls = 65536;
// How long shutdown() waits for cut calls' actors to end.
constexpr std::chrono::seconds cut_grace{5};

}  // namespace

server::impl::impl(caf::actor_system& sys, asio::io_context& ctx, router r, server_config c)
    : system(sys), io(ctx), reactor(detail::reactor_of(ctx)), runner(std::make_shared<detail::io_execution_unit>(sys, ctx)), routes(std::move(r)), config(std::move(c)), acceptor(ctx), accept_retry(ctx), accept_strand(ctx), deadline_timer(ctx) {
  core.command_timeout = config.command_timeout;
  core.timeout_margin = config.timeout_margin;
  core.long_command_timeout = config.long_command_timeout;
  core.hangup_reply_grace = config.hangup_reply_grace;
  core.fail_fast_after_hangup = config.fail_fast_after_hangup;
  core.max_commands_after_close = config.max_commands_after_close;
  core.max_call_duration = config.max_call_duration;
  core.faults = &hook_faults;
  // The call registry and the deadline heap are sized for the configured call limit up
  // front (a few bytes per allowed call): growing them under a burst would leave freed
  // arrays behind in the heap.
  const auto expected = std::min<std::size_t>(config.max_concurrent_calls, max_presized_calls);
  calls.reserve(expected);
  deadlines.reserve(expected);
}

void server::impl::refuse(refusal why, const peer_address& peer, std::string_view detail) {
  switch (why) {
    case refusal::capacity: ++counters.refused_capacity; break;
    case refusal::auth: ++counters.refused_auth; break;
    case refusal::auth_error: ++counters.auth_errors; break;
    case refusal::no_route: ++counters.no_route; break;
    case refusal::shutting_down: ++counters.refused_shutting_down; break;
    case refusal::bad_environment: ++counters.bad_environment; break;
    case refusal::env_timeout: ++counters.env_timeouts; break;
    case refusal::closed_early: ++counters.closed_early; break;
  }
  if (why == refusal::closed_early) {
    spdlog::debug("agi: {} closed before its agi_* block was complete", peer.to_string());
  } else if (why == refusal::capacity || why == refusal::shutting_down || why == refusal::env_timeout) {
    spdlog::info("agi: refused {} ({}){}{}", peer.to_string(), to_string(why), detail.empty() ? "" : ": ", detail);
  } else if (why == refusal::auth_error) {
    spdlog::error("agi: refused {} ({}){}{}", peer.to_string(), to_string(why), detail.empty() ? "" : ": ", detail);
  } else {
    spdlog::warn("agi: refused {} ({}){}{}", peer.to_string(), to_string(why), detail.empty() ? "" : ": ", detail);
  }
  detail::invoke_hook(config.hooks.connection_refused, &hook_faults, detail::hook_kind::connection_refused,
                      detail::hook_subject{0, {}, &peer}, why, peer);
}

bool server::impl::register_call(std::uint64_t id, caf::actor actor) {
  std::lock_guard<std::mutex> lock(mutex);
  if (cutting) return false;
  calls.emplace(id, std::move(actor));
  return true;
}

void server::impl::call_ended(std::uint64_t id, call_outcome outcome) {
  switch (outcome) {
    case call_outcome::completed: ++counters.completed; break;
    case call_outcome::failed:
    case call_outcome::exception: ++counters.failed; break;
    case call_outcome::cut: ++counters.cut; break;
    case call_outcome::timed_out: ++counters.timed_out; break;
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    calls.erase(id);
    live.fetch_sub(1);
  }
  changed.notify_all();
}

// ------------------------------------------------------------------ server

server::server(caf::actor_system& system, asio::io_context& io, router routes, server_config config) {
  if (config.max_concurrent_calls == 0) throw std::invalid_argument("agi server: max_concurrent_calls must be > 0");
  if (config.env_timeout.count() <= 0 || config.command_timeout.count() <= 0)
    throw std::invalid_argument("agi server: timeouts must be positive");
  if (config.max_call_duration.count() < 0)
    throw std::invalid_argument("agi server: max_call_duration must be >= 0 (0: no limit)");
  impl_ = std::make_shared<impl>(system, io, std::move(routes), std::move(config));
}

server::~server() {
  if (!impl_) return;
  if (!impl_->draining.load()) shutdown(std::chrono::milliseconds{0});
  // Requests still in the outbox (closes of calls just cut) are handed to their strands now:
  // they run if the io_context runs, or are freed with it (which also breaks the
  // connection -> server reference) if it was stopped.
  bool drain_now = false;
  {
    std::lock_guard<std::mutex> lock(impl_->outbox_mutex);
    drain_now = !impl_->outbox.empty() && !std::exchange(impl_->outbox_drain_posted, true);
  }
  if (drain_now) impl_->drain_outbox();
}

std::error_code server::start() {
  auto& d = *impl_;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(d.config.host, ec);
  if (ec) return std::make_error_code(std::errc::invalid_argument);
  tcp::endpoint endpoint{address, d.config.port};
  d.acceptor.open(endpoint.protocol(), ec);
  if (!ec) d.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) d.acceptor.bind(endpoint, ec);
  if (!ec) d.acceptor.listen(d.config.listen_backlog, ec);
  // Non-blocking: when it is readable the io thread takes what waits in the backlog with
  // accept4() until none is left (server_io.cpp, accept_ready).
  if (!ec) d.acceptor.non_blocking(true, ec);
  // Accepted sockets inherit TCP_NODELAY from the listener on Linux: no setsockopt per call.
  if (!ec) d.acceptor.set_option(tcp::no_delay(true), ec);
  if (ec) {
    boost::system::error_code ignored;
    d.acceptor.close(ignored);
    return std::error_code(ec.value(), std::system_category());
  }
  d.port = d.acceptor.local_endpoint().port();
  spdlog::info("agi: listening on {}:{}", d.config.host, d.port.load());
  asio::post(d.accept_strand, [self = impl_] { self->accept_next(); });
  return {};
}

std::uint16_t server::local_port() const noexcept { return impl_->port.load(); }

std::size_t server::live_calls() const noexcept { return impl_->live.load(); }

server_stats server::stats() const noexcept {
  const auto& c = impl_->counters;
  server_stats s;
  s.accepted = c.accepted.load();
  s.calls_started = c.started.load();
  s.calls_completed = c.completed.load();
  s.calls_failed = c.failed.load();
  s.calls_cut = c.cut.load();
  s.calls_timed_out = c.timed_out.load();
  s.refused_capacity = c.refused_capacity.load();
  s.refused_auth = c.refused_auth.load();
  s.auth_errors = c.auth_errors.load();
  s.hook_errors = impl_->hook_faults.total();
  s.no_route = c.no_route.load();
  s.refused_shutting_down = c.refused_shutting_down.load();
  s.bad_environment = c.bad_environment.load();
  s.env_timeouts = c.env_timeouts.load();
  s.closed_early = c.closed_early.load();
  s.accept_errors = c.accept_errors.load();
  s.live_calls = impl_->live.load();
  s.pending_connections = impl_->pending.load();
  return s;
}

shutdown_report server::shutdown(std::chrono::milliseconds drain) {
  auto& d = *impl_;
  if (d.draining.exchange(true)) return {};
  // From here on the call actors run on CAF's workers: the drain and the cut must not depend on
  // the io_context still running its queue of actors.
  d.runner->detach();
  // The drain starts here: a call that ends from now on counts as drained.
  const auto ended_before = d.counters.ended();
  const auto cut_before = d.counters.cut.load();
  spdlog::info("agi: shutting down: {} live calls, drain {} ms", d.live.load(), drain.count());
  {
    // Close the listening socket on the acceptor's strand; wait so that no accept runs
    // afterwards. The closure owns what it touches: it may run after this wait gave up.
    struct close_wait {
      std::mutex m;
      std::condition_variable cv;
      bool done = false;
    };
    auto wait = std::make_shared<close_wait>();
    asio::post(d.accept_strand, [self = impl_, wait] {
      boost::system::error_code ignored;
      self->acceptor.close(ignored);
      self->accept_retry.cancel();
      std::lock_guard<std::mutex> lock(wait->m);
      wait->done = true;
      wait->cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(wait->m);
    // The io_context may not be running (embedding error or already stopped): do not hang.
    if (!wait->cv.wait_for(lock, std::chrono::seconds(2), [&] { return wait->done; })) {
      spdlog::warn("agi: io_context did not run the acceptor close within 2 s");
    }
  }
  std::vector<caf::actor> to_cut;
  {
    std::unique_lock<std::mutex> lock(d.mutex);
    d.changed.wait_for(lock, drain, [&] { return d.live.load() == 0; });
    d.cutting = true;  // calls registering from now on cut themselves
    for (auto& [id, actor] : d.calls) to_cut.push_back(actor);
  }
  for (auto& actor : to_cut) caf::anon_send(actor, detail::call_control{detail::call_control::cut});
  {
    std::unique_lock<std::mutex> lock(d.mutex);
    d.changed.wait_for(lock, cut_grace, [&] { return d.live.load() == 0; });
  }
  shutdown_report report;
  report.cut = static_cast<std::size_t>(d.counters.cut.load() - cut_before);
  const auto ended_after = d.counters.ended();
  report.drained = static_cast<std::size_t>(ended_after - ended_before) - report.cut;
  spdlog::info("agi: shutdown complete: {} drained, {} cut, {} still live", report.drained, report.cut, d.live.load());
  return report;
}

}  // namespace astra::agi
