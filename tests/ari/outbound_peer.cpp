#include "tests/ari/outbound_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>

namespace astra::test {

ws_peer::~ws_peer() { close(); }

void ws_peer::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool ws_peer::connect(std::uint16_t port, std::chrono::milliseconds read_timeout) {
  close();
  close_sent_ = false;
  buf_.clear();
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return false;
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{};
  tv.tv_sec = static_cast<long>(read_timeout.count() / 1000);
  tv.tv_usec = static_cast<long>((read_timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

bool ws_peer::send_raw(std::string_view bytes, std::size_t chunk) {
  if (fd_ < 0) return false;
  if (chunk == 0) chunk = bytes.size();
  while (!bytes.empty()) {
    auto piece = bytes.substr(0, chunk);
    std::size_t sent = 0;
    while (sent < piece.size()) {
      auto n = ::send(fd_, piece.data() + sent, piece.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    bytes.remove_prefix(piece.size());
  }
  return true;
}

bool ws_peer::read_exact(std::size_t n, std::string& out) {
  while (buf_.size() < n) {
    char tmp[16384];
    auto got = ::recv(fd_, tmp, sizeof tmp, 0);
    if (got <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(got));
  }
  out = buf_.substr(0, n);
  buf_.erase(0, n);
  return true;
}

std::string ws_peer::read_http_head() {
  for (;;) {
    auto end = buf_.find("\r\n\r\n");
    if (end != std::string::npos) {
      auto head = buf_.substr(0, end + 4);
      buf_.erase(0, end + 4);
      return head;
    }
    char tmp[4096];
    auto got = ::recv(fd_, tmp, sizeof tmp, 0);
    if (got <= 0) return {};
    buf_.append(tmp, static_cast<std::size_t>(got));
  }
}

std::string ws_peer::encode_frame(int opcode, std::string_view payload) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() < 65536) {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>((payload.size() >> 8) & 0xff);
    f += static_cast<char>(payload.size() & 0xff);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> (8 * i)) & 0xff);
  }
  static thread_local std::mt19937 rng{std::random_device{}()};
  unsigned char mask[4];
  for (auto& m : mask) m = static_cast<unsigned char>(rng());
  for (auto m : mask) f += static_cast<char>(m);
  for (std::size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
  return f;
}

bool ws_peer::send_text(std::string_view payload, std::size_t chunk) { return send_raw(encode_frame(1, payload), chunk); }

bool ws_peer::send_close(std::uint16_t code) {
  if (close_sent_) return true;
  close_sent_ = true;
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xff);
  return send_raw(encode_frame(8, p));
}

ws_frame ws_peer::read_frame() {
  for (;;) {
    std::string head;
    if (!read_exact(2, head)) return {};
    int opcode = static_cast<unsigned char>(head[0]) & 0x0f;
    std::uint64_t len = static_cast<unsigned char>(head[1]) & 0x7f;
    std::string ext;
    if (len == 126) {
      if (!read_exact(2, ext)) return {};
      len = (static_cast<unsigned char>(ext[0]) << 8) | static_cast<unsigned char>(ext[1]);
    } else if (len == 127) {
      if (!read_exact(8, ext)) return {};
      len = 0;
      for (char c : ext) len = (len << 8) | static_cast<unsigned char>(c);
    }
    std::string payload;
    if (!read_exact(static_cast<std::size_t>(len), payload)) return {};
    if (opcode == 9) {  // ping -> pong
      send_raw(encode_frame(10, payload));
      continue;
    }
    if (opcode == 10) continue;
    if (opcode == 8 && !close_sent_) {  // answer a close as Asterisk does
      close_sent_ = true;
      send_raw(encode_frame(8, payload.substr(0, 2)));
      ::shutdown(fd_, SHUT_WR);  // and ends its side, as Asterisk does once the close is answered
    }
    return {opcode, payload};
  }
}

bool ws_peer::wait_eof() {
  for (;;) {
    char tmp[4096];
    auto got = ::recv(fd_, tmp, sizeof tmp, 0);
    if (got == 0) return true;
    if (got < 0) return false;  // deadline
  }
}

std::string ws_peer::upgrade_request(std::string_view path, std::string_view auth_b64, bool with_protocol) {
  std::string r = "GET " + std::string(path) +
                  " HTTP/1.1\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Host: 127.0.0.1:8765\r\n";
  if (!auth_b64.empty()) r += "Authorization: Basic " + std::string(auth_b64) + "\r\n";
  if (with_protocol) r += "Sec-WebSocket-Protocol: ari\r\n";
  r += "Sec-WebSocket-Key: knfzKwAAAADiC0EVAAAAAA==\r\n\r\n";
  return r;
}

}  // namespace astra::test
