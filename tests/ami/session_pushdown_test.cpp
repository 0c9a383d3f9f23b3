// Event filters pushed to Asterisk, end to end against the fake AMI server, which keeps
// Asterisk's mask and filter rules per connection: what the fake *sends* is what Asterisk
// would send, so these tests assert fewer events and bytes on the wire, not only what the
// subscribers see.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>

#include <caf/all.hpp>

#include "tests/ami/session_support.hpp"

using namespace astra;
using namespace astra::test;

namespace {

struct burst_facts {
  std::string bytes = event_burst_bytes();
  std::map<std::string, std::size_t> events, sizes;  // per event name
  std::size_t total = 0;
  burst_facts() {
    std::string_view rest = bytes;
    while (!rest.empty()) {
      auto end = rest.find("\r\n\r\n");
      auto msg = rest.substr(0, end + 4);
      rest.remove_prefix(msg.size());
      auto name = std::string(msg.substr(7, msg.find("\r\n") - 7));
      ++events[name];
      sizes[name] += msg.size();
      ++total;
    }
  }
};

const burst_facts& facts() {
  static const burst_facts f;
  return f;
}

std::vector<std::string> raw_named(const fake_ami_server& s, const std::string& action) {
  std::vector<std::string> out;
  for (const auto& raw : s.raw_actions())
    if (raw.find("Action: " + action + "\r\n") == 0) out.push_back(raw);
  return out;
}

std::size_t count_named(const fake_ami_server& s, const std::string& action) { return raw_named(s, action).size(); }

// A subscriber that counts what it receives, per event name.
struct counter {
  std::mutex mutex;
  std::map<std::string, std::size_t> by_name;
  std::size_t total() {
    std::lock_guard<std::mutex> lock(mutex);
    std::size_t n = 0;
    for (const auto& [k, v] : by_name) n += v;
    return n;
  }
  std::size_t of(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex);
    return by_name.count(name) ? by_name[name] : 0;
  }
  ami::client::event_handler handler() {
    return [this](const ami::message_ptr& m) {
      std::lock_guard<std::mutex> lock(mutex);
      ++by_name[std::string(m->name())];
    };
  }
};

}  // namespace

TEST_CASE("a Hangup-only subscriber: Asterisk is asked for Hangup only (Events: call, name() filter)",
          "[ami][session][pushdown]") {
  const auto& f = facts();
  const std::size_t reps = 3;
  REQUIRE(f.events.at("Hangup") == 80);
  for (bool push : {true, false}) {
    INFO((push ? "pushdown" : "client-side only"));
    fake_ami_options opts;
    opts.burst = f.bytes;
    opts.burst_repeat = reps;
    session_harness h(opts);
    auto cfg = h.config();
    cfg.push_event_filters = push;
    ami::client c(h.system, h.io, cfg);
    counter got;
    auto sub = c.subscribe(ami::event_filter::by_names({"Hangup"}), got.handler());
    REQUIRE(c.wait_until_up(3000ms).ok());
    const std::size_t sent_events = push ? reps * f.events.at("Hangup") : reps * f.total;
    REQUIRE(eventually([&] { return h.server.events_streamed() >= sent_events; }));
    REQUIRE(eventually([&] { return got.of("Hangup") >= reps * f.events.at("Hangup"); }));
    REQUIRE(c.send(ami::actions::ping()).get().ok());  // the reader is past the last burst
    std::this_thread::sleep_for(50ms);
    CHECK(got.of("Hangup") == reps * f.events.at("Hangup"));
    CHECK(got.total() == got.of("Hangup"));
    CHECK(h.server.events_streamed() == sent_events);
    auto st = c.status().get();
    if (push) {
      CHECK(h.server.bytes_streamed() == reps * f.sizes.at("Hangup"));
      CHECK(st.events_received == reps * f.events.at("Hangup"));
      CHECK(st.event_mask == "call");
      CHECK(st.event_filters == 1);
      auto names = h.server.actions();
      REQUIRE(names.size() >= 5);
      CHECK(names[0] == "Login");
      CHECK(names[1] == "CoreSettings");
      CHECK(names[2] == "Filter");
      CHECK(names[3] == "Events");
      CHECK(h.server.raw_actions()[0].find("Events: off\r\n") != std::string::npos);
      CHECK(raw_named(h.server, "Filter")[0].find("MatchCriteria: name(Hangup)\r\n") != std::string::npos);
      CHECK(raw_named(h.server, "Filter")[0].find("Filter:") == std::string::npos);
      CHECK(raw_named(h.server, "Events")[0].find("EventMask: call\r\n") != std::string::npos);
    } else {
      CHECK(h.server.bytes_streamed() == reps * f.bytes.size());
      CHECK(h.server.raw_actions()[0].find("Events: on\r\n") != std::string::npos);
      CHECK(count_named(h.server, "Filter") == 0);
      CHECK(count_named(h.server, "Events") == 0);
      CHECK(st.event_filters == 0);
    }
  }
}

