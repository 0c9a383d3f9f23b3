// call_core (actors/agi/detail/call_core.hpp) on virtual time: a fake transport records every
// line the core writes and every wake-up instant it asks for; Asterisk's replies go through the
// real reply_parser; the clock only moves when a test advances it, and the transport's single
// wake-up timer fires (on_tick) only when the virtual clock reaches the instant last armed — so a
// deadline the core forgets to arm never fires here either.
#include <catch2/catch.hpp>

#include <chrono>
#include <coroutine>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/agi/call.hpp"
#include "actors/agi/detail/call_core.hpp"
#include "actors/agi/server.hpp"
#include "actors/common/task.hpp"
#include "protocols/agi/command.hpp"
#include "protocols/agi/errors.hpp"
#include "protocols/agi/reply.hpp"
#include "tests/agi/fake_asterisk.hpp"
#include "tests/support/fixtures.hpp"

namespace {

using namespace std::chrono_literals;
using astra::agi::agi_errc;
using astra::agi::reply;
using astra::agi::reply_event;
using astra::agi::reply_parser;
using astra::agi::server_hooks;
using namespace astra::agi::detail;

#if defined(__x86_64__) && defined(__GLIBCXX__)
// Memory per live call: the injected time source costs one pointer, the probe state fits in
// existing padding (144 bytes before the time source).
static_assert(sizeof(call_core) <= 152, "call_core grew: it exists once per live call");
static_assert(sizeof(command_slot) <= 136, "command_slot grew: one per command awaited");
#endif

// ------------------------------------------------------------------ virtual clock

const clock::time_point t0 = clock::time_point{} + 1000h;  // arbitrary origin, far from 0
clock::time_point g_now = t0;
clock::time_point virtual_now() noexcept { return g_now; }
constexpr auto never = clock::time_point::max();

// ------------------------------------------------------------------ fake transport

struct fake_transport final : call_transport {
  std::vector<std::string> lines;           // every line written, in order
  std::vector<clock::time_point> wakeups;   // every instant the core asked the timer for
  clock::time_point timer = never;          // the single wake-up timer (the last instant armed)
  int writes_after_close = 0;
  int closes = 0;

  void write(std::string line, clock::time_point wake_at) override {
    if (closes > 0) {
      ++writes_after_close;
      return;
    }
    lines.push_back(std::move(line));
    if (wake_at != never) set(wake_at);
  }
  void arm(clock::time_point wake_at) override { set(wake_at); }
  void close() override { ++closes; }
  void set(clock::time_point at) {
    wakeups.push_back(at);
    timer = at;
  }
};

// ------------------------------------------------------------------ rig

struct rig {
  std::shared_ptr<fake_transport> io = std::make_shared<fake_transport>();
  server_hooks hooks;
  std::vector<std::pair<std::string, int>> completed;  // command_completed hook: (name, code)
  std::vector<int> replies;                            // reply_received hook
  reply_parser parser;
  core_settings settings;  // outlives core (the core keeps a pointer)
  std::unique_ptr<call_core> core;

  static core_settings defaults() {
    core_settings s;
    s.command_timeout = 30s;
    s.timeout_margin = 5s;
    s.long_command_timeout = 3600s;
    s.hangup_reply_grace = 500ms;
    return s;
  }

  rig(const rig&) = delete;  // the core points at `settings`
  rig& operator=(const rig&) = delete;
  explicit rig(core_settings s = defaults()) {
    g_now = t0;
    s.now = &virtual_now;
    hooks.command_completed = [this](std::string_view name, std::chrono::nanoseconds, int code) {
      completed.emplace_back(std::string(name), code);
    };
    hooks.reply_received = [this](int code) { replies.push_back(code); };
    settings = s;
    core = std::make_unique<call_core>(settings, io, &hooks);
  }

  // Asterisk's bytes, through the real parser, one event at a time (as the call actor gets them).
  void feed(std::string_view bytes) {
    while (!bytes.empty()) {
      auto used = parser.feed(bytes);
      bytes.remove_prefix(used);
      bool any = false;
      while (auto e = parser.next()) {
        REQUIRE(*e);
        any = true;
        core->on_event(std::move(**e));
      }
      REQUIRE((used > 0 || any));
    }
  }

  // Moves the virtual clock by `d`; the timer fires when its instant is reached.
  void advance(clock::duration d) {
    g_now += d;
    for (int i = 0; io->timer <= g_now; ++i) {
      REQUIRE(i < 100);  // the core keeps arming instants in the past
      io->timer = never;
      core->on_tick(g_now);
    }
  }

