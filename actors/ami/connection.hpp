#pragma once
// One TCP connection to an AMI server, owned by Asio (internal to actors/ami). All socket
// work runs on a strand of the io_runtime's context; the callbacks below are invoked on
// that strand and must only hand data over (anon_send) without blocking.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/common/inflight_bound.hpp"
#include "protocols/ami/message.hpp"
#include "protocols/common/result.hpp"

namespace astra {
class io_runtime;
}

namespace astra::ami::detail {

// Messages parsed from one socket read.
struct read_batch {
  std::vector<message_ptr> messages;  // wire order
  std::size_t events = 0;             // events among them; each holds one inbox credit
  std::uint64_t parse_errors = 0;     // specific parser errors in this read (stream resynchronised)
  std::string last_parse_error;
};

struct connection_options {
  std::string host;
  std::uint16_t port = 0;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds write_timeout{2000};
  std::size_t read_buffer_bytes = 64 * 1024;
  std::size_t max_write_queue_bytes = 4 * 1024 * 1024;
  // Reader -> actor bound on events (responses and the banner always pass). Events beyond
  // it are dropped and counted by the bound; the consumer releases one credit per event.
  inflight_bound_ptr inbox;
};

struct connection_handlers {
  std::function<void()> on_connected;
  std::function<void(read_batch&&)> on_batch;
  std::function<void(failure)> on_closed;  // exactly once per connection, last callback
};

class connection {
 public:
  virtual ~connection() = default;
  // Resolves and connects within connect_timeout, then reads until closed. Call once.
  virtual void start() = 0;
  // Thread-safe. Queues bytes for writing; each write must finish within write_timeout.
  virtual void write(std::string bytes) = 0;
  // Thread-safe, idempotent: closes the socket; on_closed(reason) fires if it has not yet.
  virtual void close(failure reason) = 0;
};

std::shared_ptr<connection> make_connection(io_runtime& io, connection_options options,
                                            connection_handlers handlers);

}  // namespace astra::ami::detail
