#pragma once
// Internals of AsyncAGI (async_agi.hpp), shared by async_agi.cpp (the public class, drain),
// async_dispatcher.cpp (one actor per AMI session) and async_call.cpp (one actor per channel).
// Not part of the library's interface.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <functional>

#include <caf/typed_actor.hpp>

#include "actors/agi/async_agi.hpp"
#include "actors/agi/call.hpp"
#include "actors/agi/detail/call_core.hpp"
#include "actors/agi/detail/hook_guard.hpp"
#include "protocols/ami/message.hpp"

namespace astra::agi::detail {

// Dispatcher -> call actor: what the session saw for the call's channel.
struct async_news {
  enum kind_t : std::uint8_t {
    exec,       // an AsyncAGIExec of the channel (`event`)
    end,        // AsyncAGIEnd
    link_lost,  // the AMI link went down (or the session ended): `detail` says why
  } kind = exec;
  ami::message_ptr event;
  std::string detail;
};
// To a call actor from itself (timer generation; done/expire) or from the dispatcher (cut).
struct async_tick {
  std::uint64_t generation = 0;
};
struct async_control {
  enum kind_t : std::uint8_t { done, cut, expire } kind = done;
};
// To a dispatcher from async_agi::shutdown: cut every live call.
struct async_cut_all {};
// To a call actor, from any thread: the completion of something its handler awaits outside the
// call (agi::call::external, e.g. a webhook request), run inside the actor.
struct async_posted {
  std::function<void()> fn;
};

using async_call_actor = caf::typed_actor<caf::reacts_to<async_news>, caf::reacts_to<async_tick>,
                                          caf::reacts_to<async_control>, caf::reacts_to<async_posted>>;

// What every dispatcher and call of one async_agi shares; calls hold it (shared_ptr) so that it
// outlives them. Counters are relaxed atomics (read by stats()).
struct async_shared {
  explicit async_shared(async_agi_config c);

  const async_agi_config config;
  core_settings core;  // from config; hook faults counted in `faults`
  hook_faults faults;
  std::string id_prefix;  // config.command_id_prefix or a random one
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> next_id{1};
  struct {
    std::atomic<std::uint64_t> started{0}, completed{0}, failed{0}, cut{0}, timed_out{0}, refused_capacity{0},
        no_route{0}, bad_environment{0}, refused_shutting_down{0}, foreign_results{0};
  } counters;

  std::mutex mutex;                 // guards live, dispatchers; `changed` signals a call's end
  std::condition_variable changed;
  std::size_t live = 0;
  std::vector<caf::actor_addr> dispatchers;

  // Reserves a call slot (false: max_calls reached).
  bool admit();
  // Called once per admitted call, from its actor's state destructor.
  void call_ended(call_outcome outcome);
};

// Spawns the call actor of one admitted AsyncAGI channel (async_call.cpp). `session`: the AMI
// session actor the channel's actions go to.
async_call_actor spawn_async_call(caf::actor_system& system, std::shared_ptr<async_shared> shared, caf::actor session,
                                  std::string channel, call_environment env, call::identity id);

// The dispatcher of one session (async_dispatcher.cpp).
caf::actor spawn_async_dispatcher(caf::actor_system& system, std::shared_ptr<async_shared> shared, caf::actor session);

}  // namespace astra::agi::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::async_news)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::async_tick)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::async_control)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::async_cut_all)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(astra::agi::detail::async_posted)
