// ARI server of astra-sim: REST (channels, bridges, playbacks, variables, asterisk/info,
// applications) with Asterisk 22's JSON bodies and errors, Basic auth, and the /ari/events
// WebSocket carrying the events Asterisk sends (templates and sequences from
// tests/data/asterisk/fixtures/ari). Thread affinity: the io_context thread only.
#include "service/sim/sim.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <iostream>
#include <set>

namespace astra::sim {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using json = nlohmann::ordered_json;

// Limits (sim policy, Asterisk-like).
constexpr auto kRequestTimeout = 30s;             // read of one HTTP request (incl. idle keep-alive)
constexpr auto kWsWriteTimeout = 1s;              // a WebSocket frame write that stalls longer cuts the client
constexpr auto kWsIdleTimeout = 60s;              // no frame/pong for this long: beast closes (pings at half)
constexpr std::size_t kMaxBodyBytes = 64 * 1024;  // request body limit
constexpr std::size_t kMaxQueuedFrames = 8192;    // per WebSocket; beyond: frames dropped (counted)
constexpr std::size_t kMaxChannels = 20000;       // live channel model bound; POST /channels beyond -> 500
constexpr auto kEventDelay = 20ms;                // REST reply -> its events
constexpr std::string_view kAsteriskId = "02:fc:00:00:00:01";

std::string base64_encode(std::string_view in) {
  static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
    out += '=';
  }
  return out;
}

std::string url_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && std::isxdigit((unsigned char)in[i + 1]) && std::isxdigit((unsigned char)in[i + 2])) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

struct request_target {
  std::vector<std::string> segments;  // after "/ari"
  std::map<std::string, std::string> params;
  bool trailing_slash = false;
  bool under_ari = false;
};

request_target parse_target(std::string_view target) {
  request_target t;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    auto query = target.substr(q + 1);
    std::size_t pos = 0;
    while (pos <= query.size()) {
      auto amp = query.find('&', pos);
      if (amp == std::string_view::npos) amp = query.size();
      auto kv = query.substr(pos, amp - pos);
      if (!kv.empty()) {
        auto eq = kv.find('=');
        t.params[url_decode(kv.substr(0, eq))] = eq == std::string_view::npos ? "" : url_decode(kv.substr(eq + 1));
      }
      pos = amp + 1;
    }
  }
  t.under_ari = path == "/ari" || path.rfind("/ari/", 0) == 0;
  if (!t.under_ari) return t;
  path.remove_prefix(4);
  t.trailing_slash = path.size() > 1 && path.back() == '/';
  std::size_t pos = 0;
  while (pos < path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) t.segments.push_back(url_decode(path.substr(pos, slash - pos)));
    pos = slash + 1;
  }
  return t;
}

struct reply {
  http::status status = http::status::ok;
  std::string body;  // JSON text, empty for 204
};

reply error(http::status s, std::string_view message) {
  return {s, json{{"message", message}}.dump()};
}
reply ok(const json& j, http::status s = http::status::ok) { return {s, j.dump()}; }
reply no_content() { return {http::status::no_content, ""}; }

class ws_session;

struct channel_state {
  json model;  // Asterisk's Channel object
  std::map<std::string, std::string> vars;
  std::string app;     // Stasis app it is in ("" = not in Stasis)
  std::string bridge;  // bridge id it is in
  std::shared_ptr<asio::steady_timer> hold;  // self-hangup of generated calls
};

class ari_server {
 public:
  explicit ari_server(context& ctx) : ctx_(ctx), acceptor_(ctx.io), generator_(ctx.io) { load_fixtures(); }

  bool listen() {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(ctx_.opt.ari_listen.host, ec);
    if (ec) return fail("bad --ari-listen address", ec);
    tcp::endpoint ep{addr, ctx_.opt.ari_listen.port};
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("cannot listen on ARI " + ctx_.opt.ari_listen.host + ":" + std::to_string(ctx_.opt.ari_listen.port), ec);
    expected_auth_ = "Basic " + base64_encode(ctx_.opt.ari_user + ":" + ctx_.opt.ari_password);
    asio::co_spawn(ctx_.io, accept_loop(), asio::detached);
    asio::co_spawn(ctx_.io, generate_calls(), asio::detached);
    ctx_.stop_handlers.push_back([this] { stop(); });
    return true;
  }

  context& ctx() { return ctx_; }
  bool authorized(const http::request<http::string_body>& req, const request_target& t) const {
    auto it = req.find(http::field::authorization);
    if (it != req.end() && it->value() == expected_auth_) return true;
    auto key = t.params.find("api_key");
    return key != t.params.end() && key->second == ctx_.opt.ari_user + ":" + ctx_.opt.ari_password;
  }
  reply handle(http::verb method, const request_target& t, const json& body);
  void attach(const std::shared_ptr<ws_session>& s, const std::string& app);
  void detach(const std::shared_ptr<ws_session>& s);
  void emit(const std::string& app, json event);
  void track_connection(const std::shared_ptr<beast::tcp_stream>& s) { connections_.insert(s); }
  void untrack_connection(const std::shared_ptr<beast::tcp_stream>& s) { connections_.erase(s); }

