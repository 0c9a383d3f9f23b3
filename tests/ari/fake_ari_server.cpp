#include <utility>  // before Asio

#include "tests/ari/fake_ari_server.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

namespace astra::test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using net::awaitable;

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

void split_target(std::string_view target, std::string& path, std::vector<std::pair<std::string, std::string>>& query) {
  auto q = target.find('?');
  path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto item = rest.substr(0, amp);
    auto eq = item.find('=');
    if (!item.empty()) {
      if (eq == std::string_view::npos) query.emplace_back(percent_decode(item), "");
      else query.emplace_back(percent_decode(item.substr(0, eq)), percent_decode(item.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
}

std::string table_key(const std::string& method, const std::string& path,
                      std::vector<std::pair<std::string, std::string>> query) {
  std::sort(query.begin(), query.end());
  std::string k = method + " " + path;
  for (auto& [n, v] : query) k += "|" + n + "=" + v;
  return k;
}

std::string basic(const std::string& user, const std::string& password) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in = user + ":" + password, out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += a[v >> 18 & 63]; out += a[v >> 12 & 63]; out += a[v >> 6 & 63]; out += a[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += a[v >> 18 & 63]; out += a[v >> 12 & 63]; out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += a[v >> 18 & 63]; out += a[v >> 12 & 63]; out += a[v >> 6 & 63]; out += '=';
  }
  return "Basic " + out;
}

const char* reason_of(int status) {
  return http::obsolete_reason(static_cast<http::status>(status)).data();
}

struct ws_session {
  websocket::stream<beast::tcp_stream> ws;
  std::deque<std::string> queue;
  bool writing = false;
  bool open = false;  // handshake done: frames queued before it are written from then on
  bool closed = false;
  explicit ws_session(beast::tcp_stream&& s) : ws(std::move(s)) {}
};

}  // namespace

std::string fake_request::describe() const {
  std::string s = method + " " + path;
  for (std::size_t i = 0; i < query.size(); ++i) s += (i ? "&" : "?") + query[i].first + "=" + query[i].second;
  return s;
}

struct fake_ari_server::impl : std::enable_shared_from_this<fake_ari_server::impl> {
  net::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  unsigned short port = 0;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::string authorization = basic("asterisk", "asterisk");
  std::map<std::string, fake_reply> exact;
  std::vector<std::pair<std::string, fake_reply>> any_query;  // "METHOD path"
  std::function<std::optional<fake_reply>(const fake_request&)> handler;
  std::chrono::milliseconds delay{0};
  std::vector<fake_request> log;
  std::size_t http_conns = 0;
  std::size_t handshakes = 0;
  std::string ws_target, ws_auth;
  std::optional<fake_reply> refuse;
  bool ws_rest = true;
  std::atomic<std::size_t> open_ws{0};
  // io-thread only
  std::list<std::shared_ptr<ws_session>> sessions;

  fake_reply route(const fake_request& req) {
    std::function<std::optional<fake_reply>(const fake_request&)> h;
    {
      std::lock_guard lock(mu);
      log.push_back(req);
      h = handler;
    }
    cv.notify_all();
    if (h) {
      if (auto r = h(req)) return *r;
    }
    std::lock_guard lock(mu);
    auto it = exact.find(table_key(req.method, req.path, req.query));
    if (it != exact.end()) return it->second;
    for (auto& [k, r] : any_query)
      if (k == req.method + " " + req.path) return r;
    return fake_reply{404, "application/json", R"({"message":"Resource not found"})"};
  }

  awaitable<void> pause() {
    std::chrono::milliseconds d;
    {
      std::lock_guard lock(mu);
      d = delay;
    }
    if (d.count() > 0) {
      net::steady_timer t(co_await net::this_coro::executor);
      t.expires_after(d);
      beast::error_code ec;
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  }

  void ws_write(const std::shared_ptr<ws_session>& s, std::string frame) {  // io thread
    if (s->closed) return;
    s->queue.push_back(std::move(frame));
    if (s->writing || !s->open) return;
    s->writing = true;
    write_next(s);
  }

  void write_next(std::shared_ptr<ws_session> s) {
    if (s->queue.empty() || s->closed) {
      s->writing = false;
      return;
    }
    s->ws.text(true);
    // `this` and not a shared_ptr to it: a completion still queued when the destructor stops
    // the io_context would otherwise keep impl (and the io_context inside it) alive: a cycle,
    // reported by LeakSanitizer. Handlers run on the io thread only, joined before impl dies.
    s->ws.async_write(net::buffer(s->queue.front()), [this, s](beast::error_code ec, std::size_t) {
      s->queue.pop_front();
      if (ec) {
        s->closed = true;
        s->writing = false;
        return;
      }
      write_next(s);
    });
  }

  std::string rest_response_frame(const nlohmann::json& request, const fake_reply& reply) {
    nlohmann::ordered_json out;
    out["type"] = "RESTResponse";
    out["transaction_id"] = request.value("transaction_id", "");
    out["request_id"] = request.value("request_id", "");
    out["status_code"] = reply.status;
    out["reason_phrase"] = reason_of(reply.status);
    out["uri"] = request.value("uri", "");
    if (!reply.body.empty()) {
      out["content_type"] = reply.content_type;
      out["message_body"] = reply.body;
    }
    out["application"] = "astra-test";
    out["timestamp"] = "2026-11-23T16:50:05.709+0000";
    out["asterisk_id"] = "02:fc:00:00:00:01";
    return out.dump();
  }

  void on_ws_frame(const std::shared_ptr<ws_session>& s, const std::string& text) {  // io thread
    {
      std::lock_guard lock(mu);
      if (!ws_rest) return;
    }
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      nlohmann::ordered_json out = {{"type", "RESTResponse"}, {"transaction_id", ""}, {"request_id", ""},
                                    {"status_code", 400}, {"reason_phrase", "Failed to parse request message JSON"},
                                    {"uri", ""}, {"application", "astra-test"}};
      ws_write(s, out.dump());
      return;
    }
    if (doc.value("type", "") != "RESTRequest") {
      ws_write(s, rest_response_frame(doc, {400, "application/json", R"({"message":"Unknown request type."})"}));
      return;
    }
    fake_request req;
    req.method = doc.value("method", "");
    std::string uri = doc.value("uri", "");
    if (!uri.empty() && uri.front() == '/') {  // Asterisk: a leading slash is not a valid uri
      ws_write(s, rest_response_frame(doc, {405, "application/json", R"({"message":"Invalid method"})"}));
      return;
    }
    std::vector<std::pair<std::string, std::string>> q;
    split_target("/ari/" + uri, req.path, q);
    req.query = std::move(q);
    if (doc.contains("query_strings"))
      for (auto& item : doc["query_strings"]) req.query.emplace_back(item.value("name", ""), item.value("value", ""));
    req.body = doc.value("message_body", "");
    req.over_websocket = true;
    auto reply = route(req);
    ws_write(s, rest_response_frame(doc, reply));
  }

  awaitable<void> serve_ws(beast::tcp_stream stream, http::request<http::string_body> req) {
    auto s = std::make_shared<ws_session>(std::move(stream));
    beast::get_lowest_layer(s->ws).expires_never();
    s->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    beast::error_code ec;
    // Listed before the 101 goes out: the client may see itself connected (and the test push
    // events) before this coroutine resumes; those frames wait in the queue, not get lost.
    sessions.push_back(s);
    co_await s->ws.async_accept(req, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      s->closed = true;
      sessions.remove(s);
      co_return;
    }
    s->open = true;
    if (!s->queue.empty() && !s->writing && !s->closed) {
      s->writing = true;
      write_next(s);
    }
    ++open_ws;
    {
      std::lock_guard lock(mu);
      ++handshakes;
      ws_target = std::string(req.target());
      ws_auth = std::string(req[http::field::authorization]);
    }
    cv.notify_all();
    beast::flat_buffer buffer;
    for (;;) {
      co_await s->ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
      std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      on_ws_frame(s, text);
    }
    s->closed = true;
    sessions.remove(s);
    --open_ws;
    cv.notify_all();
  }

  awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    bool counted = false;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      stream.expires_after(std::chrono::seconds(30));
      co_await http::async_read(stream, buffer, req, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      std::string auth = std::string(req[http::field::authorization]);
      bool authorized;
      std::optional<fake_reply> refusal;
      {
        std::lock_guard lock(mu);
        authorized = auth == authorization;
        refusal = refuse;
      }
      if (websocket::is_upgrade(req)) {
        if (!authorized) refusal = fake_reply{401, "application/json", R"({"message":"Authentication required"})"};
        if (!refusal) {
          co_await serve_ws(std::move(stream), std::move(req));
          co_return;
        }
      } else if (!counted) {
        counted = true;
        std::lock_guard lock(mu);
        ++http_conns;
      }
      fake_reply reply;
      if (refusal) {
        reply = *refusal;
      } else if (!authorized) {
        reply = {401, "application/json", R"({"message":"Authentication required"})"};
      } else {
        fake_request fr;
        fr.method = std::string(req.method_string());
        split_target(req.target(), fr.path, fr.query);
        fr.body = req.body();
        fr.authorization = auth;
        reply = route(fr);
        co_await pause();
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
      res.set(http::field::server, "Asterisk/22.11.0-rc1");
      if (!reply.body.empty()) {
        res.set(http::field::content_type, reply.content_type);
        res.body() = reply.body;
      }
      res.keep_alive(req.keep_alive() && !refusal);
      res.prepare_payload();
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !res.keep_alive()) co_return;
    }
  }

  awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(io);
      co_await acceptor.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      net::co_spawn(io, serve(std::move(socket)), net::detached);
    }
  }
};

