// RawConnections (raw_connections.h): nonblocking connects, the handshake
// and one Subscribe per connection, all on one epoll loop.
#include "bench/raw_connections.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "frame_codec.h"

namespace hermod::bench {

namespace {
// Frames from the broker larger than this are a protocol error here: it
// sends only Welcome, SubscribeOk and Error to these connections.
constexpr uint32_t kMaxFrameBytes = 64 * 1024;

Status Errno(const std::string& what) {
  return Status::IoError(what + ": " + std::strerror(errno));
}
}  // namespace

struct RawConnections::Conn {
  explicit Conn(uint64_t i) : index(i), decoder(kMaxFrameBytes) {}
  ~Conn() {
    if (fd >= 0) close(fd);
  }
  enum class State { kConnecting, kHandshake, kSubscribed, kClosed };
  uint64_t index;
  int fd = -1;
  State state = State::kConnecting;
  bool welcomed = false;
  proto::FrameDecoder decoder;
};

RawConnections::RawConnections(Options options) : options_(std::move(options)) {
  broker_.sin_family = AF_INET;
  broker_.sin_port = htons(options_.port);
  inet_pton(AF_INET, options_.host.c_str(), &broker_.sin_addr);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
}

RawConnections::~RawConnections() {
  CloseAll();
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void RawConnections::CloseAll() { conns_.clear(); }

Status RawConnections::Start(uint64_t index) {
  auto conn = std::make_unique<Conn>(index);
  conn->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (conn->fd < 0) return Errno("socket");
  if (options_.source_addresses > 1) {
    // Let connect() pick the port for the whole 4-tuple, so that each
    // source address has its own ephemeral port range.
    int one = 1;
    setsockopt(conn->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl(INADDR_LOOPBACK + index % options_.source_addresses);
    if (bind(conn->fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0) {
      return Errno("bind to a 127.0.0.x source address");
    }
  }
  if (connect(conn->fd, reinterpret_cast<sockaddr*>(&broker_), sizeof(broker_)) != 0 &&
      errno != EINPROGRESS) {
    return Errno("connect");
  }
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn->fd, &ev) != 0) return Errno("epoll_ctl");
  conns_[index] = std::move(conn);
  ++handshaking_;
  return Status::OK();
}

Status RawConnections::OnWritable(Conn& conn) {
  int error = 0;
  socklen_t len = sizeof(error);
  getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    errno = error;
    return Errno("connect to " + options_.host + ":" + std::to_string(options_.port));
  }
  // Hello and Subscribe leave together: the broker handles frames in order.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  proto::FrameEncoder encoder;
  std::string out;
  {
    auto& fbb = encoder.Start();
    const std::string client_id = std::to_string(rng());
    auto hello = wire::CreateHelloDirect(
        fbb, proto::kProtocolVersion, "hermod bench connections",
        options_.auth_token.empty() ? nullptr : options_.auth_token.c_str(), client_id.c_str(),
        false, options_.principal.empty() ? nullptr : options_.principal.c_str());
    std::span<const uint8_t> bytes = encoder.Finish(hello);
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  {
    auto& fbb = encoder.Start();
    const std::string queue = options_.queue_prefix + std::to_string(conn.index);
    auto subscribe = wire::CreateSubscribeDirect(fbb, /*correlation_id=*/1, /*subscription_id=*/1,
                                                 queue.c_str(), /*credit=*/1, /*ack_wait_ms=*/0);
    std::span<const uint8_t> bytes = encoder.Finish(subscribe);
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  // A fresh socket's send buffer takes these few hundred bytes at once.
  ssize_t n = send(conn.fd, out.data(), out.size(), MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(out.size())) return Errno("send Hello");
  conn.state = Conn::State::kHandshake;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = conn.index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &ev) != 0) return Errno("epoll_ctl");
  return Status::OK();
}

Status RawConnections::OnReadable(Conn& conn) {
  uint8_t buffer[16 * 1024];
  for (;;) {
    ssize_t n = recv(conn.fd, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Status::OK();
    if (n <= 0) {
      if (conn.state == Conn::State::kSubscribed) {
        ++closed_by_broker_;
        conn.state = Conn::State::kClosed;
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
        return Status::OK();
      }
      return n == 0 ? Status::Unavailable("the broker closed a connection during its handshake")
                    : Errno("recv");
    }
    Status failure;
    Status fed = conn.decoder.Feed(buffer, static_cast<size_t>(n), [&](const wire::Frame& f) {
      switch (f.body_type()) {
        case wire::Body::Welcome:
          conn.welcomed = true;
          heartbeat_ms_ = f.body_as_Welcome()->heartbeat_ms();
          break;
        case wire::Body::SubscribeOk:
          if (conn.state == Conn::State::kHandshake && conn.welcomed) {
            conn.state = Conn::State::kSubscribed;
            --handshaking_;
            subscribed_.fetch_add(1);
          }
          break;
        case wire::Body::Error:
          failure = Status(static_cast<ErrorCode>(f.body_as_Error()->code()),
                           proto::View(f.body_as_Error()->message()));
          return false;
        default:
          break;  // nothing else is expected; an idle connection ignores it
      }
      return true;
    });
    if (!fed.ok()) return fed;
    if (!failure.ok()) return failure;
  }
}

Status RawConnections::Poll(int timeout_ms) {
  epoll_event events[256];
  int n = epoll_wait(epoll_fd_, events, 256, timeout_ms);
  if (n < 0) return errno == EINTR ? Status::OK() : Errno("epoll_wait");
  for (int i = 0; i < n; ++i) {
    Conn& conn = *conns_[events[i].data.u64];
    Status s;
    if (conn.state == Conn::State::kConnecting && (events[i].events & (EPOLLOUT | EPOLLERR))) {
      s = OnWritable(conn);
    } else if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      s = OnReadable(conn);
    }
    if (!s.ok()) return s;
  }
  MaybePingAll();
  return Status::OK();
}

void RawConnections::MaybePingAll() {
  if (heartbeat_ms_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ping_ < std::chrono::milliseconds(heartbeat_ms_ / 2)) return;
  last_ping_ = now;
  proto::FrameEncoder encoder;
  auto& fbb = encoder.Start();
  std::span<const uint8_t> ping = encoder.Finish(wire::CreatePing(fbb, 0));
  for (const std::unique_ptr<Conn>& conn : conns_) {
    if (conn == nullptr || conn->state == Conn::State::kConnecting ||
        conn->state == Conn::State::kClosed) {
      continue;
    }
    // A few bytes into an idle socket's send buffer: they fit, or the
    // connection is in trouble anyway and the next round tries again.
    (void)send(conn->fd, ping.data(), ping.size(), MSG_NOSIGNAL);
  }
}

Status RawConnections::Open(uint64_t count, std::chrono::steady_clock::time_point deadline) {
  if (epoll_fd_ < 0) return Errno("epoll_create1");
  if (broker_.sin_addr.s_addr == 0)
    return Status::InvalidArgument("bad IPv4 address " + options_.host);
  conns_.resize(count);
  uint64_t started = 0;
  while (subscribed_.load() < count) {
    while (started < count && handshaking_ < options_.parallel) {
      if (Status s = Start(started); !s.ok()) return s;
      ++started;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Timeout(std::to_string(subscribed_.load()) + " of " + std::to_string(count) +
                             " connections subscribed before --duration ended");
    }
    if (Status s = Poll(10); !s.ok()) return s;
  }
  return Status::OK();
}

Status RawConnections::Idle(std::chrono::milliseconds how_long) {
  const auto end = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < end) {
    if (Status s = Poll(50); !s.ok()) return s;
  }
  return Status::OK();
}

}  // namespace hermod::bench
