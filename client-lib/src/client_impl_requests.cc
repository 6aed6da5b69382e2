// Client::Impl (client_impl.h), outbound: the commands and requests that
// application threads hand to the loop thread (publishes to queues and
// groups, acks, nacks, credit, subscriptions, queue settings) and how each
// goes on the wire, again after a reconnect where it must, including the
// machinery of replayed requests (StartRequest, RequestLost). The
// connection itself is in client_impl.cc; the group, queue and stats
// requests in client_impl_admin.cc.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <type_traits>
#include <utility>

#include "check.h"
#include "client_impl.h"

#include <charconv>
#include <cstring>

namespace hermod {

using client_internal::AckCommand;
using client_internal::Command;
using client_internal::CreditCommand;
using client_internal::NackCommand;
using client_internal::Outbox;
using client_internal::PublishCommand;

namespace {

// Output queued on the connection beyond which the outbox stops being
// drained and publishes stop being sent until the socket catches up
// (OnDrained): a fast publisher, or a reconnect resending many publishes,
// must not push the connection past its pending-output cap, which would
// close it.
constexpr size_t kMaxPendingOutput = 4u << 20;

Status ClosedStatus() { return Status(ErrorCode::kClosed, "client closed"); }

uint32_t ClampToU32(int64_t value) {
  if (value <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(value, std::numeric_limits<uint32_t>::max()));
}

}  // namespace

// ---------------------------------------------------------------------------
// The outbox: publishes, acks, nacks and credit changes.

Status Client::Impl::Queue(Command* cmd) {
  switch (outbox_.Push(cmd)) {
    case Outbox::PushResult::kQueued:
      return Status::OK();
    case Outbox::PushResult::kQueuedWake:
      // A Close() on another thread can run CloseOnLoop between the push and
      // this post. The wakeup is then refused, and not needed: CloseOnLoop
      // closed the outbox after the push and executed what it held, this
      // command included (see there).
      (void)loop_.Post([this] { ProcessOutbox(); });
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
  FinishPublishCommand(payload, options, std::move(done), &cmd);
}

void Client::Impl::PublishToGroupAsync(std::string_view group, std::string_view payload,
                                       const PublishOptions& options, ConfirmCallback done) {
  // A group publish is a publish like any other (same pending list, order,
  // dedup ids and resends); only its target field differs on the wire.
  Command cmd(std::in_place_type<PublishCommand>);
  std::get<PublishCommand>(cmd).group.assign(group);
  std::get<PublishCommand>(cmd).to_group = true;
  FinishPublishCommand(payload, options, std::move(done), &cmd);
}

void Client::Impl::FinishPublishCommand(std::string_view payload, const PublishOptions& options,
                                        ConfirmCallback done, Command* cmd_ptr) {
  Command& cmd = *cmd_ptr;
  PublishCommand& publish = std::get<PublishCommand>(cmd);
  publish.payload.assign(payload);
  publish.headers = options.headers;
  publish.ttl_ms = static_cast<uint64_t>(std::max<int64_t>(0, options.ttl.count()));
  publish.dedup_id = options.dedup_id;
  publish.delay_ms = static_cast<uint64_t>(std::max<int64_t>(0, options.delay.count()));
  if (options.deliver_at.time_since_epoch().count() > 0) {
    publish.deliver_at_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(options.deliver_at.time_since_epoch())
            .count());
  }
  publish.receipt_to = options.receipt_to;
  publish.receipt = options.receipt;
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
  // While reconnecting there is nothing to ack: the deliveries of the old
  // connection are given back by the broker and come again.
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
  // Accepted while reconnecting: the subscription is subscribed again with it.
  if (Finished()) return NotConnectedStatus();
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
    AddPublish(*publish);
    return;
  }
  if (auto* credit = std::get_if<CreditCommand>(&cmd)) {
    auto it = subscriptions_.find(credit->subscription);
    if (it == subscriptions_.end()) return;
    // Kept for the Subscribe after a reconnect.
    it->second.credit = credit->credit;
    if (!Ready()) return;
    auto& fbb = encoder_.Start();
    Send(wire::CreateCredit(fbb, credit->subscription, credit->credit));
    return;
  }
  // Acks and nacks need only an open connection: Close() sends the ones
  // queued before it (see CloseOnLoop). They go out only for deliveries of
  // this connection (DeliveredSeqs); the others were given back by the
  // broker when their connection ended, and come again.
  if (!Ready()) return;
  if (auto* ack = std::get_if<AckCommand>(&cmd)) {
    auto it = subscriptions_.find(ack->subscription);
    if (it == subscriptions_.end() ||
        it->second.delivered.RemoveRange(ack->first_seq, ack->last_seq) == 0) {
      return;
    }
    auto& fbb = encoder_.Start();
    Send(wire::CreateAck(fbb, ack->subscription, ack->first_seq, ack->last_seq));
  } else if (auto* nack = std::get_if<NackCommand>(&cmd)) {
    auto it = subscriptions_.find(nack->subscription);
    if (it == subscriptions_.end() || it->second.delivered.RemoveRange(nack->seq, nack->seq) == 0) {
      return;
    }
    auto& fbb = encoder_.Start();
    Send(wire::CreateNack(fbb, nack->subscription, nack->seq, nack->delay_ms));
  }
}

