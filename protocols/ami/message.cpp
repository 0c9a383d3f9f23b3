#include "protocols/ami/message.hpp"

namespace astra::ami {

namespace {
inline char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }
}  // namespace

const char* to_string(message_kind k) noexcept {
  switch (k) {
    case message_kind::banner: return "banner";
    case message_kind::response: return "response";
    case message_kind::event: return "event";
    case message_kind::action: return "action";
  }
  return "unknown";
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

message::message(message_kind kind, std::string text, std::vector<field> fields, int name_index,
                 int action_id_index)
    : text_(std::move(text)),
      fields_(std::move(fields)),
      kind_(kind),
      name_index_(name_index),
      action_id_index_(action_id_index) {}

std::string_view message::name() const noexcept {
  if (kind_ == message_kind::banner) {
    std::string_view t = text_;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
    return t;
  }
  return name_index_ < 0 ? std::string_view{} : value(static_cast<std::size_t>(name_index_));
}

std::string_view message::action_id() const noexcept {
  return action_id_index_ < 0 ? std::string_view{} : value(static_cast<std::size_t>(action_id_index_));
}

std::string_view message::key(std::size_t i) const noexcept {
  const field& f = fields_[i];
  return {text_.data() + f.key_offset, f.key_length};
}

std::string_view message::value(std::size_t i) const noexcept {
  const field& f = fields_[i];
  return {text_.data() + f.value_offset, f.value_length};
}

std::optional<std::string_view> message::get(std::string_view k) const noexcept {
  for (std::size_t i = 0; i < fields_.size(); ++i)
    if (fields_[i].key_length == k.size() && iequals(key(i), k)) return value(i);
  return std::nullopt;
}

std::vector<std::string_view> message::get_all(std::string_view k) const {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < fields_.size(); ++i)
    if (fields_[i].key_length == k.size() && iequals(key(i), k)) out.push_back(value(i));
  return out;
}

message message::make(message_kind kind, std::vector<std::pair<std::string, std::string>> headers) {
  if (kind == message_kind::banner) {
    std::string text = headers.empty() ? std::string{} : headers.front().first;
    text += "\r\n";
    return message(kind, std::move(text), {}, -1, -1);
  }
  std::size_t total = 2;
  for (const auto& [k, v] : headers) total += k.size() + v.size() + 4;
  std::string text;
  text.reserve(total);
  std::vector<field> fields;
  fields.reserve(headers.size());
  int name_index = -1, action_id_index = -1, event = -1, response = -1, act = -1;
  for (const auto& [k, v] : headers) {
    const int index = static_cast<int>(fields.size());
    field f{};
    f.key_offset = static_cast<std::uint32_t>(text.size());
    f.key_length = static_cast<std::uint32_t>(k.size());
    text += k;
    text += ": ";
    f.value_offset = static_cast<std::uint32_t>(text.size());
    f.value_length = static_cast<std::uint32_t>(v.size());
    text += v;
    text += "\r\n";
    fields.push_back(f);
    if (event < 0 && iequals(k, "Event")) event = index;
    if (response < 0 && iequals(k, "Response")) response = index;
    if (act < 0 && iequals(k, "Action")) act = index;
    if (action_id_index < 0 && iequals(k, "ActionID")) action_id_index = index;
  }
  text += "\r\n";
  switch (kind) {
    case message_kind::event: name_index = event; break;
    case message_kind::response: name_index = response; break;
    case message_kind::action: name_index = act; break;
    case message_kind::banner: break;
  }
  return message(kind, std::move(text), std::move(fields), name_index, action_id_index);
}

}  // namespace astra::ami
