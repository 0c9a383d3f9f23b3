// The call actor of AsyncAGI: one typed CAF actor per admitted AsyncAGI channel. It owns the
// call (command core, environment, the channel's AMI glue), runs the route's handler, sends each
// command line as an Action: AGI through the AMI session, and feeds the core the channel's
// AsyncAGIExec results and its end (see async_agi.hpp). Mirrors the FastAGI call actor
// (server_call.cpp) with the AMI session in place of the socket.
#include "actors/agi/detail/async_impl.hpp"

#include <algorithm>
#include <exception>
#include <optional>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/agi/detail/async_channel.hpp"
#include "actors/ami/session.hpp"

namespace astra::agi::detail {

namespace {

struct async_call_state;
using call_self = async_call_actor::stateful_pointer<async_call_state>;

// The call core's transport: writes become Action: AGI requests to the session; the wake-up
// timer is a delayed message to the actor itself (a generation number drops stale ones).
// Every member runs on the call actor's context; `self` is cleared when the actor's state is
// destroyed (close() then only anon_sends).
class ami_transport final : public call_transport {
 public:
  ami_transport(call_self self, caf::actor session, std::string channel, std::string prefix,
                std::chrono::milliseconds action_timeout)
      : self_(self), session_(std::move(session)), channel_(std::move(channel), std::move(prefix)),
        action_timeout_(action_timeout) {}

  void write(std::string line, clock::time_point wake_at) override;
  void arm(clock::time_point wake_at) override;
  void close() override {
    if (closed_) return;
    closed_ = true;
    // The handler is done with the channel: let its dialplan continue after AGI(), unless it
    // already left AGI or the link is gone. Anonymous: no reply is awaited (this may run from
    // the actor's state destructor).
    if (!channel_.gone() && !link_lost_) caf::anon_send(session_, ami::request{channel_.break_action(), action_timeout_});
  }

  async_channel& channel() noexcept { return channel_; }
  std::uint64_t generation() const noexcept { return generation_; }
  void detach() noexcept { self_ = nullptr; }
  void set_link_lost() noexcept { link_lost_ = true; }

 private:
  call_self self_;
  caf::actor session_;
  async_channel channel_;
  std::chrono::milliseconds action_timeout_;
  std::uint64_t generation_ = 0;
  bool closed_ = false;
  bool link_lost_ = false;
};

struct async_call_state {
  std::shared_ptr<async_shared> shared;
  std::shared_ptr<ami_transport> transport;
  std::optional<call> the_call;
  astra::root_task root;  // after the_call: its frames (holding command slots) die first
  clock::time_point started{};
  call_outcome outcome = call_outcome::completed;
  bool finished = false;
  bool cut = false;
  bool reported = false;
  bool expiry_scheduled = false;
  std::unique_ptr<failure> result_error;

  async_call_state() = default;
  async_call_state(const async_call_state&) = delete;

  ~async_call_state() {
    root = astra::root_task{};
    if (transport) transport->detach();
    if (the_call) the_call->core().shutdown(agi_errc::shutting_down);  // sends ASYNCAGI BREAK if due
    finish_report();
    the_call.reset();
    if (shared) shared->call_ended(outcome);
  }

  std::uint64_t id() const noexcept { return the_call ? the_call->id() : 0; }
  std::string_view route() const noexcept { return the_call ? the_call->route_pattern() : std::string_view{}; }
  std::string_view channel() const noexcept { return transport ? std::string_view(transport->channel().channel()) : ""; }

