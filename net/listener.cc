#include "listener.h"

#include "loop.h"

namespace hermod::net {

namespace {
// listen() silently caps the backlog at net.core.somaxconn; ask for plenty so
// connection storms (10,000 idle subscribers) are not refused.
constexpr int kBacklog = 4096;
}  // namespace

Listener::Listener(Loop& loop, const Connection::Options& options, AcceptFn on_accept)
    : loop_(loop),
      options_(options),
      on_accept_(std::move(on_accept)),
      tcp_(loop, [this](uv_stream_t* server) { OnConnection(server); }),
      unix_listener_(loop, [this](uv_stream_t* server) { OnConnection(server); }) {}

Status Listener::Listen(const std::string& address) {
  std::string path;
  if (IsUnixAddress(address, &path)) {
    unix_ = true;
    options_.unix_socket = true;
    return unix_listener_.Listen(path, kBacklog);
  }
  return tcp_.Listen(address, kBacklog);
}

void Listener::OnConnection(uv_stream_t* server) {
  Connection* conn = Connection::Create(loop_, options_);
  if (conn == nullptr) return;
  // Accept first, so the owner sees the peer's address; no read callback
  // can run before this function returns and the handler is set.
  if (!conn->Accept(server).ok()) return;  // it closes itself
  Connection::Handler* handler = on_accept_(*conn);
  if (handler == nullptr) {
    conn->Close(Status(ErrorCode::kShuttingDown, "connection refused"));
    return;
  }
  conn->set_handler(handler);
}

}  // namespace hermod::net
