// AsyncAGI through the real AMI session actor: the fake AMI server plays the recorded Asterisk
// 22.11 sessions (fixtures/ami/async-agi*.jsonl) — the AsyncAGIStart after login, then for the
// N-th Action: AGI it receives the bytes Asterisk sent after the N-th recorded one, with the
// recorded ActionID / CommandId replaced by the ones astra sent. Checks the actions astra sends
// (Channel, Command words, CommandID correlation), what the handler saw, the ASYNCAGI BREAK at
// the end of a call whose channel is still in AGI, refusals and a throwing handler.
#include <catch2/catch.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/agi/async_agi.hpp"
#include "actors/agi/call.hpp"
#include "actors/ami/client.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/ami/fake_ami_server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fixtures.hpp"

using namespace std::chrono_literals;
using astra::agi::agi_errc;
using astra::test::eventually;

namespace {

std::string header(std::string_view text, std::string_view key) {
  std::string needle = "\r\n" + std::string(key) + ": ";
  auto at = text.find(needle);
  if (at == std::string_view::npos) return {};
  at += needle.size();
  return std::string(text.substr(at, text.find("\r\n", at) - at));
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::string word;
  bool quoted = false, any = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (c == ' ' && !quoted) {
      if (any) out.push_back(word);
      word.clear();
      any = false;
    } else {
      word += c;
      any = true;
    }
  }
  if (any) out.push_back(word);
  return out;
}

// The recorded exchange: events after the login response and before the first Action: AGI,
// then Asterisk's bytes after each Action: AGI; the recorded actions.
struct recording {
  std::string start;
  std::vector<std::string> answers;
  std::vector<std::string> actions;
};

recording load(const std::string& fixture) {
  recording r;
  std::string* into = &r.start;
  for (const auto& c : astra::test::load_fixture(fixture)) {
    if (c.dir == "out" && c.data.rfind("Action: AGI\r\n", 0) == 0) {
      r.actions.push_back(c.data);
      r.answers.emplace_back();
      into = &r.answers.back();
    } else if (c.dir == "out" && c.data.rfind("Action: Logoff", 0) == 0) {
      into = nullptr;  // nothing after the Logoff is replayed
    } else if (c.dir == "in" && into) {
      *into += c.data;
    }
  }
  // Drop the banner and the login response: the fake server sends its own.
  auto login_end = r.start.find("Message: Authentication accepted\r\n\r\n");
  REQUIRE(login_end != std::string::npos);
  r.start.erase(0, login_end + std::string("Message: Authentication accepted\r\n\r\n").size());
  return r;
}

// The fake Asterisk's side of the replay (the server thread writes, the test reads).
struct player {
  std::mutex mutex;
  recording rec;
  std::vector<std::string> received;  // every Action: AGI, as received
  std::size_t answered = 0;

  std::optional<std::string> answer(std::string_view action) {
    if (header(std::string("\r\n") + std::string(action), "Action") != "AGI") return std::nullopt;
    std::lock_guard lock(mutex);
    received.emplace_back(action);
    const std::string action_id = header(std::string("\r\n") + std::string(action), "ActionID");
    if (answered >= rec.answers.size()) {
      // Past the recording (the ASYNCAGI BREAK at the end of the handler): Asterisk's
      // documented acknowledgement.
      return "Response: Success\r\nActionID: " + action_id + "\r\nMessage: Added AGI command to queue\r\n\r\n";
    }
    std::string bytes = rec.answers[answered];
    replace_all(bytes, "ActionID: agi-" + std::to_string(answered) + "\r\n", "ActionID: " + action_id + "\r\n");
    replace_all(bytes, "CommandId: cmd-" + std::to_string(answered) + "\r\n",
                "CommandId: " + header(std::string("\r\n") + std::string(action), "CommandID") + "\r\n");
    ++answered;
    return bytes;
  }
  std::vector<std::string> actions() {
    std::lock_guard lock(mutex);
    return received;
  }
};

struct observations {
  std::mutex mutex;
  std::vector<std::string> seen;
  bool done = false;
  void add(std::string s) {
    std::lock_guard lock(mutex);
    seen.push_back(std::move(s));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return seen;
  }
};