  void finish_report() {
    if (reported || !shared) return;
    reported = true;
    if (!finished && !cut) outcome = call_outcome::cut;
    const auto duration = clock::now() - started;
    spdlog::debug("agi: async call {} route {} (channel {}) ended: {} after {} ms", id(), route(), channel(),
                  to_string(outcome), std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
    invoke_hook(shared->config.hooks.call_ended, &shared->faults, hook_kind::call_ended,
                hook_subject{id(), route(), nullptr}, route(), id(), outcome, duration);
  }
};

void check_limits(call_self self);

void ami_transport::arm(clock::time_point wake_at) {
  if (!self_ || wake_at == clock::time_point::max()) return;
  const auto delay = std::max(wake_at - clock::now(), clock::duration::zero());
  self_->delayed_send(self_, std::chrono::duration_cast<std::chrono::microseconds>(delay) + std::chrono::microseconds(1),
                      async_tick{++generation_});
}

void ami_transport::write(std::string line, clock::time_point wake_at) {
  if (!self_) return;
  auto action = channel_.command_action(line);
  const std::string command_id = channel_.last_command_id();
  auto self = self_;
  self_->request(session_, action_timeout_ + std::chrono::seconds(1), ami::request{std::move(action), action_timeout_})
      .then(
          [self, command_id](ami::reply& r) {
            auto& st = self->state;
            if (r.ok() || !st.the_call || !st.transport) return;
            auto& core = st.the_call->core();
            if (r.error.code == make_error_code(ami::ami_errc::rejected)) {
              // "Channel X does not exist." (the recorded answer after AsyncAGIEnd): gone.
              spdlog::debug("agi: async call {} (channel {}): Action: AGI {} refused: {}", st.id(), st.channel(),
                            command_id, r.error.message());
              st.transport->channel().on_gone(core);
            } else {
              spdlog::warn("agi: async call {} (channel {}): Action: AGI {} failed: {}", st.id(), st.channel(),
                           command_id, r.error.message());
              core.on_disconnected(r.error.code);
            }
            check_limits(self);
          },
          [self](caf::error& e) {
            auto& st = self->state;
            if (!st.the_call) return;
            spdlog::warn("agi: async call {} (channel {}): no answer to Action: AGI: {}", st.id(), st.channel(),
                         caf::to_string(e));
            st.the_call->core().on_disconnected(make_error_code(ami::ami_errc::timeout));
            check_limits(self);
          });
  arm(wake_at);
}

astra::task<void> run_result_handler(const result_handler& body, call& c, std::unique_ptr<failure>* out) {
  auto r = co_await body(c);
  if (!r) *out = std::make_unique<failure>(r.error());
}

astra::task<void> rethrow(std::exception_ptr error) {
  std::rethrow_exception(error);
  co_return;
}

void end_timed_out(call_self self) {
  auto& s = self->state;
  spdlog::warn("agi: async call {} route {} (channel {}): still running after max_call_duration ({} ms); ending it",
               s.id(), s.route(), s.channel(), s.shared->config.max_call_duration.count());
  s.outcome = call_outcome::timed_out;
  s.finished = true;
  self->quit();
}

void check_limits(call_self self) {
  auto& s = self->state;
  if (s.finished) return;
  auto& core = s.the_call->core();
  if (core.runaway()) {
    spdlog::error("agi: async call {} route {}: handler kept issuing commands after the call closed; ending it", s.id(),
                  s.route());
    s.outcome = call_outcome::failed;
    s.finished = true;
    self->quit();
    return;
  }
  if (core.expired()) {
    end_timed_out(self);
    return;
  }
  if (!core.connected() && !s.expiry_scheduled && core.call_deadline() != clock::time_point::max()) {
    s.expiry_scheduled = true;
    const auto left = std::max(core.call_deadline() - clock::now(), clock::duration::zero());
    self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(left), async_control{async_control::expire});
  }
}

void handler_done(call_self self, std::exception_ptr error) {
  auto& st = self->state;
  st.finished = true;
  if (!st.cut) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const astra::call_ended& ended) {
        spdlog::debug("agi: async call {} route {}: ended by {}", st.id(), st.route(), ended.reason.message());
        error = nullptr;
      } catch (const astra::failure& f) {
        st.result_error = std::make_unique<failure>(f);
        error = nullptr;
      } catch (...) {
      }
    }
    if (error) {
      st.outcome = call_outcome::exception;
      spdlog::error("agi: async call {} route {} (channel {}): handler threw: {}", st.id(), st.route(), st.channel(),
                    describe(error));
    } else if (st.result_error && st.result_error->code) {
      st.outcome = call_outcome::failed;
      spdlog::warn("agi: async call {} route {} (channel {}): handler failed: {}", st.id(), st.route(), st.channel(),
                   st.result_error->message());
    }
  }
  st.the_call->core().shutdown(agi_errc::disconnected);  // ASYNCAGI BREAK unless the channel left AGI
  self->send(self, async_control{async_control::done});
}

