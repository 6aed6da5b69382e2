// The redrive half of the Broker: dead letters moved back to the queue they
// came from (or another), in bounded batches. See broker.h (Redrive) and
// docs/semantics.md ("Redrive").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "broker.h"
#include "envelope.h"
#include "names.h"

namespace hermod::core {

namespace {

// The header DeadLetter() names the origin with, and the one a redriven
// copy names its dead-letter queue with.
constexpr std::string_view kDeadLetterFrom = "x-hermod-dead-letter-from";
constexpr std::string_view kRedrivenFrom = "x-hermod-redriven-from";

// Headers the dead-lettering (or an earlier redrive) added: a redriven copy
// drops them, so that it looks as it did when first published.
bool AddedByDeadLettering(std::string_view key) {
  return key.starts_with("x-hermod-dead-letter-") || key.starts_with("x-hermod-original-") ||
         key == "x-hermod-delivery-count" || key == kRedrivenFrom;
}

// A request looks at this many entries per entry it may move, at most: an
// entry left in place (no origin, a target led elsewhere) costs a look, and
// the loop must not stall on a dead-letter queue full of them.
constexpr uint64_t kLooksPerMove = 4;

}  // namespace

Result<std::string_view> Broker::RedriveTarget(const Queue& dlq,
                                               const store::EnvelopeView& envelope,
                                               std::string_view to) {
  std::string_view name = to;
  if (name.empty()) {
    // The last one: DeadLetter() writes it after the message's own headers.
    bool found = false;
    envelope.ForEachHeader([&](std::string_view k, std::string_view v) {
      if (k == kDeadLetterFrom) {
        name = v;
        found = true;
      }
    });
    if (!found) return Status::NotFound("no " + std::string(kDeadLetterFrom) + " header");
    if (Status s = ValidateQueueName(name); !s.ok()) return s;
  }
  if (name == dlq.name()) {
    return Status::InvalidArgument("queue " + dlq.name() + " cannot be redriven into itself");
  }
  return name;
}

Broker::Moved Broker::RedriveEntry(Queue* dlq, Entry& entry, std::string_view to,
                                   std::vector<Queue*>* targets, Status* refused) {
  store::EnvelopeView envelope;
  if (!envelope.Parse(entry.msg->envelope())) {
    spdlog::error("queue {}: entry {} does not read; it is not redriven", dlq->name(), entry.seq);
    return Moved::kSkipped;
  }
  Result<std::string_view> name = RedriveTarget(*dlq, envelope, to);
  if (!name.ok()) {
    // Left in place; said in the reply only when nothing moved.
    if (!name.status().IsNotFound() && refused->ok()) *refused = name.status();
    return Moved::kSkipped;
  }
  // In a cluster, a target of another partition gets the copy by forward
  // (ForwardCopy), as group fan-out's members do: stored here with the
  // removal, sent once replicated, resent until that partition's leader
  // has stored it once (it refuses while the target has no room).
  const bool forward = config_.cluster && PartitionOfName(*name) != dlq->partition;
  Queue* target = nullptr;
  if (!forward) {
    Result<Queue*> found = queues_.Load(*name);
    if (!found.ok()) {
      if (refused->ok()) *refused = found.status();
      return Moved::kSkipped;
    }
    target = *found;
    targets->push_back(target);
  }
  std::vector<Header> headers;
  headers.reserve(envelope.header_count());
  envelope.ForEachHeader([&](std::string_view k, std::string_view v) {
    if (!AddedByDeadLettering(k)) headers.push_back(Header{k, v});
  });
  const Header extra[] = {{kRedrivenFrom, dlq->name()}};
  // A new entry of a new message: delivery count 0, the publish time and
  // payload of the original. It does not expire by itself (the dead letter
  // did not); the target's max_age applies at delivery, from that time.
  store::NewEnvelope copy;
  copy.publish_ms = envelope.publish_ms();
  copy.headers = headers;
  copy.extra_headers = extra;
  copy.payload = envelope.payload();
  Result<size_t> bytes = copy.Bytes();
  if (!bytes.ok()) return Moved::kSkipped;  // fewer headers than the dead letter: cannot happen
  if (forward) {
    std::string envelope_bytes;
    copy.Write(&envelope_bytes);
    ForwardCopy(dlq->partition, *name, envelope_bytes);
    RemoveEntry(dlq, entry, Removal::kRedriven);
    return Moved::kMoved;
  }
  if (Status room = MakeRoom(target, *bytes); !room.ok()) {
    *refused = room;
    return Moved::kStop;  // the next one would not fit either
  }
  // The copy and the removal go in the same batch: one commit moves it,
  // exactly once.
  AppendEntry(target, copy, *bytes);
  RemoveEntry(dlq, entry, Removal::kRedriven);
  return Moved::kMoved;
}

void Broker::Redrive(ClientId client_id, uint64_t correlation_id, std::string_view name,
                     std::string_view to, uint32_t limit) {
  Client& client = *FindClient(client_id);
  auto fail = [&](const Status& s) { out_->Error(client_id, s, correlation_id, false); };
  if (Status s = ValidateQueueName(name); !s.ok()) return fail(s);
  if (!to.empty()) {
    if (Status s = ValidateQueueName(to); !s.ok()) return fail(s);
    if (to == name) {
      return fail(Status::InvalidArgument("queue " + std::string(name) +
                                          " cannot be redriven into itself"));
    }
  }
  if (Status s = CheckServes(name); !s.ok()) return fail(s);
  if (!storage_failure_.ok()) return fail(storage_failure_);
  if (draining_) return fail(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  // Moves add messages before their removals free room, like publishes.
  if (Status s = CheckStoreRoom(); !s.ok()) return fail(s);
  Result<Queue*> found = queues_.Load(name);
  if (!found.ok()) return fail(found.status());
  Queue* dlq = *found;
  if (dlq->queue_id() == 0) {
    MaybeEvict(dlq);
    return fail(Status::NotFound("no queue " + std::string(name)));
  }

  const uint64_t most = limit != 0 ? std::min(limit, config_.redrive_batch) : config_.redrive_batch;
  uint64_t looks_left = most * kLooksPerMove;
  uint64_t moved = 0;
  bool stop = false;
  Status refused;
  std::vector<Queue*> targets;
  auto more = [&] { return !stop && moved < most && looks_left > 0; };
  // One entry; true when it moved (the caller takes it out of its container).
  auto consider = [&](Entry& entry) {
    --looks_left;
    switch (RedriveEntry(dlq, entry, to, &targets, &refused)) {
      case Moved::kMoved:
        ++moved;
        return true;
      case Moved::kSkipped:
        return false;
      case Moved::kStop:
        stop = true;
        return false;
    }
    return false;
  };
  // The undelivered entries in the order TakeNextEntry() takes them:
  // returned, read ahead, the index range, the log tail. Entries left in
  // place keep their place. Deliveries in flight and delayed nacks stay.
  for (auto it = dlq->returned.begin(); more() && it != dlq->returned.end();) {
    it = consider(it->second) ? dlq->returned.erase(it) : std::next(it);
  }
  for (size_t i = 0; more() && i < dlq->index_ahead.size();) {
    if (consider(dlq->index_ahead[i])) {
      dlq->index_ahead.erase_at(i);
    } else {
      ++i;
    }
  }
  for (Seq from = dlq->index_cursor; more() && from < dlq->index_end;) {
    std::vector<store::StoredEntry> read;
    Status s = store_->ReadEntries(dlq->queue_id(), from, dlq->index_end,
                                   static_cast<size_t>(std::min(looks_left, most)), &read);
    if (!s.ok()) {
      spdlog::error("queue {}: reading entries to redrive failed: {}", name, s.ToString());
      if (refused.ok()) refused = s;
      break;
    }
    if (read.empty()) break;
    from = read.back().seq + 1;
    for (store::StoredEntry& stored : read) {
      if (!more()) break;
      if (dlq->removed.count(stored.seq) > 0) continue;  // removed, delete pending
      Entry entry;
      entry.seq = stored.seq;
      entry.delivery_count = stored.value.delivery_count;
      entry.msg_id = stored.value.msg_id;
      entry.bytes = stored.value.bytes;
      entry.expires_ms = store::Store::EnvelopeExpiry(stored.envelope);
      entry.msg = MessageRef(Message::Create(stored.value.msg_id, stored.envelope));
      // ReadAhead must skip it until the delete commits (as ExpireIndexed).
      if (consider(entry)) dlq->removed.insert(stored.seq);
    }
  }
  for (size_t i = 0; more() && i < dlq->tail.size();) {
    if (consider(dlq->tail[i])) {
      // Its record may be applied before the removal is: the index range
      // then grows over it, and ReadAhead must skip it there.
      dlq->removed.insert(dlq->tail[i].seq);
      dlq->tail.erase_at(i);
    } else {
      ++i;
    }
  }

  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  if (moved == 0 && !refused.ok()) {
    for (Queue* target : targets) MaybeEvict(target);
    MaybeEvict(dlq);
    return fail(refused);
  }
  if (moved > 0) {
    spdlog::info("queue {}: {} dead letters redriven{}{}", name, moved, to.empty() ? "" : " to ",
                 to);
  }
  // Delivery does not wait for the commit (unless configured to); the
  // reply does.
  for (Queue* target : targets) {
    if (!config_.deliver_after_commit && !target->consumers.empty()) Dispatch(target);
    MaybeEvict(target);
  }
  PendingReply reply;
  reply.batch_no = moved > 0 ? pipeline_.batch_no() : 0;
  reply.correlation_id = correlation_id;
  reply.kind = PendingReply::kRedrive;
  reply.changed = moved;
  reply.remaining = dlq->depth;
  MaybeEvict(dlq);
  AddReply(client, reply);
}

}  // namespace hermod::core
