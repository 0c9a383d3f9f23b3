#include "tests/ami/fake_ami_server.hpp"

#include <utility>
#include <atomic>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "protocols/ami/action.hpp"
#include "protocols/ami/parser.hpp"
#include "tests/ami/fake_ami_events.hpp"
#include "tests/support/fixtures.hpp"

namespace astra::test {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::string kv(std::string_view k, std::string_view v) {
  std::string s;
  s.reserve(k.size() + v.size() + 4);
  s.append(k).append(": ").append(v).append("\r\n");
  return s;
}

}  // namespace

// The recorded burst split into events once (shared by the connections of one login).
struct burst_events {
  std::vector<ami_rules::event> events;
};

// One client connection; lives on the server's single io thread.
struct client_session : std::enable_shared_from_this<client_session> {
  client_session(tcp::socket s, ssl::context* tls_ctx) : socket(std::move(s)), pacer(socket.get_executor()) {
    if (tls_ctx) tls = std::make_unique<ssl::stream<tcp::socket&>>(socket, *tls_ctx);
  }
  tcp::socket socket;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;  // over `socket` when the server speaks TLS
  asio::steady_timer pacer;
  ami_rules::session_rules rules;  // Events: mask and Filter rules of this connection
  std::shared_ptr<const burst_events> burst_parsed;
  bool burst_started = false;
  std::atomic<std::size_t>* streamed_events = nullptr;
  std::chrono::nanoseconds burst_period{0};  // 0 = unpaced
  std::chrono::steady_clock::time_point next_burst{};
  bool pacing_wait = false;
  std::deque<std::string> queue;
  bool writing = false;
  bool close_after_write = false;
  bool logged_in = false;
  std::size_t burst_left = 0;
  std::atomic<std::size_t>* streamed = nullptr;

  void send(std::string bytes) {
    queue.push_back(std::move(bytes));
    if (!writing && !pacing_wait) write_next();
  }
  void write_next() {
    while (queue.empty() && burst_left > 0 && burst_parsed && !burst_parsed->events.empty()) {
      if (burst_period.count() > 0) {
        auto now = std::chrono::steady_clock::now();
        if (next_burst == std::chrono::steady_clock::time_point{}) next_burst = now;
        if (now < next_burst) {
          writing = false;
          pacing_wait = true;
          pacer.expires_at(next_burst);
          pacer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            self->pacing_wait = false;
            if (!ec && !self->writing) self->write_next();
          });
          return;
        }
        next_burst += burst_period;
      }
      --burst_left;
      queue.push_back(filtered(burst_parsed->events));
      if (queue.back().empty()) queue.pop_back();
    }
    if (queue.empty()) {
      writing = false;
      if (close_after_write) close();
      return;
    }
    writing = true;
    auto done = [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->queue.pop_front();
      if (ec) {
        self->queue.clear();
        self->writing = false;
        self->burst_left = 0;
        return;
      }
      self->write_next();
    };
    if (tls) asio::async_write(*tls, asio::buffer(queue.front()), std::move(done));
    else asio::async_write(socket, asio::buffer(queue.front()), std::move(done));
  }
  // The events of `events` this connection's mask and filters let through, counted as sent.
  std::string filtered(const std::vector<ami_rules::event>& events) {
    std::string out;
    std::size_t n = 0;
    for (const auto& e : events)
      if (rules.allows(e)) {
        out += e.text;
        ++n;
      }
    if (streamed) *streamed += out.size();
    if (streamed_events) *streamed_events += n;
    return out;
  }
  void close() {
    boost::system::error_code ignored;
    pacer.cancel();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }
};

struct fake_ami_server::impl : std::enable_shared_from_this<fake_ami_server::impl> {
  asio::io_context ctx;
  tcp::acceptor acceptor{ctx};
  std::thread thread;
  mutable std::mutex mutex;
  fake_ami_options options;
  std::unique_ptr<ssl::context> tls;  // set at construction when options.tls_cert_pem is
  std::size_t connections = 0;
  std::size_t logins = 0;
  std::atomic<std::size_t> streamed{0};
  std::atomic<std::size_t> streamed_events{0};
  std::size_t handshakes_failed = 0;
  std::vector<std::string> server_names;
  std::vector<std::chrono::steady_clock::time_point> connection_times;
  std::vector<std::string> action_names, action_ids, raw_actions;
  std::vector<std::weak_ptr<client_session>> sessions;

