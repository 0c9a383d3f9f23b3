#pragma once
// Certificates made at test time with the OpenSSL API (no files in the tree, nothing that
// expires in the repository): a self-signed CA, a server certificate it signed for IP
// 127.0.0.1 and DNS localhost, one for another name (asterisk.invalid) with the same key,
// and an unrelated CA. For TLS fakes (ARI, AMI) and the clients' verification tests.
#include <filesystem>
#include <string>

namespace astra::test {

struct test_pki {
  std::string ca_pem;           // the CA that signed both server certificates
  std::string server_cert_pem;  // CN 127.0.0.1, SAN IP:127.0.0.1, DNS:localhost
  std::string server_key_pem;   // the key of both server certificates
  std::string other_cert_pem;   // CN/SAN asterisk.invalid (the wrong name for 127.0.0.1)
  std::filesystem::path ca_file;        // ca_pem written to a temporary file
  std::filesystem::path other_ca_file;  // a CA that signed neither (an unknown CA)

  // Throws std::runtime_error when OpenSSL fails (tests only).
  test_pki();
  ~test_pki();  // removes the files
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;
};

}  // namespace astra::test
