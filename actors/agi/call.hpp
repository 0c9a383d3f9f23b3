#pragma once
// The handler-facing side of one FastAGI call.
//
//   astra::task<void> menu(astra::agi::call& call) {
//     co_await call.answer();
//     auto r = co_await call.get_data("menu", 5s, 1);
//     if (!r) co_return;                       // r.code(): agi_errc::hung_up, timeout, ...
//     co_await call.set_variable("CHOICE", r->digits);
//   }
//
// Every command method returns an awaitable command<T>; co_await yields astra::result<T>.
// Commands are written one at a time (a second command waits for the first one's reply).
//
// Thread affinity: a call lives inside its CAF actor; the handler coroutine and every method
// here run on that actor's context only. A call and the objects it hands out must not be used
// from other threads or after the handler returned.
//
// Errors (agi_errc): hung_up (511, or HANGUP seen during / -1 from a live-channel command;
// a -1 from STREAM FILE, CONTROL STREAM FILE, GET OPTION or SAY *, which Asterisk also uses for
// "could not play", is settled by the call itself with a CHANNEL STATUS probe before the
// handler sees it: hung_up if the channel is gone, command_failed otherwise),
// timeout (the command's deadline expired), disconnected (the peer closed), invalid_command
// (510), usage_error (520), command_failed (result=-1), application_not_found (EXEC -2),
// invalid_argument / line_too_long / too_many_arguments (the command could not be written;
// nothing was sent), shutting_down (the server cut the call).
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/agi/auth.hpp"
#include "actors/agi/call_environment.hpp"
#include "actors/common/call_ended.hpp"
#include "actors/common/task.hpp"
#include "actors/agi/detail/call_core.hpp"
#include "protocols/agi/command.hpp"
#include "protocols/agi/environment.hpp"
#include "protocols/agi/reply.hpp"

namespace astra::agi {

struct route;

// Awaitable of one command. Created by a call method, awaited once, at once (keep it as a
// temporary: `co_await call.noop()`); destroying it unawaited sends nothing.
template <class T>
class [[nodiscard]] command {
 public:
  using decoder = astra::result<T> (*)(const reply&);

  command(detail::call_core& core, std::unique_ptr<detail::command_slot> slot, decoder decode)
      : core_(&core), slot_(std::move(slot)), decode_(decode) {}
  command(const command&) = delete;
  command& operator=(const command&) = delete;
  ~command() {
    if (slot_ && slot_->owner) slot_->owner->detach(*slot_);
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    slot_->waiter = h;
    return core_->submit(*slot_);
  }
  // Straight-line mode (core.hangup_policy() == end_handler): hung_up, disconnected and
  // shutting_down throw astra::call_ended instead of returning; other errors are values.
  astra::result<T> await_resume() {
    auto& outcome = *slot_->outcome;
    if (!outcome) {
      if (core_->ends_handler(outcome.error().code)) throw astra::call_ended{outcome.error().code, outcome.error().detail};
      return outcome.error();
    }
    return decode_(*outcome);
  }

 private:
  detail::call_core* core_;
  std::unique_ptr<detail::command_slot> slot_;  // heap: keeps the handler's frame small
  decoder decode_;
};

class call {
 public:
  struct identity {
    std::uint64_t id = 0;           // server-wide call number (logs, hooks)
    const route* target = nullptr;  // the matched route
    route_params params;            // named segments of the route
    peer_address peer;
  };

  // `settings` must outlive the call (the server's, shared by all its calls).
  call(const detail::core_settings& settings, std::shared_ptr<detail::call_transport> transport,
       const server_hooks* hooks, call_environment env, identity id);
  call(const call&) = delete;
  call& operator=(const call&) = delete;

  // ------------------------------------------------------------ request
  std::uint64_t id() const noexcept { return id_.id; }
  const call_environment& env() const noexcept { return env_; }
  std::string_view path() const noexcept { return env_.script_path(); }  // "/ivr/menu"
  std::string_view route_pattern() const noexcept;                      // "/ivr/:menu"
  const route_params& path_params() const noexcept { return id_.params; }
  std::optional<std::string_view> path_param(std::string_view name) const;
  std::optional<std::string_view> param(std::string_view key) const { return env_.param(key); }
  std::vector<std::string_view> params(std::string_view key) const { return env_.params(key); }
  std::vector<std::string_view> args() const { return env_.args(); }  // agi_arg_1..N
  const peer_address& peer() const noexcept { return id_.peer; }

