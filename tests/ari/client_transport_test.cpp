// ARI transport against the fake ARI server: the recorded REST exchanges replayed through
// the HTTP pool, typed error statuses, pool bounds and deadlines, the event WebSocket
// (handshake, frames in order, refusals, reconnect) and REST over the WebSocket.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/ari/event_stream.hpp"
#include "actors/ari/http_pool.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/ari/fake_ari_server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fixtures.hpp"

using namespace astra;
using namespace std::chrono_literals;

namespace {

ari::client_config config_for(const test::fake_ari_server& server) {
  ari::client_config cfg;
  cfg.url = server.url();
  cfg.user = "asterisk";
  cfg.password = "asterisk";
  cfg.apps = {"astra-test"};
  cfg.request_timeout = 5s;
  cfg.reconnect.initial = 50ms;
  cfg.reconnect.max = 200ms;
  return cfg;
}

// The callbacks own their promise: they may still run after a failed wait left the test.
result<ari::rest_response> call(ari::rest_transport& t, ari::rest_request req, std::chrono::milliseconds timeout = {}) {
  auto p = std::make_shared<std::promise<result<ari::rest_response>>>();
  auto f = p->get_future();
  t.send(std::move(req), [p](result<ari::rest_response> r) { p->set_value(std::move(r)); }, timeout);
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

result<ari::rest_response> call_ws(ari::event_stream& s, ari::rest_request req) {
  auto p = std::make_shared<std::promise<result<ari::rest_response>>>();
  auto f = p->get_future();
  s.send_rest(std::move(req), [p](result<ari::rest_response> r) { p->set_value(std::move(r)); });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

using astra::test::eventually;

// The body of the first HTTP response in recorded raw bytes (Content-Length bounded).
test::fake_reply reply_from_raw(const std::string& raw) {
  test::fake_reply r;
  r.status = std::stoi(raw.substr(9, 3));
  auto header_end = raw.find("\r\n\r\n");
  auto headers = raw.substr(0, header_end);
  auto cl = headers.find("Content-Length: ");
  auto len = std::stoul(headers.substr(cl + 16));
  auto ct = headers.find("Content-type: ");
  r.content_type = headers.substr(ct + 14, headers.find("\r\n", ct) - ct - 14);
  r.body = raw.substr(header_end + 4, len);
  return r;
}

}  // namespace

TEST_CASE("every recorded REST exchange replays through the HTTP pool with typed errors", "[ari][http]") {
  test::fake_ari_server server;
  auto records = test::load_fixture("ari/stasis-call-lifecycle.jsonl");
  server.load_rest_records(records);
  io_runtime io(2);
  auto pool = ari::http_pool::create(io.context(), config_for(server));
  REQUIRE(pool.ok());

  std::size_t replayed = 0, errors = 0;
  for (const auto& rec : records) {
    if (rec.dir != "rest") continue;
    auto j = nlohmann::json::parse(rec.json);
    int status = j["status"].get<int>();
    if (status == 401) continue;  // replayed below with bad credentials
    std::optional<std::string> body;
    if (j["body"].is_object()) body = j["body"].dump();
    auto req = ari::make_raw_request(j["method"].get<std::string>(), j["path"].get<std::string>(), body);
    auto r = call(**pool, req);
    INFO(j["method"].get<std::string>() << " " << j["path"].get<std::string>());
    REQUIRE(r.ok());
    CHECK(r->status == status);
    std::string expected = j["response"].is_string() ? j["response"].get<std::string>() : "";
    CHECK(r->body == expected);
    auto checked = ari::check_status(r);
    if (status >= 300) {
      ++errors;
      REQUIRE_FALSE(checked.ok());
      CHECK(ari::http_status(checked.error()) == status);
      CHECK(checked.error().code.category() == ari::http_status_category());
      CHECK(checked.error().detail == nlohmann::json::parse(expected)["message"].get<std::string>());
    } else {
      CHECK(checked.ok());
    }
    ++replayed;
  }
  CHECK(replayed == 30);
  CHECK(errors == 8);
  // Requests reached the server with their recorded paths and decoded query values.
  auto seen = server.requests();
  REQUIRE(seen.size() == replayed);
  auto originate = std::find_if(seen.begin(), seen.end(), [](const test::fake_request& r) {
    return r.method == "POST" && r.path == "/ari/channels" && !r.query.empty() && r.query[0].first == "endpoint" &&
           r.query.size() > 3;
  });
  REQUIRE(originate != seen.end());
  CHECK(originate->describe() ==
        "POST /ari/channels?endpoint=Local/wait@default&app=astra-test&appArgs=in,bound&callerId=Astra <5550199>"
        "&channelId=astra-chan-1");
  CHECK(originate->authorization == "Basic YXN0ZXJpc2s6YXN0ZXJpc2s=");  // the recorded client's header
  // Keep-alive: the replay used at most the pool's connections.
  CHECK(server.http_connections() <= ari::default_max_connections);

  SECTION("wrong credentials give Asterisk's 401") {
    auto cfg = config_for(server);
    cfg.password = "wrong";
    auto bad = ari::http_pool::create(io.context(), cfg);
    REQUIRE(bad.ok());
    auto r = ari::check_status(call(**bad, ari::make_raw_request("GET", "channels")));
    REQUIRE_FALSE(r.ok());
    CHECK(ari::http_status(r.error()) == 401);
    CHECK(r.error().detail == "Authentication required");
  }
}

TEST_CASE("HTTP pool: bounded connections, bounded queue, deadlines, connect errors", "[ari][http]") {
  test::fake_ari_server server;
  server.add_reply("GET", "/ari/asterisk/ping", {200, "application/json", R"({"ping":"pong"})"});
  io_runtime io(2);

  SECTION("concurrent requests share at most max_connections sockets") {
    auto cfg = config_for(server);
    cfg.max_connections = 2;
    auto pool = ari::http_pool::create(io.context(), cfg);
    REQUIRE(pool.ok());
    constexpr int n = 40;
    struct tally {  // owned by the callbacks too: they may run after a failed wait
      std::mutex mu;
      std::vector<int> statuses;
      std::promise<void> all;
    };
    auto t = std::make_shared<tally>();
    for (int i = 0; i < n; ++i)
      (*pool)->send(ari::make_raw_request("GET", "/ari/asterisk/ping"), [t](result<ari::rest_response> r) {
        std::lock_guard lock(t->mu);
        t->statuses.push_back(r ? r->status : -1);
        if (t->statuses.size() == n) t->all.set_value();
      });
    REQUIRE(t->all.get_future().wait_for(10s) == std::future_status::ready);
    CHECK(std::count(t->statuses.begin(), t->statuses.end(), 200) == n);
    CHECK(server.http_connections() <= 2);
    CHECK((*pool)->open_connections() <= 2);
    CHECK((*pool)->dropped() == 0);
  }

  SECTION("a full queue refuses with queue_full and counts the drop") {
    auto cfg = config_for(server);
    cfg.max_connections = 1;
    cfg.max_pending_requests = 3;
    server.set_reply_delay(100ms);
    auto pool = ari::http_pool::create(io.context(), cfg);
    REQUIRE(pool.ok());
    struct tally {  // owned by the callbacks too: they may run after a failed wait
      std::mutex mu;
      int ok = 0, full = 0, done = 0;
      std::promise<void> all;
    };
    auto t = std::make_shared<tally>();
    for (int i = 0; i < 10; ++i)
      (*pool)->send(ari::make_raw_request("GET", "asterisk/ping"), [t](result<ari::rest_response> r) {
        std::lock_guard lock(t->mu);
        if (r) ++t->ok;
        else if (r.code() == make_error_code(ari::ari_errc::queue_full)) ++t->full;
        if (++t->done == 10) t->all.set_value();
      });
    REQUIRE(t->all.get_future().wait_for(10s) == std::future_status::ready);
    CHECK(t->ok == 4);  // one in flight + three queued
    CHECK(t->full == 6);
    CHECK((*pool)->dropped() == 6);
  }

  SECTION("a reply slower than the deadline is a timeout") {
    server.set_reply_delay(600ms);
    auto pool = ari::http_pool::create(io.context(), config_for(server));
    REQUIRE(pool.ok());
    auto r = call(**pool, ari::make_raw_request("GET", "asterisk/ping"), 100ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == make_error_code(ari::ari_errc::timeout));
  }

  SECTION("nothing listening is connect_failed") {
    auto cfg = config_for(server);
    cfg.url = "http://127.0.0.1:1";
    auto pool = ari::http_pool::create(io.context(), cfg);
    REQUIRE(pool.ok());
    auto r = call(**pool, ari::make_raw_request("GET", "asterisk/ping"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == make_error_code(ari::ari_errc::connect_failed));
  }

  SECTION("bad URLs are refused at construction") {
    auto cfg = config_for(server);
    for (const char* url : {"ftp://x:1", "127.0.0.1:8088", "http://user:pw@h:8088", "http://h:80x"}) {
      cfg.url = url;
      auto pool = ari::http_pool::create(io.context(), cfg);
      CHECK_FALSE(pool.ok());
    }
    cfg.url = "https://127.0.0.1:8089/asterisk/ari/";
    auto ep = ari::parse_endpoint(cfg.url);
    REQUIRE(ep.ok());
    CHECK(ep->tls);
    CHECK(ep->target("/ari/channels") == "/asterisk/ari/channels");
  }
}

TEST_CASE("event WebSocket: handshake, frames in order, refusals, reconnect", "[ari][ws]") {
  test::fake_ari_server server;
  io_runtime io(2);
  std::mutex mu;
  std::vector<std::string> frames;
  std::vector<astra::failure> downs;
  std::vector<std::chrono::milliseconds> retries;
  ari::event_stream_callbacks cb;
  cb.frame = [&](std::string f) {
    std::lock_guard lock(mu);
    frames.push_back(std::move(f));
  };
  cb.disconnected = [&](const astra::failure& why, std::chrono::milliseconds retry) {
    std::lock_guard lock(mu);
    downs.push_back(why);
    retries.push_back(retry);
  };
  auto cfg = config_for(server);

  SECTION("recorded frames arrive whole and in order; the drop is followed by a reconnect") {
    cfg.apps = {"astra-test", "astra-other"};
    cfg.subscribe_all = true;
    auto stream = ari::event_stream::create(io.context(), cfg, cb);
    REQUIRE(stream.ok());
    (*stream)->start();
    REQUIRE(server.wait_ws_handshakes(1, 5s));
    CHECK(server.last_ws_target() == "/ari/events?app=astra-test,astra-other&subscribeAll=true");
    CHECK(server.last_ws_authorization() == "Basic YXN0ZXJpc2s6YXN0ZXJpc2s=");
    REQUIRE(eventually([&] { return (*stream)->connected(); }));
    std::vector<std::string> recorded;
    for (const auto& fixture : test::list_fixtures("ari"))
      for (const auto& rec : test::load_fixture(fixture))
        if (rec.dir == "ws-in" && rec.data.find("RESTResponse") == std::string::npos) recorded.push_back(rec.data);
    REQUIRE(recorded.size() > 50);
    for (const auto& f : recorded) server.push_event(f);
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return frames.size() == recorded.size();
    }));
    {
      std::lock_guard lock(mu);
      CHECK(frames == recorded);
    }
    server.drop_websockets();
    REQUIRE(server.wait_ws_handshakes(2, 5s));
    REQUIRE(eventually([&] { return (*stream)->connects() == 2; }));
    {
      std::lock_guard lock(mu);
      REQUIRE(downs.size() == 1);
      CHECK(retries[0] >= 0ms);
      CHECK(retries[0] <= cfg.reconnect.max);
    }
    server.push_event(recorded.front());
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return frames.size() == recorded.size() + 1;
    }));
    (*stream)->stop();
  }

  SECTION("refused upgrades report Asterisk's words and retry") {
    auto raws = test::load_fixture("ari/websocket-handshake-errors.jsonl");
    std::vector<test::fake_reply> refusals;
    for (const auto& rec : raws)
      if (rec.dir == "raw-in") refusals.push_back(reply_from_raw(rec.data));
    REQUIRE(refusals.size() == 2);
    server.refuse_upgrades(refusals[0]);  // 400 HTML: missing app
    auto stream = ari::event_stream::create(io.context(), cfg, cb);
    REQUIRE(stream.ok());
    (*stream)->start();
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return downs.size() >= 2;  // refused, retried, refused again
    }));
    {
      std::lock_guard lock(mu);
      CHECK(downs[0].code == make_error_code(ari::ari_errc::upgrade_refused));
      CHECK(downs[0].detail == "400 HTTP request is missing param: [app]");
    }
    server.refuse_upgrades(std::nullopt);
    server.set_credentials("asterisk", "other");
    {
      std::lock_guard lock(mu);
      downs.clear();
    }
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return !downs.empty();
    }));
    {
      std::lock_guard lock(mu);
      CHECK(downs[0].code == make_error_code(ari::ari_errc::upgrade_refused));
      CHECK(downs[0].detail == "401 Authentication required");
    }
    server.set_credentials("asterisk", "asterisk");
    REQUIRE(server.wait_ws_handshakes(1, 5s));
    REQUIRE(eventually([&] { return (*stream)->connected(); }));
    (*stream)->stop();
  }

  SECTION("set_reconnect(false): one loss, reported with retry_in < 0") {
    auto stream = ari::event_stream::create(io.context(), cfg, cb);
    REQUIRE(stream.ok());
    (*stream)->set_reconnect(false);
    (*stream)->start();
    REQUIRE(server.wait_ws_handshakes(1, 5s));
    REQUIRE(eventually([&] { return (*stream)->connected(); }));
    server.drop_websockets();
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return !downs.empty();
    }));
    std::this_thread::sleep_for(200ms);
    CHECK(server.ws_handshakes() == 1);
    std::lock_guard lock(mu);
    CHECK(retries.at(0) < 0ms);
  }
}

