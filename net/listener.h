// Listener: a listening TCP socket that turns accepted sockets into
// Connections and hands each to its owner.
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

  // Binds to "HOST:PORT" (port 0: any free port) and starts listening.
  Status Listen(const std::string& host_port);
  // "HOST:PORT" actually bound, with the real port.
  const std::string& address() const { return tcp_.address(); }
  // Stops accepting. Idempotent.
  void Close() { tcp_.Close(); }
  bool closed() const { return tcp_.closed(); }

 private:
  void OnConnection(uv_stream_t* server);

  Loop& loop_;
  Connection::Options options_;
  AcceptFn on_accept_;
  TcpListener tcp_;
};

}  // namespace hermod::net

#endif  // HERMOD_NET_LISTENER_H_
