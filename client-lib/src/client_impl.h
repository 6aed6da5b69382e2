// Client::Impl: the machinery behind hermod::Client (client.h).
//
// An Impl owns a net::Loop and the std::thread that runs it (the "loop
// thread"). Everything libuv-facing lives on that thread: the one
// net::Connection, its FrameEncoder, the timers, the pending publishes and
// requests, and the subscriptions. Application threads never touch them:
//   - publishes, acks, nacks and credit changes go through the Outbox (one
//     loop wakeup drains a whole batch);
//   - Subscribe, Unsubscribe, ConfigureQueue, the group, queue and stats
//     requests, and Close post a closure with Loop::Post and, where the API
//     blocks, wait on a future the loop thread fulfils.
// Callbacks into the application (confirms, deliveries, state changes) run
// on the loop thread, never while a lock is held.
//
// Connection handling lives in one place: BeginConnect() starts an attempt,
// OnWelcome() completes it, and OnClosed() -> HandleConnectionLost() is the
// single path by which a connection ends, whatever the cause (socket error,
// fatal Error frame, bad input, connect timeout, Close()). The first attempt
// is Connect()'s, which fails fast. When an established connection ends
// (and Close() did not end it), the client is reconnecting: attempts follow
// after backoff delays (reconnect_timer_) until one gets a Welcome, or
// max_reconnect_attempts failed in a row and the client gives up
// (kDisconnected: everything pending fails with kUnavailable).
//
// What survives a reconnect, and how it is replayed after the next Welcome:
//   - subscriptions (with their latest credit): Subscribe again, same id;
//   - unconfirmed publishes and those made meanwhile: sent again, in the
//     order of the original publishes, with their dedup ids
//     (PendingPublishes);
//   - ConfigureQueue requests that got no answer: sent again (they are
//     idempotent), and so are Subscribe calls that got none; group, queue
//     and stats requests too, a bounded number of times (RetriedRequest);
//   - acks and nacks are not replayed: the broker redelivers what the old
//     connection held, and DeliveredSeqs drops acks for those deliveries.
// Blocking calls that wait for a connection are bounded (RequestWait()).
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
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backoff.h"
#include "cluster_map.h"
#include "delivered_seqs.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "net/connection.h"
#include "net/loop.h"
#include "net/timer.h"
#include "outbox.h"
#include "pending_publishes.h"

namespace hermod {

// Hidden: a member of an exported class is exported by default, and the
// machinery must stay private to the library (export.h).
class [[gnu::visibility("hidden")]] Client::Impl final : public net::Connection::Handler {
 public:
  // `mode`: see cluster_map.h; the default is a Client of one node.
  explicit Impl(const ClientOptions& options, client_internal::ImplMode mode = {});
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
  Status ConfigureQueue(std::string_view queue, const QueueSettings& settings);
  Status Unsubscribe(SubscriptionId subscription);
  void PublishToGroupAsync(std::string_view group, std::string_view payload,
                           const PublishOptions& options, ConfirmCallback done);
  Status CreateGroup(std::string_view group);
  Result<uint64_t> DeleteGroup(std::string_view group);
  Result<uint64_t> ChangeMembers(bool add, std::string_view group,
                                 const std::vector<std::string>& members);
  Result<GroupPage> ListGroups(std::string_view prefix, std::string_view after, uint32_t limit);
  Result<MemberPage> ShowGroup(std::string_view group, std::string_view after, uint32_t limit);
  Result<QueuePage> ListQueues(const QueueListOptions& options);
  Result<QueueInfo> ShowQueue(std::string_view queue);
  Result<std::vector<PeekedEntry>> PeekQueue(std::string_view queue, uint64_t from_seq,
                                             uint32_t limit);
  Result<uint64_t> PurgeQueue(std::string_view queue, bool forget);
  Result<RedriveResult> Redrive(std::string_view dlq, std::string_view to, uint32_t limit);
  Result<std::vector<ServerStat>> Stats();
  // Asks the node for the partition map; waits at most `wait` for a
  // connection to carry the request. Any thread but the loop thread.
  Result<client_internal::ClusterMap> FetchMap(std::chrono::milliseconds wait);
  void Close();
  // Close() without waiting for the loop thread: safe from any callback.
  void CloseSoon();

  // Written once on the loop thread before Start() returns, read-only after.
  const ServerInfo& server_info() const { return server_info_; }
  bool connected() const { return phase_.load(std::memory_order_acquire) == Phase::kConnected; }
  // Gave up reconnecting or closed: this Impl will never send again.
  bool finished() const { return Finished(); }
  // The map the first connection's node sent (ImplMode::fetch_map); written
  // before Start() returns, read-only after.
  const client_internal::ClusterMap& cluster_map() const { return map_; }
  bool on_loop_thread() const { return OnLoopThread(); }

