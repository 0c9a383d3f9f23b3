// AsyncAGI without I/O: the Env / Result decoders (protocols/agi/async.hpp), and the recorded
// Asterisk 22.11 AsyncAGI sessions (fixtures/ami/async-agi*.jsonl) replayed through the AMI
// parser, the per-channel glue (actors/agi/detail/async_channel.hpp) and the FastAGI call core
// with a handler issuing the recorded commands — the `in` stream split at every offset. Each
// Action: AGI astra would send is compared byte for byte with the recorded one.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/agi/call.hpp"
#include "actors/agi/detail/async_channel.hpp"
#include "actors/agi/router.hpp"
#include "protocols/agi/async.hpp"
#include "protocols/ami/parser.hpp"
#include "tests/support/fixtures.hpp"

using namespace std::chrono_literals;
using astra::agi::agi_errc;
namespace async = astra::agi::async;
namespace detail = astra::agi::detail;

namespace {

// The first message named `event` in the fixture's `in` stream.
astra::ami::message_ptr first_event(const std::string& fixture, std::string_view event) {
  astra::ami::parser p;
  const auto bytes = astra::test::concat_direction(astra::test::load_fixture(fixture), "in");
  std::string_view in = bytes;
  while (!in.empty()) {
    in.remove_prefix(p.feed(in));
    while (auto m = p.next())
      if (*m && astra::ami::iequals((**m).name(), event)) return std::make_shared<const astra::ami::message>(std::move(**m));
  }
  return nullptr;
}

}  // namespace

TEST_CASE("url_decode: escapes in either case, '+' literal, malformed escapes and the size bound refused",
          "[agi][async][codec]") {
  auto ok = async::url_decode("200%20result%3D0%0a+x%2B", 100, agi_errc::malformed_reply);
  REQUIRE(ok);
  CHECK(*ok == "200 result=0\n+x+");
  for (std::string_view bad : {"%", "%2", "abc%zz", "%g0", "x%0"}) {
    INFO(bad);
    auto r = async::url_decode(bad, 100, agi_errc::malformed_reply);
    REQUIRE_FALSE(r);
    CHECK(r.code() == agi_errc::malformed_reply);
  }
  CHECK(async::url_decode("abcd", 4, agi_errc::malformed_reply));
  CHECK_FALSE(async::url_decode("abcde", 4, agi_errc::malformed_reply));
  CHECK_FALSE(async::url_decode("abc%20d", 4, agi_errc::malformed_reply));
}

TEST_CASE("decode_env: the recorded AsyncAGIStart Env gives the FastAGI environment, route from argument 1",
          "[agi][async][codec][fixtures]") {
  auto start = first_event("ami/async-agi.jsonl", "AsyncAGIStart");
  REQUIRE(start);
  auto env = async::decode_env(start->get("Env").value_or(""));
  REQUIRE(env);
  CHECK(env->channel() == "Local/async@default-00000006;2");
  CHECK(env->uniqueid() == "1796390082.13");
  CHECK(env->request == "async");
  CHECK(env->script == "ivr/menu?lang=en");
  CHECK(env->script_path == "/ivr/menu");
  CHECK(env->param("lang") == std::optional<std::string_view>("en"));
  CHECK(env->args == std::vector<std::string>{"first"});
  CHECK(env->get("arg_1") == std::optional<std::string_view>("first"));
  CHECK_FALSE(env->get("arg_2"));
  CHECK(env->get("accountcode") == std::optional<std::string_view>(""));
  // The compact form the call carries keeps it all.
  astra::agi::call_environment compact(*env);
  CHECK(compact.script_path() == "/ivr/menu");
  CHECK(compact.args() == std::vector<std::string_view>{"first"});
  CHECK(compact.param("lang") == std::optional<std::string_view>("en"));
  CHECK(compact.request() == "async");
}

