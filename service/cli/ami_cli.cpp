// `astra ami send|watch`: one-shot AMI actions and an event tail, over the AMI session actor.
//
//   astra ami send  [--host H] [--port P] [--user U] [--secret S | env ASTRA_AMI_SECRET] [--md5]
//                   [--tls [--ca-file FILE] [--insecure]] [--timeout SECONDS] ACTION [Key=Value ...]
//       prints one JSON object {"response": {...}, "events": [...]}; a repeated key becomes an
//       array of its values in order. Exit 0 success, 1 Response: Error (Message: on stderr),
//       2 usage / connection / login / timeout errors (one line on stderr).
//   astra ami watch [connection flags] [--event NAME ...] [--count N] [--duration SECONDS]
//       prints one JSON object per event per line; exit 0 when --count/--duration is reached,
//       2 on connection/login errors or when the link is lost. Output is buffered
//       (line_output.hpp): written when the stream pauses for 1 ms, at the latest 50 ms after
//       an event, and at exit. Without --event the connection's reader encodes each event as
//       it is parsed (run_watch_direct); with --event the session actor asks Asterisk for the
//       named events only (event pushdown) and a subscriber writes them (run_watch_session).
// Output is always valid JSON in valid UTF-8, whatever bytes Asterisk sends: header keys and
// values are written by json_text::write_json_string (protocols/common/json_string.hpp):
// valid UTF-8 is kept, each byte of an invalid sequence becomes U+00XX (read as Latin-1, so a
// Latin-1 CallerIDName "Jos\xE9" prints as "José"), controls are escaped (\n \r \t, else \u00XX).
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include "actors/ami/client.hpp"
#include "actors/ami/connection.hpp"
#include "actors/common/io_runtime.hpp"
#include "protocols/common/json_string.hpp"
#include "service/cli/ami_json.hpp"
#include "service/cli/line_output.hpp"
#include "service/cli/registry.hpp"