  const std::vector<std::string>& lines() const { return io->lines; }
};

// Owns a slot as command<T> does: destroyed while still queued or in flight (the test ends with
// the command pending), it detaches it, so the core never points at a freed slot.
struct slot_ptr : std::unique_ptr<command_slot> {
  using std::unique_ptr<command_slot>::unique_ptr;
  slot_ptr(slot_ptr&&) noexcept = default;
  slot_ptr& operator=(slot_ptr&&) noexcept = default;
  ~slot_ptr() {
    if (auto* s = get(); s && s->owner) s->owner->detach(*s);
  }
};

slot_ptr make(std::string line, std::string_view name = "noop", bool dead_ok = false) {
  slot_ptr s(new command_slot);
  s->line = std::move(line);
  s->name = name;  // string literals only (static storage)
  s->dead_ok = dead_ok;
  return s;
}

slot_ptr stream_file(std::string line = "STREAM FILE prompt \"\"\n") {
  auto s = make(std::move(line), "stream file");
  s->minus_one_ambiguous = true;
  return s;
}

bool done(const command_slot& s) { return s.outcome != nullptr; }

std::error_code code_of(const command_slot& s) {
  REQUIRE(s.outcome);
  REQUIRE_FALSE(*s.outcome);
  return s.outcome->code();
}

const reply& reply_of(const command_slot& s) {
  REQUIRE(s.outcome);
  REQUIRE(*s.outcome);
  return **s.outcome;
}

std::error_code ec(agi_errc e) { return make_error_code(e); }

using lines_t = std::vector<std::string>;

// ------------------------------------------------------------------ coroutine side

// What command<T> does (actors/agi/call.hpp): owns its slot, submits it when awaited, detaches
// it when destroyed unfinished (the handler's frame went away).
class cmd {
 public:
  cmd(call_core& core, std::unique_ptr<command_slot> slot) : core_(&core), slot_(std::move(slot)) {}
  cmd(const cmd&) = delete;
  cmd& operator=(const cmd&) = delete;
  ~cmd() {
    if (slot_ && slot_->owner) slot_->owner->detach(*slot_);
  }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    slot_->waiter = h;
    return core_->submit(*slot_);
  }
  astra::result<reply> await_resume() { return std::move(*slot_->outcome); }

 private:
  call_core* core_;
  std::unique_ptr<command_slot> slot_;
};

std::string show(const astra::result<reply>& r) {
  if (!r) return "err " + r.code().message();
  return "ok " + r->raw;
}

}  // namespace

// ================================================================== serialization

TEST_CASE("call_core: one command on the wire at a time", "[agi][call_core]") {
  rig r;
  auto a = make("ANSWER\n", "answer");
  auto b = make("VERBOSE one 1\n", "verbose", true);
  auto c = make("NOOP\n");
  CHECK(r.core->submit(*a));
  CHECK(r.core->submit(*b));
  CHECK(r.core->submit(*c));
  CHECK(r.lines() == lines_t{"ANSWER\n"});
  CHECK_FALSE(r.core->idle());

  r.feed("200 result=0\n");
  REQUIRE(done(*a));
  CHECK(reply_of(*a).result == "0");
  CHECK_FALSE(done(*b));
  CHECK(r.lines() == lines_t{"ANSWER\n", "VERBOSE one 1\n"});

  r.feed("200 result=1\n");
  CHECK(reply_of(*b).result == "1");
  CHECK(r.lines() == lines_t{"ANSWER\n", "VERBOSE one 1\n", "NOOP\n"});
  r.feed("200 result=0\n");
  CHECK(reply_of(*c).code == 200);
  CHECK(r.core->idle());
  CHECK(r.core->counters().commands == 3);
  CHECK(r.completed == std::vector<std::pair<std::string, int>>{{"answer", 200}, {"verbose", 200}, {"noop", 200}});

  // A reply nobody asked for is counted, not handed to anyone.
  r.feed("200 result=0\n");
  CHECK(r.core->counters().unexpected_replies == 1);
  CHECK(r.io->writes_after_close == 0);
}

TEST_CASE("call_core: a coroutine handler's commands are written after the previous final reply", "[agi][call_core]") {
  rig r;
  std::vector<std::string> seen;
  bool finished = false;
  auto body = [](call_core& core, std::vector<std::string>& seen) -> astra::task<void> {
    seen.push_back("answer " + show(co_await cmd(core, make("ANSWER\n", "answer"))));
    seen.push_back("gosub " + show(co_await cmd(core, make("GOSUB sub s 1\n", "gosub"))));
    seen.push_back("verbose " + show(co_await cmd(core, make("VERBOSE done 1\n", "verbose", true))));
  };
  astra::root_task root(body(*r.core, seen));
  root.start([&](std::exception_ptr) { finished = true; });

  CHECK(r.lines() == lines_t{"ANSWER\n"});
  r.feed("200 result=0\n");
  CHECK(r.lines() == lines_t{"ANSWER\n", "GOSUB sub s 1\n"});
  // The provisional reply neither completes GOSUB nor lets the next command out.
  r.feed("100 result=0 Trying...\n");
  CHECK(seen == std::vector<std::string>{"answer ok 200 result=0"});
  CHECK(r.lines().size() == 2);
  r.feed("200 result=0 Gosub complete\n");
  CHECK(seen.size() == 2);
  CHECK(seen.back() == "gosub ok 200 result=0 Gosub complete");
  CHECK(r.lines().back() == "VERBOSE done 1\n");
  CHECK_FALSE(finished);
  r.feed("200 result=1\n");
  CHECK(finished);
  CHECK(seen.back() == "verbose ok 200 result=1");
  CHECK(r.replies == std::vector<int>{200, 100, 200, 200});
}

TEST_CASE("call_core: a command that could not be built completes at once, unsent", "[agi][call_core]") {
  rig r;
  auto a = make("argument holds a line feed");
  a->preset = ec(agi_errc::invalid_argument);
  CHECK_FALSE(r.core->submit(*a));
  CHECK(code_of(*a) == ec(agi_errc::invalid_argument));
  CHECK(a->outcome->error().detail == "argument holds a line feed");
  CHECK(r.lines().empty());
  CHECK(r.core->idle());
  CHECK(r.completed == std::vector<std::pair<std::string, int>>{{"noop", 0}});
}

// ================================================================== deadlines

