// The relay of issue 14's ARI call spreading (service/core/ari_spread) against an in-memory bus:
// offers and claims, events held until the claim and their order, declined and unanswered
// offers offered again (3 at most, then hung up), no-responders, a lost worker's calls under
// both policies, a relay that hears nothing declaring nobody lost, the held-events bound.
// Deterministic: the fake bus queues messages and the test delivers them (pump), the relay's
// timers run on the test's io_context (run_for).
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "generated/ari/events.hpp"
#include "service/bus/nats_bus.hpp"
#include "service/core/ari_spread.hpp"

using namespace astra;
using namespace std::chrono_literals;

namespace {

struct sent {
  std::string subject, payload, reply;
};

// nats_bus with subjects matched exactly or by a trailing ".*" (one token); no queue groups
// needed here (the test plays the workers). Publish queues; pump delivers.
class fake_bus final : public bus::nats_bus {
 public:
  void publish_ami_events(std::size_t, const std::vector<ami::message_ptr>&, std::int64_t) override {}
  void publish_ari_event(std::size_t, std::string_view, std::string_view, std::int64_t) override {}
  void publish_agi_call_end(std::string_view, std::uint64_t, std::string_view, std::chrono::nanoseconds,
                            std::string_view) override {}
  void set_request_handlers(bus::request_handler, bus::request_handler) override {}
  void release_leases(std::chrono::milliseconds) override {}
  void stop() override {}
  bool connected() const override { return up; }
  bool holds(std::size_t) const override { return true; }
  std::size_t buffered() const override { return 0; }
  std::string status_json() const override { return "{}"; }

  std::uint64_t subscribe(std::string subject, std::string, bus::message_handler h) override {
    std::lock_guard lock(mu);
    subs[++next_id] = {std::move(subject), std::move(h)};
    return next_id;
  }
  void unsubscribe(std::uint64_t id) override {
    std::lock_guard lock(mu);
    subs.erase(id);
  }
  bool publish(std::string subject, std::string payload, std::string reply, std::size_t) override {
    std::lock_guard lock(mu);
    log.push_back({subject, payload, reply});
    queue.push_back({std::move(subject), std::move(payload), std::move(reply)});
    return true;
  }
  std::string new_inbox() override { return "_INBOX.test"; }
  const std::string& instance() const override { return id; }
  const std::string& replica() const override { return id; }
  const std::string& prefix() const override { return pfx; }

  // Delivers what was published (and what that published in turn) to the subscribers.
  void pump() {
    for (;;) {
      sent m;
      std::vector<bus::message_handler> targets;
      {
        std::lock_guard lock(mu);
        if (queue.empty()) return;
        m = std::move(queue.front());
        queue.pop_front();
        for (auto& [sid, s] : subs) {
          const bool wildcard = s.first.size() > 2 && s.first.compare(s.first.size() - 2, 2, ".*") == 0;
          if (s.first == m.subject ||
              (wildcard && m.subject.rfind(s.first.substr(0, s.first.size() - 1), 0) == 0))
            targets.push_back(s.second);
        }
      }
      bus::bus_message bm{m.subject, m.payload, m.reply, false};
      for (auto& h : targets) h(bm);
    }
  }
  // A NATS status 503 to `reply`.
  void no_responders(const std::string& reply) {
    std::vector<bus::message_handler> targets;
    {
      std::lock_guard lock(mu);
      for (auto& [sid, s] : subs)
        if (s.first == "_INBOX.test.*") targets.push_back(s.second);
    }
    bus::bus_message bm{reply, "", "", true};
    for (auto& h : targets) h(bm);
  }
  std::vector<sent> on(const std::string& subject) {
    std::lock_guard lock(mu);
    std::vector<sent> out;
    for (auto& m : log)
      if (m.subject == subject) out.push_back(m);
    return out;
  }

