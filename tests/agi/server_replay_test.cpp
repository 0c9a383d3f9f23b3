// Replays the recorded Asterisk 22 FastAGI sessions against the server: a fake Asterisk plays
// the recorded `in` bytes, handlers issue the recorded commands through the typed call API, and
// every byte the server writes is compared with the recorded `out` side — with the recorded
// chunking, with each run of `in` records merged into one write, and with the `in` stream split
// at every offset. The typed results the handlers saw are checked against what the replies mean.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>

#include "actors/agi/call.hpp"
#include "actors/agi/server.hpp"
#include "tests/agi/fake_asterisk.hpp"
#include "tests/support/fixtures.hpp"

using namespace std::chrono_literals;
using astra::agi::agi_errc;
using astra::agi::call;
using astra::test::fake_asterisk;
using astra::test::load_fixture;
using astra::test::test_server;

namespace {

// What a handler observed, one entry per command ("answer ok", "get_variable =5551234", ...).
struct observations {
  std::mutex mutex;
  std::vector<std::vector<std::string>> sessions;
  void add(std::vector<std::string> s) {
    std::lock_guard<std::mutex> lock(mutex);
    sessions.push_back(std::move(s));
  }
  std::vector<std::vector<std::string>> take() {
    std::lock_guard<std::mutex> lock(mutex);
    return std::exchange(sessions, {});
  }
};

std::string err_name(std::error_code ec) {
  if (ec.category() != astra::agi::agi_category()) return "err " + ec.message();
  switch (static_cast<agi_errc>(ec.value())) {
    case agi_errc::hung_up: return "err hung_up";
    case agi_errc::timeout: return "err timeout";
    case agi_errc::disconnected: return "err disconnected";
    case agi_errc::invalid_command: return "err invalid_command";
    case agi_errc::usage_error: return "err usage_error";
    case agi_errc::command_failed: return "err command_failed";
    case agi_errc::application_not_found: return "err application_not_found";
    default: return "err " + ec.message();
  }
}

std::string show(const astra::result<void>& r) { return r ? "ok" : err_name(r.code()); }
std::string show(const astra::result<bool>& r) { return r ? (*r ? "true" : "false") : err_name(r.code()); }
std::string show(const astra::result<std::optional<std::string>>& r) {
  return r ? (*r ? "=" + **r : "unset") : err_name(r.code());
}
std::string show(const astra::result<std::optional<char>>& r) {
  return r ? (*r ? std::string("digit ") + **r : "no digit") : err_name(r.code());
}
std::string show(const astra::result<astra::agi::stream_result>& r) {
  if (!r) return err_name(r.code());
  return "endpos " + std::to_string(r->endpos) + (r->digit ? std::string(" digit ") + *r->digit : "");
}
std::string show(const astra::result<astra::agi::reply>& r) { return r ? "200 " + r->result : err_name(r.code()); }

enum class variant { full_command_set, hangup_mid_session };

// The command sequence of agi-full-command-set / agi-hangup-mid-session (same script; only the
// GOSUB target differs).
astra::task<void> scripted_session(call& c, variant v, observations& out) {
  std::vector<std::string> seen;
  seen.push_back("answer " + show(co_await c.answer()));
  seen.push_back("get_variable " + show(co_await c.get_variable("CALLERID(num)")));
  seen.push_back("set_variable " + show(co_await c.set_variable("ASTRA_RESULT", "ok fine")));
  seen.push_back("get_variable " + show(co_await c.get_variable("ASTRA_RESULT")));
  seen.push_back("get_full_variable " + show(co_await c.get_full_variable("${ASTRA_RESULT}-${EXTEN}")));
  seen.push_back("get_variable " + show(co_await c.get_variable("NO_SUCH_VAR")));
  {
    auto s = co_await c.channel_status();
    seen.push_back("channel_status " + (s ? std::string(astra::agi::to_string(*s)) : err_name(s.code())));
  }
  seen.push_back("database_put " + show(co_await c.database_put("astra", "agi", "v 1")));
  seen.push_back("database_get " + show(co_await c.database_get("astra", "agi")));
  seen.push_back("database_get " + show(co_await c.database_get("astra", "nokey")));
  seen.push_back("database_del " + show(co_await c.database_del("astra", "agi")));
  seen.push_back("verbose " + show(co_await c.verbose("hello from agi", 1)));
  seen.push_back("stream_file " + show(co_await c.stream_file("beep", "")));
  seen.push_back("stream_file " + show(co_await c.stream_file("no-such-file", "")));
  seen.push_back("say_number " + show(co_await c.say_number("42", "")));
  seen.push_back("say_digits " + show(co_await c.say_digits("123", "#")));
  seen.push_back("say_alpha " + show(co_await c.say_alpha("abc", "")));
  seen.push_back("say_phonetic " + show(co_await c.say_phonetic("ab", "")));
  seen.push_back("say_date " + show(co_await c.say_date(0, "")));
  seen.push_back("say_time " + show(co_await c.say_time(0, "")));
  seen.push_back("say_datetime " + show(co_await c.say_datetime(0, "", "", "UTC")));
  {
    auto d = co_await c.get_data("beep", 100ms, 2);
    seen.push_back("get_data " + (d ? "digits '" + d->digits + "'" + (d->timed_out ? " timeout" : "") : err_name(d.code())));
  }
  seen.push_back("wait_for_digit " + show(co_await c.wait_for_digit(100ms)));
  seen.push_back("get_option " + show(co_await c.get_option("beep", "12", 100ms)));
  seen.push_back("control_stream_file " + show(co_await c.control_stream_file("beep", "")));
  {
    auto e = co_await c.exec("Wait", "0.1");
    seen.push_back("exec " + (e ? "code " + std::to_string(e->code) : err_name(e.code())));
    e = co_await c.exec("NoSuchApp", "x");
    seen.push_back("exec " + (e ? "code " + std::to_string(e->code) : err_name(e.code())));
    e = co_await c.exec("Set", "X=1,2");
    seen.push_back("exec " + (e ? "code " + std::to_string(e->code) : err_name(e.code())));
  }
  seen.push_back("send " + show(co_await c.send("NOOP", "x y")));
  seen.push_back("receive_char " + show(co_await c.receive_char(100ms)));
  {
    auto t = co_await c.receive_text(100ms);
    seen.push_back("receive_text " + (t ? "'" + *t + "'" : err_name(t.code())));
  }
  seen.push_back("send_text " + show(co_await c.send_text("hello")));
  seen.push_back("send_image " + show(co_await c.send_image("foo")));
  seen.push_back("tdd_mode " + show(co_await c.tdd_mode("off")));
  seen.push_back("set_music " + show(co_await c.set_music(true, "default")));
  seen.push_back("set_music " + show(co_await c.set_music(false)));
  seen.push_back("set_callerid " + show(co_await c.set_callerid("Astra <123>")));
  {
    auto r = co_await c.record_file("/tmp/astra-rec", "gsm", "#", 500ms, 0, true, std::chrono::seconds(1));
    seen.push_back("record_file " + (r ? "reason " + r->reason + " endpos " + std::to_string(r->endpos) : err_name(r.code())));
  }
  if (v == variant::full_command_set)
    seen.push_back("gosub " + show(co_await c.gosub("subs", "sub", "1", "myarg")));
  else
    seen.push_back("gosub " + show(co_await c.gosub("default", "wait", "1")));
  seen.push_back("send " + show(co_await c.send("FOO BAR")));
  seen.push_back("send " + show(co_await c.send("GET DATA")));
  seen.push_back("database_deltree " + show(co_await c.database_deltree("astra")));
  seen.push_back("set_autohangup " + show(co_await c.set_autohangup(std::chrono::seconds(0))));
  seen.push_back("asyncagi_break " + show(co_await c.asyncagi_break()));
  seen.push_back("speech_create " + show(co_await c.speech_create("nosuchengine")));
  seen.push_back("set_context " + show(co_await c.set_context("default")));
  seen.push_back("set_extension " + show(co_await c.set_extension("wait")));
  seen.push_back("set_priority " + show(co_await c.set_priority("1")));
  seen.push_back("hangup " + show(co_await c.hangup()));
  seen.push_back("verbose " + show(co_await c.verbose("after hangup", 1)));
  seen.push_back("noop " + show(co_await c.noop()));
  seen.push_back(std::string("hung_up() ") + (c.hung_up() ? "true" : "false"));
  out.add(std::move(seen));
}

astra::task<void> autohangup_session(call& c, observations& out) {
  std::vector<std::string> seen;
  seen.push_back("answer " + show(co_await c.answer()));
  seen.push_back("set_autohangup " + show(co_await c.set_autohangup(std::chrono::seconds(1))));
  seen.push_back("verbose " + show(co_await c.verbose("after autohangup", 1)));
  seen.push_back("noop " + show(co_await c.noop()));
  seen.push_back(std::string("hung_up() ") + (c.hung_up() ? "true" : "false"));
  out.add(std::move(seen));
}

const std::vector<std::string> expected_full = {
    "answer ok", "get_variable =5551234", "set_variable ok", "get_variable =ok fine",
    "get_full_variable =ok fine-agi", "get_variable unset", "channel_status up", "database_put true",
    "database_get =v 1", "database_get unset", "database_del true", "verbose ok", "stream_file endpos 3520",
    "stream_file err command_failed", "say_number no digit", "say_digits no digit", "say_alpha no digit",
    "say_phonetic no digit", "say_date no digit", "say_time no digit", "say_datetime no digit",
    "get_data digits '' timeout", "wait_for_digit no digit", "get_option endpos 3520",
    "control_stream_file endpos -1", "exec code 0", "exec err application_not_found", "exec code 0",
    "send 200 0", "receive_char err command_failed", "receive_text err command_failed", "send_text ok",
    "send_image ok", "tdd_mode false", "set_music ok", "set_music ok", "set_callerid ok",
    "record_file reason timeout endpos 0", "gosub ok", "send err invalid_command", "send err usage_error",
    "database_deltree true", "set_autohangup ok", "asyncagi_break ok", "speech_create false", "set_context ok",
    "set_extension ok", "set_priority ok", "hangup ok", "verbose ok", "noop ok", "hung_up() true"};

// The caller hangs up during GET DATA (-1) / WAIT FOR DIGIT (HANGUP, then 511 to everything
// that needs a live channel); dead-channel commands (EXEC, NOOP, DATABASE, ASYNCAGI BREAK,
// VERBOSE) keep working.
const std::vector<std::string> expected_mid_session = {
    "answer ok", "get_variable =5551234", "set_variable ok", "get_variable =ok fine",
    "get_full_variable =ok fine-agi", "get_variable unset", "channel_status up", "database_put true",
    "database_get =v 1", "database_get unset", "database_del true", "verbose ok", "stream_file endpos 3520",
    "stream_file err command_failed", "say_number no digit", "say_digits no digit", "say_alpha no digit",
    "say_phonetic no digit", "say_date no digit", "say_time no digit", "say_datetime no digit",
    "get_data err hung_up", "wait_for_digit err hung_up", "get_option err hung_up",
    "control_stream_file err hung_up", "exec code 0", "exec err application_not_found", "exec code 0",
    "send 200 0", "receive_char err hung_up", "receive_text err hung_up", "send_text err hung_up",
    "send_image err hung_up", "tdd_mode err hung_up", "set_music err hung_up", "set_music err hung_up",
    "set_callerid err hung_up", "record_file err hung_up", "gosub err hung_up", "send err invalid_command",
    "send err hung_up", "database_deltree false", "set_autohangup err hung_up", "asyncagi_break ok",
    "speech_create err hung_up", "set_context err hung_up", "set_extension err hung_up", "set_priority err hung_up",
    "hangup err hung_up", "verbose ok", "noop ok", "hung_up() true"};

const std::vector<std::string> expected_autohangup = {"answer ok", "set_autohangup ok", "verbose ok", "noop ok",
                                                      "hung_up() true"};

struct replay_setup {
  observations seen;
  std::unique_ptr<test_server> server;
  replay_setup() {
    astra::agi::router routes;
    // agi-full-command-set and agi-hangup-mid-session both request ivr/menu?lang=en&tries=3:
    // the test tells them apart by the recorded channel name.
    routes.add("/ivr/menu", [this](call& c) -> astra::task<void> {
      co_await scripted_session(c, c.env().channel().find("0000002b") != std::string_view::npos ? variant::hangup_mid_session : variant::full_command_set, seen);
    });
    routes.add("/hang", [this](call& c) { return autohangup_session(c, seen); });
    server = std::make_unique<test_server>(std::move(routes));
  }
};

std::size_t in_bytes(const std::vector<astra::test::recorded_chunk>& chunks) {
  std::size_t n = 0;
  for (const auto& c : chunks)
    if (c.dir == "in") n += c.data.size();
  return n;
}

// Replays `fixture` once per offset in `offsets`, on `threads` concurrent connections.
std::vector<std::string> replay_all(replay_setup& setup, const std::vector<astra::test::recorded_chunk>& chunks,
                                    const std::vector<std::size_t>& offsets, unsigned threads) {
  std::vector<std::string> failures;
  std::mutex m;
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (auto i = next++; i < offsets.size(); i = next++) {
        std::string why;
        try {
          fake_asterisk fake(setup.server->port());
          why = fake.replay(chunks, offsets[i]);
        } catch (const std::exception& e) {
          why = e.what();
        }
        if (!why.empty()) {
          std::lock_guard<std::mutex> lock(m);
          failures.push_back("cut at " + std::to_string(offsets[i]) + ": " + why);
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  return failures;
}

void check_sessions(observations& seen, const std::vector<std::string>& expected, std::size_t count) {
  auto sessions = seen.take();
  REQUIRE(sessions.size() == count);
  for (const auto& s : sessions) REQUIRE(s == expected);
}

}  // namespace

TEST_CASE("recorded sessions replay byte for byte, as recorded and merged", "[agi][server][replay]") {
  replay_setup setup;
  struct fixture_case {
    const char* file;
    const std::vector<std::string>* expected;
  };
  for (auto fc : {fixture_case{"agi/agi-full-command-set.jsonl", &expected_full},
                  fixture_case{"agi/agi-hangup-mid-session.jsonl", &expected_mid_session},
                  fixture_case{"agi/agi-autohangup.jsonl", &expected_autohangup}}) {
    INFO(fc.file);
    auto chunks = load_fixture(fc.file);
    for (bool merge : {false, true}) {
      fake_asterisk fake(setup.server->port());
      REQUIRE(fake.replay(chunks, std::string::npos, merge) == "");
    }
    REQUIRE(setup.server->wait_live_zero());
    check_sessions(setup.seen, *fc.expected, 2);
  }
  auto stats = setup.server->server().stats();
  CHECK(stats.calls_started == 6);
  CHECK(stats.calls_completed == 6);
  CHECK(stats.calls_failed == 0);
}

TEST_CASE("recorded sessions replay with the input split at every offset", "[agi][server][replay][split]") {
  replay_setup setup;
  struct fixture_case {
    const char* file;
    const std::vector<std::string>* expected;
  };
  for (auto fc : {fixture_case{"agi/agi-full-command-set.jsonl", &expected_full},
                  fixture_case{"agi/agi-hangup-mid-session.jsonl", &expected_mid_session},
                  fixture_case{"agi/agi-autohangup.jsonl", &expected_autohangup}}) {
    INFO(fc.file);
    auto chunks = load_fixture(fc.file);
    std::vector<std::size_t> offsets;
    for (std::size_t k = 1; k < in_bytes(chunks); ++k) offsets.push_back(k);
    auto failures = replay_all(setup, chunks, offsets, 8);
    for (const auto& f : failures) UNSCOPED_INFO(f);
    REQUIRE(failures.empty());
    REQUIRE(setup.server->wait_live_zero());
    check_sessions(setup.seen, *fc.expected, offsets.size());
  }
  CHECK(setup.server->server().stats().calls_failed == 0);
}