TEST_CASE("call_core: deadline expiry, the late reply swallowed before the next command", "[agi][call_core]") {
  rig r;
  auto a = make("GET VARIABLE X\n", "get variable", true);
  REQUIRE(r.core->submit(*a));
  CHECK(r.io->wakeups == std::vector<clock::time_point>{t0 + 30s});

  r.advance(30s - 1ms);
  CHECK_FALSE(done(*a));
  r.advance(1ms);
  CHECK(code_of(*a) == ec(agi_errc::timeout));
  CHECK(r.core->counters().timeouts == 1);
  CHECK(r.completed.back() == std::pair<std::string, int>{"get variable", 0});

  // The next command waits for the abandoned command's reply...
  auto b = make("NOOP\n");
  REQUIRE(r.core->submit(*b));
  CHECK(r.lines() == lines_t{"GET VARIABLE X\n"});
  // ...which is swallowed, not handed to b.
  r.feed("200 result=1 (late)\n");
  CHECK(r.core->counters().orphan_replies == 1);
  CHECK_FALSE(done(*b));
  CHECK(r.lines() == lines_t{"GET VARIABLE X\n", "NOOP\n"});
  r.feed("200 result=0\n");
  CHECK(reply_of(*b).result == "0");
}

TEST_CASE("call_core: a queued command whose deadline passes is never written", "[agi][call_core]") {
  rig r;
  auto a = make("ANSWER\n", "answer");
  REQUIRE(r.core->submit(*a));         // deadline t0+30s
  r.advance(20s);
  auto b = make("NOOP\n");
  REQUIRE(r.core->submit(*b));         // queued, deadline t0+50s
  r.advance(10s);                      // a expires at t0+30s; its reply is still owed
  CHECK(code_of(*a) == ec(agi_errc::timeout));
  CHECK_FALSE(done(*b));
  CHECK(r.io->timer == t0 + 50s);      // re-armed for b
  r.advance(20s);
  CHECK(code_of(*b) == ec(agi_errc::timeout));
  CHECK(r.core->counters().timeouts == 2);
  CHECK(r.lines() == lines_t{"ANSWER\n"});
  CHECK(r.core->idle());
  // a's late reply is swallowed; nothing is left to write.
  r.feed("200 result=0\n");
  CHECK(r.core->counters().orphan_replies == 1);
  CHECK(r.lines() == lines_t{"ANSWER\n"});
}

TEST_CASE("call_core: a command's own timeout extends its deadline", "[agi][call_core]") {
  SECTION("own timeout + margin above the default") {
    rig r;
    auto a = make("WAIT FOR DIGIT 60000\n", "wait for digit");
    a->own_timeout = 60s;
    REQUIRE(r.core->submit(*a));
    CHECK(r.io->timer == t0 + 65s);
    r.advance(64s);
    CHECK_FALSE(done(*a));
    r.advance(1s);
    CHECK(code_of(*a) == ec(agi_errc::timeout));
  }
  SECTION("own timeout + margin below the default: the default") {
    rig r;
    auto a = make("WAIT FOR DIGIT 1000\n", "wait for digit");
    a->own_timeout = 1s;
    REQUIRE(r.core->submit(*a));
    CHECK(r.io->timer == t0 + 30s);
    r.advance(29s);
    CHECK_FALSE(done(*a));
    r.advance(1s);
    CHECK(code_of(*a) == ec(agi_errc::timeout));
  }
  SECTION("long-running and unbounded commands: long_command_timeout") {
    rig r;
    auto a = make("EXEC Dial x\n", "exec");
    a->long_running = true;
    auto b = make("WAIT FOR DIGIT -1\n", "wait for digit");
    b->own_timeout = -1ms;
    REQUIRE(r.core->submit(*a));
    CHECK(r.io->timer == t0 + 3600s);
    r.advance(3599s);
    CHECK_FALSE(done(*a));
    r.feed("200 result=0\n");
    CHECK(reply_of(*a).result == "0");
    REQUIRE(r.core->submit(*b));
    r.advance(3599s);
    CHECK_FALSE(done(*b));
    r.advance(1s);
    CHECK(code_of(*b) == ec(agi_errc::timeout));
  }
}

TEST_CASE("call_core: wake-up instants are only ever moved earlier", "[agi][call_core]") {
  rig r;
  auto a = make("ANSWER\n", "answer");
  REQUIRE(r.core->submit(*a));                  // deadline t0+30s: armed
  CHECK(r.io->wakeups == std::vector<clock::time_point>{t0 + 30s});
  r.advance(1s);
  r.feed("200 result=0\n");

  auto b = make("NOOP\n");
  REQUIRE(r.core->submit(*b));                  // deadline t0+31s: later than the armed t0+30s
  CHECK(r.io->wakeups.size() == 1);             // no re-arm (the tick at t0+30s picks it up)

  auto c = make("GET DATA menu 20000 1\n", "get data");
  c->own_timeout = 20s;                          // queued, deadline t0+1s+30s: no re-arm either
  REQUIRE(r.core->submit(*c));
  CHECK(r.io->wakeups.size() == 1);

  auto d = make("VERBOSE x 1\n", "verbose", true);
  r.core->set_command_timeout(10s);
  REQUIRE(r.core->submit(*d));                  // queued, deadline t0+11s: earlier, armed
  CHECK(r.io->wakeups == std::vector<clock::time_point>{t0 + 30s, t0 + 11s});

  r.advance(10s);                               // t0+11s: d expires unsent, re-arm for b
  CHECK(code_of(*d) == ec(agi_errc::timeout));
  CHECK(r.io->wakeups == std::vector<clock::time_point>{t0 + 30s, t0 + 11s, t0 + 31s});
  CHECK_FALSE(done(*b));
  CHECK_FALSE(done(*c));
  CHECK(r.lines() == lines_t{"ANSWER\n", "NOOP\n"});
  for (auto at : r.io->wakeups) CHECK(at > t0);
}

