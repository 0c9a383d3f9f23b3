// AMI server of astra-sim: Asterisk Manager Interface over TCP with the replies, list
// responses and events Asterisk 22 sends (formats taken from tests/data/asterisk/fixtures/ami).
// Thread affinity: the io_context thread only.
#include "service/sim/sim.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <iostream>
#include <optional>
#include <random>
#include <regex>
#include <set>

namespace astra::sim {
namespace {

// Peer limits, as Asterisk applies them.
constexpr std::size_t kMaxLineBytes = 1024;        // longer lines are discarded
constexpr std::size_t kMaxHeaders = 128;           // extra headers are ignored
constexpr auto kAuthTimeout = 30s;                 // manager.conf authtimeout default
constexpr auto kIdleTimeout = 600s;                // idle logged-in session is cut (sim policy)
constexpr auto kWriteTimeout = 100ms;              // manager.conf writetimeout default
constexpr std::size_t kMaxQueuedBytes = 4u << 20;  // per session; events beyond are dropped (counted)
constexpr std::size_t kMaxTrackedChannels = 20000; // channel model bound; new channels beyond are not tracked
constexpr auto kPumpTick = 10ms;
constexpr auto kOriginateDelay = 50ms;             // Originate queued -> channel up
constexpr std::string_view kBanner = "Asterisk Call Manager/11.0.0\r\n";

using header_list = std::vector<std::pair<std::string, std::string>>;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string> header(const header_list& h, std::string_view name) {
  for (const auto& [k, v] : h)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

std::string md5_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_md5(), nullptr);
  std::string out;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    out += buf;
  }
  return out;
}

/// Parses an AMI message block (lines without the final blank line) into headers.
header_list parse_block(std::string_view block) {
  header_list h;
  std::size_t pos = 0;
  while (pos < block.size() && h.size() < kMaxHeaders) {
    auto end = block.find("\r\n", pos);
    if (end == std::string_view::npos) end = block.size();
    auto line = block.substr(pos, end - pos);
    pos = end + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    h.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return h;
}

/// The Asterisk channel model behind CoreShowChannels, Status, Getvar/Setvar and Hangup:
/// fed by every event the simulator emits.
struct channel_info {
  header_list fields;  // Channel .. Linkedid, in Asterisk's order
  std::string application, app_data;
  std::map<std::string, std::string> vars;
  clock::time_point created = clock::now();
};

constexpr std::string_view kChannelFieldOrder[] = {
    "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
    "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid"};

std::string channel_block(const channel_info& c) {
  std::string out;
  for (const auto& [k, v] : c.fields) out += k + ": " + v + "\r\n";
  return out;
}

std::string field(const channel_info& c, std::string_view name) {
  return header(c.fields, name).value_or("");
}

class ami_server;

class session : public std::enable_shared_from_this<session> {
 public:
  session(ami_server& server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), read_deadline_(socket_.get_executor()),
        write_deadline_(socket_.get_executor()), wake_(socket_.get_executor()) {
    write_deadline_.expires_at(clock::time_point::max());
    wake_.expires_at(clock::time_point::max());
  }

  void start();
  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    wake_.cancel();
    read_deadline_.cancel();
    write_deadline_.cancel();
  }
  bool wants_events() const { return logged_in_ && events_on_ && socket_.is_open(); }

  /// Queues bytes for the writer. Responses are always queued; events are dropped (counted)
  /// once kMaxQueuedBytes are pending.
  void send(std::string bytes, bool is_event);
  void send_event(const std::string& bytes) { send(bytes, true); }

 private:
  asio::awaitable<void> reader(std::shared_ptr<session> self);
  asio::awaitable<void> writer(std::shared_ptr<session> self);
  void handle(const header_list& h);
  std::string response(std::string_view status, const std::optional<std::string>& id, std::string_view body) const {
    std::string out = "Response: " + std::string(status) + "\r\n";
    if (id) out += "ActionID: " + *id + "\r\n";
    out += body;
    out += "\r\n";
    return out;
  }
  std::string security_event(std::string_view name, std::string_view extra) const;

  ami_server& server_;
  tcp::socket socket_;
  asio::steady_timer read_deadline_, write_deadline_, wake_;
  std::deque<std::string> out_;
  std::size_t out_bytes_ = 0;
  bool close_after_flush_ = false;
  bool logged_in_ = false, events_on_ = true;
  std::string challenge_, account_, session_id_;
  std::string local_, remote_;
  std::string session_tv_;
};

