#pragma once
// AMI over TLS (Asterisk manager.conf `tlsenable=yes`, `tlsbindaddr=...:5039`). Plain data:
// the OpenSSL/Asio side lives in connection.cpp only.
#include <string>

namespace astra::ami {

struct tls_config {
  bool enabled = false;
  // Verify the certificate chain (against ca_file, or the system store when it is empty) and
  // that the certificate names the server (server_name, else the host). Off: any certificate
  // is accepted (the link is encrypted but not authenticated).
  bool verify = true;
  std::string ca_file;      // PEM CA bundle; "" = the system store
  // The name the certificate must carry; "" = the connection host. Sent as the TLS server
  // name (SNI) only when it is a DNS name: RFC 6066 forbids IP address literals there.
  std::string server_name;
};

}  // namespace astra::ami