  fake_ami_options snapshot() const {
    std::lock_guard<std::mutex> lock(mutex);
    return options;
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      auto session = std::make_shared<client_session>(std::move(socket), tls.get());
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++connections;
        connection_times.push_back(std::chrono::steady_clock::now());
        sessions.push_back(session);
      }
      asio::co_spawn(ctx, serve(session), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<client_session> s) {
    auto opts = snapshot();
    if (s->tls) {
      boost::system::error_code ec;
      asio::steady_timer deadline(ctx, std::chrono::seconds(10));
      deadline.async_wait([s](boost::system::error_code e) {
        if (!e) s->close();
      });
      co_await s->tls->async_handshake(ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
      deadline.cancel();
      std::lock_guard<std::mutex> lock(mutex);
      if (ec) {
        ++handshakes_failed;
        co_return;
      }
      const char* sni = SSL_get_servername(s->tls->native_handle(), TLSEXT_NAMETYPE_host_name);
      server_names.emplace_back(sni ? sni : "");
    }
    if (opts.greet) s->send(opts.banner + "\r\n");
    ami::parser parser;
    std::vector<char> buf(64 * 1024);
    for (;;) {
      if (opts.read_delay.count() > 0) {
        asio::steady_timer t(ctx, opts.read_delay);
        co_await t.async_wait(asio::use_awaitable);
      }
      boost::system::error_code ec;
      std::size_t n = s->tls ? co_await s->tls->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec))
                             : co_await s->socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      std::string_view in(buf.data(), n);
      while (!in.empty()) {
        in.remove_prefix(parser.feed(in));
        while (auto next = parser.next()) {
          if (!next->ok()) continue;
          if (!handle(s, next->value())) {
            s->close_after_write = true;
            if (!s->writing) s->close();
            co_return;
          }
        }
      }
    }
  }

  // Starts the burst once per connection, when the client is logged in and its mask lets
  // events through (Login, or the Events action that opens it).
  void maybe_start_burst(const std::shared_ptr<client_session>& s, const fake_ami_options& opts) {
    if (s->burst_started || !s->logged_in || s->rules.mask == 0 || opts.burst_repeat == 0 || opts.burst.empty()) return;
    s->burst_started = true;
    auto parsed = std::make_shared<burst_events>();
    parsed->events = ami_rules::split_events(opts.burst);
    s->burst_parsed = std::move(parsed);
    s->streamed = &streamed;
    s->streamed_events = &streamed_events;
    s->burst_left = opts.burst_repeat;
    if (opts.burst_rate > 0)
      s->burst_period = std::chrono::nanoseconds(
          static_cast<std::int64_t>(1e9 * static_cast<double>(count_events(opts.burst)) / opts.burst_rate));
    if (!s->writing && !s->pacing_wait) s->write_next();
  }

  // Answers one action; false = close the connection after pending writes.
  bool handle(const std::shared_ptr<client_session>& s, const ami::message& m) {
    auto opts = snapshot();
    std::string name(m.get("Action").value_or(""));
    std::string id(m.action_id());
    {
      std::lock_guard<std::mutex> lock(mutex);
      action_names.push_back(name);
      action_ids.push_back(id);
      raw_actions.emplace_back(m.raw());
    }
    auto head = [&](std::string_view response) {
      std::string r = kv("Response", response);
      if (!id.empty()) r += kv("ActionID", id);
      return r;
    };
    if (ami::iequals(name, "Challenge")) {
      s->send(head("Success") + kv("Challenge", opts.challenge) + "\r\n");
      return true;
    }
    if (ami::iequals(name, "Login")) {
      bool ok = !opts.refuse_login && ami::iequals(m.get("Username").value_or(""), opts.username);
      auto auth = m.get("AuthType");
      if (auth && ami::iequals(*auth, "md5")) ok = ok && m.get("Key").value_or("") == ami::md5_key(opts.challenge, opts.secret);
      else ok = ok && m.get("Secret").value_or("") == opts.secret;
      if (!ok) {
        s->send(head("Error") + kv("Message", "Authentication failed") + "\r\n");
        return false;
      }
      s->logged_in = true;
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++logins;
      }
      if (auto events = m.get("Events"); events && !events->empty()) s->rules.mask = ami_rules::strings_to_mask(*events);
      std::string answer = head("Success") + kv("Message", "Authentication accepted") + "\r\n";
      // action_login(): FullyBooted goes to the new session only when its mask has system.
      if (s->rules.mask & 1)
        answer += "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 19\r\nLastReload: 19\r\nStatus: Fully Booted\r\n\r\n";
      s->send(std::move(answer));
      maybe_start_burst(s, opts);
      return true;
    }
    if (!s->logged_in) {
      s->send(head("Error") + kv("Message", "Permission denied") + "\r\n");
      return true;
    }
    if (opts.silent_actions.count(name) || opts.silent_actions.count("*")) return true;
    if (opts.script) {
      if (auto answer = opts.script(m.raw())) {
        if (!answer->empty()) s->send(std::move(*answer));
        return true;
      }
    }
    if (ami::iequals(name, "Logoff")) {
      s->send(head("Goodbye") + kv("Message", "Thanks for all the fish.") + "\r\n");
      return false;
    }
    if (ami::iequals(name, "Ping")) {
      s->send(head("Success") + kv("Ping", "Pong") + kv("Timestamp", "1795452333.505612") + "\r\n");
      return true;
    }
    if (ami::iequals(name, "Command")) {
      std::string cli(m.get("Command").value_or(""));
      if (cli.rfind("core show", 0) != 0) {
        s->send(head("Error") + kv("Message", "Command output follows") +
                kv("Output", "No such command '" + cli + "' (type 'core show help " + cli + "' for other possible commands)") +
                "\r\n");
        return true;
      }
      std::string r = head("Success") + kv("Message", "Command output follows");
      for (const auto& line : opts.command_output) r += kv("Output", line);
      s->send(r + "\r\n");
      return true;
    }
    if (ami::iequals(name, "CoreShowChannels")) {
      std::string r = head("Success") + kv("EventList", "start") + kv("Message", "Channels will follow") + "\r\n";
      std::size_t items = opts.close_mid_list ? 1 : opts.list_items;
      for (std::size_t i = 0; i < items; ++i) {
        r += "Event: CoreShowChannel\r\n" + kv("ActionID", id) + kv("Channel", "Local/wait@default-0000000" + std::to_string(i) + ";1") +
             "ChannelState: 6\r\nChannelStateDesc: Up\r\nContext: sink\r\nExten: s\r\nPriority: 2\r\n" +
             kv("Uniqueid", "1795452352." + std::to_string(i)) + "Application: Wait\r\nApplicationData: 60\r\n\r\n";
      }
      if (opts.close_mid_list) {
        s->send(std::move(r));
        return false;
      }
      r += "Event: CoreShowChannelsComplete\r\n" + kv("ActionID", id) + kv("EventList", "Complete") +
           kv("ListItems", std::to_string(items)) + "\r\n";
      s->send(std::move(r));
      return true;
    }
    if (ami::iequals(name, "DBGet")) {
      s->send(head("Error") + kv("Message", "Database entry not found") + "\r\n");
      return true;
    }
    if (ami::iequals(name, "Events")) {
      const int mask = ami_rules::strings_to_mask(m.get("EventMask").value_or(""));
      if (mask < 0) {
        s->send(head("Error") + kv("Message", "Invalid event mask") + "\r\n");
        return true;
      }
      s->rules.mask = mask;
      s->send(head("Success") + kv("Events", mask > 0 ? "On" : "Off") + "\r\n");
      maybe_start_burst(s, opts);
      return true;
    }
    if (ami::iequals(name, "Filter")) {
      if (opts.refuse_filter ||
          (!opts.refuse_filter_containing.empty() && m.raw().find(opts.refuse_filter_containing) != std::string_view::npos)) {
        s->send(head("Error") + kv("Message", "Permission denied") + "\r\n");
        return true;
      }
      if (!ami::iequals(m.get("Operation").value_or(""), "Add")) {
        s->send(head("Error") + kv("Message", "Unknown operation") + "\r\n");
        return true;
      }
      auto why = s->rules.add_filter(m.get("MatchCriteria").value_or(""), m.get("Filter").value_or(""),
                                     opts.structured_filters);
      if (!why.empty()) s->send(head("Error") + kv("Message", why) + "\r\n");
      else s->send(head("Success") + kv("Message", "Success") + "\r\n");
      return true;
    }
    if (ami::iequals(name, "CoreSettings")) {
      s->send(head("Success") + kv("AMIversion", "11.0.0") + kv("AsteriskVersion", opts.asterisk_version) +
              "SystemName: \r\nCoreMaxCalls: 0\r\nCoreMaxLoadAvg: 0.000000\r\nCoreRunUser: \r\nCoreRunGroup: \r\n"
              "CoreMaxFilehandles: 0\r\nCoreRealTimeEnabled: No\r\nCoreCDRenabled: No\r\nCoreHTTPenabled: Yes\r\n"
              "SoundsSearchCustomDir: No\r\n\r\n");
      return true;
    }
    s->send(head("Error") + kv("Message", "Invalid/unknown command: " + name + ". Use Action: ListCommands to show available commands.") + "\r\n");
    return true;
  }
};

