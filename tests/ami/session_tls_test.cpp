// AMI over TLS against the fake AMI server speaking TLS, with certificates made by the test
// (tests/support/test_pki.hpp): a good chain (by IP and by name), an unknown CA, a wrong
// name, verification off, a missing CA file, the server closing in the middle of a list,
// and the reconnect path. Failures are ami_errc::tls_failed with the verifier's reason,
// promptly (far inside the connect timeout).
#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include <future>
#include <memory>
#include <mutex>

#include "protocols/ami/errors.hpp"
#include "tests/ami/session_support.hpp"
#include "tests/support/test_pki.hpp"

using namespace astra;
using namespace astra::test;
using ami::ami_errc;

namespace {

fake_ami_options tls_options(const std::string& cert, const std::string& key) {
  fake_ami_options o;
  o.tls_cert_pem = cert;
  o.tls_key_pem = key;
  return o;
}

ami::session_config tls_config(const session_harness& h, const test_pki& pki) {
  auto cfg = h.config();
  cfg.tls.enabled = true;
  cfg.tls.ca_file = pki.ca_file.string();
  return cfg;
}

// One connection attempt (reconnect off): the final down link event's reason.
failure first_failure(session_harness& h, ami::session_config cfg) {
  cfg.reconnect = false;
  cfg.connect_timeout = 3000ms;
  ami::client c(h.system, h.io, cfg);
  auto start = std::chrono::steady_clock::now();
  auto up = c.wait_until_up(5000ms);
  REQUIRE_FALSE(up.ok());
  CHECK(std::chrono::steady_clock::now() - start < 2000ms);  // refused at the handshake, not timed out
  auto st = c.status().get();
  CHECK(st.state == "stopped");
  return up.error();
}

}  // namespace

TEST_CASE("TLS: a good chain logs in by IP (no SNI) and by name (SNI)", "[ami][session][tls]") {
  test_pki pki;
  session_harness h(tls_options(pki.server_cert_pem, pki.server_key_pem));
  {
    ami::client c(h.system, h.io, tls_config(h, pki));
    REQUIRE(c.wait_until_up(3000ms).ok());
    auto pong = c.send(ami::actions::ping()).get();
    REQUIRE(pong.ok());
    CHECK(pong.response->get("Ping").value_or("") == "Pong");
    auto list = c.send(ami::actions::core_show_channels()).get();
    REQUIRE(list.ok());
    CHECK(list.events.size() == 4);
  }
  {
    auto cfg = tls_config(h, pki);
    cfg.tls.server_name = "localhost";  // connect to 127.0.0.1, verify and send the name
    ami::client c(h.system, h.io, cfg);
    REQUIRE(c.wait_until_up(3000ms).ok());
    CHECK(c.send(ami::actions::ping()).get().ok());
  }
  {
    auto cfg = tls_config(h, pki);
    cfg.host = "localhost";
    ami::client c(h.system, h.io, cfg);
    REQUIRE(c.wait_until_up(3000ms).ok());
  }
  auto names = h.server.server_names();
  REQUIRE(names.size() >= 3);
  CHECK(names[0] == "");  // RFC 6066: no IP literal as SNI
  CHECK(names[1] == "localhost");
  CHECK(names[2] == "localhost");
  CHECK(h.server.tls_handshakes_failed() == 0);
}

TEST_CASE("TLS: an unknown CA is refused with the verifier's reason", "[ami][session][tls]") {
  test_pki pki;
  session_harness h(tls_options(pki.server_cert_pem, pki.server_key_pem));
  auto cfg = tls_config(h, pki);
  cfg.tls.ca_file = pki.other_ca_file.string();
  auto why = first_failure(h, cfg);
  CHECK(why.code == ami::make_error_code(ami_errc::tls_failed));
  CHECK(why.detail.find("certificate verify failed") != std::string::npos);
  CHECK(why.detail.find("unable to get local issuer certificate") != std::string::npos);
  CHECK(h.server.logins() == 0);

  // The system store does not know the test CA either.
  cfg.tls.ca_file.clear();
  auto why2 = first_failure(h, cfg);
  CHECK(why2.code == ami::make_error_code(ami_errc::tls_failed));
  CHECK(why2.detail.find("unable to get local issuer certificate") != std::string::npos);
}

