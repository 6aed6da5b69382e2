// Listener: a listening TCP socket that turns accepted sockets into
// Connections and hands each to its owner.
//
// The owner closes the Listener (Close) before the loop closes; the object
// may be destroyed only after its close callback ran (closed() is true).
// Loop thread only.
#ifndef HERMOD_BROKER_NET_LISTENER_H_
#define HERMOD_BROKER_NET_LISTENER_H_

#include <uv.h>

#include <functional>
#include <string>

#include "connection.h"
#include "hermod/status.h"

namespace hermod::net {

class Loop;

class Listener {
 public:
  // on_accept returns the handler for a new connection, or nullptr to refuse
  // it (the connection is then closed at once).
  using AcceptFn = std::function<Connection::Handler*(Connection&)>;

  Listener(Loop& loop, const Connection::Options& options, AcceptFn on_accept);
  ~Listener();  // REQUIRES: never listened, or closed() is true.
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds to "HOST:PORT" (port 0: any free port) and starts listening.
  Status Listen(const std::string& host_port);
  // "HOST:PORT" actually bound, with the real port.
  const std::string& address() const { return address_; }
  // Stops accepting. Idempotent.
  void Close();
  bool closed() const { return !open_; }

 private:
  static void OnConnection(uv_stream_t* server, int status) noexcept;

  uv_tcp_t tcp_;
  Loop& loop_;
  Connection::Options options_;
  AcceptFn on_accept_;
  std::string address_;
  bool open_ = false;  // the handle exists and its close callback has not run
  bool closing_ = false;
};

}  // namespace hermod::net

#endif  // HERMOD_BROKER_NET_LISTENER_H_