fake_ari_server::fake_ari_server() : impl_(std::make_shared<impl>()) {
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  net::co_spawn(impl_->io, impl_->accept_loop(), net::detached);
  impl_->thread = std::thread([p = impl_] {
    auto guard = net::make_work_guard(p->io);
    p->io.run();
  });
}

fake_ari_server::~fake_ari_server() {
  net::post(impl_->io, [p = impl_] {
    beast::error_code ec;
    p->acceptor.close(ec);
    for (auto& s : p->sessions) beast::get_lowest_layer(s->ws).socket().close(ec);
    p->io.stop();
  });
  impl_->thread.join();
}

unsigned short fake_ari_server::port() const { return impl_->port; }
std::string fake_ari_server::url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

void fake_ari_server::set_credentials(std::string user, std::string password) {
  std::lock_guard lock(impl_->mu);
  impl_->authorization = basic(user, password);
}

void fake_ari_server::add_reply(const std::string& method, const std::string& path_and_query, fake_reply reply,
                                bool match_any_query) {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  split_target(path_and_query, path, query);
  std::lock_guard lock(impl_->mu);
  if (match_any_query) impl_->any_query.emplace_back(method + " " + path, std::move(reply));
  else impl_->exact[table_key(method, path, query)] = std::move(reply);
}