 private:
  bool fail(const std::string& what, const boost::system::error_code& ec) {
    std::cerr << "astra-sim: " << what << ": " << ec.message() << "\n";
    return false;
  }
  void stop();
  void load_fixtures() {
    for (const auto& r : fixture("ari/stasis-call-lifecycle.jsonl")) {
      if (r.dir == "rest" && r.method == "GET" && r.path == "/ari/asterisk/info" && r.status == 200)
        asterisk_info_ = json::parse(r.response);
      if (r.dir == "rest" && r.method == "POST" && r.path == "/ari/bridges" && r.status == 200)
        bridge_template_ = json::parse(r.response);
      if (r.dir == "rest" && r.method == "POST" && r.path.rfind("/ari/channels?endpoint=Local", 0) == 0)
        channel_template_ = json::parse(r.response);
    }
    for (const auto& r : fixture("ari/dialplan-stasis-hangup.jsonl"))
      if (r.dir == "ws-in" && stasis_channel_template_.is_null()) {
        auto j = json::parse(r.data);
        if (j.value("type", "") == "StasisStart") stasis_channel_template_ = j["channel"];
      }
    if (asterisk_info_.is_null() || bridge_template_.is_null() || channel_template_.is_null() ||
        stasis_channel_template_.is_null())
      throw std::runtime_error("astra-sim: ARI fixtures lack the REST/event templates");
  }
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> generate_calls();
  void after(clock::duration d, std::function<void()> fn) {
    auto t = std::make_shared<asio::steady_timer>(ctx_.io, d);
    t->async_wait([t, fn = std::move(fn), this](auto ec) {
      if (!ec && !ctx_.stopping) fn();
    });
  }
  std::string next_id() {
    return std::to_string(static_cast<long long>(epoch_seconds())) + "." + std::to_string(id_seq_++);
  }
  json channel_event(std::string_view type, const channel_state& c) {
    json e;
    e["type"] = type;
    e["timestamp"] = iso_timestamp();
    e["channel"] = c.model;
    return e;
  }
  channel_state* find_channel(const std::string& id) {
    auto it = channels_.find(id);
    return it == channels_.end() ? nullptr : &it->second;
  }
  channel_state& create_channel(const std::string& id, const std::string& name, const json& caller, const std::string& app,
                                const std::vector<std::string>& args, bool from_dialplan);
  void hangup(const std::string& id, int cause, bool soft);
  void start_playback(const std::string& playback_id, const std::string& app);
  json application_json(const std::string& app) const {
    json ids = json::array(), bridges = json::array();
    for (const auto& [id, c] : channels_)
      if (c.app == app) ids.push_back(id);
    for (const auto& [id, b] : bridges_) bridges.push_back(id);
    return json{{"name", app},       {"channel_ids", ids},     {"bridge_ids", bridges}, {"endpoint_ids", json::array()},
                {"device_names", json::array()}, {"events_allowed", json::array()}, {"events_disallowed", json::array()}};
  }

  reply channels(http::verb m, const request_target& t, const std::map<std::string, std::string>& p);
  reply bridges(http::verb m, const request_target& t, const std::map<std::string, std::string>& p);
  reply playbacks(http::verb m, const request_target& t);
  reply play(const std::string& target_uri, const std::string& app, const std::map<std::string, std::string>& p,
             std::string playback_id);

  context& ctx_;
  tcp::acceptor acceptor_;
  asio::steady_timer generator_;
  std::string expected_auth_;
  json asterisk_info_, bridge_template_, channel_template_, stasis_channel_template_;
  std::map<std::string, channel_state> channels_;
  std::map<std::string, json> bridges_;
  std::map<std::string, json> playbacks_;
  std::map<std::string, std::string> playback_app_;
  std::map<std::string, std::deque<std::string>> pending_media_;  // media after the current one
  std::map<std::string, std::string> global_vars_;
  std::multimap<std::string, std::shared_ptr<ws_session>> subscribers_;  // app -> sessions
  std::set<std::shared_ptr<beast::tcp_stream>> connections_;
  std::uint64_t id_seq_ = 100, chan_seq_ = 0x31, playback_seq_ = 1;
};

