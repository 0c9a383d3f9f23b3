#pragma once
// The astra service configuration: a YAML file whose every value can be overridden by an
// ASTRA_... environment variable (docs/configuration.md lists each key, its default and its
// variable). Loading never throws: a bad configuration yields EVERY problem found, each
// with its key path and reason. Secrets (AMI secret, ARI password, AGI route tokens) may
// come inline, from an environment variable or from a file; only their source is ever
// shown (credential::describe), never their value.
//
// load_file / load_string are the ONE validation of both `astra check-config` and `astra run`:
// every check the runtime would otherwise make when it spawns a component (listen addresses,
// ARI URL, Stasis app list, CA file, FastAGI route patterns, CIDR blocks, ...) is made here,
// so a configuration they accept starts, and one they refuse is refused by both with the
// same key paths and reasons. Only the environment can still stop a valid configuration
// (a port already in use, no permission to bind it).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "service/config/ari_outbound_config.hpp"
#include "service/config/bus_config.hpp"

namespace astra::config {

using duration = std::chrono::milliseconds;

struct endpoint {
  std::string host;
  std::uint16_t port = 0;  // 0: an ephemeral port chosen by the OS
  std::string to_string() const;
  // The address a listener binds: host, "localhost" as 127.0.0.1.
  std::string bind_address() const { return host == "localhost" ? "127.0.0.1" : host; }
};

// A credential; `value` must never be logged or shown.
struct credential {
  std::string value;
  std::string source;  // "inline", "env:NAME" or "file:/path"; safe to show
  std::string describe() const { return source.empty() ? "unset" : source; }
};

// AMI over TLS (Asterisk manager.conf `tlsenable=yes`, port 5039).
struct ami_tls_config {
  bool enabled = false;
  std::string ca_file;      // PEM CA bundle; "" = the system store
  bool verify = true;       // verify the chain and the name; false: any certificate
  std::string server_name;  // name the certificate must carry (and SNI when a DNS name); "" = host
};

// Whether the AMI session asks Asterisk for what its subscribers want only (Events: mask and
// Filter actions; see actors/ami/session.hpp push_event_filters).
enum class ami_event_filter { automatic, off };

struct ami_config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5038;                 // 5039 when tls.enabled and no port is given
  std::string username;
  credential secret;                     // the AMI `Secret`
  bool md5 = false;                      // MD5 challenge login instead of plain
  std::string events = "on";             // the widest `Events:` mask asked for
  ami_event_filter event_filter = ami_event_filter::automatic;
  // AsyncAGI over this session: AGI(agi:async,ROUTE,...) calls run the FastAGI route table
  // (agi.routes and routes registered in code) through AMI (actors/agi/async_agi.hpp).
  bool async_agi = false;
  ami_tls_config tls;
  duration connect_timeout{5'000};       // resolve + TCP connect
  duration login_timeout{5'000};         // banner + (challenge +) login response
  duration action_timeout{10'000};       // default deadline of one action
  duration write_timeout{2'000};         // one socket write
  duration keepalive_interval{15'000};   // Ping period while up; 0 = no keepalive
  duration keepalive_timeout{5'000};     // dead-peer deadline for the Ping reply
  // What astra reads from Asterisk (what Asterisk writes: far beyond its own read limits).
  std::size_t read_line_bytes = 64 * 1024;            // per line
  std::size_t read_headers = 65'536;                  // headers per message
  std::size_t read_message_bytes = 16 * 1024 * 1024;  // per message
  duration max_read_stall{50};  // longest pause of the reader for a full queue (< Asterisk's 100 ms writetimeout)
};

// servers[].ari.on_reconnect: what happens to a channel found inside the app(s) with no actor
// each time the ARI event socket (re)subscribes (astra restart, Asterisk restart, network cut).
// Issue 14 (bus): what the holder of a server's ARI socket does with the calls of a replica
// that stopped answering (its claims' heartbeat is overdue) or with a call no replica claimed.
enum class ari_worker_loss_policy {
  hangup,   // DELETE /channels/{id} (default: a caller is never left in silence)
  reoffer,  // the call's StasisStart is offered again: another replica's handler runs from the start
};

enum class ari_reconnect_policy {
  hangup,    // DELETE /channels/{id} (default: a caller is never left in silence)
  continue_, // POST /channels/{id}/continue: back to the dialplan after Stasis()
  adopt,     // a channel actor runs the handler's adoption entry point
};

// servers[].ari.event_filter: whether the apps' event filter (PUT /applications/{app}/eventFilter)
// is set from what their handlers consume.
enum class ari_event_filter { automatic, off };

// The `webhook` stock handler's settings (agi.routes[].webhook, servers[].ari.webhook;
// protocol: docs/webhooks.md).
struct webhook_config {
  std::string url;                             // call.start goes here: http(s)://...
  credential secret;                           // HMAC-SHA256 key of X-Astra-Signature (required)
  duration timeout{5'000};                     // per webhook request
  std::string fallback = "[]";                 // verbs run on any failure, as JSON text ([] = hang up)
  std::size_t max_connections = 64;            // keep-alive connections per app host
  std::size_t max_response_bytes = 1024 * 1024;
  bool verify_tls = true;
  std::string ca_file;                         // "" = the system store
};

struct ari_config {
  std::string url = "http://127.0.0.1:8088";  // http(s)://HOST[:PORT][/prefix]
  std::string scheme;                          // derived from url: "http" / "https"
  std::string host;                            // derived from url
  std::uint16_t port = 0;                      // derived from url
  std::string username;
  credential password;
  std::string app = "astra";                   // Stasis application(s), comma-separated
  std::vector<std::string> apps;               // derived from app: the names (spaces removed), >= 1
  std::string handler = "track";               // stock Stasis handler: one of ari_handlers
  bool subscribe_all = false;
  bool verify_tls = true;
  std::string ca_file;                         // "" = the system store
  bool rest_over_websocket = false;            // RESTRequest frames (Asterisk 22.4+) when supported
  std::size_t max_connections = 4;             // keep-alive HTTP connections
  duration request_timeout{10'000};
  duration connect_timeout{5'000};             // TCP + TLS + WebSocket handshake
  duration dead_peer_timeout{20'000};          // no frame for this long closes the event socket
  ari_reconnect_policy on_reconnect = ari_reconnect_policy::hangup;  // every app of this section
  // With bus.nats: the calls of a replica lost mid-call (every app of this section).
  ari_worker_loss_policy on_worker_loss = ari_worker_loss_policy::hangup;
  ari_event_filter event_filter = ari_event_filter::off;
  std::optional<webhook_config> webhook;       // set iff handler == "webhook"
};

struct server_config {
  std::string name;
  std::optional<ami_config> ami;
  std::optional<ari_config> ari;
};

// The stock handlers a FastAGI route may run (user logic is written in C++ against the
// library; the service ships these).
inline constexpr std::string_view ari_handlers[] = {"track", "demo", "webhook"};
inline constexpr std::string_view agi_handlers[] = {"demo", "playback", "hangup", "wait", "webhook"};

struct agi_route_config {
  std::string path;                               // "/ivr/menu" or with :segments
  std::string handler = "demo";                   // one of agi_handlers
  std::string file = "beep";                      // playback / demo: sound to stream
  duration wait{60'000};                          // wait: how long to wait for a digit
  std::map<std::string, std::string> variables;   // set on the channel before the handler runs
  std::vector<std::string> allow_cidrs;           // empty: the listener's policy applies
  credential token;                                   // shared token expected in ?token_param=
  std::string token_param = "token";
  std::optional<webhook_config> webhook;          // set iff handler == "webhook"
};

// FastAGI. Enabled with no routes (the default) is valid: the listener runs and closes every
// call as "no route", counted (astra_agi_calls_total{route="none",outcome="no_route"}).
// `enabled: false` runs no listener at all.
struct agi_config {
  bool enabled = true;
  endpoint listen{"0.0.0.0", 4573};  // host: an IPv4/IPv6 address or "localhost"
  std::size_t max_calls = 20'000;
  duration env_timeout{5'000};       // idle limit before the agi_* block is complete
  duration command_timeout{30'000};  // default per-command deadline
  duration max_call_duration{0};     // a call still running this long is ended (timed_out); 0: no limit
  bool handlers_on_io_threads = true;  // agi::server_config::handlers_on_io_threads
  std::vector<std::string> allow_cidrs;  // global allowlist; empty: allow all
  std::vector<agi_route_config> routes;
};

struct admin_config {
  endpoint listen{"0.0.0.0", 9573};  // host: an IPv4/IPv6 address or "localhost"
};

struct backoff_config {
  duration initial{500};
  duration max{30'000};
  double multiplier = 2.0;
  double jitter = 0.2;
  duration login_failure_delay{60'000};  // retry delay after Asterisk refuses the login
};

// drop_newest: the new message is dropped; drop_oldest: the oldest waiting one is;
// pause_reading: the socket is not read while the queue is full (bounded by
// ami.max_read_stall, then drop_newest). Every drop is counted.
enum class drop_policy { drop_newest, drop_oldest, pause_reading };

struct queue_config {
  std::size_t capacity = 0;
  drop_policy policy = drop_policy::drop_newest;
  std::size_t bytes = 0;  // bytes in flight before the policy applies; 0 = no byte bound
};

// Bounded queues and their counted drop policies (metric label: astra_queue_dropped_total{queue}).
struct queues_config {
  queue_config ami_inbox{131'072, drop_policy::pause_reading, 64u << 20};      // AMI reader -> session
  queue_config ami_subscriber{8'192, drop_policy::pause_reading, 32u << 20};   // AMI session -> the service's subscriber
  queue_config ari_dispatch{8'192};    // ARI frames in flight from the socket to the dispatcher
  queue_config ari_actor{256};         // events in flight to one ARI channel or bridge actor
};

enum class log_format { json, text };

struct log_config {
  log_format format = log_format::json;
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
};

struct config {
  std::vector<server_config> servers;
  agi_config agi;
  admin_config admin;
  backoff_config backoff;
  queues_config queues;
  log_config log;
  duration drain_timeout{30'000};  // SIGTERM: how long running calls may finish
  // Asio threads for every socket (FastAGI, AMI, ARI, admin, webhooks); FastAGI handlers run on
  // them by default. 0: half the cores, at least 1 (io_threads_for()).
  std::size_t io_threads = 0;
  ari_outbound_config ari_outbound;  // Asterisk dials astra (outbound ARI WebSockets)
  bus_config bus;                    // several replicas through NATS (issue 14); off when absent
};

// The io thread count `io_threads` stands for on a machine with `cores` cores (0: unknown).
std::size_t io_threads_for(std::size_t io_threads, std::size_t cores);

struct problem {
  std::string path;    // e.g. "servers[0].ami.port" (or the environment variable)
  std::string reason;  // e.g. "expected an integer in 1..65535, got \"abc\" (line 7)"
};

struct load_result {
  std::optional<config> value;  // set iff problems is empty
  std::vector<problem> problems;
  bool ok() const noexcept { return problems.empty(); }
};

// Environment lookup; the default reads the process environment.
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;
env_lookup process_env();

// The handler names a configuration may use (agi.routes[].handler, servers[].ari.handler):
// the stock ones plus those a service registered in code (astra::service). Null: the stock
// lists agi_handlers / ari_handlers.
struct handler_names {
  std::vector<std::string> agi;
  std::vector<std::string> ari;
};

// Reads and validates `path` (relative secret files resolve against its directory).
load_result load_file(const std::string& path, const env_lookup& env = process_env(),
                      const handler_names* names = nullptr);
// Same, from YAML text; `origin` names it in problems ("<string>").
load_result load_string(std::string_view yaml, const env_lookup& env = process_env(),
                        const std::string& base_dir = ".", const handler_names* names = nullptr);

// One documented key: path pattern ("servers[].ami.port"), its default as text, its
// environment variable pattern ("ASTRA_SERVER_<NAME>_AMI_PORT") and what it means.
struct key_doc {
  std::string path;
  std::string default_value;
  std::string env;
  std::string description;
};
// Every key the loader reads, in reading order.
std::vector<key_doc> documented_keys();

// Environment-variable form of a server name: upper case, non-alphanumerics -> '_'.
std::string env_token(std::string_view name);

std::string_view to_string(log_format f) noexcept;
std::string_view to_string(drop_policy p) noexcept;
std::string_view to_string(ari_reconnect_policy p) noexcept;  // "hangup", "continue", "adopt"
std::string_view to_string(ari_worker_loss_policy p) noexcept;  // "hangup", "reoffer"
std::string format_duration(duration d);

}  // namespace astra::config
