// `astra ari call|watch`: one ARI REST call, or the event stream printed as JSON lines.
//
//   astra ari call [--url http://H:8088] [--user U] [--password P | env ASTRA_ARI_PASSWORD]
//                  METHOD PATH [JSON-BODY]
//     PATH is relative to /ari: "/ari/channels", "/channels" and "channels" are the same;
//     a query string may follow ("channels?endpoint=PJSIP/100&app=demo", values may be
//     percent-encoded). Prints {"status": N, "body": ...} (body: the JSON reply, a string for
//     a non-JSON reply, null when empty). Exit 0 for 2xx, 1 for an ARI error status (its
//     message on stderr), 2 for usage or connection errors.
//   astra ari watch [connection flags] --app APP [--app APP2] [--subscribe-all]
//                   [--count N] [--duration SECONDS]
//     One event per line as JSON; exit 0 after exactly N events / the duration, 2 if the
//     socket cannot be opened (e.g. 401) or is lost, or the output cannot be written.
//     Each frame is one line: a JSON object (every frame Asterisk sends) is written through
//     with the whitespace between tokens removed (ari.conf `pretty = yes` frames span lines),
//     keys in Asterisk's order; any other JSON value is re-serialized; a frame that is not
//     JSON in UTF-8 becomes one JSON string (invalid bytes read as Latin-1, json_string.hpp).
//     Output is buffered (service/cli/line_output.hpp): written when the stream pauses for
//     1 ms, at the latest 50 ms after an event, and at exit.
//     http:// URLs are read on the command's own thread in large chunks (ari_event_tail.hpp),
//     each chunk's frames compacted straight into the output buffer; https:// URLs go through
//     the client's event stream (actors/ari/event_stream.hpp), one callback per frame.
// Defaults: --url http://127.0.0.1:8088 (or ASTRA_ARI_URL), --user asterisk (or ASTRA_ARI_USER),
// password ASTRA_ARI_PASSWORD, else "asterisk" (the sample ari.conf credentials).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "actors/ari/event_stream.hpp"
#include "actors/ari/http_pool.hpp"
#include "actors/common/io_runtime.hpp"
#include "protocols/common/json_string.hpp"
#include "service/cli/ari_event_tail.hpp"
#include "service/cli/json_compact.hpp"
#include "service/cli/line_output.hpp"
#include "service/cli/registry.hpp"

namespace astra::cli {
namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::move(fallback);
}

struct connection_flags {
  std::string url = env_or("ASTRA_ARI_URL", "http://127.0.0.1:8088");
  std::string user = env_or("ASTRA_ARI_USER", "asterisk");
  std::string password;
  CLI::Option* password_option = nullptr;
  bool insecure = false;
  bool api_key = false;
  std::string ca_file;
  double timeout_s = 10.0;

  void add_to(CLI::App& app) {
    app.add_option("--url", url, "ARI base URL (http[s]://host:port[/prefix]); env ASTRA_ARI_URL");
    app.add_option("--user", user, "ARI user; env ASTRA_ARI_USER");
    password_option = app.add_option("--password", password, "ARI password; env ASTRA_ARI_PASSWORD");
    app.add_flag("--insecure", insecure, "Do not verify the TLS certificate (https only)");
    app.add_option("--ca-file", ca_file, "CA bundle for TLS verification");
    app.add_flag("--api-key", api_key, "Send credentials as ?api_key= instead of Basic auth");
    app.add_option("--timeout", timeout_s, "Deadline in seconds (connect + request)")->check(CLI::PositiveNumber);
  }

  ari::client_config config() const {
    ari::client_config cfg;
    cfg.url = url;
    cfg.user = user;
    cfg.password = password_option && password_option->count() ? password : env_or("ASTRA_ARI_PASSWORD", "asterisk");
    cfg.verify_tls = !insecure;
    cfg.ca_file = ca_file;
    cfg.use_api_key = api_key;
    auto ms = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
    cfg.request_timeout = ms;
    cfg.connect_timeout = ms;
    return cfg;
  }
};

nlohmann::json body_as_json(const ari::rest_response& r) {
  if (r.body.empty()) return nullptr;
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (!doc.is_discarded()) return doc;
  // Not JSON: printed as a string; dump() would throw on invalid UTF-8 (e.g. a Latin-1 error
  // page), so invalid bytes are read as Latin-1 as in `astra ami` (json_string.hpp).
  return json_text::to_valid_utf8(r.body);
}

