// `astra bus watch [--nats URL] [--count N] [--duration S] SUBJECT`: messages as JSON lines
// {"subject": ..., "data": <the message's JSON, or its text>}; and the bus forms of
// `astra ami send` / `astra ari call` (bus_cli.hpp). libnats is used synchronously here: a
// CLI process, not the service (no actor to block).
#include "service/cli/bus_cli.hpp"

#include <nats/nats.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "protocols/common/json_string.hpp"
#include "service/cli/registry.hpp"

namespace astra::cli {

namespace {

constexpr int exit_ok = 0, exit_rejected = 1, exit_failure = 2;

std::string default_url() {
  const char* env = std::getenv("ASTRA_BUS_NATS_URL");
  return env && *env ? env : "nats://127.0.0.1:4222";
}

// Connects to the comma-separated URL list; nullptr (and a line on err) on failure.
natsConnection* connect(const std::string& urls, double timeout_s, std::FILE* err, const char* who) {
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  std::vector<std::string> list;
  std::string item;
  for (char ch : urls + ",") {
    if (ch == ',') {
      if (!item.empty()) list.push_back(item);
      item.clear();
    } else if (ch != ' ') {
      item += ch;
    }
  }
  std::vector<const char*> ptrs;
  for (const auto& u : list) ptrs.push_back(u.c_str());
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetServers(opts, ptrs.data(), static_cast<int>(ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, static_cast<std::int64_t>(timeout_s * 1000));
  if (s == NATS_OK) s = natsOptions_SetName(opts, "astra cli");
  if (s == NATS_OK) {
    if (const char* token = std::getenv("NATS_TOKEN"); token && *token) s = natsOptions_SetToken(opts, token);
  }
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    std::fprintf(err, "%s: cannot connect to NATS %s: %s\n", who, urls.c_str(), natsStatus_GetText(s));
    return nullptr;
  }
  return nc;
}

void close(natsConnection* nc) {
  natsConnection_Close(nc);
  natsConnection_Destroy(nc);
}

// One request; the reply text, or nullopt with exit_failure reported on err.
std::optional<std::string> request(natsConnection* nc, const std::string& subject, const std::string& body,
                                   double timeout_s, const std::string& server, std::FILE* err, const char* who) {
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, nc, subject.c_str(), body.data(), static_cast<int>(body.size()),
                                        static_cast<std::int64_t>(timeout_s * 1000));
  if (s == NATS_NO_RESPONDERS) {
    std::fprintf(err, "%s: no replica holds server %s (no responders on %s)\n", who, server.c_str(), subject.c_str());
    return std::nullopt;
  }
  if (s == NATS_TIMEOUT) {
    std::fprintf(err, "%s: no reply within %.1f s\n", who, timeout_s);
    return std::nullopt;
  }
  if (s != NATS_OK) {
    std::fprintf(err, "%s: request failed: %s\n", who, natsStatus_GetText(s));
    return std::nullopt;
  }
  std::string text(natsMsg_GetData(reply) ? natsMsg_GetData(reply) : "", static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
  natsMsg_Destroy(reply);
  return text;
}

struct bus_flags {
  std::string url = default_url();
  std::string server;
  std::string prefix = "astra";
  double timeout_s = 10;
  void add_to(CLI::App& app) {
    app.add_option("--nats", url, "NATS URL(s), comma-separated (default $ASTRA_BUS_NATS_URL or nats://127.0.0.1:4222)");
    app.add_option("--server", server, "the configured server name (servers[].name)")->required();
    app.add_option("--prefix", prefix, "bus.nats.subject_prefix of the replicas (default astra)");
    app.add_option("--timeout", timeout_s, "reply deadline in seconds (default 10)")->check(CLI::PositiveNumber);
  }
};

int parse_or_exit(CLI::App& app, int argc, char** argv, bool& done) {
  done = true;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_failure;
  }
  done = false;
  return 0;
}

// The reply's exit status: "error" present -> 1 for Asterisk's / ARI's own answer, 2 for astra's.
int print_reply(const std::string& text, std::FILE* out, std::FILE* err, const char* who) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  std::fprintf(out, "%s\n", text.c_str());
  std::fflush(out);
  if (doc.is_discarded() || !doc.is_object()) {
    std::fprintf(err, "%s: the reply is not a JSON object\n", who);
    return exit_failure;
  }
  if (!doc.contains("error")) return exit_ok;
  const auto& error = doc["error"];
  // Any shape is printed, never trusted: a field of another type reads as empty.
  auto text_of = [&error](const char* key) {
    return error.is_object() && error.contains(key) && error[key].is_string() ? error[key].get<std::string>()
                                                                                : std::string();
  };
  const auto code = text_of("code");
  std::fprintf(err, "%s: %s: %s\n", who, code.empty() ? "error" : code.c_str(), text_of("message").c_str());
  return code == "asterisk_error" || code.rfind("status_", 0) == 0 ? exit_rejected : exit_failure;
}