TEST_CASE("an Asterisk without structured filters gets anchored regex filters", "[ami][session][pushdown]") {
  const auto& f = facts();
  fake_ami_options opts;
  opts.burst = f.bytes;
  opts.burst_repeat = 2;
  opts.asterisk_version = "20.7.0";
  opts.structured_filters = false;  // would take MatchCriteria-only filters as "match everything"
  session_harness h(opts);
  ami::client c(h.system, h.io, h.config());
  counter got;
  auto sub = c.subscribe(ami::event_filter::by_names({"hangup"}), got.handler());
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return got.of("Hangup") >= 2 * f.events.at("Hangup"); }));
  REQUIRE(c.send(ami::actions::ping()).get().ok());
  CHECK(h.server.events_streamed() == 2 * f.events.at("Hangup"));  // no HangupRequest, no SoftHangupRequest
  auto filters = raw_named(h.server, "Filter");
  REQUIRE(filters.size() == 1);
  CHECK(filters[0].find("Filter: ^Event: [Hh][Aa][Nn][Gg][Uu][Pp][[:space:]]\r\n") != std::string::npos);
  CHECK(filters[0].find("MatchCriteria") == std::string::npos);
}

TEST_CASE("a session that only sends actions logs in with Events: off and asks nothing more",
          "[ami][session][pushdown]") {
  fake_ami_options opts;
  opts.burst = facts().bytes;
  opts.burst_repeat = 2;
  session_harness h(opts);
  ami::client c(h.system, h.io, h.config());  // events "on" configured: nobody wants any
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(c.send(ami::actions::ping()).get().ok());
  auto names = h.server.actions();
  REQUIRE(names.size() == 2);
  CHECK(names[0] == "Login");
  CHECK(names[1] == "Ping");
  CHECK(h.server.raw_actions()[0].find("Events: off\r\n") != std::string::npos);
  std::this_thread::sleep_for(50ms);
  CHECK(h.server.events_streamed() == 0);
  CHECK(c.status().get().events_received == 0);  // not even FullyBooted
  CHECK(c.status().get().event_mask == "off");
}

TEST_CASE("subscription changes: names add filters, everything adds a match-all filter, narrowing waits for the "
          "next login",
          "[ami][session][pushdown]") {
  const auto& f = facts();
  session_harness h;
  ami::client c(h.system, h.io, h.config());
  REQUIRE(c.wait_until_up(3000ms).ok());
  auto pushed = [&](std::size_t expected_more) {
    const std::size_t before = h.server.events_streamed();
    h.server.push_events(f.bytes);
    REQUIRE(eventually([&] { return h.server.events_streamed() >= before + expected_more; }));
    REQUIRE(c.send(ami::actions::ping()).get().ok());
    std::this_thread::sleep_for(30ms);
    CHECK(h.server.events_streamed() == before + expected_more);
  };
  // The fake applies an action before it handles anything posted after it was read.
  auto asked = [&](std::size_t filters, std::size_t masks) {
    REQUIRE(eventually([&] { return count_named(h.server, "Filter") == filters && count_named(h.server, "Events") == masks; }));
  };

  counter hangups, dialplan, everything;
  auto s1 = c.subscribe(ami::event_filter::by_names({"Hangup"}), hangups.handler());
  asked(1, 1);
  CHECK(raw_named(h.server, "Events")[0].find("EventMask: call\r\n") != std::string::npos);
  pushed(f.events.at("Hangup"));

  auto s2 = c.subscribe(ami::event_filter::by_names({"Newexten", "hangup"}), dialplan.handler());
  asked(2, 2);
  CHECK(raw_named(h.server, "Filter")[1].find("MatchCriteria: name(Newexten)\r\n") != std::string::npos);
  CHECK(raw_named(h.server, "Events")[1].find("EventMask: call,dialplan\r\n") != std::string::npos);
  pushed(f.events.at("Hangup") + f.events.at("Newexten"));

  auto s3 = c.subscribe(ami::event_filter::all(), everything.handler());
  asked(3, 3);
  CHECK(raw_named(h.server, "Filter")[2].find("Filter: ^Event: \r\n") != std::string::npos);
  CHECK(raw_named(h.server, "Events")[2].find("EventMask: on\r\n") != std::string::npos);
  pushed(f.total);
  CHECK(count_named(h.server, "CoreSettings") == 1);  // once per connection

  s3.reset();  // the match-all filter stays (Asterisk cannot remove one); the mask narrows
  asked(3, 4);
  CHECK(raw_named(h.server, "Events")[3].find("EventMask: call,dialplan\r\n") != std::string::npos);
  pushed(f.total - f.events.at("SuccessfulAuth") - f.events.at("FullyBooted"));
  auto st = c.status().get();
  CHECK(st.event_filters == 3);
  CHECK(st.event_mask == "call,dialplan");

  // The next login asks for what is wanted now, from scratch.
  h.server.drop_connections();
  REQUIRE(eventually([&] { return h.server.logins() == 2 && count_named(h.server, "Filter") == 5; }));
  REQUIRE(eventually([&] { return count_named(h.server, "Events") == 5; }));
  REQUIRE(c.wait_until_up(3000ms).ok());
  pushed(f.events.at("Hangup") + f.events.at("Newexten"));
  CHECK(c.status().get().event_filters == 2);

  // Every subscriber got exactly what it asked for, pushed or not.
  CHECK(hangups.total() == hangups.of("Hangup"));
  CHECK(dialplan.total() == dialplan.of("Hangup") + dialplan.of("Newexten"));
  CHECK(everything.total() == f.total);
}