std::string err_name(std::error_code ec) {
  if (ec == agi_errc::hung_up) return "err hung_up";
  if (ec == agi_errc::disconnected) return "err disconnected";
  return "err " + ec.message();
}

// The recorded commands (see async_codec_test.cpp), through the same handler type FastAGI runs.
astra::task<void> recorded_commands(astra::agi::call& c, observations& o) {
  auto a = co_await c.answer();
  o.add(a ? "answer ok" : err_name(a.code()));
  auto v = co_await c.get_variable("CALLERID(num)");
  o.add(v ? (*v ? "get_variable =" + **v : "get_variable unset") : err_name(v.code()));
  auto s = co_await c.set_variable("ASTRA_ASYNC", "yes");
  o.add(s ? "set_variable ok" : err_name(s.code()));
  auto f = co_await c.stream_file("beep");
  o.add(f ? "stream_file endpos " + std::to_string(f->endpos) : err_name(f.code()));
  auto n = co_await c.send("NOOP", "hello world");
  o.add(n ? "noop " + std::to_string(n->code) : err_name(n.code()));
  auto w = co_await c.wait_for_digit(10000ms);
  o.add(w ? (*w ? std::string("digit ") + **w : "digit none") : err_name(w.code()));
  if (c.hung_up()) {
    auto late = co_await c.set_variable("AFTER_HANGUP", "1");
    o.add("late set_variable " + (late ? std::string("ok") : err_name(late.code())));
  }
  o.add(std::string("hung_up() ") + (c.hung_up() ? "true" : "false"));
  o.add("args " + std::string(c.args().empty() ? "" : c.args().front()) + " lang " +
        std::string(c.param("lang").value_or("")) + " request " + std::string(c.env().request()));
}

struct rig {
  astra::test::fake_ami_server server;
  astra::io_runtime io{1};
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  std::unique_ptr<astra::ami::client> client;
  std::unique_ptr<astra::agi::async_agi> async;

  rig(astra::test::fake_ami_options opts, astra::agi::router routes, bool pushdown,
      std::chrono::milliseconds command_timeout = 5000ms)
      : server(std::move(opts)) {
    astra::ami::session_config c;
    c.port = server.port();
    c.username = "admin";
    c.secret = "amp111";
    c.keepalive_interval = 0ms;
    c.request_timeout = 3000ms;
    c.push_event_filters = pushdown;
    c.reconnect = false;
    client = std::make_unique<astra::ami::client>(system, io, c);
    astra::agi::async_agi_config ac;
    ac.name = "test";
    ac.routes = std::make_shared<const astra::agi::router>(std::move(routes));
    ac.command_id_prefix = "t-";
    ac.command_timeout = command_timeout;
    async = std::make_unique<astra::agi::async_agi>(std::move(ac));
    async->attach(system, client->actor());
    REQUIRE(client->wait_until_up(5000ms));
    if (pushdown) {
      // The dispatcher's subscription reached Asterisk as filters.
      REQUIRE(eventually([&] {
        for (const auto& a : server.raw_actions())
          if (a.find("AsyncAGIExec") != std::string::npos) return true;
        return false;
      }));
    }
  }
  ~rig() {
    async->shutdown(0ms);
    client->stop();
  }
};

std::vector<std::string> expected(bool hangup) {
  std::vector<std::string> e{"answer ok", "get_variable =", "set_variable ok", "stream_file endpos 3520", "noop 200"};
  if (hangup) {
    e.insert(e.end(), {"err hung_up", "late set_variable err disconnected", "hung_up() true"});
  } else {
    e.insert(e.end(), {"digit none", "hung_up() false"});
  }
  e.push_back("args first lang en request async");
  return e;
}

}  // namespace