TEST_CASE("TLS: a certificate for another name is refused even from the right CA", "[ami][session][tls]") {
  test_pki pki;
  session_harness h(tls_options(pki.other_cert_pem, pki.server_key_pem));  // asterisk.invalid
  auto why = first_failure(h, tls_config(h, pki));
  CHECK(why.code == ami::make_error_code(ami_errc::tls_failed));
  CHECK(why.detail.find("IP address mismatch") != std::string::npos);

  auto cfg = tls_config(h, pki);
  cfg.tls.server_name = "asterisk.example";
  auto why2 = first_failure(h, cfg);
  CHECK(why2.detail.find("hostname mismatch") != std::string::npos);

  cfg.tls.server_name = "asterisk.invalid";  // the name it carries: accepted
  ami::client c(h.system, h.io, cfg);
  REQUIRE(c.wait_until_up(3000ms).ok());
}

TEST_CASE("TLS: verification off accepts any certificate; a missing CA file is an error", "[ami][session][tls]") {
  test_pki pki;
  session_harness h(tls_options(pki.other_cert_pem, pki.server_key_pem));  // wrong name, and no CA given
  auto cfg = h.config();
  cfg.tls.enabled = true;
  cfg.tls.verify = false;
  {
    ami::client c(h.system, h.io, cfg);
    REQUIRE(c.wait_until_up(3000ms).ok());
    CHECK(c.send(ami::actions::ping()).get().ok());
  }
  cfg.tls.verify = true;
  cfg.tls.ca_file = "/nonexistent/astra-ca.pem";
  auto why = first_failure(h, cfg);
  CHECK(why.code == ami::make_error_code(ami_errc::tls_failed));
  CHECK(why.detail.find("/nonexistent/astra-ca.pem") != std::string::npos);

  // A subscriber that arrives after the failure gets the same code in its snapshot, not a
  // generic "disconnected" (the CA check fails before the client's own link watcher may
  // have subscribed: this was a race).
  cfg.reconnect = false;
  ami::client late(h.system, h.io, cfg);
  REQUIRE_FALSE(late.wait_until_up(3000ms).ok());
  struct first_link {
    std::once_flag once;
    std::promise<ami::link_event> promise;
  };
  auto first = std::make_shared<first_link>();  // shared: a callback may run after this scope
  auto got = first->promise.get_future();
  auto sub = late.subscribe(ami::event_filter::links_only(), [](const ami::message_ptr&) {},
                            [first](const ami::link_event& ev) {
                              std::call_once(first->once, [&] { first->promise.set_value(ev); });
                            });
  REQUIRE(got.wait_for(3000ms) == std::future_status::ready);
  auto ev = got.get();
  CHECK(ev.snapshot);
  CHECK(ev.final);
  CHECK(ev.reason.code == ami::make_error_code(ami_errc::tls_failed));
  CHECK(ev.reason.detail.find("/nonexistent/astra-ca.pem") != std::string::npos);
}

TEST_CASE("TLS: a plain client against a TLS server fails within the login deadline", "[ami][session][tls]") {
  test_pki pki;
  session_harness h(tls_options(pki.server_cert_pem, pki.server_key_pem));
  auto cfg = h.config();  // no TLS: waits for a banner the server never sends in clear
  cfg.reconnect = false;
  cfg.connect_timeout = 300ms;
  cfg.login_timeout = 300ms;
  ami::client c(h.system, h.io, cfg);
  auto up = c.wait_until_up(5000ms);
  REQUIRE_FALSE(up.ok());
  CHECK(h.server.logins() == 0);
}