class ws_session : public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(ari_server& server, beast::tcp_stream stream)
      : server_(server), ws_(std::move(stream)), write_deadline_(ws_.get_executor()), wake_(ws_.get_executor()) {
    write_deadline_.expires_at(clock::time_point::max());
    wake_.expires_at(clock::time_point::max());
  }

  asio::awaitable<void> run(std::shared_ptr<ws_session> self, http::request<http::string_body> req, std::string app) {
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout opt{std::chrono::seconds(10), kWsIdleTimeout, true};
    ws_.set_option(opt);
    // Asterisk's 101 carries only Upgrade, Connection and Sec-WebSocket-Accept.
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) { res.erase(http::field::server); }));
    boost::system::error_code ec;
    co_await ws_.async_accept(req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    ++server_.ctx().stats.ari_ws_connections;
    asio::co_spawn(ws_.get_executor(), watchdog(self, write_deadline_, beast::get_lowest_layer(ws_).socket()), asio::detached);
    asio::co_spawn(ws_.get_executor(), writer(self), asio::detached);
    server_.attach(self, app);
    beast::flat_buffer buffer;
    while (true) {  // Frames from the client are read (and ignored) to see pings and the close.
      buffer.clear();
      co_await ws_.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    closed_ = true;
    wake_.cancel();
    write_deadline_.cancel();
    server_.detach(self);
  }

  void send(std::string frame) {
    if (closed_) return;
    if (queue_.size() >= kMaxQueuedFrames) {
      ++server_.ctx().stats.ari_events_dropped;
      return;
    }
    ++server_.ctx().stats.ari_events_sent;
    queue_.push_back(std::move(frame));
    wake_.cancel_one();
  }
  void shutdown() {
    closing_ = true;
    wake_.cancel();
  }

 private:
  asio::awaitable<void> writer(std::shared_ptr<ws_session> self) {
    while (!closed_) {
      if (queue_.empty()) {
        if (closing_) {
          boost::system::error_code ec;
          write_deadline_.expires_after(kWsWriteTimeout);
          co_await ws_.async_close(websocket::close_code::normal, asio::redirect_error(asio::use_awaitable, ec));
          break;
        }
        boost::system::error_code ec;
        wake_.expires_at(clock::time_point::max());
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      std::string frame = std::move(queue_.front());
      queue_.pop_front();
      ws_.text(true);
      write_deadline_.expires_after(kWsWriteTimeout);
      boost::system::error_code ec;
      co_await ws_.async_write(asio::buffer(frame), asio::redirect_error(asio::use_awaitable, ec));
      write_deadline_.expires_at(clock::time_point::max());
      if (ec) break;
    }
    closed_ = true;
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    write_deadline_.cancel();
  }

  ari_server& server_;
  websocket::stream<beast::tcp_stream> ws_;
  asio::steady_timer write_deadline_, wake_;
  std::deque<std::string> queue_;
  bool closed_ = false, closing_ = false;
};

void ari_server::attach(const std::shared_ptr<ws_session>& s, const std::string& apps) {
  // app=a,b subscribes several applications. A newer socket for an app replaces the older
  // one: Asterisk sends it ApplicationReplaced and stops delivering that app's events there.
  std::size_t pos = 0;
  while (pos <= apps.size()) {
    auto comma = apps.find(',', pos);
    if (comma == std::string::npos) comma = apps.size();
    std::string app = apps.substr(pos, comma - pos);
    pos = comma + 1;
    if (app.empty()) continue;
    auto range = subscribers_.equal_range(app);
    for (auto it = range.first; it != range.second;) {
      json replaced;
      replaced["type"] = "ApplicationReplaced";
      replaced["timestamp"] = iso_timestamp();
      replaced["application"] = app;
      replaced["asterisk_id"] = kAsteriskId;
      it->second->send(replaced.dump());
      it = subscribers_.erase(it);
    }
    subscribers_.emplace(app, s);
  }
}

void ari_server::detach(const std::shared_ptr<ws_session>& s) {
  for (auto it = subscribers_.begin(); it != subscribers_.end();)
    it = it->second == s ? subscribers_.erase(it) : std::next(it);
}

void ari_server::emit(const std::string& app, json event) {
  if (app.empty()) return;
  event["asterisk_id"] = kAsteriskId;
  event["application"] = app;
  auto range = subscribers_.equal_range(app);
  if (range.first == range.second) return;
  std::string frame = event.dump();
  for (auto it = range.first; it != range.second; ++it) it->second->send(frame);
}

void ari_server::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  generator_.cancel();
  for (auto& [app, s] : subscribers_) s->shutdown();
  for (auto& c : connections_) c->socket().close(ignored);
  for (auto& [id, c] : channels_)
    if (c.hold) c.hold->cancel();
}

channel_state& ari_server::create_channel(const std::string& id, const std::string& name, const json& caller,
                                          const std::string& app, const std::vector<std::string>& args,
                                          bool from_dialplan) {
  channel_state c;
  c.model = from_dialplan ? stasis_channel_template_ : channel_template_;
  c.model["id"] = id;
  c.model["name"] = name;
  c.model["caller"] = caller;
  c.model["connected"] = caller;
  c.model["creationtime"] = iso_timestamp();
  c.model["state"] = from_dialplan ? "Up" : "Down";
  if (!app.empty()) {
    std::string data = app;
    for (const auto& a : args) data += "," + a;
    c.model["dialplan"]["app_name"] = "Stasis";
    c.model["dialplan"]["app_data"] = data;
  }
  c.app = app;
  auto& stored = channels_[id] = std::move(c);
  ctx_.stats.ari_channels_active = channels_.size();
  return stored;
}

