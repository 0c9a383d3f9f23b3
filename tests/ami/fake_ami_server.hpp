#pragma once
// A scriptable AMI server for tests and benchmarks: Asio on its own thread, loopback,
// ephemeral port. Speaks the bytes Asterisk 22 sends (see fixtures/ami/*.jsonl), over TCP
// or TLS. Per connection it keeps Asterisk's event rules (main/manager.c): the Events:
// mask of Login / Action: Events (an event passes when (mask & class) == class, its class
// read from its Privilege: header) and the include/exclude filters of Action: Filter, both
// the regex form (POSIX ERE, as Asterisk's regcomp) and the structured MatchCriteria form
// (name(), header(), method()) of Asterisk 18.26 / 20.11 / 21.6 / 22.1+. Both apply to the
// bursts and to push_events(); push() writes raw bytes unfiltered.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace astra::test {

struct fake_ami_options {
  bool greet = true;                      // send the banner on accept
  std::string banner = "Asterisk Call Manager/11.0.0";
  std::string username = "admin";
  std::string secret = "amp111";
  std::string challenge = "865690464";    // Challenge: value for MD5 logins
  bool refuse_login = false;              // answer Login with "Authentication failed" and close
  std::set<std::string> silent_actions;   // never answered (e.g. "Ping", "Slow"); "*" = all but Login/Challenge
  std::size_t list_items = 3;             // CoreShowChannel items per CoreShowChannels
  bool close_mid_list = false;            // CoreShowChannels: start + one item, then close
  std::vector<std::string> command_output{"System uptime: 21 seconds", "Last reload: 21 seconds"};
  std::string burst;                      // bytes streamed after a successful login ...
  std::size_t burst_repeat = 0;           // ... this many times
  double burst_rate = 0;                  // events/s pacing of the bursts; 0 = as fast as the socket takes them
  std::chrono::milliseconds read_delay{0};  // pause before each read (slow reader)
  // Events: the burst starts once a logged-in client's mask lets anything through (at
  // Login, or at the Action: Events that opens it); each repetition is filtered as it is
  // queued, with the client's mask and filters at that moment.
  std::string asterisk_version = "22.11.0-rc1";  // CoreSettings AsteriskVersion
  bool structured_filters = true;  // false: MatchCriteria is ignored (Asterisk before 18.26/20.11/21.6/22.1)
  bool refuse_filter = false;      // answer Filter with "Permission denied" (no write=system)
  std::string refuse_filter_containing;  // ... only the Filter actions whose text contains this
  // Answers a logged-in client's action before the built-in ones (Logoff, Ping, Filter ...
  // included): the bytes to write (raw, unfiltered; "" = no answer), or nullopt for the
  // built-in handling. Called on the server's thread with the action's text as received.
  std::function<std::optional<std::string>(std::string_view action)> script;
  // TLS (fixed at construction; set_options cannot change it): the server's certificate
  // chain and key, PEM. Empty = plain TCP.
  std::string tls_cert_pem;
  std::string tls_key_pem;
};

class fake_ami_server {
 public:
  explicit fake_ami_server(fake_ami_options options = {});
  ~fake_ami_server();
  fake_ami_server(const fake_ami_server&) = delete;
  fake_ami_server& operator=(const fake_ami_server&) = delete;

  std::uint16_t port() const;
  // Applies to connections accepted afterwards (and to actions read afterwards).
  void set_options(fake_ami_options options);

  std::size_t connections() const;  // accepted so far
  std::size_t logins() const;       // successful logins so far
  std::vector<std::chrono::steady_clock::time_point> connection_times() const;
  std::vector<std::string> actions() const;     // "Name" of each action read, in order
  std::vector<std::string> action_ids() const;  // its ActionID ("" if none)
  std::vector<std::string> raw_actions() const; // the action text as received
  std::size_t bytes_streamed() const;           // event bytes sent so far (bursts, push_events)
  std::size_t events_streamed() const;          // events sent so far (bursts, push_events)
  std::size_t tls_handshakes_failed() const;    // TLS: handshakes that did not complete
  std::vector<std::string> server_names() const;  // TLS: the SNI of each completed handshake ("" = none)

  void drop_connections();         // closes every client socket now (socket loss)
  void push(std::string bytes);    // writes raw bytes to every logged-in client
  // Writes each event of `bytes` (whole messages) to every logged-in client whose mask and
  // filters let it through.
  void push_events(std::string bytes);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// The event bytes of fixtures/ami/event-burst.jsonl (everything Asterisk sent after the
// login response): whole messages, CRLF as recorded.
std::string event_burst_bytes();
// Number of events in event_burst_bytes().
std::size_t count_events(const std::string& bytes);

}  // namespace astra::test