fake_ami_server::fake_ami_server(fake_ami_options options) : impl_(std::make_shared<impl>()) {
  impl_->options = std::move(options);
  if (!impl_->options.tls_cert_pem.empty()) {
    impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    impl_->tls->use_certificate_chain(asio::buffer(impl_->options.tls_cert_pem));
    impl_->tls->use_private_key(asio::buffer(impl_->options.tls_key_pem), ssl::context::pem);
  }
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  asio::co_spawn(impl_->ctx, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([i = impl_.get()] { i->ctx.run(); });
}

fake_ami_server::~fake_ami_server() {
  // Close everything on the io thread and wait for it, so no posted handler still owns
  // state when the context stops (handlers capture a raw impl pointer: impl owns ctx).
  // The job owns its promise: it may still run after the wait below gave up.
  auto closed = std::make_shared<std::promise<void>>();
  auto f = closed->get_future();
  impl* i = impl_.get();
  asio::post(i->ctx, [i, closed] {
    boost::system::error_code ignored;
    i->acceptor.close(ignored);
    for (auto& w : i->sessions)
      if (auto s = w.lock()) s->close();
    closed->set_value();
  });
  f.wait_for(std::chrono::seconds(5));
  i->ctx.stop();
  if (i->thread.joinable()) i->thread.join();
}

std::uint16_t fake_ami_server::port() const { return impl_->acceptor.local_endpoint().port(); }

void fake_ami_server::set_options(fake_ami_options options) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->options = std::move(options);
}