TEST_CASE("TLS: the server closing in the middle of a list fails it; the session reconnects over TLS",
          "[ami][session][tls]") {
  test_pki pki;
  auto opts = tls_options(pki.server_cert_pem, pki.server_key_pem);
  opts.close_mid_list = true;
  link_log links;  // before the harness: a link callback may still run until the actor system stops
  session_harness h(opts);
  ami::client c(h.system, h.io, tls_config(h, pki));
  auto sub = c.subscribe(ami::event_filter::links_only(), [](const ami::message_ptr&) {},
                         [&](const ami::link_event& e) { links.add(e); });
  REQUIRE(c.wait_until_up(3000ms).ok());
  auto list = c.send(ami::actions::core_show_channels()).get();
  CHECK(list.error.code == ami::make_error_code(ami_errc::disconnected));
  CHECK(list.error.detail.find("connection closed by peer") != std::string::npos);
  REQUIRE(eventually([&] { return h.server.logins() >= 2; }));
  REQUIRE(c.wait_until_up(3000ms).ok());
  opts.close_mid_list = false;
  h.server.set_options(opts);
  REQUIRE(eventually([&] { return c.send(ami::actions::core_show_channels()).get().ok(); }));

  // Socket loss (the reconnect path): down, then up again over TLS.
  const auto logins = h.server.logins();
  h.server.drop_connections();
  REQUIRE(eventually([&] { return h.server.logins() > logins && c.status().get().state == "up"; }));
  CHECK(links.count(ami::link_event::kind::down) >= 2);
  CHECK(links.count(ami::link_event::kind::up) >= 2);
  CHECK(c.send(ami::actions::ping()).get().ok());
  CHECK(h.server.tls_handshakes_failed() == 0);
}

TEST_CASE("TLS: a Hangup-only subscriber over TLS gets only Hangup events on the wire", "[ami][session][tls][pushdown]") {
  test_pki pki;
  auto opts = tls_options(pki.server_cert_pem, pki.server_key_pem);
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 2;
  session_harness h(opts);
  ami::client c(h.system, h.io, tls_config(h, pki));
  std::atomic<std::size_t> hangups{0}, others{0};
  auto sub = c.subscribe(ami::event_filter::by_names({"Hangup"}), [&](const ami::message_ptr& m) {
    (m->name() == "Hangup" ? hangups : others)++;
  });
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return hangups.load() >= 160; }));
  REQUIRE(c.send(ami::actions::ping()).get().ok());
  CHECK(hangups.load() == 160);
  CHECK(others.load() == 0);
  CHECK(h.server.events_streamed() == 160);
}

TEST_CASE("TLS: pause_reading holds the TLS reader too: a slow subscriber loses nothing", "[ami][session][tls][limits]") {
  test_pki pki;
  auto opts = tls_options(pki.server_cert_pem, pki.server_key_pem);
  opts.burst = event_burst_bytes();
  opts.burst_repeat = 6;
  const std::size_t expected = opts.burst_repeat * count_events(opts.burst);
  session_harness h(opts);
  ami::client c(h.system, h.io, tls_config(h, pki));
  std::atomic<std::size_t> received{0};
  ami::subscribe_request req;
  req.filter = ami::event_filter::all();
  req.capacity = 32;  // far below the burst: the policy, not the bound, keeps it lossless
  req.name = "slow";
  req.policy = ami::queue_policy::pause_reading;
  auto sub = c.subscribe(req, [&](const std::vector<ami::message_ptr>& b) {
    std::this_thread::sleep_for(std::chrono::microseconds(20 * b.size()));
    received += b.size();
  });
  REQUIRE(c.wait_until_up(3000ms).ok());
  REQUIRE(eventually([&] { return received.load() >= expected; }, 20000ms));
  auto st = c.status().get();
  for (const auto& s : st.subscribers) CHECK(s.dropped == 0);
  CHECK(st.inbox_dropped == 0);
  // FullyBooted at login comes on top when the subscription was there before it.
  CHECK(received.load() <= expected + 1);
  CHECK(received.load() == st.events_received);
}
