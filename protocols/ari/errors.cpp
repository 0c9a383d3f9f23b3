#include "protocols/ari/errors.hpp"

namespace astra::ari {
namespace {

class codec_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ari_codec"; }
  std::string message(int value) const override {
    switch (static_cast<codec_errc>(value)) {
      case codec_errc::invalid_json: return "invalid JSON";
      case codec_errc::json_too_deep: return "JSON nested too deeply";
      case codec_errc::type_mismatch: return "JSON value of the wrong type";
      case codec_errc::missing_event_type: return "event without a \"type\"";
      case codec_errc::missing_required_param: return "missing required parameter";
      case codec_errc::invalid_param_value: return "invalid parameter value";
      case codec_errc::invalid_frame: return "invalid REST-over-WebSocket frame";
      case codec_errc::unexpected_status: return "unexpected HTTP status";
    }
    return "unknown ari_codec error";
  }
};

class http_status_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ari_http"; }
  std::string message(int status) const override {
    switch (status) {
      case 400: return "400 Bad Request";
      case 401: return "401 Unauthorized";
      case 403: return "403 Forbidden";
      case 404: return "404 Not Found";
      case 405: return "405 Method Not Allowed";
      case 409: return "409 Conflict";
      case 412: return "412 Precondition Failed";
      case 422: return "422 Unprocessable Entity";
      case 500: return "500 Internal Server Error";
      case 501: return "501 Not Implemented";
      case 503: return "503 Service Unavailable";
      default: return "HTTP status " + std::to_string(status);
    }
  }
};

}  // namespace

const std::error_category& codec_category() noexcept {
  static const codec_category_impl instance;
  return instance;
}

const std::error_category& http_status_category() noexcept {
  static const http_status_category_impl instance;
  return instance;
}

}  // namespace astra::ari