// ================================================================== HANGUP, 511, -1

TEST_CASE("call_core: HANGUP during a live-channel command", "[agi][call_core]") {
  rig r;
  auto a = make("STREAM FILE prompt \"\"\n", "stream file");
  auto b = make("SET VARIABLE SAW 1\n", "set variable", true);
  REQUIRE(r.core->submit(*a));
  REQUIRE(r.core->submit(*b));
  r.feed("HANGUP\n");
  CHECK(code_of(*a) == ec(agi_errc::hung_up));
  CHECK(r.core->hung_up());
  CHECK(r.completed.back() == std::pair<std::string, int>{"stream file", 0});
  CHECK(r.io->timer == t0 + 500ms);  // the orphan grace
  CHECK(r.lines().size() == 1);      // b waits for stream file's reply
  r.feed("200 result=-1 endpos=8000\n");
  CHECK(r.core->counters().orphan_replies == 1);
  CHECK(r.lines() == lines_t{"STREAM FILE prompt \"\"\n", "SET VARIABLE SAW 1\n"});
  r.feed("200 result=1\n");
  CHECK(reply_of(*b).result == "1");
}

TEST_CASE("call_core: HANGUP during a dead-channel command does not cut it", "[agi][call_core]") {
  // Recorded in agi-full-command-set: VERBOSE, HANGUP, then VERBOSE's reply.
  rig r;
  auto a = make("VERBOSE \"after hangup\" 1\n", "verbose", true);
  REQUIRE(r.core->submit(*a));
  r.feed("HANGUP\n");
  CHECK_FALSE(done(*a));
  CHECK(r.core->hung_up());
  r.feed("200 result=1\n");
  CHECK(reply_of(*a).result == "1");
  CHECK(r.core->counters().orphan_replies == 0);
}

TEST_CASE("call_core: Asterisk never answers the command HANGUP cut: grace", "[agi][call_core]") {
  rig r;
  auto a = make("WAIT FOR DIGIT 60000\n", "wait for digit");
  a->own_timeout = 60s;
  auto b = make("SET VARIABLE SAW 1\n", "set variable", true);
  REQUIRE(r.core->submit(*a));
  r.advance(2s);
  REQUIRE(r.core->submit(*b));
  r.feed("HANGUP\n");
  CHECK(code_of(*a) == ec(agi_errc::hung_up));
  CHECK(r.io->timer == t0 + 2s + 500ms);  // earlier than a's t0+65s: moved
  r.advance(499ms);
  CHECK(r.lines().size() == 1);
  r.advance(1ms);
  CHECK(r.lines() == lines_t{"WAIT FOR DIGIT 60000\n", "SET VARIABLE SAW 1\n"});
  r.feed("200 result=1\n");
  CHECK(reply_of(*b).result == "1");
  CHECK(r.core->counters().orphan_replies == 0);
}

TEST_CASE("call_core: after HANGUP dead-channel commands still work", "[agi][call_core]") {
  SECTION("default: live-channel commands are still sent (Asterisk answers 511)") {
    rig r;
    r.feed("HANGUP\n");
    auto a = make("ANSWER\n", "answer");
    REQUIRE(r.core->submit(*a));
    CHECK(r.lines() == lines_t{"ANSWER\n"});
    r.feed("511 Command Not Permitted on a dead channel or intercept routine\n");
    CHECK(reply_of(*a).code == 511);
    CHECK(astra::agi::decode_status(reply_of(*a)).code() == ec(agi_errc::hung_up));
    auto b = make("GET VARIABLE X\n", "get variable", true);
    REQUIRE(r.core->submit(*b));
    r.feed("200 result=1 (x)\n");
    CHECK(reply_of(*b).data == std::optional<std::string>("x"));
  }
  SECTION("fail_fast_after_hangup: live-channel commands refused locally") {
    auto s = rig::defaults();
    s.fail_fast_after_hangup = true;
    rig r(s);
    r.feed("HANGUP\n");
    auto a = make("ANSWER\n", "answer");
    CHECK_FALSE(r.core->submit(*a));  // completed synchronously
    CHECK(code_of(*a) == ec(agi_errc::hung_up));
    CHECK(r.lines().empty());
    auto b = make("DATABASE PUT f k v\n", "database put", true);
    REQUIRE(r.core->submit(*b));
    CHECK(r.lines() == lines_t{"DATABASE PUT f k v\n"});
    r.feed("200 result=1\n");
    CHECK(reply_of(*b).result == "1");
  }
}

TEST_CASE("call_core: 511 marks the channel hung up", "[agi][call_core]") {
  rig r;
  auto a = make("SAY NUMBER 1 \"\"\n", "say number");
  REQUIRE(r.core->submit(*a));
  CHECK_FALSE(r.core->hung_up());
  r.feed("511 Command Not Permitted on a dead channel or intercept routine\n");
  CHECK(reply_of(*a).code == 511);
  CHECK(r.core->hung_up());
}

