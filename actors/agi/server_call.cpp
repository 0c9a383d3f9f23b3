// The call actor of the FastAGI server: one CAF actor per admitted call. It owns the call (its
// command core and environment), runs the route's handler coroutine, turns connection news into
// core events, and reports how the call ended (hooks, server counters, call registry).
#include <utility>  // before Asio (see platform-facts)

#include "actors/agi/detail/server_impl.hpp"

#include <algorithm>
#include <exception>
#include <optional>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace astra::agi {

namespace {

struct call_seed {
  std::shared_ptr<server::impl> srv;
  std::shared_ptr<detail::call_transport> conn;  // the call's connection
  call_environment env;  // compacted on the io thread: moved, never copied, into the call
  call::identity id;
};

struct call_state {
  std::shared_ptr<server::impl> srv;
  std::optional<call> the_call;  // inline: one allocation less per call
  astra::root_task root;  // after the_call: its frames (holding command slots) die first
  clock::time_point started{};
  call_outcome outcome = call_outcome::completed;
  bool finished = false;  // the handler returned or threw (or the call was ended: runaway, timed out)
  bool cut = false;
  bool reported = false;
  bool expiry_scheduled = false;  // a call_control::expire is on its way (see check_limits)
  std::unique_ptr<failure> result_error;  // what a result_handler returned (null: success)

  call_state() = default;
  call_state(const call_state&) = delete;

  ~call_state() {
    root = astra::root_task{};  // destroys a still-suspended handler frame chain
    if (the_call) the_call->core().shutdown(agi_errc::shutting_down);  // closes the socket if still open
    finish_report();
    const auto call_id = id();
    the_call.reset();
    if (srv) srv->call_ended(call_id, outcome);
  }

  std::uint64_t id() const noexcept { return the_call ? the_call->id() : 0; }
  // The route's pattern (the router outlives every call).
  std::string_view route() const noexcept { return the_call ? the_call->route_pattern() : std::string_view{}; }

  void finish_report() {
    if (reported || !srv) return;
    reported = true;
    if (!finished && !cut) outcome = call_outcome::cut;  // ended without its handler finishing
    const auto duration = clock::now() - started;
    spdlog::debug("agi: call {} route {} ended: {} after {} ms", id(), route(), to_string(outcome),
                  std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
    detail::invoke_hook(srv->config.hooks.call_ended, &srv->hook_faults, detail::hook_kind::call_ended,
                        detail::hook_subject{id(), route(), nullptr}, route(), id(), outcome, duration);
  }
};

astra::task<void> run_result_handler(const result_handler& body, call& c, std::unique_ptr<failure>* out) {
  auto r = co_await body(c);
  if (!r) *out = std::make_unique<failure>(r.error());
}

// A task that throws `error` when awaited: stands for a handler that threw before it returned
// its coroutine (a plain function), so that the exception takes the normal path (handler_done).
astra::task<void> rethrow(std::exception_ptr error) {
  std::rethrow_exception(error);
  co_return;
}

// Ends the call past server_config::max_call_duration (outcome timed_out). The handler is not
// resumed: ~call_state destroys its frames, then closes the socket.
void end_timed_out(caf::stateful_actor<call_state>* self) {
  auto& s = self->state;
  spdlog::warn("agi: call {} route {} (channel {}): still running after max_call_duration ({} ms); ending it", s.id(),
               s.route(), s.the_call->env().channel(), s.srv->config.max_call_duration.count());
  s.outcome = call_outcome::timed_out;
  s.finished = true;
  self->quit();
}

// Ends a call whose handler must not go on: runaway (commands after the call closed) or past
// max_call_duration. Called after every event the core handled. Handlers capture only `self`
// (a smaller behavior per call actor).
void check_limits(caf::stateful_actor<call_state>* self) {
  auto& s = self->state;
  if (s.finished) return;
  auto& core = s.the_call->core();
  if (core.runaway()) {
    spdlog::error("agi: call {} route {}: handler kept issuing commands after the call closed; ending it",
                  s.id(), s.route());
    s.outcome = call_outcome::failed;
    s.finished = true;
    self->quit();
    return;
  }
  if (core.expired()) {
    end_timed_out(self);
    return;
  }
  // The core's deadline rides on the connection's timer, which stops when the connection
  // closes. A handler still running then (suspended on something other than a command) is
  // ended by a message to itself at the deadline instead (CAF holds the actor until it is due).
  if (!core.connected() && !s.expiry_scheduled && core.call_deadline() != clock::time_point::max()) {
    s.expiry_scheduled = true;
    const auto left = std::max(core.call_deadline() - clock::now(), clock::duration::zero());
    self->delayed_send(self, left, detail::call_control{detail::call_control::expire});
  }
}

void handler_done(caf::stateful_actor<call_state>* self, std::exception_ptr error) {
  auto& st = self->state;
  st.finished = true;
  if (!st.cut) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const astra::call_ended& ended) {  // straight-line: the end of the call, a normal end
        spdlog::debug("agi: call {} route {}: ended by {}", st.id(), st.route(), ended.reason.message());
        error = nullptr;
      } catch (const astra::failure& f) {  // `throw r.error()`: the handler gives up with an error value
        st.result_error = std::make_unique<failure>(f);
        error = nullptr;
      } catch (...) {
      }
    }
    if (error) {
      st.outcome = call_outcome::exception;
      spdlog::error("agi: call {} route {} (channel {}): handler threw: {}", st.id(), st.route(),
                    st.the_call->env().channel(), detail::describe(error));
    } else if (st.result_error && st.result_error->code) {
      st.outcome = call_outcome::failed;
      spdlog::warn("agi: call {} route {} (channel {}): handler failed: {}", st.id(), st.route(),
                   st.the_call->env().channel(), st.result_error->message());
    }
  }
  st.the_call->core().shutdown(agi_errc::disconnected);
  // The root's frame is still on the stack here: end the actor from a fresh message.
  self->send(self, detail::call_control{detail::call_control::done});
}

