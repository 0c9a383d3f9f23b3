// The outbound ARI WebSocket server against the recorded Asterisk 22.11 sessions
// (fixtures/ari/outbound-ws-*.jsonl): a test client plays Asterisk (the recorded upgrade
// request and ws-in frames, request ids rewritten to astra's), astra runs the recorder's call
// flow as an ordinary stasis_handler and every frame it sends must have the recorded shape.
// Then the admission rules and bad input, each with its counted outcome and no actor left.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include <caf/all.hpp>

#include "actors/ari/outbound_server.hpp"
#include "actors/common/io_runtime.hpp"
#include "generated/ari/events.hpp"
#include "tests/ari/outbound_peer.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra;
using namespace std::chrono_literals;
using json = nlohmann::json;
using astra::test::eventually;
using astra::test::ws_frame;
using astra::test::ws_peer;

namespace {

constexpr const char* recorded_auth = "YXN0ZXJpc2stb3V0Om91dHBhc3M=";  // asterisk-out:outpass

// The recorder's call flow (what the server of the recordings did), four REST round trips.
task<void> recorded_flow(ari::channel chan, ari::session&) {
  co_await chan.answer();
  co_await chan.set_var("ASTRA_OUT", "yes");
  auto pb = co_await chan.play("sound:beep", "pb-" + chan.id());
  if (pb) co_await chan.wait_playback(pb->id, 10s);
  co_await chan.hangup();
}

struct harness {
  io_runtime io{2};
  caf::actor_system_config caf_cfg;
  caf::actor_system system{caf_cfg};
  std::unique_ptr<ari::outbound_server> server;
  std::mutex mu;
  std::map<std::string, int> outcomes;  // "app/outcome" -> count
  std::atomic<int> connections_gauge{0};

