// UnixListener: a listening Unix domain socket on a Loop, for clients on
// the same host ("unix:/run/hermod/hermod.sock"). The twin of TcpListener:
// it calls back for each connection waiting to be accepted.
//
// The socket file is made mode 0660 (owner and group may connect) before
// the socket listens, so no one else can connect in between. A stale file
// left by a process that died (a socket nobody accepts on) is replaced; a
// socket some process still serves, or a file that is not a socket, is
// refused. Close() removes the file this listener made.
//
// The owner calls Close() before the loop closes; destroy only after its
// close callback ran (closed() is true). Loop thread only.
#ifndef HERMOD_NET_UNIX_LISTENER_H_
#define HERMOD_NET_UNIX_LISTENER_H_

#include <uv.h>

#include <functional>
#include <string>

#include "hermod/status.h"

namespace hermod::net {

class Loop;

class UnixListener {
 public:
  using OnConnection = std::function<void(uv_stream_t* server)>;

  // Mode of the socket file.
  static constexpr unsigned kFileMode = 0660;

  UnixListener(Loop& loop, OnConnection on_connection);
  ~UnixListener();  // REQUIRES: never listened, or closed()
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  // Binds to the socket file `path` and starts listening.
  Status Listen(const std::string& path, int backlog);
  // "unix:PATH".
  const std::string& address() const { return address_; }
  // Stops listening and removes the socket file. Idempotent.
  void Close();
  bool closed() const { return !open_; }

 private:
  Loop& loop_;
  OnConnection on_connection_;
  uv_pipe_t pipe_;
  std::string path_;
  std::string address_;
  bool open_ = false;
  bool closing_ = false;
  bool bound_ = false;  // the file is ours to remove
};

// Whether `address` names a Unix socket ("unix:PATH"); sets *path if so.
bool IsUnixAddress(const std::string& address, std::string* path = nullptr);

}  // namespace hermod::net

#endif  // HERMOD_NET_UNIX_LISTENER_H_
