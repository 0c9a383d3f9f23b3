// FastAGI call generator of astra-sim: dials astra's FastAGI listener like Asterisk's AGI()
// application does, sends the agi_* environment recorded from Asterisk 22 (rewritten per
// call), and answers commands the way Asterisk does (tests/data/asterisk/fixtures/agi).
// Thread affinity: the io_context thread only.
#include "service/sim/sim.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <list>
#include <random>
#include <set>

namespace astra::sim {
namespace {

// Peer limits, as Asterisk applies them.
constexpr auto kConnectTimeout = 2s;          // res_agi: FastAGI connect timeout
constexpr auto kWriteTimeout = 2s;            // a reply that cannot be written is a dead peer
constexpr auto kStopLinger = 2s;              // after the simulator stops: dead-channel answers this long
constexpr std::size_t kMaxCommandBytes = 2048; // res_agi AGI_BUF_LEN; longer is a protocol error
constexpr int kStreamEndpos = 3520;           // endpos of the recorded 'beep' playback (samples at 8 kHz)
constexpr double kBeepMs = 440;               // playing 'beep' (3520 samples) takes this long
constexpr double kSayMs = 300;                // SAY ... playback time
constexpr double kDigitAfterMs = 200;         // with --dtmf: the caller presses a digit this soon
constexpr std::string_view kNotPermitted = "511 Command Not Permitted on a dead channel or intercept routine\n";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Splits an AGI command line like res_agi's parse_args: blanks separate, double quotes
/// group (and "" is an empty argument), backslash escapes the next character.
std::vector<std::string> parse_args(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_arg = false, quoted = false, escaped = false;
  for (char c : line) {
    if (escaped) {
      cur += c;
      escaped = false;
      in_arg = true;
      continue;
    }
    if (c == '\\') {
      escaped = true;
      continue;
    }
    if (c == '"') {
      quoted = !quoted;
      in_arg = true;
      continue;
    }
    if ((c == ' ' || c == '\t') && !quoted) {
      if (in_arg) out.push_back(std::move(cur));
      cur.clear();
      in_arg = false;
      continue;
    }
    cur += c;
    in_arg = true;
  }
  if (in_arg) out.push_back(std::move(cur));
  return out;
}

struct command_spec {
  std::vector<std::string> words;  // lower case
  std::size_t min_args;            // including the command words; fewer -> 520
  bool dead_ok;                    // answered on a hung-up channel (else 511)
};

const std::vector<command_spec>& commands() {
  static const std::vector<command_spec> table = [] {
    std::vector<command_spec> t{
        {{"answer"}, 1, false}, {{"asyncagi", "break"}, 2, true}, {{"channel", "status"}, 2, false},
        {{"control", "stream", "file"}, 5, false}, {{"database", "del"}, 4, true}, {{"database", "deltree"}, 3, true},
        {{"database", "get"}, 4, true}, {{"database", "put"}, 5, true}, {{"exec"}, 2, true},
        {{"get", "data"}, 3, false}, {{"get", "full", "variable"}, 4, true}, {{"get", "option"}, 4, false},
        {{"get", "variable"}, 3, true}, {{"gosub"}, 4, false}, {{"hangup"}, 1, false}, {{"noop"}, 1, true},
        {{"receive", "char"}, 3, false}, {{"receive", "text"}, 3, false}, {{"record", "file"}, 7, false},
        {{"say", "alpha"}, 4, false}, {{"say", "date"}, 4, false}, {{"say", "datetime"}, 4, false},
        {{"say", "digits"}, 4, false}, {{"say", "number"}, 4, false}, {{"say", "phonetic"}, 4, false},
        {{"say", "time"}, 4, false}, {{"send", "image"}, 3, false}, {{"send", "text"}, 3, false},
        {{"set", "autohangup"}, 3, false}, {{"set", "callerid"}, 3, false}, {{"set", "context"}, 3, false},
        {{"set", "extension"}, 3, false}, {{"set", "music"}, 3, false}, {{"set", "priority"}, 3, false},
        {{"set", "variable"}, 4, true}, {{"speech", "activate", "grammar"}, 4, false}, {{"speech", "create"}, 3, false},
        {{"speech", "deactivate", "grammar"}, 4, false}, {{"speech", "destroy"}, 2, false},
        {{"speech", "load", "grammar"}, 5, false}, {{"speech", "recognize"}, 5, false}, {{"speech", "set"}, 4, false},
        {{"speech", "unload", "grammar"}, 4, false}, {{"stream", "file"}, 4, false}, {{"tdd", "mode"}, 3, false},
        {{"verbose"}, 2, true}, {{"wait", "for", "digit"}, 4, false}};
    // Longest match first ("get full variable" before "get ...").
    std::stable_sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.words.size() > b.words.size(); });
    return t;
  }();
  return table;
}