 private:
  using Clock = std::chrono::steady_clock;

  // Where the client stands. Written on the loop thread only; read anywhere.
  enum class Phase {
    kConnecting,    // TCP connect of an attempt in progress
    kHandshaking,   // Hello sent, waiting for Welcome
    kConnected,     // requests flow
    kReconnecting,  // between attempts, waiting out a backoff delay
    kDisconnected,  // gave up (or never got in); requests fail with kUnavailable; final
    kClosed,        // Close() ran; requests fail with kClosed; final
  };

  // A subscription of this client. It outlives connections: after a
  // reconnect it is subscribed again with the same id.
  struct Subscription {
    std::string queue;
    // Shared so that a delivery in progress keeps it alive when the handler
    // unsubscribes.
    std::shared_ptr<const DeliveryHandler> handler;
    uint32_t credit = 0;  // the latest SetCredit value
    uint32_t ack_wait_ms = 0;
    std::string backoff;
    // Sent with every Subscribe of it, on reconnects too (SubscribeOptions).
    uint64_t resume_through = 0;
    // A Subscribe for it went out on the current connection.
    bool sent = false;
    // The application's Subscribe() call, until the broker first answers.
    std::function<void(const Status&)> waiting;
    // When `waiting` gives up if no connection carries the request.
    Clock::time_point deadline;
    client_internal::DeliveredSeqs delivered;
  };

  // A request other than Subscribe and Publish that is replayed after a
  // reconnect until it is answered: ConfigureQueue, and the group, queue
  // and stats requests (client_impl_admin.cc).
  struct RetriedRequest {
    // Builds and sends the request's frame with this correlation id; an
    // error (the frame would exceed the broker's max_frame_bytes) fails the
    // request without sending anything.
    std::function<Status(uint64_t correlation_id)> send;
    // Runs once, with the outcome; after `reply` when the reply carries data.
    std::function<void(const Status&)> done;
    // Requests answered by a frame with data: its type, and the function
    // that reads it (on the loop thread, while the frame is valid). NONE:
    // answered by an Ok frame without data (ConfigureQueueOk).
    wire::Body reply_type = wire::Body::NONE;
    std::function<Status(const wire::Frame&)> reply;
    // Sent at most this many times (0: no bound); a connection lost after
    // the last send fails it with kUnavailable.
    uint32_t max_sends = 0;
    uint32_t sends = 0;
    // An answer with this code to a resent request counts as success: the
    // first send may have done the work (a create answered kAlreadyExists,
    // a delete kNotFound). kOk: none.
    ErrorCode ok_when_resent = ErrorCode::kOk;
    Clock::time_point deadline;  // for waiting while no connection carries it
  };

  // A request sent on the current connection, by correlation id.
  struct InFlight {
    std::function<void(const Status&)> done;  // the broker answered
    // The connection ended first, or the broker answered kShuttingDown
    // (then it will end soon); nothing has been decided.
    std::function<void()> lost;
    // The reply frame with data this request expects, and what reads it;
    // NONE for requests answered by an Ok frame (or an Error).
    wire::Body reply_type = wire::Body::NONE;
    std::function<void(const wire::Frame&)> reply{};
  };

  // Correlation ids of requests other than publishes (subscribe,
  // unsubscribe, configure) come from this range, disjoint from publish ids,
  // so that an Error frame's correlation id names exactly one request.
  static constexpr uint64_t kFirstRequestId = uint64_t{1} << 63;

  // net::Connection::Handler, loop thread.
  bool OnFrame(net::Connection & conn, const wire::Frame& frame) override;
  void OnBadInput(net::Connection & conn, const Status& why) override;
  void OnDrained(net::Connection & conn) override;
  void OnClosed(net::Connection & conn, const Status& why) override;

  bool OnFrameAfterHandshake(const wire::Frame& frame);
  void OnWelcome(const wire::Welcome& welcome);
  void OnError(const wire::Error& error);
  void OnDeliver(const wire::Deliver& deliver);
  void OnPublishConfirm(uint64_t correlation_id, PublishResult result);
  void CompleteRequest(uint64_t correlation_id, const Status& status);
  // A reply frame with data (GroupReply, QueueReply, StatsReply).
  void CompleteReply(uint64_t correlation_id, const wire::Frame& frame);
  // Sends Error{fatal} (when the connection still stands) and closes it.
  void FailConnection(const Status& why);