void ari_server::hangup(const std::string& id, int cause, bool soft) {
  auto* c = find_channel(id);
  if (!c) return;
  if (c->hold) c->hold->cancel();
  json req = channel_event("ChannelHangupRequest", *c);
  json ordered;
  ordered["cause"] = cause;
  if (soft) ordered["soft"] = true;
  for (auto& [k, v] : req.items()) ordered[k] = v;
  emit(c->app, ordered);
  if (!c->bridge.empty()) {
    auto b = bridges_.find(c->bridge);
    if (b != bridges_.end()) {
      auto& list = b->second["channels"];
      for (auto it = list.begin(); it != list.end();)
        it = (*it == id) ? list.erase(it) : std::next(it);
      json e;
      e["type"] = "ChannelLeftBridge";
      e["timestamp"] = iso_timestamp();
      e["bridge"] = b->second;
      e["channel"] = c->model;
      emit(c->app, e);
    }
  }
  if (!c->app.empty()) emit(c->app, channel_event("StasisEnd", *c));
  json destroyed;
  destroyed["type"] = "ChannelDestroyed";
  destroyed["timestamp"] = iso_timestamp();
  destroyed["cause"] = 16;
  destroyed["cause_txt"] = "Normal Clearing";
  destroyed["channel"] = c->model;
  emit(c->app, destroyed);
  channels_.erase(id);
  ctx_.stats.ari_channels_active = channels_.size();
}

asio::awaitable<void> ari_server::generate_calls() {
  // Calls that arrive from the dialplan into Stasis(app,one,two), as in the recorded
  // dialplan-stasis-hangup sequence: StasisStart, then after the hold time the caller hangs
  // up (ChannelHangupRequest, StasisEnd, ChannelDestroyed). Only apps with a subscriber get calls.
  if (ctx_.opt.ari_cps <= 0) co_return;
  const auto interval = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / ctx_.opt.ari_cps));
  while (!ctx_.stopping) {
    generator_.expires_after(interval);
    boost::system::error_code ec;
    co_await generator_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ctx_.stopping) break;
    std::set<std::string> apps;
    for (const auto& [app, s] : subscribers_) apps.insert(app);
    for (const auto& app : apps) {
      if (channels_.size() >= kMaxChannels) break;
      if (ctx_.opt.ari_calls && ctx_.stats.ari_calls_generated >= ctx_.opt.ari_calls) break;
      char seq[16];
      std::snprintf(seq, sizeof seq, "%08llx", static_cast<unsigned long long>(chan_seq_++));
      std::string id = next_id();
      auto& c = create_channel(id, std::string("Local/stasis@default-") + seq + ";2",
                               stasis_channel_template_["caller"], app, {"one", "two"}, true);
      ++ctx_.stats.ari_calls_generated;
      json e = channel_event("StasisStart", c);
      json start;
      start["type"] = "StasisStart";
      start["timestamp"] = e["timestamp"];
      start["args"] = json::array({"one", "two"});
      start["channel"] = c.model;
      emit(app, start);
      c.hold = std::make_shared<asio::steady_timer>(ctx_.io, ctx_.opt.ari_call_hold);
      c.hold->async_wait([this, id](auto e2) {
        if (!e2 && !ctx_.stopping) {
          ++ctx_.stats.ari_caller_hangups;
          hangup(id, 0, false);
        }
      });
    }
  }
}

void ari_server::start_playback(const std::string& playback_id, const std::string& app) {
  auto it = playbacks_.find(playback_id);
  if (it == playbacks_.end()) return;
  it->second["state"] = "playing";
  json started;
  started["type"] = "PlaybackStarted";
  started["timestamp"] = iso_timestamp();
  started["playback"] = it->second;
  emit(app, started);
  after(ctx_.opt.ari_playback, [this, playback_id, app] {
    auto it2 = playbacks_.find(playback_id);
    if (it2 == playbacks_.end()) return;  // stopped meanwhile
    auto& pb = it2->second;
    auto& rest = pending_media_[playback_id];
    if (!rest.empty()) {
      // Recorded order: PlaybackContinuing, then PlaybackStarted for the next media item.
      pb["state"] = "continuing";
      json cont;
      cont["type"] = "PlaybackContinuing";
      cont["timestamp"] = iso_timestamp();
      cont["playback"] = pb;
      emit(app, cont);
      pb["media_uri"] = rest.front();
      rest.pop_front();
      if (rest.empty()) pb.erase("next_media_uri");
      else pb["next_media_uri"] = rest.front();
      start_playback(playback_id, app);
      return;
    }
    pb["state"] = "done";
    json fin;
    fin["type"] = "PlaybackFinished";
    fin["timestamp"] = iso_timestamp();
    fin["playback"] = pb;
    emit(app, fin);
    playbacks_.erase(it2);
    pending_media_.erase(playback_id);
    playback_app_.erase(playback_id);
  });
}