TEST_CASE("call_core: 200 result=-1", "[agi][call_core]") {
  SECTION("minus_one_is_hangup: hung_up") {
    rig r;
    auto a = make("WAIT FOR DIGIT 100\n", "wait for digit");
    a->minus_one_is_hangup = true;
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1\n");
    CHECK(code_of(*a) == ec(agi_errc::hung_up));
    CHECK(r.core->hung_up());
  }
  SECTION("a dead-channel command's -1 stays a reply") {
    rig r;
    auto a = make("DATABASE DEL f k\n", "database del", true);
    a->minus_one_is_hangup = true;
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1\n");
    CHECK(reply_of(*a).result == "-1");
    CHECK_FALSE(r.core->hung_up());
  }
  SECTION("another command's -1 is its reply (command_failed when decoded)") {
    rig r;
    auto a = make("RECEIVE TEXT 100\n", "receive text");
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1\n");
    CHECK(reply_of(*a).result == "-1");
    CHECK(astra::agi::decode_receive_text(reply_of(*a)).code() == ec(agi_errc::command_failed));
    CHECK_FALSE(r.core->hung_up());
    CHECK(r.lines().size() == 1);
  }
  SECTION("any live-channel command's -1 once hung up: hung_up") {
    rig r;
    auto a = make("VERBOSE x 1\n", "verbose", true);
    REQUIRE(r.core->submit(*a));
    r.feed("HANGUP\n200 result=1\n");
    auto b = make("RECEIVE TEXT 100\n", "receive text");
    REQUIRE(r.core->submit(*b));
    r.feed("200 result=-1\n");
    CHECK(code_of(*b) == ec(agi_errc::hung_up));
  }
}

// ================================================================== the end of a call

TEST_CASE("call_core: disconnect fails the in-flight and queued commands", "[agi][call_core]") {
  rig r;
  auto a = make("ANSWER\n", "answer");
  auto b = make("NOOP\n");
  REQUIRE(r.core->submit(*a));
  REQUIRE(r.core->submit(*b));
  r.core->on_disconnected({});
  CHECK(code_of(*a) == ec(agi_errc::disconnected));
  CHECK(code_of(*b) == ec(agi_errc::disconnected));
  CHECK_FALSE(r.core->connected());
  CHECK(r.io->closes == 1);
  auto c = make("NOOP\n");
  CHECK_FALSE(r.core->submit(*c));
  CHECK(code_of(*c) == ec(agi_errc::disconnected));
  r.advance(1h);  // no tick work after close
  CHECK(r.io->writes_after_close == 0);
  CHECK(r.lines() == lines_t{"ANSWER\n"});
}

TEST_CASE("call_core: protocol error", "[agi][call_core]") {
  rig r;
  auto a = make("ANSWER\n", "answer");
  auto b = make("NOOP\n");
  REQUIRE(r.core->submit(*a));
  REQUIRE(r.core->submit(*b));
  r.core->on_protocol_error(astra::failure{ec(agi_errc::malformed_reply), "garbage"});
  CHECK(code_of(*a) == ec(agi_errc::malformed_reply));
  CHECK(code_of(*b) == ec(agi_errc::disconnected));
  CHECK(r.io->closes == 1);
  CHECK_FALSE(r.core->connected());
  r.core->on_protocol_error(astra::failure{ec(agi_errc::malformed_reply), "again"});
  r.core->on_disconnected({});
  CHECK(r.io->closes == 1);
}

TEST_CASE("call_core: shutdown(reason) and a runaway handler", "[agi][call_core]") {
  auto s = rig::defaults();
  s.max_commands_after_close = 3;
  rig r(s);
  auto a = make("ANSWER\n", "answer");
  auto b = make("NOOP\n");
  REQUIRE(r.core->submit(*a));
  REQUIRE(r.core->submit(*b));
  r.core->shutdown(agi_errc::shutting_down);
  CHECK(code_of(*a) == ec(agi_errc::shutting_down));
  CHECK(code_of(*b) == ec(agi_errc::shutting_down));
  CHECK(r.io->closes == 1);
  std::vector<std::unique_ptr<command_slot>> later;
  for (int i = 0; i < 3; ++i) {
    later.push_back(make("NOOP\n"));
    CHECK_FALSE(r.core->submit(*later.back()));
    CHECK(code_of(*later.back()) == ec(agi_errc::shutting_down));
    CHECK_FALSE(r.core->runaway());
  }
  later.push_back(make("NOOP\n"));
  CHECK(r.core->submit(*later.back()));  // suspended for good
  CHECK_FALSE(done(*later.back()));
  CHECK(r.core->runaway());
  CHECK(r.io->writes_after_close == 0);
  CHECK(r.lines() == lines_t{"ANSWER\n"});
}

// ================================================================== detach