int bus_watch(int argc, char** argv) {
  CLI::App app{"Print the messages of a NATS subject (wildcards * and > allowed) as JSON lines"};
  std::string url = default_url(), subject;
  std::optional<long long> count;
  std::optional<double> duration;
  app.add_option("--nats", url, "NATS URL(s), comma-separated (default $ASTRA_BUS_NATS_URL or nats://127.0.0.1:4222)");
  app.add_option("--count", count, "exit 0 after N messages")->check(CLI::PositiveNumber);
  app.add_option("--duration", duration, "exit 0 after SECONDS")->check(CLI::PositiveNumber);
  app.add_option("SUBJECT", subject, "e.g. astra.pbx1.ami.event.> or astra.>")->required();
  bool done = false;
  int rc = parse_or_exit(app, argc, argv, done);
  if (done) return rc;
  natsConnection* nc = connect(url, 5, stderr, "astra bus watch");
  if (!nc) return exit_failure;
  natsSubscription* sub = nullptr;
  if (natsConnection_SubscribeSync(&sub, nc, subject.c_str()) != NATS_OK ||
      natsSubscription_SetPendingLimits(sub, 1'000'000, 1 << 30) != NATS_OK) {
    std::fprintf(stderr, "astra bus watch: cannot subscribe to %s\n", subject.c_str());
    close(nc);
    return exit_failure;
  }
  const auto end = duration ? std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long long>(*duration * 1000))
                            : std::chrono::steady_clock::time_point::max();
  long long printed = 0;
  std::string line;
  int status = exit_ok;
  while (!count || printed < *count) {
    if (std::chrono::steady_clock::now() >= end) break;
    natsMsg* msg = nullptr;
    natsStatus s = natsSubscription_NextMsg(&msg, sub, 200);
    if (s == NATS_TIMEOUT) continue;
    if (s != NATS_OK) {
      std::fprintf(stderr, "astra bus watch: %s\n", natsStatus_GetText(s));
      status = exit_failure;
      break;
    }
    std::string_view data(natsMsg_GetData(msg) ? natsMsg_GetData(msg) : "", static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    line.assign("{\"subject\":");
    json_text::append_json_string(line, natsMsg_GetSubject(msg));
    line += ",\"data\":";
    // JSON bodies (everything astra publishes) are printed as they are, anything else as a string.
    if (nlohmann::json::accept(data)) line.append(data);
    else json_text::append_json_string(line, data);
    line += "}\n";
    natsMsg_Destroy(msg);
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) {
      status = exit_failure;
      break;
    }
    std::fflush(stdout);
    ++printed;
  }
  int64_t dropped = 0;
  if (natsSubscription_GetDropped(sub, &dropped) == NATS_OK && dropped > 0) {
    std::fprintf(stderr, "astra bus watch: %lld messages dropped (this process was too slow)\n", static_cast<long long>(dropped));
    status = exit_rejected;
  }
  natsSubscription_Destroy(sub);
  close(nc);
  return status;
}

