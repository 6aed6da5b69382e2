// Connection: one framed TCP connection on a Loop, in plaintext or TLS.
//
// Reads go into the loop's shared buffer and through the FrameDecoder, which
// keeps only the bytes of an unfinished frame; every verified frame goes to
// the Handler. Send() appends a frame to this turn's output, which leaves in
// one write at the end of the turn (see Loop). Pending output is bounded:
// past max_pending_output the connection closes with kSlowConsumer.
//
// Ownership: a Connection owns itself from Create() until libuv's close
// callback, where it calls Handler::OnClosed() and frees itself. Close() is
// idempotent and safe from inside any callback; after it, Send() is a no-op.
// A closing connection is still valid memory until OnClosed returns, so
// callers holding a pointer need only check closing().
//
// TLS (Options::tls set): the same connection with a TlsStream between the
// socket and the frames. Reads are decrypted before the decoder, this turn's
// frames are encrypted in one go at the flush, and frames sent before the
// handshake completes wait for it. A failed handshake closes the connection
// with a Status that says why. A server that receives plaintext instead of a
// TLS handshake drops TLS for that connection and reports it as bad input, so
// the handler's Error frame reaches a plaintext client in words it can read.
// Without TLS the hot paths pay one pointer test each.
//
// Loop thread only.
#ifndef HERMOD_NET_CONNECTION_H_
#define HERMOD_NET_CONNECTION_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "frame_codec.h"
#include "hermod/status.h"
#include "tls_context.h"

namespace hermod::net {

class Loop;
class TlsStream;

class Connection {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // A verified frame arrived. Return false when the connection was closed
    // (the rest of this read is then dropped).
    virtual bool OnFrame(Connection& conn, const wire::Frame& frame) = 0;
    // The byte stream broke the framing rules (too large, failed verification,
    // unknown type). The handler answers and closes the connection.
    virtual void OnBadInput(Connection& conn, const Status& why) = 0;
    // A write completed and no output is pending any more.
    virtual void OnDrained(Connection& /*conn*/) {}
    // The connection is closed; called once, from the close callback, just
    // before the Connection is freed.
    virtual void OnClosed(Connection& conn, const Status& why) = 0;
  };

  struct Options {
    uint32_t max_frame_bytes = proto::kDefaultMaxFrameBytes;
    // Output a peer has not read yet, beyond which it counts as too slow.
    size_t max_pending_output = 64u << 20;
    // TLS, server or client side by the context; null: plaintext.
    std::shared_ptr<const TlsContext> tls;
    // Client side: the name the server's certificate must carry (a DNS name
    // or an IP address); empty: not checked (only the CA is).
    std::string tls_server_name;
    // A Unix domain socket (uv_pipe_t) rather than TCP.
    bool unix_socket = false;
  };

  // The process at the other end of a Unix socket (SO_PEERCRED), as the
  // kernel saw it when the socket connected.
  struct PeerCredentials {
    uint32_t pid = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
  };

  // Creates a connection whose handle (TCP, or a Unix socket) is
  // initialized but neither accepted nor connected. Returns nullptr when
  // the handle cannot be made.
  static Connection* Create(Loop& loop, const Options& options);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Accepts a pending connection from `server` and starts reading.
  // REQUIRES: a handler is set before control returns to the loop. On
  // failure the connection is closed.
  Status Accept(uv_stream_t* server);
  // Connects to addr; calls done(status) from the loop. Reading starts when
  // the connection is established. On failure the connection closes itself
  // after done runs. REQUIRES: a handler is set.
  void Connect(const sockaddr* addr, std::function<void(const Status&)> done);
  // The same for a Unix socket at `path`. REQUIRES: options.unix_socket.
  void ConnectUnix(const std::string& path, std::function<void(const Status&)> done);

  void set_handler(Handler* handler) { handler_ = handler; }

  // Stops and restarts reading (backpressure). Idempotent.
  void PauseReading();
  void ResumeReading();
  bool reading_paused() const { return paused_; }

  // Queues a complete frame (as produced by FrameEncoder) for sending.
  void Send(std::span<const uint8_t> frame);
  // Bytes queued or being written.
  size_t pending_output() const { return out_.size() + writing_bytes_; }

  // Starts closing. `why` reaches Handler::OnClosed. Output queued before
  // this call (an Error frame) is handed to the kernel first if it can be
  // without blocking.
  void Close(const Status& why);
  bool closing() const { return closing_; }

  // "HOST:PORT" of the peer, read at accept or connect time; for a Unix
  // socket "unix/uid=UID:pid=PID" (its "host" is the user).
  const std::string& peer() const { return peer_; }
  // Unix sockets: the peer's credentials, read at accept or connect time;
  // nullopt for TCP.
  const std::optional<PeerCredentials>& peer_credentials() const { return peer_credentials_; }

  // Whether this connection runs TLS.
  bool tls() const { return tls_ != nullptr; }
  // With TLS, once the handshake is done: the common name (CN) of the
  // certificate the peer presented and this side verified (a server with
  // --tls-client-ca); empty otherwise.
  const std::string& peer_subject() const;

  // For Loop only: writes what Send() queued this turn.
  void Flush();

 private:
  struct WriteReq;
  friend struct std::default_delete<Connection>;  // freed only in OnClose

  Connection(Loop& loop, const Options& options);
  ~Connection();

  Status StartReading();
  void NotePeer();
  void ScheduleFlushOnce();
  // Reading starts, and a TLS client says hello, once connected.
  static void OnConnected(uv_connect_t* req, int status) noexcept;
  // Hands bytes (out_, or TLS output) to the socket: at once when the kernel
  // takes them, else in one write request. Leaves `bytes` empty.
  void Write(std::string& bytes);
  // TLS: decrypts what a read brought and feeds the decoder.
  void OnTlsRead(const uint8_t* data, size_t size);
  // TLS: encrypts out_ (once the handshake is done) and appends all
  // ciphertext waiting to leave to *wire.
  Status EncryptOutput(std::string* wire);

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void OnWritten(uv_write_t* req, int status) noexcept;
  static void OnClose(uv_handle_t* handle) noexcept;
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  // One handle, of the kind Options::unix_socket says; both start with the
  // stream fields, so stream() and uv_close serve either.
  union {
    uv_tcp_t tcp_;
    uv_pipe_t pipe_;
  };
  Loop& loop_;
  Handler* handler_ = nullptr;
  proto::FrameDecoder decoder_;
  size_t max_pending_output_;
  bool unix_socket_;
  std::string out_;           // frames queued this turn; empty when idle
  size_t writing_bytes_ = 0;  // bytes of the write in flight
  bool write_in_flight_ = false;
  bool flush_scheduled_ = false;
  bool reading_partial_ = false;  // the last alloc handed out the decoder's space
  bool reading_ = false;
  bool paused_ = false;
  bool closing_ = false;
  Status close_reason_;
  std::string peer_;
  std::unique_ptr<TlsStream> tls_;  // null: plaintext
  std::optional<PeerCredentials> peer_credentials_;
};

}  // namespace hermod::net

#endif  // HERMOD_NET_CONNECTION_H_