// ---------------------------------------------------------------------------
// Publishes.

void Client::Impl::AddPublish(PublishCommand& cmd) {
  if (Finished()) {
    if (cmd.done) {
      PublishResult result;
      result.status = NotConnectedStatus();
      cmd.done(result);
    }
    return;
  }
  if (cmd.to_group && cmd.group.empty()) {
    // On the wire an empty group reads as "no group": it would go to a
    // queue named "" instead.
    if (cmd.done) {
      PublishResult result;
      result.status = Status::InvalidArgument("group name is empty");
      cmd.done(result);
    }
    return;
  }
  // The dedup id is fixed before the first send, so every resend carries
  // the same one and the broker stores the message once.
  if (cmd.dedup_id.empty() && options_.dedup_resends) cmd.auto_dedup = next_auto_dedup_++;
  publishes_.Add(std::move(cmd));
  // Sent at once, unless earlier publishes still wait to be (re)sent or
  // there is no connection: it then goes out after them, in order.
  PumpPublishes();
}

void Client::Impl::PumpPublishes() {
  while (!Finished() && Ready() && conn_->pending_output() <= kMaxPendingOutput) {
    uint64_t correlation_id = 0;
    const PublishCommand* cmd = publishes_.TakeNextUnsent(&correlation_id);
    if (cmd == nullptr) return;
    if (SendPublish(correlation_id, *cmd)) continue;
    // A frame above the broker's limit would make it close the connection,
    // failing every other request too: this one fails alone, here.
    PublishResult result;
    result.status = Status(ErrorCode::kPayloadTooLarge,
                           "message of " + std::to_string(cmd->payload.size()) +
                               " bytes does not fit the broker's max_frame_bytes " +
                               std::to_string(broker_max_frame_bytes_));
    ConfirmCallback done;
    HERMOD_CHECK(publishes_.Take(correlation_id, &done));
    // The callback may close the client; the loop condition notices.
    if (done) done(result);
  }
}

