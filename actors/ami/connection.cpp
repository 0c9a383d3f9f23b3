#include "actors/ami/connection.hpp"

#include <utility>
#include <deque>
#include <fstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "actors/common/io_runtime.hpp"
#include "protocols/ami/errors.hpp"
#include "protocols/ami/parser.hpp"

namespace astra::ami::detail {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using strand_type = asio::strand<asio::io_context::executor_type>;
using plain_stream = tcp::socket;
using tls_stream = ssl::stream<tcp::socket>;

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

// The client context: verify_peer against ca_file (or the system store), or verify_none.
// Errors are values: an unreadable CA file is reported, not thrown.
result<std::shared_ptr<ssl::context>> make_tls_context(const tls_config& cfg) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3, ec);
  if (cfg.verify) {
    if (!cfg.ca_file.empty() && !std::ifstream(cfg.ca_file, std::ios::binary))
      return failure{make_error_code(ami_errc::tls_failed), "cannot read CA file " + cfg.ca_file};
    if (!cfg.ca_file.empty()) ctx->load_verify_file(cfg.ca_file, ec);
    else ctx->set_default_verify_paths(ec);
    if (ec)
      return failure{make_error_code(ami_errc::tls_failed),
                     (cfg.ca_file.empty() ? std::string("cannot load the system CA store")
                                          : "cannot load CA file " + cfg.ca_file + " (expected PEM certificates)") +
                         ": " + ec.message()};
    ctx->set_verify_mode(ssl::verify_peer);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

// Prepares the handshake: SNI for a DNS name only (RFC 6066 section 3 forbids IP literals
// there) and, when verifying, the name the certificate must carry, checked by OpenSSL's own
// matcher so that a mismatch is reported by the verifier ("hostname mismatch", "IP address
// mismatch"). Returns "" or what went wrong.
std::string prepare_tls(SSL* ssl, const std::string& name, bool verify) {
  const bool ip = is_ip_literal(name);
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) return "cannot set the TLS server name '" + name + "'";
  if (!verify) return {};
  if (ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) return "cannot expect IP address " + name;
    return {};
  }
  X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(ssl, name.c_str()) != 1) return "cannot expect host name '" + name + "'";
  return {};
}

