// Connection: one framed TCP connection on a Loop.
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
// Loop thread only.
#ifndef HERMOD_NET_CONNECTION_H_
#define HERMOD_NET_CONNECTION_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "frame_codec.h"
#include "hermod/status.h"

namespace hermod::net {

class Loop;

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
  };

  // Creates a connection whose TCP handle is initialized but neither accepted
  // nor connected. Returns nullptr when uv_tcp_init fails.
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

  // "HOST:PORT" of the peer, read at accept or connect time.
  const std::string& peer() const { return peer_; }

  // For Loop only: writes what Send() queued this turn.
  void Flush();

 private:
  struct WriteReq;
  friend struct std::default_delete<Connection>;  // freed only in OnClose

  Connection(Loop& loop, const Options& options);
  ~Connection();

  Status StartReading();
  void NotePeer();

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void OnWritten(uv_write_t* req, int status) noexcept;
  static void OnClose(uv_handle_t* handle) noexcept;
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  uv_tcp_t tcp_;
  Loop& loop_;
  Handler* handler_ = nullptr;
  proto::FrameDecoder decoder_;
  size_t max_pending_output_;
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
};

}  // namespace hermod::net

#endif  // HERMOD_NET_CONNECTION_H_