  explicit harness(ari::stasis_handler handler = recorded_flow, std::size_t max_connections = 100,
                   std::vector<std::string> apps = {"percall", "persistent"}) {
    ari::outbound_server_config cfg;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.username = "asterisk-out";
    cfg.password = "outpass";
    cfg.max_connections = max_connections;
    cfg.request_timeout = 5s;
    for (auto& a : apps) cfg.apps.push_back({a, ari::client_handlers{handler, {}, {}, {}}});
    ari::outbound_hooks hooks;
    hooks.handler_ended = [this](std::string_view app, std::string_view outcome) {
      std::lock_guard lock(mu);
      ++outcomes[std::string(app) + "/" + std::string(outcome)];
    };
    hooks.connection = [this](std::string_view, ari::outbound_mode, int delta) { connections_gauge += delta; };
    auto s = ari::outbound_server::create(system, io.context(), std::move(cfg), std::move(hooks));
    REQUIRE(s.ok());
    server = std::move(*s);
    REQUIRE(!server->start());
  }
  ~harness() {
    server->stop();
    eventually([&] { return server->stats().live_connections == 0; }, 5s);
    server.reset();
    io.stop();  // before ~actor_system: Asio threads that sent to actors pin CAF's logger
  }
  int outcome(const std::string& key) {
    std::lock_guard lock(mu);
    return outcomes[key];
  }
  bool idle() {
    auto s = server->stats();
    bool ok = s.live_connections == 0 && s.channel_actors == 0 && s.bridge_actors == 0;
    if (!ok && std::getenv("DEBUG_OUTBOUND"))
      fprintf(stderr, "live %zu reg %zu chan %zu bridge %zu\n", s.live_connections, s.live_registered,
              s.channel_actors, s.bridge_actors);
    return ok;
  }
};

// A request frame's shape: everything but request_id; query_strings as recorded.
json shape(const std::string& frame) {
  auto j = json::parse(frame);
  j.erase("request_id");
  return j;
}

// Replays one recorded connection (its records in order). Returns "" or what went wrong.
// `respond_listing`: astra's persistent-socket reconciliation asks GET channels first; it is
// answered with an empty list (not part of the recording).
std::string replay(std::uint16_t port, const std::vector<test::recorded_chunk>& recs, std::size_t chunk,
                   bool respond_listing = false, bool expect_close_by_astra = true) {
  ws_peer peer;
  if (!peer.connect(port)) return "connect failed";
  std::vector<std::string> expected_out;  // recorded ws-out-text waiting for astra's frame
  std::map<std::string, std::string> ids;  // recorded request_id -> astra's
  auto take_astra_frame = [&]() -> std::string {
    for (;;) {
      ws_frame f = peer.read_frame();
      if (f.opcode != 1) return "expected a RESTRequest from astra, got opcode " + std::to_string(f.opcode);
      auto got = json::parse(f.payload, nullptr, false);
      if (!got.is_object()) return "astra sent invalid JSON: " + f.payload;
      if (respond_listing && got.value("method", "") == "GET" && got.value("uri", "") == "channels") {
        json reply = {{"type", "RESTResponse"}, {"request_id", got["request_id"]}, {"status_code", 200},
                      {"reason_phrase", "OK"}, {"content_type", "application/json"}, {"message_body", "[]"}};
        peer.send_text(reply.dump(), chunk);
        continue;
      }
      if (expected_out.empty()) return "unexpected frame from astra: " + f.payload;
      auto want = json::parse(expected_out.front());
      auto got_shape = shape(f.payload);
      if (got_shape != shape(expected_out.front()))
        return "frame shape differs:\n  astra:    " + got_shape.dump() + "\n  recorded: " + shape(expected_out.front()).dump();
      ids[want["request_id"].get<std::string>()] = got["request_id"].get<std::string>();
      expected_out.erase(expected_out.begin());
      return {};
    }
  };
  for (const auto& r : recs) {
    if (r.dir == "upgrade-in") {
      if (!peer.send_raw(r.data, chunk)) return "upgrade write failed";
    } else if (r.dir == "handshake-out") {
      auto head = peer.read_http_head();
      auto status = r.data.substr(0, r.data.find("\r\n"));
      if (head.rfind(status, 0) != 0) return "handshake: expected " + status + ", got " + head;
      for (const char* h : {"Sec-WebSocket-Accept", "Sec-WebSocket-Protocol", "WWW-Authenticate"}) {
        auto p = r.data.find(h);
        if (p == std::string::npos) continue;
        auto line = r.data.substr(p, r.data.find("\r\n", p) - p);
        if (head.find(line) == std::string::npos) return "handshake: missing " + line + " in " + head;
      }
    } else if (r.dir == "ws-out-text") {
      expected_out.push_back(r.data);
    } else if (r.dir == "ws-in") {
      auto j = json::parse(r.data);
      if (j.value("type", "") == "RESTResponse") {
        auto recorded_id = j["request_id"].get<std::string>();
        while (!ids.count(recorded_id)) {
          if (auto e = take_astra_frame(); !e.empty()) return e;
        }
        j["request_id"] = ids[recorded_id];
        if (!peer.send_text(j.dump(), chunk)) return "write failed";
      } else if (!peer.send_text(r.data, chunk)) {
        return "write failed";
      }
    } else if (r.dir == "close-in" || r.dir == "close-out") {
      if (!expected_out.empty()) return "astra never sent " + expected_out.front();
      if (expect_close_by_astra) {
        // The call ended: astra closes (1000) after StasisEnd; Asterisk closes too. Either way
        // the closing handshake completes and nothing else arrives.
        ws_frame f = peer.read_frame();
        if (f.opcode != 8) return "expected astra's close, got opcode " + std::to_string(f.opcode) + " " + f.payload;
        if (f.close_code() != 1000) return "close code " + std::to_string(f.close_code());
      }
      peer.send_close(1000);
      if (!peer.wait_eof()) return "astra did not close the TCP connection";
      return {};
    }
  }
  return {};
}

std::map<int, std::vector<test::recorded_chunk>> by_connection(const std::string& fixture) {
  std::map<int, std::vector<test::recorded_chunk>> out;
  for (auto& r : test::load_fixture(fixture)) out[json::parse(r.json)["conn"].get<int>()].push_back(r);
  return out;
}

}  // namespace

TEST_CASE("outbound per-call session: the recorded two calls replay, whole and split across reads", "[ari][outbound]") {
  auto chunk = GENERATE(std::size_t{0}, std::size_t{3}, std::size_t{64});
  harness h;
  auto conns = by_connection("ari/outbound-ws-per-call.jsonl");
  REQUIRE(conns.size() == 2);
  std::string errors[2];
  std::thread t1([&] { errors[0] = replay(h.server->local_port(), conns[1], chunk); });
  std::thread t2([&] { errors[1] = replay(h.server->local_port(), conns[2], chunk); });
  t1.join();
  t2.join();
  INFO("chunk " << chunk);
  CHECK(errors[0] == "");
  CHECK(errors[1] == "");
  REQUIRE(eventually([&] { return h.idle(); }));
  auto s = h.server->stats();
  CHECK(s.upgrades_ok == 2);
  CHECK(s.per_call_sockets == 2);
  CHECK(s.call_ended_closes == 2);
  CHECK(s.invalid_frames == 0);
  CHECK(s.unmatched_rest_responses == 0);
  CHECK(h.outcome("percall/completed") == 2);  // labelled by the base app, not per channel
  CHECK(h.connections_gauge == 0);
}

