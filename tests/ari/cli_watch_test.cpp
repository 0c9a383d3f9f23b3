// `astra ari watch` run in-process (astra::cli::ari_main) against the fake ARI server: one
// compact JSON line per frame (recorded frames byte for byte, pretty-printed ones compacted),
// --count exact, output written while the command still runs (idle flush), the
// ApplicationReplaced notice on stderr, a refused upgrade.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/ari/fake_ari_server.hpp"
#include "tests/support/fixtures.hpp"

namespace astra::cli {
int ari_main(int argc, char** argv, std::FILE* out, std::FILE* err);
}

using namespace std::chrono_literals;

namespace {

struct cli_run {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  std::future<int> code;

  // Starts `astra ari watch --url <server> --app astra-test ARGS...` on its own thread.
  cli_run(const astra::test::fake_ari_server& server, std::vector<std::string> args) {
    REQUIRE(out);
    REQUIRE(err);
    std::vector<std::string> a{"astra ari", "watch", "--url", server.url(), "--app", "astra-test", "--timeout", "5"};
    a.insert(a.end(), args.begin(), args.end());
    code = std::async(std::launch::async, [this, a]() mutable {
      std::vector<char*> argv;
      for (auto& s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      return astra::cli::ari_main(static_cast<int>(argv.size() - 1), argv.data(), out, err);
    });
  }
  ~cli_run() {
    if (code.valid()) code.wait();
    std::fclose(out);
    std::fclose(err);
  }
  // What the command has written so far (it may still be running).
  static std::string written(std::FILE* f) {
    std::fflush(f);  // stderr lines are stdio-buffered; stdout lines are written by fd
    std::string s;
    char buf[65536];
    ssize_t n;
    while ((n = ::pread(::fileno(f), buf, sizeof buf, static_cast<off_t>(s.size()))) > 0)
      s.append(buf, static_cast<std::size_t>(n));
    return s;
  }
  int finish() {
    REQUIRE(code.wait_for(10s) == std::future_status::ready);
    return code.get();
  }
};

std::vector<std::string> recorded_events() {
  std::vector<std::string> frames;
  for (const auto& name : astra::test::list_fixtures("ari"))
    for (const auto& rec : astra::test::load_fixture(name)) {
      if (rec.dir != "ws-in" || rec.data.empty()) continue;
      auto type = nlohmann::json::parse(rec.data).value("type", "");
      if (type != "RESTResponse" && type != "ApplicationReplaced") frames.push_back(rec.data);
    }
  return frames;
}

}  // namespace

TEST_CASE("ari watch: one compact JSON line per frame, exactly --count of them", "[ari][cli]") {
  astra::test::fake_ari_server server;
  auto recorded = recorded_events();
  REQUIRE(recorded.size() >= 40);
  std::vector<std::string> frames(recorded.begin(), recorded.begin() + 30);
  std::string expected;
  for (const auto& f : frames) expected += f + "\n";  // Asterisk's frames are compact: as received
  // ari.conf `pretty = yes`: the same events spread over lines, compacted back.
  for (int i = 30; i < 40; ++i) {
    auto doc = nlohmann::ordered_json::parse(recorded[static_cast<std::size_t>(i)]);
    frames.push_back(doc.dump(2));
    expected += doc.dump() + "\n";
  }
  // Escaped quotes, backslashes and control characters inside strings, whitespace around tokens.
  frames.push_back("{\n  \"type\" : \"UserEvent\",\n  \"q\" : \"say \\\"hi\\\" C:\\\\dir\\\\ \\n\\t\\u0001\",\n"
                   "  \"utf8\" : \"Jos\xC3\xA9 \xE2\x82\xAC\"\n}\n");
  expected += "{\"type\":\"UserEvent\",\"q\":\"say \\\"hi\\\" C:\\\\dir\\\\ \\n\\t\\u0001\",\"utf8\":\"Jos\xC3\xA9 \xE2\x82\xAC\"}\n";
  // A frame that is JSON but not an object: re-serialized on one line.
  frames.push_back("[1,\n 2]");
  expected += "[1,2]\n";

  cli_run run(server, {"--count", std::to_string(frames.size())});
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  for (const auto& f : frames) server.push_event(f);
  for (int i = 0; i < 5; ++i) server.push_event(recorded[static_cast<std::size_t>(i)]);  // beyond --count
  CHECK(run.finish() == 0);
  auto out = cli_run::written(run.out);
  CHECK(out == expected);
  std::size_t lines = 0;
  for (std::size_t pos = 0; (pos = out.find('\n', pos)) != std::string::npos; ++pos) ++lines;
  CHECK(lines == frames.size());
}

TEST_CASE("ari watch: an event is written while the command still runs (idle flush)", "[ari][cli]") {
  astra::test::fake_ari_server server;
  auto recorded = recorded_events();
  cli_run run(server, {"--count", "2"});
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  server.push_event(recorded[0]);
  // The stream goes quiet after one event: the line is written without waiting for exit.
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (out.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    out = cli_run::written(run.out);
  }
  CHECK(out == recorded[0] + "\n");
  CHECK(run.code.wait_for(0s) == std::future_status::timeout);  // still waiting for event 2
  server.push_event(recorded[1]);
  CHECK(run.finish() == 0);
  CHECK(cli_run::written(run.out) == recorded[0] + "\n" + recorded[1] + "\n");
}

TEST_CASE("ari watch: ApplicationReplaced is printed and reported on stderr", "[ari][cli]") {
  astra::test::fake_ari_server server;
  std::string replaced;
  for (const auto& rec : astra::test::load_fixture("ari/app-replaced-and-subscribe-all.jsonl"))
    if (rec.dir == "ws-in" && rec.data.find("\"ApplicationReplaced\"") != std::string::npos) replaced = rec.data;
  REQUIRE(!replaced.empty());
  cli_run run(server, {"--count", "1"});
  REQUIRE(server.wait_ws_handshakes(1, 5s));
  server.push_event(replaced);
  CHECK(run.finish() == 0);
  CHECK(cli_run::written(run.out) == replaced + "\n");
  CHECK(cli_run::written(run.err).find("application astra-test was replaced by another client") != std::string::npos);
}

TEST_CASE("ari watch: --duration ends a quiet stream with exit 0; a refused upgrade exits 2", "[ari][cli]") {
  astra::test::fake_ari_server server;
  {
    cli_run run(server, {"--duration", "0.3"});
    CHECK(run.finish() == 0);
    CHECK(cli_run::written(run.out).empty());
  }
  server.set_credentials("asterisk", "other");
  cli_run refused(server, {"--count", "1"});
  CHECK(refused.finish() == 2);
  CHECK(cli_run::written(refused.out).empty());
  CHECK(cli_run::written(refused.err).find("401") != std::string::npos);
}
