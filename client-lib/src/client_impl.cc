// Client::Impl (client_impl.h): the loop thread of libhermod, its one
// connection, and the commands application threads hand it. Thread rules are
// in the header: public-facing methods from any thread, the rest on the loop
// thread.
#include "client_impl.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <utility>

#include "address.h"
#include "check.h"

namespace hermod {

using client_internal::AckCommand;
using client_internal::Command;
using client_internal::CreditCommand;
using client_internal::NackCommand;
using client_internal::Outbox;
using client_internal::PublishCommand;

namespace {

// Output queued on the connection beyond which the outbox stops being
// drained until the socket catches up (OnDrained): a fast publisher must not
// push the connection past its pending-output cap, which would close it.
constexpr size_t kMaxPendingOutput = 4u << 20;

// The keep-alive timer fires this rarely; it only exists to keep the loop
// running between connections.
constexpr uint64_t kKeepAliveMs = 3600 * 1000;

Status ClosedStatus() { return Status(ErrorCode::kClosed, "client closed"); }

uint32_t ClampToU32(int64_t value) {
  if (value <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(value, std::numeric_limits<uint32_t>::max()));
}

}  // namespace

Client::Impl::Impl(const ClientOptions& options) : options_(options) {}

Client::Impl::~Impl() {
  HERMOD_CHECK(!OnLoopThread());  // client.h: never destroyed from its own callbacks
  Close();
}

// ---------------------------------------------------------------------------
// Starting and stopping.

Status Client::Impl::Start() {
  Result<sockaddr_storage> addr = net::ParseHostPort(options_.server);
  if (!addr.ok()) return addr.status();
  Status s = loop_.Init();
  if (!s.ok()) return s;
  // The loop thread does not exist yet, so this thread may set up handles.
  keepalive_timer_.Init(loop_, [] {});
  keepalive_timer_.Start(kKeepAliveMs, kKeepAliveMs);
  connect_timer_.Init(loop_, [this] { OnConnectTimeout(); });
  std::future<Status> connected = connect_done_.get_future();
  BeginConnect(*addr);

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

void Client::Impl::CloseOnLoop() {
  if (phase_.load() == Phase::kClosed) return;
  phase_.store(Phase::kClosed, std::memory_order_release);
  keepalive_timer_.Close();
  connect_timer_.Close();
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
  if (phase_.load() == Phase::kClosed) return ClosedStatus();
  return Status::Unavailable("not connected to " + options_.server);
}

void Client::Impl::NotifyState(ConnectionState state, const Status& why) {
  if (options_.on_state_change) options_.on_state_change(state, why);
}

// ---------------------------------------------------------------------------
// The connection: connect, handshake, and its one way out.

void Client::Impl::BeginConnect(const sockaddr_storage& addr) {
  net::Connection::Options conn_options;
  conn_options.max_frame_bytes = options_.max_frame_bytes;
  conn_ = net::Connection::Create(loop_, conn_options);
  if (conn_ == nullptr) {
    FinishConnect(Status::IoError("cannot create a TCP handle"));
    return;
  }
  conn_->set_handler(this);
  phase_.store(Phase::kConnecting);
  connect_pending_ = true;
  connect_timer_.Start(
      static_cast<uint64_t>(std::max<int64_t>(0, options_.connect_timeout.count())));
  conn_->Connect(reinterpret_cast<const sockaddr*>(&addr),
                 [this](const Status& status) { OnTcpConnected(status); });
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
  phase_.store(Phase::kHandshaking);
  auto& fbb = encoder_.Start();
  auto name = fbb.CreateString(options_.client_name);
  Send(wire::CreateHello(fbb, proto::kProtocolVersion, name));
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
  // Written before Start() returns (connect_done_ orders it) and never
  // again: other threads read server_info_ without a lock.
  server_info_.version = std::string(proto::View(welcome.server_version()));
  server_info_.sync_mode = std::string(proto::View(welcome.sync_mode()));
  server_info_.protocol_version = welcome.protocol_version();
  server_info_.max_frame_bytes = welcome.max_frame_bytes();
  handshake_done_ = true;
  phase_.store(Phase::kConnected, std::memory_order_release);
  FinishConnect(Status::OK());
  NotifyState(ConnectionState::kConnected, Status::OK());
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
  const bool closed = phase_.load() == Phase::kClosed;
  Status fail =
      closed ? ClosedStatus()
             : Status::Unavailable("connection to " + options_.server + " lost: " + why.ToString());
  // Still in Connect(): the connection ended before the handshake completed.
  if (connect_pending_) {
    FinishConnect(closed ? ClosedStatus()
                         : Status(why.ok() ? ErrorCode::kUnavailable : why.code(),
                                  "cannot connect to " + options_.server + ": " + why.message()));
  }
  if (!closed) phase_.store(Phase::kDisconnected, std::memory_order_release);

  // Fail everything that waited on this connection, in publish order. The
  // containers are emptied before any callback runs, so callbacks may call
  // back into the client.
  std::vector<ConfirmCallback> publishes = publishes_.TakeAll();
  auto requests = std::move(requests_);
  requests_.clear();
  subscriptions_.clear();
  PublishResult failed;
  failed.status = fail;
  for (ConfirmCallback& done : publishes) {
    if (done) done(failed);
  }
  for (auto& [correlation_id, done] : requests) done(fail);
  // Commands queued meanwhile fail now rather than wait for a connection.
  ProcessOutbox();

  if (handshake_done_) {
    NotifyState(closed ? ConnectionState::kClosed : ConnectionState::kDisconnected,
                closed ? Status::OK() : why);
  }
  // TODO(client): reconnect with backoff here, resubscribe, and resend the
  // unconfirmed publishes with dedup ids (a later issue).
}

// ---------------------------------------------------------------------------
// Inbound frames.

bool Client::Impl::OnFrame(net::Connection& conn, const wire::Frame& frame) {
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
      OnPublishConfirm(error.correlation_id(), std::move(result));
      return true;
    }
    case wire::Body::SubscribeOk:
      CompleteRequest(frame.body_as_SubscribeOk()->correlation_id(), Status::OK());
      return true;
    case wire::Body::UnsubscribeOk:
      CompleteRequest(frame.body_as_UnsubscribeOk()->correlation_id(), Status::OK());
      return true;
    default:
      FailConnection(Status(ErrorCode::kProtocolViolation, std::string("unexpected ") +
                                                               proto::BodyName(frame.body_type()) +
                                                               " frame from the broker"));
      return false;
  }
}

