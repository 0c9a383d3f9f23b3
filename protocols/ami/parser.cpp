#include "protocols/ami/parser.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

namespace astra::ami {

namespace {

inline char lower(char c) noexcept { return static_cast<char>(c | 0x20); }

// Keys the parser indexes while scanning, compared without building lowered copies.
// `lowercase` must hold lowercase ASCII letters only: then c | 0x20 equals such a letter
// exactly when c is that letter in either case, so the comparison is exact.
inline bool key_is(const char* key, std::size_t length, std::string_view lowercase) noexcept {
  if (length != lowercase.size()) return false;
  for (std::size_t i = 0; i < length; ++i)
    if (lower(key[i]) != lowercase[i]) return false;
  return true;
}

// First ':' in [line, line + length) or nullptr. Keys are short (~10 bytes), so a memchr call
// costs more than this word-at-a-time scan (8 bytes per step, little-endian SWAR zero-byte test;
// only bytes inside the range are read).
inline const char* find_colon(const char* line, std::size_t length) noexcept {
  std::size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    constexpr std::uint64_t ones = 0x0101010101010101ull;
    constexpr std::uint64_t highs = 0x8080808080808080ull;
    constexpr std::uint64_t colons = ones * static_cast<unsigned char>(':');
    for (; i + 8 <= length; i += 8) {
      std::uint64_t word;
      std::memcpy(&word, line + i, 8);
      const std::uint64_t x = word ^ colons;  // zero byte where ':' was
      const std::uint64_t found = (x - ones) & ~x & highs;  // lowest set bit marks the first zero byte exactly
      if (found) return line + i + static_cast<std::size_t>(std::countr_zero(found)) / 8;
    }
  }
  for (; i < length; ++i)
    if (line[i] == ':') return line + i;
  return nullptr;
}

}  // namespace

parser::parser(parser_limits limits) : limits_(limits) {}

void parser::reset() {
  buffer_.clear();
  head_ = scan_ = 0;
  clear_message_state();
  mode_ = mode::message;
  skip_line_dirty_ = false;
  skipping_oversized_ = false;
  at_stream_start_ = true;
  banner_seen_ = false;
  closed_ = false;
}

void parser::clear_message_state() noexcept {
  fields_.clear();
  action_id_index_ = event_index_ = response_index_ = action_index_ = -1;
}

std::size_t parser::feed(std::string_view bytes) {
  if (closed_) return 0;
  if (head_ == buffer_.size()) {
    buffer_.clear();
    scan_ = head_ = 0;
  } else if (head_ > 0) {
    buffer_.erase(0, head_);
    scan_ -= head_;
    head_ = 0;
  }
  const std::size_t room = limits_.buffered_bytes > buffer_.size() ? limits_.buffered_bytes - buffer_.size() : 0;
  const std::size_t take = bytes.size() < room ? bytes.size() : room;
  buffer_.append(bytes.data(), take);
  return take;
}

astra::result<message> parser::fail(ami_errc code, std::string detail, bool skip_to_blank_line) {
  clear_message_state();
  // Everything before scan_ belongs to the failed message and is dropped.
  head_ = scan_;
  if (skip_to_blank_line) {
    mode_ = mode::skip;
    skip_line_dirty_ = false;
  }
  return astra::result<message>(make_error_code(code), std::move(detail));
}

namespace {
constexpr std::size_t max_noted_value_bytes = 256;  // Event/Response/ActionID kept of an oversized message
constexpr std::size_t max_kept_skipped_line_bytes = 512;  // partial line of an oversized message kept to note it

std::string_view field_value(const std::string& buffer, std::size_t head, const message::field& f) {
  return std::string_view(buffer.data() + head + f.value_offset, f.value_length);
}
std::string noted(std::string_view v) { return std::string(v.substr(0, max_noted_value_bytes)); }
}  // namespace

void parser::begin_oversized(ami_errc limit, std::size_t limit_value, std::size_t line_end) {
  oversized_ = {};
  oversized_.limit = limit;
  oversized_.limit_value = limit_value;
  if (event_index_ >= 0) {
    oversized_.kind = message_kind::event;
    oversized_.kind_known = true;
    oversized_.name = noted(field_value(buffer_, head_, fields_[static_cast<std::size_t>(event_index_)]));
  } else if (response_index_ >= 0) {
    oversized_.kind = message_kind::response;
    oversized_.kind_known = true;
    oversized_.name = noted(field_value(buffer_, head_, fields_[static_cast<std::size_t>(response_index_)]));
  }
  if (action_id_index_ >= 0)
    oversized_.action_id = noted(field_value(buffer_, head_, fields_[static_cast<std::size_t>(action_id_index_)]));
  oversized_.bytes = line_end - head_;
  clear_message_state();
  head_ = scan_ = line_end;
  mode_ = mode::skip;
  skip_line_dirty_ = false;
  skipping_oversized_ = true;
}

