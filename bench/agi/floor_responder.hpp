#pragma once
// The bare FastAGI responder of the benchmarks' floor runs (bench_agi_load --floor,
// bench_agi_churn): one epoll thread, no framework, speaking a fixed script of command lines.
// Whatever a FastAGI server does on top of recv/send costs more than this on the same machine:
// the ceiling the astra figures are read against.
//
// Per connection: reads the agi_* block (up to its blank line), sends script.line(0), then one
// further line per reply line received; after script.count(block) replies it closes the socket.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bench_agi {

// Appends what the non-blocking socket `fd` holds now to `into`, reading through `buf` (of
// `size` bytes) until a short read (the kernel buffer is drained: no extra recv that only says
// EAGAIN). Returns true when the peer closed or the socket failed, false when it would block.
inline bool read_available(int fd, std::string& into, char* buf, std::size_t size) {
  for (;;) {
    auto r = ::recv(fd, buf, size, 0);
    if (r > 0) {
      into.append(buf, static_cast<std::size_t>(r));
      if (static_cast<std::size_t>(r) < size) return false;
      continue;
    }
    return r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

struct floor_script {
  const char* (*line)(long i);                // command i of a call, LF included
  long (*count)(std::string_view env_block);  // commands of the call whose agi_* block this is
};

struct floor_responder {
  explicit floor_responder(floor_script s) : script(s) {}
  floor_script script;
  struct conn {
    int fd = -1;
    bool in_env = true;
    long next = 0;      // index of the next command line; `commands`: close
    long commands = 0;  // from the script, once the agi_* block is in
    std::string partial;
  };
  int listen_fd = -1, ep = -1, wake[2] = {-1, -1};
  std::uint16_t port = 0;
  std::atomic<std::size_t> live{0};
  std::thread worker;

  bool start() {
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd, 65535) != 0) return false;
    socklen_t len = sizeof a;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
    ev.data.ptr = &wake;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, wake[0], &ev);
    worker = std::thread([this] { run(); });
    return true;
  }
  void stop() {
    char b = 'q';
    (void)::write(wake[1], &b, 1);
    worker.join();
    ::close(listen_fd);
    ::close(ep);
  }
  void send_next(conn& c) {
    if (c.next >= c.commands) {
      ::close(c.fd);
      live.fetch_sub(1);
      delete &c;
      return;
    }
    const char* line = script.line(c.next);
    ++c.next;
    (void)::send(c.fd, line, std::strlen(line), MSG_NOSIGNAL);
  }
  void run() {
    std::vector<epoll_event> events(1024);
    char buf[16384];
    for (;;) {
      int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.ptr == &wake) return;
        if (events[i].data.ptr == nullptr) {
          for (;;) {
            int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) break;
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto* c = new conn;
            c->fd = fd;
            live.fetch_add(1);
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLET;
            ev.data.ptr = c;
            ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
          }
          continue;
        }
        auto& c = *static_cast<conn*>(events[i].data.ptr);
        bool gone = false;
        std::size_t lines = 0;
        for (;;) {
          auto r = ::recv(c.fd, buf, sizeof buf, 0);
          if (r > 0) {
            std::string_view in(buf, static_cast<std::size_t>(r));
            if (c.in_env) {
              c.partial.append(in);
              auto end = c.partial.find("\n\n");
              if (end == std::string::npos) continue;
              c.commands = script.count(std::string_view(c.partial).substr(0, end + 2));
              c.in_env = false;
              c.partial.clear();
              ++lines;  // the block asks for the first command
            } else {
              for (char ch : in) lines += ch == '\n';
            }
            if (static_cast<std::size_t>(r) < sizeof buf) break;
            continue;
          }
          if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) gone = true;
          break;
        }
        if (gone) {
          ::close(c.fd);
          live.fetch_sub(1);
          delete &c;
          continue;
        }
        // One reply line per command: each completed line lets the next command go.
        for (std::size_t k = 0; k < lines; ++k) {
          const bool closing = c.next >= c.commands;
          send_next(c);
          if (closing) break;
        }
      }
    }
  }
};


}  // namespace bench_agi