void Client::Impl::OnBadInput(net::Connection& /*conn*/, const Status& why) { FailConnection(why); }

void Client::Impl::OnDrained(net::Connection& /*conn*/) { ProcessOutbox(); }

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
  if (it == requests_.end()) {
    FailConnection(Status(ErrorCode::kProtocolViolation,
                          "reply for unknown correlation id " + std::to_string(correlation_id)));
    return;
  }
  std::function<void(const Status&)> done = std::move(it->second);
  requests_.erase(it);
  done(status);
}

void Client::Impl::OnError(const wire::Error& error) {
  Status status(static_cast<ErrorCode>(error.code()), proto::View(error.message()));
  if (status.ok()) status = Status::Internal("Error frame with code 0");
  const uint64_t correlation_id = error.correlation_id();
  if (phase_.load() != Phase::kConnected) {
    // The broker refused the handshake: Connect() returns its reason.
    FinishConnect(Status(status.code(), "broker at " + options_.server +
                                            " refused the connection: " + status.message()));
  } else if (correlation_id != 0) {
    // The answer to one request: it fails with the broker's status.
    if (requests_.count(correlation_id) != 0) {
      CompleteRequest(correlation_id, status);
    } else if (correlation_id < kFirstRequestId) {
      PublishResult result;
      result.status = status;
      ConfirmCallback done;
      if (publishes_.Take(correlation_id, &done) && done) done(result);
    }
  }
  if (error.fatal() && conn_ != nullptr) {
    // The broker closes after a fatal error; closing first makes every
    // pending request fail now with the broker's reason.
    conn_->Close(status);
  }
}

