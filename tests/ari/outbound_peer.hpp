#pragma once
// A blocking WebSocket client that plays Asterisk's side of an outbound ARI socket for tests
// and benchmarks: sends an upgrade request as given (e.g. the recorded bytes), masked text
// frames (optionally in small writes, so astra's reads see them split), and reads astra's
// frames. Every read has a deadline (SO_RCVTIMEO); nothing here asserts timing.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace astra::test {

struct ws_frame {
  int opcode = -1;       // 1 text, 8 close; -1: timeout or connection closed
  std::string payload;   // text, or the close payload (2-byte code + reason)
  std::uint16_t close_code() const {
    return payload.size() >= 2 ? static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                             static_cast<unsigned char>(payload[1]))
                               : 0;
  }
};

class ws_peer {
 public:
  ws_peer() = default;
  ~ws_peer();
  ws_peer(const ws_peer&) = delete;
  ws_peer& operator=(const ws_peer&) = delete;

  bool connect(std::uint16_t port, std::chrono::milliseconds read_timeout = std::chrono::seconds(10));
  // Writes all bytes; chunk > 0 writes them in pieces of that size (TCP_NODELAY is on).
  bool send_raw(std::string_view bytes, std::size_t chunk = 0);
  // The HTTP response head up to and including the blank line ("" on timeout / close).
  std::string read_http_head();
  bool send_text(std::string_view payload, std::size_t chunk = 0);
  bool send_close(std::uint16_t code);
  // Next text or close frame; pings are answered, pongs skipped, a close is answered once.
  ws_frame read_frame();
  // True once the peer closed the TCP connection (reads until EOF or the deadline).
  bool wait_eof();
  void close();

  // "GET <path> HTTP/1.1" with Asterisk's headers (Basic credentials when auth_b64 is set).
  static std::string upgrade_request(std::string_view path, std::string_view auth_b64, bool with_protocol = true);
  // A masked client frame.
  static std::string encode_frame(int opcode, std::string_view payload);

 private:
  bool read_exact(std::size_t n, std::string& out);
  int fd_ = -1;
  bool close_sent_ = false;
  std::string buf_;  // bytes read but not consumed
};

}  // namespace astra::test