void fake_ari_server::load_rest_records(const std::vector<recorded_chunk>& records) {
  for (const auto& r : records) {
    if (r.dir != "rest") continue;
    auto j = nlohmann::json::parse(r.json);
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    split_target(j.value("path", ""), path, query);
    auto key = table_key(j.value("method", ""), path, query);
    fake_reply reply;
    reply.status = j.value("status", 0);
    reply.content_type = j["content_type"].is_string() ? j["content_type"].get<std::string>() : "";
    reply.body = j["response"].is_string() ? j["response"].get<std::string>() : "";
    if (reply.status == 401) continue;  // recorded with bad credentials: the credential check answers it
    std::lock_guard lock(impl_->mu);
    impl_->exact.emplace(key, std::move(reply));
  }
}

void fake_ari_server::set_handler(std::function<std::optional<fake_reply>(const fake_request&)> handler) {
  std::lock_guard lock(impl_->mu);
  impl_->handler = std::move(handler);
}

void fake_ari_server::set_reply_delay(std::chrono::milliseconds delay) {
  std::lock_guard lock(impl_->mu);
  impl_->delay = delay;
}

std::vector<fake_request> fake_ari_server::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->log;
}

std::size_t fake_ari_server::http_connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->http_conns;
}

std::size_t fake_ari_server::ws_handshakes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->handshakes;
}

std::size_t fake_ari_server::ws_open() const {
  return impl_->open_ws.load();
}

std::string fake_ari_server::last_ws_target() const {
  std::lock_guard lock(impl_->mu);
  return impl_->ws_target;
}

std::string fake_ari_server::last_ws_authorization() const {
  std::lock_guard lock(impl_->mu);
  return impl_->ws_auth;
}

bool fake_ari_server::wait_ws_handshakes(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->handshakes >= n; });
}

bool fake_ari_server::wait_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->log.size() >= n; });
}

void fake_ari_server::refuse_upgrades(std::optional<fake_reply> reply) {
  std::lock_guard lock(impl_->mu);
  impl_->refuse = std::move(reply);
}

void fake_ari_server::push_event(std::string frame) {
  net::post(impl_->io, [p = impl_, frame = std::move(frame)]() mutable {
    for (auto& s : p->sessions) p->ws_write(s, frame);
  });
}

void fake_ari_server::drop_websockets() {
  net::post(impl_->io, [p = impl_] {
    for (auto& s : p->sessions) {
      beast::error_code ec;
      s->closed = true;
      beast::get_lowest_layer(s->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(s->ws).socket().close(ec);
    }
  });
}

void fake_ari_server::set_ws_rest(bool enabled) {
  std::lock_guard lock(impl_->mu);
  impl_->ws_rest = enabled;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  std::size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

}  // namespace astra::test