void Client::Impl::OnDeliver(const wire::Deliver& deliver) {
  auto it = subscriptions_.find(deliver.subscription_id());
  // Deliveries can cross an Unsubscribe on the wire; they are dropped, and
  // the broker gives them back to the queue.
  if (it == subscriptions_.end()) return;
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

// ---------------------------------------------------------------------------
// Outbound commands.

Status Client::Impl::Queue(Command* cmd) {
  switch (outbox_.Push(cmd)) {
    case Outbox::PushResult::kQueued:
      return Status::OK();
    case Outbox::PushResult::kQueuedWake:
      // The loop closes its mailbox only after CloseOnLoop closed the outbox,
      // so a push the outbox accepted always finds the mailbox open.
      {
        bool posted = loop_.Post([this] { ProcessOutbox(); });
        HERMOD_CHECK(posted);
      }
      return Status::OK();
    case Outbox::PushResult::kClosed:
      break;
  }
  return ClosedStatus();
}

void Client::Impl::PublishAsync(std::string_view queue, std::string_view payload,
                                const PublishOptions& options, ConfirmCallback done) {
  Command cmd(std::in_place_type<PublishCommand>);
  PublishCommand& publish = std::get<PublishCommand>(cmd);
  publish.queue.assign(queue);
  publish.payload.assign(payload);
  publish.headers = options.headers;
  publish.ttl_ms = static_cast<uint64_t>(std::max<int64_t>(0, options.ttl.count()));
  publish.dedup_id = options.dedup_id;
  publish.done = std::move(done);
  if (!Queue(&cmd).ok() && publish.done) {
    // Closed: nothing will run on the loop thread any more, so the confirm
    // runs here.
    PublishResult result;
    result.status = ClosedStatus();
    publish.done(result);
  }
}

Status Client::Impl::AckRange(SubscriptionId subscription, uint64_t first_seq, uint64_t last_seq) {
  if (!connected()) return NotConnectedStatus();
  if (first_seq > last_seq) return Status::InvalidArgument("ack range with first_seq > last_seq");
  Command cmd(AckCommand{subscription, first_seq, last_seq});
  return Queue(&cmd);
}

Status Client::Impl::Nack(SubscriptionId subscription, uint64_t seq,
                          std::chrono::milliseconds delay) {
  if (!connected()) return NotConnectedStatus();
  Command cmd(NackCommand{subscription, seq, ClampToU32(delay.count())});
  return Queue(&cmd);
}

Status Client::Impl::SetCredit(SubscriptionId subscription, uint32_t credit) {
  if (!connected()) return NotConnectedStatus();
  Command cmd(CreditCommand{subscription, credit});
  return Queue(&cmd);
}

void Client::Impl::ProcessOutbox() {
  // A callback run from Execute may lead back here (Close() from a confirm);
  // the outer call then simply goes on with the rest of work_.
  if (processing_) return;
  processing_ = true;
  bool took_batch = false;
  for (;;) {
    while (work_pos_ < work_.size()) {
      if (conn_ != nullptr && conn_->pending_output() > kMaxPendingOutput) {
        processing_ = false;
        return;  // OnDrained() resumes
      }
      // Moved out first: a callback may append to work_, reallocating it.
      Command cmd = std::move(work_[work_pos_++]);
      Execute(cmd);
    }
    work_.clear();
    work_pos_ = 0;
    // One fresh batch per call keeps this loop bounded: commands queued
    // while it runs posted a wakeup of their own.
    if (took_batch) break;
    outbox_.TakeAll(&work_);
    took_batch = true;
  }
  processing_ = false;
}

void Client::Impl::Execute(Command& cmd) {
  if (auto* publish = std::get_if<PublishCommand>(&cmd)) {
    SendPublish(*publish);
    return;
  }
  // Acks, nacks and credit changes need only an open connection: Close()
  // sends the ones queued before it (see CloseOnLoop). When the connection
  // is gone they are dropped; the broker redelivers what was not acked.
  if (!handshake_done_ || conn_ == nullptr || conn_->closing()) return;
  auto& fbb = encoder_.Start();
  if (auto* ack = std::get_if<AckCommand>(&cmd)) {
    Send(wire::CreateAck(fbb, ack->subscription, ack->first_seq, ack->last_seq));
  } else if (auto* nack = std::get_if<NackCommand>(&cmd)) {
    Send(wire::CreateNack(fbb, nack->subscription, nack->seq, nack->delay_ms));
  } else if (auto* credit = std::get_if<CreditCommand>(&cmd)) {
    Send(wire::CreateCredit(fbb, credit->subscription, credit->credit));
  }
}

void Client::Impl::SendPublish(PublishCommand& cmd) {
  if (phase_.load() != Phase::kConnected || conn_ == nullptr) {
    if (cmd.done) {
      PublishResult result;
      result.status = NotConnectedStatus();
      cmd.done(result);
    }
    return;
  }
  const uint64_t correlation_id = publishes_.next_correlation_id();
  auto& fbb = encoder_.Start();
  auto queue = fbb.CreateString(cmd.queue);
  auto payload =
      fbb.CreateVector(reinterpret_cast<const uint8_t*>(cmd.payload.data()), cmd.payload.size());
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::Header>>> headers;
  if (!cmd.headers.empty()) {
    header_offsets_.clear();
    for (const Header& header : cmd.headers) {
      auto key = fbb.CreateString(header.key);
      auto value = fbb.CreateString(header.value);
      header_offsets_.push_back(wire::CreateHeader(fbb, key, value));
    }
    headers = fbb.CreateVector(header_offsets_);
  }
  flatbuffers::Offset<flatbuffers::String> dedup_id;
  if (!cmd.dedup_id.empty()) dedup_id = fbb.CreateString(cmd.dedup_id);
  std::span<const uint8_t> frame = encoder_.Finish(
      wire::CreatePublish(fbb, correlation_id, queue, payload, headers, cmd.ttl_ms, dedup_id));
  // A frame above the broker's limit would make it close the connection,
  // failing every other request too: refuse this one alone, here.
  const size_t frame_bytes = frame.size() - proto::kLengthPrefixBytes;
  if (server_info_.max_frame_bytes != 0 && frame_bytes > server_info_.max_frame_bytes) {
    if (cmd.done) {
      PublishResult result;
      result.status = Status(ErrorCode::kPayloadTooLarge,
                             "message of " + std::to_string(cmd.payload.size()) +
                                 " bytes does not fit the broker's max_frame_bytes " +
                                 std::to_string(server_info_.max_frame_bytes));
      cmd.done(result);
    }
    return;
  }
  HERMOD_CHECK(publishes_.Add(std::move(cmd.done)) == correlation_id);
  conn_->Send(frame);
}

// ---------------------------------------------------------------------------
// Subscriptions.

Result<SubscriptionId> Client::Impl::Subscribe(std::string_view queue,
                                               const SubscribeOptions& options,
                                               DeliveryHandler handler) {
  if (OnLoopThread()) {
    return Status::InvalidArgument(
        "Subscribe blocks, so it cannot run in a callback of its client");
  }
  if (!connected()) return NotConnectedStatus();
  auto done = std::make_shared<std::promise<Result<SubscriptionId>>>();
  std::future<Result<SubscriptionId>> result = done->get_future();
  bool posted = loop_.Post(
      [this, queue = std::string(queue), options, handler = std::move(handler), done]() mutable {
        SubscribeOnLoop(queue, options, std::move(handler), std::move(done));
      });
  if (!posted) return ClosedStatus();
  // The loop thread always answers: the broker's reply, or the connection's
  // end (HandleConnectionLost), or Close().
  return result.get();
}

void Client::Impl::SubscribeOnLoop(const std::string& queue, const SubscribeOptions& options,
                                   DeliveryHandler handler,
                                   std::shared_ptr<std::promise<Result<SubscriptionId>>> done) {
  if (phase_.load() != Phase::kConnected || conn_ == nullptr) {
    done->set_value(NotConnectedStatus());
    return;
  }
  const SubscriptionId subscription = next_subscription_id_++;
  const uint64_t correlation_id = next_request_id_++;
  subscriptions_[subscription] =
      Subscription{queue, std::make_shared<const DeliveryHandler>(std::move(handler))};
  requests_[correlation_id] = [this, subscription, done](const Status& status) {
    if (status.ok()) {
      done->set_value(subscription);
    } else {
      subscriptions_.erase(subscription);
      done->set_value(status);
    }
  };
  auto& fbb = encoder_.Start();
  auto queue_name = fbb.CreateString(queue);
  Send(wire::CreateSubscribe(fbb, correlation_id, subscription, queue_name, options.credit,
                             ClampToU32(options.ack_wait.count())));
}

Status Client::Impl::Unsubscribe(SubscriptionId subscription) {
  if (OnLoopThread()) {
    // A callback cannot wait for the reply: the frame is sent, and the
    // handler is dropped at once.
    UnsubscribeOnLoop(subscription, [](const Status&) {});
    return Status::OK();
  }
  if (!connected()) return NotConnectedStatus();
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  bool posted = loop_.Post([this, subscription, done] {
    UnsubscribeOnLoop(subscription, [done](const Status& status) { done->set_value(status); });
  });
  if (!posted) return ClosedStatus();
  return result.get();
}

void Client::Impl::UnsubscribeOnLoop(SubscriptionId subscription,
                                     std::function<void(const Status&)> done) {
  // Acks queued before this call leave first, so that once UnsubscribeOk
  // arrives the broker has seen them.
  ProcessOutbox();
  if (phase_.load() != Phase::kConnected || conn_ == nullptr) {
    done(NotConnectedStatus());
    return;
  }
  // No delivery reaches the handler once Unsubscribe is on its way.
  if (subscriptions_.erase(subscription) == 0) {
    done(Status::NotFound("no subscription " + std::to_string(subscription)));
    return;
  }
  const uint64_t correlation_id = next_request_id_++;
  requests_[correlation_id] = std::move(done);
  auto& fbb = encoder_.Start();
  Send(wire::CreateUnsubscribe(fbb, correlation_id, subscription));
}

}  // namespace hermod