TEST_CASE("a Filter Asterisk refuses: the client filters alone, the mask still narrows", "[ami][session][pushdown]") {
  const auto& f = facts();
  fake_ami_options opts;
  opts.refuse_filter = true;
  opts.burst = f.bytes;
  opts.burst_repeat = 2;
  session_harness h(opts);
  ami::client c(h.system, h.io, h.config());
  counter got;
  auto sub = c.subscribe(ami::event_filter::by_names({"Hangup"}), got.handler());
  REQUIRE(c.wait_until_up(3000ms).ok());
  const std::size_t call_class = f.total - f.events.at("Newexten") - f.events.at("SuccessfulAuth") - f.events.at("FullyBooted");
  REQUIRE(eventually([&] { return h.server.events_streamed() >= 2 * call_class; }));
  REQUIRE(eventually([&] { return got.of("Hangup") >= 2 * f.events.at("Hangup"); }));
  REQUIRE(c.send(ami::actions::ping()).get().ok());
  CHECK(h.server.events_streamed() == 2 * call_class);
  CHECK(got.total() == 2 * f.events.at("Hangup"));
  auto st = c.status().get();
  CHECK(st.event_filters_refused);
  CHECK(st.event_filters == 0);
  CHECK(st.event_mask == "call");
  // No more Filter actions in this session, not even for new names.
  counter more;
  auto sub2 = c.subscribe(ami::event_filter::by_names({"Newexten"}), more.handler());
  REQUIRE(eventually([&] { return count_named(h.server, "Events") == 2; }));
  CHECK(raw_named(h.server, "Events")[1].find("EventMask: call,dialplan\r\n") != std::string::npos);
  CHECK(count_named(h.server, "Filter") == 1);
}

TEST_CASE("an undocumented event name gets a regex filter and leaves the mask open", "[ami][session][pushdown]") {
  session_harness h;
  ami::client c(h.system, h.io, h.config());
  counter got;
  auto sub = c.subscribe(ami::event_filter::by_names({"MyAppThing"}), got.handler());
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return count_named(h.server, "Events") == 1; }));
  CHECK(count_named(h.server, "CoreSettings") == 0);  // no name() filter to choose
  auto filters = raw_named(h.server, "Filter");
  REQUIRE(filters.size() == 1);
  CHECK(filters[0].find("Filter: ^Event: [Mm][Yy][Aa][Pp][Pp][Tt][Hh][Ii][Nn][Gg][[:space:]]\r\n") != std::string::npos);
  CHECK(raw_named(h.server, "Events")[0].find("EventMask: on\r\n") != std::string::npos);
  h.server.push_events("Event: MyAppThing\r\nPrivilege: user,all\r\nN: 1\r\n\r\n"
                       "Event: MyAppThingElse\r\nPrivilege: user,all\r\nN: 2\r\n\r\n"
                       "Event: Hangup\r\nPrivilege: call,all\r\nN: 3\r\n\r\n");
  REQUIRE(eventually([&] { return got.total() >= 1; }));
  REQUIRE(c.send(ami::actions::ping()).get().ok());
  CHECK(h.server.events_streamed() == 1);
  CHECK(got.of("MyAppThing") == 1);
}

TEST_CASE("some filters taken, one refused: the session logs in again without filters", "[ami][session][pushdown]") {
  const auto& f = facts();
  fake_ami_options opts;
  opts.refuse_filter_containing = "Newexten";
  session_harness h(opts);
  ami::client c(h.system, h.io, h.config());
  counter got;
  auto sub = c.subscribe(ami::event_filter::by_names({"Hangup", "Newexten"}), got.handler());
  // Login 1: Filter Hangup taken, Filter Newexten refused -> the Hangup filter would withhold
  // Newexten, so the session reconnects; login 2 sends no Filter, only the mask.
  // The link is reported up only once login 2's mask was answered.
  REQUIRE(eventually([&] { return h.server.logins() == 2; }));
  REQUIRE(c.wait_until_up(3000ms).ok());
  CHECK(count_named(h.server, "Filter") == 2);
  auto st = c.status().get();
  CHECK(st.event_filters_refused);
  CHECK(st.event_filters == 0);
  CHECK(st.event_mask == "call,dialplan");
  const std::size_t before = h.server.events_streamed();
  h.server.push_events(f.bytes);
  const std::size_t wanted = f.events.at("Hangup") + f.events.at("Newexten");
  REQUIRE(eventually([&] { return got.total() >= wanted; }));
  REQUIRE(c.send(ami::actions::ping()).get().ok());
  CHECK(got.total() == wanted);
  CHECK(h.server.events_streamed() - before == f.total - f.events.at("SuccessfulAuth") - f.events.at("FullyBooted"));
}