int run_call(const connection_flags& flags, const std::string& method_in, const std::string& path_in,
             const std::optional<std::string>& body, std::FILE* out, std::FILE* err) {
  std::string method = method_in;
  for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (method != "GET" && method != "POST" && method != "PUT" && method != "DELETE") {
    std::fprintf(err, "astra ari call: METHOD must be GET, POST, PUT or DELETE (got '%s')\n", method_in.c_str());
    return 2;
  }
  std::optional<std::string> json_body;
  if (body) {
    auto doc = nlohmann::json::parse(*body, nullptr, false);
    if (doc.is_discarded()) {
      std::fprintf(err, "astra ari call: JSON-BODY is not valid JSON\n");
      return 2;
    }
    json_body = doc.dump();
  }
  auto req = ari::make_raw_request(method, path_in, json_body);
  auto cfg = flags.config();
  io_runtime io(1);
  auto pool = ari::http_pool::create(io.context(), cfg);
  if (!pool) {
    std::fprintf(err, "astra ari call: %s\n", pool.error().message().c_str());
    return 2;
  }
  // The callback owns the promise: it may still run after the wait below gave up.
  auto promise = std::make_shared<std::promise<result<ari::rest_response>>>();
  auto future = promise->get_future();
  (*pool)->send(req, [promise](result<ari::rest_response> r) { promise->set_value(std::move(r)); });
  // The pool enforces the deadline; the margin only guards against a lost callback.
  if (future.wait_for(cfg.request_timeout + std::chrono::seconds(2)) != std::future_status::ready) {
    std::fprintf(err, "astra ari call: no reply within %.1f s\n", flags.timeout_s);
    (*pool)->stop();
    io.stop();
    return 2;
  }
  auto r = future.get();
  (*pool)->stop();
  io.stop();
  if (!r) {
    std::fprintf(err, "astra ari call: %s\n", r.error().message().c_str());
    return 2;
  }
  std::fprintf(out, "{\"status\": %d, \"body\": %s}\n", r->status, body_as_json(*r).dump().c_str());
  std::fflush(out);
  if (r->ok()) return 0;
  std::fprintf(err, "astra ari call: %d %s\n", r->status, ari::error_message(*r).c_str());
  return 1;
}

// ApplicationReplaced frames are reported on stderr (they are printed like any other).
void report_replaced(std::string_view frame, std::FILE* err) {
  if (::memmem(frame.data(), frame.size(), "ApplicationReplaced", 19) == nullptr) return;
  // Field types unchecked by Asterisk's schema here: value() would throw on a non-string.
  auto doc = nlohmann::json::parse(frame, nullptr, false);
  auto type = doc.is_object() ? doc.find("type") : doc.end();
  if (type != doc.end() && *type == "ApplicationReplaced") {
    auto app = doc.find("application");
    std::fprintf(err, "astra ari watch: application %s was replaced by another client\n",
                 app != doc.end() && app->is_string() ? app->get_ref<const std::string&>().c_str() : "?");
  }
}

// http:// URLs: the socket is read on this thread in large chunks (ari_event_tail.hpp) and
// every frame of a chunk is compacted straight into the output buffer under one lock.
int run_watch_plain(const ari::client_config& cfg, const ari::endpoint& ep, std::optional<long long> count,
                    std::optional<double> duration_s, std::FILE* err, line_output& lines) {
  std::optional<std::chrono::steady_clock::time_point> until;
  if (duration_s)
    until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long long>(*duration_s * 1000));
  long long printed = 0;
  bool write_failed = false;
  ari_frame_sink sink = [&](std::span<const std::string_view> frames) {
    std::size_t n = frames.size();
    if (count) n = std::min<std::size_t>(n, static_cast<std::size_t>(*count - printed));
    if (!lines.append([&](out_buffer& b) {
          for (std::size_t i = 0; i < n; ++i) append_json_line(b, frames[i]);
        })) {
      write_failed = true;
      return false;
    }
    for (std::size_t i = 0; i < n; ++i) report_replaced(frames[i], err);
    printed += static_cast<long long>(n);
    return !(count && printed >= *count);
  };
  auto why = tail_ari_events(cfg, ep, until, sink);
  if (write_failed) {
    std::fprintf(err, "astra ari watch: cannot write the output\n");
    return 2;
  }
  if (why) {
    std::fprintf(err, "astra ari watch: %s\n", why->message().c_str());
    return 2;
  }
  return 0;
}