  bool up = true;
  std::string id = "holder-instance", pfx = "astra.";
  std::mutex mu;
  std::map<std::uint64_t, std::pair<std::string, bus::message_handler>> subs;
  std::uint64_t next_id = 0;
  std::deque<sent> queue;
  std::vector<sent> log;  // every publish, in order
};

std::string channel_json(const std::string& id) {
  return R"({"id":")" + id +
         R"(","name":"PJSIP/x","state":"Up","caller":{"name":"","number":""},"connected":{"name":"","number":""},)"
         R"("accountcode":"","dialplan":{"context":"default","exten":"s","priority":1,"app_name":"Stasis","app_data":"astra"},)"
         R"("creationtime":"2026-12-04T00:00:00.000+0000","language":"en"})";
}
std::string stasis_start(const std::string& id) {
  return R"({"type":"StasisStart","timestamp":"2026-12-04T00:00:00.000+0000","args":[],"channel":)" + channel_json(id) +
         R"(,"application":"astra"})";
}
std::string varset(const std::string& id, const std::string& value) {
  return R"({"type":"ChannelVarset","timestamp":"2026-12-04T00:00:00.000+0000","variable":"X","value":")" + value +
         R"(","channel":)" + channel_json(id) + R"(,"application":"astra"})";
}

struct relay_fixture {
  fake_bus bus;
  boost::asio::io_context io;
  std::vector<std::string> hung_up;
  int unclaimed = 0, lost = 0, held_dropped = 0;
  std::map<std::string, int> loss_calls;
  std::shared_ptr<runtime::ari_relay> relay;

  explicit relay_fixture(config::ari_worker_loss_policy policy = config::ari_worker_loss_policy::hangup) {
    runtime::ari_spread_options o;
    o.server = "pbx1";
    o.on_worker_loss = policy;
    o.claim_timeout = 100ms;
    o.heartbeat = 50ms;
    o.worker_timeout = 300ms;
    o.apps = {"astra"};
    runtime::ari_spread_hooks h;
    h.unclaimed = [this] { ++unclaimed; };
    h.worker_lost = [this] { ++lost; };
    h.loss_call = [this](std::string_view p) { ++loss_calls[std::string(p)]; };
    h.dropped = [this](std::string_view) { ++held_dropped; };
    relay = runtime::ari_relay::start(bus, io, o, h, [this](std::string method, std::string path, auto done) {
      if (method == "DELETE") hung_up.push_back(path.substr(path.rfind('/') + 1));
      done(204, "");
    });
  }
  ~relay_fixture() { relay->stop(); }

  void event(const std::string& frame) {
    auto e = ari::decode_event(frame);
    REQUIRE(e.ok());
    relay->on_event(*e, frame);
  }
  // The offers so far.
  std::vector<sent> offers() { return bus.on("astra.pbx1.ari.calls"); }
  void answer(const sent& offer, const std::string& body) {
    bus.publish(offer.reply, body, {}, bus::nats_bus::npos);
    bus.pump();
  }
  void heartbeat(const std::string& instance, const std::vector<std::string>& channels) {
    std::string list;
    for (auto& c : channels) list += (list.empty() ? "\"" : ",\"") + c + "\"";
    bus.publish("astra.pbx1.ari.claims", R"({"instance":")" + instance + R"(","replica":"r","channels":[)" + list + "]}", {},
                bus::nats_bus::npos);
    bus.pump();
  }
  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
};

}  // namespace

TEST_CASE("relay: a StasisStart is offered; events before the claim follow it in order, later ones go straight out") {
  relay_fixture f;
  f.event(stasis_start("c1"));
  auto offers = f.offers();
  REQUIRE(offers.size() == 1);
  CHECK(offers[0].payload == stasis_start("c1"));
  CHECK(offers[0].reply.rfind("_INBOX.test.", 0) == 0);
  f.event(varset("c1", "one"));
  f.event(varset("c1", "two"));
  CHECK(f.bus.on("astra.pbx1.ari.channel.c1").empty());  // held until the claim

  f.answer(offers[0], R"({"instance":"w1","replica":"r1"})");
  auto out = f.bus.on("astra.pbx1.ari.channel.c1");
  REQUIRE(out.size() == 2);
  CHECK(out[0].payload.find("\"value\":\"one\"") != std::string::npos);
  CHECK(out[1].payload.find("\"value\":\"two\"") != std::string::npos);
  CHECK(out[0].payload.rfind("{\"seq\":", 0) == 0);
  f.event(varset("c1", "three"));
  out = f.bus.on("astra.pbx1.ari.channel.c1");
  REQUIRE(out.size() == 3);
  CHECK(out[2].payload.find("\"value\":\"three\"") != std::string::npos);
  CHECK(f.hung_up.empty());
  CHECK(f.unclaimed == 0);
}