class ami_server {
 public:
  explicit ami_server(context& ctx) : ctx_(ctx), acceptor_(ctx.io), pump_(ctx.io), started_(clock::now()) {
    load_fixtures();
  }

  bool listen() {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(ctx_.opt.ami_listen.host, ec);
    if (ec) return fail("bad --ami-listen address", ec);
    tcp::endpoint ep{addr, ctx_.opt.ami_listen.port};
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("cannot listen on AMI " + ctx_.opt.ami_listen.host + ":" + std::to_string(ctx_.opt.ami_listen.port), ec);
    asio::co_spawn(ctx_.io, accept_loop(), asio::detached);
    asio::co_spawn(ctx_.io, event_pump(), asio::detached);
    ctx_.stop_handlers.push_back([this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      pump_.cancel();
      auto copy = sessions_;
      for (auto& s : copy) s->close();
    });
    return true;
  }

  context& ctx() { return ctx_; }
  void remove(const std::shared_ptr<session>& s) { sessions_.erase(s); }
  std::uint64_t uptime_s() const {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(clock::now() - started_).count());
  }

  // --- Asterisk model -------------------------------------------------------------------
  /// Sends an event to every subscribed session and applies it to the channel model.
  void emit(const std::string& event_bytes) {
    track(parse_block(std::string_view(event_bytes).substr(0, event_bytes.size() - 2)));
    for (const auto& s : sessions_)
      if (s->wants_events()) s->send_event(event_bytes);
  }

  /// Sessions that receive events now.
  std::size_t listeners() const {
    std::size_t n = 0;
    for (const auto& s : sessions_) n += s->wants_events();
    return n;
  }

  std::map<std::string, channel_info>& channels() { return channels_; }
  std::map<std::string, std::string>& global_vars() { return global_vars_; }
  std::map<std::string, std::string>& db() { return db_; }

  std::string event_from_channel(std::string_view name, const channel_info& c, std::string_view extra,
                                 std::string_view privilege = "call,all") const {
    return "Event: " + std::string(name) + "\r\nPrivilege: " + std::string(privilege) + "\r\n" + channel_block(c) +
           std::string(extra) + "\r\n";
  }

  void originate(const header_list& h, const std::optional<std::string>& id);
  void hangup_channel(const std::string& name, int cause);

  const std::string& core_show_version() const { return core_show_version_; }
  const std::string& list_commands_body() const { return list_commands_body_; }
  const std::string& core_settings_body() const { return core_settings_body_; }

 private:
  bool fail(const std::string& what, const boost::system::error_code& ec) {
    std::cerr << "astra-sim: " << what << ": " << ec.message() << "\n";
    return false;
  }

  void load_fixtures() {
    // Event stream: every Event block of the recorded 40-call burst except the login ones.
    std::string all;
    for (const auto& r : fixture("ami/event-burst.jsonl"))
      if (r.dir == "in") all += r.data;
    std::size_t pos = 0;
    while (true) {
      auto end = all.find("\r\n\r\n", pos);
      if (end == std::string::npos) break;
      std::string block = all.substr(pos, end + 4 - pos);
      pos = end + 4;
      if (block.rfind("Event: ", 0) != 0) continue;
      if (block.rfind("Event: FullyBooted", 0) == 0 || block.rfind("Event: SuccessfulAuth", 0) == 0) continue;
      burst_.push_back(std::move(block));
    }
    if (burst_.empty()) throw std::runtime_error("astra-sim: event-burst fixture has no events");
    // Replies recorded verbatim: keep the body between the ActionID line and the blank line.
    auto body_of = [](std::string_view file, std::string_view action_id) {
      std::string joined;
      bool found = false;
      for (const auto& r : fixture(file)) {
        if (r.dir != "in") continue;
        if (!found && r.data.find("ActionID: " + std::string(action_id) + "\r\n") == std::string::npos) continue;
        found = true;
        joined += r.data;
        if (joined.find("\r\n\r\n") != std::string::npos) break;
      }
      auto start = joined.find("ActionID: " + std::string(action_id) + "\r\n");
      if (start == std::string::npos) throw std::runtime_error("astra-sim: fixture reply missing: " + std::string(action_id));
      start += std::string("ActionID: ").size() + action_id.size() + 2;
      auto end = joined.find("\r\n\r\n", start);
      return joined.substr(start, end + 2 - start);  // keeps the last line's CRLF
    };
    core_show_version_ = body_of("ami/login-ping-core.jsonl", "cmd-1");
    core_settings_body_ = body_of("ami/login-ping-core.jsonl", "cs-1");
    list_commands_body_ = body_of("ami/call-lifecycle.jsonl", "lc-1");
  }

  void track(const header_list& h) {
    auto ev = header(h, "Event");
    auto chan = header(h, "Channel");
    if (!ev || !chan) return;
    if (*ev == "Newchannel") {
      if (channels_.size() >= kMaxTrackedChannels) return;
      channel_info c;
      for (auto name : kChannelFieldOrder) c.fields.emplace_back(std::string(name), header(h, name).value_or(""));
      channels_[*chan] = std::move(c);
      return;
    }
    auto it = channels_.find(*chan);
    if (it == channels_.end()) return;
    if (*ev == "Hangup") {
      channels_.erase(it);
      return;
    }
    for (auto& [k, v] : it->second.fields)
      if (auto nv = header(h, k)) v = *nv;
    if (*ev == "Newexten") {
      it->second.application = header(h, "Application").value_or("");
      it->second.app_data = header(h, "AppData").value_or("");
    }
  }

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> event_pump();

  context& ctx_;
  tcp::acceptor acceptor_;
  asio::steady_timer pump_;
  clock::time_point started_;
  std::set<std::shared_ptr<session>> sessions_;
  std::vector<std::string> burst_;
  std::size_t burst_next_ = 0;
  std::map<std::string, channel_info> channels_;
  std::map<std::string, std::string> global_vars_, db_;
  std::uint64_t channel_seq_ = 0x100, uniqueid_seq_ = 0;
  std::string core_show_version_, list_commands_body_, core_settings_body_;
};

