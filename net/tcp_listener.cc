#include "tcp_listener.h"

#include "address.h"
#include "check.h"
#include "loop.h"
#include "uv_status.h"

namespace hermod::net {

TcpListener::TcpListener(Loop& loop, OnConnection on_connection)
    : loop_(loop), on_connection_(std::move(on_connection)) {}

TcpListener::~TcpListener() { HERMOD_CHECK(!open_); }

Status TcpListener::Listen(const std::string& host_port, int backlog) {
  Result<sockaddr_storage> addr = ParseHostPort(host_port);
  if (!addr.ok()) return addr.status();
  Status s = FromUv(uv_tcp_init(loop_.uv(), &tcp_), "tcp init");
  if (!s.ok()) return s;
  open_ = true;
  tcp_.data = this;
  s = FromUv(uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&*addr), 0), "bind " + host_port);
  if (s.ok()) {
    s = FromUv(uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), backlog,
                         [](uv_stream_t* server, int status) noexcept {
                           auto* self = static_cast<TcpListener*>(server->data);
                           // On EMFILE libuv has already shed the pending
                           // connections: nothing to accept this time.
                           if (status < 0 || self->closing_) return;
                           self->on_connection_(server);
                         }),
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

void TcpListener::Close() {
  if (!open_ || closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_),
           [](uv_handle_t* h) noexcept { static_cast<TcpListener*>(h->data)->open_ = false; });
}

}  // namespace hermod::net
