#include "tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace hermod::net {

std::string TakeTlsErrors(const std::string& fallback) {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string part = reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(e));
    // The same reason is often queued by several layers: say it once.
    if (text.find(part) != std::string::npos) continue;
    if (!text.empty()) text += ": ";
    text += part;
  }
  return text.empty() ? fallback : text;
}

namespace {

using CtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

Status FileError(const char* flag, const std::string& file) {
  return Status::InvalidArgument("cannot use " + std::string(flag) + " " + file + ": " +
                                 TakeTlsErrors("unknown error"));
}

// TLS 1.2 is the floor (1.0 and 1.1 are broken and deprecated, RFC 8996);
// OpenSSL's ceiling is 1.3, which it picks whenever both sides have it.
CtxPtr NewContext(const SSL_METHOD* method) {
  CtxPtr ctx(SSL_CTX_new(method), &SSL_CTX_free);
  if (ctx) {
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    // AES-128-GCM first: as strong as needed (TLS 1.3's mandatory suite)
    // and fewer rounds than AES-256 for every byte of every message.
    SSL_CTX_set_ciphersuites(ctx.get(),
                             "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                             "TLS_CHACHA20_POLY1305_SHA256");
    // Idle connections give their 16 KiB read and write buffers back
    // (docs/design.md: an idle connection costs little).
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  }
  return ctx;
}

std::string SubjectOf(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return "";
  char line[256] = {};
  X509_NAME_oneline(X509_get_subject_name(cert), line, sizeof(line));
  return line;
}

Status UseCertificate(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return FileError("--tls-cert", cert_file);
  }
  auto mismatch = [&] {
    return Status::InvalidArgument("--tls-key " + key_file + " is not the key of --tls-cert " +
                                   cert_file + " (" + TakeTlsErrors("they do not match") + ")");
  };
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks the pair as it loads the key.
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) return mismatch();
    return FileError("--tls-key", key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) return mismatch();
  return Status::OK();
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<const TlsContext>> TlsContext::ForServer(const std::string& cert_file,
                                                                const std::string& key_file,
                                                                const std::string& client_ca_file) {
  ERR_clear_error();
  if (cert_file.empty() || key_file.empty()) {
    return Status::InvalidArgument("TLS needs both --tls-cert and --tls-key");
  }
  CtxPtr ctx = NewContext(TLS_server_method());
  if (!ctx) return Status::Internal("SSL_CTX_new: " + TakeTlsErrors("out of memory"));
  if (Status s = UseCertificate(ctx.get(), cert_file, key_file); !s.ok()) return s;
  // Nothing resumes sessions (each client keeps one long connection), so
  // tickets would only be bytes on the wire and state in memory.
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  bool verifies = false;
  if (!client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), client_ca_file.c_str(), nullptr) != 1) {
      return FileError("--tls-client-ca", client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca_file.c_str());
    if (names == nullptr) return FileError("--tls-client-ca", client_ca_file);
    SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    verifies = true;
  }
  std::shared_ptr<TlsContext> context(new TlsContext(ctx.release(), /*server=*/true));
  context->verifies_clients_ = verifies;
  context->subject_ = SubjectOf(context->ctx_);
  return std::shared_ptr<const TlsContext>(std::move(context));
}

Result<std::shared_ptr<const TlsContext>> TlsContext::ForClient(const std::string& ca_file,
                                                                const std::string& cert_file,
                                                                const std::string& key_file) {
  ERR_clear_error();
  if (cert_file.empty() != key_file.empty()) {
    return Status::InvalidArgument("a client certificate needs both --tls-cert and --tls-key");
  }
  CtxPtr ctx = NewContext(TLS_client_method());
  if (!ctx) return Status::Internal("SSL_CTX_new: " + TakeTlsErrors("out of memory"));
  int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get())
                               : SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
  if (loaded != 1) return FileError("--tls-ca", ca_file.empty() ? "(system default)" : ca_file);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!cert_file.empty()) {
    if (Status s = UseCertificate(ctx.get(), cert_file, key_file); !s.ok()) return s;
  }
  std::shared_ptr<TlsContext> context(new TlsContext(ctx.release(), /*server=*/false));
  context->subject_ = SubjectOf(context->ctx_);
  return std::shared_ptr<const TlsContext>(std::move(context));
}

}  // namespace hermod::net