TEST_CASE("call_core: detach", "[agi][call_core]") {
  SECTION("an in-flight slot: its reply is swallowed") {
    rig r;
    auto a = make("ANSWER\n", "answer");
    auto b = make("NOOP\n");
    REQUIRE(r.core->submit(*a));
    REQUIRE(r.core->submit(*b));
    r.core->detach(*a);
    CHECK(a->owner == nullptr);
    a.reset();
    CHECK(r.lines().size() == 1);
    r.feed("200 result=0\n");
    CHECK(r.core->counters().orphan_replies == 1);
    CHECK(r.lines() == lines_t{"ANSWER\n", "NOOP\n"});
    r.feed("200 result=0\n");
    CHECK(reply_of(*b).result == "0");
  }
  SECTION("a queued slot: never written") {
    rig r;
    auto a = make("ANSWER\n", "answer");
    auto b = make("VERBOSE b 1\n", "verbose", true);
    auto c = make("NOOP\n");
    REQUIRE(r.core->submit(*a));
    REQUIRE(r.core->submit(*b));
    REQUIRE(r.core->submit(*c));
    r.core->detach(*b);
    b.reset();
    r.feed("200 result=0\n");
    CHECK(r.lines() == lines_t{"ANSWER\n", "NOOP\n"});
    r.feed("200 result=0\n");
    CHECK(reply_of(*c).result == "0");
    CHECK(r.core->idle());
  }
  SECTION("the handler's frame destroyed mid-command") {
    rig r;
    std::vector<std::string> seen;
    auto body = [](call_core& core, std::vector<std::string>& seen) -> astra::task<void> {
      seen.push_back(show(co_await cmd(core, make("WAIT FOR DIGIT 5000\n", "wait for digit"))));
    };
    {
      astra::root_task root(body(*r.core, seen));
      root.start({});
      CHECK(r.lines().size() == 1);
    }  // frame destroyed: the command detaches
    CHECK(r.core->idle());
    auto next = make("NOOP\n");
    REQUIRE(r.core->submit(*next));
    CHECK(r.lines().size() == 1);
    r.feed("200 result=0\n");  // WAIT FOR DIGIT's reply
    CHECK(seen.empty());
    CHECK_FALSE(done(*next));
    CHECK(r.lines().back() == "NOOP\n");
  }
}

// ================================================================== ambiguous -1 (probe)

TEST_CASE("call_core: ambiguous -1 on a live channel: the probe returns the original -1", "[agi][call_core][probe]") {
  rig r;
  auto a = stream_file();
  auto b = make("SAY DIGITS 1 \"\"\n", "say digits");
  REQUIRE(r.core->submit(*a));
  r.advance(2s);
  r.feed("200 result=-1 endpos=1760\n");
  CHECK_FALSE(done(*a));
  CHECK(r.core->probing());
  CHECK(r.core->counters().probes == 1);
  CHECK(r.lines() == lines_t{"STREAM FILE prompt \"\"\n", "CHANNEL STATUS\n"});
  // A command submitted meanwhile queues behind the probe.
  REQUIRE(r.core->submit(*b));
  CHECK(r.lines().size() == 2);
  r.feed("200 result=6\n");
  CHECK_FALSE(r.core->probing());
  REQUIRE(done(*a));
  CHECK(reply_of(*a).raw == "200 result=-1 endpos=1760");
  CHECK(astra::agi::decode_stream_file(reply_of(*a)).code() == ec(agi_errc::command_failed));
  CHECK_FALSE(r.core->hung_up());
  CHECK(r.lines() == lines_t{"STREAM FILE prompt \"\"\n", "CHANNEL STATUS\n", "SAY DIGITS 1 \"\"\n"});
  // The probe is no command of the handler's: stream file reported once, with its own reply.
  CHECK(r.completed == std::vector<std::pair<std::string, int>>{{"stream file", 200}});
  CHECK(r.core->counters().commands == 2);
  r.feed("200 result=0\n");
  CHECK(reply_of(*b).result == "0");
}

TEST_CASE("call_core: ambiguous -1 and the probe answers 511: hung_up", "[agi][call_core][probe]") {
  rig r;
  auto a = stream_file();
  auto b = make("SET VARIABLE SAW 1\n", "set variable", true);
  REQUIRE(r.core->submit(*a));
  r.feed("200 result=-1 endpos=3200\n");
  REQUIRE(r.core->submit(*b));
  r.feed("511 Command Not Permitted on a dead channel or intercept routine\n");
  CHECK(code_of(*a) == ec(agi_errc::hung_up));
  CHECK(r.core->hung_up());
  CHECK(r.lines() == lines_t{"STREAM FILE prompt \"\"\n", "CHANNEL STATUS\n", "SET VARIABLE SAW 1\n"});
  r.feed("200 result=1\n");
  CHECK(reply_of(*b).result == "1");
  CHECK(r.core->counters().orphan_replies == 0);
}

TEST_CASE("call_core: ambiguous -1, then HANGUP while the probe is in flight", "[agi][call_core][probe]") {
  SECTION("the probe's 511 is swallowed") {
    rig r;
    auto a = stream_file();
    REQUIRE(r.core->submit(*a));
    r.advance(3s);
    // Asterisk's order when the caller hangs up during playback: -1, then HANGUP.
    r.feed("200 result=-1 endpos=4000\n");
    auto b = make("VERBOSE bye 1\n", "verbose", true);
    REQUIRE(r.core->submit(*b));
    r.feed("HANGUP\n");
    CHECK(code_of(*a) == ec(agi_errc::hung_up));
    CHECK(r.core->hung_up());
    CHECK_FALSE(r.core->probing());
    CHECK(r.completed == std::vector<std::pair<std::string, int>>{{"stream file", 200}});  // not twice
    CHECK(r.lines().size() == 2);
    r.feed("511 Command Not Permitted on a dead channel or intercept routine\n");
    CHECK(r.core->counters().orphan_replies == 1);
    CHECK_FALSE(done(*b));
    CHECK(r.lines() == lines_t{"STREAM FILE prompt \"\"\n", "CHANNEL STATUS\n", "VERBOSE bye 1\n"});
    r.feed("200 result=1\n");
    CHECK(reply_of(*b).result == "1");
  }
  SECTION("the probe is never answered: grace") {
    rig r;
    auto a = stream_file();
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1 endpos=4000\nHANGUP\n");
    CHECK(code_of(*a) == ec(agi_errc::hung_up));
    auto b = make("VERBOSE bye 1\n", "verbose", true);
    REQUIRE(r.core->submit(*b));
    r.advance(499ms);
    CHECK(r.lines().size() == 2);
    r.advance(1ms);
    CHECK(r.lines().back() == "VERBOSE bye 1\n");
  }
}

