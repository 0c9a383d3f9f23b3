#pragma once
// AMI messages as JSON objects, for `astra ami send|watch` (hand-written: the watch path is
// meant to sustain 1,000,000 events/s on one core share).
#include "protocols/ami/message.hpp"

namespace astra::cli {

class out_buffer;

// Appends `m` to `out` as one JSON object (no newline), headers in wire order; a repeated
// key becomes an array of its values in order, at the key's first position. Keys and values
// are written by json_text::write_json_string's mapping (protocols/common/json_string.hpp):
// valid UTF-8 kept, invalid bytes read as Latin-1, '"' '\\' and controls escaped, so the
// output is valid JSON in UTF-8 for any bytes. Thread-safe (per-thread scratch only).
void append_json_message(out_buffer& out, const ami::message& m);

}  // namespace astra::cli