bool Client::Impl::SendPublish(uint64_t correlation_id, const PublishCommand& cmd) {
  auto& fbb = encoder_.Start();
  // Exactly one of queue and group is on the wire.
  flatbuffers::Offset<flatbuffers::String> queue;
  flatbuffers::Offset<flatbuffers::String> group;
  if (!cmd.to_group) {
    queue = fbb.CreateString(cmd.queue);
  } else {
    group = fbb.CreateString(cmd.group);
  }
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
  if (!cmd.dedup_id.empty()) {
    dedup_id = fbb.CreateString(cmd.dedup_id);
  } else if (cmd.auto_dedup != 0) {
    // "~" cannot start an id the CLI or an application would make up by
    // accident, and client_id_ keeps clients apart. Formatted by hand: this
    // runs for every publish.
    char id[64];
    std::memcpy(id, dedup_prefix_.data(), dedup_prefix_.size());
    char* end = std::to_chars(id + dedup_prefix_.size(), id + sizeof(id), cmd.auto_dedup).ptr;
    dedup_id = fbb.CreateString(id, static_cast<size_t>(end - id));
  }
  flatbuffers::Offset<flatbuffers::String> receipt_to, receipt;
  if (!cmd.receipt_to.empty()) receipt_to = fbb.CreateString(cmd.receipt_to);
  if (!cmd.receipt.empty()) receipt = fbb.CreateString(cmd.receipt);
  std::span<const uint8_t> frame = encoder_.Finish(
      wire::CreatePublish(fbb, correlation_id, queue, payload, headers, cmd.ttl_ms, dedup_id, group,
                          cmd.delay_ms, cmd.deliver_at_ms, receipt_to, receipt));
  const size_t frame_bytes = frame.size() - proto::kLengthPrefixBytes;
  if (broker_max_frame_bytes_ != 0 && frame_bytes > broker_max_frame_bytes_) return false;
  conn_->Send(frame);
  return true;
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
  if (Finished()) return NotConnectedStatus();
  auto done = std::make_shared<std::promise<Result<SubscriptionId>>>();
  std::future<Result<SubscriptionId>> result = done->get_future();
  bool posted = loop_.Post(
      [this, queue = std::string(queue), options, handler = std::move(handler), done]() mutable {
        SubscribeOnLoop(queue, options, std::move(handler), std::move(done));
      });
  if (!posted) return ClosedStatus();
  // The loop thread always answers: the broker's reply, the request timer
  // (no connection in time), the client giving up, or Close().
  return result.get();
}

void Client::Impl::SubscribeOnLoop(const std::string& queue, const SubscribeOptions& options,
                                   DeliveryHandler handler,
                                   std::shared_ptr<std::promise<Result<SubscriptionId>>> done) {
  if (Finished()) {
    done->set_value(NotConnectedStatus());
    return;
  }
  const SubscriptionId subscription = next_subscription_id_++;
  Subscription& sub = subscriptions_[subscription];
  sub.queue = queue;
  sub.handler = std::make_shared<const DeliveryHandler>(std::move(handler));
  sub.credit = options.credit;
  sub.ack_wait_ms = ClampToU32(options.ack_wait.count());
  sub.backoff = options.backoff;
  sub.resume_through = options.resume_through;
  sub.waiting = [subscription, done](const Status& status) {
    if (status.ok()) {
      done->set_value(subscription);
    } else {
      done->set_value(status);
    }
  };
  sub.deadline = Clock::now() + RequestWait();
  if (Ready()) {
    SendSubscribe(subscription);
  } else {
    ArmRequestTimer();  // Resume() subscribes it once connected
  }
}

void Client::Impl::SendUnsentSubscriptions() {
  for (auto& [subscription, sub] : subscriptions_) {
    if (!sub.sent) SendSubscribe(subscription);
  }
}

void Client::Impl::SendSubscribe(SubscriptionId subscription) {
  Subscription& sub = subscriptions_.at(subscription);
  sub.sent = true;
  const uint64_t correlation_id = next_request_id_++;
  requests_[correlation_id] = InFlight{
      [this, subscription](const Status& status) { OnSubscribeReply(subscription, status); },
      [this, subscription] {
        auto it = subscriptions_.find(subscription);
        if (it != subscriptions_.end()) it->second.sent = false;
      }};
  auto& fbb = encoder_.Start();
  auto queue_name = fbb.CreateString(sub.queue);
  flatbuffers::Offset<flatbuffers::String> backoff;
  if (!sub.backoff.empty()) backoff = fbb.CreateString(sub.backoff);
  Send(wire::CreateSubscribe(fbb, correlation_id, subscription, queue_name, sub.credit,
                             sub.ack_wait_ms, backoff, sub.resume_through));
}