TEST_CASE("decode_env: no argument routes to /; malformed blocks are errors", "[agi][async][codec]") {
  auto plain = async::decode_env("agi_request%3A%20async%0Aagi_channel%3A%20SIP%2F1-0001%0A%0A");
  REQUIRE(plain);
  CHECK(plain->script_path == "/");
  CHECK(plain->args.empty());
  auto three = async::decode_env("agi_request%3A%20async%0Aagi_arg_1%3A%20%2Fa%2Fb%0Aagi_arg_2%3A%20x%0Aagi_arg_3%3A%20y%0A%0A");
  REQUIRE(three);
  CHECK(three->script_path == "/a/b");
  CHECK(three->args == std::vector<std::string>{"x", "y"});
  CHECK(three->get("arg_2") == std::optional<std::string_view>("y"));
  // Without the final empty line, with bytes after it, with a bad escape, not agi_ lines.
  for (std::string_view bad : {"agi_request%3A%20async%0A", "agi_request%3A%20async%0A%0Ajunk",
                               "agi_request%3A%20async%0A%0", "hello%0A%0A", ""}) {
    INFO(bad);
    auto r = async::decode_env(bad);
    REQUIRE_FALSE(r);
    CHECK(r.code() == agi_errc::malformed_environment);
  }
}

TEST_CASE("decode_result: recorded Results and the reply parser's forms", "[agi][async][codec]") {
  auto one = async::decode_result("200%20result%3D0%20endpos%3D3520%0A");
  REQUIRE(one);
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].kind == astra::agi::reply_event::final_reply);
  CHECK((*one)[0].value.code == 200);
  CHECK((*one)[0].value.extra("endpos") == std::optional<std::string_view>("3520"));
  auto empty_data = async::decode_result("200%20result%3D1%20()%0A");
  REQUIRE(empty_data);
  CHECK((*empty_data)[0].value.data == std::optional<std::string>(""));
  auto two = async::decode_result("100%20result%3D0%20Trying...%0A200%20result%3D0%20Gosub%20complete%0A");
  REQUIRE(two);
  REQUIRE(two->size() == 2);
  CHECK((*two)[0].kind == astra::agi::reply_event::provisional);
  CHECK((*two)[1].value.text == "Gosub complete");
  auto usage = async::decode_result("520-Invalid%20command%20syntax.%20%20Proper%20usage%20follows%3A%0AUsage%3A%20x%0A520%20End%20of%20proper%20usage.%0A");
  REQUIRE(usage);
  REQUIRE(usage->size() == 1);
  CHECK((*usage)[0].value.code == 520);
  CHECK((*usage)[0].value.usage == std::vector<std::string>{"Usage: x"});
  for (std::string_view bad : {"", "200%20res", "abc%0A", "200%20result%3D0%0", "520-x%0Ausage%0A"}) {
    INFO(bad);
    CHECK_FALSE(async::decode_result(bad));
  }
}

// ---------------------------------------------------------------------------------------
// Replay of the recorded sessions through parser + async_channel + call core.

namespace {

using detail::clock;

struct recording_transport final : detail::call_transport {
  std::vector<std::string> lines;
  int closes = 0;
  void write(std::string line, clock::time_point) override { lines.push_back(std::move(line)); }
  void arm(clock::time_point) override {}
  void close() override { ++closes; }
};

// The recorded exchange: `in` bytes before the first Action: AGI, then after each one; the
// Action: AGI texts in order.
struct recording {
  std::vector<std::string> segments;
  std::vector<std::string> actions;
  std::size_t in_bytes = 0;
};

recording load(const std::string& fixture) {
  recording r;
  r.segments.emplace_back();
  for (const auto& c : astra::test::load_fixture(fixture)) {
    if (c.dir == "out" && c.data.rfind("Action: AGI\r\n", 0) == 0) {
      r.actions.push_back(c.data);
      r.segments.emplace_back();
    } else if (c.dir == "in") {
      r.segments.back() += c.data;
      r.in_bytes += c.data.size();
    }
  }
  return r;
}

// The words of an AGI command line, quotes removed ("GET VARIABLE \"CALLERID(num)\"" and
// "GET VARIABLE CALLERID(num)" are the same command to Asterisk's parser, res_agi.c parse_args).
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

// An Action: AGI as header lines, with its Command replaced by its words.
std::vector<std::string> action_shape(const std::string& text) {
  std::vector<std::string> out;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto eol = rest.find("\r\n");
    auto line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    if (line.rfind("Command: ", 0) == 0) {
      out.push_back("Command:");
      for (auto& w : words(line.substr(9))) out.push_back("  [" + w + "]");
    } else {
      out.push_back(std::string(line));
    }
  }
  return out;
}

