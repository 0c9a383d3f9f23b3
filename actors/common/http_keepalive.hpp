#pragma once
// Beast pieces shared by astra's keep-alive HTTP clients (actors/ari/http_pool.cpp and
// actors/webhook/http_client.cpp). PRIVATE to their sources: it includes Boost.Beast, Asio SSL
// and OpenSSL; never include it from an interface header.
#include <utility>  // before Asio: awaitable.hpp uses std::exchange

#include <sys/socket.h>

#include <cerrno>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace astra::http_keepalive {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// The errors of a keep-alive socket the server closed or reset while it sat in the pool.
inline bool stale_keepalive_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::ssl::error::stream_truncated;
}

// False if the peer already closed (FIN) or reset (RST) an idle pooled connection, or sent
// anything while it was idle (an HTTP server sends nothing unsolicited; for TLS that is a
// close_notify): such a connection is discarded before a request is written on it.
// Non-blocking peek; the socket must have no operation pending.
inline bool idle_socket_usable(net::ip::tcp::socket& s) {
  char byte;
  auto n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

// Writes `req` and reads the reply into `parser`. nothing_sent: the write failed before any
// byte of the request left (a request that may be sent again on a fresh socket).
template <class Stream>
net::awaitable<void> exchange(Stream& stream, beast::flat_buffer& buffer, http::request<http::string_body>& req,
                              http::response_parser<http::string_body>& parser, beast::error_code& ec,
                              bool& nothing_sent) {
  auto written = co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
  nothing_sent = ec && written == 0;
  if (ec) co_return;
  co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
}

// Sends `host` as the TLS server name (SNI) unless it is an IP address literal, which RFC 6066
// (section 3) does not allow there. Returns false only if OpenSSL refuses the name.
inline bool set_server_name(SSL* ssl, const std::string& host) {
  beast::error_code ec;
  (void)net::ip::make_address(host, ec);
  if (!ec) return true;
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
}

// Checks the peer's certificate names `host` (IP address or DNS name) during verification,
// with OpenSSL's own matcher so that a mismatch is reported as such by the verifier.
inline bool expect_peer_name(SSL* ssl, const std::string& host) {
  beast::error_code ec;
  (void)net::ip::make_address(host, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (!ec) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, host.c_str()) == 1;
}

// A failed TLS handshake's words: the TLS error plus, when verifying, the verifier's reason
// ("unable to get local issuer certificate", "IP address mismatch", ...).
inline std::string tls_handshake_detail(const beast::error_code& ec, SSL* ssl, bool verifying) {
  std::string detail = ec.message();
  if (verifying) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) detail += std::string(": ") + X509_verify_cert_error_string(v);
  }
  return detail;
}

}  // namespace astra::http_keepalive
