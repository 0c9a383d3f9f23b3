#pragma once
// Process-wide logging of the astra service: spdlog's default logger (which every component
// uses) writes one line per record to stdout, as a JSON object (default; container
// convention) or as text.
//
// JSON line: {"ts":"2026-01-01T12:00:00.123Z","level":"info","logger":"astra","msg":"...",<fields>}
// Structured fields: log_fields() appends pre-rendered JSON members to a message.
#include <string>
#include <string_view>

namespace astra::runtime {

enum class log_style { json, text };

// Installs the stdout logger as spdlog's default; `level` is a spdlog level name
// (trace, debug, info, warn, error, critical, off). Safe to call again (replaces it).
void setup_logging(log_style style, std::string_view level);

// A message followed by JSON members (`"k":v,...` without braces) that the JSON formatter
// places at the top level of the line; the text formatter prints them after the message.
std::string log_fields(std::string_view message, std::string_view json_members);

// JSON string literal for `s` (quotes included), escaping per RFC 8259; always valid UTF-8:
// invalid bytes are read as Latin-1 (protocols/common/json_string.hpp).
std::string json_quote(std::string_view s);

// Formats one record exactly as the JSON formatter does (exposed for tests).
std::string format_json_line(std::string_view ts_utc, std::string_view level, std::string_view logger,
                             std::string_view payload);

}  // namespace astra::runtime