TEST_CASE("recorded AsyncAGI sessions through the AMI session actor: actions, results, end of call",
          "[agi][async][session][replay]") {
  for (bool pushdown : {true, false}) {
    for (const char* file : {"ami/async-agi.jsonl", "ami/async-agi-hangup.jsonl"}) {
      const bool hangup = std::string(file).find("hangup") != std::string::npos;
      INFO(file << (pushdown ? " with" : " without") << " event pushdown");
      auto play = std::make_shared<player>();
      play->rec = load(file);
      astra::test::fake_ami_options opts;
      opts.script = [play](std::string_view action) { return play->answer(action); };
      auto obs = std::make_shared<observations>();
      astra::agi::router routes;
      routes.add("/ivr/menu", astra::agi::handler([obs](astra::agi::call& c) { return recorded_commands(c, *obs); }));
      rig r(std::move(opts), std::move(routes), pushdown);
      r.server.push(play->rec.start);

      const auto want = expected(hangup);
      REQUIRE(eventually([&] { return obs->snapshot().size() == want.size() && r.async->live_calls() == 0; }));
      CHECK(obs->snapshot() == want);

      // The recorded actions, in order, then (channel still in AGI) ASYNCAGI BREAK.
      const std::size_t total = play->rec.actions.size() + (hangup ? 0 : 1);
      REQUIRE(eventually([&] { return play->actions().size() == total; }));
      auto sent = play->actions();
      std::vector<std::string> command_ids;
      for (std::size_t i = 0; i < play->rec.actions.size(); ++i) {
        INFO("action " << i);
        const std::string got = "\r\n" + sent[i], rec = "\r\n" + play->rec.actions[i];
        CHECK(header(got, "Channel") == header(rec, "Channel"));
        CHECK(words(header(got, "Command")) == words(header(rec, "Command")));
        command_ids.push_back(header(got, "CommandID"));
        CHECK(command_ids.back() == "t-" + std::to_string(r.async->stats().calls_started) + "-" + std::to_string(i));
        CHECK_FALSE(header(got, "ActionID").empty());
      }
      if (!hangup) {
        const std::string last = "\r\n" + sent.back();
        CHECK(header(last, "Command") == "ASYNCAGI BREAK");
        CHECK(header(last, "Channel") == "Local/async@default-00000006;2");
      }
      auto stats = r.async->stats();
      CHECK(stats.calls_started == 1);
      CHECK(stats.calls_completed == 1);
      CHECK(stats.foreign_results == 0);
    }
  }
}

TEST_CASE("AsyncAGI refusals and a throwing handler end with ASYNCAGI BREAK, counted", "[agi][async][session]") {
  auto play = std::make_shared<player>();
  play->rec = load("ami/async-agi.jsonl");
  play->rec.answers.clear();  // every Action: AGI gets the plain acknowledgement
  astra::test::fake_ami_options opts;
  opts.script = [play](std::string_view action) { return play->answer(action); };
  astra::agi::router routes;
  routes.add("/ivr/menu", astra::agi::handler([](astra::agi::call&) -> astra::task<void> {
               throw std::runtime_error("handler bug");
               co_return;
             }));
  std::vector<std::string> refusals;
  rig r(std::move(opts), std::move(routes), true);

  const std::string start = play->rec.start.substr(play->rec.start.find("Event: AsyncAGIStart"));
  std::string no_route = start;
  replace_all(no_route, "agi_arg_1%3A%20%2Fivr%2Fmenu", "agi_arg_1%3A%20%2Fnowhere");
  replace_all(no_route, "default-00000006;2", "default-00000009;2");
  std::string bad_env = start;
  replace_all(bad_env, "Env: agi_request%3A", "Env: agi_request%3");
  replace_all(bad_env, "default-00000006;2", "default-0000000a;2");
  r.server.push(no_route + bad_env + start);

  REQUIRE(eventually([&] { return play->actions().size() == 3 && r.async->stats().calls_failed == 1; }));
  auto sent = play->actions();
  std::vector<std::string> channels;
  for (const auto& a : sent) {
    CHECK(header("\r\n" + a, "Command") == "ASYNCAGI BREAK");
    channels.push_back(header("\r\n" + a, "Channel"));
  }
  CHECK(channels == std::vector<std::string>{"Local/async@default-00000009;2", "Local/async@default-0000000a;2",
                                              "Local/async@default-00000006;2"});
  auto stats = r.async->stats();
  CHECK(stats.no_route == 1);
  CHECK(stats.bad_environment == 1);
  CHECK(stats.calls_started == 1);
  CHECK(stats.calls_failed == 1);
  CHECK(r.async->live_calls() == 0);
}