const command_spec* find_command(const std::vector<std::string>& args) {
  for (const auto& c : commands()) {
    if (args.size() < c.words.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < c.words.size() && match; ++i) match = lower(args[i]) == c.words[i];
    if (match) return &c;
  }
  return nullptr;
}

bool known_application(const std::string& app) {
  static const std::set<std::string> apps{
      "answer", "agi", "background", "busy", "chanspy", "confbridge", "congestion", "dial", "echo", "goto",
      "gosub", "hangup", "log", "milliwatt", "mixmonitor", "musiconhold", "noop", "playback", "playtones",
      "progress", "queue", "read", "record", "ringing", "saydigits", "saynumber", "senddtmf", "set", "stasis",
      "system", "transfer", "userevent", "verbose", "voicemail", "wait", "waitexten"};
  return apps.count(lower(app)) > 0;
}

/// Shared AstDB of the simulated Asterisk (family/key -> value), like DATABASE PUT/GET.
std::map<std::string, std::string>& astdb() {
  static std::map<std::string, std::string> db;
  return db;
}

class agi_caller;

class call : public std::enable_shared_from_this<call> {
 public:
  call(agi_caller& owner, context& ctx, std::uint64_t seq)
      : owner_(owner), ctx_(ctx), seq_(seq), socket_(ctx.io), deadline_(ctx.io), hangup_timer_(ctx.io), media_timer_(ctx.io) {}

  void start() { asio::co_spawn(ctx_.io, run(shared_from_this()), asio::detached); }
  /// Caller-side hangup (timer or simulator stop): HANGUP is sent when the call is idle.
  void caller_hangup() {
    if (dead_ || hangup_due_) return;
    hangup_due_ = true;
    if (reading_) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
    }
    if (in_media_) media_timer_.cancel();
  }

 private:
  asio::awaitable<void> run(std::shared_ptr<call> self);
  asio::awaitable<bool> write(std::string bytes);
  std::string environment() const;
  std::string answer(const std::vector<std::string>& args);
  /// How long Asterisk takes to answer `args` (playback, digit timeouts, Wait), scaled by
  /// --media-scale and capped by the idle timeout. The caller may hang up meanwhile.
  clock::duration media_time(const std::vector<std::string>& args) const;
  std::string lookup(const std::string& name) const;

  agi_caller& owner_;
  context& ctx_;
  std::uint64_t seq_;
  tcp::socket socket_;
  asio::steady_timer deadline_, hangup_timer_, media_timer_;
  bool in_media_ = false;
  bool reading_ = false, hangup_due_ = false, dead_ = false, hangup_line_pending_ = false, answered_ = false;
  std::map<std::string, std::string> vars_;
  std::string channel_, uniqueid_;
};

class agi_caller {
 public:
  explicit agi_caller(context& ctx) : ctx_(ctx), tick_(ctx.io) {
    bool env_done = false;
    for (const auto& r : fixture("agi/agi-full-command-set.jsonl")) {
      if (r.dir != "in" || env_done) continue;
      env_template_ += r.data;
      if (env_template_.find("\n\n") != std::string::npos) env_done = true;
    }
    if (!env_done) throw std::runtime_error("astra-sim: AGI fixture has no environment block");
  }