// A whole line of a discarded oversized message whose start was seen: keeps the values
// the session needs (the event's name, the ActionID of the request it answers).
void parser::note_skipped_line(const char* line, std::size_t length) {
  if (length < 6 || length > limits_.line_bytes) return;
  const char* colon = find_colon(line, length < 16 ? length : 16);
  if (!colon) return;
  const std::size_t key_length = static_cast<std::size_t>(colon - line);
  std::size_t value_start = key_length + 1;
  while (value_start < length && (line[value_start] == ' ' || line[value_start] == '\t')) ++value_start;
  const std::string_view value(line + value_start, length - value_start);
  if (key_is(line, key_length, "event")) {
    if (!oversized_.kind_known || oversized_.kind != message_kind::event) {
      oversized_.kind = message_kind::event;  // Event: wins over Response: (OriginateResponse)
      oversized_.kind_known = true;
      oversized_.name = noted(value);
    }
  } else if (key_is(line, key_length, "response")) {
    if (!oversized_.kind_known) {
      oversized_.kind = message_kind::response;
      oversized_.kind_known = true;
      oversized_.name = noted(value);
    }
  } else if (key_is(line, key_length, "actionid")) {
    if (oversized_.action_id.empty()) oversized_.action_id = noted(value);
  }
}

std::string describe(const oversized_message& o) {
  std::string detail;
  if (o.kind_known)
    detail = std::string(o.kind == message_kind::event ? "event " : "response ") + (o.name.empty() ? "?" : o.name);
  else
    detail = "message";
  if (!o.action_id.empty()) detail += " (ActionID " + o.action_id + ")";
  detail += " of " + std::to_string(o.bytes) + " bytes" + (o.truncated ? " (stream closed before its end)" : "");
  switch (o.limit) {
    case ami_errc::line_too_long:
      return detail + ": a line over the " + std::to_string(o.limit_value) + "-byte line limit";
    case ami_errc::too_many_headers:
      return detail + ": more than " + std::to_string(o.limit_value) + " headers";
    case ami_errc::buffer_full:
      return detail + ": fills the " + std::to_string(o.limit_value) + "-byte parser buffer";
    default:
      return detail + ": over the " + std::to_string(o.limit_value) + "-byte message limit";
  }
}

astra::result<message> parser::end_oversized(bool truncated) {
  skipping_oversized_ = false;
  oversized_.truncated = truncated;
  return astra::result<message>(make_error_code(oversized_.limit), describe(oversized_));
}

astra::result<message> parser::complete_message() {
  message_kind kind;
  int name_index;
  if (event_index_ >= 0) {
    kind = message_kind::event;
    name_index = event_index_;
  } else if (response_index_ >= 0) {
    kind = message_kind::response;
    name_index = response_index_;
  } else if (action_index_ >= 0) {
    kind = message_kind::action;
    name_index = action_index_;
  } else {
    return fail(ami_errc::malformed_line, "message without Event, Response or Action header", false);
  }
  message m(kind, std::string(buffer_.data() + head_, scan_ - head_),
            std::vector<message::field>(fields_.begin(), fields_.end()), name_index, action_id_index_);
  clear_message_state();
  head_ = scan_;
  return m;
}

