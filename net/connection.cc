#include "connection.h"

#include <sys/socket.h>

#include <memory>

#include "address.h"
#include "check.h"
#include "loop.h"
#include "tls_stream.h"
#include "uv_status.h"

namespace hermod::net {

// One write in flight: the request and the bytes it writes live and die
// together, whatever the write's outcome.
struct Connection::WriteReq {
  uv_write_t req;
  Connection* conn;
  std::string bytes;
};

namespace {

struct ConnectReq {
  uv_connect_t req;
  Connection* conn;
  std::function<void(const Status&)> done;
};

}  // namespace

Connection* Connection::Create(Loop& loop, const Options& options) {
  std::unique_ptr<Connection> conn(new Connection(loop, options));
  if (options.tls != nullptr) {
    conn->tls_ = TlsStream::Create(*options.tls, options.tls_server_name);
    if (conn->tls_ == nullptr) return nullptr;
  }
  int rc = options.unix_socket ? uv_pipe_init(loop.uv(), &conn->pipe_, 0)
                               : uv_tcp_init(loop.uv(), &conn->tcp_);
  if (rc < 0) return nullptr;
  conn->stream()->data = conn.get();
  // From here on the connection is freed only by its close callback.
  return conn.release();
}

Connection::Connection(Loop& loop, const Options& options)
    : loop_(loop),
      decoder_(options.max_frame_bytes),
      max_pending_output_(options.max_pending_output),
      unix_socket_(options.unix_socket) {}

Connection::~Connection() {
  if (flush_scheduled_) loop_.CancelFlush(this);
}

Status Connection::Accept(uv_stream_t* server) {
  Status s = FromUv(uv_accept(server, stream()), "accept");
  if (s.ok()) {
    NotePeer();
    s = StartReading();
  }
  if (!s.ok()) Close(s);
  return s;
}

void Connection::Connect(const sockaddr* addr, std::function<void(const Status&)> done) {
  HERMOD_CHECK(handler_ != nullptr);
  HERMOD_CHECK(!unix_socket_);
  auto req = std::make_unique<ConnectReq>();
  req->conn = this;
  req->done = std::move(done);
  req->req.data = req.get();
  int rc = uv_tcp_connect(&req->req, &tcp_, addr, &Connection::OnConnected);
  if (rc < 0) {
    // libuv: when the call fails, the callback is never called.
    Status s = FromUv(rc, "connect");
    req->done(s);
    Close(s);
    return;
  }
  req.release();  // owned by the callback now
}

void Connection::ConnectUnix(const std::string& path, std::function<void(const Status&)> done) {
  HERMOD_CHECK(handler_ != nullptr);
  HERMOD_CHECK(unix_socket_);
  auto req = std::make_unique<ConnectReq>();
  req->conn = this;
  req->done = std::move(done);
  req->req.data = req.get();
  // Errors, even immediate ones, arrive through the callback.
  uv_pipe_connect(&req->req, &pipe_, path.c_str(), &Connection::OnConnected);
  req.release();
}

void Connection::OnConnected(uv_connect_t* r, int status) noexcept {
  std::unique_ptr<ConnectReq> req(static_cast<ConnectReq*>(r->data));
  Connection* conn = req->conn;
  Status s = status == UV_ECANCELED ? Status(ErrorCode::kClosed, "connection closed")
                                    : FromUv(status, "connect");
  if (s.ok() && !conn->closing_) {
    conn->NotePeer();
    s = conn->StartReading();
    if (s.ok() && conn->tls_ != nullptr) {
      // The client speaks first: its hello leaves with this turn's flush.
      s = conn->tls_->StartHandshake();
      if (s.ok()) conn->ScheduleFlushOnce();
    }
  }
  req->done(s);
  if (!s.ok()) conn->Close(s);
}

const std::string& Connection::peer_subject() const {
  static const std::string kNone;
  return tls_ != nullptr ? tls_->peer_subject() : kNone;
}

void Connection::NotePeer() {
  if (unix_socket_) {
    uv_os_fd_t fd;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&pipe_), &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      peer_credentials_ =
          PeerCredentials{static_cast<uint32_t>(cred.pid), static_cast<uint32_t>(cred.uid),
                          static_cast<uint32_t>(cred.gid)};
      peer_ = "unix/uid=" + std::to_string(cred.uid) + ":pid=" + std::to_string(cred.pid);
    } else {
      peer_ = "unix/unknown:0";
    }
    return;
  }
  sockaddr_storage addr;
  int len = sizeof(addr);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    peer_ = FormatAddress(reinterpret_cast<sockaddr*>(&addr));
  }
}

