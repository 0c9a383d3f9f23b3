#include "service/cli/ari_event_tail.hpp"

#include <utility>  // before Asio: awaitable.hpp uses std::exchange

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <nlohmann/json.hpp>

#include "actors/ari/errors.hpp"
#include "actors/ari/events_target.hpp"
#include "actors/ari/rest.hpp"

namespace astra::cli {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using ari::ari_errc;

constexpr auto user_agent = "astra-ari/0.1";
constexpr std::size_t read_chunk = 256 * 1024;

// Text of a refused upgrade / HTML error page: JSON "message", else the first <p>, else the
// reason (as actors/ari/event_stream.cpp words it).
std::string refusal_text(std::string_view reason, std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("message") && doc["message"].is_string()) return doc["message"].get<std::string>();
  auto p = body.find("<p>");
  if (p != std::string_view::npos) {
    auto e = body.find("</p>", p);
    if (e != std::string_view::npos) return std::string(body.substr(p + 3, e - p - 3));
  }
  return std::string(reason);
}


failure io_failure(const beast::error_code& ec, ari_errc fallback) {
  if (ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::broken_pipe ||
      ec == http::error::end_of_stream || ec == http::error::partial_message)
    return {ari_errc::disconnected, ec.message()};
  return {fallback, ec.message()};
}

class tail {
 public:
  tail(const ari::client_config& cfg, const ari::endpoint& ep, std::optional<steady::time_point> until,
       const ari_frame_sink& sink)
      : cfg_(cfg), ep_(ep), until_(until), sink_(sink), socket_(io_), resolver_(io_), deadline_(io_), watchdog_(io_),
        end_timer_(io_), buf_(new char[read_chunk]), cap_(read_chunk), rng_(std::random_device{}()) {}

