#include "protocols/ami/action.hpp"

#include <algorithm>

#include "protocols/ami/message.hpp"

namespace astra::ami {

action::action(std::string name) : name_(std::move(name)) {}

action& action::set(std::string key, std::string value) {
  auto first = std::find_if(headers_.begin(), headers_.end(), [&](const header& h) { return iequals(h.first, key); });
  if (first == headers_.end()) {
    headers_.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  first->second = std::move(value);
  const std::string& kept = first->first;
  headers_.erase(std::remove_if(first + 1, headers_.end(), [&](const header& h) { return iequals(h.first, kept); }),
                 headers_.end());
  return *this;
}

action& action::add(std::string key, std::string value) {
  headers_.emplace_back(std::move(key), std::move(value));
  return *this;
}

action& action::erase(std::string_view key) {
  headers_.erase(std::remove_if(headers_.begin(), headers_.end(), [&](const header& h) { return iequals(h.first, key); }),
                 headers_.end());
  return *this;
}

std::optional<std::string_view> action::get(std::string_view key) const noexcept {
  for (const auto& h : headers_)
    if (iequals(h.first, key)) return std::string_view(h.second);
  return std::nullopt;
}

std::vector<std::string_view> action::get_all(std::string_view key) const {
  std::vector<std::string_view> out;
  for (const auto& h : headers_)
    if (iequals(h.first, key)) out.emplace_back(h.second);
  return out;
}

namespace {

bool has_line_break(std::string_view s) noexcept { return s.find_first_of("\r\n") != std::string_view::npos; }

// Returns an empty string when the header is acceptable, otherwise the reason.
std::string check_header(std::string_view key, std::string_view value) {
  if (key.empty()) return "empty header key";
  if (has_line_break(key)) return "CR or LF in header key '" + std::string(key.substr(0, 64)) + "'";
  if (key.find(':') != std::string_view::npos) return "':' in header key '" + std::string(key.substr(0, 64)) + "'";
  if (has_line_break(value)) return "CR or LF in the value of header '" + std::string(key) + "'";
  return {};
}

}  // namespace

astra::result<std::string> serialize(const action& a, std::string_view action_id) {
  if (a.name().empty()) return {make_error_code(ami_errc::header_injection), "empty action name"};
  if (std::string why = check_header("Action", a.name()); !why.empty())
    return {make_error_code(ami_errc::header_injection), "CR or LF in the action name"};
  if (std::string why = check_header("ActionID", action_id); !why.empty())
    return {make_error_code(ami_errc::header_injection), std::move(why)};
  // Asterisk's read limits (message.hpp): every line with its CR LF within
  // asterisk_max_action_line_bytes, at most asterisk_max_action_headers lines.
  auto line_too_long = [](std::string_view key, std::size_t value_size) -> std::string {
    const std::size_t line = key.size() + 2 + value_size + 2;
    if (line <= asterisk_max_action_line_bytes) return {};
    return "header '" + std::string(key.substr(0, 64)) + "' makes a " + std::to_string(line) +
           "-byte line; Asterisk reads at most " + std::to_string(asterisk_max_action_line_bytes) +
           " bytes per line (CR LF included)";
  };
  if (std::string why = line_too_long("Action", a.name().size()); !why.empty())
    return {make_error_code(ami_errc::action_too_large), std::move(why)};
  if (std::string why = line_too_long("ActionID", action_id.size()); !action_id.empty() && !why.empty())
    return {make_error_code(ami_errc::action_too_large), std::move(why)};
  std::size_t total = 8 + a.name().size() + 2 + (action_id.empty() ? 0 : 10 + action_id.size() + 2) + 2;
  std::size_t lines = 1 + (action_id.empty() ? 0 : 1);
  for (const auto& [k, v] : a.headers()) {
    if (std::string why = check_header(k, v); !why.empty())
      return {make_error_code(ami_errc::header_injection), std::move(why)};
    if (std::string why = line_too_long(k, v.size()); !why.empty())
      return {make_error_code(ami_errc::action_too_large), std::move(why)};
    if (!action_id.empty() && iequals(k, "ActionID")) continue;
    total += k.size() + v.size() + 4;
    ++lines;
  }
  if (lines > asterisk_max_action_headers)
    return {make_error_code(ami_errc::action_too_large),
            std::to_string(lines) + " header lines; Asterisk reads at most " +
                std::to_string(asterisk_max_action_headers) + " per action and silently drops the rest"};
  std::string out;
  out.reserve(total);
  out += "Action: ";
  out += a.name();
  out += "\r\n";
  if (!action_id.empty()) {
    out += "ActionID: ";
    out += action_id;
    out += "\r\n";
  }
  for (const auto& [k, v] : a.headers()) {
    if (!action_id.empty() && iequals(k, "ActionID")) continue;
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

namespace actions {

action login(std::string user, std::string secret, std::string events_mask) {
  action a("Login");
  a.add("Username", std::move(user)).add("Secret", std::move(secret));
  if (!events_mask.empty()) a.add("Events", std::move(events_mask));
  return a;
}

action challenge(std::string auth_type) {
  action a("Challenge");
  a.add("AuthType", std::move(auth_type));
  return a;
}

action login_md5(std::string user, std::string key_hex, std::string events_mask) {
  action a("Login");
  a.add("AuthType", "md5").add("Username", std::move(user)).add("Key", std::move(key_hex));
  if (!events_mask.empty()) a.add("Events", std::move(events_mask));
  return a;
}

action logoff() { return action("Logoff"); }
action ping() { return action("Ping"); }

action events(std::string mask) {
  action a("Events");
  a.add("EventMask", std::move(mask));
  return a;
}

action filter(std::string operation, std::string filter_expression) {
  action a("Filter");
  a.add("Operation", std::move(operation)).add("Filter", std::move(filter_expression));
  return a;
}

action command(std::string cli) {
  action a("Command");
  a.add("Command", std::move(cli));
  return a;
}

action originate(const originate_params& p) {
  action a("Originate");
  a.add("Channel", p.channel);
  if (!p.context.empty()) a.add("Context", p.context);
  if (!p.exten.empty()) a.add("Exten", p.exten);
  if (p.priority) a.add("Priority", std::to_string(*p.priority));
  if (!p.application.empty()) a.add("Application", p.application);
  if (!p.data.empty()) a.add("Data", p.data);
  if (p.timeout_ms) a.add("Timeout", std::to_string(*p.timeout_ms));
  if (p.async) a.add("Async", "true");
  if (!p.caller_id.empty()) a.add("CallerID", p.caller_id);
  for (const auto& [name, value] : p.variables) a.add("Variable", name + "=" + value);
  if (!p.account.empty()) a.add("Account", p.account);
  if (!p.codecs.empty()) a.add("Codecs", p.codecs);
  if (!p.early_media.empty()) a.add("EarlyMedia", p.early_media);
  if (!p.channel_id.empty()) a.add("ChannelId", p.channel_id);
  if (!p.other_channel_id.empty()) a.add("OtherChannelId", p.other_channel_id);
  return a;
}

action hangup(std::string channel, std::optional<int> cause) {
  action a("Hangup");
  a.add("Channel", std::move(channel));
  if (cause) a.add("Cause", std::to_string(*cause));
  return a;
}

action redirect(std::string channel, std::string context, std::string exten, int priority, std::string extra_channel) {
  action a("Redirect");
  a.add("Channel", std::move(channel));
  if (!extra_channel.empty()) a.add("ExtraChannel", std::move(extra_channel));
  a.add("Exten", std::move(exten)).add("Context", std::move(context)).add("Priority", std::to_string(priority));
  return a;
}

action setvar(std::string channel, std::string variable, std::string value) {
  action a("Setvar");
  if (!channel.empty()) a.add("Channel", std::move(channel));
  a.add("Variable", std::move(variable)).add("Value", std::move(value));
  return a;
}

action getvar(std::string channel, std::string variable) {
  action a("Getvar");
  if (!channel.empty()) a.add("Channel", std::move(channel));
  a.add("Variable", std::move(variable));
  return a;
}

action status(std::string channel) {
  action a("Status");
  if (!channel.empty()) a.add("Channel", std::move(channel));
  return a;
}

action core_show_channels() { return action("CoreShowChannels"); }

action queue_status(std::string queue) {
  action a("QueueStatus");
  if (!queue.empty()) a.add("Queue", std::move(queue));
  return a;
}

action db_get(std::string family, std::string key) {
  action a("DBGet");
  a.add("Family", std::move(family)).add("Key", std::move(key));
  return a;
}

action db_put(std::string family, std::string key, std::string value) {
  action a("DBPut");
  a.add("Family", std::move(family)).add("Key", std::move(key)).add("Val", std::move(value));
  return a;
}

action db_del(std::string family, std::string key) {
  action a("DBDel");
  a.add("Family", std::move(family)).add("Key", std::move(key));
  return a;
}

action custom(std::string name, std::vector<std::pair<std::string, std::string>> headers) {
  action a(std::move(name));
  for (auto& [k, v] : headers) a.add(std::move(k), std::move(v));
  return a;
}

}  // namespace actions
}  // namespace astra::ami