Status Connection::StartReading() {
  // Our own write batching replaces Nagle's; Nagle would only delay replies.
  if (!unix_socket_) uv_tcp_nodelay(&tcp_, 1);
  reading_ = true;
  if (paused_) return Status::OK();
  return FromUv(uv_read_start(stream(), &Connection::OnAlloc, &Connection::OnRead), "read");
}

void Connection::PauseReading() {
  if (paused_ || closing_) return;
  paused_ = true;
  if (reading_) uv_read_stop(stream());
}

void Connection::ResumeReading() {
  if (!paused_ || closing_) return;
  paused_ = false;
  if (reading_) {
    Status s = FromUv(uv_read_start(stream(), &Connection::OnAlloc, &Connection::OnRead), "read");
    if (!s.ok()) Close(s);
  }
}

void Connection::OnAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) noexcept {
  auto* conn = static_cast<Connection*>(handle->data);
  if (conn->tls_ != nullptr) {
    // Ciphertext goes to OpenSSL, which copies it; plaintext is decrypted
    // into the decoder's space later (OnTlsRead).
    conn->reading_partial_ = false;
    std::span<uint8_t> shared = conn->loop_.read_buffer();
    *buf =
        uv_buf_init(reinterpret_cast<char*>(shared.data()), static_cast<unsigned>(shared.size()));
    return;
  }
  // The rest of a partly received frame is read straight into its own
  // buffer, so large frames are not copied twice and the next frame starts
  // 8-byte aligned in the shared buffer.
  std::span<uint8_t> space = conn->decoder_.PartialSpace();
  conn->reading_partial_ = !space.empty();
  if (space.empty()) space = conn->loop_.read_buffer();
  *buf = uv_buf_init(reinterpret_cast<char*>(space.data()), static_cast<unsigned>(space.size()));
}

void Connection::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* conn = static_cast<Connection*>(stream->data);
  if (nread == 0) return;  // EAGAIN, not end of stream
  if (nread < 0) {
    conn->Close(nread == UV_EOF ? Status(ErrorCode::kUnavailable, "peer closed the connection")
                                : FromUv(static_cast<int>(nread), "read"));
    return;
  }
  if (conn->tls_ != nullptr) {
    conn->OnTlsRead(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread));
    return;
  }
  auto on_frame = [conn](const wire::Frame& frame) {
    if (conn->closing_) return false;
    return conn->handler_->OnFrame(*conn, frame);
  };
  Status s = conn->reading_partial_
                 ? conn->decoder_.CommitPartial(static_cast<size_t>(nread), on_frame)
                 : conn->decoder_.Feed(reinterpret_cast<const uint8_t*>(buf->base),
                                       static_cast<size_t>(nread), on_frame);
  if (!s.ok() && !conn->closing_) conn->handler_->OnBadInput(*conn, s);
}

void Connection::OnTlsRead(const uint8_t* data, size_t size) {
  Status s = tls_->Feed(data, size);
  if (!s.ok()) {
    if (tls_->plaintext_peer() && tls_->server()) {
      // A plaintext client: answer it in plaintext, through the handler
      // (an Error frame it can read), and close.
      tls_.reset();
      handler_->OnBadInput(*this, s);
      if (!closing_) Close(s);
    } else {
      Close(s);
    }
    return;
  }
  auto on_frame = [this](const wire::Frame& frame) {
    if (closing_) return false;
    return handler_->OnFrame(*this, frame);
  };
  // Every whole record is decrypted now, as a plaintext read is decoded
  // whole: pausing stops the next read, not this one.
  while (!closing_) {
    std::span<uint8_t> space = decoder_.PartialSpace();
    const bool partial = !space.empty();
    if (!partial) space = loop_.read_buffer();
    Result<size_t> n = tls_->Read(space);
    if (!n.ok()) {
      Close(n.status());  // sends the alert OpenSSL queued, if it can
      return;
    }
    if (*n == 0) break;
    s = partial ? decoder_.CommitPartial(*n, on_frame) : decoder_.Feed(space.data(), *n, on_frame);
    if (!s.ok()) {
      if (!closing_) handler_->OnBadInput(*this, s);
      return;
    }
  }
  // Handshake replies must leave, and frames queued before the handshake
  // completed may go now.
  if (!closing_ && (tls_->has_output() || (tls_->handshake_done() && !out_.empty()))) {
    ScheduleFlushOnce();
  }
}

