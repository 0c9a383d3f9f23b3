#pragma once
// Named peer limits of FastAGI (Asterisk 22 res_agi.c). Units: bytes unless stated.
#include <cstddef>

namespace astra::agi {

// res_agi.c `#define AGI_BUF_LEN 2048`: Asterisk reads each command line with fgets into a
// buffer of this size, so a command line (LF included) longer than AGI_BUF_LEN - 1 bytes is cut
// and its tail executed as a second command. format_command refuses such lines.
inline constexpr std::size_t asterisk_agi_buf_len = 2048;
inline constexpr std::size_t max_command_line_bytes = asterisk_agi_buf_len - 1;  // LF included

// res_agi.c `#define MAX_ARGS 128`: parse_args keeps at most MAX_ARGS - 1 words (command words
// plus arguments) and silently drops the rest; format_command refuses more.
inline constexpr std::size_t max_command_words = 127;

// Lines Asterisk sends (agi_* lines, replies) are built with a growing ast_str, so they are not
// capped by AGI_BUF_LEN (a GET VARIABLE value can be longer). We accept up to this many bytes per
// line, LF excluded; a longer line ends the call with agi_errc::line_too_long.
inline constexpr std::size_t max_line_bytes = 8192;

// The agi_* block: about 22 fixed variables plus agi_arg_1..agi_arg_127 (MAX_ARGS - 1).
inline constexpr std::size_t max_variables = 256;            // lines in the block
inline constexpr std::size_t max_environment_bytes = 65536;  // the whole block, LFs included

// A multi-line 520 reply ("520-..." usage lines "520 End of proper usage."): Asterisk's longest
// usage text is a few KB.
inline constexpr std::size_t max_usage_lines = 512;
inline constexpr std::size_t max_reply_bytes = 65536;

}  // namespace astra::agi