  // ------------------------------------------------------------ state
  bool hung_up() const noexcept { return core_.hung_up(); }     // HANGUP or 511 seen
  // What a hang-up does to the handler's commands (the route's route_options::on_hangup at
  // the start): end_handler makes a command that meets hung_up / disconnected /
  // shutting_down throw astra::call_ended (the call then ends normally); return_error yields
  // them as values. A straight-line handler that wants dead-channel commands after the
  // hang-up switches to return_error first.
  hangup_policy on_hangup() const noexcept { return core_.hangup_policy(); }
  void set_on_hangup(hangup_policy p) noexcept { core_.set_hangup_policy(p); }
  bool connected() const noexcept { return core_.connected(); }
  // Default deadline of later commands (never below a command's own timeout + margin).
  void set_command_timeout(std::chrono::milliseconds timeout) noexcept { core_.set_command_timeout(timeout); }
  std::chrono::milliseconds command_timeout() const noexcept { return core_.command_timeout(); }

  // ------------------------------------------------------------ any command
  // Sends `verb args...` (each argument quoted as needed); yields the reply after check_reply
  // (200 -> reply; 510/511/520 -> errors). Whether it may run on a dead channel comes from the
  // catalog when `verb` is a known command (unknown verbs count as live-channel commands).
  // Note (g++ 12): a braced list inside a co_await expression does not compile; use the
  // variadic form `co_await call.send("NOOP", "x y")` or build the vector beforehand.
  command<reply> send_args(std::string_view verb, std::vector<std::string> args);
  template <class... Args>
  command<reply> send(std::string_view verb, const Args&... args) {
    return send_args(verb, std::vector<std::string>{std::string(std::string_view(args))...});
  }

