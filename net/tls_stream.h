// TlsStream: the TLS engine of one Connection. OpenSSL never touches the
// socket: ciphertext the connection read goes in through a memory BIO
// (Feed), plaintext comes out of Read; plaintext to send goes in through
// Write, and the ciphertext to put on the socket comes out of TakeOutput.
// So the connection keeps its own reads, writes, batching and backpressure,
// and TLS is one step on each path.
//
// The handshake runs inside Read (both sides) and StartHandshake (the
// client's first flight). Its failures come back as a Status whose message
// says what was wrong in words a user can act on: the wrong CA, a
// certificate that does not name the server, a plaintext peer.
//
// Owned by its Connection. Loop thread only.
#ifndef HERMOD_NET_TLS_STREAM_H_
#define HERMOD_NET_TLS_STREAM_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "hermod/status.h"
#include "tls_context.h"

struct ssl_st;  // OpenSSL's SSL
struct bio_st;  // OpenSSL's BIO

namespace hermod::net {

class TlsStream {
 public:
  // A client stream verifies that the server's certificate names
  // server_name (a DNS name or an IP address); a server stream ignores it.
  // Returns nullptr when OpenSSL cannot allocate.
  static std::unique_ptr<TlsStream> Create(const TlsContext& context,
                                           const std::string& server_name);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  bool server() const { return server_; }
  bool handshake_done() const { return handshake_done_; }

  // Client only: queues the first handshake flight for TakeOutput.
  Status StartHandshake();

  // Takes ciphertext read from the socket. Fails when the peer's first byte
  // shows it does not speak TLS; plaintext_peer() is then true.
  Status Feed(const uint8_t* data, size_t size);
  bool plaintext_peer() const { return plaintext_peer_; }

  // Decrypts into `space`: the bytes written, 0 when no whole record is
  // buffered yet (or the handshake needs more), or the handshake's or the
  // record layer's failure. Advances the handshake.
  Result<size_t> Read(std::span<uint8_t> space);

  // Encrypts plaintext for TakeOutput. REQUIRES: handshake_done().
  Status Write(std::string_view plaintext);

  // Appends the ciphertext waiting to leave (handshake flights, records,
  // alerts) to *out.
  void TakeOutput(std::string* out);
  bool has_output() const;

  // Once the handshake is done: the common name (CN) of the peer's verified
  // certificate; empty when it sent none.
  const std::string& peer_subject() const { return peer_subject_; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384", once the handshake is done.
  std::string Description() const;

 private:
  TlsStream(ssl_st* ssl, bio_st* in, bio_st* out, bool server, std::string server_name);
  Status HandshakeError(int ret);
  void NoteHandshakeDone();

  ssl_st* ssl_;
  bio_st* in_;   // ciphertext read, owned by ssl_
  bio_st* out_;  // ciphertext to write, owned by ssl_
  bool server_;
  std::string server_name_;
  bool handshake_done_ = false;
  bool saw_first_byte_ = false;
  bool plaintext_peer_ = false;
  std::string peer_subject_;
};

}  // namespace hermod::net

#endif  // HERMOD_NET_TLS_STREAM_H_