  bool start() {
    boost::system::error_code ec;
    asio::ip::tcp::resolver resolver(ctx_.io);
    auto results = resolver.resolve(ctx_.opt.agi_target.host, std::to_string(ctx_.opt.agi_target.port), ec);
    if (ec || results.empty()) {
      std::cerr << "astra-sim: cannot resolve --agi-target " << ctx_.opt.agi_target.host << ": " << ec.message() << "\n";
      return false;
    }
    target_ = results.begin()->endpoint();
    asio::co_spawn(ctx_.io, generate(), asio::detached);
    ctx_.stop_handlers.push_back([this] {
      tick_.cancel();
      for (auto& w : active_)
        if (auto c = w.lock()) c->caller_hangup();
    });
    return true;
  }

  bool done() const {
    return ctx_.opt.calls > 0 && ctx_.stats.agi_calls_started >= ctx_.opt.calls && ctx_.stats.agi_calls_active == 0;
  }
  const std::string& env_template() const { return env_template_; }
  const tcp::endpoint& target() const { return target_; }
  void finished(call* c) {
    active_.remove_if([c](const std::weak_ptr<call>& w) {
      auto p = w.lock();
      return !p || p.get() == c;
    });
  }

 private:
  asio::awaitable<void> generate() {
    if (ctx_.opt.cps <= 0) co_return;
    const auto interval = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / ctx_.opt.cps));
    auto next = clock::now();
    while (!ctx_.stopping) {
      if (ctx_.opt.calls > 0 && ctx_.stats.agi_calls_started >= ctx_.opt.calls) break;
      if (ctx_.stats.agi_calls_active < ctx_.opt.concurrency) {
        ++ctx_.stats.agi_calls_started;
        ++ctx_.stats.agi_calls_active;
        auto c = std::make_shared<call>(*this, ctx_, seq_++);
        active_.push_back(c);
        c->start();
      }
      next += interval;
      auto now = clock::now();
      if (next < now - 1s) next = now;  // do not burst after a stall
      tick_.expires_at(next);
      boost::system::error_code ec;
      co_await tick_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  context& ctx_;
  asio::steady_timer tick_;
  tcp::endpoint target_;
  std::string env_template_;
  std::uint64_t seq_ = 0x40;
  std::list<std::weak_ptr<call>> active_;  // bounded by --concurrency
};

std::string call::environment() const {
  const auto& opt = ctx_.opt;
  const auto& tpl = owner_.env_template();
  std::string out;
  std::size_t pos = 0;
  std::string path = opt.agi_path;
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  std::string host = owner_.target().address().to_string() + ":" + std::to_string(owner_.target().port());
  while (pos < tpl.size()) {
    auto end = tpl.find('\n', pos);
    if (end == std::string::npos || end == pos) break;  // blank line ends the block
    std::string line = tpl.substr(pos, end - pos);
    pos = end + 1;
    auto colon = line.find(": ");
    std::string key = line.substr(0, colon);
    if (key.rfind("agi_arg_", 0) == 0) continue;
    if (key == "agi_network_script") line = key + ": " + path;
    else if (key == "agi_request") line = key + ": agi://" + host + "/" + path;
    else if (key == "agi_channel") line = key + ": " + channel_;
    else if (key == "agi_uniqueid") line = key + ": " + uniqueid_;
    else if (key == "agi_threadid") line = key + ": " + std::to_string(140279413057216ull + seq_);
    out += line + "\n";
  }
  for (std::size_t i = 0; i < opt.agi_args.size(); ++i) out += "agi_arg_" + std::to_string(i + 1) + ": " + opt.agi_args[i] + "\n";
  out += "\n";
  return out;
}

std::string call::lookup(const std::string& name) const {
  if (auto it = vars_.find(name); it != vars_.end()) return it->second;
  if (name == "CALLERID(num)") return "5551234";
  if (name == "CALLERID(name)") return "Caller";
  if (name == "EXTEN") return "agi";
  if (name == "CONTEXT") return "default";
  if (name == "CHANNEL") return channel_;
  if (name == "UNIQUEID") return uniqueid_;
  if (name == "LANGUAGE") return "en";
  return {};
}

