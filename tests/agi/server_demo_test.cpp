// Drives the agi_demo executable (examples/agi_demo.cpp) as Asterisk would: /ivr/menu with a
// query and AGI arguments, /hang with the caller hanging up (both orders Asterisk uses), and
// SIGTERM with a call still running (graceful drain, exit status 0).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "tests/agi/fake_asterisk.hpp"

#ifndef ASTRA_AGI_DEMO_PATH
#error "ASTRA_AGI_DEMO_PATH must name the agi_demo executable"
#endif

using namespace std::chrono_literals;
using astra::test::fake_asterisk;
using astra::test::make_environment;

namespace {

constexpr auto io_timeout = 3000ms;

// agi_demo as a child process with its stdout captured, listening on a port the kernel picks
// (read back from its "listening on" line: no port is chosen here and bound later).
class demo_process {
 public:
  demo_process() {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::execl(ASTRA_AGI_DEMO_PATH, "agi_demo", "--listen", "127.0.0.1:0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    out_fd_ = out[0];
    ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  }
  ~demo_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_fd_);
  }

  // Waits for the "agi_demo listening on 127.0.0.1:PORT" line; then port() is that port.
  bool wait_listening() {
    static constexpr std::string_view banner = "agi_demo listening on 127.0.0.1:";
    return astra::test::eventually([&] {
      const auto text = output();
      const auto at = text.find(banner);
      if (at == std::string::npos) return false;
      const auto eol = text.find('\n', at);
      if (eol == std::string::npos) return false;
      port_ = static_cast<std::uint16_t>(std::stoul(text.substr(at + banner.size(), eol - at - banner.size())));
      return port_ != 0;
    }, 10000ms);
  }

  std::uint16_t port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }
  // Exit status, or -1 if it did not exit within `timeout`.
  int wait_exit(std::chrono::milliseconds timeout) {
    int status = 0;
    bool exited = astra::test::eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!exited) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string output() {
    char buf[4096];
    for (;;) {
      auto n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      captured_.append(buf, static_cast<std::size_t>(n));
    }
    return captured_;
  }

 private:
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string captured_;
};

// One exchange: expect `command` from the demo, answer `reply`.
void expect(fake_asterisk& fake, const std::string& command, const std::string& reply) {
  REQUIRE(fake.read_line(io_timeout) == command);
  fake.send(reply);
}

void run_hang(std::uint16_t port, bool hangup_line_first) {
  fake_asterisk fake(port);
  fake.send(make_environment("hang"));
  expect(fake, "ANSWER\n", "200 result=0\n");
  REQUIRE(fake.read_line(io_timeout) == "WAIT FOR DIGIT 60000\n");
  std::this_thread::sleep_for(50ms);  // the caller waits a moment, then hangs up
  fake.send(hangup_line_first ? "HANGUP\n200 result=-1\n" : "200 result=-1\nHANGUP\n");
  expect(fake, "SET VARIABLE ASTRA_SAW_HANGUP 1\n", "200 result=1\n");
  CHECK(fake.wait_closed(io_timeout));
}

}  // namespace

TEST_CASE("agi_demo serves /ivr/menu and /hang and drains on SIGTERM", "[agi][server][demo]") {
  demo_process demo;
  REQUIRE(demo.wait_listening());
  const auto port = demo.port();

  {
    fake_asterisk fake(port);
    fake.send(make_environment("ivr/menu?lang=de", {"first arg", "second"}, "5551234"));
    expect(fake, "ANSWER\n", "200 result=0\n");
    expect(fake, "SET VARIABLE ASTRA_ROUTE /ivr/menu\n", "200 result=1\n");
    expect(fake, "SET VARIABLE ASTRA_LANG de\n", "200 result=1\n");
    expect(fake, "SET VARIABLE ASTRA_ARGS \"first arg|second\"\n", "200 result=1\n");
    expect(fake, "GET VARIABLE CALLERID(num)\n", "200 result=1 (5551234)\n");
    expect(fake, "SET VARIABLE ASTRA_CALLER 5551234\n", "200 result=1\n");
    expect(fake, "STREAM FILE beep \"\"\n", "200 result=0 endpos=3520\n");
    expect(fake, "HANGUP\n", "200 result=1\n");
    CHECK(fake.wait_closed(io_timeout));
  }
  run_hang(port, /*hangup_line_first=*/false);  // Asterisk: the command's -1, then HANGUP
  run_hang(port, /*hangup_line_first=*/true);

  // A call still waiting for a digit when SIGTERM arrives finishes during the drain.
  fake_asterisk late(port);
  late.send(make_environment("hang"));
  expect(late, "ANSWER\n", "200 result=0\n");
  REQUIRE(late.read_line(io_timeout) == "WAIT FOR DIGIT 60000\n");
  REQUIRE(demo.wait_exit(0ms) == -1);  // still running
  ::kill(demo.pid(), SIGTERM);
  // The server's own line, logged once shutdown() has taken its count of calls still running
  // (agi_demo prints "draining calls" just before calling it: a hang-up sent on that line alone
  // could end the call before the drain began).
  REQUIRE(astra::test::eventually(
      [&] { return demo.output().find("agi: shutting down: 1 live calls") != std::string::npos; }, 5000ms));
  CHECK(demo.output().find("agi_demo: SIGTERM, draining calls") != std::string::npos);
  late.send("200 result=-1\nHANGUP\n");  // the caller hangs up during the drain
  expect(late, "SET VARIABLE ASTRA_SAW_HANGUP 1\n", "200 result=1\n");
  CHECK(late.wait_closed(io_timeout));
  CHECK(demo.wait_exit(8000ms) == 0);
  auto log = demo.output();
  INFO(log);
  CHECK(log.find("route /ivr/menu outcome completed") != std::string::npos);
  std::size_t hang_lines = 0;
  for (auto pos = log.find("route /hang outcome completed"); pos != std::string::npos;
       pos = log.find("route /hang outcome completed", pos + 1))
    ++hang_lines;
  CHECK(hang_lines == 3);
  CHECK(log.find("1 calls drained, 0 cut") != std::string::npos);
}
