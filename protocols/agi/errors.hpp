#pragma once
// Error codes of the FastAGI codec (protocols/agi) and of the FastAGI server (actors/agi).
// The numbering is part of the contract (docs/api-agi): append new codes at the end only.
#include <system_error>

namespace astra::agi {

enum class agi_errc {
  // codec
  line_too_long = 1,      // a received line exceeded max_line_bytes, or a command line max_command_line_bytes
  environment_too_large,  // the agi_* block exceeded max_environment_bytes
  too_many_variables,     // the agi_* block exceeded max_variables lines
  malformed_environment,  // a line of the agi_* block is not "agi_<name>: <value>" (or the block is empty)
  malformed_reply,        // a reply line is not "<3 digits> ...", "HANGUP", or lacks a field its decoder needs
  invalid_argument,       // a command argument contains CR, LF or NUL (Asterisk would split the command)
  usage_error,            // 520: Asterisk rejected the arguments (reply::usage holds its usage text if sent)
  invalid_command,        // 510: Asterisk does not know the command
  // call-level codes used by actors/agi
  hung_up,                // 511, or a live-channel command after HANGUP
  timeout,                // a command's deadline expired
  disconnected,           // the peer closed the connection (mid-command or while idle)
  application_not_found,  // EXEC answered result=-2
  handler_failed,         // the user's handler threw or returned an error
  refused,                // refused by an auth policy or the concurrency cap
  no_route,               // no route matched agi_network_script
  shutting_down,          // the server is draining
  // additions (after the contract's list)
  command_failed,         // 200 result=-1 (Asterisk: "failure", e.g. a missing file, no such channel)
  too_many_arguments,     // a command line with more than max_command_words words (Asterisk truncates)
  reply_too_large,        // a multi-line 520 reply exceeded max_reply_bytes / max_usage_lines
};

const std::error_category& agi_category() noexcept;
std::error_code make_error_code(agi_errc e) noexcept;

}  // namespace astra::agi

template <>
struct std::is_error_code_enum<astra::agi::agi_errc> : std::true_type {};
