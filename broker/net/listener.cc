#include "listener.h"

#include "address.h"
#include "check.h"
#include "loop.h"
#include "uv_status.h"

namespace hermod::net {

namespace {
// listen() silently caps the backlog at net.core.somaxconn; ask for plenty so
// connection storms (10,000 idle subscribers) are not refused.
constexpr int kBacklog = 4096;
}  // namespace

Listener::Listener(Loop& loop, const Connection::Options& options, AcceptFn on_accept)
    : loop_(loop), options_(options), on_accept_(std::move(on_accept)) {}

Listener::~Listener() { HERMOD_CHECK(!open_); }

Status Listener::Listen(const std::string& host_port) {
  Result<sockaddr_storage> addr = ParseHostPort(host_port);
  if (!addr.ok()) return addr.status();
  Status s = FromUv(uv_tcp_init(loop_.uv(), &tcp_), "tcp init");
  if (!s.ok()) return s;
  open_ = true;
  tcp_.data = this;
  s = FromUv(uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&*addr), 0), "bind " + host_port);
  if (s.ok()) {
    s = FromUv(uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), kBacklog, &OnConnection),
               "listen on " + host_port);
  }
  if (!s.ok()) {
    Close();
    return s;
  }
  sockaddr_storage bound;
  int len = sizeof(bound);
  uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&bound), &len);
  address_ = FormatAddress(reinterpret_cast<sockaddr*>(&bound));
  return Status::OK();
}

void Listener::Close() {
  if (!open_ || closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_),
           [](uv_handle_t* h) noexcept { static_cast<Listener*>(h->data)->open_ = false; });
}

void Listener::OnConnection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<Listener*>(server->data);
  // On EMFILE libuv has already shed the pending connections; there is
  // nothing to accept this time.
  if (status < 0 || self->closing_) return;
  Connection* conn = Connection::Create(self->loop_, self->options_);
  if (conn == nullptr) return;
  // Accept first, so the owner sees the peer's address; no read callback
  // can run before this function returns and the handler is set.
  if (!conn->Accept(server).ok()) return;  // it closes itself
  Connection::Handler* handler = self->on_accept_(*conn);
  if (handler == nullptr) {
    conn->Close(Status(ErrorCode::kShuttingDown, "connection refused"));
    return;
  }
  conn->set_handler(handler);
}

}  // namespace hermod::net