int run_watch(const connection_flags& flags, const std::vector<std::string>& apps, bool subscribe_all,
              std::optional<long long> count, std::optional<double> duration_s, std::FILE* out, std::FILE* err) {
  auto cfg = flags.config();
  cfg.apps = apps;
  cfg.subscribe_all = subscribe_all;
  std::fflush(out);
  auto ep = ari::parse_endpoint(cfg.url);
  if (ep && !ep->tls) {
    line_output lines(::fileno(out));
    int code = run_watch_plain(cfg, *ep, count, duration_s, err, lines);
    if (!lines.close() && code == 0) {  // everything printed reaches the output
      std::fprintf(err, "astra ari watch: cannot write the output\n");
      code = 2;
    }
    return code;
  }
  // https:// (and URLs parse_endpoint refuses, reported by event_stream::create): the
  // client's event stream, one callback per frame on its strand.
  line_output lines(::fileno(out));
  // `done` is set under `mu` (with exit_code, then cv notified) and read by the frame callback
  // without it. Callbacks run one at a time on the stream's strand: `printed` is theirs.
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> done{false};
  int exit_code = 0;
  long long printed = 0;
  auto finish = [&](int code) {  // caller holds mu
    if (!done.load()) {
      exit_code = code;
      done.store(true);
      cv.notify_all();
    }
  };
  ari::event_stream_callbacks cb;
  cb.frame = [&](std::string frame) {
    if (done.load(std::memory_order_relaxed)) return;
    if (!lines.append([&](out_buffer& b) { append_json_line(b, frame); })) {
      std::lock_guard lock(mu);
      std::fprintf(err, "astra ari watch: cannot write the output\n");
      finish(2);
      return;
    }
    report_replaced(frame, err);
    if (count && ++printed >= *count) {
      std::lock_guard lock(mu);
      finish(0);
    }
  };
  cb.disconnected = [&](const failure& why, std::chrono::milliseconds) {
    std::lock_guard lock(mu);
    if (done.load()) return;
    std::fprintf(err, "astra ari watch: %s\n", why.message().c_str());
    finish(2);
  };
  io_runtime io(1);
  auto stream = ari::event_stream::create(io.context(), cfg, std::move(cb));
  if (!stream) {
    std::fprintf(err, "astra ari watch: %s\n", stream.error().message().c_str());
    return 2;
  }
  (*stream)->set_reconnect(false);
  (*stream)->start();
  {
    std::unique_lock lock(mu);
    if (duration_s) {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long long>(*duration_s * 1000));
      if (!cv.wait_until(lock, until, [&] { return done.load(); })) finish(0);
    } else {
      cv.wait(lock, [&] { return done.load(); });
    }
  }
  (*stream)->stop();  // no frame callback runs after this returns
  io.stop();
  lines.close();  // everything printed reaches the output
  return exit_code;
}

}  // namespace

// In-process entry point (tests call it with their own streams).
int ari_main(int argc, char** argv, std::FILE* out, std::FILE* err) {
  CLI::App app{"ARI: one REST call, or watch the event stream"};
  app.require_subcommand(1);
  connection_flags flags;

  auto* call = app.add_subcommand("call", "One ARI REST call; prints {\"status\": N, \"body\": ...}");
  flags.add_to(*call);
  std::string method, path;
  std::optional<std::string> body;
  call->add_option("METHOD", method, "GET, POST, PUT or DELETE")->required();
  call->add_option("PATH", path, "/ari/channels, /channels or channels (a ?query may follow)")->required();
  call->add_option("JSON-BODY", body, "JSON request body");

  auto* watch = app.add_subcommand("watch", "Print the /ari/events stream, one JSON event per line");
  connection_flags watch_flags;
  watch_flags.add_to(*watch);
  std::vector<std::string> apps;
  bool subscribe_all = false;
  std::optional<long long> count;
  std::optional<double> duration;
  watch->add_option("--app", apps, "Stasis application (repeatable, or comma-separated)")->required();
  watch->add_flag("--subscribe-all", subscribe_all, "subscribeAll=true");
  watch->add_option("--count", count, "Exit 0 after N events")->check(CLI::PositiveNumber);
  watch->add_option("--duration", duration, "Exit 0 after SECONDS")->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (call->parsed()) return run_call(flags, method, path, body, out, err);
  std::vector<std::string> split;
  for (const auto& a : apps) {
    std::size_t start = 0;
    while (start <= a.size()) {
      auto comma = a.find(',', start);
      auto item = a.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) split.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (split.empty()) {
    std::fprintf(err, "astra ari watch: --app is required\n");
    return 2;
  }
  return run_watch(watch_flags, split, subscribe_all, count, duration, out, err);
}

namespace {
int ari_command(int argc, char** argv) { return ari_main(argc, argv, stdout, stderr); }
const registration reg{"ari", "ARI: `call METHOD PATH [JSON]` or `watch --app APP`", &ari_command};
}  // namespace

}  // namespace astra::cli