reply ari_server::play(const std::string& target_uri, const std::string& app, const std::map<std::string, std::string>& p,
                       std::string playback_id) {
  auto media = p.find("media");
  if (media == p.end() || media->second.empty()) return error(http::status::bad_request, "Missing parameter media");
  std::deque<std::string> items;
  std::size_t pos = 0;
  while (pos <= media->second.size()) {
    auto comma = media->second.find(',', pos);
    if (comma == std::string::npos) comma = media->second.size();
    if (comma > pos) items.push_back(media->second.substr(pos, comma - pos));
    pos = comma + 1;
  }
  if (items.empty()) return error(http::status::bad_request, "Missing parameter media");
  if (playback_id.empty()) {
    auto it = p.find("playbackId");
    playback_id = it != p.end() && !it->second.empty() ? it->second : "astra-sim-pb-" + std::to_string(playback_seq_++);
  }
  if (playbacks_.count(playback_id)) return error(http::status::conflict, "Playback with given ID already exists");
  json pb;
  pb["id"] = playback_id;
  pb["media_uri"] = items.front();
  items.pop_front();
  if (!items.empty()) pb["next_media_uri"] = items.front();
  pb["target_uri"] = target_uri;
  auto lang = p.find("lang");
  pb["language"] = lang != p.end() && !lang->second.empty() ? lang->second : "en";
  pb["state"] = "queued";
  playbacks_[playback_id] = pb;
  pending_media_[playback_id] = std::move(items);
  playback_app_[playback_id] = app;
  after(kEventDelay, [this, playback_id, app] { start_playback(playback_id, app); });
  return ok(pb, http::status::created);
}

reply ari_server::channels(http::verb m, const request_target& t, const std::map<std::string, std::string>& p) {
  const auto& s = t.segments;
  auto param = [&p](const std::string& k) {
    auto it = p.find(k);
    return it == p.end() ? std::string() : it->second;
  };
  if (s.size() == 1) {
    if (m == http::verb::get) {
      json list = json::array();
      for (const auto& [id, c] : channels_) list.push_back(c.model);
      return ok(list);
    }
    if (m != http::verb::post) return error(http::status::method_not_allowed, "Invalid method");
  }
  if (s.size() == 1 || (s.size() == 2 && m == http::verb::post && s[1] != "externalMedia" && s[1] != "create")) {
    // Originate (POST /channels or /channels/{channelId}).
    auto endpoint = param("endpoint");
    if (endpoint.empty()) return error(http::status::bad_request, "Endpoint must be specified");
    auto slash = endpoint.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == endpoint.size())
      return error(http::status::bad_request, "Invalid endpoint specified");
    if (channels_.size() >= kMaxChannels) return error(http::status::internal_server_error, "Allocation failed");
    std::string id = s.size() == 2 ? s[1] : param("channelId");
    if (id.empty()) id = next_id();
    if (channels_.count(id)) return error(http::status::conflict, "Channel with given unique ID already exists");
    json caller{{"name", ""}, {"number", ""}};
    auto cid = param("callerId");
    if (auto lt = cid.find('<'); lt != std::string::npos) {
      auto name = cid.substr(0, lt);
      while (!name.empty() && name.back() == ' ') name.pop_back();
      caller["name"] = name;
      caller["number"] = cid.substr(lt + 1, cid.find('>', lt) - lt - 1);
    } else {
      caller["number"] = cid;
    }
    std::vector<std::string> args;
    auto app_args = param("appArgs");
    for (std::size_t pos = 0; !app_args.empty() && pos <= app_args.size();) {
      auto comma = app_args.find(',', pos);
      if (comma == std::string::npos) comma = app_args.size();
      args.push_back(app_args.substr(pos, comma - pos));
      pos = comma + 1;
    }
    char seq[16];
    std::snprintf(seq, sizeof seq, "%08llx", static_cast<unsigned long long>(chan_seq_++));
    std::string name = endpoint + "-" + seq + (endpoint.rfind("Local/", 0) == 0 ? ";1" : "");
    auto app = param("app");
    auto& c = create_channel(id, name, caller, "", {}, false);
    if (endpoint.rfind("Local/", 0) == 0) {  // Local/exten@context dials into the dialplan
      auto at = endpoint.find('@');
      c.model["dialplan"]["exten"] = endpoint.substr(6, at == std::string::npos ? std::string::npos : at - 6);
      if (at != std::string::npos) c.model["dialplan"]["context"] = endpoint.substr(at + 1);
    }
    json created = c.model;
    if (!app.empty()) {
      after(kEventDelay, [this, id, app, args] {
        auto* ch = find_channel(id);
        if (!ch) return;
        ch->app = app;
        std::string data = app;
        for (const auto& a : args) data += "," + a;
        ch->model["state"] = "Up";
        ch->model["dialplan"]["app_name"] = "Stasis";
        ch->model["dialplan"]["app_data"] = data;
        emit(app, channel_event("ChannelStateChange", *ch));
        json start;
        start["type"] = "StasisStart";
        start["timestamp"] = iso_timestamp();
        start["args"] = args;
        start["channel"] = ch->model;
        emit(app, start);
      });
    }
    return ok(created);
  }
  if (s.size() == 2 && s[1] == "externalMedia") {
    if (m != http::verb::post) return error(http::status::method_not_allowed, "Invalid method");
    auto host = param("external_host");
    auto app = param("app");
    if (host.empty()) return error(http::status::bad_request, "external_host cannot be empty");
    std::string id = param("channelId").empty() ? next_id() : param("channelId");
    auto& c = create_channel(id, "UnicastRTP/" + host + "-0x7f95700088b0", json{{"name", ""}, {"number", ""}}, "", {}, false);
    c.model["dialplan"] = json{{"context", "default"}, {"exten", "s"}, {"priority", 1}, {"app_name", "AppDial2"}, {"app_data", "(Outgoing Line)"}};
    json created = c.model;
    after(kEventDelay, [this, id, app] {
      auto* ch = find_channel(id);
      if (!ch) return;
      ch->app = app;
      ch->model["state"] = "Up";
      ch->model["dialplan"]["app_name"] = "Stasis";
      ch->model["dialplan"]["app_data"] = app;
      json start;
      start["type"] = "StasisStart";
      start["timestamp"] = iso_timestamp();
      start["args"] = json::array();
      start["channel"] = ch->model;
      emit(app, start);
    });
    return ok(created);
  }
  auto* c = find_channel(s[1]);
  if (!c) return error(http::status::not_found, "Channel not found");
  const std::string id = s[1];
  if (s.size() == 2) {
    if (m == http::verb::get) return ok(c->model);
    if (m == http::verb::delete_) {
      ++ctx_.stats.ari_hangups_by_app;
      after(kEventDelay, [this, id] { hangup(id, 32, true); });
      return no_content();
    }
    return error(http::status::method_not_allowed, "Invalid method");
  }
  const std::string& op = s[2];
  if (op == "variable") {
    auto var = param("variable");
    if (var.empty()) return error(http::status::bad_request, "Variable name is required");
    if (m == http::verb::get) {
      if (var == "CALLERID(num)") return ok(json{{"value", c->model["caller"]["number"]}});
      if (var == "CALLERID(name)") return ok(json{{"value", c->model["caller"]["name"]}});
      auto it = c->vars.find(var);
      if (it == c->vars.end()) return error(http::status::not_found, "Provided variable was not found");
      return ok(json{{"value", it->second}});
    }
    if (m == http::verb::post) {
      auto value = param("value");
      c->vars[var] = value;
      json e;
      e["variable"] = var;
      e["value"] = value;
      e["type"] = "ChannelVarset";
      e["timestamp"] = iso_timestamp();
      e["channel"] = c->model;
      emit(c->app, e);
      return no_content();
    }
    return error(http::status::method_not_allowed, "Invalid method");
  }
  if (op == "play") {
    if (m != http::verb::post) return error(http::status::method_not_allowed, "Invalid method");
    return play("channel:" + id, c->app, p, s.size() > 3 ? s[3] : "");
  }
  if (op == "answer") {
    if (m != http::verb::post) return error(http::status::method_not_allowed, "Invalid method");
    if (c->model["state"] != "Up") {
      c->model["state"] = "Up";
      emit(c->app, channel_event("ChannelStateChange", *c));
    }
    return no_content();
  }
  if (op == "dtmf") {
    if (m != http::verb::post) return error(http::status::method_not_allowed, "Invalid method");
    auto digits = param("dtmf");
    if (digits.empty()) return error(http::status::bad_request, "DTMF is required");
    int i = 0;
    for (char d : digits) {
      after(kEventDelay + std::chrono::milliseconds(200 * i++), [this, id, d] {
        auto* ch = find_channel(id);
        if (!ch) return;
        json e;
        e["type"] = "ChannelDtmfReceived";
        e["timestamp"] = iso_timestamp();
        e["digit"] = std::string(1, d);
        e["duration_ms"] = 100;
        e["channel"] = ch->model;
        emit(ch->app, e);
      });
    }
    return no_content();
  }
  static const std::set<std::string> simple{"ring", "hold", "mute", "moh", "silence", "continue", "redirect", "move"};
  if (simple.count(op)) {
    if (m != http::verb::post && m != http::verb::delete_) return error(http::status::method_not_allowed, "Invalid method");
    return no_content();
  }
  return error(http::status::not_found, "Resource not found");
}

