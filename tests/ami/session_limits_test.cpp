// Read limits and queue policies of the AMI session against the fake server: real oversized
// output arrives whole with the default limits; a message over a limit is never silent (the
// request it answers fails at once with response_too_large, subscribers wanting the event get
// event_lost, both counted); drop_newest / drop_oldest / pause_reading per subscriber, drops
// counted per event name.
#include <catch2/catch.hpp>

#include <atomic>

#include <caf/all.hpp>

#include "tests/ami/session_support.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra;
using namespace astra::test;

namespace {

// The Output: values of the recorded `core show help` answer (Asterisk 22.11).
std::vector<std::string> recorded_help_output() {
  const std::string in = concat_direction(load_fixture("ami/oversized-real-output.jsonl"), "in");
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while ((pos = in.find("\r\nOutput: ", pos)) != std::string::npos) {
    pos += 10;
    lines.push_back(in.substr(pos, in.find("\r\n", pos) - pos));
  }
  return lines;
}

// The recorded VarSet event with its 2,000-byte Value: line, as Asterisk wrote it.
std::string recorded_long_varset() {
  const std::string in = concat_direction(load_fixture("ami/oversized-real-output.jsonl"), "in");
  auto variable = in.find("Variable: ASTRA_LONG\r\n");
  REQUIRE(variable != std::string::npos);
  auto start = in.rfind("Event: VarSet\r\n", variable);
  REQUIRE(start != std::string::npos);
  auto end = in.find("\r\n\r\n", start);
  std::string event = in.substr(start, end + 4 - start);
  REQUIRE(event.size() > 2000);
  return event;
}

struct lost_log {
  std::mutex mutex;
  std::vector<ami::event_lost> lost;
  void add(const ami::event_lost& e) {
    std::lock_guard<std::mutex> lock(mutex);
    lost.push_back(e);
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mutex);
    return lost.size();
  }
};

caf::behavior holding_subscriber(caf::event_based_actor* self, caf::actor session, ami::subscribe_request req,
                                 std::shared_ptr<std::vector<std::string>> seen) {
  auto batches = std::make_shared<std::vector<ami::event_batch>>();
  auto holding = std::make_shared<bool>(true);
  self->send(session, std::move(req));
  return {
    [=](ami::event_batch& b) {
      for (const auto& m : b.events) seen->emplace_back(m->get("Seq").value_or(m->name()));
      if (*holding) batches->push_back(std::move(b));
    },
    [](ami::link_event&) {},
    [](ami::event_lost&) {},
    [=](caf::atom_value) {
      *holding = false;
      batches->clear();
    },
  };
}

std::string numbered_events(std::size_t n) {
  std::string bytes;
  for (std::size_t i = 0; i < n; ++i)
    bytes += "Event: " + std::string(i % 2 ? "Hangup" : "Newchannel") + "\r\nSeq: " + std::to_string(i) + "\r\n\r\n";
  return bytes;
}

}  // namespace

TEST_CASE("the recorded 219-line core show help answer arrives whole with the default read limits",
          "[ami][session][limits]") {
  fake_ami_options opts;
  opts.command_output = recorded_help_output();
  REQUIRE(opts.command_output.size() == 219);
  session_harness h(opts);
  ami::client c(h.system, h.io, h.config());
  REQUIRE(c.wait_until_up(3000ms).ok());
  auto r = c.send(ami::actions::command("core show help")).get();
  REQUIRE(r.ok());
  REQUIRE(r.response);
  CHECK(r.response->get_all("Output").size() == 219);
}