  // Connection lifecycle, loop thread.
  void BeginConnect();
  void OnTcpConnected(const Status& status);
  // Each heartbeat period: a Ping, or, after two periods without a frame
  // from the broker, the end of this connection (a reconnect follows).
  void OnHeartbeat();
  void OnConnectTimeout();
  void FinishConnect(const Status& status);
  // The first connection is up (after its map, with ImplMode::fetch_map).
  void CompleteFirstConnect();
  // ImplMode::fetch_map: asks for the map on the first connection.
  void RequestFirstMap();
  void HandleConnectionLost(const Status& why);
  // A reconnect attempt failed; schedules the next one or gives up.
  void OnAttemptFailed(const Status& why);
  void ScheduleReconnect();
  // Replays subscriptions, requests and publishes on a new connection.
  void Resume();
  // Ends reconnecting for good: kDisconnected, everything pending fails.
  void GiveUp(const Status& why, const Status& fail);
  // Completes every publish, request and waiting call with `status`.
  void FailEverything(const Status& status);
  void CloseOnLoop();
  // The status with which requests fail in the current phase.
  Status NotConnectedStatus() const;
  // True once the client gave up or was closed: nothing will be sent again.
  bool Finished() const;
  // True while a handshaken connection stands: frames may be sent.
  bool Ready() const { return session_up_ && conn_ != nullptr && !conn_->closing(); }
  void NotifyState(ConnectionState state, const Status& why);
  // How long a blocking call waits for a connection to carry its request.
  std::chrono::milliseconds RequestWait() const;
  // Starts request_timer_ for the earliest waiting deadline, or stops it.
  void ArmRequestTimer();
  void OnRequestTimer();

  // Commands, loop thread.
  Status Queue(client_internal::Command * cmd);
  void ProcessOutbox();
  void Execute(client_internal::Command & cmd);
  // Fills the rest of a publish command (payload, options, callback) and
  // queues it; completes it with kClosed when the client is closed.
  void FinishPublishCommand(std::string_view payload, const PublishOptions& options,
                            ConfirmCallback done, client_internal::Command* cmd);
  void AddPublish(client_internal::PublishCommand & cmd);
  // Sends pending publishes not yet sent on this connection, in order, while
  // the connection's output stays below its cap (OnDrained resumes).
  void PumpPublishes();
  // Encodes and sends one publish; false when it is too large for the
  // broker (the caller then fails it alone).
  bool SendPublish(uint64_t correlation_id, const client_internal::PublishCommand& cmd);
  void SubscribeOnLoop(const std::string& queue, const SubscribeOptions& options,
                       DeliveryHandler handler,
                       std::shared_ptr<std::promise<Result<SubscriptionId>>> done);
  void SendSubscribe(SubscriptionId subscription);
  // SendSubscribe for every subscription not sent on this connection yet.
  void SendUnsentSubscriptions();
  void OnSubscribeReply(SubscriptionId subscription, const Status& status);
  void UnsubscribeOnLoop(SubscriptionId subscription, std::function<void(const Status&)> done);
  void StartRequest(std::shared_ptr<RetriedRequest> request);
  // What happens to a sent request whose connection ended unanswered.
  void RequestLost(std::shared_ptr<RetriedRequest> request);
  // Hands a request to the loop thread; the future resolves with `done`'s
  // status (request->done is replaced). Any thread but the loop thread.
  // `wait`: how long it may wait for a connection; zero: RequestWait().
  std::future<Status> BeginRequest(std::shared_ptr<RetriedRequest> request,
                                   std::chrono::milliseconds wait = {});
  // BeginRequest(...).get(), with the checks every blocking call makes.
  Status CallRequest(std::shared_ptr<RetriedRequest> request, const char* what);
  Status SendConfigureQueue(uint64_t correlation_id, const std::string& queue,
                            const QueueSettings& settings);