reply ari_server::bridges(http::verb m, const request_target& t, const std::map<std::string, std::string>& p) {
  const auto& s = t.segments;
  auto param = [&p](const std::string& k) {
    auto it = p.find(k);
    return it == p.end() ? std::string() : it->second;
  };
  auto create = [&](std::string id) {
    if (id.empty()) id = param("bridgeId");
    if (id.empty()) id = "astra-sim-bridge-" + std::to_string(id_seq_++);
    json b = bridge_template_;
    b["id"] = id;
    auto type = param("type");
    b["bridge_type"] = type.empty() ? "mixing" : type.substr(0, type.find(','));
    b["name"] = param("name");
    b["channels"] = json::array();
    b["creationtime"] = iso_timestamp();
    bridges_[id] = b;
    return ok(b);
  };
  if (s.size() == 1) {
    if (m == http::verb::get) {
      json list = json::array();
      for (const auto& [id, b] : bridges_) list.push_back(b);
      return ok(list);
    }
    if (m == http::verb::post) return create("");
    return error(http::status::method_not_allowed, "Invalid method");
  }
  auto it = bridges_.find(s[1]);
  if (s.size() == 2 && m == http::verb::post) return create(s[1]);
  if (it == bridges_.end()) return error(http::status::not_found, "Bridge not found");
  const std::string id = s[1];
  if (s.size() == 2) {
    if (m == http::verb::get) return ok(it->second);
    if (m == http::verb::delete_) {
      std::set<std::string> apps;
      for (auto& [cid, c] : channels_)
        if (c.bridge == id) {
          c.bridge.clear();
          apps.insert(c.app);
        }
      json e;
      e["type"] = "BridgeDestroyed";
      e["timestamp"] = iso_timestamp();
      e["bridge"] = it->second;
      e["bridge"]["channels"] = json::array();
      bridges_.erase(it);
      if (apps.empty()) apps.insert(ctx_.opt.ari_app);
      for (const auto& app : apps) emit(app, e);
      return no_content();
    }
    return error(http::status::method_not_allowed, "Invalid method");
  }
  const std::string& op = s[2];
  if (op == "addChannel" || op == "removeChannel") {
    if (m != http::verb::post) return error(http::status::method_not_allowed, "Invalid method");
    auto list = param("channel");
    if (list.empty()) return error(http::status::bad_request, "Missing parameter channel");
    std::vector<std::string> ids;
    for (std::size_t pos = 0; pos <= list.size();) {
      auto comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      if (comma > pos) ids.push_back(list.substr(pos, comma - pos));
      pos = comma + 1;
    }
    for (const auto& cid : ids) {
      auto* c = find_channel(cid);
      if (!c) return error(http::status::bad_request, "Channel not found");
      if (op == "removeChannel" && c->bridge != id)
        return error(http::status::unprocessable_entity, "Channel not in this bridge");
    }
    for (const auto& cid : ids) {
      auto* c = find_channel(cid);
      auto& members = it->second["channels"];
      if (op == "addChannel") {
        c->bridge = id;
        members.push_back(cid);
      } else {
        c->bridge.clear();
        for (auto mi = members.begin(); mi != members.end();) mi = (*mi == cid) ? members.erase(mi) : std::next(mi);
      }
      json e;
      e["type"] = op == "addChannel" ? "ChannelEnteredBridge" : "ChannelLeftBridge";
      e["timestamp"] = iso_timestamp();
      e["bridge"] = it->second;
      e["channel"] = c->model;
      emit(c->app, e);
    }
    return no_content();
  }
  if (op == "play") {
    if (m != http::verb::post) return error(http::status::method_not_allowed, "Invalid method");
    std::string app = ctx_.opt.ari_app;
    for (const auto& cid : it->second["channels"])
      if (auto* c = find_channel(cid.get<std::string>()); c && !c->app.empty()) app = c->app;
    return play("bridge:" + id, app, p, s.size() > 3 ? s[3] : "");
  }
  if (op == "moh" || op == "videoSource") return no_content();
  return error(http::status::not_found, "Resource not found");
}