TEST_CASE("an answer over a read limit fails its request at once with response_too_large; the stream goes on",
          "[ami][session][limits]") {
  fake_ami_options opts;
  for (int i = 0; i < 2000; ++i) opts.command_output.push_back("line " + std::to_string(i) + std::string(90, '.'));
  session_harness h(opts);
  std::atomic<int> oversized_hook{0};
  ami::session_hooks hooks;
  hooks.oversized = [&](const ami::oversized_message& o) {
    if (o.kind == ami::message_kind::response) ++oversized_hook;
  };
  auto cfg = h.config();
  cfg.read_limits.message_bytes = 64 * 1024;  // the 2,000-line answer is ~200 KB
  cfg.read_limits.buffered_bytes = 128 * 1024;
  cfg.request_timeout = 5000ms;
  ami::client c(h.system, h.io, cfg, hooks);
  REQUIRE(c.wait_until_up(3000ms).ok());
  const auto started = std::chrono::steady_clock::now();
  auto r = c.send(ami::actions::command("core show help")).get();
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.code == ami::make_error_code(ami::ami_errc::response_too_large));
  CHECK(r.error.detail.find("Command") != std::string::npos);
  CHECK(r.error.detail.find("65536-byte message limit") != std::string::npos);
  CHECK(took < 2000ms);  // at once, not at the 5 s deadline
  CHECK(oversized_hook.load() == 1);
  CHECK(c.send(ami::actions::ping()).get().ok());  // resynchronised
  CHECK(c.status().get().oversized == 1);
}

TEST_CASE("an event over a read limit reaches the subscribers that want it as event_lost; others see nothing",
          "[ami][session][limits]") {
  session_harness h;
  auto cfg = h.config();
  cfg.read_limits.line_bytes = 1024;  // Asterisk-sized: the recorded 2,000-byte VarSet line is over it
  ami::client c(h.system, h.io, cfg);
  lost_log varset_lost, hangup_lost;
  std::atomic<int> varsets{0};
  ami::subscribe_request want_varset;
  want_varset.filter = ami::event_filter::by_names({"VarSet"});
  want_varset.name = "varset";
  auto s1 = c.subscribe(want_varset, [&](const std::vector<ami::message_ptr>& b) { varsets += static_cast<int>(b.size()); },
                        {}, [&](const ami::event_lost& e) { varset_lost.add(e); });
  ami::subscribe_request want_hangup;
  want_hangup.filter = ami::event_filter::by_names({"Hangup"});
  want_hangup.name = "hangup";
  auto s2 = c.subscribe(want_hangup, {}, {}, [&](const ami::event_lost& e) { hangup_lost.add(e); });
  REQUIRE(c.wait_until_up(3000ms).ok());
  h.server.push(recorded_long_varset() + "Event: VarSet\r\nVariable: SHORT\r\nValue: 1\r\n\r\n");
  REQUIRE(eventually([&] { return varset_lost.size() == 1 && varsets.load() == 1; }));
  {
    std::lock_guard<std::mutex> lock(varset_lost.mutex);
    const auto& e = varset_lost.lost[0];
    CHECK(e.event_name == "VarSet");
    CHECK(e.bytes > 2000);
    CHECK(e.reason.code == ami::make_error_code(ami::ami_errc::line_too_long));
    CHECK(e.reason.detail.find("1024-byte line limit") != std::string::npos);
  }
  std::this_thread::sleep_for(50ms);
  CHECK(hangup_lost.size() == 0);
  auto st = c.status().get();
  CHECK(st.oversized == 1);
  for (const auto& s : st.subscribers) {
    if (s.name == "varset") CHECK(s.lost_oversized == 1);
    if (s.name == "hangup") CHECK(s.lost_oversized == 0);
  }
}

TEST_CASE("with the default limits the recorded 2,000-byte VarSet is delivered", "[ami][session][limits]") {
  session_harness h;
  ami::client c(h.system, h.io, h.config());
  std::mutex mutex;
  std::vector<ami::message_ptr> got;
  auto sub = c.subscribe(ami::event_filter::by_names({"VarSet"}), [&](const ami::message_ptr& m) {
    std::lock_guard<std::mutex> lock(mutex);
    got.push_back(m);
  });
  REQUIRE(c.wait_until_up(3000ms).ok());
  h.server.push(recorded_long_varset());
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return got.size() == 1;
  }));
  CHECK(got[0]->get("Value")->size() >= 2000);
  CHECK(c.status().get().oversized == 0);
}