void Client::Impl::OnSubscribeReply(SubscriptionId subscription, const Status& status) {
  auto it = subscriptions_.find(subscription);
  if (it == subscriptions_.end()) return;  // unsubscribed meanwhile
  std::function<void(const Status&)> waiting = std::move(it->second.waiting);
  it->second.waiting = nullptr;
  if (status.ok()) {
    resubscribe_backoff_.Reset();
  } else if (!waiting) {
    // Refused when subscribing again after a reconnect (the queue is being
    // deleted, the broker is stopping): the application still counts on
    // this subscription, so it is sent again after the reconnect backoff
    // rather than ended without a word. In a cluster, a node that no longer
    // leads the queue's partition says so: the routing layer moves it.
    it->second.sent = false;
    resubscribe_timer_.Start(static_cast<uint64_t>(resubscribe_backoff_.Next().count()));
    if (routed_ && status.code() == ErrorCode::kNotLeader && mode_.on_not_leader) {
      mode_.on_not_leader(status);
    }
    return;
  } else {
    // Refused on the application's own call: its Subscribe returns the
    // broker's status.
    subscriptions_.erase(it);
  }
  if (waiting) waiting(status);
}

Status Client::Impl::Unsubscribe(SubscriptionId subscription) {
  if (OnLoopThread()) {
    // A callback cannot wait for the reply: the frame is sent, and the
    // handler is dropped at once.
    UnsubscribeOnLoop(subscription, [](const Status&) {});
    return Status::OK();
  }
  if (Finished()) return NotConnectedStatus();
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
  if (Finished()) {
    done(NotConnectedStatus());
    return;
  }
  auto it = subscriptions_.find(subscription);
  if (it == subscriptions_.end()) {
    done(Status::NotFound("no subscription " + std::to_string(subscription)));
    return;
  }
  const bool on_broker = it->second.sent;
  // No delivery reaches the handler once Unsubscribe is on its way.
  subscriptions_.erase(it);
  if (!on_broker) {
    // Reconnecting: no connection holds the subscription, and the one that
    // did gave its deliveries back when it ended. There is nobody to ask.
    done(Status::OK());
    return;
  }
  const uint64_t correlation_id = next_request_id_++;
  // Should the connection end before the answer, the broker drops the
  // subscription with it: that is a success too.
  requests_[correlation_id] = InFlight{done, [done] { done(Status::OK()); }};
  auto& fbb = encoder_.Start();
  Send(wire::CreateUnsubscribe(fbb, correlation_id, subscription));
}

// ---------------------------------------------------------------------------
// Requests replayed after a reconnect: ConfigureQueue.

Status Client::Impl::ConfigureQueue(std::string_view queue, const QueueSettings& settings) {
  if (OnLoopThread()) {
    return Status::InvalidArgument(
        "ConfigureQueue blocks, so it cannot run in a callback of its client");
  }
  if (settings.max_age && settings.max_age->count() < 0) {
    return Status::InvalidArgument("max_age is negative");
  }
  if (settings.ack_wait && (settings.ack_wait->count() < 0 ||
                            settings.ack_wait->count() > std::numeric_limits<uint32_t>::max())) {
    return Status::InvalidArgument("ack_wait must be between 0 and 2^32-1 ms");
  }
  auto request = std::make_shared<RetriedRequest>();
  request->send = [this, queue = std::string(queue), settings](uint64_t correlation_id) {
    return SendConfigureQueue(correlation_id, queue, settings);
  };
  return CallRequest(std::move(request), "ConfigureQueue");
}

void Client::Impl::StartRequest(std::shared_ptr<RetriedRequest> request) {
  if (Finished()) {
    request->done(NotConnectedStatus());
    return;
  }
  if (!Ready()) {
    parked_.push_back(std::move(request));
    ArmRequestTimer();  // Resume() starts it again once connected
    return;
  }
  const uint64_t correlation_id = next_request_id_++;
  Status sent = request->send(correlation_id);
  if (!sent.ok()) {
    request->done(sent);
    return;
  }
  ++request->sends;
  InFlight in_flight;
  in_flight.done = [request](const Status& status) {
    if (!status.ok() && request->sends > 1 && status.code() == request->ok_when_resent) {
      // An earlier send, whose answer the broken connection took with it,
      // did what was asked.
      request->done(Status::OK());
      return;
    }
    request->done(status);
  };
  in_flight.lost = [this, request] { RequestLost(request); };
  in_flight.reply_type = request->reply_type;
  if (request->reply) {
    in_flight.reply = [request](const wire::Frame& frame) { request->done(request->reply(frame)); };
  }
  requests_[correlation_id] = std::move(in_flight);
}

