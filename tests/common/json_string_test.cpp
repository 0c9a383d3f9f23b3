// protocols/common/json_string.hpp: every output is valid JSON in valid UTF-8 for any bytes;
// valid UTF-8 is kept, each byte of an invalid sequence becomes U+00XX, controls are escaped.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocols/common/json_string.hpp"

using namespace std::string_literals;
using astra::json_text::append_json_string;
using astra::json_text::max_json_string_size;
using astra::json_text::to_valid_utf8;
using astra::json_text::write_json_string;

namespace {

// write_json_string into a buffer of exactly the documented bound, with a guard after it.
std::string quote(const std::string& in) {
  const std::size_t bound = max_json_string_size(in.size());
  std::vector<char> buf(bound + 16, '\x5a');
  char* end = write_json_string(buf.data(), in);
  const auto n = static_cast<std::size_t>(end - buf.data());
  REQUIRE(n <= bound);
  for (std::size_t i = bound; i < buf.size(); ++i) REQUIRE(buf[i] == '\x5a');
  return std::string(buf.data(), n);
}

// nlohmann's strict dump() throws iff the string is not valid UTF-8: an independent oracle.
bool is_valid_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// The output parses as a JSON string (nlohmann's lexer rejects ill-formed UTF-8) and decodes
// to to_valid_utf8(in); a valid input decodes to itself.
void check_roundtrip(const std::string& in) {
  const std::string out = quote(in);
  std::string decoded;
  try {
    decoded = nlohmann::json::parse(out).get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    FAIL("not valid JSON for input of " << in.size() << " bytes: " << e.what());
  }
  CHECK(decoded == to_valid_utf8(in));
  CHECK(is_valid_utf8(decoded));
  if (is_valid_utf8(in)) CHECK(decoded == in);
  std::string appended = "x";
  append_json_string(appended, in);
  CHECK(appended == "x" + out);
}

}  // namespace

TEST_CASE("json_string: invalid UTF-8 bytes are read as Latin-1 (U+00XX)", "[common][json]") {
  struct row {
    std::string in, out;
  };
  const std::vector<row> rows{
      {"Jos\xE9", "\"Jos\xC3\xA9\""},                                          // Latin-1 CallerIDName
      {"\x80", "\"\xC2\x80\""},                                                // lone continuation
      {"a\xBF" "b", "\"a\xC2\xBF" "b\""},                                      // lone continuation
      {"\xE2\x82", "\"\xC3\xA2\xC2\x82\""},                                    // truncated euro sign
      {"\xE2\x82x", "\"\xC3\xA2\xC2\x82x\""},                                  // truncated, then ASCII
      {"\xF0\x9F\x98", "\"\xC3\xB0\xC2\x9F\xC2\x98\""},                        // truncated emoji
      {"\xC3", "\"\xC3\x83\""},                                                // lead byte at the end
      {"\xC0\xAF", "\"\xC3\x80\xC2\xAF\""},                                    // overlong '/'
      {"\xC1\xBF", "\"\xC3\x81\xC2\xBF\""},                                    // overlong
      {"\xE0\x80\xAF", "\"\xC3\xA0\xC2\x80\xC2\xAF\""},                        // 3-byte overlong
      {"\xF0\x80\x80\xAF", "\"\xC3\xB0\xC2\x80\xC2\x80\xC2\xAF\""},            // 4-byte overlong
      {"\xED\xA0\x80", "\"\xC3\xAD\xC2\xA0\xC2\x80\""},                        // surrogate D800
      {"\xED\xBF\xBF", "\"\xC3\xAD\xC2\xBF\xC2\xBF\""},                        // surrogate DFFF
      {"\xF4\x90\x80\x80", "\"\xC3\xB4\xC2\x90\xC2\x80\xC2\x80\""},            // above U+10FFFF
      {"\xF5\xF8\xFC\xFE\xFF", "\"\xC3\xB5\xC3\xB8\xC3\xBC\xC3\xBE\xC3\xBF\""},  // never valid
      {"\xC3\xA9\xE9", "\"\xC3\xA9\xC3\xA9\""},                                // valid, then Latin-1
      {"\xE9\xC3\xA9", "\"\xC3\xA9\xC3\xA9\""},                                // Latin-1, then valid
      {"M\xFCller \"\xE0\" \\", "\"M\xC3\xBCller \\\"\xC3\xA0\\\" \\\\\""},      // with escapes
  };
  for (const auto& r : rows) {
    INFO("input bytes: " << nlohmann::json(to_valid_utf8(r.in)).dump());
    CHECK(quote(r.in) == r.out);
    CHECK(!is_valid_utf8(r.in));
    check_roundtrip(r.in);
  }
  // Pure Latin-1 input decodes back to the same bytes when re-encoded as Latin-1.
  std::string latin1;
  for (int b = 0x80; b <= 0xFF; ++b) latin1.push_back(static_cast<char>(b));
  auto decoded = nlohmann::json::parse(quote(latin1)).get<std::string>();
  std::string reencoded;
  for (std::size_t i = 0; i < decoded.size(); i += 2) {
    REQUIRE(i + 1 < decoded.size());
    auto hi = static_cast<unsigned char>(decoded[i]), lo = static_cast<unsigned char>(decoded[i + 1]);
    REQUIRE((hi == 0xC2 || hi == 0xC3));
    reencoded.push_back(static_cast<char>(((hi & 0x1F) << 6) | (lo & 0x3F)));
  }
  CHECK(reencoded == latin1);
}