std::string err_name(std::error_code ec) {
  if (ec == agi_errc::hung_up) return "err hung_up";
  if (ec == agi_errc::disconnected) return "err disconnected";
  return "err " + ec.message();
}
template <class T>
std::string show(const astra::result<T>& r, std::string ok) {
  return r ? ok : err_name(r.code());
}

// The handler of the recordings: the six recorded commands, then (after the far side hung up,
// in the second) one more.
astra::task<void> recorded_commands(astra::agi::call& c, std::vector<std::string>& seen) {
  auto a = co_await c.answer();
  seen.push_back(show(a, "answer ok"));
  auto v = co_await c.get_variable("CALLERID(num)");
  seen.push_back(v ? (*v ? "get_variable =" + **v : "get_variable unset") : err_name(v.code()));
  auto s = co_await c.set_variable("ASTRA_ASYNC", "yes");
  seen.push_back(show(s, "set_variable ok"));
  auto f = co_await c.stream_file("beep");
  seen.push_back(f ? "stream_file endpos " + std::to_string(f->endpos) : err_name(f.code()));
  auto n = co_await c.send("NOOP", "hello world");
  seen.push_back(n ? "noop " + std::to_string(n->code) : err_name(n.code()));
  auto w = co_await c.wait_for_digit(10000ms);
  seen.push_back(w ? (*w ? std::string("digit ") + **w : "digit none") : err_name(w.code()));
  if (c.hung_up()) {
    auto late = co_await c.set_variable("AFTER_HANGUP", "1");
    seen.push_back("late set_variable " + show(late, "ok"));
  }
  seen.push_back(std::string("hung_up() ") + (c.hung_up() ? "true" : "false"));
}

struct replay_result {
  std::vector<std::string> sent;  // each Action: AGI serialized with the recorded ActionID
  std::vector<std::string> seen;
  bool handler_done = false;
  bool gone = false;
  std::string channel;
  std::string script_path;
  std::vector<std::string> args;
};

