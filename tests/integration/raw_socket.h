// RawSocket: a blocking TCP socket for tests that must speak bytes the
// client library would never send (protocol-violation tests), and
// RawListener, which accepts them (tests that play the broker).
//
// Every read waits at most the given timeout; writes use MSG_NOSIGNAL, so a
// peer that closed gives an error rather than SIGPIPE. One thread at a time.
#ifndef HERMOD_TESTS_INTEGRATION_RAW_SOCKET_H_
#define HERMOD_TESTS_INTEGRATION_RAW_SOCKET_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::test {

class RawSocket {
 public:
  // Connects to "IPV4:PORT".
  static Result<std::unique_ptr<RawSocket>> Connect(const std::string& host_port);
  // The same, from the given local IPv4 address (e.g. "127.0.0.2").
  static Result<std::unique_ptr<RawSocket>> ConnectFrom(const std::string& host_port,
                                                        const std::string& source);
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  // Writes all of bytes.
  Status Write(std::string_view bytes);
  // Reads what is available, waiting up to timeout for the first byte.
  // Returns "" at end of stream, kTimeout when nothing came.
  Result<std::string> Read(std::chrono::milliseconds timeout);
  // Reads until the peer closes (returns everything read meanwhile) or the
  // timeout passes (kTimeout). A reset by the peer counts as closed.
  Result<std::string> ReadUntilClosed(std::chrono::milliseconds timeout);

 private:
  friend class RawListener;
  // Takes fd and turns Nagle off: tests write small frames one by one.
  explicit RawSocket(int fd);
  int fd_;
};

class RawListener {
 public:
  // Listens on 127.0.0.1 with a port the kernel picks.
  static Result<std::unique_ptr<RawListener>> Listen();
  ~RawListener();
  RawListener(const RawListener&) = delete;
  RawListener& operator=(const RawListener&) = delete;

  // "127.0.0.1:PORT".
  const std::string& address() const { return address_; }
  // Accepts one connection, waiting up to timeout (kTimeout).
  Result<std::unique_ptr<RawSocket>> Accept(std::chrono::milliseconds timeout);

 private:
  RawListener(int fd, std::string address) : fd_(fd), address_(std::move(address)) {}
  int fd_;
  std::string address_;
};

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_RAW_SOCKET_H_