asio::awaitable<void> ami_server::accept_loop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (!acceptor_.is_open()) break;
      continue;
    }
    ++ctx_.stats.ami_connections;
    auto s = std::make_shared<session>(*this, std::move(socket));
    sessions_.insert(s);
    s->start();
  }
}

asio::awaitable<void> ami_server::event_pump() {
  double budget = 0;
  auto last = clock::now();
  while (!ctx_.stopping) {
    pump_.expires_after(kPumpTick);
    boost::system::error_code ec;
    co_await pump_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ctx_.stopping) break;
    auto now = clock::now();
    double dt = std::chrono::duration<double>(now - last).count();
    last = now;
    bool any = std::any_of(sessions_.begin(), sessions_.end(), [](const auto& s) { return s->wants_events(); });
    if (!any || ctx_.opt.event_rate <= 0) {
      budget = 0;
      continue;
    }
    budget = std::min(budget + dt * ctx_.opt.event_rate, ctx_.opt.event_rate);  // at most 1 s of backlog
    while (budget >= 1.0) {
      budget -= 1.0;
      emit(burst_[burst_next_]);
      burst_next_ = (burst_next_ + 1) % burst_.size();
    }
  }
}

void ami_server::originate(const header_list& h, const std::optional<std::string>& id) {
  std::string target = header(h, "Channel").value_or("");
  static const std::set<std::string> known_tech{"Local", "PJSIP", "SIP", "IAX2", "DAHDI", "Motif", "Console"};
  auto slash = target.find('/');
  bool ok = slash != std::string::npos && slash + 1 < target.size() && known_tech.count(target.substr(0, slash));
  std::string context = header(h, "Context").value_or("default");
  std::string exten = header(h, "Exten").value_or("s");
  std::string priority = header(h, "Priority").value_or("1");
  std::string cid = header(h, "CallerID").value_or("");
  std::string cid_name = "<unknown>", cid_num = "<unknown>";
  if (auto lt = cid.find('<'); lt != std::string::npos) {
    auto gt = cid.find('>', lt);
    cid_num = cid.substr(lt + 1, gt == std::string::npos ? std::string::npos : gt - lt - 1);
    auto name = cid.substr(0, lt);
    while (!name.empty() && (name.back() == ' ')) name.pop_back();
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
    cid_name = name.empty() ? "<unknown>" : name;
  } else if (!cid.empty()) {
    cid_num = cid;
  }
  char seq[16];
  std::snprintf(seq, sizeof seq, "%08llx", static_cast<unsigned long long>(channel_seq_++));
  std::string name = ok && target.rfind("Local/", 0) == 0 ? target + "-" + seq + ";1" : target + "-" + seq;
  std::string uniqueid = std::to_string(static_cast<long long>(epoch_seconds())) + "." + std::to_string(uniqueid_seq_++);
  std::vector<std::pair<std::string, std::string>> vars;
  for (const auto& [k, v] : h)
    if (iequals(k, "Variable"))
      if (auto eq = v.find('='); eq != std::string::npos) vars.emplace_back(v.substr(0, eq), v.substr(eq + 1));

  auto timer = std::make_shared<asio::steady_timer>(ctx_.io, kOriginateDelay);
  timer->async_wait([this, timer, ok, target, name, uniqueid, context, exten, priority, cid_num, cid_name, vars, id](auto ec) {
    if (ec || ctx_.stopping) return;
    std::string idline = id ? "ActionID: " + *id + "\r\n" : "";
    if (!ok) {
      emit("Event: OriginateResponse\r\nPrivilege: call,all\r\n" + idline + "Response: Failure\r\nChannel: " + target +
           "\r\nContext: " + context + "\r\nExten: " + exten + "\r\nReason: 0\r\nUniqueid: <unknown>\r\n"
           "CallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\n\r\n");
      return;
    }
    channel_info c;
    for (auto f : kChannelFieldOrder) c.fields.emplace_back(std::string(f), "");
    auto set = [&c](std::string_view k, std::string v) {
      for (auto& [fk, fv] : c.fields)
        if (fk == k) fv = std::move(v);
    };
    set("Channel", name);
    set("ChannelState", "0");
    set("ChannelStateDesc", "Down");
    set("CallerIDNum", "<unknown>");
    set("CallerIDName", "<unknown>");
    set("ConnectedLineNum", "<unknown>");
    set("ConnectedLineName", "<unknown>");
    set("Language", "en");
    auto slash2 = target.find('/');
    auto at = target.find('@');
    set("Context", at != std::string::npos ? target.substr(at + 1) : "default");
    set("Exten", target.substr(slash2 + 1, at == std::string::npos ? std::string::npos : at - slash2 - 1));
    set("Priority", "1");
    set("Uniqueid", uniqueid);
    set("Linkedid", uniqueid);
    emit(event_from_channel("Newchannel", c, ""));
    for (const auto& [k, v] : vars)
      emit(event_from_channel("VarSet", c, "Variable: " + k + "\r\nValue: " + v + "\r\n", "dialplan,all"));
    if (auto it = channels_.find(name); it != channels_.end())
      for (const auto& [k, v] : vars) it->second.vars[k] = v;
    emit("Event: OriginateResponse\r\nPrivilege: call,all\r\n" + idline + "Response: Success\r\nChannel: " + name +
         "\r\nContext: " + context + "\r\nExten: " + exten + "\r\nReason: 4\r\nUniqueid: " + uniqueid +
         "\r\nCallerIDNum: " + cid_num + "\r\nCallerIDName: " + cid_name + "\r\n\r\n");
    set("ChannelState", "6");
    set("ChannelStateDesc", "Up");
    set("CallerIDNum", cid_num);
    set("CallerIDName", cid_name);
    set("ConnectedLineNum", cid_num);
    set("ConnectedLineName", cid_name);
    emit(event_from_channel("Newstate", c, ""));
    set("Context", context);
    set("Exten", exten);
    set("Priority", priority);
    emit(event_from_channel("Newexten", c, "Extension: " + exten + "\r\nApplication: Wait\r\nAppData: 60\r\n", "dialplan,all"));
    // The originated call ends by itself after the hold time unless hung up first.
    auto hold = std::make_shared<asio::steady_timer>(ctx_.io, ctx_.opt.ari_call_hold);
    hold->async_wait([this, hold, name](auto ec2) {
      if (!ec2 && !ctx_.stopping) hangup_channel(name, 16);
    });
  });
}

