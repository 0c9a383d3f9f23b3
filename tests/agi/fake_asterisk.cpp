#include <utility>

#include "tests/agi/fake_asterisk.hpp"

#include <caf/all.hpp>

#include "actors/common/io_runtime.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace astra::test {

namespace {

using steady = std::chrono::steady_clock;

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

}  // namespace

fake_asterisk::fake_asterisk(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    auto err = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(std::string("connect: ") + std::strerror(err));
  }
}

fake_asterisk::~fake_asterisk() { close(); }

void fake_asterisk::send(std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string fake_asterisk::read_exactly(std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  std::string out = std::move(buffered_);
  buffered_.clear();
  if (out.size() > n) {
    buffered_ = out.substr(n);
    out.resize(n);
  }
  char buf[4096];
  while (out.size() < n && fd_ >= 0) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r <= 0) break;  // timeout
    auto want = std::min(sizeof buf, n - out.size());
    auto got = ::recv(fd_, buf, want, 0);
    if (got <= 0) break;  // closed or reset
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

std::string fake_asterisk::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  char buf[4096];
  while (fd_ >= 0) {
    if (auto lf = buffered_.find('\n'); lf != std::string::npos) {
      auto line = buffered_.substr(0, lf + 1);
      buffered_.erase(0, lf + 1);
      return line;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return {};
    auto got = ::recv(fd_, buf, sizeof buf, 0);
    if (got <= 0) return {};
    buffered_.append(buf, static_cast<std::size_t>(got));
  }
  return {};
}

bool fake_asterisk::wait_closed(std::chrono::milliseconds timeout, std::string* extra) {
  const auto deadline = steady::now() + timeout;
  if (!buffered_.empty()) {
    if (extra) *extra += buffered_;
    buffered_.clear();
    return false;
  }
  char buf[4096];
  while (fd_ >= 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
    auto got = ::recv(fd_, buf, sizeof buf, 0);
    if (got == 0) return true;
    if (got < 0) return errno == ECONNRESET;
    if (extra) extra->append(buf, static_cast<std::size_t>(got));
    return false;
  }
  return false;
}

void fake_asterisk::close(bool reset) {
  if (fd_ < 0) return;
  if (reset) {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd_);
  fd_ = -1;
}

std::string fake_asterisk::replay(const std::vector<recorded_chunk>& chunks, std::size_t cut_at, bool merge_runs,
                                  std::chrono::milliseconds timeout) {
  std::size_t in_offset = 0;  // offset of the next `in` byte in the concatenated stream
  std::size_t i = 0;
  while (i < chunks.size()) {
    if (chunks[i].dir == "in") {
      // One run of `in` records.
      std::vector<std::string> writes;
      for (; i < chunks.size() && chunks[i].dir == "in"; ++i) {
        if (merge_runs && !writes.empty()) writes.back() += chunks[i].data;
        else writes.push_back(chunks[i].data);
      }
      for (const auto& w : writes) {
        if (cut_at > in_offset && cut_at < in_offset + w.size()) {
          auto first = cut_at - in_offset;
          send(std::string_view(w).substr(0, first));
          std::this_thread::sleep_for(std::chrono::microseconds(300));
          send(std::string_view(w).substr(first));
        } else {
          send(w);
        }
        in_offset += w.size();
      }
    } else if (chunks[i].dir == "out") {
      std::string expected;
      for (; i < chunks.size() && chunks[i].dir == "out"; ++i) expected += chunks[i].data;
      auto got = read_exactly(expected.size(), timeout);
      if (got != expected)
        return "record " + std::to_string(i) + ": expected \"" + expected + "\" got \"" + got + "\"";
    } else {
      ++i;
    }
  }
  std::string extra;
  if (!wait_closed(timeout, &extra)) return "server did not close after the last record; extra bytes \"" + extra + "\"";
  return {};
}

std::string make_environment(std::string_view script, const std::vector<std::string>& args, std::string_view callerid) {
  std::string env;
  env += "agi_network: yes\n";
  env += "agi_network_script: " + std::string(script) + "\n";
  env += "agi_request: agi://127.0.0.1:4573/" + std::string(script) + "\n";
  env += "agi_channel: Local/test@default-00000001;2\n";
  env += "agi_language: en\nagi_type: Local\nagi_uniqueid: 1795452521.93\nagi_version: 22.11.0-rc1\n";
  env += "agi_callerid: " + std::string(callerid) + "\n";
  env += "agi_calleridname: Caller\nagi_callingpres: 0\nagi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\n";
  env += "agi_dnid: unknown\nagi_rdnis: unknown\nagi_context: default\nagi_extension: agi\nagi_priority: 3\n";
  env += "agi_enhanced: 0.0\nagi_accountcode: \nagi_threadid: 140279413057216\n";
  for (std::size_t i = 0; i < args.size(); ++i) env += "agi_arg_" + std::to_string(i + 1) + ": " + args[i] + "\n";
  env += "\n";
  return env;
}

struct test_server::impl {
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<io_runtime> io;
  std::unique_ptr<agi::server> srv;
};

test_server::test_server(agi::router routes, agi::server_config config) : impl_(std::make_unique<impl>()) {
  impl_->config.set("scheduler.max-threads", 2);
  impl_->system = std::make_unique<caf::actor_system>(impl_->config);
  impl_->io = std::make_unique<io_runtime>(1);
  config.host = "127.0.0.1";
  config.port = 0;
  impl_->srv = std::make_unique<agi::server>(*impl_->system, impl_->io->context(), std::move(routes), std::move(config));
  if (auto ec = impl_->srv->start()) throw std::runtime_error("agi server start: " + ec.message());
}

test_server::~test_server() {
  impl_->srv->shutdown(std::chrono::milliseconds(0));
  impl_->srv.reset();
  impl_->io->stop();
  impl_->io.reset();  // destroys pending handlers (and the connections they hold) first
  impl_->system.reset();
}

agi::server& test_server::server() noexcept { return *impl_->srv; }
std::uint16_t test_server::port() const noexcept { return impl_->srv->local_port(); }

bool test_server::wait_live_zero(std::chrono::milliseconds timeout) {
  return eventually([this] { return impl_->srv->live_calls() == 0; }, timeout);
}

}  // namespace astra::test