caf::behavior call_actor(caf::stateful_actor<call_state>* self, std::shared_ptr<call_seed> seed) {
  auto& st = self->state;
  st.srv = seed->srv;
  st.started = clock::now();
  const route& target = *seed->id.target;
  const auto& srv = *seed->srv;
  st.the_call.emplace(srv.core, seed->conn, &srv.config.hooks, std::move(seed->env), std::move(seed->id));
  seed.reset();
  st.the_call->set_on_hangup(target.options.on_hangup);
  st.the_call->set_poster([weak = caf::weak_actor_ptr{self->ctrl()}](std::function<void()> fn) {
    if (auto strong = weak.lock()) caf::anon_send(caf::actor_cast<caf::actor>(strong), detail::run_in_call{std::move(fn)});
  });
  detail::invoke_hook(srv.config.hooks.call_started, &st.srv->hook_faults, detail::hook_kind::call_started,
                      detail::hook_subject{st.id(), st.route(), nullptr}, st.route(), st.id());
  spdlog::debug("agi: call {} route {} started (channel {})", st.id(), st.route(), st.the_call->env().channel());

  if (target.result_body) {
    st.root = astra::root_task(run_result_handler(target.result_body, *st.the_call, &st.result_error));
  } else {
    try {
      st.root = astra::root_task(target.body(*st.the_call));
    } catch (...) {  // not a coroutine, and it threw at once
      st.root = astra::root_task(rethrow(std::current_exception()));
    }
  }
  if (st.srv->register_call(st.id(), caf::actor_cast<caf::actor>(self))) {
    st.root.start([self](std::exception_ptr error) { handler_done(self, error); });
    check_limits(self);
  } else {
    // shutdown is cutting: never start the handler
    self->send(self, detail::call_control{detail::call_control::cut});
  }

  return {
      [self](detail::connection_news& news) {
        auto& core = self->state.the_call->core();
        switch (news.what.index()) {
          case 0: core.on_event(std::move(std::get<reply_event>(news.what))); break;
          case 1: core.on_tick(clock::now()); break;
          case 2: core.on_disconnected(std::get<detail::peer_closed>(news.what).ec); break;
          case 3: {
            auto& garbled = std::get<detail::peer_garbled>(news.what);
            spdlog::warn("agi: call {} route {}: unreadable reply stream: {}", self->state.id(), self->state.route(),
                         garbled.what.message());
            core.on_protocol_error(std::move(garbled.what));
            break;
          }
        }
        check_limits(self);
      },
      [self](detail::run_in_call& posted) {
        if (self->state.finished) return;
        posted.fn();  // resumes the handler (agi::call::external)
        check_limits(self);
      },
      [self](detail::call_control control) {
        auto& s = self->state;
        if (control.kind == detail::call_control::done) {
          self->quit();
          return;
        }
        if (s.finished) return;
        if (control.kind == detail::call_control::expire) {
          end_timed_out(self);
          return;
        }
        s.cut = true;
        s.outcome = call_outcome::cut;
        spdlog::info("agi: call {} route {}: cut by shutdown", s.id(), s.route());
        // The handler is not resumed: ~call_state destroys its frames, then closes the socket.
        self->quit();
      },
  };
}

}  // namespace

namespace detail {

caf::actor spawn_call_actor(std::shared_ptr<server::impl> srv, std::shared_ptr<call_transport> transport,
                            call_environment env, call::identity id) {
  auto& system = srv->system;
  // The actor's first run (its handler up to the first command) happens where its replies
  // will resume it: on the io thread unless the server runs handlers on CAF's workers.
  caf::actor_config cfg{srv->call_context()};
  auto seed = std::make_shared<call_seed>(call_seed{std::move(srv), std::move(transport), std::move(env), std::move(id)});
  auto fun = &call_actor;
  return system.spawn_functor<caf::no_spawn_options>(std::true_type{}, cfg, fun, std::move(seed));
}

}  // namespace detail

}  // namespace astra::agi
