#pragma once
// AsyncAGI over AMI (res_agi.c, `AGI(agi:async[,route[,args...]])`): the pieces of the AMI
// events that carry AGI text, decoded into the FastAGI codec's types so that one call core
// serves both transports.
//   AsyncAGIStart  Env:    the agi_* block, URL-encoded (ast_uri_encode, ast_uri_http: "%0A"
//                          for LF, "%20" for space, '+' literal), ended by an empty line
//   AsyncAGIExec   Result: one reply ("200 result=0\n", a 520 usage block ...), URL-encoded;
//                  CommandId: the CommandID the client gave its Action: AGI (Asterisk's own
//                          AGIExecStart/AGIExecEnd events carry a different, internal CommandId)
//   AsyncAGIEnd    the channel left AGI (hang-up or ASYNCAGI BREAK): no further command is run
// Sans-IO, whole-field functions (the AMI parser frames the events incrementally); bounded by
// protocols/agi/limits.hpp. Verified against fixtures/ami/async-agi*.jsonl (Asterisk 22.11).
#include <string>
#include <string_view>
#include <vector>

#include "protocols/agi/environment.hpp"
#include "protocols/agi/reply.hpp"
#include "protocols/common/result.hpp"

namespace astra::agi::async {

// Strict percent-decoding: "%XX" (two hex digits, either case) -> the byte; any other byte is
// copied ('+' stays '+'). A '%' without two hex digits after it, or a decoded size over
// `max_bytes`, is an error (`error_code`, detail naming the offset).
astra::result<std::string> url_decode(std::string_view text, std::size_t max_bytes, agi_errc error_code);

// Decodes AsyncAGIStart's Env into the environment a FastAGI call would have had:
//  - the route is the first AGI argument (`AGI(agi:async,/ivr/menu?lang=en,first)` ->
//    script "ivr/menu?lang=en", script_path "/ivr/menu", query lang=en; no argument -> "/");
//  - the remaining arguments move down one place (agi_arg_2 -> agi_arg_1, in `args` and in
//    `variables`), so that call.args() is the same on both transports;
//  - agi_request stays "async" (how a handler can tell the transports apart).
// Errors: malformed escapes (malformed_environment), the block's own limits
// (environment_too_large, too_many_variables, line_too_long, malformed_environment), a block
// without its final empty line or with bytes after it (malformed_environment).
astra::result<environment> decode_env(std::string_view env_field);

// Decodes AsyncAGIExec's Result into the reply events the FastAGI reply parser yields for the
// same text (normally one final reply; a "100 Trying" line first for GOSUB-like commands; a
// multi-line 520 as one event). Errors: malformed escapes, the reply parser's errors, text
// that ends inside a reply (malformed_reply), more than max_reply_bytes decoded.
astra::result<std::vector<reply_event>> decode_result(std::string_view result_field);

}  // namespace astra::agi::async