TEST_CASE("call_core: ambiguous -1 with a coroutine handler", "[agi][call_core][probe]") {
  rig r;
  std::vector<std::string> seen;
  auto body = [](call_core& core, std::vector<std::string>& seen) -> astra::task<void> {
    auto s = make("STREAM FILE beep \"\"\n", "stream file");
    s->minus_one_ambiguous = true;
    seen.push_back("stream file " + show(co_await cmd(core, std::move(s))));
    seen.push_back("verbose " + show(co_await cmd(core, make("VERBOSE x 1\n", "verbose", true))));
  };
  astra::root_task root(body(*r.core, seen));
  bool finished = false;
  root.start([&](std::exception_ptr) { finished = true; });
  r.feed("200 result=-1 endpos=800\n");
  CHECK(seen.empty());  // the handler sees no probe and no intermediate result
  r.feed("200 result=6\n");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == "stream file ok 200 result=-1 endpos=800");
  CHECK(r.lines() == lines_t{"STREAM FILE beep \"\"\n", "CHANNEL STATUS\n", "VERBOSE x 1\n"});
  r.feed("200 result=1\n");
  CHECK(finished);
  CHECK(seen[1] == "verbose ok 200 result=1");
}

TEST_CASE("call_core: -1 that is not ambiguous writes no probe", "[agi][call_core][probe]") {
  SECTION("the recorded missing file (endpos=0: never played)") {
    // agi-full-command-set: STREAM FILE no-such-file, answered on a live channel.
    auto chunks = astra::test::load_fixture("agi/agi-full-command-set.jsonl");
    std::string answer;
    for (std::size_t i = 0; i + 1 < chunks.size(); ++i)
      if (chunks[i].dir == "out" && chunks[i].data == "STREAM FILE no-such-file \"\"\n") answer = chunks[i + 1].data;
    REQUIRE(answer == "200 result=-1 endpos=0\n");
    rig r;
    auto a = stream_file("STREAM FILE no-such-file \"\"\n");
    auto b = make("SAY NUMBER 42 \"\"\n", "say number");
    REQUIRE(r.core->submit(*a));
    REQUIRE(r.core->submit(*b));
    r.feed(answer);
    CHECK(reply_of(*a).result == "-1");
    CHECK(r.core->counters().probes == 0);
    CHECK(r.lines() == lines_t{"STREAM FILE no-such-file \"\"\n", "SAY NUMBER 42 \"\"\n"});
  }
  SECTION("the channel already known hung up") {
    rig r;
    auto v = make("VERBOSE x 1\n", "verbose", true);
    REQUIRE(r.core->submit(*v));
    r.feed("HANGUP\n200 result=1\n");
    auto a = stream_file();
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1 endpos=160\n");
    CHECK(code_of(*a) == ec(agi_errc::hung_up));
    CHECK(r.core->counters().probes == 0);
  }
  SECTION("a command without the flag") {
    rig r;
    auto a = make("STREAM FILE prompt \"\"\n", "stream file");
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1 endpos=160\n");
    CHECK(reply_of(*a).result == "-1");
    CHECK(r.core->counters().probes == 0);
  }
  SECTION("a result other than -1") {
    rig r;
    auto a = stream_file();
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=0 endpos=3520\n");
    CHECK(reply_of(*a).extra("endpos") == std::optional<std::string_view>("3520"));
    CHECK(r.core->counters().probes == 0);
  }
  SECTION("SAY's -1 (no endpos) is probed") {
    rig r;
    auto a = make("SAY NUMBER 42 \"\"\n", "say number");
    a->minus_one_ambiguous = true;
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1\n");
    CHECK(r.core->counters().probes == 1);
    r.feed("200 result=-1\n");  // CHANNEL STATUS -1: the channel is gone
    CHECK(code_of(*a) == ec(agi_errc::hung_up));
    CHECK(r.core->hung_up());
  }
}

TEST_CASE("call_core: the probe's deadline", "[agi][call_core][probe]") {
  rig r;
  r.core->set_command_timeout(10s);
  auto a = stream_file();
  a->own_timeout = 0ms;
  REQUIRE(r.core->submit(*a));  // deadline t0+10s
  r.advance(8s);
  r.feed("200 result=-1 endpos=1000\n");
  CHECK(r.io->timer == t0 + 10s);  // the earlier instant stays armed...
  r.advance(2s);                   // ...and fires: nothing expired, re-arm for the probe
  CHECK_FALSE(done(*a));
  CHECK(r.io->timer == t0 + 18s);  // probe deadline: written at t0+8s + command_timeout
  auto b = make("NOOP\n");
  REQUIRE(r.core->submit(*b));     // deadline t0+20s
  r.advance(8s - 1ms);
  CHECK_FALSE(done(*a));
  r.advance(1ms);
  CHECK(code_of(*a) == ec(agi_errc::timeout));
  CHECK(r.core->counters().timeouts == 1);
  CHECK_FALSE(r.core->probing());
  CHECK(r.lines().size() == 2);
  r.feed("200 result=6\n");        // the probe's late reply is swallowed
  CHECK(r.core->counters().orphan_replies == 1);
  CHECK(r.lines().back() == "NOOP\n");
  CHECK_FALSE(done(*b));
}

