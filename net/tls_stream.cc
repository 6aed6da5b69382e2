#include "tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

namespace hermod::net {

namespace {

// The first byte of every TLS record is its content type: 22 for a
// handshake, 21 for an alert. A peer that starts with anything else is not
// speaking TLS (a hermod frame starts with its length, an HTTP request with
// a letter).
constexpr uint8_t kRecordHandshake = 22;
constexpr uint8_t kRecordAlert = 21;

bool IsIpAddress(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

std::unique_ptr<TlsStream> TlsStream::Create(const TlsContext& context,
                                             const std::string& server_name) {
  SSL* ssl = SSL_new(context.ctx());
  if (ssl == nullptr) return nullptr;
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_bio(ssl, in, out);  // ssl owns both now
  if (context.server()) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    // The name the certificate must carry (SSL_set1_host takes IP
    // addresses too); SNI only for DNS names (RFC 6066 forbids addresses).
    if (!server_name.empty()) {
      SSL_set1_host(ssl, server_name.c_str());
      if (!IsIpAddress(server_name)) SSL_set_tlsext_host_name(ssl, server_name.c_str());
    }
  }
  return std::unique_ptr<TlsStream>(new TlsStream(ssl, in, out, context.server(), server_name));
}

TlsStream::TlsStream(ssl_st* ssl, bio_st* in, bio_st* out, bool server, std::string server_name)
    : ssl_(ssl), in_(in), out_(out), server_(server), server_name_(std::move(server_name)) {}

TlsStream::~TlsStream() { SSL_free(ssl_); }

Status TlsStream::StartHandshake() {
  ERR_clear_error();
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    NoteHandshakeDone();
    return Status::OK();
  }
  if (SSL_get_error(ssl_, ret) == SSL_ERROR_WANT_READ) return Status::OK();
  return HandshakeError(ret);
}

Status TlsStream::Feed(const uint8_t* data, size_t size) {
  if (size == 0) return Status::OK();
  if (!saw_first_byte_) {
    saw_first_byte_ = true;
    if (data[0] != kRecordHandshake && data[0] != kRecordAlert) {
      plaintext_peer_ = true;
      return Status(ErrorCode::kProtocolViolation,
                    server_ ? "the client does not speak TLS, which this port requires "
                              "(connect with TLS: --tls-ca)"
                            : "the server does not speak TLS (it answered in plaintext; is it "
                              "started with --tls-cert?)");
    }
  }
  // A memory BIO grows as needed: the write takes everything.
  BIO_write(in_, data, static_cast<int>(size));
  return Status::OK();
}

Result<size_t> TlsStream::Read(std::span<uint8_t> space) {
  ERR_clear_error();
  size_t n = 0;
  int ret = SSL_read_ex(ssl_, space.data(), space.size(), &n);
  if (!handshake_done_ && SSL_is_init_finished(ssl_)) NoteHandshakeDone();
  if (ret == 1) return n;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return size_t{0};
    case SSL_ERROR_ZERO_RETURN:
      return Status(ErrorCode::kUnavailable, "peer closed the TLS session");
    default: {
      // TLS 1.3 finishes the client's handshake before the server has
      // checked the client's certificate: the server's verdict arrives as an
      // alert in the first record after it.
      const int reason = ERR_GET_REASON(ERR_peek_last_error());
      if (!handshake_done_ || reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
          reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
          reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN) {
        return HandshakeError(ret);
      }
      return Status(ErrorCode::kProtocolViolation,
                    "TLS record error: " + TakeTlsErrors("unknown error"));
    }
  }
}

Status TlsStream::Write(std::string_view plaintext) {
  ERR_clear_error();
  size_t written = 0;
  // The output BIO is memory: the write takes everything or fails.
  if (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) != 1 ||
      written != plaintext.size()) {
    return Status(ErrorCode::kIoError, "TLS write: " + TakeTlsErrors("unknown error"));
  }
  return Status::OK();
}

void TlsStream::TakeOutput(std::string* out) {
  size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) return;
  size_t at = out->size();
  out->resize(at + pending);
  int n = BIO_read(out_, out->data() + at, static_cast<int>(pending));
  out->resize(at + static_cast<size_t>(n > 0 ? n : 0));
}

bool TlsStream::has_output() const { return BIO_ctrl_pending(out_) > 0; }

std::string TlsStream::Description() const {
  if (!handshake_done_) return "TLS (handshake not done)";
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

void TlsStream::NoteHandshakeDone() {
  handshake_done_ = true;
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return;
  char cn[256] = {};
  int len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
  if (len > 0) peer_subject_.assign(cn, static_cast<size_t>(len));
}

Status TlsStream::HandshakeError(int ret) {
  const int error = SSL_get_error(ssl_, ret);
  const int reason = ERR_GET_REASON(ERR_peek_last_error());
  std::string detail = TakeTlsErrors(error == SSL_ERROR_SYSCALL ? "connection ended" : "failed");
  const long verify = SSL_get_verify_result(ssl_);
  const std::string verify_text = X509_verify_cert_error_string(verify);
  std::string why;
  ErrorCode code = ErrorCode::kUnauthenticated;
  if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && !server_) {
    switch (verify) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        why = "the server's certificate is not for '" + server_name_ + "' (" + verify_text +
              "); connect by a name the certificate carries, or set the name to expect "
              "(--tls-server-name)";
        break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        why = "the server's certificate is not signed by a CA this client trusts (" + verify_text +
              "); is --tls-ca the CA that signed the broker's --tls-cert?";
        break;
      default:
        why = "the server's certificate was refused: " + verify_text;
    }
  } else if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    why = "the client's certificate was refused: " + verify_text;
  } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    why = "the client sent no certificate, and this port requires one signed by --tls-client-ca";
  } else if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED) {
    why = "the server requires a client certificate (" + detail + "): set --tls-cert and --tls-key";
  } else if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
             reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
             reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN) {
    why = server_ ? "the client refused this server's certificate (" + detail + ")"
                  : "the server refused this client's certificate (" + detail + ")";
  } else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
             reason == SSL_R_HTTP_REQUEST) {
    code = ErrorCode::kProtocolViolation;
    why = (server_ ? "the client" : "the server") + std::string(" does not speak TLS (") + detail +
          ")";
  } else {
    code = ErrorCode::kProtocolViolation;
    why = detail;
  }
  return Status(code, "TLS handshake failed: " + why);
}

}  // namespace hermod::net