reply ari_server::playbacks(http::verb m, const request_target& t) {
  const auto& s = t.segments;
  if (s.size() < 2) return error(http::status::not_found, "Resource not found");
  auto it = playbacks_.find(s[1]);
  if (it == playbacks_.end()) return error(http::status::not_found, "Playback not found");
  if (s.size() == 2 && m == http::verb::get) return ok(it->second);
  if (s.size() == 2 && m == http::verb::delete_) {
    json pb = it->second;
    pb["state"] = "done";
    std::string app = playback_app_[s[1]];
    playbacks_.erase(it);
    pending_media_.erase(s[1]);
    playback_app_.erase(s[1]);
    json fin;
    fin["type"] = "PlaybackFinished";
    fin["timestamp"] = iso_timestamp();
    fin["playback"] = pb;
    emit(app, fin);
    return no_content();
  }
  if (s.size() == 3 && s[2] == "control" && m == http::verb::post) return no_content();
  return error(http::status::method_not_allowed, "Invalid method");
}

reply ari_server::handle(http::verb m, const request_target& t, const json& body) {
  ++ctx_.stats.ari_requests;
  if (t.trailing_slash) {
    std::string path = "/ari";
    for (const auto& seg : t.segments) path += "/" + seg;
    return error(http::status::not_found, "ARI URLs do not end with a slash. Try " + path);
  }
  if (t.segments.empty()) return error(http::status::not_found, "Resource not found");
  // Parameters: query string, overridden by a JSON object body (as Asterisk merges them).
  std::map<std::string, std::string> p = t.params;
  if (body.is_object())
    for (auto& [k, v] : body.items()) {
      if (v.is_string()) p[k] = v.get<std::string>();
      else if (k != "variables") p[k] = v.dump();
    }
  const auto& s = t.segments;
  const std::string& res = s[0];
  if (res == "asterisk") {
    if (s.size() == 2 && s[1] == "info") {
      if (m != http::verb::get) return error(http::status::method_not_allowed, "Invalid method");
      return ok(asterisk_info_);
    }
    if (s.size() == 2 && s[1] == "ping") {
      if (m != http::verb::get) return error(http::status::method_not_allowed, "Invalid method");
      return ok(json{{"ping", "pong"}, {"timestamp", iso_timestamp()}, {"asterisk_id", kAsteriskId}});
    }
    if (s.size() == 2 && s[1] == "variable") {
      auto var = p["variable"];
      if (var.empty()) return error(http::status::bad_request, "Variable name is required");
      if (m == http::verb::get) {
        auto it = global_vars_.find(var);
        return ok(json{{"value", it == global_vars_.end() ? "" : it->second}});
      }
      if (m == http::verb::post) {
        global_vars_[var] = p["value"];
        return no_content();
      }
      return error(http::status::method_not_allowed, "Invalid method");
    }
    return error(http::status::not_found, "Resource not found");
  }
  if (res == "applications") {
    if (m != http::verb::get) return error(http::status::method_not_allowed, "Invalid method");
    std::set<std::string> apps{ctx_.opt.ari_app};
    for (const auto& [app, sub] : subscribers_) apps.insert(app);
    if (s.size() == 1) {
      json list = json::array();
      for (const auto& app : apps) list.push_back(application_json(app));
      return ok(list);
    }
    if (s.size() == 2) {
      if (!apps.count(s[1])) return error(http::status::not_found, "Application not found");
      return ok(application_json(s[1]));
    }
    return error(http::status::not_found, "Resource not found");
  }
  if (res == "channels") return channels(m, t, p);
  if (res == "bridges") return bridges(m, t, p);
  if (res == "playbacks") return playbacks(m, t);
  if (res == "events") return error(http::status::bad_request, "WebSocket upgrade required");
  return error(http::status::not_found, "Resource not found");
}

