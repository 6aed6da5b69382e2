// RawSocket (raw_socket.h): blocking TCP for protocol-violation tests.
// One thread at a time.
#include "raw_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace hermod::test {

namespace {

using Clock = std::chrono::steady_clock;

Status Errno(const std::string& what) {
  return Status::IoError(what + ": " + std::strerror(errno));
}

}  // namespace

Result<std::unique_ptr<RawSocket>> RawSocket::Connect(const std::string& host_port) {
  return ConnectFrom(host_port, "");
}

Result<std::unique_ptr<RawSocket>> RawSocket::ConnectFrom(const std::string& host_port,
                                                          const std::string& source) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("no port in " + host_port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return Status::InvalidArgument("not an IPv4 address: " + host_port);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  if (!source.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      Status s = Errno("bind " + source);
      ::close(fd);
      return s;
    }
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status s = Errno("connect " + host_port);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<RawSocket>(new RawSocket(fd));
}

RawSocket::RawSocket(int fd) : fd_(fd) {
  int one = 1;
  (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

RawSocket::~RawSocket() { ::close(fd_); }

Status RawSocket::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("send");
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Result<std::string> RawSocket::Read(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, left.count() > 0 ? static_cast<int>(left.count()) : 0);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Errno("poll");
    if (ready == 0) return Status::Timeout("nothing to read");
    char buffer[64 * 1024];
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ECONNRESET) return std::string();
    if (n < 0) return Errno("recv");
    return std::string(buffer, static_cast<size_t>(n));
  }
}

Result<std::string> RawSocket::ReadUntilClosed(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::string all;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Status::Timeout("peer did not close");
    Result<std::string> chunk = Read(left);
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) return all;
    all += *chunk;
  }
}

Result<std::unique_ptr<RawListener>> RawListener::Listen() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Status s = Errno("listen");
    ::close(fd);
    return s;
  }
  return std::unique_ptr<RawListener>(
      new RawListener(fd, "127.0.0.1:" + std::to_string(ntohs(addr.sin_port))));
}

RawListener::~RawListener() { ::close(fd_); }

Result<std::unique_ptr<RawSocket>> RawListener::Accept(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, left.count() > 0 ? static_cast<int>(left.count()) : 0);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Errno("poll");
    if (ready == 0) return Status::Timeout("no connection to accept");
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0 && errno == EINTR) continue;
    if (conn < 0) return Errno("accept");
    return std::unique_ptr<RawSocket>(new RawSocket(conn));
  }
}

}  // namespace hermod::test
