// `astra ami send|watch` run in-process (ami_main) against the fake AMI server: output shape
// and the exit-code contract (0 ok, 1 Response: Error, 2 usage/connection/login/timeout).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/ami/cli_runner.hpp"
#include "tests/ami/fake_ami_server.hpp"
#include "tests/support/test_pki.hpp"

using namespace astra::test;
using json = nlohmann::json;

namespace {

cli_result run(std::vector<std::string> args) { return run_ami_cli(std::move(args)); }

std::vector<std::string> conn(const fake_ami_server& s, std::vector<std::string> extra = {}) {
  std::vector<std::string> a{"--host", "127.0.0.1", "--port", std::to_string(s.port()), "--user", "admin",
                             "--secret", "amp111", "--timeout", "2"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("ami send: usage errors exit 2 with one line", "[ami][cli]") {
  auto r = run({"send"});
  CHECK(r.code == 2);
  CHECK(r.err.find("missing ACTION") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(run({"send", "--port", "70000", "Ping"}).code == 2);
  CHECK(run({"send", "--timeout", "-1", "Ping"}).code == 2);
  CHECK(run({"send", "--bogus", "Ping"}).code == 2);
  CHECK(run({"send", "Ping", "NoEquals"}).code == 2);
  CHECK(run({"send", "Ping", "=v"}).code == 2);
  CHECK(run({"frobnicate"}).code == 2);
  CHECK(run({"watch", "--count", "zero"}).code == 2);
  auto inj = run({"send", "--port", "1", "Setvar", "Variable=X", "Value=a\r\nAction: Hangup"});
  CHECK(inj.code == 2);
  CHECK(inj.err.find("Value") != std::string::npos);
  auto help = run({"send", "--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("usage: astra ami send") != std::string::npos);
}

TEST_CASE("ami send prints the response and list events as one JSON object", "[ami][cli]") {
  fake_ami_server server;
  auto ping = run(cat(cat({"send"}, conn(server)), {"Ping"}));
  REQUIRE(ping.code == 0);
  auto j = json::parse(ping.out);
  CHECK(j["response"]["Response"] == "Success");
  CHECK(j["response"]["Ping"] == "Pong");
  CHECK(j["events"].is_array());
  CHECK(j["events"].empty());
  CHECK(std::count(ping.out.begin(), ping.out.end(), '\n') == 1);

  auto list = run(cat(cat({"send"}, conn(server)), {"CoreShowChannels"}));
  REQUIRE(list.code == 0);
  j = json::parse(list.out);
  REQUIRE(j["events"].size() == 4);
  CHECK(j["events"][0]["Event"] == "CoreShowChannel");
  CHECK(j["events"][3]["EventList"] == "Complete");

  // Repeated keys become arrays, in order; options may follow the action.
  auto cmd = run(cat({"send", "Command", "Command=core show uptime"}, conn(server)));
  REQUIRE(cmd.code == 0);
  j = json::parse(cmd.out);
  REQUIRE(j["response"]["Output"].is_array());
  CHECK(j["response"]["Output"][0] == "System uptime: 21 seconds");
  CHECK(j["response"]["Output"][1] == "Last reload: 21 seconds");

  // Key=Value pairs reach the wire in order, repeats kept.
  run(cat(cat({"send"}, conn(server)), {"Originate", "Channel=Local/1@x", "Exten=1", "Context=x", "Priority=1",
                                        "Variable=A=1", "Variable=B=2"}));
  auto raws = server.raw_actions();
  REQUIRE(!raws.empty());
  CHECK(raws.back().find("Variable: A=1\r\nVariable: B=2\r\n") != std::string::npos);
}

TEST_CASE("ami send exit codes: 1 on Response: Error, 2 on login/connection/timeout", "[ami][cli]") {
  fake_ami_options opts;
  opts.silent_actions = {"Slow"};
  fake_ami_server server(opts);

  auto bad = run(cat(cat({"send"}, conn(server)), {"NoSuchAction"}));
  CHECK(bad.code == 1);
  CHECK(bad.err.find("Invalid/unknown command: NoSuchAction") != std::string::npos);
  CHECK(json::parse(bad.out)["response"]["Response"] == "Error");

  auto cmd_err = run(cat(cat({"send"}, conn(server)), {"Command", "Command=no such thing"}));
  CHECK(cmd_err.code == 1);

  auto slow = run(cat(cat({"send"}, conn(server, {"--timeout", "0.2"})), {"Slow"}));
  CHECK(slow.code == 2);
  CHECK(slow.err.find("timed out") != std::string::npos);

  auto wrong = run({"send", "--host", "127.0.0.1", "--port", std::to_string(server.port()), "--secret", "wrong", "Ping"});
  CHECK(wrong.code == 2);
  CHECK(wrong.err.find("login failed") != std::string::npos);
  CHECK(wrong.err.find("Authentication failed") != std::string::npos);
  CHECK(std::count(wrong.err.begin(), wrong.err.end(), '\n') == 1);

  auto refused = run({"send", "--port", "1", "--timeout", "1", "Ping"});
  CHECK(refused.code == 2);
  CHECK(refused.err.find("cannot connect") != std::string::npos);

  // Secret from the environment, MD5 login.
  ::setenv("ASTRA_AMI_SECRET", "amp111", 1);
  auto env = run({"send", "--port", std::to_string(server.port()), "--md5", "Ping"});
  ::unsetenv("ASTRA_AMI_SECRET");
  CHECK(env.code == 0);
  auto raws = server.raw_actions();
  bool saw_challenge = false;
  for (const auto& r : raws) saw_challenge |= r.find("Action: Challenge") != std::string::npos;
  CHECK(saw_challenge);
}

TEST_CASE("ami watch prints one JSON object per event per line", "[ami][cli]") {
  fake_ami_options opts;
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 3;
  fake_ami_server server(opts);

  auto all = run(cat(cat({"watch"}, conn(server)), {"--count", "500"}));
  REQUIRE(all.code == 0);
  std::istringstream lines(all.out);
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    auto j = json::parse(line);
    CHECK(j.contains("Event"));
    ++n;
  }
  CHECK(n == 500);
  CHECK(all.out.rfind("{\"Event\":\"FullyBooted\"", 0) == 0);

  auto hangups = run(cat(cat({"watch"}, conn(server)), {"--event", "hangup", "--event", "Newchannel", "--count", "60"}));
  REQUIRE(hangups.code == 0);
  std::istringstream hl(hangups.out);
  n = 0;
  while (std::getline(hl, line)) {
    auto name = json::parse(line)["Event"].get<std::string>();
    CHECK((name == "Hangup" || name == "Newchannel"));
    ++n;
  }
  CHECK(n == 60);

  auto quiet = run(cat(cat({"watch"}, conn(server)), {"--event", "NoSuchEvent", "--duration", "0.3"}));
  CHECK(quiet.code == 0);
  CHECK(quiet.out.empty());

  auto refused = run({"watch", "--port", "1", "--timeout", "1"});
  CHECK(refused.code == 2);
}

TEST_CASE("ami watch reports an event lost to the read limits on stderr and exits 1", "[ami][cli][limits]") {
  fake_ami_options opts;
  // A 70,000-byte line (over the 64 KiB default line limit), then an ordinary VarSet.
  opts.burst = "Event: VarSet\r\nVariable: HUGE\r\nValue: " + std::string(70000, 'x') + "\r\n\r\n" +
               "Event: VarSet\r\nVariable: SMALL\r\nValue: 1\r\n\r\n";
  opts.burst_repeat = 1;
  fake_ami_server server(opts);
  auto r = run(cat(cat({"watch"}, conn(server)), {"--event", "VarSet", "--count", "1"}));
  CHECK(r.code == 1);
  CHECK(r.err.find("event lost: event VarSet of 70") != std::string::npos);
  CHECK(r.err.find("65536-byte line limit") != std::string::npos);
  CHECK(r.err.find("1 events lost to the read limits") != std::string::npos);
  REQUIRE(r.out.find("SMALL") != std::string::npos);
  CHECK(r.out.find("HUGE") == std::string::npos);
}

TEST_CASE("ami send: an answer over the 16 MiB read limit fails at once with response_too_large, exit 2",
          "[ami][cli][limits]") {
  fake_ami_options opts;
  opts.command_output.assign(17'500, std::string(1000, 'o'));  // ~17.6 MB of Output: lines, fewer than 65,536
  fake_ami_server server(opts);
  // A generous deadline: under a loaded machine the 17.6 MB take a while; the point is that
  // the failure is response_too_large, never the deadline.
  auto r = run(cat(cat({"send"}, conn(server)), {"--timeout", "30", "Command", "Command=core show channels"}));
  CHECK(r.code == 2);
  CHECK(r.err.find("exceeded a read limit") != std::string::npos);
  CHECK(r.err.find("16777216-byte message limit") != std::string::npos);
  CHECK(r.err.find("timed out") == std::string::npos);
}

TEST_CASE("ami send escapes JSON strings exactly", "[ami][cli]") {
  fake_ami_options opts;
  opts.command_output = {"quote \" backslash \\ tab \t ctl \x01 del \x7f end", "UTF-8 caf\xc3\xa9 long line 0123456789abcdef",
                         "", "plain"};
  fake_ami_server server(opts);
  auto r = run(cat(cat({"send"}, conn(server)), {"Command", "Command=core show x"}));
  REQUIRE(r.code == 0);
  CHECK(r.out.find("\\u0001") != std::string::npos);
  CHECK(r.out.find("\\u007f") != std::string::npos);
  auto j = json::parse(r.out);
  REQUIRE(j["response"]["Output"].size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(j["response"]["Output"][i].get<std::string>() == opts.command_output[i]);
}

TEST_CASE("ami send|watch over TLS: --tls, --ca-file, --insecure", "[ami][cli][tls]") {
  test_pki pki;
  fake_ami_options opts;
  opts.tls_cert_pem = pki.server_cert_pem;
  opts.tls_key_pem = pki.server_key_pem;
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 2;
  fake_ami_server server(opts);
  const std::string ca = pki.ca_file.string();

  auto ok = run(cat(cat({"send"}, conn(server, {"--tls", "--ca-file", ca})), {"Ping"}));
  CHECK(ok.code == 0);
  CHECK(json::parse(ok.out)["response"]["Ping"] == "Pong");

  auto unknown = run(cat(cat({"send"}, conn(server, {"--tls"})), {"Ping"}));  // the system store
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("unable to get local issuer certificate") != std::string::npos);
  CHECK(std::count(unknown.err.begin(), unknown.err.end(), '\n') == 1);

  auto insecure = run(cat(cat({"send"}, conn(server, {"--tls", "--insecure"})), {"Ping"}));
  CHECK(insecure.code == 0);

  auto plain = run(cat(cat({"send"}, conn(server, {"--timeout", "0.5"})), {"Ping"}));  // no TLS: no banner
  CHECK(plain.code == 2);

  const std::size_t before = server.events_streamed();
  auto watch = run(cat(cat({"watch"}, conn(server, {"--tls", "--ca-file", ca})), {"--event", "Hangup", "--count", "100"}));
  REQUIRE(watch.code == 0);
  std::istringstream lines(watch.out);
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    CHECK(json::parse(line)["Event"] == "Hangup");
    ++n;
  }
  CHECK(n == 100);
  // Asterisk was asked for Hangup only: two bursts hold 160 of them among 1,606 events.
  CHECK(server.events_streamed() - before <= 160);
}

TEST_CASE("ami: TLS flag usage errors and the TLS default port", "[ami][cli][tls]") {
  auto no_tls = run({"send", "--ca-file", "/tmp/ca.pem", "Ping"});
  CHECK(no_tls.code == 2);
  CHECK(no_tls.err.find("--ca-file needs --tls") != std::string::npos);
  CHECK(run({"send", "--insecure", "Ping"}).code == 2);
  CHECK(run({"send", "--tls", "--insecure", "--ca-file", "/tmp/ca.pem", "Ping"}).code == 2);
  CHECK(run({"send", "--tls=yes", "Ping"}).code == 2);
  auto help = run({"send", "--help"});
  CHECK(help.out.find("--ca-file FILE") != std::string::npos);
  // Nothing listens on 127.0.0.2:5039 here: the error names the port used.
  auto port = run({"send", "--tls", "--host", "127.0.0.2", "--timeout", "1", "Ping"});
  CHECK(port.code == 2);
  CHECK(port.err.find(":5039") != std::string::npos);
}

// `ami watch` without --event reads the connection on its own strand (no session actor):
// the same login forms, limits and exit codes as the session path.
TEST_CASE("ami watch without --event: MD5 and TLS logins, refused login, read limits, link loss", "[ami][cli]") {
  fake_ami_options opts;
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 1;
  fake_ami_server server(opts);

  auto md5 = run(cat(cat({"watch"}, conn(server, {"--md5"})), {"--count", "10"}));
  CHECK(md5.code == 0);
  CHECK(md5.out.rfind("{\"Event\":\"FullyBooted\"", 0) == 0);
  CHECK(std::count(md5.out.begin(), md5.out.end(), '\n') == 10);
  bool saw_challenge = false;
  for (const auto& r : server.raw_actions()) saw_challenge |= r.find("Action: Challenge") != std::string::npos;
  CHECK(saw_challenge);

  auto wrong = run({"watch", "--host", "127.0.0.1", "--port", std::to_string(server.port()), "--secret", "wrong",
                    "--timeout", "2"});
  CHECK(wrong.code == 2);
  CHECK(wrong.err.find("login failed") != std::string::npos);
  CHECK(wrong.err.find("Authentication failed") != std::string::npos);
  CHECK(std::count(wrong.err.begin(), wrong.err.end(), '\n') == 1);
  CHECK(wrong.out.empty());

  // The one burst is streamed, then the socket goes away: every event printed, exit 2.
  const std::size_t burst_events = count_events(event_burst_bytes());
  const std::size_t before = server.events_streamed();
  std::thread dropper([&] {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (server.events_streamed() < before + burst_events && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server.drop_connections();
  });
  auto lost = run(cat({"watch"}, conn(server)));
  dropper.join();
  CHECK(lost.code == 2);
  const auto printed = static_cast<std::size_t>(std::count(lost.out.begin(), lost.out.end(), '\n'));
  CHECK(printed == burst_events + 1);  // FullyBooted at login, then the burst
  CHECK(lost.err.find("link lost after " + std::to_string(printed) + " events") != std::string::npos);

  // --duration ends a quiet stream with exit 0 (the server sends FullyBooted at login only).
  fake_ami_options quiet_opts;
  fake_ami_server quiet_server(quiet_opts);
  const auto started = std::chrono::steady_clock::now();
  auto quiet = run(cat(cat({"watch"}, conn(quiet_server)), {"--duration", "0.3"}));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(quiet.code == 0);
  CHECK(std::count(quiet.out.begin(), quiet.out.end(), '\n') <= 1);
  CHECK(took >= std::chrono::milliseconds(300));
  CHECK(took < std::chrono::seconds(3));

  // An event over a read limit is reported and counted; the others are printed.
  opts.burst = "Event: VarSet\r\nVariable: HUGE\r\nValue: " + std::string(70000, 'x') + "\r\n\r\n" +
               "Event: VarSet\r\nVariable: SMALL\r\nValue: 1\r\n\r\n";
  server.set_options(opts);
  auto r = run(cat(cat({"watch"}, conn(server)), {"--count", "2"}));  // FullyBooted at login, SMALL
  CHECK(r.code == 1);
  CHECK(r.err.find("event lost: event VarSet of 70") != std::string::npos);
  CHECK(r.err.find("1 events lost to the read limits") != std::string::npos);
  CHECK(r.out.find("SMALL") != std::string::npos);
  CHECK(r.out.find("HUGE") == std::string::npos);
}

TEST_CASE("ami watch without --event over TLS", "[ami][cli][tls]") {
  test_pki pki;
  fake_ami_options opts;
  opts.tls_cert_pem = pki.server_cert_pem;
  opts.tls_key_pem = pki.server_key_pem;
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 2;
  fake_ami_server server(opts);
  auto watch = run(cat(cat({"watch"}, conn(server, {"--tls", "--ca-file", pki.ca_file.string()})), {"--count", "1000"}));
  REQUIRE(watch.code == 0);
  std::istringstream lines(watch.out);
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    CHECK(json::parse(line).contains("Event"));
    ++n;
  }
  CHECK(n == 1000);
  auto unknown = run(cat(cat({"watch"}, conn(server, {"--tls"})), {"--count", "1"}));  // the system store
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("unable to get local issuer certificate") != std::string::npos);
}
