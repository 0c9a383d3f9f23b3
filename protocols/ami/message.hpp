#pragma once
// One parsed AMI message: the message text in a single buffer plus the offsets of each
// header in wire order (repeated keys kept). Immutable after construction; share it as
// message_ptr (std::shared_ptr<const message>) across threads/actors without copying.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace astra::ami {

// Limits Asterisk imposes on what it READS, i.e. on the actions astra SENDS (manager.c:
// get_input() keeps a 1,024-byte line buffer, CR LF included; do_message() keeps at most
// AST_MAX_MANHEADERS = 128 header lines, Action: and ActionID: included, and silently drops
// the rest). The action serializer refuses anything beyond them before a byte is written.
inline constexpr std::size_t asterisk_max_action_line_bytes = 1024;  // per line, CR LF included
inline constexpr std::size_t asterisk_max_action_headers = 128;      // header lines per action

// Default limits on what astra READS from Asterisk. Asterisk WRITES far beyond its own read
// limits: Command answers of thousands of Output: lines (core show help: 219 lines, 16.9 KB;
// dialplan show, core show channels on a busy system), VarSet/Newexten lines as long as the
// variable's value, events with hundreds of ChanVariable headers. Configurable per session
// (parser_limits); the parser's memory stays below read_buffered_bytes plus the message
// under construction's header index (16 bytes per header).
inline constexpr std::size_t default_read_line_bytes = 64 * 1024;            // per line, terminator excluded
inline constexpr std::size_t default_read_headers = 65536;                   // headers per message
inline constexpr std::size_t default_read_message_bytes = 16 * 1024 * 1024;  // per message, terminators included
// Parser input buffer: one whole message plus one socket read of the next.
inline constexpr std::size_t default_read_buffered_bytes = default_read_message_bytes + 64 * 1024;

enum class message_kind {
  banner,    // first line of the stream, e.g. "Asterisk Call Manager/11.0.0"
  response,  // has Response: and no Event:
  event,     // has Event: (wins over Response:, e.g. OriginateResponse)
  action,    // addition: has Action: and neither Event: nor Response: (client->server direction)
};

const char* to_string(message_kind) noexcept;

// Case-insensitive ASCII equality (AMI keys are case-insensitive).
bool iequals(std::string_view a, std::string_view b) noexcept;

class message {
 public:
  // Offsets of one header inside text(); key and value exclude ": " and the line terminator.
  struct field {
    std::uint32_t key_offset;
    std::uint32_t key_length;
    std::uint32_t value_offset;
    std::uint32_t value_length;
  };

  message() = default;
  // Used by the parser: `text` is the raw message, `fields` index into it.
  message(message_kind kind, std::string text, std::vector<field> fields, int name_index, int action_id_index);

  message_kind kind() const noexcept { return kind_; }
  // Event: value for events, Response: value for responses, Action: value for actions,
  // the banner text for the banner.
  std::string_view name() const noexcept;
  std::string_view action_id() const noexcept;  // "" if none
  std::optional<std::string_view> get(std::string_view key) const noexcept;  // first value, case-insensitive key
  std::vector<std::string_view> get_all(std::string_view key) const;         // all values in wire order
  bool has(std::string_view key) const noexcept { return get(key).has_value(); }
  std::size_t size() const noexcept { return fields_.size(); }                // number of headers
  std::string_view key(std::size_t i) const noexcept;    // i < size(), wire order, repeats kept
  std::string_view value(std::size_t i) const noexcept;  // i < size()
  std::string_view raw() const noexcept { return text_; }  // the message text as received (or built)

  // Builds a message from headers (tests, simulators). For message_kind::banner the banner
  // text is headers[0].first (the message then has no headers). raw() is "K: V\r\n"... "\r\n".
  static message make(message_kind kind, std::vector<std::pair<std::string, std::string>> headers);

 private:
  std::string text_;
  std::vector<field> fields_;
  message_kind kind_ = message_kind::event;
  int name_index_ = -1;       // index into fields_, -1: none (banner: whole text_ minus terminator)
  int action_id_index_ = -1;  // index into fields_, -1: none
};

using message_ptr = std::shared_ptr<const message>;

}  // namespace astra::ami
