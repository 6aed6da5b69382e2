// libhermod: the client library of the hermod broker.
//
// A Client holds one connection to hermodd and runs its own libuv loop on a
// background thread. Every method is thread-safe. Callbacks (publish
// confirms, deliveries, state changes) run on that background thread, one at
// a time, in the order their frames arrived; they must not block for long,
// and they may call back into the Client (acking from inside a delivery
// handler is the usual pattern). A callback must not wait for something
// only the client thread can deliver (a Publish future's get(), say): that
// would wait forever. Callbacks must not throw.
//
//   auto client = hermod::Client::Connect({.server = "127.0.0.1:7400"});
//   if (!client.ok()) { ... client.status().ToString() ... }
//   hermod::PublishResult r = (*client)->Publish("user:42", "hello").get();
//
// See docs/protocol.md for what travels on the wire and docs/semantics.md for
// what the broker guarantees.
#ifndef HERMOD_CLIENT_H_
#define HERMOD_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hermod/status.h"

namespace hermod {

struct Header {
  std::string key;
  std::string value;
};

enum class ConnectionState {
  kConnected,     // handshake done; requests flow
  kDisconnected,  // the connection broke; pending requests failed with kUnavailable
  kClosed,        // Close() was called; final
};

struct ClientOptions {
  // "HOST:PORT" of hermodd.
  std::string server = "127.0.0.1:7400";
  // Connect() gives up after this long (TCP connect and handshake together).
  std::chrono::milliseconds connect_timeout{5000};
  // Sent in Hello; shows up in the broker's logs.
  std::string client_name = "libhermod";
  // Largest frame accepted from the broker.
  uint32_t max_frame_bytes = 16u << 20;
  // Called on the client thread when the connection state changes.
  std::function<void(ConnectionState, const Status&)> on_state_change{};
};

// What the broker told us in its Welcome frame.
struct ServerInfo {
  std::string version;
  std::string sync_mode;  // "always", "batch" or "none"
  uint32_t protocol_version = 0;
  uint32_t max_frame_bytes = 0;
};

struct PublishOptions {
  std::vector<Header> headers{};
  // Time to live; zero means the message does not expire.
  std::chrono::milliseconds ttl{0};
  // Publishes with the same dedup id inside the broker's dedup window are
  // stored once. Empty: no deduplication.
  std::string dedup_id{};
};

// The broker's answer to one publish.
struct PublishResult {
  Status status;        // OK once the message is durable
  uint64_t msg_id = 0;  // valid when status.ok()
  uint64_t seq = 0;     // the entry's seq in the queue
  bool duplicate = false;
};

using SubscriptionId = uint32_t;

// One delivery of one queue entry. Ack it (by seq) when done.
struct Delivery {
  SubscriptionId subscription = 0;
  std::string queue;
  uint64_t seq = 0;
  uint64_t msg_id = 0;
  uint32_t delivery_count = 0;   // 1 on the first delivery
  uint64_t publish_time_ms = 0;  // broker clock, milliseconds since the epoch
  std::vector<Header> headers;
  std::string payload;
};

struct SubscribeOptions {
  // The most deliveries the broker keeps unacked on this subscription.
  uint32_t credit = 100;
  // Redelivery deadline for an unacked delivery; zero: the broker's default.
  std::chrono::milliseconds ack_wait{0};
};

using ConfirmCallback = std::function<void(const PublishResult&)>;
using DeliveryHandler = std::function<void(const Delivery&)>;

class Client {
 public:
  // Connects to options.server and completes the handshake, or fails with
  // kUnavailable, kTimeout or kInvalidArgument (a bad address).
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);

  // Closes the connection (see Close) and joins the client thread.
  // REQUIRES: not called from a callback of this client.
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Publishes payload to a queue. `done` runs on the client thread once the
  // broker confirmed the message as durable, or refused it, or the
  // connection was lost first (kUnavailable; the message may or may not have
  // been stored). Never blocks: many publishes may be in flight at once.
  void PublishAsync(std::string_view queue, std::string_view payload, const PublishOptions& options,
                    ConfirmCallback done);
  // The same, with a future instead of a callback.
  std::future<PublishResult> Publish(std::string_view queue, std::string_view payload,
                                     const PublishOptions& options = {});

  // Subscribes to a queue; blocks until the broker accepted or refused.
  // `handler` runs on the client thread for every delivery. Called from a
  // callback of this client it cannot block and returns kInvalidArgument.
  Result<SubscriptionId> Subscribe(std::string_view queue, const SubscribeOptions& options,
                                   DeliveryHandler handler);
  // Acknowledges one delivery, or every delivery of the subscription with
  // first <= seq <= last. Asynchronous: returns once the frame is queued.
  Status Ack(SubscriptionId subscription, uint64_t seq);
  Status AckRange(SubscriptionId subscription, uint64_t first_seq, uint64_t last_seq);
  // Gives a delivery back, to be delivered again after `delay`.
  Status Nack(SubscriptionId subscription, uint64_t seq,
              std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  // Changes a subscription's credit.
  Status SetCredit(SubscriptionId subscription, uint32_t credit);
  // Stops a subscription; its unacked deliveries go back to the queue. No
  // delivery reaches the handler after it returns. Blocks until the broker
  // confirmed, which also means it handled every ack sent before; called
  // from a callback of this client, it returns without waiting.
  Status Unsubscribe(SubscriptionId subscription);

  const ServerInfo& server_info() const;
  bool connected() const;

  // Closes the connection. Acks, nacks and credit changes made before are
  // still sent while the connection stands; publishes still unconfirmed
  // complete with kClosed, and later ones at once, on the calling thread,
  // with kClosed. Idempotent; safe from any thread, callbacks included. From
  // any other thread it returns once the client thread has stopped: no
  // callback runs after it.
  void Close();

 private:
  class Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hermod

#endif  // HERMOD_CLIENT_H_
