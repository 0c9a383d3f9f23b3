// Calls per second through the `webhook` verb loop (actors/webhook) against a local web app
// answering at once, and astra's CPU per verb. The app runs in a forked child process (its CPU
// is not counted); astra's side is the real HTTP client (keep-alive pool, signing, JSON) and the
// real verb loop with a call whose media steps complete at once (no Asterisk in the way).
//
// Each call: call.start -> [answer, play (interrupted: type-ahead), gather {action}] ->
// verb.result -> [say, hangup]; then call.end. 5 verbs, 3 requests.
// Floor, same run: the same 3 POSTs per call through the same client without the verb loop.
// Goal (issue 12): the loop adds < 100 us of astra CPU per verb.
//
//   bench_webhook [--calls N] [--concurrency C]
#include <utility>  // before Asio

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "actors/common/io_runtime.hpp"
#include "actors/webhook/runner.hpp"

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using namespace astra;
using namespace astra::webhook;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The web app (child process): one thread per keep-alive connection, fixed answers.
[[noreturn]] void run_app(int listen_fd) {
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::v4(), listen_fd);
  const std::string menu_url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/menu";
  const std::string start = R"({"verbs": [{"answer": {}}, {"play": {"file": "welcome", "interrupt_digits": "1"}},)"
                            R"( {"gather": {"play": "menu", "max_digits": 1, "action": ")" + menu_url + R"("}}]})";
  const std::string menu = R"({"verbs": [{"say": {"digits": "1"}}, {"hangup": {}}]})";
  for (;;) {
    tcp::socket s(io);
    boost::system::error_code ec;
    acceptor.accept(s, ec);
    if (ec) continue;
    std::thread([s = std::move(s), &start, &menu]() mutable {
      boost::beast::flat_buffer buffer;
      for (;;) {
        http::request<http::string_body> req;
        boost::system::error_code ec;
        http::read(s, buffer, req, ec);
        if (ec) return;
        http::response<http::string_body> res{http::status::ok, 11};
        if (req.body().find("\"call.end\"") != std::string::npos) {
          res.result(http::status::no_content);
        } else {
          res.set(http::field::content_type, "application/json");
          res.body() = req.target() == "/menu" ? menu : start;
        }
        res.keep_alive(true);
        res.prepare_payload();
        http::write(s, res, ec);
        if (ec) return;
      }
    }).detach();
  }
}

// A call whose media steps complete at once; post() goes through the real HTTP client and
// resumes the loop on the client's I/O thread.
struct instant_media final : call_media {
  std::shared_ptr<http_client> client;
  explicit instant_media(std::shared_ptr<http_client> c) : client(std::move(c)) {}
  void describe(nlohmann::json&) const override {}
  task<result<void>> answer() override { co_return result<void>{}; }
  task<result<play_outcome>> play(std::string, std::string interrupt) override { co_return play_outcome{interrupt.empty() ? "" : "1"}; }
  task<result<play_outcome>> say(webhook::say) override { co_return play_outcome{}; }
  task<result<std::string>> wait_digit(millis) override { co_return std::string(); }
  task<result<record_outcome>> record(webhook::record w) override { co_return record_outcome{w.file, 0, "silence"}; }
  task<result<void>> set_variable(std::string, std::string) override { co_return result<void>{}; }
  task<result<std::string>> get_variable(std::string) override { co_return std::string(); }
  task<result<dial_outcome>> dial(webhook::dial) override { co_return dial_outcome{"ANSWER", 0}; }
  task<result<void>> pause(millis) override { co_return result<void>{}; }
  task<result<void>> continue_in_dialplan(webhook::continue_) override { co_return result<void>{}; }
  task<result<void>> hangup(std::string) override { co_return result<void>{}; }
  task<result<http_response>> post(http_request request) override {
    auto c = client;
    callback_awaitable<result<http_response>> reply([c, request = std::move(request)](std::function<void(result<http_response>)> done) mutable {
      c->post(std::move(request), std::move(done));
    });
    co_return co_await reply;
  }
};

struct run_figures {
  double seconds = 0, cpu = 0;
  std::size_t calls = 0;
};