TEST_CASE("outbound persistent session: Asterisk reconnects, then a call runs on the kept socket", "[ari][outbound]") {
  auto chunk = GENERATE(std::size_t{0}, std::size_t{5});
  harness h;
  auto conns = by_connection("ari/outbound-ws-persistent.jsonl");
  REQUIRE(conns.size() == 2);
  // Connection 1: the recorder closed it after ApplicationRegistered; here Asterisk's side
  // goes away instead, which is what astra sees when Asterisk restarts or the network drops.
  CHECK(replay(h.server->local_port(), conns[1], chunk, true, false) == "");
  REQUIRE(eventually([&] { return h.server->stats().live_connections == 0; }));
  // Connection 2: a whole call; astra keeps the socket after StasisEnd (persistent).
  auto recs = conns[2];
  recs.push_back({"close-in", "", "{\"conn\": 2}"});
  CHECK(replay(h.server->local_port(), recs, chunk, true, false) == "");
  REQUIRE(eventually([&] { return h.idle(); }));
  auto s = h.server->stats();
  CHECK(s.persistent_sockets == 2);
  CHECK(s.call_ended_closes == 0);
  CHECK(s.peer_closes == 2);
  CHECK(h.outcome("persistent/completed") == 1);
}

TEST_CASE("outbound refused session: wrong credentials get the recorded 401", "[ari][outbound]") {
  harness h;
  // The server's password differs from what Asterisk presents: build it with another one.
  ari::outbound_server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.username = "asterisk-out";
  cfg.password = "not-outpass";
  cfg.apps.push_back({"percall", ari::client_handlers{recorded_flow, {}, {}, {}}});
  auto other = ari::outbound_server::create(h.system, h.io.context(), cfg);
  REQUIRE(other.ok());
  REQUIRE(!(*other)->start());
  auto conns = by_connection("ari/outbound-ws-refused.jsonl");
  for (auto& [n, recs] : conns) {
    ws_peer peer;
    REQUIRE(peer.connect((*other)->local_port()));
    for (auto& r : recs) {
      if (r.dir == "upgrade-in") REQUIRE(peer.send_raw(r.data));
      if (r.dir == "handshake-out") {
        auto head = peer.read_http_head();
        CHECK(head.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0);
        CHECK(head.find("WWW-Authenticate: Basic realm=\"astra\"") != std::string::npos);
        CHECK(peer.wait_eof());
      }
    }
  }
  CHECK((*other)->stats().unauthorized == 2);
  CHECK((*other)->stats().upgrades_ok == 0);
  (*other)->stop();
}

namespace {

// Sends an upgrade request and returns the status line of the answer.
std::string status_of(std::uint16_t port, const std::string& request) {
  ws_peer peer;
  if (!peer.connect(port)) return "connect failed";
  peer.send_raw(request);
  auto head = peer.read_http_head();
  return head.substr(0, head.find("\r\n"));
}

}  // namespace

