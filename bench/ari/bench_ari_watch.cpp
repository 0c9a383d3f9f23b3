// `astra ari watch` against a loopback WebSocket server flooding the recorded ARI event frames
// (every `ws-in` frame of tests/data/asterisk/fixtures/ari/*.jsonl except RESTResponse and
// ApplicationReplaced, which the command does not print as plain events), in recording order,
// cycled without pause: events/s written as JSON lines. The server runs in this process (one
// thread: Beast handshake, then pre-encoded frames written straight to the socket); the
// watcher is the real `astra` executable (next to this binary unless --astra PATH).
// Runs:
//  1. file:   N events to a file (what a user capturing events does): events/s, CPU per event
//             of the astra process (user + system, from wait4), lines counted;
//  2. pretty: the same frames pretty-printed (ari.conf `pretty = yes`: newlines and indents
//             that the watcher must compact away) to a file;
//  3. check:  a smaller run piped back here: every line must parse as JSON and equal the
//             frame sent at its position (nothing lost, reordered or altered).
// ARI has no drop point between the socket and the writer (TCP backpressure), so "lost" is
// what the check and the line counts find missing.
//   bench_ari_watch [--astra PATH] [--count N]   (N per timed run, default 1,000,000)
// Output: figures, then one JSON line {"bench":"ari_watch",...}.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/fixtures.hpp"

extern char** environ;
using clock_type = std::chrono::steady_clock;
namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

namespace {

// The recorded event frames, in recording order (fixture files sorted by name).
std::vector<std::string> recorded_frames() {
  std::vector<std::string> frames;
  for (const auto& name : astra::test::list_fixtures("ari"))
    for (const auto& rec : astra::test::load_fixture(name)) {
      if (rec.dir != "ws-in" || rec.data.empty()) continue;
      auto doc = nlohmann::json::parse(rec.data, nullptr, false);
      if (!doc.is_object()) continue;
      auto type = doc.value("type", "");
      if (type == "RESTResponse" || type == "ApplicationReplaced") continue;
      frames.push_back(rec.data);
    }
  return frames;
}

// Unmasked server-to-client text frames, the frame list repeated whole until >= 256 KiB.
std::string encode_block(const std::vector<std::string>& frames) {
  std::string block;
  while (block.size() < 256 * 1024)
    for (const auto& f : frames) {
      block.push_back(static_cast<char>(0x81));  // FIN + text
      if (f.size() < 126) {
        block.push_back(static_cast<char>(f.size()));
      } else if (f.size() <= 0xFFFF) {
        block.push_back(126);
        block.push_back(static_cast<char>(f.size() >> 8));
        block.push_back(static_cast<char>(f.size() & 0xFF));
      } else {
        block.push_back(127);
        for (int i = 7; i >= 0; --i) block.push_back(static_cast<char>((f.size() >> (8 * i)) & 0xFF));
      }
      block += f;
    }
  return block;
}

// Accepts one WebSocket client at a time and writes `block` to it in a loop until it goes away.
class flood_server {
 public:
  flood_server() : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { run(); });
  }
  ~flood_server() {
    stopping_ = true;
    boost::system::error_code ec;
    tcp::socket poke(io_);
    poke.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);  // wakes accept()
    thread_.join();
  }
  unsigned short port() const { return port_; }
  void set_block(std::string block) {
    std::lock_guard lock(mu_);
    block_ = std::move(block);
  }

 private:
  void run() {
    while (!stopping_) {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stopping_) break;
      std::string block;
      {
        std::lock_guard lock(mu_);
        block = block_;
      }
      websocket::stream<tcp::socket&> ws(s);
      ws.accept(ec);  // credentials are not checked
      if (ec) continue;
      while (!ec) net::write(s, net::buffer(block), ec);  // until the watcher closes the socket
    }
  }

  net::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::string block_;
  std::thread thread_;
};

struct run_outcome {
  int exit_code = -1;
  double seconds = 0;
  double cpu_seconds = 0;  // astra's user + system time
  std::string err;
  std::string out;         // piped runs only
};

// Runs `astra ari watch --count N`; stdout to `out_path`, or to a pipe read into r.out.
run_outcome run_watch(const std::string& astra, unsigned short port, std::uint64_t count, const char* out_path) {
  run_outcome r;
  int err_pipe[2], out_pipe[2] = {-1, -1};
  if (::pipe(err_pipe) != 0) return r;
  if (!out_path && ::pipe(out_pipe) != 0) return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_path) posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  else posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::string url = "http://127.0.0.1:" + std::to_string(port), count_s = std::to_string(count);
  std::vector<std::string> args{astra, "ari", "watch", "--url", url, "--app", "bench", "--count", count_s, "--timeout", "5"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto start = clock_type::now();
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, astra.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(err_pipe[1]);
  if (!out_path) ::close(out_pipe[1]);
  if (spawned != 0) {
    r.err = "cannot spawn " + astra;
    return r;
  }
  if (!out_path) {
    std::vector<char> buf(1 << 20);
    ssize_t n;
    while ((n = ::read(out_pipe[0], buf.data(), buf.size())) > 0) r.out.append(buf.data(), static_cast<std::size_t>(n));
    ::close(out_pipe[0]);
  }
  char ebuf[4096];
  ssize_t n;
  while ((n = ::read(err_pipe[0], ebuf, sizeof ebuf)) > 0) r.err.append(ebuf, static_cast<std::size_t>(n));
  ::close(err_pipe[0]);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.cpu_seconds = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Lines in a file, and lines not shaped {...}.
std::pair<std::uint64_t, std::uint64_t> count_lines(const char* path) {
  std::uint64_t lines = 0, bad = 0;
  int fd = ::open(path, O_RDONLY);
  if (fd < 0) return {0, 0};
  std::vector<char> buf(1 << 20);
  char prev = '\n';
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0)
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[static_cast<std::size_t>(i)];
      if (prev == '\n' && c != '{') ++bad;
      if (c == '\n') {
        ++lines;
        if (prev != '}') ++bad;
      }
      prev = c;
    }
  ::close(fd);
  return {lines, bad};
}