void ami_server::hangup_channel(const std::string& name, int cause) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return;
  const std::string cause_txt = cause == 16 ? "Normal Clearing" : cause == 0 ? "Unknown" : "Unknown";
  emit(event_from_channel("SoftHangupRequest", it->second, "Cause: " + std::to_string(cause) + "\r\n"));
  it = channels_.find(name);
  if (it == channels_.end()) return;
  emit(event_from_channel("Hangup", it->second,
                          "Cause: " + std::to_string(cause) + "\r\nCause-txt: " + cause_txt + "\r\n"));
}

void session::start() {
  auto self = shared_from_this();
  read_deadline_.expires_after(kAuthTimeout);
  boost::system::error_code ec;
  auto le = socket_.local_endpoint(ec);
  auto re = socket_.remote_endpoint(ec);
  local_ = "IPV4/TCP/" + le.address().to_string() + "/" + std::to_string(le.port());
  remote_ = "IPV4/TCP/" + re.address().to_string() + "/" + std::to_string(re.port());
  char sid[32];
  std::snprintf(sid, sizeof sid, "0x%llx", static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(this)));
  session_id_ = sid;
  session_tv_ = iso_timestamp();
  asio::co_spawn(socket_.get_executor(), watchdog(self, read_deadline_, socket_), asio::detached);
  asio::co_spawn(socket_.get_executor(), watchdog(self, write_deadline_, socket_), asio::detached);
  asio::co_spawn(socket_.get_executor(), writer(self), asio::detached);
  asio::co_spawn(socket_.get_executor(), reader(self), asio::detached);
  send(std::string(kBanner), false);
}

