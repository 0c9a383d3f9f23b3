#pragma once
// Incremental, sans-IO AMI parser: bytes in (any split), whole messages out.
// Not thread-safe: one parser per connection, used by the thread that reads the socket.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/ami/errors.hpp"
#include "protocols/ami/message.hpp"
#include "protocols/common/result.hpp"

namespace astra::ami {

// All limits must stay below 4 GiB (offsets inside a message are 32-bit).
struct parser_limits {
  std::size_t line_bytes = max_line_bytes;          // per line, terminator excluded
  std::size_t headers = max_headers_per_message;    // per message
  std::size_t message_bytes = max_message_bytes;    // per message, terminators included
  std::size_t buffered_bytes = max_buffered_bytes;  // bytes held by the parser at any time
};

// Stream grammar: an optional banner line (the first line of the stream when it has no ':'),
// then messages made of "Key: Value" lines ended by an empty line. Lines end in LF or CRLF.
// Blank lines between messages are ignored. The value starts after ':' and any spaces/tabs.
// Kind: Event: present => event (even with Response:, e.g. OriginateResponse); else
// Response: => response; else Action: => action (client->server bytes, fake servers).
// Not supported: pre-Asterisk-14 "Response: Follows" raw command output (malformed_line).
// Error handling: when a limit is exceeded or a line is malformed, next() returns that
// error once, then discards input up to and including the next blank line (without
// buffering it) and resumes with the following message. Memory never exceeds
// limits.buffered_bytes of input plus the message under construction.
class parser {
 public:
  explicit parser(parser_limits limits = {});

  // Copies up to limits.buffered_bytes - buffered() bytes; returns the number accepted.
  // Fewer than bytes.size() only when the buffer is full: drain with next(), feed the rest.
  std::size_t feed(std::string_view bytes);

  // A whole message, or a specific error (ami_errc), or nullopt when more bytes are needed.
  std::optional<astra::result<message>> next();

  // The peer closed the stream. Call until nullopt: returns any complete message still
  // buffered, then ami_errc::truncated once if a partial message was pending.
  std::optional<astra::result<message>> finish();

  // After finish(), feed() accepts nothing until reset().
  // Back to the start-of-stream state (new connection): buffered bytes are dropped.
  void reset();

  bool banner_seen() const noexcept { return banner_seen_; }
  std::size_t buffered() const noexcept { return buffer_.size() - head_; }
  const parser_limits& limits() const noexcept { return limits_; }

 private:
  enum class mode { message, skip };  // skip: discarding input up to and including a blank line
  astra::result<message> fail(ami_errc code, std::string detail, bool skip_to_blank_line);
  astra::result<message> complete_message();
  void clear_message_state() noexcept;

  parser_limits limits_;
  std::string buffer_;       // input bytes; [head_, size) not yet consumed
  std::size_t head_ = 0;     // start of the message under construction (or of unread bytes)
  std::size_t scan_ = 0;     // next unparsed line start (>= head_)
  std::vector<message::field> fields_;  // headers of the message under construction (relative to head_)
  int action_id_index_ = -1;
  int event_index_ = -1;
  int response_index_ = -1;
  int action_index_ = -1;
  mode mode_ = mode::message;
  bool skip_line_dirty_ = false;  // skip mode: bytes of the current (non-blank) line were already dropped
  bool at_stream_start_ = true;
  bool banner_seen_ = false;
  bool closed_ = false;
};

}  // namespace astra::ami
