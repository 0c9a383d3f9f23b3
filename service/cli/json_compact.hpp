#pragma once
// One-pass validation and compaction of a JSON object received as text (ARI event frames):
// the write-through path of `astra ari watch`, which avoids parsing into a DOM and dumping it
// again. compact_json_object: standard library only, no allocation.
#include <cstddef>
#include <string_view>

namespace astra::cli {

// Deepest nesting compact_json_object() follows (objects and arrays, the outer object is 1).
inline constexpr std::size_t max_compact_depth = 512;

enum class compact_result {
  ok,          // written
  not_object,  // not exactly one JSON object in well-formed UTF-8 (see below)
  too_deep,    // valid so far, but nested deeper than max_compact_depth
};

// If `text` is exactly one JSON object (RFC 8259 grammar; JSON whitespace allowed around it
// and between tokens), with every string well-formed UTF-8 (no overlongs, no surrogate
// bytes), no raw control character (< 0x20) inside a string, every \u escape a valid scalar
// value (a high surrogate escape followed by a low one, no lone surrogate) and every number
// within the range of a double (no 1e999) and shorter than 400 characters, writes it
// at `out` without the whitespace outside strings, every other byte as received (keys in wire
// order, escapes and numbers as spelled), sets `end` past the last byte written and returns
// ok. Otherwise returns not_object or too_deep; bytes may have been written at `out` but `end`
// is not set. The acceptance matches nlohmann::json::parse (strict) minus its byte-order-mark
// skipping, so the result parses wherever the frame did. `out` needs room for text.size()
// bytes (the output is never longer than the input).
compact_result compact_json_object(std::string_view text, char* out, char*& end);

class out_buffer;

// Appends `frame` (any bytes) to `out` as exactly one line of valid JSON in UTF-8 plus '\n':
//  - a JSON object accepted by compact_json_object (every frame Asterisk sends): compacted;
//  - any other JSON value nested at most max_compact_depth deep: re-serialized
//    (nlohmann::json, keys sorted);
//  - anything else (not JSON, invalid UTF-8, deeper nesting): the frame as one JSON string,
//    invalid UTF-8 bytes read as Latin-1 (protocols/common/json_string.hpp).
void append_json_line(out_buffer& out, std::string_view frame);

}  // namespace astra::cli