std::optional<astra::result<message>> parser::next() {
  for (;;) {
    const char* const base = buffer_.data();
    const std::size_t end = buffer_.size();
    const std::size_t line_start = scan_;
    const std::size_t available = end - line_start;
    const char* const lf =
        available ? static_cast<const char*>(std::memchr(base + line_start, '\n', available)) : nullptr;

    if (mode_ == mode::skip) {
      if (!lf) {
        // Drop the partial line, but keep a lone CR that may still become a blank CRLF line,
        // and, in an oversized message, a short line that may still name it (Event:, ActionID:):
        // never more than a line within limits and always less than the buffer, so feed() has room.
        if ((available == 1 && !skip_line_dirty_ && base[line_start] == '\r') ||
            (skipping_oversized_ && !skip_line_dirty_ && available <= max_kept_skipped_line_bytes &&
             available <= limits_.line_bytes + 1 && available < limits_.buffered_bytes)) {
          head_ = line_start;
        } else {
          if (available) skip_line_dirty_ = true;
          if (skipping_oversized_) oversized_.bytes += available;
          head_ = scan_ = end;
        }
        return std::nullopt;
      }
      const std::size_t length = static_cast<std::size_t>(lf - (base + line_start));
      const bool blank = !skip_line_dirty_ && (length == 0 || (length == 1 && base[line_start] == '\r'));
      if (skipping_oversized_) {
        oversized_.bytes += length + 1;
        if (!skip_line_dirty_ && !blank)
          note_skipped_line(base + line_start, length && base[line_start + length - 1] == '\r' ? length - 1 : length);
      }
      scan_ = head_ = line_start + length + 1;
      skip_line_dirty_ = false;
      if (blank) {
        mode_ = mode::message;
        if (skipping_oversized_) return end_oversized(false);
      }
      continue;
    }

    if (!lf) {
      // A CR may still belong to the terminator, hence line_bytes + 1.
      if (available > limits_.line_bytes + 1) {
        begin_oversized(ami_errc::line_too_long, limits_.line_bytes, end);
        skip_line_dirty_ = true;
        continue;
      }
      if (buffered() >= limits_.buffered_bytes) {
        const bool partial_line = available > 0;
        begin_oversized(ami_errc::buffer_full, limits_.buffered_bytes, end);
        skip_line_dirty_ = partial_line;
        continue;
      }
      return std::nullopt;
    }

    std::size_t length = static_cast<std::size_t>(lf - (base + line_start));
    const std::size_t next_line = line_start + length + 1;
    if (length && base[line_start + length - 1] == '\r') --length;
    scan_ = next_line;

    if (length > limits_.line_bytes) {
      begin_oversized(ami_errc::line_too_long, limits_.line_bytes, next_line);
      note_skipped_line(base + line_start, length);
      continue;
    }
    if (next_line - head_ > limits_.message_bytes) {
      begin_oversized(ami_errc::message_too_large, limits_.message_bytes, next_line);
      if (length == 0) {  // this blank line ends the oversized message
        mode_ = mode::message;
        return end_oversized(false);
      }
      note_skipped_line(base + line_start, length);
      continue;
    }

    if (length == 0) {
      if (fields_.empty()) {  // blank line between messages
        head_ = scan_;
        continue;
      }
      return complete_message();
    }

    const char* const line = base + line_start;
    const char* const colon = find_colon(line, length);
    if (at_stream_start_) {
      at_stream_start_ = false;
      if (!colon) {
        banner_seen_ = true;
        message m(message_kind::banner, std::string(line, length), {}, -1, -1);
        head_ = scan_;
        return m;
      }
    }
    if (fields_.size() >= limits_.headers) {
      begin_oversized(ami_errc::too_many_headers, limits_.headers, next_line);
      note_skipped_line(line, length);
      continue;
    }
    if (!colon || colon == line)
      return fail(ami_errc::malformed_line, colon ? "header line with an empty key" : "header line without ':'", true);

    const std::size_t key_length = static_cast<std::size_t>(colon - line);
    std::size_t value_start = key_length + 1;
    while (value_start < length && (line[value_start] == ' ' || line[value_start] == '\t')) ++value_start;
    const int index = static_cast<int>(fields_.size());
    const std::uint32_t offset = static_cast<std::uint32_t>(line_start - head_);
    fields_.push_back(message::field{offset, static_cast<std::uint32_t>(key_length),
                                     static_cast<std::uint32_t>(offset + value_start),
                                     static_cast<std::uint32_t>(length - value_start)});
    switch (key_length) {
      case 5:
        if (event_index_ < 0 && key_is(line, 5, "event")) event_index_ = index;
        break;
      case 6:
        if (action_index_ < 0 && key_is(line, 6, "action")) action_index_ = index;
        break;
      case 8:
        if (response_index_ < 0 && key_is(line, 8, "response")) response_index_ = index;
        else if (action_id_index_ < 0 && key_is(line, 8, "actionid")) action_id_index_ = index;
        break;
      default:
        break;
    }
  }
}

std::optional<astra::result<message>> parser::finish() {
  closed_ = true;
  if (auto m = next()) return m;
  if (skipping_oversized_) {  // the stream closed inside a discarded oversized message
    buffer_.clear();
    head_ = scan_ = 0;
    clear_message_state();
    mode_ = mode::message;
    skip_line_dirty_ = false;
    return end_oversized(true);
  }
  const bool pending = mode_ == mode::message && (!fields_.empty() || scan_ < buffer_.size());
  buffer_.clear();
  head_ = scan_ = 0;
  clear_message_state();
  mode_ = mode::message;
  skip_line_dirty_ = false;
  if (pending) return astra::result<message>(make_error_code(ami_errc::truncated), "stream closed inside a message");
  return std::nullopt;
}

}  // namespace astra::ami