TEST_CASE("AsyncAGI: a lost AMI link ends the call's commands as disconnected, without ASYNCAGI BREAK",
          "[agi][async][session]") {
  auto play = std::make_shared<player>();
  play->rec = load("ami/async-agi.jsonl");
  play->rec.answers.resize(1);  // ANSWER is answered; the GET VARIABLE is never answered
  play->rec.answers.push_back("Response: Success\r\nActionID: agi-1\r\nMessage: Added AGI command to queue\r\n\r\n");
  astra::test::fake_ami_options opts;
  opts.script = [play](std::string_view action) { return play->answer(action); };
  auto obs = std::make_shared<observations>();
  astra::agi::router routes;
  routes.add("/ivr/menu", astra::agi::handler([obs](astra::agi::call& c) -> astra::task<void> {
               auto a = co_await c.answer();
               obs->add(a ? "answer ok" : err_name(a.code()));
               auto v = co_await c.get_variable("CALLERID(num)");
               obs->add(v ? "get_variable ok" : err_name(v.code()));
               auto n = co_await c.noop();
               obs->add(n ? "noop ok" : err_name(n.code()));
             }));
  rig r(std::move(opts), std::move(routes), false);
  r.server.push(play->rec.start);
  REQUIRE(eventually([&] { return play->actions().size() == 2; }));
  r.server.drop_connections();
  REQUIRE(eventually([&] { return obs->snapshot().size() == 3 && r.async->live_calls() == 0; }));
  CHECK(obs->snapshot() == std::vector<std::string>{"answer ok", "err disconnected", "err disconnected"});
  CHECK(play->actions().size() == 2);  // no ASYNCAGI BREAK on a dead link
  CHECK(r.async->stats().calls_completed == 1);
}

TEST_CASE("AsyncAGI: Response: Error to an Action: AGI ends the call as a hang-up, without ASYNCAGI BREAK",
          "[agi][async][session]") {
  auto play = std::make_shared<player>();
  play->rec = load("ami/async-agi.jsonl");
  // Asterisk's recorded answer for a channel that left AGI, to the very first command.
  play->rec.answers = {"Response: Error\r\nActionID: agi-0\r\nMessage: Channel Local/async@default-00000006;2 does not exist.\r\n\r\n"};
  astra::test::fake_ami_options opts;
  opts.script = [play](std::string_view action) { return play->answer(action); };
  auto obs = std::make_shared<observations>();
  astra::agi::router routes;
  routes.add("/ivr/menu", astra::agi::handler([obs](astra::agi::call& c) -> astra::task<void> {
               auto a = co_await c.answer();
               obs->add(a ? "answer ok" : err_name(a.code()));
               obs->add(std::string("hung_up() ") + (c.hung_up() ? "true" : "false"));
               auto n = co_await c.noop();
               obs->add(n ? "noop ok" : err_name(n.code()));
             }));
  rig r(std::move(opts), std::move(routes), false);
  r.server.push(play->rec.start);
  REQUIRE(eventually([&] { return obs->snapshot().size() == 3 && r.async->live_calls() == 0; }));
  CHECK(obs->snapshot() == std::vector<std::string>{"err hung_up", "hung_up() true", "err disconnected"});
  CHECK(play->actions().size() == 1);
  CHECK(r.async->stats().calls_completed == 1);
}

