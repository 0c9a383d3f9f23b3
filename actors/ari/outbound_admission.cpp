#include "actors/ari/outbound_admission.hpp"

#include <cctype>

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace astra::ari {

std::string_view to_string(upgrade_result r) noexcept {
  switch (r) {
    case upgrade_result::ok: return "ok";
    case upgrade_result::unauthorized: return "unauthorized";
    case upgrade_result::refused_draining: return "refused_draining";
    case upgrade_result::refused_full: return "refused_full";
    case upgrade_result::bad_request: return "bad_request";
    case upgrade_result::not_found: return "not_found";
  }
  return "bad_request";
}

std::string_view to_string(outbound_mode m) noexcept { return m == outbound_mode::per_call ? "per_call" : "persistent"; }

std::string_view to_string(close_reason r) noexcept {
  switch (r) {
    case close_reason::call_ended: return "call_ended";
    case close_reason::peer_closed: return "peer_closed";
    case close_reason::no_handler: return "no_handler";
    case close_reason::bad_first_frame: return "bad_first_frame";
    case close_reason::registration_timeout: return "registration_timeout";
    case close_reason::oversized_frame: return "oversized_frame";
    case close_reason::server_stopped: return "server_stopped";
  }
  return "peer_closed";
}

namespace outbound {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::array<unsigned char, 32> sha256(std::string_view s) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

}  // namespace

credentials::credentials(std::string_view user, std::string_view password) : required_(true) {
  std::string pair(user);
  pair += ':';
  pair += password;
  digest_ = sha256(pair);
  OPENSSL_cleanse(pair.data(), pair.size());
}

bool credentials::admit(std::string_view authorization) const {
  if (!required_) return true;
  authorization = trim(authorization);
  if (authorization.size() < 6 || !iequals(authorization.substr(0, 6), "basic ")) return false;
  std::string decoded;
  if (!base64_decode(trim(authorization.substr(6)), decoded)) return false;
  auto given = sha256(decoded);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return CRYPTO_memcmp(given.data(), digest_.data(), digest_.size()) == 0;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 != 0) return false;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = value(c)) < 0) {
        return false;
      }
    }
    unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return true;
}

upgrade_result decide(const upgrade_request& req, std::string_view path, const credentials& creds,
                      const admission_state& state) {
  // Refusals that need no parsing first: they must be fast and cheap under load.
  if (state.draining) return upgrade_result::refused_draining;
  if (state.full) return upgrade_result::refused_full;
  if (req.method != "GET" || !has_token(req.upgrade, "websocket") || !has_token(req.connection, "upgrade") ||
      trim(req.ws_version) != "13" || trim(req.ws_key).empty() || req.bytes_after_request != 0)
    return upgrade_result::bad_request;
  if (!has_token(req.ws_protocol, "ari")) return upgrade_result::bad_request;
  auto target = req.target.substr(0, req.target.find('?'));
  if (target != path) return upgrade_result::not_found;
  if (!creds.admit(req.authorization)) return upgrade_result::unauthorized;
  return upgrade_result::ok;
}

int status_of(upgrade_result r) noexcept {
  switch (r) {
    case upgrade_result::ok: return 101;
    case upgrade_result::unauthorized: return 401;
    case upgrade_result::refused_draining:
    case upgrade_result::refused_full: return 503;
    case upgrade_result::not_found: return 404;
    case upgrade_result::bad_request: return 400;
  }
  return 400;
}

}  // namespace outbound
}  // namespace astra::ari