  std::optional<failure> run() {
    if (until_) {
      end_timer_.expires_at(*until_);
      end_timer_.async_wait([this](const beast::error_code& ec) {
        if (!ec) stop(std::nullopt);
      });
    }
    // An exception out of the session (e.g. bad_alloc) ends the tail as a failure, never as
    // a clean end.
    net::co_spawn(io_, session(), [this](std::exception_ptr e) {
      if (!e) return;
      std::string what = "internal error";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what += std::string(": ") + x.what();
      } catch (...) {
      }
      stop(failure{ari_errc::disconnected, std::move(what)});
    });
    io_.run();
    return outcome_;
  }

 private:
  // Ends the tail once: the first outcome wins.
  void stop(std::optional<failure> why) {
    if (finished_) return;
    finished_ = true;
    outcome_ = std::move(why);
    beast::error_code ec;
    resolver_.cancel();
    socket_.close(ec);
    deadline_.cancel();
    watchdog_.cancel();
    end_timer_.cancel();
  }

  net::awaitable<void> session() {
    deadline_.expires_after(cfg_.connect_timeout);
    deadline_.async_wait([this](const beast::error_code& ec) {
      if (!ec && !upgraded_) stop(failure{ari_errc::timeout, "connecting to " + ep_.host_header()});
    });
    beast::error_code ec;
    auto resolved = co_await resolver_.async_resolve(ep_.host, ep_.port, net::redirect_error(net::use_awaitable, ec));
    if (finished_) co_return;
    if (ec) {
      std::string detail = ep_.host + ": " + ec.message();
      stop(failure{ari_errc::resolve_failed, std::move(detail)});
      co_return;
    }
    co_await net::async_connect(socket_, resolved, net::redirect_error(net::use_awaitable, ec));
    if (finished_) co_return;
    if (ec) {
      stop(io_failure(ec, ari_errc::connect_failed));
      co_return;
    }
    socket_.set_option(tcp::no_delay(true), ec);
    // The upgrade (RFC 6455 section 4.1), by hand so that frame bytes read together with the
    // response stay ours.
    beast::websocket::detail::sec_ws_key_type key;
    beast::websocket::detail::make_sec_ws_key(key);
    http::request<http::empty_body> req{http::verb::get, events_target(cfg_, ep_), 11};
    req.set(http::field::host, ep_.host_header());
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::connection, "upgrade");
    req.set(http::field::sec_websocket_key, key);
    req.set(http::field::sec_websocket_version, "13");
    req.set(http::field::user_agent, user_agent);
    if (!cfg_.use_api_key) {
      std::string auth = "Basic " + ari::base64_encode(cfg_.user + ":" + cfg_.password);
      req.set(http::field::authorization, auth);
    }
    co_await http::async_write(socket_, req, net::redirect_error(net::use_awaitable, ec));
    if (finished_) co_return;
    if (ec) {
      stop(io_failure(ec, ari_errc::connect_failed));
      co_return;
    }
    beast::flat_buffer head;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    parser.skip(false);
    co_await http::async_read(socket_, head, parser, net::redirect_error(net::use_awaitable, ec));
    if (finished_) co_return;
    if (ec) {
      stop(io_failure(ec, ari_errc::connect_failed));
      co_return;
    }
    auto& res = parser.get();
    if (res.result_int() != 101) {
      int status = static_cast<int>(res.result_int());
      std::string detail = std::to_string(status) + " " + refusal_text(res.reason(), res.body());
      stop(failure{ari_errc::upgrade_refused, std::move(detail)});
      co_return;
    }
    beast::websocket::detail::sec_ws_accept_type accept;
    beast::websocket::detail::make_sec_ws_accept(accept, key);
    if (!beast::iequals(res[http::field::upgrade], "websocket") ||
        res[http::field::sec_websocket_accept] != beast::string_view(accept.data(), accept.size())) {
      stop(failure{ari_errc::bad_response, "not a WebSocket upgrade response"});
      co_return;
    }
    upgraded_ = true;
    deadline_.cancel();
    // Frame bytes that came with the response.
    auto left = head.data();
    std::memcpy(buf_.get(), left.data(), left.size());
    filled_ = left.size();
    socket_.non_blocking(true, ec);  // send_control never blocks; async reads are unaffected
    last_rx_ = steady::now();
    watch_peer();
    for (;;) {
      if (!parse_frames()) co_return;
      if (need_ > cap_) grow(need_);  // a frame bigger than the buffer
      // Silence counts only while a read waits for the peer (not while the output blocked us).
      last_rx_ = steady::now();
      std::size_t n = co_await socket_.async_read_some(net::buffer(buf_.get() + filled_, cap_ - filled_),
                                                       net::redirect_error(net::use_awaitable, ec));
      if (finished_) co_return;
      if (ec) {
        stop(io_failure(ec, ari_errc::disconnected));
        co_return;
      }
      filled_ += n;
      last_rx_ = steady::now();
    }
  }

  void grow(std::size_t need) {
    std::size_t cap = std::max(cap_ * 2, need);
    std::unique_ptr<char[]> bigger(new char[cap]);
    std::memcpy(bigger.get(), buf_.get(), filled_);
    buf_ = std::move(bigger);
    cap_ = cap;
  }

  // Client frames are masked (RFC 6455 section 5.3).
  // False: the watch was stopped (the frame could not be written at once).
  bool send_control(unsigned opcode, std::string_view payload) {
    std::string frame;
    frame.push_back(static_cast<char>(0x80 | opcode));
    frame.push_back(static_cast<char>(0x80 | payload.size()));  // control payloads are <= 125
    std::uint32_t mask = rng_();
    char m[4];
    std::memcpy(m, &mask, 4);
    frame.append(m, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) frame.push_back(static_cast<char>(payload[i] ^ m[i % 4]));
    // Never blocks (the socket is in non-blocking mode since the upgrade): a peer that does not
    // read its socket while this one's send buffer is full ends the watch, instead of freezing
    // the only thread (and with it the --duration and dead-peer deadlines).
    beast::error_code ec;
    const std::size_t sent = socket_.write_some(net::buffer(frame), ec);
    if (ec == net::error::would_block || (!ec && sent < frame.size())) {
      stop(failure{ari_errc::timeout, "Asterisk does not read its socket (a control frame could not be sent)"});
      return false;
    }
    return true;  // another failure shows on the next read
  }

  bool deliver() {
    if (frames_.empty()) return true;
    if (until_ && steady::now() >= *until_) {
      stop(std::nullopt);
      return false;
    }
    bool more = sink_(std::span<const std::string_view>(frames_.data(), frames_.size()));
    frames_.clear();
    if (!more) stop(std::nullopt);
    return more;
  }

  void add_frame(std::string_view payload) {
    if (payload.find("\"RESTResponse\"") != std::string_view::npos) {
      auto doc = nlohmann::json::parse(payload, nullptr, false);
      auto type = doc.is_object() ? doc.find("type") : doc.end();
      if (type != doc.end() && type->is_string() && *type == "RESTResponse") return;
    }
    frames_.push_back(payload);
  }

  // Takes every complete frame of buf_; false when the tail ended.
  bool parse_frames() {
    const auto* b = reinterpret_cast<const unsigned char*>(buf_.get());
    std::size_t pos = 0;
    need_ = 0;
    while (filled_ - pos >= 2) {
      const unsigned b0 = b[pos], b1 = b[pos + 1];
      std::size_t hdr = 2;
      std::uint64_t len = b1 & 0x7F;
      if (len == 126) {
        if (filled_ - pos < 4) break;
        len = static_cast<std::uint64_t>(b[pos + 2]) << 8 | b[pos + 3];
        hdr = 4;
      } else if (len == 127) {
        if (filled_ - pos < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = len << 8 | b[pos + 2 + i];
        hdr = 10;
      }
      const bool fin = b0 & 0x80;
      const unsigned opcode = b0 & 0x0F;
      if ((b0 & 0x70) || (b1 & 0x80)) return protocol_error("reserved bits or a masked frame from the server");
      if (len > ari::max_event_frame_bytes) {
        deliver();
        stop(failure{ari_errc::response_too_large, "WebSocket frame above " + std::to_string(ari::max_event_frame_bytes) + " bytes"});
        return false;
      }
      if (filled_ - pos < hdr + len) {
        need_ = hdr + static_cast<std::size_t>(len);
        break;
      }
      std::string_view payload(buf_.get() + pos + hdr, static_cast<std::size_t>(len));
      pos += hdr + static_cast<std::size_t>(len);
      switch (opcode) {
        case 0x1:
        case 0x2:
          if (fragmented_) return protocol_error("a new message inside a fragmented one");
          binary_ = opcode == 0x2;  // Asterisk sends text; binary is skipped, as event_stream does
          if (fin) {
            if (!binary_) add_frame(payload);
          } else {
            fragmented_ = true;
            message_.assign(payload);
          }
          break;
        case 0x0:
          if (!fragmented_) return protocol_error("a continuation frame outside a message");
          if (message_.size() + payload.size() > ari::max_event_frame_bytes) {
            deliver();
            stop(failure{ari_errc::response_too_large, "WebSocket message above " + std::to_string(ari::max_event_frame_bytes) + " bytes"});
            return false;
          }
          message_.append(payload);
          if (fin) {
            fragmented_ = false;
            if (binary_) break;
            add_frame(message_);
            if (!deliver()) return false;  // message_ is reused by the next one
          }
          break;
        case 0x8: {
          if (!deliver()) return false;
          int code = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8 | static_cast<unsigned char>(payload[1])) : 1005;
          // Echo the status code when there is a valid one (RFC 6455 5.5.1), else an empty close.
          (void)send_control(0x8, payload.size() >= 2 && code >= 1000 && code != 1005 && code != 1006 && code != 1015
                                      ? payload.substr(0, 2)
                                      : std::string_view{});
          stop(failure{ari_errc::disconnected, "closed by Asterisk (code " + std::to_string(code) + ")"});
          return false;
        }
        case 0x9:
          if (!fin || payload.size() > 125) return protocol_error("a bad ping frame");
          if (!send_control(0xA, payload)) return false;
          break;
        case 0xA:
          ping_outstanding_ = false;
          break;
        default:
          return protocol_error("an unknown opcode");
      }
    }
    if (!deliver()) return false;
    if (pos) {
      std::memmove(buf_.get(), buf_.get() + pos, filled_ - pos);
      filled_ -= pos;
    }
    return true;
  }

  bool protocol_error(const char* what) {
    deliver();
    stop(failure{ari_errc::disconnected, std::string("WebSocket protocol error: ") + what});
    return false;
  }

  // The dead-peer check of event_stream.hpp on one coarse timer.
  void watch_peer() {
    const auto tick = std::max<steady::duration>(cfg_.dead_peer_timeout / 4, std::chrono::milliseconds(1));
    watchdog_.expires_after(tick);
    watchdog_.async_wait([this](const beast::error_code& ec) {
      if (ec || finished_) return;
      const auto silent = steady::now() - last_rx_;
      if (silent >= cfg_.dead_peer_timeout) {
        stop(failure{ari_errc::timeout, "nothing received from Asterisk for " + std::to_string(cfg_.dead_peer_timeout.count()) +
                                            " ms (a ping went unanswered): dead peer"});
        return;
      }
      if (silent >= cfg_.dead_peer_timeout / 2 && !ping_outstanding_) {
        ping_outstanding_ = true;
        if (!send_control(0x9, {})) return;
      }
      watch_peer();
    });
  }

  const ari::client_config& cfg_;
  const ari::endpoint& ep_;
  const std::optional<steady::time_point> until_;
  const ari_frame_sink& sink_;
  net::io_context io_{1};
  tcp::socket socket_;
  tcp::resolver resolver_;
  net::steady_timer deadline_, watchdog_, end_timer_;
  std::unique_ptr<char[]> buf_;
  std::size_t cap_, filled_ = 0, need_ = 0;
  std::vector<std::string_view> frames_;
  std::string message_;  // a fragmented message being assembled
  bool fragmented_ = false;
  bool binary_ = false;  // the current message is binary (skipped)
  bool upgraded_ = false;
  bool finished_ = false;
  bool ping_outstanding_ = false;
  steady::time_point last_rx_;
  std::optional<failure> outcome_;
  std::mt19937 rng_;
};

}  // namespace

std::optional<failure> tail_ari_events(const ari::client_config& config, const ari::endpoint& ep,
                                       std::optional<std::chrono::steady_clock::time_point> until,
                                       const ari_frame_sink& sink) {
  tail t(config, ep, until, sink);
  return t.run();
}

}  // namespace astra::cli