TEST_CASE("AsyncAGI shutdown: a call still running at the drain deadline is cut, its channel gets ASYNCAGI BREAK",
          "[agi][async][session]") {
  auto play = std::make_shared<player>();
  play->rec = load("ami/async-agi.jsonl");
  play->rec.answers.resize(1);  // ANSWER is answered
  // The GET VARIABLE is acknowledged, its result never comes.
  play->rec.answers.push_back("Response: Success\r\nActionID: agi-1\r\nMessage: Added AGI command to queue\r\n\r\n");
  astra::test::fake_ami_options opts;
  opts.script = [play](std::string_view action) { return play->answer(action); };
  auto obs = std::make_shared<observations>();
  astra::agi::router routes;
  routes.add("/ivr/menu", astra::agi::handler([obs](astra::agi::call& c) -> astra::task<void> {
               auto a = co_await c.answer();
               obs->add(a ? "answer ok" : err_name(a.code()));
               (void)co_await c.get_variable("CALLERID(num)");  // suspended until the cut
               obs->add("resumed");
             }));
  rig r(std::move(opts), std::move(routes), false);
  r.server.push(play->rec.start);
  REQUIRE(eventually([&] { return play->actions().size() == 2; }));
  const auto [drained, cut] = r.async->shutdown(50ms);
  CHECK(drained == 0);
  CHECK(cut == 1);
  CHECK(r.async->stats().calls_cut == 1);
  CHECK(obs->snapshot() == std::vector<std::string>{"answer ok"});  // the handler is not resumed
  REQUIRE(eventually([&] { return play->actions().size() == 3; }));
  CHECK(header("\r\n" + play->actions().back(), "Command") == "ASYNCAGI BREAK");
  // New starts are refused while shut down.
  std::string again = play->rec.start;
  replace_all(again, "default-00000006;2", "default-0000000b;2");
  r.server.push(again);
  REQUIRE(eventually([&] { return r.async->stats().refused_shutting_down == 1; }));
}

TEST_CASE("AsyncAGI: a command past its deadline fails with timeout; its late result is swallowed, the next goes on",
          "[agi][async][session]") {
  auto play = std::make_shared<player>();
  play->rec = load("ami/async-agi.jsonl");
  play->rec.answers.resize(1);  // ANSWER as recorded
  // GET VARIABLE: acknowledged only (its result is pushed late by the test); NOOP: answered.
  play->rec.answers.push_back("Response: Success\r\nActionID: agi-1\r\nMessage: Added AGI command to queue\r\n\r\n");
  play->rec.answers.push_back(
      "Response: Success\r\nActionID: agi-2\r\nMessage: Added AGI command to queue\r\n\r\n"
      "Event: AsyncAGIExec\r\nPrivilege: agi,all\r\nChannel: Local/async@default-00000006;2\r\n"
      "Result: 200%20result%3D0%0A\r\nCommandId: cmd-1\r\n\r\n");  // the player's second answer
  astra::test::fake_ami_options opts;
  opts.script = [play](std::string_view action) { return play->answer(action); };
  auto obs = std::make_shared<observations>();
  astra::agi::router routes;
  routes.add("/ivr/menu", astra::agi::handler([obs](astra::agi::call& c) -> astra::task<void> {
               auto v = co_await c.get_variable("CALLERID(num)");
               obs->add(v ? "get_variable ok" : err_name(v.code()) + (v.code() == agi_errc::timeout ? " timeout" : ""));
               auto n = co_await c.send("NOOP");  // its reply, not the late "result=1 (late)"
               obs->add(n ? "noop result " + n->result : err_name(n.code()));
             }));
  // The queued NOOP's deadline runs while it waits behind the abandoned command: 1.5 s leaves
  // the test ample time to push the late result.
  rig r(std::move(opts), std::move(routes), false, 1500ms);
  // The handler starts with GET VARIABLE: shift the recording (ANSWER's answer is not used).
  play->rec.answers.erase(play->rec.answers.begin());
  r.server.push(play->rec.start);
  REQUIRE(eventually([&] { return !obs->snapshot().empty(); }));
  CHECK(obs->snapshot().front().find("timeout") != std::string::npos);
  CHECK(play->actions().size() == 1);  // NOOP waits for the abandoned command's late result
  // The late result of GET VARIABLE (its CommandID: the first of call 1).
  r.server.push("Event: AsyncAGIExec\r\nPrivilege: agi,all\r\nChannel: Local/async@default-00000006;2\r\n"
                "Result: 200%20result%3D1%20(late)%0A\r\nCommandId: t-1-0\r\n\r\n");
  REQUIRE(eventually([&] { return obs->snapshot().size() == 2 && r.async->live_calls() == 0; }));
  CHECK(obs->snapshot().back() == "noop result 0");
  CHECK(header("\r\n" + play->actions()[1], "Command") == "NOOP");
}
