#pragma once
// Incremental, sans-IO AMI parser: bytes in (any split), whole messages out.
// Not thread-safe: one parser per connection, used by the thread that reads the socket.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/ami/errors.hpp"
#include "protocols/ami/message.hpp"
#include "protocols/common/result.hpp"

namespace astra::ami {

// Limits on what the parser accepts (what Asterisk writes). All must stay below 4 GiB
// (offsets inside a message are 32-bit). Defaults: message.hpp default_read_*.
struct parser_limits {
  std::size_t line_bytes = default_read_line_bytes;          // per line, terminator excluded
  std::size_t headers = default_read_headers;                // per message
  std::size_t message_bytes = default_read_message_bytes;    // per message, terminators included
  std::size_t buffered_bytes = default_read_buffered_bytes;  // bytes held by the parser at any time
};

// What the parser knows of a message it refused for a limit (line_too_long,
// too_many_headers, message_too_large, buffer_full): enough for the session to fail the
// request it answers (action_id) or to tell subscribers which event was lost (name).
struct oversized_message {
  ami_errc limit = ami_errc::message_too_large;  // the limit that was hit first
  std::size_t limit_value = 0;                    // that limit's value (bytes or headers)
  message_kind kind = message_kind::event;        // event if Event: was seen, response if only Response:
  bool kind_known = false;                        // neither Event: nor Response: seen
  std::string name;                               // Event:/Response: value ("" if not seen), <= 256 bytes
  std::string action_id;                          // ActionID: value ("" if not seen), <= 256 bytes
  std::uint64_t bytes = 0;                        // the whole message on the wire, terminators included
  bool truncated = false;                         // the stream closed before the message's end
};

// Stream grammar: an optional banner line (the first line of the stream when it has no ':'),
// then messages made of "Key: Value" lines ended by an empty line. Lines end in LF or CRLF.
// Blank lines between messages are ignored. The value starts after ':' and any spaces/tabs.
// Kind: Event: present => event (even with Response:, e.g. OriginateResponse); else
// Response: => response; else Action: => action (client->server bytes, fake servers).
// Not supported: pre-Asterisk-14 "Response: Follows" raw command output (malformed_line).
// Error handling: a malformed line makes next() return malformed_line at once, then the
// parser discards input up to and including the next blank line and resumes with the
// following message. A message over a limit is discarded the same way (never buffered
// past the limit), its Event:/Response:/ActionID: values and total size noted on the way,
// and next() returns the limit's error (line_too_long, too_many_headers, message_too_large,
// buffer_full) when the discarded message ENDS, or finish() when the stream closes first;
// last_oversized() then describes it. Memory never exceeds limits.buffered_bytes of input
// plus the header index of the message under construction (16 bytes per header).
// "event VarSet (ActionID x) of 2051 bytes: a line over the 1024-byte line limit"
std::string describe(const oversized_message& o);

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
  // The message behind the last limit error returned by next()/finish().
  const oversized_message& last_oversized() const noexcept { return oversized_; }
  std::size_t buffered() const noexcept { return buffer_.size() - head_; }
  const parser_limits& limits() const noexcept { return limits_; }

 private:
  enum class mode { message, skip };  // skip: discarding input up to and including a blank line
  astra::result<message> fail(ami_errc code, std::string detail, bool skip_to_blank_line);
  astra::result<message> complete_message();
  // Starts discarding a message over `limit`; its error is returned when it ends.
  void begin_oversized(ami_errc limit, std::size_t limit_value, std::size_t line_end);
  void note_skipped_line(const char* line, std::size_t length);
  astra::result<message> end_oversized(bool truncated);
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
  bool skipping_oversized_ = false;  // skip mode is discarding an oversized message (error pending)
  oversized_message oversized_;
  bool at_stream_start_ = true;
  bool banner_seen_ = false;
  bool closed_ = false;
};

}  // namespace astra::ami