TEST_CASE("outbound admission: each refusal has its status and its count", "[ari][outbound]") {
  harness h(recorded_flow, 1);
  auto port = h.server->local_port();
  // max_connections is 1: each probe waits for the previous one's socket to be gone.
  auto status_of = [&](std::uint16_t p, const std::string& request) {
    REQUIRE(eventually([&] { return h.server->stats().live_connections == 0; }));
    return ::status_of(p, request);
  };
  CHECK(status_of(port, ws_peer::upgrade_request("/ari/events", "YXN0ZXJpc2stb3V0Ondyb25n")) ==
        "HTTP/1.1 401 Unauthorized");  // asterisk-out:wrong
  CHECK(status_of(port, ws_peer::upgrade_request("/ari/events", "")) == "HTTP/1.1 401 Unauthorized");
  CHECK(status_of(port, ws_peer::upgrade_request("/ari/events", "!!notbase64")) == "HTTP/1.1 401 Unauthorized");
  CHECK(status_of(port, ws_peer::upgrade_request("/other", recorded_auth)) == "HTTP/1.1 404 Not Found");
  CHECK(status_of(port, ws_peer::upgrade_request("/ari/events", recorded_auth, false)) == "HTTP/1.1 400 Bad Request");
  CHECK(status_of(port, "GET /ari/events HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 400 Bad Request");
  CHECK(status_of(port, "NOT HTTP AT ALL\r\n\r\n") == "");  // unparsable: closed, counted bad_request
  // Full: one held socket (max_connections 1), a second upgrade gets 503 at once.
  ws_peer held;
  REQUIRE(eventually([&] { return h.server->stats().live_connections == 0; }));
  REQUIRE(held.connect(port));
  held.send_raw(ws_peer::upgrade_request("/ari/events", recorded_auth));
  REQUIRE(held.read_http_head().rfind("HTTP/1.1 101", 0) == 0);
  CHECK(::status_of(port, ws_peer::upgrade_request("/ari/events", recorded_auth)) == "HTTP/1.1 503 Service Unavailable");
  h.server->drain();
  held.close();
  CHECK(status_of(port, ws_peer::upgrade_request("/ari/events", recorded_auth)) == "HTTP/1.1 503 Service Unavailable");
  auto s = h.server->stats();
  CHECK(s.unauthorized == 3);
  CHECK(s.not_found == 1);
  CHECK(s.bad_request == 3);
  CHECK(s.refused_full == 1);
  CHECK(s.refused_draining == 1);
  CHECK(s.upgrades_ok == 1);
  CHECK(s.registration_timeouts + s.peer_closes == 1);
}

namespace {

// An upgraded, registered per-call socket for channel `chan`.
void open_call(ws_peer& peer, std::uint16_t port, const std::string& app = "percall") {
  REQUIRE(peer.connect(port));
  peer.send_raw(ws_peer::upgrade_request("/ari/events", recorded_auth));
  REQUIRE(peer.read_http_head().rfind("HTTP/1.1 101", 0) == 0);
  peer.send_text(R"({"type":"ApplicationRegistered","application":")" + app + R"(:PJSIP/100-1","asterisk_id":"x"})");
}

std::string stasis_start(const std::string& app = "percall") {
  return R"({"type":"StasisStart","args":[],"channel":{"id":"c1","name":"PJSIP/100-1","state":"Up",)"
         R"("caller":{"name":"","number":""},"connected":{"name":"","number":""},"accountcode":"",)"
         R"("dialplan":{"context":"default","exten":"s","priority":1,"app_name":"Stasis","app_data":")" + app +
         R"("},"creationtime":"2026-12-04T13:13:15.159+0000","language":"en"},"application":")" + app +
         R"(:PJSIP/100-1"})";
}

std::string stasis_end() {
  return R"({"type":"StasisEnd","channel":{"id":"c1","name":"PJSIP/100-1","state":"Up",)"
         R"("caller":{"name":"","number":""},"connected":{"name":"","number":""},"accountcode":"",)"
         R"("dialplan":{"context":"default","exten":"s","priority":1,"app_name":"Stasis","app_data":"percall"},)"
         R"("creationtime":"2026-12-04T13:13:15.159+0000","language":"en"},"application":"percall:PJSIP/100-1"})";
}

std::string response_to(const std::string& request_frame, int status = 204) {
  auto req = json::parse(request_frame);
  return json{{"type", "RESTResponse"}, {"request_id", req["request_id"]}, {"status_code", status},
              {"reason_phrase", "No Content"}}
      .dump();
}

task<void> answer_only(ari::channel chan, ari::session&) {
  co_await chan.answer();
  co_await chan.wait(ari::event_type::ChannelDtmfReceived, 30s);
}

}  // namespace