namespace astra::cli {
namespace {

using namespace std::chrono_literals;

constexpr int exit_ok = 0;
constexpr int exit_rejected = 1;
constexpr int exit_failure = 2;
constexpr std::size_t watch_queue_capacity = 65536;      // events in flight to the writer
constexpr std::chrono::milliseconds default_timeout = 10s;
// CAF workers for watch: the session actor and the JSON writer; the Asio reader has its own.
constexpr std::size_t watch_caf_threads = 2;

const char* usage_text =
    "usage: astra ami send [--host H] [--port P] [--user U] [--secret S] [--md5] [--timeout SECONDS]\n"
    "                      [--tls [--ca-file FILE] [--insecure]] ACTION [Key=Value ...]\n"
    "       astra ami watch [--host H] [--port P] [--user U] [--secret S] [--md5] [--timeout SECONDS]\n"
    "                       [--tls [--ca-file FILE] [--insecure]]\n"
    "                       [--event NAME ...] [--count N] [--duration SECONDS]\n"
    "  --host H          AMI host (default 127.0.0.1)\n"
    "  --port P          AMI port (default 5038; 5039 with --tls)\n"
    "  --user U          AMI user (default $ASTRA_AMI_USER or admin)\n"
    "  --secret S        AMI secret (default $ASTRA_AMI_SECRET)\n"
    "  --md5             log in with an MD5 challenge instead of a plain secret\n"
    "  --tls             AMI over TLS (manager.conf tlsenable; default port 5039); the\n"
    "                    certificate is verified against the system CA store and the host\n"
    "  --ca-file FILE    with --tls: verify against this PEM CA bundle instead\n"
    "  --insecure        with --tls: accept any certificate (no verification)\n"
    "  --timeout SECONDS connect, login and action deadline (default 10)\n"
    "  --event NAME      watch: only these events (repeatable, case-insensitive)\n"
    "  --count N         watch: stop after N events\n"
    "  --duration SECONDS watch: stop after this long\n"
    "Output: JSON in UTF-8. AMI values are raw bytes: valid UTF-8 is kept as is; each byte of an\n"
    "invalid sequence is read as Latin-1 (byte 0xXX -> U+00XX, e.g. \"Jos\\xE9\" -> \"Jos\xC3\xA9\");\n"
    "control characters are escaped.\n"
    "Exit: 0 ok; 1 send: Asterisk answered Response: Error; watch: events were lost (dropped, or\n"
    "written by Asterisk over a read limit: each reported on stderr); 2 usage, connection, login,\n"
    "timeout, or an answer over a read limit (response_too_large).\n";

struct options {
  std::string mode;
  std::string host = "127.0.0.1";
  std::uint16_t port = 5038;
  std::string user;
  std::string secret;
  bool md5 = false;
  bool port_given = false;
  bool tls = false;
  std::string ca_file;
  bool insecure = false;
  std::chrono::milliseconds timeout = default_timeout;
  std::vector<std::string> events;
  std::optional<std::uint64_t> count;
  std::optional<std::chrono::milliseconds> duration;
  std::vector<std::string> positional;
};

struct usage_error {
  std::string message;
};

std::optional<double> parse_seconds(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno != 0 || !(v > 0) || v > 86400.0 * 365) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// Returns a usage error message, or "" on success.
std::string parse(int argc, char** argv, options& o) {
  if (argc < 2) return "missing subcommand (send or watch)";
  o.mode = argv[1];
  if (o.mode != "send" && o.mode != "watch") return "unknown subcommand '" + o.mode + "' (expected send or watch)";
  if (const char* u = std::getenv("ASTRA_AMI_USER"); u && *u) o.user = u;
  else o.user = "admin";
  if (const char* s = std::getenv("ASTRA_AMI_SECRET")) o.secret = s;
  bool options_done = false;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (options_done || arg.size() < 2 || arg.substr(0, 2) != "--") {
      o.positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name(arg.substr(2));
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "md5") {
      if (inline_value) return "--md5 takes no value";
      o.md5 = true;
      continue;
    }
    if (name == "tls" || name == "insecure") {
      if (inline_value) return "--" + name + " takes no value";
      (name == "tls" ? o.tls : o.insecure) = true;
      continue;
    }
    if (name == "help") return "help";
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    }();
    if (!value) return "--" + name + " needs a value";
    if (name == "host") {
      if (value->empty()) return "--host must not be empty";
      o.host = *value;
    } else if (name == "port") {
      auto p = parse_uint(*value, 65535);
      if (!p || *p == 0) return "--port must be 1..65535, not '" + *value + "'";
      o.port = static_cast<std::uint16_t>(*p);
      o.port_given = true;
    } else if (name == "ca-file") {
      if (value->empty()) return "--ca-file needs a file";
      o.ca_file = *value;
    } else if (name == "user") {
      o.user = *value;
    } else if (name == "secret") {
      o.secret = *value;
    } else if (name == "timeout") {
      auto s = parse_seconds(*value);
      if (!s) return "--timeout must be a positive number of seconds, not '" + *value + "'";
      o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*s * 1000.0 + 0.5));
      if (o.timeout.count() == 0) o.timeout = 1ms;
    } else if (name == "event" && o.mode == "watch") {
      if (value->empty()) return "--event needs an event name";
      o.events.push_back(*value);
    } else if (name == "count" && o.mode == "watch") {
      auto n = parse_uint(*value, UINT64_MAX / 2);
      if (!n || *n == 0) return "--count must be a positive integer, not '" + *value + "'";
      o.count = *n;
    } else if (name == "duration" && o.mode == "watch") {
      auto s = parse_seconds(*value);
      if (!s) return "--duration must be a positive number of seconds, not '" + *value + "'";
      o.duration = std::chrono::milliseconds(static_cast<std::int64_t>(*s * 1000.0 + 0.5));
    } else {
      return "unknown option --" + name + " for 'ami " + o.mode + "'";
    }
  }
  if (!o.tls && !o.ca_file.empty()) return "--ca-file needs --tls";
  if (!o.tls && o.insecure) return "--insecure needs --tls";
  if (o.insecure && !o.ca_file.empty()) return "--insecure and --ca-file exclude each other";
  if (o.tls && !o.port_given) o.port = 5039;  // Asterisk's tlsbindaddr default port
  if (o.mode == "send" && o.positional.empty()) return "missing ACTION";
  if (o.mode == "watch" && !o.positional.empty()) return "unexpected argument '" + o.positional[0] + "'";
  return {};
}