std::string default_astra() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : std::string("./");
  return path.substr(0, path.rfind('/') + 1) + "astra";
}

struct timed {
  double events_per_s = 0;
  double cpu_us_per_event = 0;
  std::uint64_t lost = 0, bad = 0;
  bool ok = false;
};

timed timed_run(const char* label, const std::string& astra, unsigned short port, std::uint64_t count, double startup) {
  char path[] = "/tmp/bench_ari_watch.XXXXXX";
  int fd = ::mkstemp(path);
  if (fd >= 0) ::close(fd);
  auto r = run_watch(astra, port, count, path);
  auto [lines, bad] = count_lines(path);
  ::unlink(path);
  timed t;
  double net = std::max(r.seconds - startup, 1e-6);
  t.events_per_s = static_cast<double>(lines) / net;
  t.cpu_us_per_event = lines ? r.cpu_seconds * 1e6 / static_cast<double>(lines) : 0;
  t.lost = count > lines ? count - lines : 0;
  t.bad = bad;
  t.ok = r.exit_code == 0 && lines == count && bad == 0;
  std::printf("  %-7s %llu events written in %.3f s = %.0f events/s; astra CPU %.2f us/event; %llu lost, %llu malformed "
              "(exit %d)%s%s\n",
              label, static_cast<unsigned long long>(lines), net, t.events_per_s, t.cpu_us_per_event,
              static_cast<unsigned long long>(t.lost), static_cast<unsigned long long>(bad), r.exit_code,
              r.err.empty() ? "" : ", stderr: ", r.err.c_str());
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::string astra = default_astra();
  std::uint64_t count = 1'000'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--astra") == 0) astra = argv[i + 1];
    if (std::strcmp(argv[i], "--count") == 0) count = std::stoull(argv[i + 1]);
  }
  auto frames = recorded_frames();
  std::vector<std::string> pretty;
  for (const auto& f : frames) pretty.push_back(nlohmann::ordered_json::parse(f).dump(2));
  std::size_t bytes = 0;
  for (const auto& f : frames) bytes += f.size();
  flood_server server;
  server.set_block(encode_block(frames));

  // Startup cost (process, connect, upgrade) measured with a 1-event run.
  auto warm = run_watch(astra, server.port(), 1, "/dev/null");
  if (warm.exit_code != 0) {
    std::fprintf(stderr, "bench_ari_watch: astra ari watch failed (%d): %s\n", warm.exit_code, warm.err.c_str());
    return 1;
  }
  std::printf("astra ari watch against a loopback WebSocket flood of %zu recorded ARI event frames (%zu bytes on average)\n",
              frames.size(), bytes / frames.size());
  std::printf("  startup cost: %.3f s (same command with --count 1), subtracted below\n", warm.seconds);

  auto file = timed_run("file:", astra, server.port(), count, warm.seconds);
  server.set_block(encode_block(pretty));
  auto pp = timed_run("pretty:", astra, server.port(), count, warm.seconds);
  server.set_block(encode_block(frames));

  // Piped back: every line equals the frame sent at its position.
  const std::uint64_t check_count = 200'000;
  auto checked = run_watch(astra, server.port(), check_count, nullptr);
  std::uint64_t lines = 0, mismatched = 0;
  std::vector<nlohmann::json> expected;
  for (const auto& f : frames) expected.push_back(nlohmann::json::parse(f));
  for (std::size_t pos = 0; pos < checked.out.size();) {
    auto nl = checked.out.find('\n', pos);
    if (nl == std::string::npos) nl = checked.out.size();
    auto doc = nlohmann::json::parse(checked.out.begin() + static_cast<std::ptrdiff_t>(pos),
                                     checked.out.begin() + static_cast<std::ptrdiff_t>(nl), nullptr, false);
    if (doc.is_discarded() || doc != expected[lines % expected.size()]) ++mismatched;
    ++lines;
    pos = nl + 1;
  }
  bool check_ok = checked.exit_code == 0 && lines == check_count && mismatched == 0;
  std::printf("  check (pipe): %llu lines of %llu, %llu not equal to the frame sent, exit %d%s%s\n",
              static_cast<unsigned long long>(lines), static_cast<unsigned long long>(check_count),
              static_cast<unsigned long long>(mismatched), checked.exit_code, checked.err.empty() ? "" : ", stderr: ",
              checked.err.c_str());
  std::uint64_t lost = file.lost + pp.lost + (check_count > lines ? check_count - lines : 0);
  bool met = file.ok && pp.ok && check_ok && file.events_per_s >= 300000;
  std::printf("  goal:         >= 300000 events/s written to a file, none lost: %s\n", met ? "met" : "NOT met");
  std::printf("{\"bench\":\"ari_watch\",\"events_per_s\":%.0f,\"cpu_us_per_event\":%.2f,\"pretty_events_per_s\":%.0f,"
              "\"pretty_cpu_us_per_event\":%.2f,\"lost\":%llu,\"malformed\":%llu,\"startup_s\":%.4f,\"goal_met\":%s}\n",
              file.events_per_s, file.cpu_us_per_event, pp.events_per_s, pp.cpu_us_per_event,
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(file.bad + pp.bad + mismatched),
              warm.seconds, met ? "true" : "false");
  return met ? 0 : 1;
}
