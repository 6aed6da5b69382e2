// TlsContext: the certificates, keys and rules of one side of TLS (OpenSSL 3),
// shared by every connection that uses it. A server context holds the
// certificate chain and key it presents and, for mutual TLS, the CA that
// client certificates must chain to; a client context holds the CA that the
// server's certificate must chain to and, optionally, its own certificate.
// Both allow TLS 1.2 and 1.3 only (1.3 is chosen whenever the peer has it).
//
// A context is immutable once made. To change certificates, make a new one
// and hand it to the listener: connections already open keep the context
// they started with (each OpenSSL connection holds a reference to it), new
// ones get the new one. Any thread may make a context; connections use it on
// their loop thread (OpenSSL contexts are safe to share across threads).
#ifndef HERMOD_NET_TLS_CONTEXT_H_
#define HERMOD_NET_TLS_CONTEXT_H_

#include <memory>
#include <string>

#include "hermod/status.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX; kept out of this header

namespace hermod::net {

class TlsContext {
 public:
  // A server context presenting cert_file (PEM: the certificate, then any
  // intermediates) with key_file (PEM private key). With client_ca_file
  // (PEM), every client must present a certificate that chains to it, or the
  // handshake fails. Fails with a message naming the file and the reason.
  static Result<std::shared_ptr<const TlsContext>> ForServer(const std::string& cert_file,
                                                             const std::string& key_file,
                                                             const std::string& client_ca_file);

  // A client context that trusts the CAs in ca_file (PEM), or the system's
  // when ca_file is empty, and presents cert_file/key_file when both are
  // given (mutual TLS).
  static Result<std::shared_ptr<const TlsContext>> ForClient(const std::string& ca_file,
                                                             const std::string& cert_file,
                                                             const std::string& key_file);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool server() const { return server_; }
  // Server side: whether clients must present a certificate.
  bool verifies_clients() const { return verifies_clients_; }
  // The subject of the certificate this side presents ("CN=..."), for logs.
  const std::string& subject() const { return subject_; }
  ssl_ctx_st* ctx() const { return ctx_; }

 private:
  TlsContext(ssl_ctx_st* ctx, bool server) : ctx_(ctx), server_(server) {}

  ssl_ctx_st* ctx_;
  bool server_;
  bool verifies_clients_ = false;
  std::string subject_;
};

// The reasons in OpenSSL's error queue of this thread, joined with ": ", and
// the queue emptied; `fallback` when it is empty.
std::string TakeTlsErrors(const std::string& fallback);

}  // namespace hermod::net

#endif  // HERMOD_NET_TLS_CONTEXT_H_
