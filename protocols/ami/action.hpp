#pragma once
// AMI actions to send (client -> Asterisk): a name plus headers in order, repeats allowed.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/ami/errors.hpp"
#include "protocols/common/result.hpp"

namespace astra::ami {

class action {
 public:
  using header = std::pair<std::string, std::string>;

  explicit action(std::string name);
  action& set(std::string key, std::string value);  // replaces every header with this key (case-insensitive)
  action& add(std::string key, std::string value);  // appends (repeated Variable:)
  action& erase(std::string_view key);              // removes every header with this key

  const std::string& name() const noexcept { return name_; }
  const std::vector<header>& headers() const noexcept { return headers_; }
  std::optional<std::string_view> get(std::string_view key) const noexcept;  // first value, case-insensitive
  std::vector<std::string_view> get_all(std::string_view key) const;

 private:
  std::string name_;
  std::vector<header> headers_;
};

// "Action: X\r\nActionID: id\r\nK: V\r\n...\r\n". A non-empty action_id is injected right after
// Action: and any ActionID header of the action itself is then left out; with an empty
// action_id the action's own headers (ActionID included) are written as they are, in order.
// CR or LF in the name, a key or a value, an empty key/name or ':' in a key
// => ami_errc::header_injection with a detail naming the key.
astra::result<std::string> serialize(const action& a, std::string_view action_id);

// Lowercase hex MD5(challenge + secret), the Key of an MD5 challenge Login (own RFC 1321 code).
std::string md5_key(std::string_view challenge, std::string_view secret);
// Lowercase hex MD5 of arbitrary bytes.
std::string md5_hex(std::string_view bytes);

namespace actions {

struct originate_params {
  std::string channel;                 // required, e.g. "PJSIP/100" or "Local/100@default"
  // either dialplan target ...
  std::string context;
  std::string exten;
  std::optional<int> priority;
  // ... or application
  std::string application;
  std::string data;
  std::string channel_id;              // ChannelId: UniqueId of the new channel ("" = Asterisk picks)
  std::string other_channel_id;        // OtherChannelId: of the ;2 side of a Local channel
  std::optional<std::uint32_t> timeout_ms;  // Timeout: ms to wait for answer
  std::string caller_id;
  std::vector<std::pair<std::string, std::string>> variables;  // one Variable: name=value each
  bool async = true;                   // Async: true => OriginateResponse event later
  std::string account;
  std::string codecs;
  std::string early_media;             // EarlyMedia: "true"/"false"; "" = not sent
};

// Header order of every builder follows what Asterisk's own docs list and what the
// recorded sessions sent. events_mask "" = no Events: header (Asterisk default: on).
action login(std::string user, std::string secret, std::string events_mask = {});
action challenge(std::string auth_type = "MD5");
action login_md5(std::string user, std::string key_hex, std::string events_mask = {});  // AuthType: md5
action logoff();
action ping();
action events(std::string mask);                    // "on", "off", "call,system", ...
action filter(std::string operation, std::string filter);  // operation "Add"
action command(std::string cli);
action originate(const originate_params& p);
action hangup(std::string channel, std::optional<int> cause = std::nullopt);
action redirect(std::string channel, std::string context, std::string exten, int priority,
                std::string extra_channel = {});
action setvar(std::string channel, std::string variable, std::string value);  // channel "" = global
action getvar(std::string channel, std::string variable);                     // channel "" = global
action status(std::string channel = {});
action core_show_channels();
action queue_status(std::string queue = {});
action db_get(std::string family, std::string key);
action db_put(std::string family, std::string key, std::string value);
action db_del(std::string family, std::string key);
action custom(std::string name, std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace actions
}  // namespace astra::ami