TEST_CASE("REST over the event WebSocket replays the recorded exchange", "[ari][ws-rest]") {
  test::fake_ari_server server;
  // Table from the recorded RESTRequest frames and the RESTResponses with the same request_id.
  auto records = test::load_fixture("ari/rest-over-websocket.jsonl");
  std::map<std::string, nlohmann::json> requests, responses;
  for (const auto& rec : records) {
    auto j = nlohmann::json::parse(rec.data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    if (rec.dir == "ws-out-text" && j.value("type", "") == "RESTRequest") requests[j["request_id"]] = j;
    if (rec.dir == "ws-in" && j.value("type", "") == "RESTResponse" && !j["request_id"].get<std::string>().empty())
      responses[j["request_id"]] = j;
  }
  REQUIRE(requests.size() == 7);
  std::vector<std::pair<ari::rest_request, nlohmann::json>> cases;
  for (auto& [id, req] : requests) {
    auto& res = responses.at(id);
    std::string uri = req["uri"];
    if (uri.front() == '/') continue;  // the client never sends a leading slash (Asterisk: 405)
    ari::rest_request r;
    r.method = req["method"];
    r.path = "/ari/" + uri;
    std::string table_path = r.path;
    if (req.contains("query_strings")) {
      for (auto& q : req["query_strings"]) r.query.emplace_back(q["name"], q["value"]);
      table_path += "?" + ari::encode_query_pairs(r.query);
    }
    if (req.contains("message_body")) r.body = req["message_body"].get<std::string>();
    server.add_reply(r.method, table_path,
                     {res["status_code"].get<int>(), res.value("content_type", ""), res.value("message_body", "")});
    cases.emplace_back(std::move(r), res);
  }
  REQUIRE(cases.size() == 6);

  io_runtime io(2);
  auto cfg = config_for(server);
  cfg.rest_over_websocket = true;
  cfg.probe_timeout = 300ms;
  std::mutex mu;
  std::vector<std::pair<int, std::string>> unmatched;
  std::vector<bool> probes;
  ari::event_stream_callbacks cb;
  cb.unmatched_rest_response = [&](int status, std::string message) {
    std::lock_guard lock(mu);
    unmatched.emplace_back(status, std::move(message));
  };
  cb.rest_probe = [&](bool ok) {
    std::lock_guard lock(mu);
    probes.push_back(ok);
  };

  SECTION("supported: same statuses, bodies and typed errors as recorded") {
    auto stream = ari::event_stream::create(io.context(), cfg, cb);
    REQUIRE(stream.ok());
    (*stream)->start();
    REQUIRE(eventually([&] { return (*stream)->rest_supported(); }));
    for (auto& [req, res] : cases) {
      INFO(req.method << " " << req.path);
      auto r = call_ws(**stream, req);
      REQUIRE(r.ok());
      CHECK(r->status == res["status_code"].get<int>());
      CHECK(r->body == res.value("message_body", ""));
      auto checked = ari::check_status(r);
      if (r->status >= 300) {
        REQUIRE_FALSE(checked.ok());
        CHECK(ari::http_status(checked.error()) == r->status);
        CHECK(checked.error().detail == nlohmann::json::parse(res["message_body"].get<std::string>())["message"]);
      }
    }
    auto seen = server.requests();
    CHECK(std::all_of(seen.begin(), seen.end(), [](const test::fake_request& r) { return r.over_websocket; }));
    // Asterisk's replies to malformed frames have no request_id: reported, not matched.
    REQUIRE((*stream)->send_text(R"({"type": "Bogus"})"));
    REQUIRE((*stream)->send_text("not json"));
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return unmatched.size() == 2;
    }));
    std::lock_guard lock(mu);
    CHECK(unmatched[0] == std::make_pair(400, std::string("Unknown request type.")));
    CHECK(unmatched[1] == std::make_pair(400, std::string("Failed to parse request message JSON")));
    CHECK(probes == std::vector<bool>{true});
  }

  SECTION("unsupported (old Asterisk): the probe fails, requests time out, nothing hangs") {
    server.set_ws_rest(false);
    auto stream = ari::event_stream::create(io.context(), cfg, cb);
    REQUIRE(stream.ok());
    (*stream)->start();
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return !probes.empty();
    }));
    CHECK_FALSE((*stream)->rest_supported());
    std::lock_guard lock(mu);
    CHECK(probes == std::vector<bool>{false});
  }

  SECTION("not connected: not_connected at once") {
    auto stream = ari::event_stream::create(io.context(), cfg, cb);
    REQUIRE(stream.ok());
    auto r = call_ws(**stream, cases[0].first);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == make_error_code(ari::ari_errc::not_connected));
  }
}