void Connection::ScheduleFlushOnce() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  loop_.ScheduleFlush(this);
}

Status Connection::EncryptOutput(std::string* wire) {
  if (tls_->handshake_done() && !out_.empty()) {
    Status s = tls_->Write(out_);
    if (!s.ok()) return s;
    loop_.GiveBuffer(std::move(out_));
    out_ = std::string();
  }
  tls_->TakeOutput(wire);
  return Status::OK();
}

void Connection::Send(std::span<const uint8_t> frame) {
  if (closing_) return;
  if (out_.empty() && !flush_scheduled_) {
    out_ = loop_.TakeBuffer();
    flush_scheduled_ = true;
    loop_.ScheduleFlush(this);
  }
  out_.append(reinterpret_cast<const char*>(frame.data()), frame.size());
  if (pending_output() > max_pending_output_) {
    Close(Status(
        ErrorCode::kSlowConsumer,
        "peer does not read its output (" + std::to_string(pending_output()) + " bytes pending)"));
  }
}

void Connection::Flush() {
  flush_scheduled_ = false;
  if (closing_ || write_in_flight_) return;
  if (tls_ != nullptr) {
    std::string wire = loop_.TakeBuffer();
    Status s = EncryptOutput(&wire);
    if (!s.ok()) {
      Close(s);
      return;
    }
    if (wire.empty()) {
      loop_.GiveBuffer(std::move(wire));
      return;
    }
    Write(wire);
    return;
  }
  if (out_.empty()) return;
  Write(out_);
}

void Connection::Write(std::string& bytes) {
  // Most turns' output fits the socket buffer: write it now, without a
  // request, and queue only what the kernel did not take.
  uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
  int n = uv_try_write(stream(), &buf, 1);
  if (n == static_cast<int>(bytes.size())) {
    loop_.GiveBuffer(std::move(bytes));
    bytes = std::string();
    // With TLS, frames may still wait for the handshake.
    if (handler_ && out_.empty()) handler_->OnDrained(*this);
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    Close(FromUv(n, "write"));
    return;
  }
  size_t written = n > 0 ? static_cast<size_t>(n) : 0;
  auto req = std::make_unique<WriteReq>();
  req->conn = this;
  req->bytes = std::move(bytes);
  bytes = std::string();
  req->req.data = req.get();
  uv_buf_t rest =
      uv_buf_init(req->bytes.data() + written, static_cast<unsigned>(req->bytes.size() - written));
  int rc = uv_write(&req->req, stream(), &rest, 1, &Connection::OnWritten);
  if (rc < 0) {
    Close(FromUv(rc, "write"));  // the callback will not run: req dies here
    return;
  }
  writing_bytes_ = rest.len;
  write_in_flight_ = true;
  req.release();  // owned by OnWritten now
}

void Connection::OnWritten(uv_write_t* r, int status) noexcept {
  std::unique_ptr<WriteReq> req(static_cast<WriteReq*>(r->data));
  Connection* conn = req->conn;
  conn->write_in_flight_ = false;
  conn->writing_bytes_ = 0;
  conn->loop_.GiveBuffer(std::move(req->bytes));
  if (status < 0) {
    conn->Close(FromUv(status, "write"));  // UV_ECANCELED when already closing
    return;
  }
  if (!conn->out_.empty() || (conn->tls_ != nullptr && conn->tls_->has_output())) {
    conn->Flush();
  } else if (conn->handler_ && !conn->closing_) {
    conn->handler_->OnDrained(*conn);
  }
}

void Connection::Close(const Status& why) {
  if (closing_) return;
  // Give queued output (typically an Error frame, or a TLS alert) one
  // chance to leave.
  if (!write_in_flight_ && reading_) {
    std::string wire;
    if (tls_ != nullptr) (void)EncryptOutput(&wire);
    std::string& bytes = tls_ != nullptr ? wire : out_;
    if (!bytes.empty()) {
      uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
      (void)uv_try_write(stream(), &buf, 1);
    }
  }
  closing_ = true;
  close_reason_ = why;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::OnClose);
}

void Connection::OnClose(uv_handle_t* handle) noexcept {
  std::unique_ptr<Connection> conn(static_cast<Connection*>(handle->data));
  if (conn->handler_) conn->handler_->OnClosed(*conn, conn->close_reason_);
}

}  // namespace hermod::net