std::string html_error(int code, std::string_view reason, std::string_view detail) {
  return "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n<title>" + std::to_string(code) + " " +
         std::string(reason) + "</title>\r\n</head><body>\r\n<h1>" + std::string(reason) + "</h1>\r\n<p>" +
         std::string(detail) + "</p>\r\n<hr />\r\n<address>Asterisk/22.11.0-rc1</address>\r\n</body></html>\r\n";
}

asio::awaitable<void> serve(ari_server& server, std::shared_ptr<beast::tcp_stream> stream) {
  beast::flat_buffer buffer;
  server.track_connection(stream);
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    stream->expires_after(kRequestTimeout);
    boost::system::error_code ec;
    co_await http::async_read(*stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    auto req = parser.release();
    auto target = parse_target(req.target());
    http::response<http::string_body> res;
    res.version(req.version());
    res.set(http::field::server, "Asterisk/22.11.0-rc1");
    res.set(http::field::cache_control, "no-cache, no-store");
    res.keep_alive(req.keep_alive());
    bool is_events = target.under_ari && target.segments.size() == 1 && target.segments[0] == "events" && !target.trailing_slash;
    if (!server.authorized(req, target)) {
      ++server.ctx().stats.ari_auth_failures;
      ++server.ctx().stats.ari_requests;
      res.result(http::status::unauthorized);
      res.set(http::field::www_authenticate, "Basic realm=\"Asterisk REST Interface\"");
      res.set(http::field::content_type, "application/json");
      res.body() = json{{"message", "Authentication required"}}.dump();
    } else if (is_events && websocket::is_upgrade(req)) {
      auto app = target.params.find("app");
      if (app == target.params.end() || app->second.empty()) {
        res.result(http::status::bad_request);
        res.set(http::field::content_type, "text/html");
        res.body() = html_error(400, "Bad Request", "HTTP request is missing param: [app]");
      } else {
        server.untrack_connection(stream);
        ++server.ctx().stats.ari_requests;
        auto ws = std::make_shared<ws_session>(server, std::move(*stream));
        co_await ws->run(ws, std::move(req), app->second);
        co_return;
      }
    } else if (!target.under_ari) {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/html");
      res.body() = html_error(404, "Not Found", "The requested URL was not found on this server.");
    } else {
      json body;
      if (!req.body().empty()) {
        body = json::parse(req.body(), nullptr, false);
        if (body.is_discarded()) {
          res.result(http::status::bad_request);
          res.set(http::field::content_type, "application/json");
          res.body() = json{{"message", "Error parsing request body"}}.dump();
          body = json();
        }
      }
      if (res.result() != http::status::bad_request) {
        auto r = server.handle(req.method(), target, body);
        res.result(r.status);
        if (!r.body.empty()) {
          res.set(http::field::content_type, "application/json");
          res.body() = std::move(r.body);
        }
      }
    }
    res.prepare_payload();
    stream->expires_after(kRequestTimeout);
    co_await http::async_write(*stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream->socket().close(ignored);
  server.untrack_connection(stream);
}

asio::awaitable<void> ari_server::accept_loop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (!acceptor_.is_open()) break;
      continue;
    }
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    asio::co_spawn(ctx_.io, serve(*this, stream), asio::detached);
  }
}

std::unique_ptr<ari_server> g_ari;

}  // namespace

void destroy_ari_server() { g_ari.reset(); }

bool start_ari_server(context& ctx) {
  g_ari = std::make_unique<ari_server>(ctx);
  return g_ari->listen();
}

}  // namespace astra::sim