std::size_t fake_ami_server::connections() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->connections;
}
std::size_t fake_ami_server::logins() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->logins;
}
std::vector<std::chrono::steady_clock::time_point> fake_ami_server::connection_times() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->connection_times;
}
std::vector<std::string> fake_ami_server::actions() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->action_names;
}
std::vector<std::string> fake_ami_server::action_ids() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->action_ids;
}
std::vector<std::string> fake_ami_server::raw_actions() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->raw_actions;
}
std::size_t fake_ami_server::bytes_streamed() const {
  return impl_->streamed.load();
}
std::size_t fake_ami_server::events_streamed() const { return impl_->streamed_events.load(); }
std::size_t fake_ami_server::tls_handshakes_failed() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->handshakes_failed;
}
std::vector<std::string> fake_ami_server::server_names() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->server_names;
}

void fake_ami_server::drop_connections() {
  // Bounded wait; the job owns its promise (it may run after the wait gave up).
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  asio::post(impl_->ctx, [i = impl_.get(), done] {
    for (auto& w : i->sessions)
      if (auto s = w.lock()) s->close();
    i->sessions.clear();
    done->set_value();
  });
  f.wait_for(std::chrono::seconds(5));
}

void fake_ami_server::push_events(std::string bytes) {
  auto events = std::make_shared<std::vector<ami_rules::event>>(ami_rules::split_events(bytes));
  asio::post(impl_->ctx, [i = impl_.get(), events] {
    for (auto& w : i->sessions)
      if (auto s = w.lock(); s && s->logged_in) {
        s->streamed = &i->streamed;
        s->streamed_events = &i->streamed_events;
        auto out = s->filtered(*events);
        if (!out.empty()) s->send(std::move(out));
      }
  });
}

void fake_ami_server::push(std::string bytes) {
  asio::post(impl_->ctx, [i = impl_.get(), bytes = std::move(bytes)] {
    for (auto& w : i->sessions)
      if (auto s = w.lock(); s && s->logged_in) s->send(bytes);
  });
}

std::string event_burst_bytes() {
  std::string in = concat_direction(load_fixture("ami/event-burst.jsonl"), "in");
  // Skip the banner line and the login response (the first message).
  auto banner_end = in.find("\r\n");
  auto login_end = in.find("\r\n\r\n", banner_end + 2);
  return in.substr(login_end + 4);
}

std::size_t count_events(const std::string& bytes) {
  std::size_t n = 0;
  for (std::size_t pos = 0; (pos = bytes.find("\r\n\r\n", pos)) != std::string::npos; pos += 4) ++n;
  return n;
}

}  // namespace astra::test
