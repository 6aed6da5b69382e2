// Client::Impl: the machinery behind hermod::Client (client.h).
//
// An Impl owns a net::Loop and the std::thread that runs it (the "loop
// thread"). Everything libuv-facing lives on that thread: the one
// net::Connection, its FrameEncoder, the timers, the pending publishes and
// requests, and the subscriptions. Application threads never touch them:
//   - publishes, acks, nacks and credit changes go through the Outbox (one
//     loop wakeup drains a whole batch);
//   - Subscribe, Unsubscribe and Close post a closure with Loop::Post and,
//     where the API blocks, wait on a future the loop thread fulfils.
// Callbacks into the application (confirms, deliveries, state changes) run
// on the loop thread, never while a lock is held.
//
// Connection handling lives in one place: BeginConnect() starts it,
// OnWelcome() completes it, and OnClosed() -> HandleConnectionLost() is the
// single path by which a connection ends, whatever the cause (socket error,
// fatal Error frame, bad input, connect timeout, Close()). Reconnecting with
// backoff belongs there.
//
// Ownership: Client owns its Impl. The Impl's destructor closes the client
// and joins the loop thread. The Connection owns itself (see
// net/connection.h); conn_ is a borrowed pointer, cleared in OnClosed.
//
// Thread rules: the public-facing methods (Start, PublishAsync, Subscribe,
// Ack, ..., Close) may be called from any thread; Start once, first, by the
// creating thread. Everything else is loop thread only.
#ifndef HERMOD_CLIENT_LIB_SRC_CLIENT_IMPL_H_
#define HERMOD_CLIENT_LIB_SRC_CLIENT_IMPL_H_

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "loop.h"
#include "outbox.h"
#include "pending_publishes.h"
#include "timer.h"

namespace hermod {

class Client::Impl final : public net::Connection::Handler {
 public:
  explicit Impl(const ClientOptions& options);
  // Closes and joins the loop thread. REQUIRES: not on the loop thread.
  ~Impl() override;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Starts the loop thread, connects and completes the handshake; blocks
  // until then. On failure the caller destroys the Impl. Called once.
  Status Start();

  // The operations of Client; see client.h for their contracts.
  void PublishAsync(std::string_view queue, std::string_view payload, const PublishOptions& options,
                    ConfirmCallback done);
  Result<SubscriptionId> Subscribe(std::string_view queue, const SubscribeOptions& options,
                                   DeliveryHandler handler);
  Status AckRange(SubscriptionId subscription, uint64_t first_seq, uint64_t last_seq);
  Status Nack(SubscriptionId subscription, uint64_t seq, std::chrono::milliseconds delay);
  Status SetCredit(SubscriptionId subscription, uint32_t credit);
  Status Unsubscribe(SubscriptionId subscription);
  void Close();

  // Written once on the loop thread before Start() returns, read-only after.
  const ServerInfo& server_info() const { return server_info_; }
  bool connected() const { return phase_.load(std::memory_order_acquire) == Phase::kConnected; }

 private:
  // Where the client stands. Written on the loop thread only; read anywhere.
  enum class Phase {
    kConnecting,    // TCP connect in progress
    kHandshaking,   // Hello sent, waiting for Welcome
    kConnected,     // requests flow
    kDisconnected,  // the connection ended; requests fail with kUnavailable
    kClosed,        // Close() ran; requests fail with kClosed; final
  };

  // A subscription of this connection. The handler is shared so that a
  // delivery in progress keeps it alive when the handler unsubscribes.
  struct Subscription {
    std::string queue;
    std::shared_ptr<const DeliveryHandler> handler;
  };

  // Correlation ids of requests other than publishes (subscribe,
  // unsubscribe) come from this range, disjoint from publish ids, so that an
  // Error frame's correlation id names exactly one request.
  static constexpr uint64_t kFirstRequestId = uint64_t{1} << 63;

  // net::Connection::Handler, loop thread.
  bool OnFrame(net::Connection& conn, const wire::Frame& frame) override;
  void OnBadInput(net::Connection& conn, const Status& why) override;
  void OnDrained(net::Connection& conn) override;
  void OnClosed(net::Connection& conn, const Status& why) override;

  bool OnFrameAfterHandshake(const wire::Frame& frame);
  void OnWelcome(const wire::Welcome& welcome);
  void OnError(const wire::Error& error);
  void OnDeliver(const wire::Deliver& deliver);
  void OnPublishConfirm(uint64_t correlation_id, PublishResult result);
  void CompleteRequest(uint64_t correlation_id, const Status& status);
  // Sends Error{fatal} (when the connection still stands) and closes it.
  void FailConnection(const Status& why);

  // Connection lifecycle, loop thread.
  void BeginConnect(const sockaddr_storage& addr);
  void OnTcpConnected(const Status& status);
  void OnConnectTimeout();
  void FinishConnect(const Status& status);
  void HandleConnectionLost(const Status& why);
  void CloseOnLoop();
  // The status with which requests fail in the current phase.
  Status NotConnectedStatus() const;
  void NotifyState(ConnectionState state, const Status& why);

  // Commands, loop thread.
  Status Queue(client_internal::Command* cmd);
  void ProcessOutbox();
  void Execute(client_internal::Command& cmd);
  void SendPublish(client_internal::PublishCommand& cmd);
  void SubscribeOnLoop(const std::string& queue, const SubscribeOptions& options,
                       DeliveryHandler handler,
                       std::shared_ptr<std::promise<Result<SubscriptionId>>> done);
  void UnsubscribeOnLoop(SubscriptionId subscription, std::function<void(const Status&)> done);

  // Finishes the frame built in encoder_ and queues it on the connection.
  template <typename T>
  void Send(flatbuffers::Offset<T> body) {
    if (conn_ != nullptr) conn_->Send(encoder_.Finish(body));
  }

  bool OnLoopThread() const {
    return std::this_thread::get_id() == loop_thread_id_.load(std::memory_order_acquire);
  }

  const ClientOptions options_;

  // Cross-thread state.
  std::atomic<Phase> phase_{Phase::kConnecting};
  client_internal::Outbox outbox_;
  ServerInfo server_info_;
  std::thread thread_;
  // Set by the loop thread as it starts. Other threads may read the default
  // id before that, which correctly tells them they are not the loop thread.
  std::atomic<std::thread::id> loop_thread_id_{};
  std::mutex join_mu_;  // serializes Close() callers joining thread_

  // Loop thread state.
  net::Loop loop_;
  net::Timer keepalive_timer_;  // keeps Run() going while no connection exists
  net::Timer connect_timer_;    // connect_timeout for TCP connect + handshake
  net::Connection* conn_ = nullptr;
  proto::FrameEncoder encoder_;
  std::promise<Status> connect_done_;
  bool connect_pending_ = false;
  bool handshake_done_ = false;
  client_internal::PendingPublishes publishes_;
  std::unordered_map<uint64_t, std::function<void(const Status&)>> requests_;
  uint64_t next_request_id_ = kFirstRequestId;
  std::unordered_map<SubscriptionId, Subscription> subscriptions_;
  SubscriptionId next_subscription_id_ = 1;
  std::vector<client_internal::Command> work_;  // the batch being executed
  size_t work_pos_ = 0;                         // next command of work_ to execute
  bool processing_ = false;                     // ProcessOutbox is on the stack
  Delivery delivery_;  // reused for every delivery, so steady state does not allocate
  std::vector<flatbuffers::Offset<wire::Header>> header_offsets_;
};

}  // namespace hermod

#endif  // HERMOD_CLIENT_LIB_SRC_CLIENT_IMPL_H_
