// Runtime support of the generated model/event codecs (generated/ari/codec_detail.hpp).
#include "generated/ari/codec_detail.hpp"

namespace astra::ari::detail {

void append_member(std::string& extra, std::string_view key, std::string_view raw) {
  extra += extra.empty() ? '{' : ',';
  append_json_string(extra, key);
  extra += ':';
  extra.append(raw.data(), raw.size());
}

bool keep_unknown(json_reader& r, std::string_view key, std::string& extra) {
  std::string_view raw;
  if (!r.skip(&raw)) return false;
  append_member(extra, key, raw);
  return true;
}

bool expect_type(json_reader& r, std::string_view quoted_name) {
  const std::size_t start = r.mark();
  std::string_view raw;
  if (!r.skip(&raw)) return false;
  if (raw == quoted_name) return true;
  // Rare: an escaped spelling of the same name.
  r.rewind(start);
  std::string text;
  if (r.read(text) == json_reader::status::ok && "\"" + text + "\"" == quoted_name) return true;
  r.rewind(start);
  r.fail(json_reader::error_kind::type);
  return false;
}

failure reader_failure(const json_reader& r, std::string_view what) {
  std::string detail(what);
  switch (r.error()) {
    case json_reader::error_kind::too_deep:
      return failure{make_error_code(codec_errc::json_too_deep), detail};
    case json_reader::error_kind::type:
      return failure{make_error_code(codec_errc::type_mismatch), detail + ": \"type\" does not match"};
    default:
      return failure{make_error_code(codec_errc::invalid_json),
                     detail + ": at byte " + std::to_string(r.error_offset())};
  }
}

}  // namespace astra::ari::detail
