// Delivery receipts (docs/semantics.md, "Receipts"). A publish that names
// `receipt_to` carries it in its envelope (x-hermod-receipt-to, written by
// TakePublishExtras). When one of its entries leaves its queue for good
// (acked, expired, dead-lettered, dropped; a purge sends none), the broker
// appends a receipt to that queue in the same storage batch as the
// removal: a payload-less entry whose headers say what happened. So a crash
// keeps both or neither, and a receipt is as durable as any entry.
//
// A group publish with `receipt: all` gets one receipt once every member
// has settled its copy: a tally (store/keys.h ReceiptTally) counts them
// down, written in the batch of each settlement and removed with the last,
// which also carries the receipt.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker.h"
#include "envelope.h"

namespace hermod::core {

namespace {

const char* FailureReason(Removal why) {
  switch (why) {
    case Removal::kExpired:
      return "expired";
    case Removal::kDeadLettered:
      return "dead-lettered";
    case Removal::kDropped:
      return "dropped";
    case Removal::kAcked:
    case Removal::kPurged:
    case Removal::kRedriven:
      break;
  }
  return nullptr;
}

}  // namespace

void Broker::SettleReceipt(Queue* q, const Entry& entry, Removal why) {
  // Every removal comes here: most messages have no headers, and cost one
  // read of their header count.
  if (!entry.msg || !store::EnvelopeView::HasHeaders(entry.msg->envelope())) return;
  store::EnvelopeView envelope;
  std::string_view to;
  if (!envelope.Parse(entry.msg->envelope()) ||
      !envelope.FindHeader(store::kReceiptToHeader, &to)) {
    return;
  }
  const char* reason = FailureReason(why);
  std::string_view mode;
  if (envelope.FindHeader(store::kReceiptModeHeader, &mode) && mode == "all") {
    return CountTowardTally(entry.msg_id, to, reason);
  }
  // A copy forwarded from a group's partition names its publisher's id.
  std::string_view original;
  const std::string msg_id = envelope.FindHeader(store::kReceiptMsgIdHeader, &original)
                                 ? std::string(original)
                                 : std::to_string(entry.msg_id);
  const std::string seq = std::to_string(entry.seq);
  const std::string time = std::to_string(Now());
  Header headers[6] = {
      {"kind", reason == nullptr ? "delivered" : "failed"},
      {"msg-id", msg_id},
      {"queue", q->name()},
      {"seq", seq},
      {"time", time},
  };
  size_t n = 5;
  if (reason != nullptr) headers[n++] = Header{"reason", reason};
  AppendReceipt(to, std::span<const Header>(headers, n), q->partition);
}

void Broker::StartReceiptTally(const FanoutJob& job, std::string_view receipt_to) {
  store::ReceiptTally tally;
  tally.msg_id = job.msg_id;
  tally.from = job.partition;
  tally.remaining = static_cast<uint32_t>(job.members->size());
  if (tally.remaining == 0) {
    // Nobody to wait for: the receipt goes at once.
    tally.remaining = 1;
    tallies_[job.msg_id] = TallyState{tally, 0};
    return CountTowardTally(job.msg_id, receipt_to, nullptr, /*member=*/false);
  }
  pipeline_.batch().log.In(tally.from).SetReceiptTally(tally);
  tallies_[job.msg_id] = TallyState{tally, pipeline_.batch_no()};
  tally_touches_.emplace_back(pipeline_.batch_no(), job.msg_id);
}

void Broker::CountTowardTally(MsgId msg_id, std::string_view receipt_to, const char* reason,
                              bool member) {
  auto it = tallies_.find(msg_id);
  if (it == tallies_.end()) {
    // Not touched since its last change committed: the store has it.
    Result<std::optional<store::ReceiptTally>> stored = store_->ReadReceiptTally(msg_id);
    if (!stored.ok() || !stored->has_value()) {
      spdlog::warn("message {}: no receipt tally to count in ({})", msg_id,
                   stored.ok() ? "settled already" : stored.status().ToString());
      return;
    }
    it = tallies_.emplace(msg_id, TallyState{**stored, 0}).first;
  }
  store::ReceiptTally& tally = it->second.tally;
  if (tally.remaining == 0) return;
  --tally.remaining;
  if (member) reason == nullptr ? ++tally.delivered : ++tally.failed;
  store::WriteBatch& batch = pipeline_.batch();
  batch.log.In(tally.from).SetReceiptTally(tally);  // remaining 0 removes it
  it->second.last_batch = batch.batch_no;
  tally_touches_.emplace_back(batch.batch_no, msg_id);
  pipeline_.NotePublish(0);
  if (tally.remaining != 0) return;

  const std::string id = std::to_string(msg_id);
  const std::string members = std::to_string(tally.delivered + tally.failed);
  const std::string delivered = std::to_string(tally.delivered);
  const std::string failed = std::to_string(tally.failed);
  const std::string time = std::to_string(Now());
  const Header headers[] = {
      {"kind", tally.failed == 0 ? "delivered" : "failed"},
      {"msg-id", id},
      {"members", members},
      {"delivered", delivered},
      {"failed", failed},
      {"time", time},
  };
  AppendReceipt(receipt_to, headers, tally.from);
}

void Broker::SettleSkippedMember(const FanoutJob& job, Queue* q) {
  store::EnvelopeView envelope;
  if (!envelope.Parse(job.msg->envelope()) || envelope.header_count() == 0) return;
  std::string_view to;
  if (!envelope.FindHeader(store::kReceiptToHeader, &to)) return;
  std::string_view mode;
  if (envelope.FindHeader(store::kReceiptModeHeader, &mode) && mode == "all") {
    return CountTowardTally(job.msg_id, to, "rejected");
  }
  if (q == nullptr) return;  // the member queue is gone
  const std::string msg_id = std::to_string(job.msg_id);
  const std::string time = std::to_string(Now());
  const Header headers[] = {
      {"kind", "failed"}, {"msg-id", msg_id},     {"queue", q->name()},
      {"time", time},     {"reason", "rejected"},
  };
  AppendReceipt(to, headers, q->partition);
}

void Broker::AppendReceipt(std::string_view to, std::span<const Header> headers,
                           store::PartitionId from) {
  if (config_.cluster && PartitionOfName(to) != from) {
    // Another partition's queue: forwarded to its leader, exactly once, as
    // a group publish's copies are (ForwardCopy).
    store::NewEnvelope receipt;
    receipt.publish_ms = Now();
    receipt.headers = headers;
    std::string envelope;
    receipt.Write(&envelope);
    ForwardCopy(from, to, envelope);
    ++stats_.receipts;
    return;
  }
  Result<Queue*> found = queues_.Load(to);
  if (!found.ok()) {
    ++stats_.receipts_dropped;
    spdlog::warn("receipt to {} dropped: {}", to, found.status().ToString());
    return;
  }
  Queue* q = *found;
  store::NewEnvelope receipt;
  receipt.publish_ms = Now();
  receipt.headers = headers;
  size_t bytes = *receipt.Bytes();  // a handful of short headers
  // The receipt queue is an ordinary queue, limits included: a full one
  // drops the receipt rather than refuse the ack that made it.
  if (Status room = MakeRoom(q, bytes); !room.ok()) {
    ++stats_.receipts_dropped;
    spdlog::warn("receipt to {} dropped: {}", to, room.message());
    return;
  }
  AppendEntry(q, receipt, bytes);
  ++stats_.receipts;
  // Delivered at the end of this turn, not here: the caller may be walking
  // a consumer's deliveries of this very queue (an ack of a range).
  if (!q->consumers.empty()) receipt_queues_.push_back(q);
}

void Broker::ForwardCopy(store::PartitionId from, std::string_view to, std::string_view envelope) {
  // A one-off fan-out job of the `from` partition with no member of its
  // own and one forward: the message is stored there with the forward's
  // reference (the job's own goes with the job, in the same batch), and
  // the forward machinery (replication gate, resends, takeover, the
  // receiver's dedup by job) delivers it once to `to`'s leader.
  store::WriteBatch& batch = pipeline_.batch();
  store::FanoutStart start;
  start.job_id = pipeline_.ids().next_job_id++;
  start.msg_id = pipeline_.ids().next_msg_id++;
  start.created_ms = Now();
  start.envelope.assign(envelope);
  batch.log.In(from).StartFanout(start);
  OutboundForward forward;
  forward.from = from;
  forward.to = PartitionOfName(to);
  forward.job_id = start.job_id;
  forward.msg_id = start.msg_id;
  forward.envelope = std::move(start.envelope);
  forward.names.emplace_back(to);
  store::FanoutForward op;
  op.job_id = forward.job_id;
  op.partition = forward.to;
  op.msg_id = forward.msg_id;
  op.names = store::EncodeNames(forward.names);
  batch.log.In(from).ForwardFanout(op);
  batch.log.In(from).AdvanceFanout(
      store::FanoutProgress{start.job_id, start.msg_id, 0, 0, /*done=*/true});
  pipeline_.NotePublish(forward.envelope.size());
  awaiting_forwards_.emplace_back(batch.batch_no, std::move(forward));
  ++stats_.fanout_forwards;
}

std::string Broker::ForwardedEnvelope(std::string_view envelope, MsgId msg_id) {
  store::EnvelopeView view;
  std::string_view ignored;
  if (!view.Parse(envelope) || view.header_count() == 0 ||
      !view.FindHeader(store::kReceiptToHeader, &ignored) ||
      view.FindHeader(store::kReceiptMsgIdHeader, &ignored)) {
    return std::string(envelope);
  }
  std::vector<Header> headers;
  view.ForEachHeader([&](std::string_view k, std::string_view v) { headers.push_back({k, v}); });
  const std::string id = std::to_string(msg_id);
  const Header extra[] = {{store::kReceiptMsgIdHeader, id}};
  store::NewEnvelope copy;
  copy.publish_ms = view.publish_ms();
  copy.expires_ms = view.expires_ms();
  copy.headers = headers;
  copy.extra_headers = extra;
  copy.payload = view.payload();
  std::string out;
  if (!copy.Bytes().ok()) return std::string(envelope);
  copy.Write(&out);
  return out;
}

void Broker::DispatchReceipts() {
  std::vector<Queue*> queues = std::move(receipt_queues_);
  receipt_queues_.clear();
  std::sort(queues.begin(), queues.end());
  queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
  // Each has an entry in the batch being filled, so none was evicted.
  for (Queue* q : queues) {
    if (!q->deleted) Dispatch(q);
  }
}

void Broker::ForgetCommittedTallies(BatchNo through) {
  while (!tally_touches_.empty() && tally_touches_.front().first <= through) {
    auto it = tallies_.find(tally_touches_.front().second);
    if (it != tallies_.end() && it->second.last_batch <= through) tallies_.erase(it);
    tally_touches_.pop_front();
  }
}

}  // namespace hermod::core
