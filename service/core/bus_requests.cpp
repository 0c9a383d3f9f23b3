#include "service/core/bus_requests.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

#include "actors/ari/errors.hpp"
#include "protocols/common/json_string.hpp"
#include "service/bus/nats_bus.hpp"

namespace astra::runtime {

std::string bus_error(std::string_view code, std::string_view message) {
  return nlohmann::json{{"error", {{"code", code}, {"message", json_text::to_valid_utf8(message)}}}}.dump();
}

// An AMI reply as `astra ami send` prints it, plus "error" when it failed.
std::string ami_reply_json(const ami::reply& r) {
  std::string out = "{\"response\":";
  if (r.response) bus::append_ami_json(out, *r.response);
  else out += "null";
  out += ",\"events\":[";
  for (std::size_t i = 0; i < r.events.size(); ++i) {
    if (i) out += ',';
    bus::append_ami_json(out, *r.events[i]);
  }
  out += ']';
  if (!r.ok()) {
    const auto& c = r.error.code;
    const char* code = c == ami::make_error_code(ami::ami_errc::rejected)       ? "asterisk_error"
                       : c == ami::make_error_code(ami::ami_errc::timeout)      ? "timeout"
                       : c == ami::make_error_code(ami::ami_errc::disconnected) ? "disconnected"
                       : c == ami::make_error_code(ami::ami_errc::not_logged_in) ? "disconnected"
                                                                                 : "failed";
    out += ",\"error\":{\"code\":\"";
    out += code;
    out += "\",\"message\":";
    json_text::append_json_string(out, r.error.detail.empty() ? r.error.message() : r.error.detail);
    out += '}';
  }
  out += '}';
  return out;
}


std::optional<ami::action> parse_ami_request(const std::string& request, std::string& why) {
  auto doc = nlohmann::json::parse(request, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("action") || !doc["action"].is_string() ||
      doc["action"].get<std::string>().empty()) {
    why = "expected {\"action\": NAME, \"headers\": {...}}";
    return std::nullopt;
  }
  ami::action act(doc["action"].get<std::string>());
  if (!doc.contains("headers")) return act;
  const auto& h = doc["headers"];
  if (!h.is_object()) {
    why = "headers must be an object";
    return std::nullopt;
  }
  for (const auto& [k, v] : h.items()) {
    if (v.is_string()) {
      act.add(k, v.get<std::string>());
    } else if (v.is_array()) {
      for (const auto& item : v) {
        if (!item.is_string()) {
          why = "header " + k + ": values must be strings";
          return std::nullopt;
        }
        act.add(k, item.get<std::string>());
      }
    } else if (v.is_number() || v.is_boolean()) {
      act.add(k, v.dump());
    } else {
      why = "header " + k + ": expected a string or a list of strings";
      return std::nullopt;
    }
  }
  return act;
}

std::optional<ari::rest_request> parse_ari_request(const std::string& request, std::string& why) {
  auto doc = nlohmann::json::parse(request, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("method") || !doc["method"].is_string() ||
      !doc.contains("path") || !doc["path"].is_string()) {
    why = "expected {\"method\": GET|POST|PUT|DELETE, \"path\": ..., \"body\": ...}";
    return std::nullopt;
  }
  std::string method = doc["method"].get<std::string>();
  for (auto& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (method != "GET" && method != "POST" && method != "PUT" && method != "DELETE") {
    why = "method must be GET, POST, PUT or DELETE";
    return std::nullopt;
  }
  std::optional<std::string> body;
  if (doc.contains("body") && !doc["body"].is_null()) body = doc["body"].dump();
  return ari::make_raw_request(method, doc["path"].get<std::string>(), body);
}

std::string ari_reply_json(const result<ari::rest_response>& r) {
  if (!r) {
    const bool timed_out = r.error().code == make_error_code(ari::ari_errc::timeout);
    return bus_error(timed_out ? "timeout" : "failed", r.error().detail.empty() ? r.error().message() : r.error().detail);
  }
  nlohmann::json out;
  out["status"] = r->status;
  auto parsed = nlohmann::json::parse(r->body, nullptr, false);
  out["body"] = r->body.empty()        ? nlohmann::json(nullptr)
                : parsed.is_discarded() ? nlohmann::json(json_text::to_valid_utf8(r->body))
                                        : parsed;
  if (!r->ok())
    out["error"] = {{"code", "status_" + std::to_string(r->status)}, {"message", json_text::to_valid_utf8(r->reason)}};
  return out.dump();
}

}  // namespace astra::runtime
