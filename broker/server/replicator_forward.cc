// The Replicator's part in group fan-out across partitions (docs/design.md,
// "Group fan-out across partitions"). The core logs a forward per other
// partition (and chunk of members) with the group publish; once that batch
// is replicated it hands the forward here. This side sends it to the
// members' leader (ForwardPublish) and sends it again after
// forward_retry_ms, or once a map change names another leader, until a
// ForwardAck says it is stored; Broker::ForwardDone then logs it done. The
// receiving side hands a ForwardPublish to the core as the request of an
// internal client and answers once the core's reply comes, which is once
// the entries are durable on every in-sync replica of that partition.
//
// A forward between two partitions this node leads takes the same path
// without a frame. Every resend is answered as a duplicate of the first
// (the core deduplicates by group, job and chunk), so members get one
// entry per publish.
#include <spdlog/spdlog.h>

#include "replicator.h"

namespace hermod::server {

void Replicator::StartForwarding() {
  broker_->ConnectInternal(kForwardClient, this);
  broker_->set_forward_listener(
      [this](core::OutboundForward forward) { OnForwardReady(std::move(forward)); });
}

void Replicator::OnForwardReady(core::OutboundForward forward) {
  ForwardKey key{forward.job_id, forward.to, forward.chunk};
  auto [it, added] = outbound_.try_emplace(key);
  if (!added) return;  // already on its way
  it->second.forward = std::move(forward);
  SendForward(it->second, loop_.now_ms());
}

void Replicator::SendForward(Outbound& out, uint64_t now) {
  const core::OutboundForward& f = out.forward;
  const NodeId leader = f.to < leaders_.size() ? leaders_[f.to] : NodeId();
  if (leader.empty()) return;  // leaderless now: the tick tries again
  out.sent_ms = now;
  if (out.resend) ++stats_.forwards_resent;
  out.resend = true;
  ++stats_.forwards_sent;
  proto::ForwardPublishFrame frame;
  frame.partition = f.to;
  frame.group_id = f.group_id;
  frame.job_id = f.job_id;
  frame.chunk = f.chunk;
  frame.envelope = f.envelope;
  frame.names = f.names;
  if (leader == options_.node_id) return OnForwardPublish(NodeId(), frame);
  // A link that is down or full: the tick sends it again.
  links_->Send(leader, proto::EncodeForwardPublish(encoder_, frame));
}

void Replicator::RetryForwards(uint64_t now) {
  for (auto& [key, out] : outbound_) {
    if (out.sent_ms == 0 || now - out.sent_ms >= options_.forward_retry_ms) SendForward(out, now);
  }
}

void Replicator::OnForwardPublish(const NodeId& from, const proto::ForwardPublishFrame& forward) {
  uint64_t correlation_id = ++next_forward_correlation_;
  inbound_[correlation_id] =
      Inbound{from, ForwardKey{forward.job_id, forward.partition, forward.chunk}};
  core::ForwardedPublish request;
  request.correlation_id = correlation_id;
  request.partition = forward.partition;
  request.group_id = forward.group_id;
  request.job_id = forward.job_id;
  request.chunk = forward.chunk;
  request.envelope = forward.envelope;
  request.names = forward.names;
  broker_->PublishForwarded(kForwardClient, request);
}

void Replicator::Replied(uint64_t correlation_id, const Status& status) {
  auto it = inbound_.find(correlation_id);
  if (it == inbound_.end()) return;
  Inbound in = std::move(it->second);
  inbound_.erase(it);
  if (in.from.empty()) return ForwardAnswered(in.key, status);
  proto::ForwardAckFrame ack;
  ack.partition = in.key.to;
  ack.job_id = in.key.job_id;
  ack.chunk = in.key.chunk;
  ack.code = status.code();
  ack.message = status.message();
  // Lost with the link: the sender sends the forward again.
  links_->Send(in.from, proto::EncodeForwardAck(encoder_, ack));
}

void Replicator::OnForwardAck(const NodeId& /*from*/, const proto::ForwardAckFrame& ack) {
  Status status =
      ack.code == ErrorCode::kOk ? Status::OK() : Status(ack.code, std::string(ack.message));
  ForwardAnswered(ForwardKey{ack.job_id, ack.partition, ack.chunk}, status);
}

void Replicator::ForwardAnswered(const ForwardKey& key, const Status& status) {
  auto it = outbound_.find(key);
  if (it == outbound_.end()) return;  // answered before, or no longer led here
  if (!status.ok()) {
    // Sent again after forward_retry_ms, to whoever leads then.
    spdlog::debug("cluster: forward of job {} to partition {} not stored yet: {}", key.job_id,
                  key.to, status.ToString());
    return;
  }
  ++stats_.forwards_answered;
  broker_->ForwardDone(it->second.forward);
  outbound_.erase(it);
}

}  // namespace hermod::server