  // Group, queue and stats requests (client_impl_admin.cc). The Args are
  // copied into the request, which may be sent more than once.
  struct GroupRequestArgs {
    wire::GroupOp op = wire::GroupOp::List;
    std::string group;
    // Add/Remove: members [members_begin, members_end) of *members.
    std::shared_ptr<const std::vector<std::string>> members;
    size_t members_begin = 0;
    size_t members_end = 0;
    std::string prefix;
    std::string after;
    uint32_t limit = 0;
  };
  struct QueueRequestArgs {
    wire::QueueOp op = wire::QueueOp::List;
    std::string queue;
    std::string prefix;
    std::string after;
    uint32_t limit = 0;
    std::string sort;
    uint64_t from_seq = 0;
    std::string to;
  };
  Status SendGroupRequest(uint64_t correlation_id, const GroupRequestArgs& args);
  Status SendQueueRequest(uint64_t correlation_id, const QueueRequestArgs& args);
  // A request answered by a GroupReply (QueueReply) that `read` takes apart.
  std::shared_ptr<RetriedRequest> MakeGroupRequest(
      GroupRequestArgs args, std::function<Status(const wire::GroupReply&)> read);
  std::shared_ptr<RetriedRequest> MakeQueueRequest(
      QueueRequestArgs args, std::function<Status(const wire::QueueReply&)> read);
  // Finishes the frame built in encoder_ and sends it, unless it exceeds
  // the broker's max_frame_bytes (kInvalidArgument, nothing sent).
  template <typename T>
  Status SendChecked(flatbuffers::Offset<T> body, const char* what) {
    std::span<const uint8_t> frame = encoder_.Finish(body);
    const size_t frame_bytes = frame.size() - proto::kLengthPrefixBytes;
    if (broker_max_frame_bytes_ != 0 && frame_bytes > broker_max_frame_bytes_) {
      return Status::InvalidArgument(std::string(what) + " of " + std::to_string(frame_bytes) +
                                     " bytes does not fit the broker's max_frame_bytes " +
                                     std::to_string(broker_max_frame_bytes_));
    }
    if (conn_ != nullptr) conn_->Send(frame);
    return Status::OK();
  }

  // Finishes the frame built in encoder_ and queues it on the connection.
  template <typename T>
  void Send(flatbuffers::Offset<T> body) {
    if (conn_ != nullptr) conn_->Send(encoder_.Finish(body));
  }

  bool OnLoopThread() const {
    return std::this_thread::get_id() == loop_thread_id_.load(std::memory_order_acquire);
  }

  const ClientOptions options_;
  const client_internal::ImplMode mode_;
  // 16 hex digits, random, made once: the broker's logs tie a reconnect to
  // the connection before it, and it prefixes the client's own dedup ids.
  const std::string client_id_;
  // "~<client_id>-": the fixed start of the dedup ids this client makes.
  const std::string dedup_prefix_;

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
  sockaddr_storage address_{};
  std::string unix_path_;  // "unix:PATH" servers: PATH; else empty
  // TLS: the client context and the name the broker's certificate must
  // carry; null: plaintext. Set in Start().
  std::shared_ptr<const net::TlsContext> tls_;
  std::string tls_server_name_;
  net::Timer keepalive_timer_;    // keeps Run() going while no connection exists
  net::Timer connect_timer_;      // connect_timeout for TCP connect + handshake
  net::Timer reconnect_timer_;    // the backoff delay before the next attempt
  net::Timer request_timer_;      // the earliest deadline of a waiting call
  net::Timer heartbeat_timer_;    // Welcome's heartbeat: Ping, and watch for silence
  net::Timer resubscribe_timer_;  // a refused resubscribe: when to send it again
  net::Connection* conn_ = nullptr;
  proto::FrameEncoder encoder_;
  std::promise<Status> connect_done_;
  bool connect_pending_ = false;  // Start() waits for connect_done_
  bool ever_connected_ = false;   // a Welcome arrived once: later losses reconnect
  bool session_up_ = false;       // conn_ got its Welcome and has not ended
  uint32_t failed_attempts_ = 0;  // reconnect attempts failed in a row
  client_internal::Backoff backoff_;
  client_internal::Backoff resubscribe_backoff_;  // reset by a subscription accepted
  uint32_t broker_max_frame_bytes_ = 0;           // from the current connection's Welcome
  uint32_t heartbeat_ms_ = 0;                     // from the current connection's Welcome
  uint64_t last_heard_ms_ = 0;                    // loop time of the last frame from the broker
  uint64_t next_ping_nonce_ = 1;
  client_internal::PendingPublishes publishes_;
  client_internal::ClusterMap map_;  // ImplMode::fetch_map's answer
  // In a cluster: ImplMode's hooks are called (loop thread).
  bool routed_ = false;
  uint64_t next_auto_dedup_ = 1;
  std::unordered_map<uint64_t, InFlight> requests_;
  uint64_t next_request_id_ = kFirstRequestId;
  // Ordered by id, so that a reconnect subscribes again in subscription order.
  std::map<SubscriptionId, Subscription> subscriptions_;
  SubscriptionId next_subscription_id_ = 1;
  // Requests waiting for a connection to carry them.
  std::vector<std::shared_ptr<RetriedRequest>> parked_;
  std::vector<client_internal::Command> work_;  // the batch being executed
  size_t work_pos_ = 0;                         // next command of work_ to execute
  bool processing_ = false;                     // ProcessOutbox is on the stack
  Delivery delivery_;  // reused for every delivery, so steady state does not allocate
  std::vector<flatbuffers::Offset<wire::Header>> header_offsets_;
};

}  // namespace hermod

#endif  // HERMOD_CLIENT_LIB_SRC_CLIENT_IMPL_H_