TEST_CASE("relay: declined offers are offered again, three offers at most, then the call is hung up") {
  relay_fixture f;
  f.event(stasis_start("c2"));
  for (int i = 0; i < 3; ++i) {
    auto offers = f.offers();
    REQUIRE(offers.size() == static_cast<std::size_t>(i + 1));
    f.answer(offers.back(), R"({"instance":"w1","replica":"r1","declined":true})");
  }
  CHECK(f.offers().size() == 3);
  REQUIRE(f.hung_up.size() == 1);
  CHECK(f.hung_up[0] == "c2");
  CHECK(f.unclaimed == 1);
  CHECK(f.relay->calls() == 0);
}

TEST_CASE("relay: an unanswered offer is offered again after the claim deadline; no responders hangs up at once") {
  relay_fixture f;
  f.event(stasis_start("c3"));
  REQUIRE(f.offers().size() == 1);
  f.run_for(400ms);  // deadline 100 ms, sweep every 250 ms
  auto offers = f.offers();
  REQUIRE(offers.size() >= 2);
  f.answer(offers.back(), R"({"instance":"w2","replica":"r2"})");
  CHECK(f.hung_up.empty());

  f.event(stasis_start("c4"));
  offers = f.offers();
  f.bus.no_responders(offers.back().reply);
  REQUIRE(f.hung_up.size() == 1);
  CHECK(f.hung_up[0] == "c4");
  CHECK(f.unclaimed == 1);
}

TEST_CASE("relay: a worker that goes silent loses its calls to on_worker_loss; one that beats keeps them") {
  SECTION("hangup") {
    relay_fixture f(config::ari_worker_loss_policy::hangup);
    f.event(stasis_start("a"));
    f.answer(f.offers().back(), R"({"instance":"w1","replica":"r1"})");
    f.event(stasis_start("b"));
    f.answer(f.offers().back(), R"({"instance":"w2","replica":"r2"})");
    for (int i = 0; i < 12; ++i) {  // 600 ms: w2 (and the holder's own worker) beat, w1 is silent
      f.heartbeat("w2", {"b"});
      f.heartbeat("holder-instance", {});
      f.run_for(50ms);
    }
    CHECK(f.lost == 1);
    CHECK(f.loss_calls["hangup"] == 1);
    REQUIRE(f.hung_up.size() == 1);
    CHECK(f.hung_up[0] == "a");
    CHECK(f.relay->calls() == 1);  // b stays with w2
  }
  SECTION("reoffer") {
    relay_fixture f(config::ari_worker_loss_policy::reoffer);
    f.event(stasis_start("a"));
    f.answer(f.offers().back(), R"({"instance":"w1","replica":"r1"})");
    for (int i = 0; i < 12; ++i) {
      f.heartbeat("holder-instance", {});
      f.run_for(50ms);
    }
    CHECK(f.loss_calls["reoffer"] == 1);
    CHECK(f.hung_up.empty());
    auto offers = f.offers();
    REQUIRE(offers.size() == 2);  // the same StasisStart, offered again
    CHECK(offers[1].payload == stasis_start("a"));
  }
}

TEST_CASE("relay: while it hears nothing (no heartbeat at all, or disconnected) it declares nobody lost") {
  SECTION("no heartbeat from anyone") {
    relay_fixture f;
    f.event(stasis_start("a"));
    f.answer(f.offers().back(), R"({"instance":"w1","replica":"r1"})");
    f.run_for(900ms);
    CHECK(f.lost == 0);
    CHECK(f.hung_up.empty());
  }
  SECTION("disconnected, heartbeats queued") {
    relay_fixture f;
    f.event(stasis_start("a"));
    f.answer(f.offers().back(), R"({"instance":"w1","replica":"r1"})");
    f.bus.up = false;
    for (int i = 0; i < 12; ++i) {
      f.heartbeat("holder-instance", {});
      f.run_for(50ms);
    }
    CHECK(f.lost == 0);
    CHECK(f.hung_up.empty());
    // Back: w1's clock restarted, so it is not lost at once either.
    f.bus.up = true;
    f.heartbeat("w1", {"a"});
    f.run_for(100ms);
    CHECK(f.lost == 0);
  }
}

TEST_CASE("relay: events held for an unclaimed call are bounded and the excess is counted") {
  relay_fixture f;
  f.event(stasis_start("c5"));
  for (std::size_t i = 0; i < runtime::max_held_events + 10; ++i) f.event(varset("c5", std::to_string(i)));
  CHECK(f.held_dropped == 10);
  f.answer(f.offers().back(), R"({"instance":"w1","replica":"r1"})");
  CHECK(f.bus.on("astra.pbx1.ari.channel.c5").size() == runtime::max_held_events);
}