void session::send(std::string bytes, bool is_event) {
  if (!socket_.is_open() || close_after_flush_) return;
  if (is_event) {
    if (out_bytes_ + bytes.size() > kMaxQueuedBytes) {
      ++server_.ctx().stats.ami_events_dropped;
      return;
    }
    ++server_.ctx().stats.ami_events_sent;
  }
  out_bytes_ += bytes.size();
  out_.push_back(std::move(bytes));
  wake_.cancel_one();
}

asio::awaitable<void> session::writer(std::shared_ptr<session> self) {
  while (socket_.is_open()) {
    if (out_.empty()) {
      if (close_after_flush_) break;
      boost::system::error_code ec;
      wake_.expires_at(clock::time_point::max());
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    std::string batch;
    while (!out_.empty() && batch.size() < 256 * 1024) {
      batch += out_.front();
      out_bytes_ -= out_.front().size();
      out_.pop_front();
    }
    write_deadline_.expires_after(kWriteTimeout);
    boost::system::error_code ec;
    co_await asio::async_write(socket_, asio::buffer(batch), asio::redirect_error(asio::use_awaitable, ec));
    write_deadline_.expires_at(clock::time_point::max());
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) ++server_.ctx().stats.ami_disconnects_slow;
      break;
    }
  }
  close();
  read_deadline_.cancel();
  write_deadline_.cancel();
}

asio::awaitable<void> session::reader(std::shared_ptr<session> self) {
  std::string buffer;
  std::string block;          // lines of the message being read
  std::size_t header_count = 0;
  char chunk[4096];
  while (socket_.is_open()) {
    boost::system::error_code ec;
    std::size_t n = co_await socket_.async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    buffer.append(chunk, n);
    std::size_t pos = 0;
    while (true) {
      auto lf = buffer.find('\n', pos);
      if (lf == std::string::npos) break;
      std::string_view line(buffer.data() + pos, lf - pos);
      pos = lf + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.size() > kMaxLineBytes) continue;  // Asterisk discards overlong lines
      if (line.empty()) {
        if (!block.empty()) {
          handle(parse_block(block));
          if (close_after_flush_) break;
        }
        block.clear();
        header_count = 0;
        continue;
      }
      if (header_count++ >= kMaxHeaders) continue;
      block.append(line);
      block += "\r\n";
    }
    buffer.erase(0, pos);
    if (buffer.size() > kMaxLineBytes) buffer.clear();  // a line without end: discard like Asterisk
    if (close_after_flush_) break;
    read_deadline_.expires_after(logged_in_ ? kIdleTimeout : kAuthTimeout);
  }
  if (!close_after_flush_) close();
  read_deadline_.cancel();
  server_.remove(self);
}

std::string session::security_event(std::string_view name, std::string_view extra) const {
  return "Event: " + std::string(name) + "\r\nPrivilege: security,all\r\nEventTV: " + iso_timestamp() +
         "\r\nSeverity: " + (name == "SuccessfulAuth" ? "Informational" : "Error") +
         "\r\nService: AMI\r\nEventVersion: 1\r\n" + std::string(extra) + "\r\n";
}