TEST_CASE("queue policies: drop_newest keeps the first, drop_oldest the newest, both counted per event name",
          "[ami][session][limits]") {
  const std::size_t total = 1000;
  for (auto policy : {ami::queue_policy::drop_newest, ami::queue_policy::drop_oldest}) {
    INFO(ami::to_string(policy));
    session_harness h;
    ami::client c(h.system, h.io, h.config());
    auto seen = std::make_shared<std::vector<std::string>>();
    ami::subscribe_request req;
    req.filter = ami::event_filter::by_names({"Hangup", "Newchannel"});
    req.capacity = 100;
    req.name = "held";
    req.policy = policy;
    auto held = h.system.spawn(holding_subscriber, c.actor(), req, seen);
    REQUIRE(c.wait_until_up(3000ms).ok());
    REQUIRE(eventually([&] { return c.status().get().subscribers.size() == 2; }));
    h.server.push(numbered_events(total));
    // Only named events are wanted: the session logs in with Events: off, so Asterisk sends
    // no FullyBooted; the pushed events are hand-made (push() bypasses the fake's filters).
    REQUIRE(eventually([&] { return c.status().get().events_received >= total; }));
    REQUIRE(c.send(ami::actions::ping()).get().ok());
    auto st = c.status().get();
    const ami::subscriber_status* s = nullptr;
    for (const auto& x : st.subscribers)
      if (x.name == "held") s = &x;
    REQUIRE(s);
    std::uint64_t by_name = 0;
    for (const auto& [name, n] : st.dropped_by_event) {
      CHECK((name == "Hangup" || name == "Newchannel"));
      by_name += n;
    }
    caf::anon_send(held, caf::atom("release"));
    if (policy == ami::queue_policy::drop_newest) {
      CHECK(s->dropped == total - 100);
      CHECK(s->backlog == 0);
    } else {
      CHECK(s->backlog == 100);
      CHECK(s->dropped == total - 200);
      // After the release the backlog (the newest 100) is delivered.
      REQUIRE(eventually([&] {
        for (const auto& x : c.status().get().subscribers)
          if (x.name == "held") return x.backlog == 0 && x.in_flight == 0;
        return false;
      }));
    }
    CHECK(by_name == s->dropped);
    caf::anon_send_exit(held, caf::exit_reason::user_shutdown);
  }
}

TEST_CASE("pause_reading: a subscriber slower than the flood loses nothing", "[ami][session][limits]") {
  fake_ami_options opts;
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 10;
  std::size_t fully_booted = 0;  // the recorded burst holds one FullyBooted; the filter leaves it out
  for (std::size_t pos = 0; (pos = opts.burst.find("Event: FullyBooted\r\n", pos)) != std::string::npos; ++pos)
    ++fully_booted;
  const std::size_t expected = opts.burst_repeat * (count_events(opts.burst) - fully_booted);
  session_harness h(opts);
  ami::client c(h.system, h.io, h.config());
  std::atomic<std::size_t> received{0};
  ami::subscribe_request req;
  req.filter = ami::event_filter::by_predicate([](const ami::message& m) { return m.name() != "FullyBooted"; });
  req.capacity = 32;  // far below the burst: the policy, not the bound, keeps it lossless
  req.name = "slow";
  req.policy = ami::queue_policy::pause_reading;
  auto sub = c.subscribe(req, [&](const std::vector<ami::message_ptr>& b) {
    std::this_thread::sleep_for(std::chrono::microseconds(20 * b.size()));
    received += b.size();
  });
  REQUIRE(c.wait_until_up(3000ms).ok());
  const bool all_arrived = eventually([&] { return received.load() >= expected; }, 20000ms);
  auto st = c.status().get();
  for (const auto& s : st.subscribers)
    UNSCOPED_INFO(s.name << ": in_flight " << s.in_flight << " backlog " << s.backlog << " delivered " << s.delivered
                         << " dropped " << s.dropped);
  INFO("received " << received.load() << " of " << expected << "; session received " << st.events_received);
  REQUIRE(all_arrived);
  for (const auto& s : st.subscribers) CHECK(s.dropped == 0);
  CHECK(st.inbox_dropped == 0);
  CHECK(received.load() == expected);
}
