// Listener: a listening TCP socket, or Unix socket ("unix:PATH"), that
// turns accepted sockets into Connections and hands each to its owner.
//
// The owner closes the Listener (Close) before the loop closes; the object
// may be destroyed only after its close callback ran (closed() is true).
// Loop thread only.
#ifndef HERMOD_NET_LISTENER_H_
#define HERMOD_NET_LISTENER_H_

#include <functional>
#include <string>

#include "connection.h"
#include "hermod/status.h"
#include "tcp_listener.h"
#include "unix_listener.h"

namespace hermod::net {

class Loop;

class Listener {
 public:
  // on_accept returns the handler for a new connection, or nullptr to refuse
  // it (the connection is then closed at once).
  using AcceptFn = std::function<Connection::Handler*(Connection&)>;

  Listener(Loop& loop, const Connection::Options& options, AcceptFn on_accept);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds to "HOST:PORT" (port 0: any free port), or to the Unix socket
  // "unix:PATH" (unix_listener.h), and starts listening.
  Status Listen(const std::string& address);
  // "HOST:PORT" actually bound, with the real port; or "unix:PATH".
  const std::string& address() const { return unix_ ? unix_listener_.address() : tcp_.address(); }
  // Connections accepted from now on use this TLS context (null:
  // plaintext); those already open keep theirs. For certificate reloads.
  void set_tls(std::shared_ptr<const TlsContext> tls) { options_.tls = std::move(tls); }
  // Stops accepting. Idempotent.
  void Close() {
    tcp_.Close();
    unix_listener_.Close();
  }
  bool closed() const { return tcp_.closed() && unix_listener_.closed(); }

 private:
  void OnConnection(uv_stream_t* server);

  Loop& loop_;
  Connection::Options options_;
  AcceptFn on_accept_;
  TcpListener tcp_;
  UnixListener unix_listener_;
  bool unix_ = false;
};

}  // namespace hermod::net

#endif  // HERMOD_NET_LISTENER_H_