void session::handle(const header_list& h) {
  auto& stats = server_.ctx().stats;
  auto& opt = server_.ctx().opt;
  const auto id = header(h, "ActionID");
  auto action = header(h, "Action");
  if (!action) {
    send(response("Error", id, "Message: Missing action in request\r\n"), false);
    return;
  }
  ++stats.ami_actions;
  const std::string& a = *action;
  if (iequals(a, "Challenge")) {
    if (!iequals(header(h, "AuthType").value_or(""), "md5")) {
      send(response("Error", id, "Message: Must specify AuthType\r\n"), false);
      return;
    }
    static std::mt19937 rng{std::random_device{}()};
    challenge_ = std::to_string(100000000 + rng() % 900000000);
    send(response("Success", id, "Challenge: " + challenge_ + "\r\n"), false);
    return;
  }
  if (iequals(a, "Login")) {
    auto user = header(h, "Username").value_or("");
    bool ok = false;
    if (iequals(header(h, "AuthType").value_or(""), "md5")) {
      ok = !challenge_.empty() && user == opt.ami_user && header(h, "Key").value_or("") == md5_hex(challenge_ + opt.ami_secret);
    } else {
      ok = user == opt.ami_user && header(h, "Secret").value_or("") == opt.ami_secret;
    }
    if (!ok) {
      ++stats.ami_login_failures;
      send(response("Error", id, "Message: Authentication failed\r\n"), false);
      close_after_flush_ = true;
      wake_.cancel_one();
      return;
    }
    ++stats.ami_logins;
    logged_in_ = true;
    account_ = user;
    auto events = header(h, "Events").value_or("on");
    events_on_ = !iequals(events, "off") && !iequals(events, "no") && events != "0";
    send(response("Success", id, "Message: Authentication accepted\r\n"), false);
    if (events_on_) {
      auto up = std::to_string(server_.uptime_s());
      send("Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: " + up + "\r\nLastReload: " + up +
               "\r\nStatus: Fully Booted\r\n\r\n", true);
      send(security_event("SuccessfulAuth", "AccountID: " + account_ + "\r\nSessionID: " + session_id_ +
                                                 "\r\nLocalAddress: " + local_ + "\r\nRemoteAddress: " + remote_ +
                                                 "\r\nUsingPassword: 0\r\nSessionTV: " + session_tv_ + "\r\n"),
           true);
    }
    return;
  }
  if (!logged_in_) {
    send(response("Error", id, "Message: Permission denied\r\n"), false);
    return;
  }
  if (iequals(a, "Ping")) {
    send(response("Success", id, "Ping: Pong\r\nTimestamp: " + epoch_timestamp() + "\r\n"), false);
  } else if (iequals(a, "Logoff")) {
    send(response("Goodbye", id, "Message: Thanks for all the fish.\r\n"), false);
    close_after_flush_ = true;
    wake_.cancel_one();
  } else if (iequals(a, "Events")) {
    auto mask = header(h, "EventMask").value_or("on");
    events_on_ = !iequals(mask, "off");
    send(response("Success", id, std::string("Events: ") + (events_on_ ? "On" : "Off") + "\r\n"), false);
  } else if (iequals(a, "AGI")) {
    const std::string* action_id = id ? &*id : nullptr;
    send(async_agi_action(header(h, "Channel").value_or(""), header(h, "Command").value_or(""),
                          header(h, "CommandID").value_or(""), action_id),
         false);
  } else if (iequals(a, "CoreSettings")) {
    send(response("Success", id, server_.core_settings_body()), false);
  } else if (iequals(a, "CoreStatus")) {
    send(response("Success", id,
                  "CoreStartupDate: 2026-11-23\r\nCoreStartupTime: 16:45:13\r\nCoreReloadDate: 2026-11-23\r\n"
                  "CoreReloadTime: 16:45:13\r\nCoreCurrentCalls: " + std::to_string(server_.channels().size()) +
                      "\r\nCoreProcessedCalls: " + std::to_string(stats.ami_events_sent) + "\r\n"),
         false);
  } else if (iequals(a, "ListCommands")) {
    send(response("Success", id, server_.list_commands_body()), false);
  } else if (iequals(a, "Command")) {
    auto cmd = header(h, "Command").value_or("");
    std::string out;
    bool ok = true;
    if (cmd == "core show version") {
      out = server_.core_show_version();
    } else if (cmd == "core show uptime") {
      auto up = std::to_string(server_.uptime_s());
      out = "Output: System uptime: " + up + " seconds\r\nOutput: Last reload: " + up + " seconds\r\n";
    } else if (cmd == "core show channels") {
      auto n = std::to_string(server_.channels().size());
      out = "Output: Channel              Location             State   Application(Data)             \r\n";
      for (const auto& [name, c] : server_.channels()) {
        char line[256];
        std::snprintf(line, sizeof line, "Output: %-20.20s %-20.20s %-7.7s %s(%s)\r\n", name.c_str(),
                      (field(c, "Exten") + "@" + field(c, "Context") + ":" + field(c, "Priority")).c_str(),
                      field(c, "ChannelStateDesc").c_str(), c.application.c_str(), c.app_data.c_str());
        out += line;
      }
      out += "Output: " + n + " active channels\r\nOutput: " + n + " active calls\r\n";
    } else {
      ok = false;
      std::string best;
      std::size_t words = 0, p = 0;
      while (p < cmd.size() && words < 2) {
        auto sp = cmd.find(' ', p);
        if (!best.empty()) best += ' ';
        best += cmd.substr(p, sp == std::string::npos ? std::string::npos : sp - p);
        ++words;
        p = sp == std::string::npos ? cmd.size() : sp + 1;
      }
      out = "Output: No such command '" + cmd + "' (type 'core show help " + best + "' for other possible commands)\r\n";
    }
    send(response(ok ? "Success" : "Error", id, "Message: Command output follows\r\n" + out), false);
  } else if (iequals(a, "CoreShowChannels")) {
    std::string idline = id ? "ActionID: " + *id + "\r\n" : "";
    std::string out = response("Success", id, "EventList: start\r\nMessage: Channels will follow\r\n");
    auto now = clock::now();
    for (const auto& [name, c] : server_.channels()) {
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - c.created).count();
      char dur[64];
      std::snprintf(dur, sizeof dur, "%02lld:%02lld:%02lld", static_cast<long long>(secs / 3600),
                    static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
      out += "Event: CoreShowChannel\r\n" + idline + channel_block(c) + "Application: " + c.application +
             "\r\nApplicationData: " + c.app_data + "\r\nDuration: " + dur + "\r\nBridgeId: \r\n\r\n";
    }
    out += "Event: CoreShowChannelsComplete\r\n" + idline + "EventList: Complete\r\nListItems: " +
           std::to_string(server_.channels().size()) + "\r\n\r\n";
    send(std::move(out), false);
  } else if (iequals(a, "Status")) {
    std::string idline = id ? "ActionID: " + *id + "\r\n" : "";
    auto only = header(h, "Channel");
    std::string items;
    std::size_t count = 0;
    auto now = clock::now();
    for (const auto& [name, c] : server_.channels()) {
      if (only && !only->empty() && *only != name) continue;
      ++count;
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - c.created).count();
      auto tech = name.substr(0, name.find('/'));
      items += "Event: Status\r\nPrivilege: Call\r\n" + channel_block(c) + "Type: " + tech +
               "\r\nDNID: \r\nEffectiveConnectedLineNum: " + field(c, "ConnectedLineNum") +
               "\r\nEffectiveConnectedLineName: " + field(c, "ConnectedLineName") +
               "\r\nTimeToHangup: 0\r\nBridgeID: \r\nApplication: " + c.application + "\r\nData: " + c.app_data +
               "\r\nNativeformats: (slin)\r\nReadformat: slin\r\nReadtrans: \r\nWriteformat: slin\r\nWritetrans: \r\n"
               "Callgroup: 0\r\nPickupgroup: 0\r\nSeconds: " + std::to_string(secs) + "\r\n" + idline + "\r\n";
    }
    if (only && !only->empty() && count == 0) {
      send(response("Error", id, "Message: No such channel\r\n"), false);
      return;
    }
    send(response("Success", id, "EventList: start\r\nMessage: Channel status will follow\r\n") + items +
             "Event: StatusComplete\r\n" + idline + "EventList: Complete\r\nListItems: " + std::to_string(count) +
             "\r\nItems: " + std::to_string(count) + "\r\n\r\n",
         false);
  } else if (iequals(a, "Originate")) {
    if (!header(h, "Channel")) {
      send(response("Error", id, "Message: Channel not specified\r\n"), false);
      return;
    }
    send(response("Success", id, "Message: Originate successfully queued\r\n"), false);
    server_.originate(h, id);
  } else if (iequals(a, "Setvar") || iequals(a, "Getvar")) {
    auto var = header(h, "Variable");
    if (!var || var->empty()) {
      send(response("Error", id, "Message: No variable specified\r\n"), false);
      return;
    }
    auto chan = header(h, "Channel");
    std::map<std::string, std::string>* vars = &server_.global_vars();
    channel_info* ci = nullptr;
    if (chan && !chan->empty()) {
      auto it = server_.channels().find(*chan);
      if (it == server_.channels().end()) {
        send(response("Error", id, "Message: No such channel\r\n"), false);
        return;
      }
      ci = &it->second;
      vars = &it->second.vars;
    }
    if (iequals(a, "Setvar")) {
      auto value = header(h, "Value").value_or("");
      (*vars)[*var] = value;
      send(response("Success", id, "Message: Variable Set\r\n"), false);
      if (ci) server_.emit(server_.event_from_channel("VarSet", *ci, "Variable: " + *var + "\r\nValue: " + value + "\r\n", "dialplan,all"));
    } else {
      auto it = vars->find(*var);
      std::string value = it == vars->end() ? "" : it->second;
      if (ci && *var == "CALLERID(num)") value = field(*ci, "CallerIDNum");
      send(response("Success", id, "Variable: " + *var + "\r\nValue: " + value + "\r\n"), false);
    }
  } else if (iequals(a, "Hangup")) {
    auto chan = header(h, "Channel").value_or("");
    int cause = std::atoi(header(h, "Cause").value_or("16").c_str());
    if (chan.size() >= 2 && chan.front() == '/' && chan.back() == '/') {
      std::string idline = id ? "ActionID: " + *id + "\r\n" : "";
      std::regex re;
      try {
        re = std::regex(chan.substr(1, chan.size() - 2), std::regex::extended);
      } catch (const std::regex_error&) {
        send(response("Error", id, "Message: Invalid regex\r\n"), false);
        return;
      }
      std::vector<std::string> hit;
      for (const auto& [name, c] : server_.channels())
        if (std::regex_search(name, re)) hit.push_back(name);
      std::string out = response("Success", id, "EventList: start\r\nMessage: Channels hung up will follow\r\n");
      for (const auto& n : hit) out += "Event: ChannelHungup\r\nChannel: " + n + "\r\n" + idline + "\r\n";
      out += "Event: ChannelsHungupListComplete\r\n" + idline + "EventList: Complete\r\nListItems: " + std::to_string(hit.size()) + "\r\n\r\n";
      send(std::move(out), false);
      for (const auto& n : hit) server_.hangup_channel(n, cause);
      return;
    }
    if (!server_.channels().count(chan)) {
      send(response("Error", id, "Message: No such channel\r\n"), false);
      return;
    }
    send(response("Success", id, "Message: Channel Hungup\r\n"), false);
    server_.hangup_channel(chan, cause);
  } else if (iequals(a, "DBPut")) {
    server_.db()[header(h, "Family").value_or("") + "/" + header(h, "Key").value_or("")] = header(h, "Val").value_or("");
    send(response("Success", id, "Message: Updated database successfully\r\n"), false);
  } else if (iequals(a, "DBGet")) {
    auto family = header(h, "Family").value_or(""), key = header(h, "Key").value_or("");
    auto it = server_.db().find(family + "/" + key);
    if (it == server_.db().end()) {
      send(response("Error", id, "Message: Database entry not found\r\n"), false);
      return;
    }
    std::string idline = id ? "ActionID: " + *id + "\r\n" : "";
    send(response("Success", id, "EventList: start\r\nMessage: Result will follow\r\n") + "Event: DBGetResponse\r\nFamily: " +
             family + "\r\nKey: " + key + "\r\nVal: " + it->second + "\r\n" + idline + "\r\nEvent: DBGetComplete\r\n" + idline +
             "EventList: Complete\r\nListItems: 1\r\n\r\n",
         false);
  } else {
    send(response("Error", id, "Message: Invalid/unknown command: " + a + ". Use Action: ListCommands to show available commands.\r\n"), false);
    if (events_on_)
      send(security_event("RequestBadFormat", "SessionID: " + session_id_ + "\r\nLocalAddress: " + local_ +
                                                  "\r\nRemoteAddress: " + remote_ + "\r\nRequestType: Action: " + a +
                                                  "\r\nSessionTV: " + session_tv_ + "\r\nAccountID: " + account_ + "\r\n"),
           true);
  }
}

std::unique_ptr<ami_server> g_ami;

}  // namespace

void destroy_ami_server() {
  destroy_async_agi();
  g_ami.reset();
}

bool start_ami_server(context& ctx) {
  g_ami = std::make_unique<ami_server>(ctx);
  if (!g_ami->listen()) return false;
  if (ctx.opt.async_agi_cps > 0)
    start_async_agi(
        ctx, [](const std::string& event) {
          if (g_ami) g_ami->emit(event);
        },
        [] { return g_ami && g_ami->listeners() > 0; });
  return true;
}

}  // namespace astra::sim
