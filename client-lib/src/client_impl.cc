// Client::Impl (client_impl.h): the loop thread of libhermod, its
// connection, reconnecting, and the frames the broker sends. The commands
// application threads hand over (publishes, acks, subscriptions, queue
// settings) are in client_impl_requests.cc. Thread rules are in the header:
// public-facing methods from any thread, the rest on the loop thread.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <utility>

#include "check.h"
#include "client_impl.h"
#include "net/address.h"
#include "net/unix_listener.h"

namespace hermod {

using client_internal::Command;

namespace {

// The keep-alive timer fires this rarely; it only exists to keep the loop
// running between connections.
constexpr uint64_t kKeepAliveMs = 3600 * 1000;

Status ClosedStatus() { return Status(ErrorCode::kClosed, "client closed"); }

uint64_t RandomU64() {
  std::random_device device;
  return (uint64_t{device()} << 32) | device();
}

std::string MakeClientId() {
  char digits[17];
  std::snprintf(digits, sizeof(digits), "%016" PRIx64, RandomU64());
  return digits;
}

}  // namespace

Client::Impl::Impl(const ClientOptions& options, client_internal::ImplMode mode)
    : options_(options),
      mode_(std::move(mode)),
      client_id_(MakeClientId()),
      dedup_prefix_("~" + client_id_ + "-"),
      backoff_(options.reconnect_initial_delay, options.reconnect_max_delay, RandomU64()),
      resubscribe_backoff_(options.reconnect_initial_delay, options.reconnect_max_delay,
                           RandomU64()),
      routed_(mode_.detached) {}

Client::Impl::~Impl() {
  HERMOD_CHECK(!OnLoopThread());  // client.h: never destroyed from its own callbacks
  Close();
}

// ---------------------------------------------------------------------------
// Starting and stopping.

Status Client::Impl::Start() {
  if (!net::IsUnixAddress(options_.server, &unix_path_)) {
    Result<sockaddr_storage> addr = net::ParseHostPort(options_.server);
    if (!addr.ok()) return addr.status();
    address_ = *addr;
  }
  if (options_.tls || !options_.tls_ca.empty()) {
    Result<std::shared_ptr<const net::TlsContext>> tls =
        net::TlsContext::ForClient(options_.tls_ca, options_.tls_cert, options_.tls_key);
    if (!tls.ok()) return tls.status();
    tls_ = std::move(*tls);
    tls_server_name_ = options_.tls_server_name;
    if (tls_server_name_.empty()) tls_server_name_ = net::HostOf(options_.server);
  }
  Status s = loop_.Init();
  if (!s.ok()) return s;
  // The loop thread does not exist yet, so this thread may set up handles.
  keepalive_timer_.Init(loop_, [] {});
  keepalive_timer_.Start(kKeepAliveMs, kKeepAliveMs);
  connect_timer_.Init(loop_, [this] { OnConnectTimeout(); });
  reconnect_timer_.Init(loop_, [this] {
    if (phase_.load() == Phase::kReconnecting) BeginConnect();
  });
  request_timer_.Init(loop_, [this] { OnRequestTimer(); });
  heartbeat_timer_.Init(loop_, [this] { OnHeartbeat(); });
  resubscribe_timer_.Init(loop_, [this] {
    if (Ready()) SendUnsentSubscriptions();  // else Resume() does once connected
  });
  std::future<Status> connected = connect_done_.get_future();
  // A detached Impl (a cluster node) treats its first attempt as a
  // reconnect: a failure is retried, and nobody waits for it here.
  connect_pending_ = !mode_.detached;
  ever_connected_ = mode_.detached;
  BeginConnect();

  // libuv writes with writev(), which raises SIGPIPE when the broker has
  // gone. A library must not change the process's signal handlers, so the
  // loop thread (the only thread that writes to the socket) starts with
  // SIGPIPE blocked: the write then just fails with EPIPE.
  sigset_t block_pipe;
  sigset_t old_mask;
  sigemptyset(&block_pipe);
  sigaddset(&block_pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block_pipe, &old_mask);
  thread_ = std::thread([this] {
    loop_thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
    loop_.Run();  // returns once CloseOnLoop() closed every handle
    loop_.Close();
  });
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (mode_.detached) return Status::OK();

  // connect_timer_ guarantees an answer; the margin only guards against a bug.
  if (connected.wait_for(options_.connect_timeout + std::chrono::seconds(10)) !=
      std::future_status::ready) {
    return Status::Internal("connect did not complete");
  }
  return connected.get();
}

void Client::Impl::Close() {
  if (OnLoopThread()) {
    CloseOnLoop();  // the destructor, on another thread, joins later
    return;
  }
  std::lock_guard<std::mutex> lock(join_mu_);
  if (!thread_.joinable()) return;
  // Post fails only once the loop closed, i.e. CloseOnLoop already ran.
  (void)loop_.Post([this] { CloseOnLoop(); });
  thread_.join();
}

void Client::Impl::CloseSoon() {
  if (OnLoopThread()) {
    CloseOnLoop();
    return;
  }
  // Refused only once the loop closed, i.e. CloseOnLoop already ran.
  (void)loop_.Post([this] { CloseOnLoop(); });
}

void Client::Impl::CloseOnLoop() {
  if (phase_.load() == Phase::kClosed) return;
  phase_.store(Phase::kClosed, std::memory_order_release);
  keepalive_timer_.Close();
  connect_timer_.Close();
  reconnect_timer_.Close();
  request_timer_.Close();
  heartbeat_timer_.Close();
  resubscribe_timer_.Close();
  FinishConnect(ClosedStatus());
  // Commands queued before Close() are executed now, on this thread: acks,
  // nacks and credit changes still go out (a lost ack means a redelivery),
  // publishes not sent yet fail with kClosed. Later pushes are refused and
  // completed by their callers.
  for (Command& cmd : outbox_.Close()) work_.push_back(std::move(cmd));
  ProcessOutbox();
  if (conn_ != nullptr) {
    // Close() hands the queued frames to the kernel first when it can.
    // HandleConnectionLost() runs from OnClosed and fails what is pending.
    conn_->Close(ClosedStatus());
  } else {
    HandleConnectionLost(ClosedStatus());
  }
}

Status Client::Impl::NotConnectedStatus() const {
  switch (phase_.load()) {
    case Phase::kClosed:
      return ClosedStatus();
    case Phase::kDisconnected:
      return Status::Unavailable("not connected to " + options_.server);
    default:
      return Status::Unavailable("reconnecting to " + options_.server);
  }
}

bool Client::Impl::Finished() const {
  const Phase phase = phase_.load();
  return phase == Phase::kDisconnected || phase == Phase::kClosed;
}

void Client::Impl::NotifyState(ConnectionState state, const Status& why) {
  if (options_.on_state_change) options_.on_state_change(state, why);
  if (routed_ && mode_.on_state) mode_.on_state(state, why);
}

std::chrono::milliseconds Client::Impl::RequestWait() const {
  // Long enough for the longest backoff delay and a full attempt after it,
  // with a second attempt's worth of margin.
  return 2 * options_.connect_timeout + options_.reconnect_max_delay;
}

// ---------------------------------------------------------------------------
// The connection: connect, handshake, and its one way out.

void Client::Impl::BeginConnect() {
  net::Connection::Options conn_options;
  conn_options.max_frame_bytes = options_.max_frame_bytes;
  conn_options.tls = tls_;
  conn_options.tls_server_name = tls_server_name_;
  conn_options.unix_socket = !unix_path_.empty();
  conn_ = net::Connection::Create(loop_, conn_options);
  if (conn_ == nullptr) {
    Status why = Status::IoError("cannot create a TCP handle");
    if (ever_connected_) {
      OnAttemptFailed(why);
    } else {
      phase_.store(Phase::kDisconnected, std::memory_order_release);
      FinishConnect(why);
    }
    return;
  }
  conn_->set_handler(this);
  phase_.store(Phase::kConnecting, std::memory_order_release);
  // One more millisecond: libuv counts from its cached loop time, which
  // lags the real clock by up to a millisecond, so connect_timeout would
  // otherwise end a hair early.
  connect_timer_.Start(
      static_cast<uint64_t>(std::max<int64_t>(0, options_.connect_timeout.count())) + 1);
  auto connected = [this](const Status& status) { OnTcpConnected(status); };
  if (unix_path_.empty()) {
    conn_->Connect(reinterpret_cast<const sockaddr*>(&address_), connected);
  } else {
    conn_->ConnectUnix(unix_path_, connected);
  }
}

void Client::Impl::OnTcpConnected(const Status& status) {
  if (!status.ok()) {
    // The connection closes itself after this callback; OnClosed follows.
    ErrorCode code =
        status.code() == ErrorCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
    FinishConnect(Status(code, "cannot connect to " + options_.server + ": " + status.message()));
    return;
  }
  if (conn_ == nullptr || conn_->closing()) return;
  phase_.store(Phase::kHandshaking, std::memory_order_release);
  auto& fbb = encoder_.Start();
  auto name = fbb.CreateString(options_.client_name);
  auto auth_token = options_.auth_token.empty() ? 0 : fbb.CreateString(options_.auth_token);
  auto client_id = fbb.CreateString(client_id_);
  auto principal = options_.principal.empty() ? 0 : fbb.CreateString(options_.principal);
  Send(wire::CreateHello(fbb, proto::kProtocolVersion, name, auth_token, client_id,
                         /*reconnect=*/ever_connected_, principal));
}

void Client::Impl::OnHeartbeat() {
  if (!Ready()) return;
  const uint64_t limit = 2 * uint64_t{heartbeat_ms_};
  if (loop_.now_ms() - last_heard_ms_ > limit) {
    FailConnection(Status::Timeout("no frame from the broker at " + options_.server + " in " +
                                   std::to_string(limit) + " ms (heartbeat every " +
                                   std::to_string(heartbeat_ms_) + " ms)"));
    return;
  }
  // One Ping a period whatever else goes out: the broker counts it as a
  // sign of life, and its Pong is ours.
  auto& fbb = encoder_.Start();
  Send(wire::CreatePing(fbb, next_ping_nonce_++));
}

void Client::Impl::OnConnectTimeout() {
  Status why = Status::Timeout("cannot connect to " + options_.server + ": no handshake within " +
                               std::to_string(options_.connect_timeout.count()) + " ms");
  FinishConnect(why);
  if (conn_ != nullptr) conn_->Close(why);
}

void Client::Impl::FinishConnect(const Status& status) {
  if (!connect_pending_) return;
  connect_pending_ = false;
  connect_timer_.Stop();
  connect_done_.set_value(status);
}

void Client::Impl::OnWelcome(const wire::Welcome& welcome) {
  if (welcome.protocol_version() != proto::kProtocolVersion) {
    Status why(ErrorCode::kUnsupportedVersion,
               "broker at " + options_.server + " speaks protocol version " +
                   std::to_string(welcome.protocol_version()) + ", this client " +
                   std::to_string(proto::kProtocolVersion));
    FinishConnect(why);
    FailConnection(why);
    return;
  }
  // The first connection of a seed also waits for its map, within
  // connect_timeout.
  if (ever_connected_ || !mode_.fetch_map) connect_timer_.Stop();
  broker_max_frame_bytes_ = welcome.max_frame_bytes();
  heartbeat_ms_ = welcome.heartbeat_ms();
  last_heard_ms_ = loop_.now_ms();
  if (heartbeat_ms_ != 0) heartbeat_timer_.Start(heartbeat_ms_, heartbeat_ms_);
  session_up_ = true;
  failed_attempts_ = 0;
  backoff_.Reset();
  if (!ever_connected_) {
    // Written before Start() returns (connect_done_ orders it) and never
    // again: other threads read server_info_ without a lock. A reconnect
    // keeps the first broker's description.
    server_info_.version = std::string(proto::View(welcome.server_version()));
    server_info_.sync_mode = std::string(proto::View(welcome.sync_mode()));
    server_info_.protocol_version = welcome.protocol_version();
    server_info_.max_frame_bytes = welcome.max_frame_bytes();
    phase_.store(Phase::kConnected, std::memory_order_release);
    if (mode_.fetch_map) {
      RequestFirstMap();
      return;
    }
    CompleteFirstConnect();
    return;
  }
  phase_.store(Phase::kConnected, std::memory_order_release);
  Resume();
  // A confirm callback run by Resume() may have closed the client.
  if (phase_.load() == Phase::kConnected) NotifyState(ConnectionState::kConnected, Status::OK());
}

void Client::Impl::CompleteFirstConnect() {
  ever_connected_ = true;
  FinishConnect(Status::OK());
  NotifyState(ConnectionState::kConnected, Status::OK());
}

void Client::Impl::RequestFirstMap() {
  auto request = std::make_shared<RetriedRequest>();
  request->max_sends = 1;
  request->reply_type = wire::Body::MapReply;
  request->reply = [this](const wire::Frame& frame) {
    return client_internal::ReadClusterMap(*frame.body_as_MapReply(), &map_);
  };
  request->send = [this](uint64_t correlation_id) {
    auto& fbb = encoder_.Start();
    return SendChecked(wire::CreateMapRequest(fbb, correlation_id), "map request");
  };
  request->done = [this](const Status& status) {
    if (!status.ok()) {
      Status why(status.code(), "broker at " + options_.server +
                                    " did not send the partition map: " + status.message());
      FinishConnect(why);
      FailConnection(why);
      return;
    }
    routed_ = map_.partitions > 0;
    CompleteFirstConnect();
  };
  StartRequest(std::move(request));
}

void Client::Impl::Resume() {
  // Subscriptions first, in subscription order, each with its latest credit:
  // deliveries may start before the resent publishes are confirmed.
  SendUnsentSubscriptions();
  std::vector<std::shared_ptr<RetriedRequest>> parked = std::move(parked_);
  parked_.clear();
  for (std::shared_ptr<RetriedRequest>& request : parked) StartRequest(std::move(request));
  ArmRequestTimer();  // nothing waits for a connection any more: stops it
  // Then every unconfirmed publish in its original order, and after them
  // those made while reconnecting (PendingPublishes keeps them in id order).
  PumpPublishes();
  ProcessOutbox();
}

void Client::Impl::FailConnection(const Status& why) {
  if (conn_ == nullptr || conn_->closing()) return;
  auto& fbb = encoder_.Start();
  auto message = fbb.CreateString(why.message());
  Send(wire::CreateError(fbb, static_cast<uint16_t>(why.code()), message, 0, /*fatal=*/true));
  conn_->Close(why);
}

void Client::Impl::OnClosed(net::Connection& /*conn*/, const Status& why) {
  HandleConnectionLost(why);
}

void Client::Impl::HandleConnectionLost(const Status& why) {
  conn_ = nullptr;
  const bool was_up = session_up_;
  session_up_ = false;
  connect_timer_.Stop();
  heartbeat_timer_.Stop();

  if (phase_.load() == Phase::kClosed) {
    FinishConnect(ClosedStatus());
    FailEverything(ClosedStatus());
    ProcessOutbox();
    if (ever_connected_) NotifyState(ConnectionState::kClosed, Status::OK());
    return;
  }
  if (!ever_connected_) {
    // Connect()'s own attempt (its map included): it fails fast, without
    // retrying.
    phase_.store(Phase::kDisconnected, std::memory_order_release);
    FinishConnect(Status(why.ok() ? ErrorCode::kUnavailable : why.code(),
                         "cannot connect to " + options_.server + ": " + why.message()));
    return;
  }

  // Whatever went out on this connection has to go out again on the next:
  // the broker forgot the subscriptions and gives their deliveries back, so
  // acks for those must not follow them.
  for (auto& [subscription, sub] : subscriptions_) {
    sub.sent = false;
    sub.delivered.Clear();
  }
  publishes_.MarkAllUnsent();
  std::unordered_map<uint64_t, InFlight> in_flight = std::move(requests_);
  requests_.clear();
  for (auto& [correlation_id, request] : in_flight) request.lost();

  if (!options_.reconnect) {
    GiveUp(why,
           Status::Unavailable("connection to " + options_.server + " lost: " + why.ToString()));
    return;
  }
  if (!was_up) {
    OnAttemptFailed(why);
    return;
  }
  phase_.store(Phase::kReconnecting, std::memory_order_release);
  NotifyState(ConnectionState::kReconnecting, why);
  if (Finished()) return;  // the callback closed the client
  ScheduleReconnect();
  ArmRequestTimer();
  // Commands queued meanwhile: publishes join the pending ones, acks of the
  // old connection's deliveries are dropped.
  ProcessOutbox();
}

void Client::Impl::OnAttemptFailed(const Status& why) {
  ++failed_attempts_;
  if (why.code() == ErrorCode::kUnauthenticated) {
    // The broker no longer takes our token (or a TLS certificate was
    // refused); asking again will not change it.
    const bool tls_refused = why.message().rfind("TLS", 0) == 0;
    GiveUp(why, Status(ErrorCode::kUnauthenticated,
                       "broker at " + options_.server +
                           (tls_refused ? ": " : " refused the auth token: ") + why.message()));
    return;
  }
  if (options_.max_reconnect_attempts != 0 && failed_attempts_ >= options_.max_reconnect_attempts) {
    GiveUp(why,
           Status::Unavailable("gave up reconnecting to " + options_.server + " after " +
                               std::to_string(failed_attempts_) + " attempts: " + why.ToString()));
    return;
  }
  phase_.store(Phase::kReconnecting, std::memory_order_release);
  // A cluster node that could not be reached, maybe never: the router
  // looks at the map again, as when a connection drops. Else a publish
  // placed on a node that died before this client ever reached it would
  // wait for that node alone, however the partition moved.
  if (routed_ && mode_.on_state) mode_.on_state(ConnectionState::kReconnecting, why);
  if (Finished()) return;  // the callback closed the client
  ScheduleReconnect();
}

void Client::Impl::ScheduleReconnect() {
  reconnect_timer_.Start(static_cast<uint64_t>(backoff_.Next().count()));
}

void Client::Impl::GiveUp(const Status& why, const Status& fail) {
  phase_.store(Phase::kDisconnected, std::memory_order_release);
  reconnect_timer_.Stop();
  request_timer_.Stop();
  NotifyState(ConnectionState::kDisconnected, why);
  FailEverything(fail);
  // Commands queued meanwhile fail now rather than wait for a connection.
  ProcessOutbox();
}

void Client::Impl::FailEverything(const Status& status) {
  // Every container is emptied before any callback runs, so callbacks may
  // call back into the client.
  std::vector<ConfirmCallback> publishes = publishes_.TakeAll();
  std::unordered_map<uint64_t, InFlight> requests = std::move(requests_);
  requests_.clear();
  std::vector<std::shared_ptr<RetriedRequest>> parked = std::move(parked_);
  parked_.clear();
  std::vector<std::function<void(const Status&)>> waiting;
  for (auto& [subscription, sub] : subscriptions_) {
    if (sub.waiting) waiting.push_back(std::move(sub.waiting));
  }
  subscriptions_.clear();

  PublishResult failed;
  failed.status = status;
  for (ConfirmCallback& done : publishes) {
    if (done) done(failed);
  }
  for (auto& [correlation_id, request] : requests) request.done(status);
  for (std::shared_ptr<RetriedRequest>& request : parked) request->done(status);
  for (auto& done : waiting) done(status);
}

// ---------------------------------------------------------------------------
// Calls waiting for a connection.

void Client::Impl::ArmRequestTimer() {
  if (Finished()) return;
  bool any = false;
  Clock::time_point earliest = Clock::time_point::max();
  for (const auto& [subscription, sub] : subscriptions_) {
    if (sub.waiting && !sub.sent) {
      any = true;
      earliest = std::min(earliest, sub.deadline);
    }
  }
  for (const std::shared_ptr<RetriedRequest>& request : parked_) {
    any = true;
    earliest = std::min(earliest, request->deadline);
  }
  if (!any) {
    request_timer_.Stop();
    return;
  }
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(earliest - Clock::now());
  // One more millisecond, because the loop's clock is coarser than Clock.
  request_timer_.Start(static_cast<uint64_t>(std::max<int64_t>(0, left.count())) + 1);
}

void Client::Impl::OnRequestTimer() {
  const Clock::time_point now = Clock::now();
  std::vector<std::function<void(const Status&)>> expired;
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    Subscription& sub = it->second;
    if (sub.waiting && !sub.sent && sub.deadline <= now) {
      expired.push_back(std::move(sub.waiting));
      it = subscriptions_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::shared_ptr<RetriedRequest>> still_parked;
  for (std::shared_ptr<RetriedRequest>& request : parked_) {
    if (request->deadline <= now) {
      expired.push_back(std::move(request->done));
    } else {
      still_parked.push_back(std::move(request));
    }
  }
  parked_ = std::move(still_parked);
  ArmRequestTimer();
  const Status timeout = Status::Timeout("no connection to " + options_.server + " within " +
                                         std::to_string(RequestWait().count()) + " ms");
  for (auto& done : expired) done(timeout);
}

// ---------------------------------------------------------------------------
// Inbound frames.

bool Client::Impl::OnFrame(net::Connection& conn, const wire::Frame& frame) {
  last_heard_ms_ = loop_.now_ms();
  switch (frame.body_type()) {
    case wire::Body::Welcome:
      if (phase_.load() != Phase::kHandshaking) break;
      OnWelcome(*frame.body_as_Welcome());
      return !conn.closing();
    case wire::Body::Error:
      OnError(*frame.body_as_Error());
      return !conn.closing();
    case wire::Body::Ping: {
      auto& fbb = encoder_.Start();
      Send(wire::CreatePong(fbb, frame.body_as_Ping()->nonce()));
      return true;
    }
    case wire::Body::Pong:
      return true;
    default:
      if (phase_.load() == Phase::kConnected)
        return OnFrameAfterHandshake(frame) && !conn.closing();
      break;
  }
  FailConnection(Status(
      ErrorCode::kProtocolViolation,
      std::string("unexpected ") + proto::BodyName(frame.body_type()) + " frame from the broker"));
  return false;
}

bool Client::Impl::OnFrameAfterHandshake(const wire::Frame& frame) {
  switch (frame.body_type()) {
    case wire::Body::Deliver:
      OnDeliver(*frame.body_as_Deliver());
      return true;
    case wire::Body::PublishOk: {
      const wire::PublishOk& ok = *frame.body_as_PublishOk();
      PublishResult result;
      result.msg_id = ok.msg_id();
      result.seq = ok.seq();
      result.duplicate = ok.duplicate();
      OnPublishConfirm(ok.correlation_id(), std::move(result));
      return true;
    }
    case wire::Body::PublishError: {
      const wire::PublishError& error = *frame.body_as_PublishError();
      PublishResult result;
      result.status = Status(static_cast<ErrorCode>(error.code()), proto::View(error.message()));
      if (result.status.code() == ErrorCode::kShuttingDown && options_.reconnect) {
        // The broker is stopping and will close this connection: the
        // publish stays pending and is sent again after the reconnect.
        return true;
      }
      OnPublishConfirm(error.correlation_id(), std::move(result));
      return true;
    }
    case wire::Body::SubscribeOk:
      CompleteRequest(frame.body_as_SubscribeOk()->correlation_id(), Status::OK());
      return true;
    case wire::Body::UnsubscribeOk:
      CompleteRequest(frame.body_as_UnsubscribeOk()->correlation_id(), Status::OK());
      return true;
    case wire::Body::ConfigureQueueOk:
      CompleteRequest(frame.body_as_ConfigureQueueOk()->correlation_id(), Status::OK());
      return true;
    case wire::Body::GroupReply:
      CompleteReply(frame.body_as_GroupReply()->correlation_id(), frame);
      return true;
    case wire::Body::QueueReply:
      CompleteReply(frame.body_as_QueueReply()->correlation_id(), frame);
      return true;
    case wire::Body::StatsReply:
      CompleteReply(frame.body_as_StatsReply()->correlation_id(), frame);
      return true;
    case wire::Body::MapReply:
      CompleteReply(frame.body_as_MapReply()->correlation_id(), frame);
      return true;
    default:
      FailConnection(Status(ErrorCode::kProtocolViolation, std::string("unexpected ") +
                                                               proto::BodyName(frame.body_type()) +
                                                               " frame from the broker"));
      return false;
  }
}

void Client::Impl::OnBadInput(net::Connection& /*conn*/, const Status& why) { FailConnection(why); }

void Client::Impl::OnDrained(net::Connection& /*conn*/) {
  PumpPublishes();
  ProcessOutbox();
}

void Client::Impl::OnPublishConfirm(uint64_t correlation_id, PublishResult result) {
  ConfirmCallback done;
  if (!publishes_.Take(correlation_id, &done)) {
    FailConnection(Status(ErrorCode::kProtocolViolation,
                          "confirm for unknown correlation id " + std::to_string(correlation_id)));
    return;
  }
  if (done) done(result);
}

void Client::Impl::CompleteRequest(uint64_t correlation_id, const Status& status) {
  auto it = requests_.find(correlation_id);
  // An Ok frame answers only a request that expects no data (an Error
  // answers any).
  if (it == requests_.end() || (status.ok() && it->second.reply_type != wire::Body::NONE)) {
    FailConnection(Status(ErrorCode::kProtocolViolation,
                          "reply for unknown correlation id " + std::to_string(correlation_id)));
    return;
  }
  InFlight request = std::move(it->second);
  requests_.erase(it);
  if (status.code() == ErrorCode::kShuttingDown && options_.reconnect) {
    // The broker will close this connection; the next one carries the
    // request again.
    request.lost();
    ArmRequestTimer();
    return;
  }
  request.done(status);
}

void Client::Impl::CompleteReply(uint64_t correlation_id, const wire::Frame& frame) {
  auto it = requests_.find(correlation_id);
  if (it == requests_.end() || it->second.reply_type != frame.body_type()) {
    FailConnection(Status(ErrorCode::kProtocolViolation,
                          std::string(proto::BodyName(frame.body_type())) +
                              " for unknown correlation id " + std::to_string(correlation_id)));
    return;
  }
  InFlight request = std::move(it->second);
  requests_.erase(it);
  request.reply(frame);
}

void Client::Impl::OnError(const wire::Error& error) {
  Status status(static_cast<ErrorCode>(error.code()), proto::View(error.message()));
  if (status.ok()) status = Status::Internal("Error frame with code 0");
  const uint64_t correlation_id = error.correlation_id();
  if (phase_.load() != Phase::kConnected) {
    // The broker refused the handshake: Connect() returns its reason (a
    // reconnect attempt just fails).
    FinishConnect(Status(status.code(), "broker at " + options_.server +
                                            " refused the connection: " + status.message()));
  } else if (correlation_id != 0) {
    // The answer to one request: it fails with the broker's status.
    if (requests_.count(correlation_id) != 0) {
      CompleteRequest(correlation_id, status);
    } else if (correlation_id < kFirstRequestId &&
               !(status.code() == ErrorCode::kShuttingDown && options_.reconnect)) {
      PublishResult result;
      result.status = status;
      ConfirmCallback done;
      if (publishes_.Take(correlation_id, &done) && done) done(result);
    }
  }
  if (error.fatal() && conn_ != nullptr) {
    // The broker closes after a fatal error; closing first ends the
    // connection now, with the broker's reason.
    conn_->Close(status);
  }
}

void Client::Impl::OnDeliver(const wire::Deliver& deliver) {
  auto it = subscriptions_.find(deliver.subscription_id());
  // Deliveries can cross an Unsubscribe on the wire; they are dropped, and
  // the broker gives them back to the queue.
  if (it == subscriptions_.end()) return;
  it->second.delivered.Add(deliver.seq());
  // Keeps the handler alive should it unsubscribe (which erases `it`).
  std::shared_ptr<const DeliveryHandler> handler = it->second.handler;
  delivery_.subscription = deliver.subscription_id();
  delivery_.queue.assign(it->second.queue);
  delivery_.seq = deliver.seq();
  delivery_.msg_id = deliver.msg_id();
  delivery_.delivery_count = deliver.delivery_count();
  delivery_.publish_time_ms = deliver.publish_time_ms();
  const auto* headers = deliver.headers();
  delivery_.headers.resize(headers ? headers->size() : 0);
  for (size_t i = 0; i < delivery_.headers.size(); ++i) {
    const wire::Header* header = headers->Get(static_cast<flatbuffers::uoffset_t>(i));
    delivery_.headers[i].key.assign(proto::View(header->key()));
    delivery_.headers[i].value.assign(proto::View(header->value()));
  }
  delivery_.payload.assign(proto::View(deliver.payload()));
  (*handler)(delivery_);
}

}  // namespace hermod