const registration bus_registration{"bus", "NATS bus: `watch [--nats URL] SUBJECT` prints its messages as JSON lines",
                                    [](int argc, char** argv) -> int {
                                      if (argc >= 2 && std::strcmp(argv[1], "watch") == 0) return bus_watch(argc - 1, argv + 1);
                                      std::fprintf(stderr, "usage: astra bus watch [--nats URL] [--count N] [--duration S] SUBJECT\n");
                                      return exit_failure;
                                    }};

}  // namespace

bool wants_bus(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--nats") == 0 || std::strncmp(argv[i], "--nats=", 7) == 0) return true;
  return false;
}

int bus_ami_send(int argc, char** argv, std::FILE* out, std::FILE* err) {
  // argv: "astra ami" "send" ...
  CLI::App app{"One AMI action through the replica holding the server"};
  bus_flags flags;
  flags.add_to(app);
  std::string mode, action;
  std::vector<std::string> pairs;
  app.add_option("MODE", mode, "send")->required();
  app.add_option("ACTION", action, "AMI action name")->required();
  app.add_option("HEADERS", pairs, "Key=Value (repeat a key for several values)");
  bool done = false;
  int rc = parse_or_exit(app, argc, argv, done);
  if (done) return rc;
  if (mode != "send") {
    std::fprintf(err, "astra ami: --nats goes with `send` only\n");
    return exit_failure;
  }
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& p : pairs) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(err, "astra ami send: expected Key=Value, got '%s'\n", p.c_str());
      return exit_failure;
    }
    auto key = p.substr(0, eq), value = p.substr(eq + 1);
    if (!headers.contains(key)) headers[key] = value;
    else if (headers[key].is_array()) headers[key].push_back(value);
    else headers[key] = nlohmann::json::array({headers[key], value});
  }
  natsConnection* nc = connect(flags.url, flags.timeout_s, err, "astra ami send");
  if (!nc) return exit_failure;
  const std::string body = nlohmann::json{{"action", action}, {"headers", headers}}.dump();
  auto reply = request(nc, flags.prefix + "." + flags.server + ".ami.action", body, flags.timeout_s, flags.server, err, "astra ami send");
  close(nc);
  return reply ? print_reply(*reply, out, err, "astra ami send") : exit_failure;
}

int bus_ari_call(int argc, char** argv, std::FILE* out, std::FILE* err) {
  CLI::App app{"One ARI request through the replica holding the server"};
  bus_flags flags;
  flags.add_to(app);
  std::string mode, method, path;
  std::optional<std::string> json_body;
  app.add_option("MODE", mode, "call")->required();
  app.add_option("METHOD", method, "GET, POST, PUT or DELETE")->required();
  app.add_option("PATH", path, "/ari/channels, /channels or channels (a ?query may follow)")->required();
  app.add_option("JSON-BODY", json_body, "JSON request body");
  bool done = false;
  int rc = parse_or_exit(app, argc, argv, done);
  if (done) return rc;
  if (mode != "call") {
    std::fprintf(err, "astra ari: --nats goes with `call` only\n");
    return exit_failure;
  }
  nlohmann::json req{{"method", method}, {"path", path}};
  if (json_body) {
    auto doc = nlohmann::json::parse(*json_body, nullptr, false);
    if (doc.is_discarded()) {
      std::fprintf(err, "astra ari call: JSON-BODY is not valid JSON\n");
      return exit_failure;
    }
    req["body"] = doc;
  }
  natsConnection* nc = connect(flags.url, flags.timeout_s, err, "astra ari call");
  if (!nc) return exit_failure;
  auto reply = request(nc, flags.prefix + "." + flags.server + ".ari.request", req.dump(), flags.timeout_s, flags.server, err, "astra ari call");
  close(nc);
  return reply ? print_reply(*reply, out, err, "astra ari call") : exit_failure;
}

namespace {
int ami_via_bus(int argc, char** argv) { return bus_ami_send(argc, argv, stdout, stderr); }
int ari_via_bus(int argc, char** argv) { return bus_ari_call(argc, argv, stdout, stderr); }
const variant_registration ami_variant{"ami", &wants_bus, &ami_via_bus};
const variant_registration ari_variant{"ari", &wants_bus, &ari_via_bus};
}  // namespace

}  // namespace astra::cli