struct async_seed {
  std::shared_ptr<async_shared> shared;
  caf::actor session;
  std::string channel;
  call_environment env;
  call::identity id;
};

async_call_actor::behavior_type async_call(call_self self, std::shared_ptr<async_seed> seed) {
  auto& st = self->state;
  st.shared = seed->shared;
  st.started = clock::now();
  const route& target = *seed->id.target;
  const auto& shared = *seed->shared;
  st.transport = std::make_shared<ami_transport>(self, seed->session, seed->channel,
                                                 shared.id_prefix + std::to_string(seed->id.id) + "-",
                                                 shared.config.action_timeout);
  st.the_call.emplace(shared.core, st.transport, &shared.config.hooks, std::move(seed->env), std::move(seed->id));
  seed.reset();
  st.the_call->set_on_hangup(target.options.on_hangup);
  st.the_call->set_poster([weak = caf::weak_actor_ptr{self->ctrl()}](std::function<void()> fn) {
    if (auto strong = weak.lock()) caf::anon_send(caf::actor_cast<async_call_actor>(strong), async_posted{std::move(fn)});
  });
  invoke_hook(shared.config.hooks.call_started, &st.shared->faults, hook_kind::call_started,
              hook_subject{st.id(), st.route(), nullptr}, st.route(), st.id());
  spdlog::debug("agi: async call {} route {} started (channel {})", st.id(), st.route(), st.channel());

  if (target.result_body) {
    st.root = astra::root_task(run_result_handler(target.result_body, *st.the_call, &st.result_error));
  } else {
    try {
      st.root = astra::root_task(target.body(*st.the_call));
    } catch (...) {
      st.root = astra::root_task(rethrow(std::current_exception()));
    }
  }
  st.root.start([self](std::exception_ptr error) { handler_done(self, error); });
  check_limits(self);

  return {
      [self](async_news& news) {
        auto& s = self->state;
        if (!s.the_call) return;
        auto& core = s.the_call->core();
        switch (news.kind) {
          case async_news::exec:
            if (!s.transport->channel().on_exec(*news.event, core))
              s.shared->counters.foreign_results.fetch_add(1, std::memory_order_relaxed);
            break;
          case async_news::end: s.transport->channel().on_gone(core); break;
          case async_news::link_lost:
            s.transport->set_link_lost();
            core.on_disconnected(make_error_code(ami::ami_errc::disconnected));
            break;
        }
        check_limits(self);
      },
      [self](async_tick tick) {
        auto& s = self->state;
        if (!s.the_call || tick.generation != s.transport->generation()) return;
        s.the_call->core().on_tick(clock::now());
        check_limits(self);
      },
      [self](async_posted& posted) {
        if (self->state.finished || !self->state.the_call) return;
        posted.fn();  // resumes the handler (agi::call::external)
        check_limits(self);
      },
      [self](async_control control) {
        auto& s = self->state;
        if (control.kind == async_control::done) {
          self->quit();
          return;
        }
        if (s.finished) return;
        if (control.kind == async_control::expire) {
          end_timed_out(self);
          return;
        }
        s.cut = true;
        s.outcome = call_outcome::cut;
        spdlog::info("agi: async call {} route {} (channel {}): cut by shutdown", s.id(), s.route(), s.channel());
        self->quit();
      },
  };
}

}  // namespace

async_call_actor spawn_async_call(caf::actor_system& system, std::shared_ptr<async_shared> shared, caf::actor session,
                                  std::string channel, call_environment env, call::identity id) {
  auto seed = std::make_shared<async_seed>(
      async_seed{std::move(shared), std::move(session), std::move(channel), std::move(env), std::move(id)});
  return system.spawn(async_call, std::move(seed));
}

}  // namespace astra::agi::detail