TEST_CASE("outbound bad input: each case has its counted outcome and leaves no actor", "[ari][outbound]") {
  harness h(answer_only);
  auto port = h.server->local_port();

  SECTION("an app with no handler is closed at once (1008)") {
    ws_peer peer;
    open_call(peer, port, "nosuchapp");
    auto f = peer.read_frame();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1008);
    REQUIRE(eventually([&] { return h.idle(); }));
    CHECK(h.server->stats().no_handler == 1);
  }
  SECTION("invalid JSON as the first frame: closed (1008), counted") {
    ws_peer peer;
    REQUIRE(peer.connect(port));
    peer.send_raw(ws_peer::upgrade_request("/ari/events", recorded_auth));
    REQUIRE(peer.read_http_head().rfind("HTTP/1.1 101", 0) == 0);
    peer.send_text("{not json");
    auto f = peer.read_frame();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1008);
    REQUIRE(eventually([&] { return h.idle(); }));
    CHECK(h.server->stats().bad_first_frame == 1);
    CHECK(h.server->stats().invalid_frames == 1);
  }
  SECTION("invalid JSON and a RESTResponse for an unknown request id during a call: counted, skipped") {
    ws_peer peer;
    open_call(peer, port);
    peer.send_text(stasis_start());
    auto answer = peer.read_frame();
    REQUIRE(answer.opcode == 1);
    CHECK(json::parse(answer.payload)["uri"] == "channels/c1/answer");
    peer.send_text("[1,2,");
    peer.send_text(R"({"type":"RESTResponse","request_id":"astra-999","status_code":204,"reason_phrase":"No Content"})");
    peer.send_text(response_to(answer.payload));
    REQUIRE(eventually([&] { return h.server->stats().unmatched_rest_responses == 1; }));
    peer.send_text(stasis_end());
    auto f = peer.read_frame();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1000);
    peer.send_close(1000);
    REQUIRE(eventually([&] { return h.idle(); }));
    auto s = h.server->stats();
    CHECK(s.invalid_frames == 1);
    CHECK(s.call_ended_closes == 1);
    CHECK(h.outcome("percall/completed") == 1);
  }
  SECTION("an oversized frame closes the socket (1009) and ends the call") {
    ws_peer peer;
    open_call(peer, port);
    peer.send_text(stasis_start());
    REQUIRE(peer.read_frame().opcode == 1);  // the answer request, never answered
    peer.send_text(std::string(ari::outbound_max_frame_bytes + 1, 'x'));
    auto f = peer.read_frame();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1009);
    REQUIRE(eventually([&] { return h.idle(); }));
    auto s = h.server->stats();
    CHECK(s.oversized_frames == 1);
    CHECK(s.requests_failed_on_close == 1);
    CHECK(h.outcome("percall/completed") == 1);  // straight-line: the awaited answer ended it
  }
  SECTION("the socket closed in the middle of a request: the request fails, the actor ends") {
    ws_peer peer;
    open_call(peer, port);
    peer.send_text(stasis_start());
    REQUIRE(peer.read_frame().opcode == 1);
    peer.close();
    REQUIRE(eventually([&] { return h.idle(); }));
    auto s = h.server->stats();
    CHECK(s.peer_closes == 1);
    CHECK(s.requests_failed_on_close == 1);
    CHECK(h.outcome("percall/completed") == 1);
  }
  SECTION("no ApplicationRegistered within the deadline: closed") {
    // harness handshake_timeout is the default 5 s; a shorter server for this case.
    ari::outbound_server_config cfg;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.handshake_timeout = 200ms;
    cfg.apps.push_back({"percall", ari::client_handlers{answer_only, {}, {}, {}}});
    auto quick = ari::outbound_server::create(h.system, h.io.context(), cfg);
    REQUIRE(quick.ok());
    REQUIRE(!(*quick)->start());
    ws_peer peer;
    REQUIRE(peer.connect((*quick)->local_port()));
    peer.send_raw(ws_peer::upgrade_request("/ari/events", ""));
    REQUIRE(peer.read_http_head().rfind("HTTP/1.1 101", 0) == 0);
    auto f = peer.read_frame();
    CHECK(f.opcode == 8);
    CHECK(f.close_code() == 1008);
    REQUIRE(eventually([&] { return (*quick)->stats().live_connections == 0; }));
    CHECK((*quick)->stats().registration_timeouts == 1);
    (*quick)->stop();
  }
}

TEST_CASE("outbound per call: a handler that leaves the channel up gets it hung up", "[ari][outbound]") {
  harness h([](ari::channel chan, ari::session&) -> task<void> { co_await chan.answer(); });
  ws_peer peer;
  open_call(peer, h.server->local_port());
  peer.send_text(stasis_start());
  auto answer = peer.read_frame();
  REQUIRE(answer.opcode == 1);
  peer.send_text(response_to(answer.payload));
  auto hangup = peer.read_frame();
  REQUIRE(hangup.opcode == 1);
  auto j = json::parse(hangup.payload);
  CHECK(j["method"] == "DELETE");
  CHECK(j["uri"] == "channels/c1");
  peer.send_text(response_to(hangup.payload));
  peer.send_text(stasis_end());
  CHECK(peer.read_frame().close_code() == 1000);
  REQUIRE(eventually([&] { return h.idle(); }));
}