TEST_CASE("json_string: valid UTF-8 passes through unchanged", "[common][json]") {
  const std::vector<std::string> valid{
      "caf\xC3\xA9",                     // é
      "\xE2\x82\xAC 10",                 // €
      "\xF0\x9F\x98\x80",                // 😀
      "\xC2\x80\xC2\x85\xDF\xBF",        // U+0080, U+0085 (C1), U+07FF
      "\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF",  // U+0800, U+D7FF, U+E000, U+FFFF
      "\xE2\x80\xA8\xE2\x80\xA9",        // U+2028, U+2029 (allowed raw in RFC 8259)
      "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",  // U+10000, U+10FFFF
      "abcdefg\xC3\xA9xyz",              // 2-byte sequence across the 8-byte block edge
      "abcdef\xF0\x9F\x98\x80xyzabcdef",  // 4-byte sequence across the block edge
  };
  for (const auto& s : valid) {
    CHECK(is_valid_utf8(s));
    CHECK(quote(s) == "\"" + s + "\"");
    CHECK(to_valid_utf8(s) == s);
    check_roundtrip(s);
  }
}

TEST_CASE("json_string: quotes, backslashes and control characters are escaped", "[common][json]") {
  CHECK(quote("") == "\"\"");
  CHECK(quote("plain ASCII text, longer than eight bytes") == "\"plain ASCII text, longer than eight bytes\"");
  CHECK(quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(quote("\n\r\t") == "\"\\n\\r\\t\"");
  CHECK(quote("\x01\x08\x0c\x1f\x7f") == "\"\\u0001\\u0008\\u000c\\u001f\\u007f\"");
  CHECK(quote("nul\0end"s) == "\"nul\\u0000end\"");
  CHECK(quote("0123456\"89abcdef\\") == "\"0123456\\\"89abcdef\\\\\"");
  // Worst case: all bytes escaped as \u00XX hits the documented bound exactly.
  const std::string ctl(37, '\x02');
  CHECK(quote(ctl).size() == max_json_string_size(ctl.size()));
  for (int c = 0; c < 0x80; ++c) check_roundtrip(std::string(1, static_cast<char>(c)));
}

TEST_CASE("json_string: every 1- and 2-byte input, and random byte strings, give valid JSON", "[common][json]") {
  for (int a = 0; a < 256; ++a) {
    check_roundtrip(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) {
      const std::string in{static_cast<char>(a), static_cast<char>(b)};
      const std::string out = quote(in);
      const auto decoded = nlohmann::json::parse(out, nullptr, false);
      REQUIRE(decoded.is_string());
      REQUIRE(decoded.get<std::string>() == to_valid_utf8(in));
      if (is_valid_utf8(in)) REQUIRE(decoded.get<std::string>() == in);
    }
  }
  // Bytes biased towards lead/continuation/boundary values, lengths across the 8-byte blocks.
  const unsigned char pool[] = {'a', 'Z', ' ', '"', '\\', 0x00, 0x1F, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1,
                                0xF3, 0xF4, 0xF5, 0xFF};
  std::mt19937 rng(20261125);
  std::uniform_int_distribution<std::size_t> pick(0, sizeof pool - 1), len(1, 24);
  for (int i = 0; i < 20000; ++i) {
    std::string in;
    for (std::size_t n = len(rng); n > 0; --n) in.push_back(static_cast<char>(pool[pick(rng)]));
    INFO("case " << i);
    check_roundtrip(in);
  }
}
