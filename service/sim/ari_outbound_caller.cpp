// astra-sim's outbound ARI mode: Asterisk dialling astra per call (res_websocket_client,
// connection_type = per_call_config), as recorded in fixtures/ari/outbound-ws-per-call.jsonl:
// upgrade with Basic credentials and `Sec-WebSocket-Protocol: ari`, ApplicationRegistered for
// "<app>:<channel>", StasisStart after the setup delay (Asterisk polls: about 500 ms), REST
// answered over the socket (RESTResponse with the request_id), StasisEnd once the app hangs
// up, then the socket closed (a caller still there after --hold-ms drops the socket). A refused upgrade is
// retried (reconnect_attempts, reconnect_interval) and then counted as STASISSTATUS=FAILED.
// Runs on the simulator's single io_context thread.
#include <utility>  // before Asio: awaitable.hpp uses std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "service/sim/sim.hpp"

namespace astra::sim {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using json = nlohmann::json;

constexpr int reconnect_attempts = 2;                // websocket_client.conf of the recording
constexpr auto reconnect_interval = 500ms;
constexpr auto connection_timeout = 2s;              // TCP connect + upgrade
constexpr std::size_t max_frame_bytes = 1024 * 1024;  // what the simulator reads from astra

std::string base64(std::string_view in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {a[v >> 18 & 63], a[v >> 12 & 63], a[v >> 6 & 63], a[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {a[v >> 18 & 63], a[v >> 12 & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {a[v >> 18 & 63], a[v >> 12 & 63], a[v >> 6 & 63], '='};
  }
  return out;
}

json channel_json(const std::string& id, const std::string& name, const std::string& app) {
  return {{"id", id},
          {"name", name},
          {"state", "Up"},
          {"protocol_id", ""},
          {"caller", {{"name", ""}, {"number", "100"}}},
          {"connected", {{"name", ""}, {"number", ""}}},
          {"accountcode", ""},
          {"dialplan", {{"context", "default"}, {"exten", app}, {"priority", 2}, {"app_name", "Stasis"}, {"app_data", app}}},
          {"creationtime", iso_timestamp()},
          {"language", "en"}};
}

class outbound_caller : public std::enable_shared_from_this<outbound_caller> {
 public:
  explicit outbound_caller(context& ctx) : ctx_(ctx), tick_(ctx.io) {}
  void start() { asio::co_spawn(ctx_.io, generate(shared_from_this()), asio::detached); }
  bool done() const { return ctx_.opt.ari_out_calls > 0 && started_ >= ctx_.opt.ari_out_calls && active_ == 0; }

 private:
  static asio::awaitable<void> generate(std::shared_ptr<outbound_caller> self) {
    auto& opt = self->ctx_.opt;
    auto period = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / opt.ari_out_cps));
    auto next = clock::now();
    while (!self->ctx_.stopping && (opt.ari_out_calls == 0 || self->started_ < opt.ari_out_calls)) {
      if (self->active_ < opt.concurrency_ari_out) {
        ++self->started_;
        ++self->active_;
        asio::co_spawn(self->ctx_.io, call(self, self->started_), asio::detached);
      }
      next += period;
      self->tick_.expires_at(next);
      boost::system::error_code ec;
      co_await self->tick_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // One call: the upgrade with Asterisk's retries, then the Stasis session.
  static asio::awaitable<void> call(std::shared_ptr<outbound_caller> self, std::uint64_t n) {
    auto& ctx = self->ctx_;
    auto& st = ctx.stats;
    ++st.ari_out_calls_started;
    bool ok = false;
    for (int attempt = 0; attempt <= reconnect_attempts && !ctx.stopping && !ok; ++attempt) {
      if (attempt > 0) {
        asio::steady_timer wait(ctx.io, reconnect_interval);
        boost::system::error_code ec;
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      ok = co_await session(self, n);
    }
    if (ok) ++st.ari_out_calls_completed;
    else ++st.ari_out_calls_failed;  // Stasis() returns with STASISSTATUS=FAILED
    --self->active_;
  }

  // False when the upgrade was refused or failed (retried); true once the call ran.
  static asio::awaitable<bool> session(std::shared_ptr<outbound_caller> self, std::uint64_t n) {
    auto& ctx = self->ctx_;
    auto& opt = ctx.opt;
    auto& st = ctx.stats;
    websocket::stream<beast::tcp_stream> ws(ctx.io);
    boost::system::error_code ec;
    beast::get_lowest_layer(ws).expires_after(connection_timeout);
    auto ep = tcp::endpoint(asio::ip::make_address(opt.ari_out_target.host, ec), opt.ari_out_target.port);
    if (ec) co_return false;
    co_await beast::get_lowest_layer(ws).async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      ++st.ari_out_upgrade_failures;
      co_return false;
    }
    auto auth = "Basic " + base64(opt.ari_out_user + ":" + opt.ari_out_password);
    ws.set_option(websocket::stream_base::decorator([auth](websocket::request_type& req) {
      req.set(beast::http::field::authorization, auth);
      req.set(beast::http::field::sec_websocket_protocol, "ari");
    }));
    ws.read_message_max(max_frame_bytes);
    websocket::response_type res;
    co_await ws.async_handshake(res, opt.ari_out_target.host + ":" + std::to_string(opt.ari_out_target.port),
                                opt.ari_out_path, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      ++st.ari_out_upgrade_failures;
      co_return false;
    }
    beast::get_lowest_layer(ws).expires_never();
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    const std::string id = "sim-out-" + std::to_string(n);
    const std::string name = "PJSIP/sim-" + std::to_string(n);
    const std::string app = opt.ari_out_app + ":" + name;
    ws.text(true);
    auto send = [&](const json& j) -> asio::awaitable<bool> {
      boost::system::error_code wec;
      co_await ws.async_write(asio::buffer(j.dump()), asio::redirect_error(asio::use_awaitable, wec));
      co_return !wec;
    };
    json registered = {{"type", "ApplicationRegistered"}, {"timestamp", iso_timestamp()}, {"application", app}};
    co_await send(registered);
    if (opt.ari_out_setup.count() > 0) {  // Asterisk polls for the registration before StasisStart
      asio::steady_timer setup(ctx.io, opt.ari_out_setup);
      co_await setup.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    json start = {{"type", "StasisStart"}, {"timestamp", iso_timestamp()}, {"args", json::array()},
                  {"channel", channel_json(id, name, opt.ari_out_app)}, {"application", app}};
    co_await send(start);
    // The caller hangs up after --hold-ms unless the app hung up first.
    auto ended = std::make_shared<bool>(false);
    auto hangup = std::make_shared<asio::steady_timer>(ctx.io, opt.ari_call_hold);
    auto* wsp = &ws;
    // A caller hang-up is played as the socket's loss (never a second writer beside the loop).
    hangup->async_wait([wsp, ended](boost::system::error_code e) {
      if (e || *ended) return;
      *ended = true;
      boost::system::error_code ignored;
      beast::get_lowest_layer(*wsp).socket().close(ignored);
    });
    beast::flat_buffer buf;
    for (;;) {
      co_await ws.async_read(buf, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;  // closed (by astra after StasisEnd, or by us)
      auto req = json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
      buf.consume(buf.size());
      if (!req.is_object() || req.value("type", "") != "RESTRequest" || *ended) continue;
      ++st.ari_out_requests;
      const std::string uri = req.value("uri", "");
      const std::string method = req.value("method", "");
      json reply = {{"type", "RESTResponse"}, {"transaction_id", ""}, {"request_id", req["request_id"]},
                    {"status_code", 204}, {"reason_phrase", "No Content"}, {"uri", uri}, {"application", app}};
      std::vector<json> after;
      if (uri.size() > 5 && uri.compare(uri.size() - 5, 5, "/play") == 0) {
        std::string pb = "sim-pb-" + std::to_string(n);
        for (const auto& q : req.value("query_strings", json::array()))
          if (q.value("name", "") == "playbackId") pb = q.value("value", pb);
        json playback = {{"id", pb}, {"media_uri", "sound:beep"}, {"target_uri", "channel:" + id}, {"state", "queued"}};
        reply["status_code"] = 201;
        reply["reason_phrase"] = "Created";
        reply["content_type"] = "application/json";
        reply["message_body"] = playback.dump();
        playback["state"] = "done";
        after.push_back({{"type", "PlaybackFinished"}, {"timestamp", iso_timestamp()}, {"playback", playback}, {"application", app}});
      } else if (method == "DELETE" && uri == "channels/" + id) {
        *ended = true;
        after.push_back({{"type", "StasisEnd"}, {"timestamp", iso_timestamp()},
                         {"channel", channel_json(id, name, opt.ari_out_app)}, {"application", app}});
      } else if (method == "GET" && uri.find("/variable") != std::string::npos) {
        reply["status_code"] = 200;
        reply["reason_phrase"] = "OK";
        reply["content_type"] = "application/json";
        reply["message_body"] = R"({"value":""})";
      } else if (method == "POST" && uri == "bridges") {
        reply["status_code"] = 200;
        reply["reason_phrase"] = "OK";
        reply["content_type"] = "application/json";
        std::string bid = "sim-bridge-" + std::to_string(n);
        for (const auto& q : req.value("query_strings", json::array()))
          if (q.value("name", "") == "bridgeId") bid = q.value("value", bid);
        reply["message_body"] = json{{"id", bid}, {"bridge_type", "mixing"}, {"channels", json::array()}}.dump();
      }
      co_await send(reply);
      for (const auto& e : after) co_await send(e);
      if (*ended) {
        hangup->cancel();
        co_await ws.async_close(websocket::close_code::normal, asio::redirect_error(asio::use_awaitable, ec));
        break;
      }
    }
    hangup->cancel();
    co_return true;
  }

  context& ctx_;
  asio::steady_timer tick_;
  std::uint64_t started_ = 0;
  std::size_t active_ = 0;
};

std::shared_ptr<outbound_caller> g_caller;

}  // namespace

bool start_ari_outbound_caller(context& ctx) {
  g_caller = std::make_shared<outbound_caller>(ctx);
  g_caller->start();
  ctx.stop_handlers.push_back([] {});
  return true;
}

bool ari_outbound_caller_done(const context&) { return g_caller && g_caller->done(); }

void destroy_ari_outbound_caller() { g_caller.reset(); }

}  // namespace astra::sim
