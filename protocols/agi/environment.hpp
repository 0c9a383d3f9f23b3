#pragma once
// The agi_* environment block Asterisk sends first on a FastAGI connection:
//   "agi_<name>: <value>\n" ... "\n"   (LF only; values may be empty and contain ':' and spaces)
// Sans-IO, incremental; no allocation beyond the bounds in protocols/agi/limits.hpp.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "protocols/agi/errors.hpp"
#include "protocols/agi/limits.hpp"

namespace astra::agi {

struct environment {
  // Every line of the block in arrival order, full keys ("agi_channel"), values verbatim.
  std::vector<std::pair<std::string, std::string>> variables;
  // agi_arg_1..agi_arg_N, placed by N (a missing N in between is an empty string).
  std::vector<std::string> args;
  // agi_request verbatim (e.g. "agi://127.0.0.1:4573/ivr/menu?lang=en").
  std::string request;
  // agi_network_script verbatim ("ivr/menu?lang=en&tries=3"); derived from agi_request's path
  // when Asterisk did not send agi_network_script.
  std::string script;
  // The script's path with a leading '/', not percent-decoded ("/ivr/menu"; "/" when empty).
  std::string script_path;
  // The raw query after '?' ("lang=en&tries=3"), and its parameters percent-decoded ("%41" ->
  // "A"; '+' stays '+' because E.164 numbers start with it; a malformed escape stays literal),
  // in order, a repeated key keeping every value, a key without '=' having an empty value.
  std::string query_string;
  std::vector<std::pair<std::string, std::string>> query;

  // Value of "agi_<name>" given "agi_<name>" or "<name>"; the first one if repeated.
  std::optional<std::string_view> get(std::string_view key) const;
  // First / every value of a decoded query parameter.
  std::optional<std::string_view> param(std::string_view key) const;
  std::vector<std::string_view> params(std::string_view key) const;

  // Shorthands for the standard variables; empty when absent.
  std::string_view channel() const;        // agi_channel
  std::string_view uniqueid() const;       // agi_uniqueid
  std::string_view caller_id() const;      // agi_callerid
  std::string_view caller_id_name() const; // agi_calleridname
  std::string_view language() const;       // agi_language
  std::string_view type() const;           // agi_type
  std::string_view context() const;        // agi_context
  std::string_view extension() const;      // agi_extension
  std::string_view priority() const;       // agi_priority
  std::string_view dnid() const;           // agi_dnid
  std::string_view rdnis() const;          // agi_rdnis
  std::string_view account_code() const;   // agi_accountcode
  std::string_view version() const;        // agi_version
  std::string_view thread_id() const;      // agi_threadid
  bool enhanced() const;                   // agi_enhanced == "1.0"
};

// Percent-decodes `text` ("%2F" -> "/"); a '%' not followed by two hex digits is kept as is.
std::string percent_decode(std::string_view text);

// Splits "path?query" (the agi_network_script form, without leading '/') into env.script_path,
// env.query_string and env.query. Used by environment_parser; exposed for tests and routers.
void split_script(std::string_view script, environment& env);

// Incremental parser of the environment block.
// Contract: feed() consumes bytes up to and including the blank line that ends the block and
// stops there (the rest of the input belongs to the replies: give it to reply_parser). Once
// done() or error() is set, feed() consumes nothing. Memory is bounded by
// max_environment_bytes; every line must start with "agi_" and contain ':' (the value starts
// after ':' and one optional space); a CR before the LF is tolerated and removed.
// Errors (sticky): line_too_long, environment_too_large, too_many_variables, malformed_environment.
class environment_parser {
 public:
  std::size_t feed(std::string_view bytes);
  bool done() const noexcept { return done_; }
  std::error_code error() const noexcept { return error_; }
  // Bytes of the block consumed so far (LFs included).
  std::size_t consumed_bytes() const noexcept { return total_bytes_; }
  // The parsed block; valid once done(). Leaves the parser holding an empty environment.
  environment take();

 private:
  void fail(agi_errc code) { error_ = make_error_code(code); }
  void finish_line(std::string_view line);
  void finish_block();

  environment env_;
  std::string partial_;  // bytes of the current line not yet terminated by LF
  std::size_t total_bytes_ = 0;
  bool done_ = false;
  std::error_code error_;
};

}  // namespace astra::agi
