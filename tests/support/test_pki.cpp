#include "tests/support/test_pki.hpp"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace astra::test {
namespace {

struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test_pki: ") + what);
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

// A certificate for `key`, signed by issuer_key (self-signed when issuer is null).
x509_ptr make_cert(EVP_PKEY* key, const char* cn, long serial, X509* issuer, EVP_PKEY* issuer_key, const char* san) {
  x509_ptr cert(X509_new());
  X509* x = cert.get();
  check(X509_set_version(x, 2) == 1, "X509_set_version");
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
  check(X509_set_pubkey(x, key) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("astra tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  check(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1, "X509_set_issuer_name");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  add_ext(x, &ctx, NID_subject_key_identifier, "hash");
  if (!issuer) {
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
    add_ext(x, &ctx, NID_subject_alt_name, san);
  }
  check(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

template <class Write>
std::string to_pem(Write write) {
  BIO* bio = BIO_new(BIO_s_mem());
  check(write(bio) == 1, "PEM_write");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::filesystem::path temp_file(const char* what) {
  static std::atomic<unsigned> seq{0};
  return std::filesystem::temp_directory_path() /
         ("astra-test-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" + std::to_string(seq++) + ".pem");
}

}  // namespace

test_pki::test_pki() {
  pkey_ptr ca_key(EVP_EC_gen("P-256"));
  pkey_ptr server_key(EVP_EC_gen("P-256"));
  pkey_ptr other_ca_key(EVP_EC_gen("P-256"));
  check(ca_key && server_key && other_ca_key, "EVP_EC_gen");
  auto ca = make_cert(ca_key.get(), "astra test CA", 1, nullptr, nullptr, nullptr);
  auto other_ca = make_cert(other_ca_key.get(), "astra unrelated CA", 1, nullptr, nullptr, nullptr);
  auto server = make_cert(server_key.get(), "127.0.0.1", 2, ca.get(), ca_key.get(), "IP:127.0.0.1,DNS:localhost");
  auto other = make_cert(server_key.get(), "asterisk.invalid", 3, ca.get(), ca_key.get(), "DNS:asterisk.invalid");
  ca_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, ca.get()); });
  server_cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, server.get()); });
  other_cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, other.get()); });
  server_key_pem = to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  ca_file = temp_file("ca");
  std::ofstream(ca_file) << ca_pem;
  other_ca_file = temp_file("other-ca");
  std::ofstream(other_ca_file) << to_pem([&](BIO* b) { return PEM_write_bio_X509(b, other_ca.get()); });
}

test_pki::~test_pki() {
  std::error_code ec;
  std::filesystem::remove(ca_file, ec);
  std::filesystem::remove(other_ca_file, ec);
}

}  // namespace astra::test