ami::session_config make_config(const options& o, std::string events_mask) {
  ami::session_config c;
  c.name = "cli";
  c.host = o.host;
  c.port = o.port;
  c.username = o.user;
  c.secret = o.secret;
  c.md5 = o.md5;
  c.events = std::move(events_mask);
  c.tls.enabled = o.tls;
  c.tls.ca_file = o.ca_file;
  c.tls.verify = !o.insecure;
  c.connect_timeout = o.timeout;
  c.login_timeout = o.timeout;
  c.request_timeout = o.timeout;
  c.keepalive_interval = 0ms;
  c.reconnect = false;
  return c;
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// Reports a failed connection/login on stderr; returns the exit code.
int report_link_failure(std::FILE* err, const failure& f) {
  std::string what;
  if (f.code == ami::make_error_code(ami::ami_errc::login_failed)) what = "login failed";
  else if (f.code == ami::make_error_code(ami::ami_errc::timeout)) what = "timed out";
  else what = "cannot connect";
  std::fprintf(err, "astra ami: %s: %s\n", what.c_str(), one_line(f.detail.empty() ? f.message() : f.detail).c_str());
  return exit_failure;
}

int run_send(const options& o, std::FILE* out, std::FILE* err) {
  ami::action act(o.positional[0]);
  for (std::size_t i = 1; i < o.positional.size(); ++i) {
    const std::string& kv = o.positional[i];
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(err, "astra ami send: expected Key=Value, got '%s' (see astra ami --help)\n", kv.c_str());
      return exit_failure;
    }
    act.add(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (auto probe = ami::serialize(act, "probe"); !probe) {
    std::fprintf(err, "astra ami send: %s\n", one_line(probe.error().detail.empty() ? probe.error().message() : probe.error().detail).c_str());
    return exit_failure;
  }
  io_runtime io{1};
  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", 2);
  caf::actor_system system{sys_cfg};
  ami::client client(system, io, make_config(o, "off"));
  auto up = client.wait_until_up(o.timeout * 2 + 500ms);
  if (!up) return report_link_failure(err, up.error());
  ami::reply r = client.send(act, o.timeout).get();
  if (r.response) {
    out_buffer text;
    text.append("{\"response\":");
    append_json_message(text, *r.response);
    text.append(",\"events\":[");
    for (std::size_t i = 0; i < r.events.size(); ++i) {
      if (i) text.push_back(',');
      append_json_message(text, *r.events[i]);
    }
    text.append("]}\n");
    std::fwrite(text.view().data(), 1, text.size(), out);
    std::fflush(out);
  }
  if (r.ok()) return exit_ok;
  if (r.error.code == ami::make_error_code(ami::ami_errc::rejected)) {
    std::fprintf(err, "%s\n", one_line(r.error.detail).c_str());
    return exit_rejected;
  }
  std::string what = r.error.code == ami::make_error_code(ami::ami_errc::timeout) ? "timed out" : "failed";
  std::fprintf(err, "astra ami send: %s %s: %s\n", o.positional[0].c_str(), what.c_str(),
               one_line(r.error.detail.empty() ? r.error.message() : r.error.detail).c_str());
  return exit_failure;
}

// `ami watch` without --event: one AMI connection (actors/ami/connection.hpp: TCP or TLS,
// the incremental parser, read limits) and no session actor. The reader's strand logs in
// (plain or MD5 challenge, Events: on) and encodes every event of a socket read straight into
// the output buffer under one lock: no CAF hop, no queue, no per-event hand-over between
// threads. A slow output blocks the reader (line_output's 4 MiB bound), so TCP pushes back on
// Asterisk: nothing is shed. --event keeps the session (run_watch_session), whose event
// pushdown asks Asterisk to send only the named events.
int run_watch_direct(const options& o, std::FILE* out, std::FILE* err) {
  std::fflush(out);
  struct shared_state {
    explicit shared_state(int fd) : output(fd) {}
    std::mutex mutex;  // guards the fields below (output has its own lock)
    std::condition_variable changed;
    bool done = false;
    bool logged_in = false;
    bool output_failed = false;
    std::atomic<bool> over{false};        // --count/--duration reached: no line is added after it
    std::optional<failure> link_failure;  // closed before --count / --duration
    std::uint64_t written = 0;            // the reader's strand only, read after it stopped
    std::uint64_t lost_oversized = 0;     // idem
    line_output output;
  };
  auto st = std::make_shared<shared_state>(::fileno(out));
  const std::uint64_t limit = o.count.value_or(UINT64_MAX);
  const std::string label = o.host + ":" + std::to_string(o.port);
  const std::string login_id = "astra-cli-login", challenge_id = "astra-cli-challenge";
  auto finish = [st](std::optional<failure> why) {
    std::lock_guard<std::mutex> lock(st->mutex);
    if (st->done) return;
    st->link_failure = std::move(why);
    st->done = true;
    st->changed.notify_all();
  };

  io_runtime io{1};
  ami::detail::connection_options co;
  co.host = o.host;
  co.port = o.port;
  co.connect_timeout = o.timeout;
  co.tls.enabled = o.tls;
  co.tls.ca_file = o.ca_file;
  co.tls.verify = !o.insecure;
  co.read_buffer_bytes = 256 * 1024;
  std::shared_ptr<ami::detail::connection> conn;
  std::weak_ptr<ami::detail::connection> weak;  // handlers must not keep the connection alive
  auto send_action = [&weak](const ami::action& a, std::string_view id) {
    auto bytes = ami::serialize(a, id);
    if (auto c = weak.lock()) {
      if (bytes) c->write(std::move(*bytes));
      else c->close(bytes.error());  // e.g. CR/LF in the user name: refused at once, not timed out
    }
  };
  ami::detail::connection_handlers h;
  // Every message is handled where it is parsed (on_message): nothing reaches a batch.
  auto handle = [&, st](const ami::message& m) {  // the connection's strand
    if (m.kind() == ami::message_kind::event) {
      if (!st->logged_in || st->written >= limit) return true;  // before the login: not ours
      if (st->over.load(std::memory_order_acquire)) return true;  // --duration is over
      bool late = false;
      if (!st->output.append([&](out_buffer& buffer) {
            if ((late = st->over.load(std::memory_order_acquire))) return;  // --duration ended meanwhile
            append_json_message(buffer, m);
            buffer.push_back('\n');
          })) {
        std::lock_guard<std::mutex> lock(st->mutex);
        st->output_failed = st->done = true;
        st->changed.notify_all();
        st->written = limit;  // nothing more
      } else if (late) {
        return true;
      } else if (++st->written >= limit) {
        std::lock_guard<std::mutex> lock(st->mutex);
        st->done = true;
        st->changed.notify_all();
      } else {
        return true;
      }
      if (auto c = weak.lock()) c->close({ami::make_error_code(ami::ami_errc::disconnected), "watch done"});
      return true;
    }
    if (m.kind() == ami::message_kind::banner && !st->logged_in) {
      if (o.md5) send_action(ami::actions::challenge("MD5"), challenge_id);
      else send_action(ami::actions::login(o.user, o.secret, "on"), login_id);
    } else if (m.kind() == ami::message_kind::response && !st->logged_in &&
               (m.action_id() == login_id || m.action_id() == challenge_id)) {
      auto response = m.get("Response");
      const bool ok = response && ami::iequals(*response, "Success");
      auto challenge = m.get("Challenge");
      if (ok && m.action_id() == challenge_id && challenge) {
        send_action(ami::actions::login_md5(o.user, ami::md5_key(*challenge, o.secret), "on"), login_id);
      } else if (ok && m.action_id() == login_id) {
        std::lock_guard<std::mutex> lock(st->mutex);
        st->logged_in = true;
        st->changed.notify_all();
      } else {
        std::string why = !ok ? std::string(m.get("Message").value_or("Response: Error"))
                              : std::string("no Challenge: in the Challenge response");
        failure refusal{ami::make_error_code(ami::ami_errc::login_failed),
                        "login as '" + o.user + "' refused by " + label + ": " + why};
        if (auto c = weak.lock()) c->close(refusal);
      }
    }
    return true;  // other responses (none asked for) and actions: dropped
  };
  // A throw (bad_alloc while encoding) ends the watch as a failure: it must not leave the
  // connection without a pending read and the command waiting forever.
  h.on_message = [handle, &weak](const ami::message& m) {
    try {
      return handle(m);
    } catch (const std::exception& e) {
      if (auto c = weak.lock())
        c->close({ami::make_error_code(ami::ami_errc::disconnected), std::string("internal error: ") + e.what()});
      return true;
    }
  };
  h.on_batch = [err, st](ami::detail::read_batch&& b) {  // read-limit reports only
    for (const auto& ov : b.oversized) {
      if (ov.kind_known && ov.kind == ami::message_kind::response) continue;
      ++st->lost_oversized;
      std::fprintf(err, "astra ami watch: event lost: %s\n", one_line(ami::describe(ov)).c_str());
    }
    if (b.oversized_count > b.oversized.size()) st->lost_oversized += b.oversized_count - b.oversized.size();
  };
  h.on_closed = [finish](failure why) { finish(std::move(why)); };
  conn = ami::detail::make_connection(io, co, std::move(h));
  weak = conn;
  conn->start();

  bool up = false;
  {
    std::unique_lock<std::mutex> lock(st->mutex);
    // connect + banner + login, as the session's wait_until_up bound.
    up = st->changed.wait_for(lock, o.timeout * 2 + 500ms, [&] { return st->logged_in || st->done; }) && st->logged_in;
    if (!up && !st->done) {
      st->link_failure = failure{ami::make_error_code(ami::ami_errc::timeout), "no login answer from " + label};
      st->done = true;
    }
    if (up) {
      if (o.duration) st->changed.wait_for(lock, *o.duration, [&] { return st->done; });
      else st->changed.wait(lock, [&] { return st->done; });
    }
    st->done = true;
  }
  // Set under the output's lock: an append that saw over == false is done before this, one
  // that starts after sees it (the check is inside its fill): no line after --duration.
  (void)st->output.append([&](out_buffer&) { st->over.store(true, std::memory_order_release); });
  st->over.store(true, std::memory_order_release);  // also when the output has failed or closed
  // The io thread (the strand's only thread) is joined: nothing runs on the strand after it.
  conn->close({ami::make_error_code(ami::ami_errc::disconnected), "watch done"});
  io.stop();
  st->output.close();
  std::lock_guard<std::mutex> lock(st->mutex);
  if (!up) {
    failure f = st->link_failure.value_or(failure{ami::make_error_code(ami::ami_errc::timeout), "no login answer"});
    return report_link_failure(err, f);
  }
  if (st->output_failed) {
    std::fprintf(err, "astra ami watch: cannot write the output\n");
    return exit_failure;
  }
  if (st->lost_oversized > 0)
    std::fprintf(err, "astra ami watch: %llu events lost to the read limits\n",
                 static_cast<unsigned long long>(st->lost_oversized));
  if (st->link_failure && st->written < limit) {
    std::fprintf(err, "astra ami watch: link lost after %llu events: %s\n", static_cast<unsigned long long>(st->written),
                 one_line(st->link_failure->detail.empty() ? st->link_failure->message() : st->link_failure->detail).c_str());
    return exit_failure;
  }
  return st->lost_oversized > 0 ? exit_rejected : exit_ok;
}

int run_watch_session(const options& o, std::FILE* out, std::FILE* err) {
  std::fflush(out);
  const int fd = ::fileno(out);
  io_runtime io{1};
  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", watch_caf_threads);
  caf::actor_system system{sys_cfg};
  ami::client client(system, io, make_config(o, "on"));

  // Lines go to a line_output (its flusher thread writes them: when the stream pauses, at the
  // latest 50 ms after an event, at once past 256 KiB, and at exit); the subscriber encodes
  // on its CAF worker and only blocks when 4 MiB wait for a slow output (then the session
  // pauses its reader: pause_reading below).
  struct shared_state {
    explicit shared_state(int fd) : output(fd) {}
    std::mutex mutex;  // guards the fields below (output has its own lock)
    std::condition_variable changed;
    bool done = false;
    bool output_failed = false;
    std::optional<failure> link_failure;
    std::uint64_t written = 0;
    line_output output;
  };
  auto st = std::make_shared<shared_state>(fd);
  const std::uint64_t limit = o.count.value_or(UINT64_MAX);

  auto on_events = [st, limit](const std::vector<ami::message_ptr>& events) {
    std::lock_guard<std::mutex> lock(st->mutex);
    if (st->done) return;
    bool ok = st->output.append([&](out_buffer& buffer) {
      for (const auto& m : events) {
        append_json_message(buffer, *m);
        buffer.push_back('\n');
        if (++st->written >= limit) {
          st->done = true;
          break;
        }
      }
    });
    if (!ok) st->output_failed = st->done = true;
    if (st->done) st->changed.notify_all();
  };
  auto on_link = [st](const ami::link_event& ev) {
    if (ev.state != ami::link_event::kind::down) return;
    std::lock_guard<std::mutex> lock(st->mutex);
    if (st->done) return;
    st->link_failure = ev.reason;
    st->done = true;
    st->changed.notify_all();
  };
  // Oversized events are reported as they happen: the output itself stays JSON lines.
  auto lost_oversized = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto on_lost = [err, lost_oversized](const ami::event_lost& ev) {
    lost_oversized->fetch_add(1, std::memory_order_relaxed);
    std::fprintf(err, "astra ami watch: event lost: %s\n", one_line(ev.reason.detail).c_str());
  };
  ami::subscribe_request req;
  req.filter = o.events.empty() ? ami::event_filter::all() : ami::event_filter::by_names(o.events);
  req.capacity = watch_queue_capacity;
  req.name = "watch";
  req.policy = ami::queue_policy::pause_reading;  // lossless unless the writer stalls past the stall bound
  auto sub = client.subscribe(std::move(req), on_events, on_link, on_lost);

  auto up = client.wait_until_up(o.timeout * 2 + 500ms);
  if (!up) {
    st->output.close();
    return report_link_failure(err, up.error());
  }
  {
    std::unique_lock<std::mutex> lock(st->mutex);
    if (o.duration) st->changed.wait_for(lock, *o.duration, [&] { return st->done; });
    else st->changed.wait(lock, [&] { return st->done; });
    st->done = true;  // no line is added after this
  }
  // Stop reading now: the status query below waits behind the session's backlog, and a reader
  // still running meanwhile (against a flood, paused past its stall bound) would shed events
  // nobody asked for and count them as lost. The session actor needs no I/O to answer.
  io.stop();
  st->output.close();  // every line added is written
  auto status = client.status().get();
  std::uint64_t lost = lost_oversized->load();
  for (const auto& s : status.subscribers)
    if (s.name == "watch" && s.dropped > 0) {
      lost += s.dropped;
      std::fprintf(err, "astra ami watch: %llu events dropped (output slower than Asterisk past the %lld ms stall bound)\n",
                   static_cast<unsigned long long>(s.dropped), static_cast<long long>(ami::session_config{}.max_read_stall.count()));
    }
  if (status.inbox_dropped > 0) {
    lost += status.inbox_dropped;
    std::fprintf(err, "astra ami watch: %llu events dropped in the session inbox\n",
                 static_cast<unsigned long long>(status.inbox_dropped));
  }
  if (lost_oversized->load() > 0)
    std::fprintf(err, "astra ami watch: %llu events lost to the read limits\n",
                 static_cast<unsigned long long>(lost_oversized->load()));
  sub.reset();
  client.stop();
  std::lock_guard<std::mutex> lock(st->mutex);
  if (st->output_failed) {  // as the direct path: `| head -1` is a failed write, exit 2
    std::fprintf(err, "astra ami watch: cannot write the output\n");
    return exit_failure;
  }
  if (st->link_failure && st->written < limit) {
    std::fprintf(err, "astra ami watch: link lost after %llu events: %s\n", static_cast<unsigned long long>(st->written),
                 one_line(st->link_failure->detail.empty() ? st->link_failure->message() : st->link_failure->detail).c_str());
    return exit_failure;
  }
  // Every event written is whole, but some were lost: not a clean run.
  return lost > 0 ? exit_rejected : exit_ok;
}

}  // namespace

// In-process entry point (tests call it with their own streams).
int ami_main(int argc, char** argv, std::FILE* out, std::FILE* err) {
  // Session logs would interleave with the one-line errors this command prints itself.
  spdlog::set_level(spdlog::level::off);
  options o;
  auto problem = parse(argc, argv, o);
  if (problem == "help") {
    std::fputs(usage_text, out);
    return exit_ok;
  }
  if (!problem.empty()) {
    std::fprintf(err, "astra ami: %s (see astra ami --help)\n", problem.c_str());
    return exit_failure;
  }
  if (o.mode == "send") return run_send(o, out, err);
  return o.events.empty() ? run_watch_direct(o, out, err) : run_watch_session(o, out, err);
}

namespace {
int ami_command(int argc, char** argv) { return ami_main(argc, argv, stdout, stderr); }
registration ami_registration{"ami", "AMI client: send an action, watch events", &ami_command};
}  // namespace

}  // namespace astra::cli