std::string call::answer(const std::vector<std::string>& args) {
  const command_spec* spec = find_command(args);
  if (!spec) return "510 Invalid or unknown command\n";
  if (dead_ && !spec->dead_ok) return std::string(kNotPermitted);
  if (args.size() < spec->min_args) return "520 Invalid command syntax.  Proper usage not available.\n";
  const auto& w = spec->words;
  const std::string& first = w[0];
  const std::string& dtmf = ctx_.opt.dtmf;
  auto arg = [&](std::size_t i) -> std::string { return i < args.size() ? args[i] : std::string(); };
  if (first == "answer") {
    answered_ = true;
    return "200 result=0\n";
  }
  if (first == "channel") return answered_ ? "200 result=6\n" : "200 result=4\n";
  if (first == "hangup") {
    dead_ = true;
    hangup_line_pending_ = true;  // Asterisk reports the hangup before the next reply
    return "200 result=1\n";
  }
  if (first == "verbose" || (first == "set" && w[1] == "callerid")) return "200 result=1\n";
  if (first == "set" && w[1] == "variable") {
    vars_[arg(2)] = arg(3);
    return "200 result=1\n";
  }
  if (first == "set" && w[1] == "autohangup") {
    auto secs = std::atof(arg(2).c_str());
    if (secs > 0) {
      hangup_timer_.expires_after(std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(secs)));
      hangup_timer_.async_wait([self = shared_from_this()](auto ec) {
        if (!ec) self->caller_hangup();
      });
    }
    return "200 result=0\n";
  }
  if (first == "get" && w[1] == "variable") {
    auto v = lookup(arg(2));
    return v.empty() && !vars_.count(arg(2)) ? "200 result=0\n" : "200 result=1 (" + v + ")\n";
  }
  if (first == "get" && w[1] == "full") {
    std::string expr = arg(3), out;
    for (std::size_t i = 0; i < expr.size();) {
      if (expr.compare(i, 2, "${") == 0) {
        auto close = expr.find('}', i);
        if (close == std::string::npos) break;
        out += lookup(expr.substr(i + 2, close - i - 2));
        i = close + 1;
      } else {
        out += expr[i++];
      }
    }
    return "200 result=1 (" + out + ")\n";
  }
  if (first == "database") {
    auto& db = astdb();
    if (w[1] == "put") {
      db[arg(2) + "/" + arg(3)] = arg(4);
      return "200 result=1\n";
    }
    if (w[1] == "get") {
      auto it = db.find(arg(2) + "/" + arg(3));
      return it == db.end() ? "200 result=0\n" : "200 result=1 (" + it->second + ")\n";
    }
    if (w[1] == "del") return db.erase(arg(2) + "/" + arg(3)) ? "200 result=1\n" : "200 result=0\n";
    // deltree
    std::string prefix = arg(2) + "/" + (args.size() > 3 ? arg(3) + "/" : "");
    std::size_t removed = 0;
    for (auto it = db.lower_bound(prefix); it != db.end() && it->first.rfind(prefix, 0) == 0;) {
      it = db.erase(it);
      ++removed;
    }
    return removed ? "200 result=1\n" : "200 result=0\n";
  }
  // Sound files whose name starts with "no-such" behave as missing (exercises error paths).
  bool missing = arg(w.size()).rfind("no-such", 0) == 0;
  if (first == "stream") {
    if (missing) return "200 result=-1 endpos=0\n";
    if (!dtmf.empty() && arg(3).find(dtmf[0]) != std::string::npos)
      return "200 result=" + std::to_string(static_cast<int>(dtmf[0])) + " endpos=1760\n";
    return "200 result=0 endpos=" + std::to_string(kStreamEndpos) + "\n";
  }
  if (first == "control") return missing ? "200 result=-1 endpos=0\n" : "200 result=0 endpos=-1\n";
  if (first == "get" && w[1] == "option") {
    if (missing) return "200 result=-1 endpos=0\n";
    if (!dtmf.empty() && arg(3).find(dtmf[0]) != std::string::npos)
      return "200 result=" + std::to_string(static_cast<int>(dtmf[0])) + " endpos=1760\n";
    return "200 result=0 endpos=" + std::to_string(kStreamEndpos) + "\n";
  }
  if (first == "get" && w[1] == "data") {
    if (missing) return "200 result=-1\n";
    if (dtmf.empty()) return "200 result= (timeout)\n";
    auto max = args.size() > 4 ? static_cast<std::size_t>(std::max(1, std::atoi(arg(4).c_str()))) : dtmf.size();
    return "200 result=" + dtmf.substr(0, std::min(max, dtmf.size())) + "\n";
  }
  if (first == "wait") return dtmf.empty() ? "200 result=0\n" : "200 result=" + std::to_string(static_cast<int>(dtmf[0])) + "\n";
  if (first == "exec") return known_application(arg(1)) ? "200 result=0\n" : "200 result=-2\n";
  if (first == "receive") return w[1] == "char" ? "200 result=-1 (hangup)\n" : "200 result=-1\n";
  if (first == "record") return "200 result=0 (timeout) endpos=0\n";
  if (first == "gosub") return "100 result=0 Trying...\n200 result=0 Gosub complete\n";
  // answer-less commands that succeed with 0: say *, send *, tdd mode, set music/context/extension/priority,
  // asyncagi break, speech *, noop.
  return "200 result=0\n";
}

