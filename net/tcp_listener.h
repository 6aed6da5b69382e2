// TcpListener: a listening TCP socket on a Loop that calls back for each
// connection waiting to be accepted. The framed-protocol Listener and the
// metrics HttpServer both sit on it.
//
// The owner calls Close() before the loop closes; destroy only after its
// close callback ran (closed() is true). Loop thread only.
#ifndef HERMOD_NET_TCP_LISTENER_H_
#define HERMOD_NET_TCP_LISTENER_H_

#include <uv.h>

#include <functional>
#include <string>

#include "hermod/status.h"

namespace hermod::net {

class Loop;

class TcpListener {
 public:
  // Called with the listening stream when a connection is waiting; the
  // callee must uv_accept it (libuv stops reading the listener otherwise).
  using OnConnection = std::function<void(uv_stream_t* server)>;

  TcpListener(Loop& loop, OnConnection on_connection);
  ~TcpListener();  // REQUIRES: never listened, or closed()
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  // Binds to "HOST:PORT" (port 0: any free port) and starts listening.
  Status Listen(const std::string& host_port, int backlog);
  // "HOST:PORT" actually bound, with the real port.
  const std::string& address() const { return address_; }
  // Stops listening. Idempotent.
  void Close();
  bool closing() const { return closing_; }
  bool closed() const { return !open_; }

 private:
  Loop& loop_;
  OnConnection on_connection_;
  uv_tcp_t tcp_;
  std::string address_;
  bool open_ = false;  // the handle exists and its close callback has not run
  bool closing_ = false;
};

}  // namespace hermod::net

#endif  // HERMOD_NET_TCP_LISTENER_H_