// Feeds the `in` stream; segment i+1 only after the handler wrote its i-th command (as
// Asterisk answers the i-th action); the byte at global offset `split` starts a new feed.
replay_result replay(const recording& rec, std::size_t split) {
  replay_result out;
  astra::ami::parser parser;
  const astra::agi::route target{"/ivr/menu", {}, {}, {}};
  detail::core_settings settings;
  auto transport = std::make_shared<recording_transport>();
  std::optional<astra::agi::call> the_call;
  std::optional<detail::async_channel> channel;
  astra::root_task root;
  std::size_t sent = 0;

  auto handle = [&](const astra::ami::message_ptr& m) {
    const auto name = m->name();
    if (astra::ami::iequals(name, "AsyncAGIStart")) {
      auto env = async::decode_env(m->get("Env").value_or(""));
      REQUIRE(env);
      out.channel = std::string(m->get("Channel").value_or(""));
      out.script_path = env->script_path;
      out.args = env->args;
      channel.emplace(out.channel, "cmd-");
      the_call.emplace(settings, transport, nullptr, astra::agi::call_environment(*env),
                       astra::agi::call::identity{1, &target, {}, {}});
      root = astra::root_task(recorded_commands(*the_call, out.seen));
      root.start([&](std::exception_ptr e) {
        REQUIRE_FALSE(e);
        out.handler_done = true;
      });
    } else if (channel && m->get("Channel") == std::optional<std::string_view>(channel->channel())) {
      if (astra::ami::iequals(name, "AsyncAGIExec")) CHECK(channel->on_exec(*m, the_call->core()));
      if (astra::ami::iequals(name, "AsyncAGIEnd")) channel->on_gone(the_call->core());
    }
  };
  auto feed = [&](std::string_view bytes) {
    while (!bytes.empty()) {
      bytes.remove_prefix(parser.feed(bytes));
      while (auto m = parser.next()) {
        REQUIRE(*m);
        handle(std::make_shared<const astra::ami::message>(std::move(**m)));
      }
    }
  };
  // Turns every newly written command line into the Action: AGI the call actor sends.
  auto collect = [&] {
    while (sent < transport->lines.size()) {
      auto action = channel->command_action(transport->lines[sent]);
      action.add("ActionID", "agi-" + std::to_string(sent));
      auto text = astra::ami::serialize(action, "");
      REQUIRE(text);
      out.sent.push_back(*text);
      ++sent;
    }
  };
  std::size_t offset = 0;
  for (std::size_t i = 0; i < rec.segments.size(); ++i) {
    if (i > 0 && (!channel || sent < i)) break;  // Asterisk answers only actions it received
    const std::string_view seg = rec.segments[i];
    if (split > offset && split < offset + seg.size()) {
      feed(seg.substr(0, split - offset));
      feed(seg.substr(split - offset));
    } else {
      feed(seg);
    }
    offset += seg.size();
    if (channel) collect();
  }
  out.gone = channel && channel->gone();
  return out;
}

const std::vector<std::string> expected_answered{
    "answer ok",   "get_variable =",  "set_variable ok", "stream_file endpos 3520",
    "noop 200",    "digit none",      "hung_up() false"};
const std::vector<std::string> expected_hangup{
    "answer ok",   "get_variable =",  "set_variable ok",  "stream_file endpos 3520",
    "noop 200",    "err hung_up",     "late set_variable err disconnected", "hung_up() true"};

}  // namespace

TEST_CASE("recorded AsyncAGI sessions replay through parser, channel glue and call core split at every offset",
          "[agi][async][replay][split]") {
  struct fixture_case {
    const char* file;
    const std::vector<std::string>* expected;
    bool ends;
  };
  for (auto fc : {fixture_case{"ami/async-agi.jsonl", &expected_answered, false},
                  fixture_case{"ami/async-agi-hangup.jsonl", &expected_hangup, true}}) {
    INFO(fc.file);
    const auto rec = load(fc.file);
    REQUIRE(rec.actions.size() == (fc.ends ? 7u : 6u));
    for (std::size_t split = 0; split < rec.in_bytes; ++split) {
      INFO("split at " << split);
      auto r = replay(rec, split);
      REQUIRE(r.handler_done);
      REQUIRE(r.seen == *fc.expected);
      CHECK(r.script_path == "/ivr/menu");
      CHECK(r.args == std::vector<std::string>{"first"});
      // The commands as recorded: the same headers in the same order (Channel, CommandID,
      // ActionID byte for byte) and the same command words (the recorder quoted
      // "CALLERID(num)", astra quotes only what needs it). In the hang-up session the handler's
      // seventh command leaves as soon as WAIT FOR DIGIT returned -1, before AsyncAGIEnd is
      // read (the recorded client did the same); the end then fails it (disconnected: SET
      // VARIABLE is a dead-channel command, so the HANGUP notice does not complete it).
      REQUIRE(r.sent.size() == rec.actions.size());
      for (std::size_t i = 0; i < r.sent.size(); ++i) REQUIRE(action_shape(r.sent[i]) == action_shape(rec.actions[i]));
      CHECK(r.gone == fc.ends);
    }
  }
}
