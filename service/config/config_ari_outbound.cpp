#include "service/config/ari_outbound_config.hpp"

#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace astra::config {

std::string_view to_string(ari_after_handler p) noexcept {
  switch (p) {
    case ari_after_handler::hangup: return "hangup";
    case ari_after_handler::continue_: return "continue";
    case ari_after_handler::keep: return "keep";
  }
  return "hangup";
}

std::string tls_file_problem(const std::string& file, bool key) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
  if (!ctx) return {};
  ERR_clear_error();
  int ok = key ? SSL_CTX_use_PrivateKey_file(ctx.get(), file.c_str(), SSL_FILETYPE_PEM)
               : SSL_CTX_use_certificate_chain_file(ctx.get(), file.c_str());
  if (ok == 1) return {};
  unsigned long e = ERR_peek_last_error();
  const char* why = e ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return std::string("cannot load ") + (key ? "PEM private key " : "PEM certificate chain ") + "\"" + file + "\"" +
         (why ? std::string(": ") + why : std::string());
}

}  // namespace astra::config
