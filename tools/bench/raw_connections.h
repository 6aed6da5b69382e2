// RawConnections: many idle subscribed connections to hermodd, for
// `hermod bench connections`, without libhermod.
//
// Why not libhermod: a Client runs its own libuv loop on its own thread and
// holds at least three descriptors (socket, epoll, eventfd; libuv adds
// pipes). 10,000 Clients would be 10,000 threads and
// 30,000 or more descriptors, over this machine's hard limit of 20,000.
// Here one thread drives every connection with epoll, one descriptor each,
// speaking the protocol through the one shared codec
// (schemas/frame_codec.h): Hello, then Subscribe with credit 1 to a queue of
// its own, then only the Ping each heartbeat period the broker asks for
// in Welcome (a silent connection is closed after two periods).
//
// Source addresses: each connection may bind to one of several loopback
// addresses (127.0.0.1, .2, ...) with IP_BIND_ADDRESS_NO_PORT, so that more
// connections than the ephemeral port range allows can reach one broker port.
//
// Thread-compatible: one thread uses a RawConnections at a time.
#ifndef HERMOD_TOOLS_BENCH_RAW_CONNECTIONS_H_
#define HERMOD_TOOLS_BENCH_RAW_CONNECTIONS_H_

#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hermod/status.h"

namespace hermod::bench {

class RawConnections {
 public:
  struct Options {
    std::string host = "127.0.0.1";  // the broker, IPv4 only
    uint16_t port = 0;
    std::string queue_prefix;       // connection i subscribes to <queue_prefix><i>
    uint32_t source_addresses = 1;  // connection i binds to 127.0.0.(1 + i % this)
    uint32_t parallel = 64;         // handshakes in progress at once at most
    std::string auth_token;         // sent in Hello when not empty
    // Sent in Hello when not empty. Hello and Subscribe go in one write, so
    // the principal's token must be in the broker's verified cache already
    // (the command's own first connection puts it there).
    std::string principal;
  };

  explicit RawConnections(Options options);
  // Closes every connection.
  ~RawConnections();
  RawConnections(const RawConnections&) = delete;
  RawConnections& operator=(const RawConnections&) = delete;

  // Opens `count` connections, each through connect, Hello/Welcome and
  // Subscribe/SubscribeOk, at most `parallel` at a time. Returns once all
  // are subscribed, or the first failure, or at `deadline` (kTimeout).
  Status Open(uint64_t count, std::chrono::steady_clock::time_point deadline);

  // Services the open connections (reads and drops what the broker sends,
  // notes closes) for `how_long`.
  Status Idle(std::chrono::milliseconds how_long);

  // Closes every connection.
  void CloseAll();

  uint64_t subscribed() const { return subscribed_.load(); }
  // The same, for a progress display on another thread.
  const std::atomic<uint64_t>* subscribed_counter() const { return &subscribed_; }
  // Connections the broker closed after they were subscribed.
  uint64_t closed_by_broker() const { return closed_by_broker_; }

 private:
  struct Conn;

  Status Start(uint64_t index);
  // Handles epoll events for up to `timeout_ms`; fails on the first broken
  // handshake.
  Status Poll(int timeout_ms);
  Status OnWritable(Conn& conn);
  Status OnReadable(Conn& conn);
  // Sends a Ping on every open connection once per half heartbeat period.
  void MaybePingAll();

  Options options_;
  sockaddr_in broker_{};
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;
  uint64_t handshaking_ = 0;
  std::atomic<uint64_t> subscribed_{0};
  uint64_t closed_by_broker_ = 0;
  uint32_t heartbeat_ms_ = 0;  // from Welcome; 0: none
  std::chrono::steady_clock::time_point last_ping_{};
};

}  // namespace hermod::bench

#endif  // HERMOD_TOOLS_BENCH_RAW_CONNECTIONS_H_