void Client::Impl::RequestLost(std::shared_ptr<RetriedRequest> request) {
  if (request->max_sends != 0 && request->sends >= request->max_sends) {
    request->done(Status::Unavailable("the connection to " + options_.server + " ended " +
                                      std::to_string(request->sends) +
                                      " times before the broker answered"));
    return;
  }
  // Asking again does no harm (the requests that come here are idempotent,
  // or say how a resend's answer reads): the next connection carries it.
  // The wait for it starts now, not when the request was first made.
  request->deadline = Clock::now() + RequestWait();
  parked_.push_back(std::move(request));
}

std::future<Status> Client::Impl::BeginRequest(std::shared_ptr<RetriedRequest> request,
                                               std::chrono::milliseconds wait) {
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  request->done = [done](const Status& status) { done->set_value(status); };
  bool posted = loop_.Post([this, request, wait] {
    request->deadline = Clock::now() + (wait.count() > 0 ? wait : RequestWait());
    StartRequest(request);
  });
  // The loop closed its mailbox: Close() ran, and the closure never will.
  if (!posted) done->set_value(ClosedStatus());
  return result;
}

Status Client::Impl::CallRequest(std::shared_ptr<RetriedRequest> request, const char* what) {
  if (OnLoopThread()) {
    return Status::InvalidArgument(std::string(what) +
                                   " blocks, so it cannot run in a callback of its client");
  }
  if (Finished()) return NotConnectedStatus();
  // The loop thread always answers: the broker's reply, the request timer
  // (no connection in time), the client giving up, or Close().
  return BeginRequest(std::move(request)).get();
}

Status Client::Impl::SendConfigureQueue(uint64_t correlation_id, const std::string& queue,
                                        const QueueSettings& settings) {
  auto& fbb = encoder_.Start();
  auto queue_name = fbb.CreateString(queue);
  // Strings are built before the table; absent ones mean "unchanged", and
  // an empty dead_letter_queue (present, empty) means "the default".
  flatbuffers::Offset<flatbuffers::String> overflow;
  if (settings.overflow) overflow = fbb.CreateString(*settings.overflow);
  flatbuffers::Offset<flatbuffers::String> dead_letter_queue;
  if (settings.dead_letter_queue) dead_letter_queue = fbb.CreateString(*settings.dead_letter_queue);
  flatbuffers::Offset<flatbuffers::String> backoff;
  if (settings.backoff) backoff = fbb.CreateString(*settings.backoff);
  wire::ConfigureQueueBuilder builder(fbb);
  builder.add_correlation_id(correlation_id);
  builder.add_queue(queue_name);
  builder.add_reset(settings.reset);
  // Optional scalars: a field is on the wire only when it is set.
  if (settings.max_messages) builder.add_max_messages(*settings.max_messages);
  if (settings.max_bytes) builder.add_max_bytes(*settings.max_bytes);
  if (settings.overflow) builder.add_overflow(overflow);
  if (settings.max_age) builder.add_max_age_ms(static_cast<uint64_t>(settings.max_age->count()));
  if (settings.max_deliveries) builder.add_max_deliveries(*settings.max_deliveries);
  if (settings.dead_letter_queue) builder.add_dead_letter_queue(dead_letter_queue);
  if (settings.ack_wait) builder.add_ack_wait_ms(static_cast<uint32_t>(settings.ack_wait->count()));
  if (settings.backoff) builder.add_backoff(backoff);
  return SendChecked(builder.Finish(), "ConfigureQueue request");
}

}  // namespace hermod
