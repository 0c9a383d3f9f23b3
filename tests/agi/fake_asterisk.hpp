#pragma once
// A loopback stand-in for Asterisk's FastAGI client side (tests only): blocking POSIX socket,
// every read with a deadline. Plays recorded `in` bytes and checks the server's `out` bytes.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <memory>

#include "actors/agi/server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/fixtures.hpp"

namespace astra::test {

class fake_asterisk {
 public:
  // Connects to 127.0.0.1:port. Throws std::runtime_error on failure.
  explicit fake_asterisk(std::uint16_t port);
  ~fake_asterisk();
  fake_asterisk(const fake_asterisk&) = delete;
  fake_asterisk& operator=(const fake_asterisk&) = delete;

  // Writes all bytes (throws on a socket error).
  void send(std::string_view bytes);
  // Reads until `n` bytes arrived, the peer closed or `timeout` passed; returns what arrived.
  std::string read_exactly(std::size_t n, std::chrono::milliseconds timeout);
  // Reads one LF-terminated line (LF included); empty on timeout/close.
  std::string read_line(std::chrono::milliseconds timeout);
  // True if the server closed the connection within `timeout` without sending more bytes;
  // any bytes that arrived first are appended to *extra.
  bool wait_closed(std::chrono::milliseconds timeout, std::string* extra = nullptr);
  // Closes the socket (orderly FIN, or RST when `reset`).
  void close(bool reset = false);
  bool is_open() const noexcept { return fd_ >= 0; }

  // Replays a recorded FastAGI session against the server: consecutive `in` records are sent
  // (each record as its own write, or one write per run when merge_runs), every following run
  // of `out` records is read and compared byte for byte. `cut_at`: an offset into the
  // concatenated `in` stream where a write is additionally split in two (with a short pause so
  // the server's reads see the parts separately); npos for none. After the last record the
  // server must close the connection. Returns an empty string on success, else what differed.
  std::string replay(const std::vector<recorded_chunk>& chunks, std::size_t cut_at = std::string::npos,
                     bool merge_runs = false, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

 private:
  int fd_ = -1;
  std::string buffered_;  // bytes read beyond what read_line returned
};

// A minimal agi_* block as Asterisk 22 sends it, for `script` ("ivr/menu?lang=de") and args.
std::string make_environment(std::string_view script, const std::vector<std::string>& args = {},
                             std::string_view callerid = "5551234");

// An agi::server on 127.0.0.1:<ephemeral port> with its own CAF actor system (2 workers)
// and one Asio thread. Starting failures throw (tests only).
class test_server {
 public:
  explicit test_server(agi::router routes, agi::server_config config = {});
  ~test_server();
  agi::server& server() noexcept;
  std::uint16_t port() const noexcept;
  // Polls live_calls() until it is zero; false if it still is not after `timeout`.
  bool wait_live_zero(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace astra::test
