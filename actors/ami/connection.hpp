#pragma once
// One TCP or TLS connection to an AMI server, owned by Asio (internal to actors/ami). All
// socket work runs on a strand of the io_runtime's context; the callbacks below are invoked
// on that strand and must only hand data over (anon_send) without blocking. The read loop,
// its pause/resume (hold_reading, inbox_room, max_read_stall) and the write queue behave
// the same over TLS: only the stream under them differs.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/ami/tls_config.hpp"
#include "actors/common/inflight_bound.hpp"
#include "protocols/ami/message.hpp"
#include "protocols/ami/parser.hpp"
#include "protocols/common/result.hpp"

namespace astra {
class io_runtime;
}

namespace astra::ami::detail {

inline constexpr std::size_t max_reports_per_batch = 64;  // oversized/dropped entries kept per read

// Messages parsed from one socket read.
struct read_batch {
  std::vector<message_ptr> messages;  // wire order
  std::size_t events = 0;             // events among them holding an inbox credit
  std::size_t event_bytes = 0;        // their bytes (raw().size()), as acquired from the inbox
  std::uint64_t parse_errors = 0;     // malformed messages in this read (stream resynchronised)
  std::string last_parse_error;
  // Messages refused for a read limit, <= max_reports_per_batch (more are only counted in
  // oversized_count); each one is discarded by the parser, never delivered.
  std::vector<oversized_message> oversized;
  std::uint64_t oversized_count = 0;
  // Events shed by the reader because the inbox stayed full past the stall bound: their
  // names (<= max_reports_per_batch; the rest are "(more)") for per-event-name counts.
  std::vector<std::string> shed_event_names;
  std::uint64_t shed_events = 0;
};

struct connection_options {
  std::string host;
  std::uint16_t port = 0;
  // Resolve + TCP connect (+ TLS handshake): on_connected fires once all of it is done.
  std::chrono::milliseconds connect_timeout{5000};
  // TLS when tls.enabled. A TLS failure (CA store, handshake, certificate refused) closes
  // with ami_errc::tls_failed; its detail ends with the verifier's reason when verifying.
  tls_config tls;
  std::chrono::milliseconds write_timeout{2000};
  std::size_t read_buffer_bytes = 64 * 1024;
  std::size_t max_write_queue_bytes = 4 * 1024 * 1024;
  parser_limits limits;  // what is read from Asterisk (message.hpp default_read_*)
  // Reader -> actor bound on events, in events and bytes (responses and the banner always
  // pass). Policy pause_reading: when the bound is full after a read, the reader stops
  // reading until the consumer returns credit (the bound's room callback must end in
  // resume()), for at most max_read_stall; then it reads again and sheds (drops and counts)
  // the events that do not fit until the bound has room. The consumer releases the credit
  // of every credited event (read_batch::events / event_bytes).
  inflight_bound_ptr inbox;
  // Longest pause of the reader (inbox full, or pause_reading() held) before it reads and
  // sheds again. Below Asterisk's 100 ms AMI writetimeout, after which Asterisk drops the
  // client; the kernel's socket buffers absorb a good deal before Asterisk's write blocks.
  std::chrono::milliseconds max_read_stall{50};
};

struct connection_handlers {
  std::function<void()> on_connected;
  // Optional: called with each message as soon as it is parsed, before it joins the read's
  // batch; returning true consumes it (not batched, no inbox credit taken). For a consumer on
  // the strand itself (astra ami watch): no shared_ptr per message, and the message's memory
  // is freed while it is still hot, before the next one is parsed.
  std::function<bool(const message&)> on_message;
  std::function<void(read_batch&&)> on_batch;
  std::function<void(failure)> on_closed;  // exactly once per connection, last callback
};

class connection {
 public:
  virtual ~connection() = default;
  // Resolves, connects (and does the TLS handshake) within connect_timeout, then reads until
  // closed. Call once.
  virtual void start() = 0;
  // Thread-safe. Queues bytes for writing; each write must finish within write_timeout.
  virtual void write(std::string bytes) = 0;
  // Thread-safe, idempotent: closes the socket (over TLS without close_notify: AMI ends
  // with Logoff, not with the TLS layer); on_closed(reason) fires if it has not yet.
  virtual void close(failure reason) = 0;
  // Thread-safe: the consumer asks the reader to stop reading (a pause_reading subscriber
  // is full) or to read again; the same max_read_stall bound applies to a held reader,
  // after which it reads again on its own (the consumer sheds).
  virtual void hold_reading(bool hold) = 0;
  // Thread-safe: the inbox has room again (call from the inbox's room callback path).
  virtual void inbox_room() = 0;
};

std::shared_ptr<connection> make_connection(io_runtime& io, connection_options options,
                                            connection_handlers handlers);

}  // namespace astra::ami::detail
