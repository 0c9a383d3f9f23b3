// Event fan-out: filters, bounded subscriber queues with counted drops, a reader that is
// never stalled by a slow subscriber, and the recorded event-burst bytes end to end.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>

#include <caf/all.hpp>

#include "tests/ami/session_support.hpp"

using namespace astra;
using namespace astra::test;

TEST_CASE("the recorded event burst reaches an all-events subscriber complete and in order", "[ami][session]") {
  fake_ami_options opts;
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 5;
  const std::size_t per_burst = count_events(opts.burst);
  REQUIRE(per_burst > 700);
  session_harness h(opts);
  ami::client c(h.system, h.io, h.config());
  std::mutex mutex;
  std::vector<std::string> names;
  std::atomic<std::size_t> received{0};
  auto sub = c.subscribe(ami::event_filter::all(), [&](const ami::message_ptr& m) {
    std::lock_guard<std::mutex> lock(mutex);
    names.emplace_back(m->name());
    ++received;
  }, {}, 1 << 20);
  REQUIRE(c.wait_until_up(3000ms).ok());
  // FullyBooted (after login, when the subscription came first) + 5 bursts. Subscribed
  // later, the session logs in with Events: off (nothing wanted yet: no FullyBooted) and
  // opens the mask for it; the bursts follow the open mask either way.
  REQUIRE(eventually([&] { return received.load() >= 5 * per_burst; }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard<std::mutex> lock(mutex);
  CHECK(names.size() >= 5 * per_burst);
  CHECK(names.size() <= 1 + 5 * per_burst);
  // OriginateResponse carries Response: but is an event; it must be delivered as one.
  CHECK(std::count(names.begin(), names.end(), "OriginateResponse") >= 5 * 40);
  auto st = c.status().get();
  REQUIRE(st.subscribers.size() == 2);  // the client's link watcher + ours
  for (const auto& s : st.subscribers) CHECK(s.dropped == 0);
  // Asterisk sent nothing before someone wanted it: every event read was delivered.
  CHECK(st.events_received == names.size());
  CHECK(st.event_mask == "on");
  CHECK(st.event_filters == 0);
}

TEST_CASE("subscribers filter by name and by predicate", "[ami][session]") {
  session_harness h;
  ami::client c(h.system, h.io, h.config());
  std::atomic<int> hangups{0}, by_pred{0}, all{0};
  auto s1 = c.subscribe(ami::event_filter::by_names({"hangup"}), [&](const ami::message_ptr& m) {
    if (m->name() == "Hangup") ++hangups;
    else hangups += 1000;  // must never happen
  });
  auto s2 = c.subscribe(ami::event_filter::by_predicate([](const ami::message& m) {
                          return m.get("Channel").value_or("").find("PJSIP/") == 0;
                        }),
                        [&](const ami::message_ptr&) { ++by_pred; });
  auto s3 = c.subscribe(ami::event_filter::all(), [&](const ami::message_ptr&) { ++all; });
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return c.status().get().subscribers.size() == 4; }));
  h.server.push("Event: Hangup\r\nChannel: PJSIP/100-1\r\nCause: 16\r\n\r\n"
                "Event: Newchannel\r\nChannel: Local/x@y-1;1\r\n\r\n"
                "Event: Newchannel\r\nChannel: PJSIP/200-2\r\n\r\n");
  REQUIRE(eventually([&] { return all.load() >= 3; }));
  REQUIRE(eventually([&] { return hangups.load() == 1 && by_pred.load() == 2; }));
  s3.reset();  // unsubscribes
  REQUIRE(eventually([&] { return c.status().get().subscribers.size() == 3; }));
}