TEST_CASE("call_core: the end of the call while probing", "[agi][call_core][probe]") {
  SECTION("disconnect") {
    rig r;
    auto a = stream_file();
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1 endpos=1000\n");
    r.core->on_disconnected({});
    CHECK(code_of(*a) == ec(agi_errc::disconnected));
    CHECK_FALSE(r.core->probing());
    CHECK(r.completed.size() == 1);
  }
  SECTION("shutdown") {
    rig r;
    auto a = stream_file();
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1 endpos=1000\n");
    r.core->shutdown(agi_errc::shutting_down);
    CHECK(code_of(*a) == ec(agi_errc::shutting_down));
    CHECK(r.io->closes == 1);
  }
  SECTION("detach: the probe's reply is swallowed") {
    rig r;
    auto a = stream_file();
    auto b = make("NOOP\n");
    REQUIRE(r.core->submit(*a));
    r.feed("200 result=-1 endpos=1000\n");
    REQUIRE(r.core->submit(*b));
    r.core->detach(*a);
    a.reset();
    CHECK_FALSE(r.core->probing());
    CHECK(r.lines().size() == 2);
    r.feed("200 result=6\n");
    CHECK(r.core->counters().orphan_replies == 1);
    CHECK(r.lines().back() == "NOOP\n");
    CHECK_FALSE(done(*b));
  }
}

// ================================================================== the typed commands, over loopback

namespace {

struct seen_list {
  std::mutex mutex;
  std::vector<std::string> items;
  void add(std::string s) {
    std::lock_guard<std::mutex> lock(mutex);
    items.push_back(std::move(s));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return items;
  }
};

std::string name_of(std::error_code e) {
  if (!e) return "ok";
  if (e == agi_errc::hung_up) return "hung_up";
  if (e == agi_errc::command_failed) return "command_failed";
  return e.message();
}

constexpr auto io_timeout = 3000ms;

}  // namespace

TEST_CASE("call: the typed playback commands settle an ambiguous -1 with CHANNEL STATUS", "[agi][call_core][probe][server]") {
  using astra::test::fake_asterisk;
  using astra::test::make_environment;
  seen_list seen;
  astra::agi::router routes;
  routes.add("/live", [&](astra::agi::call& c) -> astra::task<void> {
    seen.add("stream_file " + name_of((co_await c.stream_file("prompt")).code()));
    seen.add("stream_file " + name_of((co_await c.stream_file("no-such-file")).code()));
    seen.add("say_number " + name_of((co_await c.say_number("42")).code()));
    seen.add("verbose " + name_of((co_await c.verbose("after", 1)).code()));
  });
  routes.add("/dead", [&](astra::agi::call& c) -> astra::task<void> {
    seen.add("control_stream_file " + name_of((co_await c.control_stream_file("prompt")).code()));
    seen.add("set_variable " + name_of((co_await c.set_variable("ASTRA_SAW_HANGUP", "1")).code()));
    seen.add(std::string("hung_up ") + (c.hung_up() ? "yes" : "no"));
  });
  astra::test::test_server server(std::move(routes));

  {
    fake_asterisk fake(server.port());
    fake.send(make_environment("live"));
    REQUIRE(fake.read_line(io_timeout) == "STREAM FILE prompt \"\"\n");
    fake.send("200 result=-1 endpos=1000\n");
    REQUIRE(fake.read_line(io_timeout) == "CHANNEL STATUS\n");
    fake.send("200 result=6\n");                    // the channel is up: a plain failure
    REQUIRE(fake.read_line(io_timeout) == "STREAM FILE no-such-file \"\"\n");
    fake.send("200 result=-1 endpos=0\n");          // never played: no probe
    REQUIRE(fake.read_line(io_timeout) == "SAY NUMBER 42 \"\"\n");
    fake.send("200 result=-1\n");
    REQUIRE(fake.read_line(io_timeout) == "CHANNEL STATUS\n");
    fake.send("511 Command Not Permitted on a dead channel or intercept routine\n");
    REQUIRE(fake.read_line(io_timeout) == "VERBOSE after 1\n");
    fake.send("200 result=1\n");
    CHECK(fake.wait_closed(io_timeout));
  }
  {
    fake_asterisk fake(server.port());
    fake.send(make_environment("dead"));
    REQUIRE(fake.read_line(io_timeout) == "CONTROL STREAM FILE prompt \"\"\n");
    fake.send("200 result=-1 endpos=1200\nHANGUP\n");  // Asterisk's order on a hang-up mid-playback
    REQUIRE(fake.read_line(io_timeout) == "CHANNEL STATUS\n");
    fake.send("511 Command Not Permitted on a dead channel or intercept routine\n");
    REQUIRE(fake.read_line(io_timeout) == "SET VARIABLE ASTRA_SAW_HANGUP 1\n");
    fake.send("200 result=1\n");
    CHECK(fake.wait_closed(io_timeout));
  }
  REQUIRE(server.wait_live_zero());
  CHECK(seen.snapshot() == std::vector<std::string>{"stream_file command_failed", "stream_file command_failed",
                                                    "say_number hung_up", "verbose ok",
                                                    "control_stream_file hung_up", "set_variable ok", "hung_up yes"});
}