TEST_CASE("outbound: a handler that throws ends only its call, counted", "[ari][outbound]") {
  harness h([](ari::channel, ari::session&) -> task<void> {
    throw std::runtime_error("boom");
    co_return;
  });
  ws_peer peer;
  open_call(peer, h.server->local_port());
  peer.send_text(stasis_start());
  auto hangup = peer.read_frame();  // after_handler: hangup
  REQUIRE(hangup.opcode == 1);
  CHECK(json::parse(hangup.payload)["method"] == "DELETE");
  peer.send_text(response_to(hangup.payload));
  peer.send_text(stasis_end());
  CHECK(peer.read_frame().close_code() == 1000);
  REQUIRE(eventually([&] { return h.idle(); }));
  CHECK(h.outcome("percall/exception") == 1);
}

TEST_CASE("outbound stop: open calls are closed (1001) and their actors end", "[ari][outbound]") {
  harness h(answer_only);
  ws_peer peer;
  open_call(peer, h.server->local_port());
  peer.send_text(stasis_start());
  auto answer = peer.read_frame();
  peer.send_text(response_to(answer.payload));
  REQUIRE(eventually([&] { return h.server->stats().channel_actors == 1; }));
  h.server->stop();
  auto f = peer.read_frame();
  CHECK(f.opcode == 8);
  CHECK(f.close_code() == 1001);
  peer.send_close(1001);
  REQUIRE(eventually([&] { return h.idle(); }));
  CHECK(h.server->stats().stopped_closes == 1);
}

namespace {

// Asterisk's side of one whole per-call call against the recorded flow's four requests.
std::string play_whole_call(std::uint16_t port, const std::string& id) {
  ws_peer peer;
  if (!peer.connect(port)) return id + ": connect";
  peer.send_raw(ws_peer::upgrade_request("/ari/events", recorded_auth));
  if (peer.read_http_head().rfind("HTTP/1.1 101", 0) != 0) return id + ": upgrade";
  const std::string app = "percall:PJSIP/" + id;
  peer.send_text(json{{"type", "ApplicationRegistered"}, {"application", app}}.dump());
  auto chan = json::parse(stasis_end())["channel"];
  chan["id"] = id;
  peer.send_text(json{{"type", "StasisStart"}, {"args", json::array()}, {"channel", chan}, {"application", app}}.dump());
  for (;;) {
    auto f = peer.read_frame();
    if (f.opcode == 8) return f.close_code() == 1000 && peer.wait_eof() ? "" : id + ": close";
    if (f.opcode != 1) return id + ": frame";
    auto req = json::parse(f.payload);
    std::string uri = req["uri"];
    if (uri == "channels/" + id + "/play") {
      peer.send_text(json{{"type", "RESTResponse"}, {"request_id", req["request_id"]}, {"status_code", 201},
                          {"reason_phrase", "Created"}, {"content_type", "application/json"},
                          {"message_body", json{{"id", "pb-" + id}, {"state", "queued"}}.dump()}}
                         .dump());
      peer.send_text(json{{"type", "PlaybackFinished"}, {"playback", {{"id", "pb-" + id}, {"state", "done"}}},
                          {"application", app}}
                         .dump());
    } else if (req["method"] == "DELETE") {
      peer.send_text(response_to(f.payload));
      peer.send_text(json{{"type", "StasisEnd"}, {"channel", chan}, {"application", app}}.dump());
    } else {
      peer.send_text(response_to(f.payload));
    }
  }
}

}  // namespace

TEST_CASE("outbound per call: 40 concurrent per-call sockets, one actor each, all end", "[ari][outbound]") {
  harness h;
  constexpr int calls = 40;
  std::vector<std::string> errors(calls);
  std::vector<std::thread> threads;
  for (int i = 0; i < calls; ++i)
    threads.emplace_back([&, i] { errors[i] = play_whole_call(h.server->local_port(), "call-" + std::to_string(i)); });
  for (auto& t : threads) t.join();
  for (const auto& e : errors) CHECK(e == "");
  REQUIRE(eventually([&] { return h.idle(); }));
  auto s = h.server->stats();
  CHECK(s.per_call_sockets == calls);
  CHECK(s.call_ended_closes == calls);
  CHECK(h.outcome("percall/completed") == calls);
}