// Holds every batch it receives (and so its credit) until told to let go.
caf::behavior stalled_subscriber(caf::event_based_actor* self, caf::actor session, std::size_t capacity,
                                 std::shared_ptr<std::atomic<std::size_t>> held) {
  auto batches = std::make_shared<std::vector<ami::event_batch>>();
  ami::subscribe_request req{ami::event_filter::all(), capacity, "stalled"};
  req.policy = ami::queue_policy::drop_newest;  // the shedding policy under test
  self->send(session, std::move(req));
  return {
    [=](ami::event_batch& b) {
      *held += b.events.size();
      batches->push_back(std::move(b));
    },
    [](ami::link_event&) {},
    [](ami::event_lost&) {},
    [=](caf::atom_value) { batches->clear(); },
  };
}

TEST_CASE("a stalled subscriber loses events (counted) without stalling the reader or other subscribers",
          "[ami][session]") {
  fake_ami_options opts;
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 20;
  const std::size_t per_burst = count_events(opts.burst);
  const std::size_t total = 1 + opts.burst_repeat * per_burst;
  session_harness h(opts);
  std::atomic<std::uint64_t> hook_drops{0};
  ami::session_hooks hooks;
  hooks.drop = [&](std::string_view queue, std::string_view, std::uint64_t n) {
    if (queue.find("stalled") != std::string_view::npos) hook_drops += n;
  };
  ami::client c(h.system, h.io, h.config(), hooks);
  auto held = std::make_shared<std::atomic<std::size_t>>(0);
  auto stalled = h.system.spawn(stalled_subscriber, c.actor(), std::size_t{100}, held);
  std::atomic<std::size_t> fast{0};
  auto sub = c.subscribe(ami::event_filter::all(), [&](const ami::message_ptr&) { ++fast; }, {}, 1 << 20, "fast");
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return fast.load() >= total - 1; }, 10000ms));
  // The reader kept reading: a request after the burst is answered.
  CHECK(c.send(ami::actions::ping(), 2000ms).get().ok());
  auto st = c.status().get();
  const ami::subscriber_status* stalled_status = nullptr;
  for (const auto& s : st.subscribers)
    if (s.name == "stalled") stalled_status = &s;
  REQUIRE(stalled_status);
  CHECK(held->load() == 100);
  CHECK(stalled_status->in_flight == 100);
  CHECK(stalled_status->delivered == 100);
  CHECK(stalled_status->dropped + 100 >= total - 1);  // FullyBooted may precede the subscription
  CHECK(stalled_status->dropped + 100 <= total);
  CHECK(hook_drops.load() == stalled_status->dropped);
  for (const auto& s : st.subscribers)
    if (s.name == "fast") CHECK(s.dropped == 0);
  // Letting go of the held batches returns the credit.
  caf::anon_send(stalled, caf::atom("release"));
  REQUIRE(eventually([&] {
    for (const auto& s : c.status().get().subscribers)
      if (s.name == "stalled") return s.in_flight == 0;
    return false;
  }));
  caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown);
}

TEST_CASE("a destroyed subscription runs no callback again; destroying it waits for a running one", "[ami][session]") {
  session_harness h;
  ami::client c(h.system, h.io, h.config());
  std::atomic<int> calls{0};
  std::atomic<bool> inside{false}, finished{false};
  auto sub = c.subscribe(ami::event_filter::by_names({"UserEvent"}), [&](const ami::message_ptr&) {
    inside = true;
    std::this_thread::sleep_for(200ms);  // a slow callback: reset() below must wait for it
    ++calls;
    finished = true;
  });
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return c.status().get().subscribers.size() == 2; }));  // the link watcher + ours
  std::this_thread::sleep_for(100ms);  // the session widens Asterisk's event mask for it
  h.server.push("Event: UserEvent\r\nUserEvent: one\r\n\r\n");
  REQUIRE(eventually([&] { return inside.load(); }));
  sub.reset();
  CHECK(finished.load());  // the running callback ended before reset() returned
  h.server.push("Event: UserEvent\r\nUserEvent: two\r\n\r\n");
  std::this_thread::sleep_for(100ms);
  CHECK(calls.load() == 1);  // nothing after the reset
}