  // ------------------------------------------------------------ the 47 commands of Asterisk 22
  command<void> answer();
  command<void> asyncagi_break();
  command<channel_state> channel_status(std::optional<std::string_view> channel = std::nullopt);
  command<stream_result> control_stream_file(std::string_view file, std::string_view escape_digits = "",
                                             std::optional<std::chrono::milliseconds> skip = std::nullopt,
                                             std::optional<std::string_view> ff_char = std::nullopt,
                                             std::optional<std::string_view> rew_char = std::nullopt,
                                             std::optional<std::string_view> pause_char = std::nullopt,
                                             std::optional<std::chrono::milliseconds> offset = std::nullopt);
  command<bool> database_del(std::string_view family, std::string_view key);
  command<bool> database_deltree(std::string_view family, std::optional<std::string_view> keytree = std::nullopt);
  command<std::optional<std::string>> database_get(std::string_view family, std::string_view key);
  command<bool> database_put(std::string_view family, std::string_view key, std::string_view value);
  // Deadline: long_command_timeout (the application may run for the whole call, e.g. Dial).
  command<exec_result> exec(std::string_view application, std::optional<std::string_view> options = std::nullopt);
  command<get_data_result> get_data(std::string_view file, std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                                    std::optional<long> max_digits = std::nullopt);
  command<std::optional<std::string>> get_full_variable(std::string_view expression,
                                                        std::optional<std::string_view> channel = std::nullopt);
  command<stream_result> get_option(std::string_view file, std::string_view escape_digits,
                                    std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  command<std::optional<std::string>> get_variable(std::string_view name);
  // Deadline: long_command_timeout (runs a dialplan subroutine).
  command<void> gosub(std::string_view context, std::string_view extension, std::string_view priority,
                      std::optional<std::string_view> arguments = std::nullopt);
  command<void> hangup(std::optional<std::string_view> channel = std::nullopt);
  command<void> noop();
  command<std::optional<char>> receive_char(std::chrono::milliseconds timeout);
  command<std::string> receive_text(std::chrono::milliseconds timeout);
  // timeout < 0: no limit (deadline long_command_timeout).
  command<record_result> record_file(std::string_view file, std::string_view format, std::string_view escape_digits,
                                     std::chrono::milliseconds timeout, std::optional<long> offset_samples = std::nullopt,
                                     bool beep = false, std::optional<std::chrono::seconds> silence = std::nullopt);
  command<std::optional<char>> say_alpha(std::string_view text, std::string_view escape_digits = "");
  command<std::optional<char>> say_digits(std::string_view digits, std::string_view escape_digits = "");
  command<std::optional<char>> say_number(std::string_view number, std::string_view escape_digits = "",
                                          std::optional<std::string_view> gender = std::nullopt);
  command<std::optional<char>> say_phonetic(std::string_view text, std::string_view escape_digits = "");
  command<std::optional<char>> say_date(long epoch_seconds, std::string_view escape_digits = "");
  command<std::optional<char>> say_time(long epoch_seconds, std::string_view escape_digits = "");
  command<std::optional<char>> say_datetime(long epoch_seconds, std::string_view escape_digits = "",
                                            std::optional<std::string_view> format = std::nullopt,
                                            std::optional<std::string_view> timezone = std::nullopt);
  command<void> send_image(std::string_view image);
  command<void> send_text(std::string_view text);
  command<void> set_autohangup(std::chrono::seconds time);
  command<void> set_callerid(std::string_view caller_id);
  command<void> set_context(std::string_view context);
  command<void> set_extension(std::string_view extension);
  command<void> set_music(bool on, std::optional<std::string_view> music_class = std::nullopt);
  command<void> set_priority(std::string_view priority);
  command<void> set_variable(std::string_view name, std::string_view value);
  command<stream_result> stream_file(std::string_view file, std::string_view escape_digits = "",
                                     std::optional<long> sample_offset = std::nullopt);
  command<bool> tdd_mode(std::string_view mode);
  command<void> verbose(std::string_view message, long level = 1);
  // timeout < 0: wait forever (deadline long_command_timeout). "200 result=-1" -> hung_up.
  command<std::optional<char>> wait_for_digit(std::chrono::milliseconds timeout);
  command<bool> speech_create(std::string_view engine);
  command<bool> speech_set(std::string_view name, std::string_view value);
  command<bool> speech_destroy();
  command<bool> speech_load_grammar(std::string_view grammar, std::string_view path);
  command<bool> speech_unload_grammar(std::string_view grammar);
  command<bool> speech_activate_grammar(std::string_view grammar);
  command<bool> speech_deactivate_grammar(std::string_view grammar);
  command<speech_result> speech_recognize(std::string_view prompt, std::chrono::milliseconds timeout,
                                          std::optional<long> offset = std::nullopt);

  // ------------------------------------------------------------ waiting on something else
  // Suspends the handler until the completion handed to `start` is called (exactly once, from
  // any thread: an HTTP reply, a timer, another actor's answer); the handler resumes inside
  // the call's actor. `start` runs at once, inside the actor. A completion arriving after the
  // call ended is dropped. Whatever is awaited must have its own deadline.
  //   auto reply = co_await call.external<result<int>>([&](auto done) { client.ask(std::move(done)); });
  template <class T>
  callback_awaitable<T> external(std::function<void(std::function<void(T)>)> start) {
    return callback_awaitable<T>([post = poster_, start = std::move(start)](std::function<void(T)> complete) {
      if (!post) {  // no actor behind the call (unit tests): completes on the completing thread
        start(std::move(complete));
        return;
      }
      start([post, complete = std::move(complete)](T value) {
        auto shared = std::make_shared<T>(std::move(value));
        post([complete, shared] { complete(std::move(*shared)); });
      });
    });
  }

  // ------------------------------------------------------------ internal (call actor)
  detail::call_core& core() noexcept { return core_; }
  // How external() completions reach the call's actor (set by the actor that owns the call).
  using poster = std::function<void(std::function<void()>)>;
  void set_poster(poster p) { poster_ = std::move(p); }

 private:
  detail::call_core core_;
  call_environment env_;
  identity id_;
  poster poster_;
};

}  // namespace astra::agi
