#include "protocols/ari/rest.hpp"

#include "generated/ari/events.hpp"
#include "protocols/ari/errors.hpp"

namespace astra::ari {
namespace {

bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string percent_encode(std::string_view text, std::string_view keep) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (c < 0x80 && keep.find(ch) != std::string_view::npos)) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// JSON string as Python's json.dumps writes it (ensure_ascii): the recorded client frames were
// produced that way, and Asterisk accepts it.
void append_ascii_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  auto u_escape = [&out](unsigned v) {
    out += "\\u";
    out += hex[(v >> 12) & 0xF];
    out += hex[(v >> 8) & 0xF];
    out += hex[(v >> 4) & 0xF];
    out += hex[v & 0xF];
  };
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') { out += "\\\""; ++i; continue; }
    if (c == '\\') { out += "\\\\"; ++i; continue; }
    if (c == '\n') { out += "\\n"; ++i; continue; }
    if (c == '\r') { out += "\\r"; ++i; continue; }
    if (c == '\t') { out += "\\t"; ++i; continue; }
    if (c == '\b') { out += "\\b"; ++i; continue; }
    if (c == '\f') { out += "\\f"; ++i; continue; }
    if (c >= 0x20 && c < 0x7F) { out += static_cast<char>(c); ++i; continue; }
    if (c < 0x80) { u_escape(c); ++i; continue; }
    // Decode one UTF-8 sequence; an invalid one becomes U+FFFD.
    unsigned cp = 0xFFFD;
    std::size_t len = 1;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else len = 0;
    bool valid = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) valid = false;
      else cp = (cp << 6) | (cc & 0x3F);
    }
    if (!valid) { cp = 0xFFFD; len = 1; }
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u_escape(0xD800 + (cp >> 10));
      u_escape(0xDC00 + (cp & 0x3FF));
    } else {
      u_escape(cp);
    }
  }
  out += '"';
}

}  // namespace

std::string percent_encode_segment(std::string_view segment) { return percent_encode(segment, "!$&'()*+,;=:@"); }

std::string percent_encode_query(std::string_view text) { return percent_encode(text, ":/@,!$'()*;"); }

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string encode_query(const rest_request& request) {
  std::string out;
  for (const auto& [name, value] : request.query) {
    if (!out.empty()) out += '&';
    out += percent_encode_query(name);
    out += '=';
    out += percent_encode_query(value);
  }
  return out;
}

std::string encode_target(const rest_request& request) {
  std::string target = request.path;
  if (!request.query.empty()) {
    target += '?';
    target += encode_query(request);
  }
  return target;
}

std::string encode_ws_request(const rest_request& request, std::string_view request_id,
                              const ws_request_options& options) {
  std::string_view uri = request.path;
  if (uri.substr(0, 5) == "/ari/") uri.remove_prefix(5);
  std::string out = "{\"type\": \"RESTRequest\"";
  if (options.transaction_id) {
    out += ", \"transaction_id\": ";
    append_ascii_json_string(out, *options.transaction_id);
  }
  out += ", \"request_id\": ";
  append_ascii_json_string(out, request_id);
  out += ", \"method\": ";
  append_ascii_json_string(out, request.method);
  out += ", \"uri\": ";
  if (options.query_in_uri && !request.query.empty()) {
    std::string full(uri);
    full += '?';
    full += encode_query(request);
    append_ascii_json_string(out, full);
  } else {
    append_ascii_json_string(out, uri);
    if (!request.query.empty()) {
      out += ", \"query_strings\": [";
      bool first = true;
      for (const auto& [name, value] : request.query) {
        if (!first) out += ", ";
        first = false;
        out += "{\"name\": ";
        append_ascii_json_string(out, name);
        out += ", \"value\": ";
        append_ascii_json_string(out, value);
        out += '}';
      }
      out += ']';
    }
  }
  if (request.body) {
    out += ", \"content_type\": \"application/json\", \"message_body\": ";
    append_ascii_json_string(out, *request.body);
  }
  out += '}';
  return out;
}

result<RESTResponse> decode_ws_response(std::string_view frame) {
  auto ev = decode_event(frame);
  if (!ev) return ev.error();
  if (auto* r = ev->get<RESTResponse>()) return std::move(*r);
  return failure{make_error_code(codec_errc::invalid_frame), "not a RESTResponse: " + std::string(ev->type_name())};
}

}  // namespace astra::ari