clock::duration call::media_time(const std::vector<std::string>& args) const {
  const command_spec* spec = find_command(args);
  if (!spec || args.size() < spec->min_args) return clock::duration::zero();
  const auto& w = spec->words;
  const double scale = ctx_.opt.media_scale;
  if (scale <= 0) return clock::duration::zero();
  auto ms_arg = [&](std::size_t i, double fallback) {
    if (i >= args.size()) return fallback;
    char* end = nullptr;
    double v = std::strtod(args[i].c_str(), &end);
    return end && *end == '\0' ? v : fallback;
  };
  const bool digits = !ctx_.opt.dtmf.empty();
  const bool missing = args.size() > w.size() && args[w.size()].rfind("no-such", 0) == 0;
  double ms = 0;
  if (w[0] == "stream" || w[0] == "control" || (w[0] == "get" && w[1] == "option")) {
    ms = missing ? 0 : digits ? kDigitAfterMs : kBeepMs;
  } else if (w[0] == "get" && w[1] == "data") {
    ms = (missing ? 0 : kBeepMs) + (digits ? kDigitAfterMs : std::max(0.0, ms_arg(3, 6000)));
  } else if (w[0] == "wait") {
    double t = ms_arg(3, 0);
    ms = digits ? kDigitAfterMs : t < 0 ? 1e12 : t;
  } else if (w[0] == "say") {
    ms = kSayMs;
  } else if (w[0] == "record") {
    ms = std::max(0.0, ms_arg(5, 0));
  } else if (w[0] == "exec" && lower(args[1]) == "wait") {
    ms = std::max(0.0, ms_arg(2, 0)) * 1000.0;
  }
  auto cap = std::chrono::duration<double, std::milli>(ctx_.opt.agi_idle_timeout).count();
  ms = std::min(ms * scale, cap);
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

asio::awaitable<bool> call::write(std::string bytes) {
  deadline_.expires_after(kWriteTimeout);
  boost::system::error_code ec;
  co_await asio::async_write(socket_, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

asio::awaitable<void> call::run(std::shared_ptr<call> self) {
  auto& st = ctx_.stats;
  char seq[16];
  std::snprintf(seq, sizeof seq, "%08llx", static_cast<unsigned long long>(seq_));
  channel_ = std::string("Local/agi@default-") + seq + ";2";
  uniqueid_ = std::to_string(static_cast<long long>(epoch_seconds())) + "." + std::to_string(seq_);
  enum class outcome { completed, caller_hangup, connect_failed, timeout, protocol_error } result = outcome::completed;

  deadline_.expires_after(kConnectTimeout);
  asio::co_spawn(ctx_.io, watchdog(self, deadline_, socket_), asio::detached);
  boost::system::error_code ec;
  co_await socket_.async_connect(owner_.target(), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    result = outcome::connect_failed;
  } else if (!co_await write(environment())) {
    result = outcome::connect_failed;
  } else {
    if (ctx_.opt.agi_caller_hangup.count() > 0) {
      hangup_timer_.expires_after(ctx_.opt.agi_caller_hangup);
      hangup_timer_.async_wait([self](auto e) {
        if (!e) self->caller_hangup();
      });
    }
    std::string buffer;
    char chunk[2048];
    while (socket_.is_open()) {
      auto lf = buffer.find('\n');
      if (lf == std::string::npos) {
        if (buffer.size() > kMaxCommandBytes) {
          result = outcome::protocol_error;
          break;
        }
        if (hangup_due_ && !dead_) {
          dead_ = true;
          result = outcome::caller_hangup;
          if (!co_await write("HANGUP\n")) break;
        }
        // After a stop the hung-up call still answers dead-channel commands (as Asterisk does)
        // until the server closes, but only for kStopLinger.
        deadline_.expires_after(ctx_.stopping ? std::min<clock::duration>(kStopLinger, ctx_.opt.agi_idle_timeout)
                                              : clock::duration(ctx_.opt.agi_idle_timeout));
        reading_ = true;
        std::size_t n = co_await socket_.async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
        reading_ = false;
        if (ec == asio::error::operation_aborted && socket_.is_open()) continue;  // caller_hangup()
        if (ec) {
          if ((ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) && result == outcome::completed)
            result = outcome::timeout;
          break;  // eof: the FastAGI server ended the call
        }
        buffer.append(chunk, n);
        continue;
      }
      std::string line = buffer.substr(0, lf);
      buffer.erase(0, lf + 1);
      std::string reply;
      if (hangup_line_pending_) {
        reply = "HANGUP\n";
        hangup_line_pending_ = false;
      }
      auto args = parse_args(line);
      auto busy = dead_ ? clock::duration::zero() : media_time(args);
      if (busy > clock::duration::zero() && !hangup_due_) {
        deadline_.expires_after(busy + kWriteTimeout);
        media_timer_.expires_after(busy);
        in_media_ = true;
        boost::system::error_code mec;
        co_await media_timer_.async_wait(asio::redirect_error(asio::use_awaitable, mec));
        in_media_ = false;
        if (!socket_.is_open()) break;
      }
      if (hangup_due_ && !dead_ && busy > clock::duration::zero()) {
        // The caller hung up during playback/wait: -1, then the HANGUP notice (recorded order).
        dead_ = true;
        result = outcome::caller_hangup;
        // Playback commands always report endpos (res_agi); GET DATA / WAIT FOR DIGIT do not.
        const auto* spec = find_command(args);
        const bool playback = spec && (spec->words[0] == "stream" || spec->words[0] == "control" ||
                                       (spec->words[0] == "get" && spec->words[1] == "option"));
        reply += playback ? "200 result=-1 endpos=" + std::to_string(kStreamEndpos / 2) + "\nHANGUP\n"
                          : std::string("200 result=-1\nHANGUP\n");
        ++st.agi_commands_answered;
        if (!co_await write(std::move(reply))) break;
        continue;
      }
      reply += answer(args);
      ++st.agi_commands_answered;
      if (!co_await write(std::move(reply))) break;
    }
  }
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  deadline_.cancel();
  hangup_timer_.cancel();
  media_timer_.cancel();
  switch (result) {
    case outcome::completed: ++st.agi_calls_completed; break;
    case outcome::caller_hangup: ++st.agi_calls_completed; ++st.agi_caller_hangups; break;
    case outcome::timeout: ++st.agi_timeouts; ++st.agi_calls_failed; break;
    case outcome::connect_failed: ++st.agi_connect_failures; ++st.agi_calls_failed; break;
    case outcome::protocol_error: ++st.agi_calls_failed; break;
  }
  --st.agi_calls_active;
  owner_.finished(this);
}

std::unique_ptr<agi_caller> g_agi;

}  // namespace

bool start_agi_caller(context& ctx) {
  g_agi = std::make_unique<agi_caller>(ctx);
  return g_agi->start();
}

bool agi_caller_done(const context& ctx) { return g_agi && g_agi->done(); }

void destroy_agi_caller() { g_agi.reset(); }
void destroy_ami_server();
void destroy_ari_server();

void destroy_components() {
  destroy_agi_caller();
  destroy_ari_server();
  destroy_ami_server();
}

}  // namespace astra::sim