// Runs `calls` calls, `concurrency` at a time, each started on the I/O thread by `start_one`.
template <class Start>
run_figures drive(net::io_context& io, std::size_t calls, std::size_t concurrency, Start start_one) {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t started = 0, finished = 0;
  std::function<void()> next;
  next = [&] {
    std::size_t mine;
    {
      std::lock_guard lock(mu);
      if (started == calls) return;
      mine = started++;
    }
    start_one(mine, [&] {
      // Touches drive()'s locals only while a call is left: the last finish notifies under the
      // lock, and drive() returns after that without this thread touching its frame again.
      bool more;
      {
        std::lock_guard lock(mu);
        more = started < calls;
        if (++finished == calls) cv.notify_all();
      }
      if (more) next();
    });
  };
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < concurrency; ++i) net::post(io, next);
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return finished == calls; });
  run_figures f;
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  f.cpu = cpu_seconds() - cpu0;
  f.calls = calls;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t calls = 20'000, concurrency = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--calls")) calls = std::strtoul(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--concurrency")) concurrency = std::strtoul(argv[i + 1], nullptr, 10);
  }
  // The app's socket, then the app's process (before any thread exists here).
  net::io_context setup;
  tcp::acceptor acceptor(setup, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  acceptor.listen(1024);
  const auto port = acceptor.local_endpoint().port();
  const pid_t app = fork();
  if (app == 0) run_app(acceptor.release());
  acceptor.close();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  io_runtime io(1);  // as the service: one thread owns the webhook sockets
  http_options options;
  options.max_connections_per_host = concurrency;
  auto client = *http_client::create(io.context(), options);
  auto ep = std::make_shared<endpoint>();
  ep->config.url = base + "/start";
  ep->config.secret = "bench-secret";
  ep->client = client;
  std::atomic<std::uint64_t> failures{0}, verbs{0};
  ep->observe.failure = [&](std::string_view) { ++failures; };
  ep->observe.verb = [&](std::string_view, std::string_view) { ++verbs; };

  // Floor: 3 signed POSTs per call through the same client, no verb loop.
  const std::string body = R"({"event":"call.start","call":{"id":"bench"}})";
  auto floor = drive(io.context(), calls, concurrency, [&](std::size_t, std::function<void()> done) {
    auto left = std::make_shared<int>(3);
    auto step = std::make_shared<std::function<void()>>();
    *step = [&, left, step, done] {
      if ((*left)-- == 0) {
        done();
        return;
      }
      http_request r;
      r.url = base + (*left == 1 ? "/menu" : "/start");
      r.body = body;
      client->post(std::move(r), [step](result<http_response>) { (*step)(); });
    };
    (*step)();
  });

  // The loop. Calls live until the end of the run (their frames are owned here).
  std::vector<std::unique_ptr<instant_media>> medias(calls);
  std::vector<root_task> roots(calls);
  auto loop = drive(io.context(), calls, concurrency, [&](std::size_t i, std::function<void()> done) {
    medias[i] = std::make_unique<instant_media>(client);
    roots[i] = root_task(webhook::run(ep, *medias[i], "bench-" + std::to_string(i)));
    roots[i].start([done](std::exception_ptr) { done(); });  // starts the next call (another root)
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the last call.end requests
  client->stop();
  kill(app, SIGKILL);
  waitpid(app, nullptr, 0);

  const double n_verbs = static_cast<double>(verbs.load());
  const double per_verb_us = loop.cpu / n_verbs * 1e6;
  const double added_us = (loop.cpu - floor.cpu) / n_verbs * 1e6;
  std::printf("webhook verb loop: %zu calls (%.0f verbs, 3 requests each), %zu at a time, app in another process\n",
              calls, n_verbs, concurrency);
  std::printf("  floor (3 POSTs per call, same client): %.0f calls/s, astra CPU %.1f us/call\n", floor.calls / floor.seconds,
              floor.cpu / floor.calls * 1e6);
  std::printf("  webhook loop                         : %.0f calls/s, astra CPU %.1f us/call = %.1f us/verb\n",
              loop.calls / loop.seconds, loop.cpu / loop.calls * 1e6, per_verb_us);
  std::printf("  the loop adds %.1f us of CPU per verb over the floor (goal < 100); failures %llu\n", added_us,
              static_cast<unsigned long long>(failures.load()));
  std::printf("{\"bench\":\"webhook\",\"calls\":%zu,\"calls_per_s\":%.0f,\"cpu_us_per_verb\":%.1f,"
              "\"loop_added_cpu_us_per_verb\":%.1f,\"floor_calls_per_s\":%.0f,\"floor_cpu_us_per_call\":%.1f,"
              "\"failures\":%llu,\"goal_us_per_verb\":100,\"goal_met\":%s}\n",
              calls, loop.calls / loop.seconds, per_verb_us, added_us, floor.calls / floor.seconds,
              floor.cpu / floor.calls * 1e6, static_cast<unsigned long long>(failures.load()),
              per_verb_us < 100 ? "true" : "false");
  return failures.load() == 0 ? 0 : 1;
}