// A TLS peer gone without close_notify ends the stream like a TCP FIN.
bool peer_closed(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

template <class Stream>
class stream_connection final : public connection, public std::enable_shared_from_this<stream_connection<Stream>> {
  static constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

 public:
  // `tls_ctx` is null for a plain stream; the connection keeps it alive.
  stream_connection(asio::io_context& ctx, std::shared_ptr<ssl::context> tls_ctx, connection_options options,
                    connection_handlers handlers)
      : strand_(asio::make_strand(ctx)),
        resolver_(strand_),
        tls_ctx_(std::move(tls_ctx)),
        stream_(make_stream()),
        connect_timer_(strand_),
        write_timer_(strand_),
        stall_timer_(strand_),
        options_(std::move(options)),
        handlers_(std::move(handlers)),
        read_buffer_(options_.read_buffer_bytes ? options_.read_buffer_bytes : 64 * 1024),
        parser_(options_.limits) {}

  using std::enable_shared_from_this<stream_connection<Stream>>::shared_from_this;

  void start() override {
    asio::post(strand_, [self = shared_from_this()] { self->do_resolve(); });
  }

  void write(std::string bytes) override {
    asio::post(strand_, [self = shared_from_this(), bytes = std::move(bytes)]() mutable {
      self->queue_write(std::move(bytes));
    });
  }

  void close(failure reason) override {
    asio::post(strand_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
      self->fail(std::move(reason));
    });
  }

  void hold_reading(bool hold) override {
    asio::post(strand_, [self = shared_from_this(), hold] {
      self->held_by_consumer_ = hold;
      if (!hold) self->held_stall_over_ = false;
      self->maybe_resume();
    });
  }

  void inbox_room() override {
    asio::post(strand_, [self = shared_from_this()] { self->maybe_resume(); });
  }

 private:
  void do_resolve() {
    if (closed_) return;
    connect_timer_.expires_after(options_.connect_timeout);
    connect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->connected_) return;
      self->fail({make_error_code(ami_errc::timeout),
                  "connect to " + self->endpoint_text() + " timed out after " +
                      std::to_string(self->options_.connect_timeout.count()) + " ms"});
    });
    resolver_.async_resolve(options_.host, std::to_string(options_.port),
                            [self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolve(ec, std::move(results));
                            });
  }

  void on_resolve(boost::system::error_code ec, tcp::resolver::results_type results) {
    if (closed_) return;
    if (ec) {
      fail({make_error_code(ami_errc::disconnected), "resolve " + options_.host + ": " + ec.message()});
      return;
    }
    asio::async_connect(socket(), results, [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
      self->on_connect(ec);
    });
  }

  void on_connect(boost::system::error_code ec) {
    if (closed_) return;
    if (ec) {
      fail({make_error_code(ami_errc::disconnected), "connect to " + endpoint_text() + ": " + ec.message()});
      return;
    }
    boost::system::error_code ignored;
    socket().set_option(tcp::no_delay(true), ignored);
    if constexpr (is_tls) {
      const std::string& name = options_.tls.server_name.empty() ? options_.host : options_.tls.server_name;
      if (auto why = prepare_tls(stream_.native_handle(), name, options_.tls.verify); !why.empty()) {
        fail({make_error_code(ami_errc::tls_failed), why});
        return;
      }
      stream_.async_handshake(ssl::stream_base::client, [self = shared_from_this()](boost::system::error_code ec) {
        self->on_handshake(ec);
      });
    } else {
      on_ready();
    }
  }

  void on_handshake(boost::system::error_code ec) {
    if (closed_) return;
    if (ec) {
      std::string detail = "TLS handshake with " + endpoint_text() + ": " + ec.message();
      if constexpr (is_tls) {
        const long v = SSL_get_verify_result(stream_.native_handle());
        if (options_.tls.verify && v != X509_V_OK) detail += std::string(": ") + X509_verify_cert_error_string(v);
      }
      fail({make_error_code(ami_errc::tls_failed), std::move(detail)});
      return;
    }
    on_ready();
  }

  // TCP (and TLS) is up: the AMI stream starts.
  void on_ready() {
    connected_ = true;
    connect_timer_.cancel();
    if (handlers_.on_connected) handlers_.on_connected();
    if (!write_queue_.empty() && !writing_) do_write();
    maybe_resume();
  }

  void do_read() {
    reading_ = true;
    stream_.async_read_some(asio::buffer(read_buffer_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (closed_) return;
    read_batch batch;
    std::string_view input(read_buffer_.data(), n);
    while (!input.empty()) {
      std::size_t accepted = parser_.feed(input);
      input.remove_prefix(accepted);
      drain(batch, false);
      if (accepted == 0 && !input.empty()) {
        // Cannot happen with a draining parser; refuse to spin.
        fail({make_error_code(ami_errc::buffer_full), "parser accepts no more input"});
        return;
      }
    }
    if (ec) drain(batch, true);
    if (!batch.messages.empty() || batch.parse_errors || batch.oversized_count || batch.shed_events)
      handlers_.on_batch(std::move(batch));
    if (ec) {
      fail({make_error_code(ami_errc::disconnected),
            peer_closed(ec) ? std::string("connection closed by peer") : "read: " + ec.message()});
      return;
    }
    reading_ = false;
    maybe_resume();
  }

  // Reads again unless the reader must wait: the inbox is full (and not shedding yet) or
  // the consumer holds the reader (and its stall bound has not run out).
  void maybe_resume() {
    if (closed_ || reading_ || !connected_) return;
    const bool inbox_full = options_.inbox && options_.inbox->full();
    if (!inbox_full) shedding_ = false;
    const bool wait_inbox = inbox_full && !shedding_;
    const bool wait_consumer = held_by_consumer_ && !held_stall_over_;
    if (wait_inbox) {
      options_.inbox->arm_room_callback();
      if (!options_.inbox->full()) {  // credit came back while arming
        options_.inbox->disarm_room_callback();
        return maybe_resume();
      }
    }
    if (wait_inbox || wait_consumer) {
      if (!stalled_) {
        stalled_ = true;
        stall_timer_.expires_after(options_.max_read_stall);
        stall_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
          if (!ec) self->on_stall_timeout();
        });
      }
      return;
    }
    if (stalled_) {
      stalled_ = false;
      stall_timer_.cancel();
    }
    do_read();
  }

  void on_stall_timeout() {
    if (closed_ || !stalled_) return;
    stalled_ = false;
    // Past the stall bound Asterisk would soon drop us: read again, shed what does not fit.
    if (options_.inbox && options_.inbox->full()) shedding_ = true;
    if (held_by_consumer_) held_stall_over_ = true;
    maybe_resume();
  }

  void drain(read_batch& batch, bool at_eof) {
    for (;;) {
      auto next = at_eof ? parser_.finish() : parser_.next();
      if (!next) return;
      if (!next->ok()) {
        if (next->code() == make_error_code(ami_errc::malformed_line) ||
            next->code() == make_error_code(ami_errc::truncated)) {
          ++batch.parse_errors;
          batch.last_parse_error = next->error().message();
        } else {  // a read limit: the parser describes the message it discarded
          ++batch.oversized_count;
          if (batch.oversized.size() < max_reports_per_batch) batch.oversized.push_back(parser_.last_oversized());
        }
        continue;
      }
      message& m = next->value();
      if (handlers_.on_message && handlers_.on_message(m)) continue;
      if (m.kind() == message_kind::event && options_.inbox) {
        const std::size_t bytes = m.raw().size();
        if (options_.inbox->try_reserve(bytes)) {
          ++batch.events;
          batch.event_bytes += bytes;
        } else if (shedding_) {
          options_.inbox->count_drops(1);
          ++batch.shed_events;
          if (batch.shed_event_names.size() < max_reports_per_batch) batch.shed_event_names.emplace_back(m.name());
          continue;
        }
        // else: passes uncredited; the inbox overshoots by at most this one read and the
        // reader pauses after it (maybe_resume).
      }
      batch.messages.push_back(std::make_shared<const message>(std::move(m)));
    }
  }

  void queue_write(std::string bytes) {
    if (closed_) return;
    queued_bytes_ += bytes.size();
    if (queued_bytes_ > options_.max_write_queue_bytes) {
      fail({make_error_code(ami_errc::queue_full), "write queue above " + std::to_string(options_.max_write_queue_bytes) + " bytes"});
      return;
    }
    write_queue_.push_back(std::move(bytes));
    if (!writing_ && connected_) do_write();
  }

  void do_write() {
    writing_ = true;
    ++write_seq_;
    write_timer_.expires_after(options_.write_timeout);
    write_timer_.async_wait([self = shared_from_this(), seq = write_seq_](boost::system::error_code ec) {
      if (ec || !self->writing_ || seq != self->write_seq_) return;
      self->fail({make_error_code(ami_errc::timeout),
                  "write to " + self->endpoint_text() + " blocked for " + std::to_string(self->options_.write_timeout.count()) + " ms"});
    });
    asio::async_write(stream_, asio::buffer(write_queue_.front()), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(boost::system::error_code ec) {
    if (closed_) return;
    if (ec) {
      fail({make_error_code(ami_errc::disconnected), "write: " + ec.message()});
      return;
    }
    queued_bytes_ -= write_queue_.front().size();
    write_queue_.pop_front();
    writing_ = false;
    write_timer_.cancel();
    if (!write_queue_.empty()) do_write();
  }

  void fail(failure reason) {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    connect_timer_.cancel();
    write_timer_.cancel();
    stall_timer_.cancel();
    if (options_.inbox) options_.inbox->disarm_room_callback();
    resolver_.cancel();
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
    write_queue_.clear();
    auto on_closed = std::move(handlers_.on_closed);
    handlers_ = {};
    if (on_closed) on_closed(std::move(reason));
  }

  std::string endpoint_text() const { return options_.host + ":" + std::to_string(options_.port); }

  Stream make_stream() {
    if constexpr (is_tls) return Stream(strand_, *tls_ctx_);
    else return Stream(strand_);
  }
  tcp::socket& socket() {
    if constexpr (is_tls) return stream_.next_layer();
    else return stream_;
  }

  strand_type strand_;
  tcp::resolver resolver_;
  std::shared_ptr<ssl::context> tls_ctx_;  // null for a plain stream
  Stream stream_;
  asio::steady_timer connect_timer_;
  asio::steady_timer write_timer_;
  asio::steady_timer stall_timer_;  // bounds a paused reader (max_read_stall)
  connection_options options_;
  connection_handlers handlers_;
  std::vector<char> read_buffer_;
  parser parser_;
  std::deque<std::string> write_queue_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t write_seq_ = 0;
  bool connected_ = false;
  bool writing_ = false;
  bool reading_ = false;            // an async_read_some is outstanding
  bool stalled_ = false;            // the reader waits (inbox full or held) and stall_timer_ runs
  bool shedding_ = false;           // the inbox stayed full past the stall bound: drop what does not fit
  bool held_by_consumer_ = false;   // hold_reading(true) in force
  bool held_stall_over_ = false;    // ... and its stall bound ran out: read anyway
  bool closed_ = false;
};

// A connection that only reports `reason` (on the strand, like any close): a TLS context
// that could not be made must fail the attempt the ordinary way, never throw.
class failed_connection final : public connection, public std::enable_shared_from_this<failed_connection> {
 public:
  failed_connection(asio::io_context& ctx, connection_handlers handlers, failure reason)
      : strand_(asio::make_strand(ctx)), handlers_(std::move(handlers)), reason_(std::move(reason)) {}
  void start() override { close(reason_); }
  void write(std::string) override {}
  void close(failure reason) override {
    asio::post(strand_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
      auto on_closed = std::move(self->handlers_.on_closed);
      self->handlers_ = {};
      if (on_closed) on_closed(std::move(reason));
    });
  }
  void hold_reading(bool) override {}
  void inbox_room() override {}

 private:
  strand_type strand_;
  connection_handlers handlers_;
  failure reason_;
};

}  // namespace

std::shared_ptr<connection> make_connection(io_runtime& io, connection_options options, connection_handlers handlers) {
  if (!options.tls.enabled)
    return std::make_shared<stream_connection<plain_stream>>(io.context(), nullptr, std::move(options), std::move(handlers));
  auto ctx = make_tls_context(options.tls);
  if (!ctx) return std::make_shared<failed_connection>(io.context(), std::move(handlers), ctx.error());
  return std::make_shared<stream_connection<tls_stream>>(io.context(), std::move(*ctx), std::move(options),
                                                         std::move(handlers));
}

}  // namespace astra::ami::detail
