// The delivery half of the Broker: subscriptions, delivery within credit,
// acks, nacks, ack-wait redelivery, dead-lettering, and the expiry and dedup
// sweeps. See broker.h.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

#include "broker.h"
#include "check.h"
#include "envelope.h"
#include "names.h"

namespace hermod::core {

const char* ReturnReasonName(ReturnReason reason) {
  switch (reason) {
    case ReturnReason::kNacked:
      return "nacked";
    case ReturnReason::kAckWaitExpired:
      return "ack-wait-expired";
    case ReturnReason::kConsumerGone:
      return "consumer-gone";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Subscriptions

void Broker::Subscribe(ClientId client_id, const SubscribeRequest& subscribe) {
  Client& client = *FindClient(client_id);
  uint64_t correlation_id = subscribe.correlation_id;
  SubscriptionId subscription_id = subscribe.subscription_id;
  std::string_view name = subscribe.queue;
  auto fail = [&](const Status& s) { out_->Error(client_id, s, correlation_id, false); };
  if (draining_) return fail(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  if (Status s = ValidateQueueName(name); !s.ok()) return fail(s);
  if (Status s = CheckServes(name); !s.ok()) return fail(s);
  if (client.FindConsumer(subscription_id) != nullptr) {
    return fail(Status::AlreadyExists("subscription " + std::to_string(subscription_id) +
                                      " exists on this connection"));
  }
  std::optional<RedeliveryBackoff> backoff;
  if (!subscribe.backoff.empty()) {
    Result<RedeliveryBackoff> parsed = ParseBackoff(subscribe.backoff);
    if (!parsed.ok()) return fail(parsed.status());
    backoff = std::move(*parsed);
  }
  Result<Queue*> q = queues_.Load(name);
  if (!q.ok()) return fail(q.status());

  auto consumer = std::make_unique<Consumer>();
  consumer->client = &client;
  consumer->subscription_id = subscription_id;
  consumer->queue = *q;
  consumer->credit = subscribe.credit;
  consumer->ack_wait_ms =
      subscribe.ack_wait_ms != 0 ? subscribe.ack_wait_ms : (*q)->limits().ack_wait_ms;
  if (backoff) consumer->backoff = std::move(*backoff);
  (*q)->consumers.push_back(consumer.get());
  client.AddConsumer(std::move(consumer));
  ++subscriptions_;

  if (subscribe.resume_through != 0) Resume(*q, subscribe.resume_through);

  // The reply goes before the first delivery.
  out_->Subscribed(client_id, correlation_id, subscription_id);
  Dispatch(*q);
}

void Broker::SetCredit(ClientId client_id, SubscriptionId subscription_id, uint32_t credit) {
  Consumer* c = FindClient(client_id)->FindConsumer(subscription_id);
  if (c == nullptr) return;
  c->credit = credit;
  Dispatch(c->queue);
}

Status Broker::Unsubscribe(ClientId client_id, SubscriptionId subscription_id) {
  std::unique_ptr<Consumer> c = FindClient(client_id)->TakeConsumer(subscription_id);
  if (c == nullptr) return Status::NotFound("no subscription " + std::to_string(subscription_id));
  Queue* q = c->queue;
  RemoveConsumer(c.get());
  c.reset();
  MaybeEvict(q);
  return Status::OK();
}

void Broker::ClientWritable(ClientId client_id) {
  // Deliveries paused at the high-water mark resume.
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return;
  for (auto& c : it->second->consumers()) Dispatch(c->queue);
}

void Broker::RemoveConsumer(Consumer* c) {
  --subscriptions_;
  ForgetDeadline(c);
  Queue* q = c->queue;
  Lazy<std::map<Seq, Entry>> inflight = std::move(c->inflight);
  q->inflight -= static_cast<uint32_t>(inflight.size());
  auto it = std::find(q->consumers.begin(), q->consumers.end(), c);
  HERMOD_CHECK(it != q->consumers.end());
  q->consumers.erase(it);
  if (q->next_consumer >= q->consumers.size()) q->next_consumer = 0;
  for (auto& [seq, entry] : inflight) ReturnEntry(q, std::move(entry), ReturnReason::kConsumerGone);
  Dispatch(q);
}

// ---------------------------------------------------------------------------
// Delivery

Consumer* Broker::NextConsumer(Queue* q) {
  size_t n = q->consumers.size();
  for (size_t i = 0; i < n; ++i) {
    size_t at = (q->next_consumer + i) % n;
    Consumer* c = q->consumers[at];
    if (c->has_credit() && c->client->port()->CanDeliver()) {
      q->next_consumer = static_cast<uint32_t>((at + 1) % n);
      return c;
    }
  }
  return nullptr;
}

Status Broker::ReadAhead(Queue* q) {
  std::vector<store::StoredEntry> read;
  Status s = store_->ReadEntries(q->queue_id(), q->index_cursor, q->index_end,
                                 config_.index_read_ahead, &read);
  if (!s.ok()) return s;
  for (store::StoredEntry& stored : read) {
    if (q->removed.erase(stored.seq) > 0) continue;  // expired by the sweep, delete pending
    Entry entry;
    entry.seq = stored.seq;
    entry.batch_no = 0;  // in the index
    entry.delivery_count = stored.value.delivery_count;
    entry.msg_id = stored.value.msg_id;
    entry.bytes = stored.value.bytes;
    entry.expires_ms = store::Store::EnvelopeExpiry(stored.envelope);
    entry.msg = MessageRef(Message::Create(stored.value.msg_id, stored.envelope));
    q->index_ahead.push_back(std::move(entry));
  }
  q->index_cursor = read.size() < config_.index_read_ahead ? q->index_end : read.back().seq + 1;
  while (!q->removed.empty() && *q->removed.begin() < q->index_cursor) {
    q->removed.erase(q->removed.begin());
  }
  return Status::OK();
}

bool Broker::TakeNextEntry(Queue* q, Entry* entry, bool include_uncommitted) {
  if (!q->returned.empty()) {
    auto it = q->returned.begin();
    *entry = std::move(it->second);
    q->returned.erase(it);
    return true;
  }
  // Every read moves the cursor on; one may find nothing to deliver (all
  // expired by the sweep), so read until something is found or the range
  // is used up: the tail comes only after the whole index range.
  while (q->index_ahead.empty() && q->index_cursor < q->index_end) {
    if (Status s = ReadAhead(q); !s.ok()) {
      spdlog::error("queue {}: reading entries from the store failed: {}", q->name(), s.ToString());
      return false;
    }
  }
  if (!q->index_ahead.empty()) {
    *entry = std::move(q->index_ahead.front());
    q->index_ahead.pop_front();
    return true;
  }
  // Entries of a batch not yet durable go out only when delivery does not
  // wait for durability (the default): a crash may then lose a message a
  // consumer saw, whose publisher was never confirmed (docs/semantics.md).
  if (!q->tail.empty() &&
      (include_uncommitted || q->tail[0].batch_no <= pipeline_.committed_through())) {
    *entry = std::move(q->tail.front());
    q->tail.pop_front();
    // The index range is used up (cursor == end) and ends before the
    // tail. Once this entry's record is applied, the range grows over the
    // tail's entries (OnBatchDone); it must start after this one, or the
    // entry, delivered and not yet acked, would be read from the index
    // and delivered a second time.
    q->index_cursor = q->index_end = entry->seq + 1;
    return true;
  }
  return false;
}

bool Broker::IsExpired(const Queue* q, const Entry& entry, uint64_t now_ms) const {
  if (entry.expires_ms != 0 && entry.expires_ms <= now_ms) return true;
  // A max_age set after the entry was published applies too.
  if (q->limits().max_age_ms != 0) {
    store::EnvelopeView envelope;
    if (envelope.Parse(entry.msg->envelope()) &&
        envelope.publish_ms() + q->limits().max_age_ms <= now_ms) {
      return true;
    }
  }
  return false;
}

void Broker::Dispatch(Queue* q) {
  uint64_t now = Now();
  for (;;) {
    if (!q->has_deliverable(DeliverableThrough())) return;
    Consumer* c = NextConsumer(q);
    if (c == nullptr) return;
    Entry entry;
    if (!TakeNextEntry(q, &entry, /*include_uncommitted=*/!config_.deliver_after_commit)) return;
    if (IsExpired(q, entry, now)) {
      RemoveEntry(q, entry, Removal::kExpired);  // expired entries are never delivered
      continue;
    }
    if (SettleResumed(q, entry)) continue;
    // A scheduled entry whose time has not come waits in `delayed`, and
    // later entries go on. Due by the monotonic clock, so that a wall clock
    // step cannot make the timer fire early or late by much; if it fires
    // before the wall clock reaches the time, the entry waits again.
    if (uint64_t at = store::EnvelopeView::DeliverAtOf(entry.msg->envelope()); at > now) {
      DelayEntry(q, std::move(entry), clock_->MonotonicMs() + (at - now));
      continue;
    }
    Deliver(c, std::move(entry));
  }
}

void Broker::Deliver(Consumer* c, Entry entry) {
  Queue* q = c->queue;
  ++entry.delivery_count;
  Delivery delivery;
  delivery.subscription_id = c->subscription_id;
  delivery.seq = entry.seq;
  delivery.msg_id = entry.msg_id;
  delivery.delivery_count = entry.delivery_count;
  delivery.envelope = entry.msg->envelope();
  c->client->port()->Deliver(delivery);

  // The count is durable: after a restart the next delivery shows count+1.
  // When the entry is acked before this record is applied, the apply skips
  // the record (RemoveEntry cancels it), so the common case costs only these
  // bytes in the log.
  pipeline_.batch().log.In(q->partition).Delivered(q->queue_id(), entry.seq, entry.delivery_count);
  entry.delivered_batch = pipeline_.batch_no();
  pipeline_.NoteLogQueue(q);

  if (c->ack_wait_ms != 0) {
    uint64_t due = clock_->MonotonicMs() + c->ack_wait_ms;
    if (c->deadlines.empty()) ack_deadlines_.emplace(due, c);
    c->deadlines.push_back(Deadline{due, entry.seq, entry.delivery_count});
    ArmRedelivery(due);
  }
  ++stats_.delivered;
  deliver_rate_.Add(Now());
  if (entry.delivery_count > 1) ++stats_.redelivered;
  ++q->inflight;
  Seq seq = entry.seq;
  c->inflight.emplace(seq, std::move(entry));
}

void Broker::RemoveEntry(Queue* q, Entry& entry, Removal why) {
  store::WriteBatch& batch = pipeline_.batch();
  UnappliedLog& unapplied = pipeline_.unapplied();
  if (!unapplied.apply_submitted(entry.batch_no)) {
    // The entry is only in the log: note its removal there (a replay after
    // a crash must not bring it back) and leave it out when its record is
    // applied. It never touches the index.
    batch.log.In(q->partition).Ack(q->queue_id(), entry.seq);
    unapplied.Cancel(entry.batch_no, q->queue_id(), entry.seq);
  } else {
    // Removals go into the next batch, not a transaction of their own:
    // committing one transaction per ack would cost an fsync per message.
    batch.log.In(q->partition)
        .IndexAck(q->queue_id(), entry.seq, entry.msg_id, entry.bytes, entry.expires_ms);
  }
  if (entry.delivered_batch != 0 && entry.delivered_batch != entry.batch_no &&
      !unapplied.apply_submitted(entry.delivered_batch)) {
    unapplied.Cancel(entry.delivered_batch, q->queue_id(), entry.seq);
  }
  q->depth -= 1;
  q->bytes -= entry.bytes;
  pipeline_.NoteQueue(q);
  switch (why) {
    case Removal::kAcked: {
      ++stats_.acked;
      uint64_t now = Now();
      ack_rate_.Add(now);
      q->ack_rate.Add(now);
      break;
    }
    case Removal::kPurged:
      break;  // counted when the purge commits (FinishPurges)
    case Removal::kExpired:
      ++stats_.expired;
      break;
    case Removal::kDeadLettered:
      ++stats_.dead_lettered;
      break;
    case Removal::kDropped:
      ++stats_.dropped;
      break;
    case Removal::kRedriven:
      ++stats_.redriven;
      break;
  }
  // A purge is an operator's, a redriven dead letter asks for none.
  if (why != Removal::kPurged && why != Removal::kRedriven) SettleReceipt(q, entry, why);
}

// Drops the deadline records of deliveries no longer in flight from the
// front of c's FIFO, and compacts it when stale records pile up behind a
// live one, so it stays about as long as the consumer's unacked deliveries.
static void PruneDeadlines(Consumer* c, std::set<std::pair<uint64_t, Consumer*>>& index) {
  if (c->deadlines.empty()) return;
  uint64_t old_due = c->deadlines.front().due_ms;
  auto live = [c](const Deadline& d) {
    auto it = c->inflight.find(d.seq);
    return it != c->inflight.end() && it->second.delivery_count == d.delivery_count;
  };
  while (!c->deadlines.empty() && !live(c->deadlines.front())) c->deadlines.pop_front();
  if (c->deadlines.size() > 2 * c->inflight.size() + 64) {
    Ring<Deadline> kept;
    for (size_t i = 0; i < c->deadlines.size(); ++i) {
      if (live(c->deadlines[i])) kept.push_back(c->deadlines[i]);
    }
    c->deadlines = std::move(kept);
  }
  uint64_t new_due = c->deadlines.empty() ? 0 : c->deadlines.front().due_ms;
  if (new_due != old_due) {
    index.erase({old_due, c});
    if (new_due != 0) index.emplace(new_due, c);
  }
}

void Broker::Ack(ClientId client_id, SubscriptionId subscription_id, Seq first_seq, Seq last_seq) {
  Consumer* c = FindClient(client_id)->FindConsumer(subscription_id);
  if (c == nullptr || first_seq > last_seq) return;
  Queue* q = c->queue;
  auto it = c->inflight.lower_bound(first_seq);
  while (it != c->inflight.end() && it->first <= last_seq) {
    RemoveEntry(q, it->second, Removal::kAcked);
    it = c->inflight.erase(it);
    --q->inflight;
  }
  PruneDeadlines(c, ack_deadlines_);
  Dispatch(q);
}

void Broker::Nack(ClientId client_id, SubscriptionId subscription_id, Seq seq, uint32_t delay_ms) {
  Consumer* c = FindClient(client_id)->FindConsumer(subscription_id);
  if (c == nullptr) return;
  auto it = c->inflight.find(seq);
  if (it == c->inflight.end()) return;
  Queue* q = c->queue;
  Entry entry = std::move(it->second);
  c->inflight.erase(it);
  --q->inflight;
  ++stats_.nacked;
  PruneDeadlines(c, ack_deadlines_);
  bool exhausted =
      q->limits().max_deliveries != 0 && entry.delivery_count >= q->limits().max_deliveries;
  if (delay_ms == 0 || exhausted) {
    // Without a delay of its own, a nack waits the backoff (if any).
    uint64_t backoff_ms = exhausted ? 0 : BackoffMs(c, entry);
    ReturnEntry(q, std::move(entry), ReturnReason::kNacked, backoff_ms);
  } else {
    DelayEntry(q, std::move(entry), clock_->MonotonicMs() + delay_ms);
  }
  Dispatch(q);
}

void Broker::ReturnEntry(Queue* q, Entry entry, ReturnReason why, uint64_t backoff_ms) {
  // A delivery back from a connection that died after its consumer
  // processed it (a resume says so) is settled; a nack asks for it again.
  if (why != ReturnReason::kNacked && SettleResumed(q, entry)) return;
  // Dead-lettering wins over any backoff: an exhausted entry leaves now.
  if (q->limits().max_deliveries != 0 && entry.delivery_count >= q->limits().max_deliveries) {
    DeadLetter(q, std::move(entry), why);
    return;
  }
  if (backoff_ms != 0) return DelayEntry(q, std::move(entry), clock_->MonotonicMs() + backoff_ms);
  Seq seq = entry.seq;
  q->returned.emplace(seq, std::move(entry));
}

void Broker::DelayEntry(Queue* q, Entry entry, uint64_t due_mono_ms) {
  // delayed_queues_ holds each queue once, by its first due time.
  if (q->delayed.empty()) {
    delayed_queues_.emplace(due_mono_ms, q);
  } else if (due_mono_ms < q->delayed.begin()->first) {
    delayed_queues_.erase({q->delayed.begin()->first, q});
    delayed_queues_.emplace(due_mono_ms, q);
  }
  q->delayed.emplace(due_mono_ms, std::move(entry));
  ArmRedelivery(due_mono_ms);
}

uint64_t Broker::BackoffMs(const Consumer* c, const Entry& entry) {
  const RedeliveryBackoff& backoff = c->backoff ? *c->backoff : c->queue->limits().backoff;
  if (backoff.empty()) return 0;
  return backoff.DelayMs(entry.delivery_count, NextRandom());
}

uint64_t Broker::NextRandom() {
  uint64_t z = (random_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void Broker::DeadLetter(Queue* q, Entry entry, ReturnReason why) {
  const std::string dlq_name = queues_.DeadLetterQueue(*q);
  // In a cluster, a dead-letter queue of another partition gets the copy by
  // forward (ForwardCopy), never by an operation of a partition this
  // node's batch does not own.
  const bool forward = config_.cluster && PartitionOfName(dlq_name) != q->partition;
  Result<Queue*> found = forward ? Result<Queue*>(nullptr) : queues_.Load(dlq_name);
  store::EnvelopeView envelope;
  if (!found.ok() || !envelope.Parse(entry.msg->envelope()) ||
      envelope.header_count() > UINT16_MAX - 5) {
    spdlog::error("queue {}: cannot dead-letter entry {}; it stays", q->name(), entry.seq);
    Seq seq = entry.seq;
    q->returned.emplace(seq, std::move(entry));
    return;
  }
  // The dead-lettered copy says where it came from, why, and after how many
  // attempts; its original headers and payload follow unchanged. It does
  // not expire: it is kept for someone to look at.
  std::string count = std::to_string(entry.delivery_count);
  std::string msg_id = std::to_string(entry.msg_id);
  std::string seq = std::to_string(entry.seq);
  const Header extra[] = {
      {"x-hermod-dead-letter-from", q->name()},
      {"x-hermod-dead-letter-reason", ReturnReasonName(why)},
      {"x-hermod-delivery-count", count},
      {"x-hermod-original-msg-id", msg_id},
      {"x-hermod-original-seq", seq},
  };
  std::vector<Header> headers;
  headers.reserve(envelope.header_count());
  envelope.ForEachHeader([&](std::string_view k, std::string_view v) {
    // The dead letter settled the message (its receipt says so): its copy
    // asks for no receipt, and is not scheduled.
    if (!store::IsActionHeader(k)) headers.push_back(Header{k, v});
  });
  store::NewEnvelope copy;
  copy.publish_ms = envelope.publish_ms();
  copy.headers = headers;
  copy.extra_headers = extra;
  copy.payload = envelope.payload();
  size_t bytes = *copy.Bytes();  // checked above: header_count() + 5 fit
  if (forward) {
    // The other leader refuses it while its queue is full: it waits in the
    // forward, resent, instead of being dropped.
    std::string stored;
    copy.Write(&stored);
    ForwardCopy(q->partition, dlq_name, stored);
    RemoveEntry(q, entry, Removal::kDeadLettered);
    return;
  }
  Queue* dlq = *found;
  // The dead-letter queue is an ordinary queue, limits included:
  // drop-oldest makes room by dropping its oldest undelivered entries; when
  // it rejects (or only deliveries in flight are left), the entry is dropped
  // rather than kept circling through its consumers, as RabbitMQ does for a
  // dead-letter target that rejects.
  if (Status room = MakeRoom(dlq, bytes); !room.ok()) {
    spdlog::warn("queue {}: entry {} dropped after {} deliveries: {}", q->name(), entry.seq,
                 entry.delivery_count, room.message());
    RemoveEntry(q, entry, Removal::kDropped);
    return;
  }
  // The copy and the removal go in the same batch: one commit moves it.
  AppendEntry(dlq, copy, bytes);
  RemoveEntry(q, entry, Removal::kDeadLettered);
  spdlog::debug("queue {}: entry {} dead-lettered to {} after {} deliveries ({})", q->name(),
                entry.seq, dlq->name(), entry.delivery_count, ReturnReasonName(why));
}

// ---------------------------------------------------------------------------
// Resume after a dropped connection

void Broker::Resume(Queue* q, Seq resume_through) {
  if (resume_through < q->settled_through) return;
  q->settled_through = resume_through;
  // Deliveries recorded from this batch on are made after the resume: the
  // consumer cannot have processed them yet.
  q->settled_batch = pipeline_.batch_no();
  for (auto it = q->returned.begin(); it != q->returned.end() && it->first <= resume_through;) {
    it = SettleResumed(q, it->second) ? q->returned.erase(it) : std::next(it);
  }
  if (q->delayed.empty()) return;
  uint64_t first_due = q->delayed.begin()->first;
  for (auto it = q->delayed.begin(); it != q->delayed.end();) {
    it = SettleResumed(q, it->second) ? q->delayed.erase(it) : std::next(it);
  }
  if (q->delayed.empty() || q->delayed.begin()->first != first_due) {
    delayed_queues_.erase({first_due, q});
    if (!q->delayed.empty()) delayed_queues_.emplace(q->delayed.begin()->first, q);
  }
}

bool Broker::SettleResumed(Queue* q, Entry& entry) {
  if (entry.seq > q->settled_through || entry.delivery_count == 0 ||
      entry.delivered_batch >= q->settled_batch) {
    return false;
  }
  RemoveEntry(q, entry, Removal::kAcked);
  ++stats_.resumed_acks;
  return true;
}

void Broker::ForgetDeadline(Consumer* c) {
  if (!c->deadlines.empty()) ack_deadlines_.erase({c->deadlines.front().due_ms, c});
  c->deadlines.clear();
}

// ---------------------------------------------------------------------------
// Redelivery timer: ack-wait deadlines, and delayed entries (nacks with a
// delay, backoff, scheduled delivery)

void Broker::ArmRedelivery(uint64_t due_ms) {
  if (redelivery_due_ != 0 && redelivery_due_ <= due_ms) return;
  redelivery_due_ = due_ms;
  uint64_t now = clock_->MonotonicMs();
  redelivery_timer_->Start(due_ms > now ? due_ms - now : 0);
}

void Broker::OnRedeliveryTimer() {
  redelivery_due_ = 0;
  uint64_t now = clock_->MonotonicMs();
  std::vector<Queue*> touched;
  while (!ack_deadlines_.empty() && ack_deadlines_.begin()->first <= now) {
    Consumer* c = ack_deadlines_.begin()->second;
    ack_deadlines_.erase(ack_deadlines_.begin());
    while (!c->deadlines.empty()) {
      Deadline d = c->deadlines.front();
      auto it = c->inflight.find(d.seq);
      bool live = it != c->inflight.end() && it->second.delivery_count == d.delivery_count;
      if (live && d.due_ms > now) break;
      c->deadlines.pop_front();
      if (!live) continue;
      Entry entry = std::move(it->second);
      c->inflight.erase(it);
      --c->queue->inflight;
      ++stats_.ack_timeouts;
      uint64_t backoff_ms = BackoffMs(c, entry);
      ReturnEntry(c->queue, std::move(entry), ReturnReason::kAckWaitExpired, backoff_ms);
      touched.push_back(c->queue);
    }
    if (!c->deadlines.empty()) ack_deadlines_.emplace(c->deadlines.front().due_ms, c);
  }
  while (!delayed_queues_.empty() && delayed_queues_.begin()->first <= now) {
    Queue* q = delayed_queues_.begin()->second;
    delayed_queues_.erase(delayed_queues_.begin());
    while (!q->delayed.empty() && q->delayed.begin()->first <= now) {
      Entry entry = std::move(q->delayed.begin()->second);
      q->delayed.erase(q->delayed.begin());
      Seq seq = entry.seq;
      q->returned.emplace(seq, std::move(entry));
    }
    if (!q->delayed.empty()) delayed_queues_.emplace(q->delayed.begin()->first, q);
    touched.push_back(q);
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (Queue* q : touched) Dispatch(q);

  uint64_t next = 0;
  if (!ack_deadlines_.empty()) next = ack_deadlines_.begin()->first;
  if (!delayed_queues_.empty() && (next == 0 || delayed_queues_.begin()->first < next)) {
    next = delayed_queues_.begin()->first;
  }
  if (next != 0) ArmRedelivery(next);
}

// ---------------------------------------------------------------------------
// Sweeps: expired entries of queues nobody is consuming, old dedup records

void Broker::OnSweepTimer() {
  if (draining_ || !storage_failure_.ok()) return;
  uint64_t now = Now();
  SweepExpired(now);
  SweepDedup(now);
  ScanDeepest();
  dedup_.Trim(now, pipeline_.unapplied().applied_through());
}

void Broker::SweepExpired(uint64_t now_ms) {
  std::vector<store::ExpiredEntry> expired;
  if (Status s = store_->ScanExpired(now_ms, config_.sweep_batch, &expired); !s.ok()) {
    spdlog::error("expiry sweep: {}", s.ToString());
    return;
  }
  std::vector<Queue*> loaded;
  for (const store::ExpiredEntry& e : expired) {
    Result<Queue*> q = queues_.LoadById(e.queue_id);
    if (!q.ok()) continue;
    loaded.push_back(*q);
    // A partition led elsewhere expires its entries at its leader, which
    // ships the removals.
    if (!serves((*q)->partition)) continue;
    ExpireIndexed(*q, e.seq);
  }
  std::sort(loaded.begin(), loaded.end());
  loaded.erase(std::unique(loaded.begin(), loaded.end()), loaded.end());
  for (Queue* q : loaded) MaybeEvict(q);
}

void Broker::ExpireIndexed(Queue* q, Seq seq) {
  // The entry is in the index; where the queue's state has it decides how
  // it goes. Deliveries in flight are left to their consumer: if one comes
  // back, delivery finds it expired.
  if (seq >= q->index_cursor && seq < q->index_end) {
    if (q->removed.count(seq) > 0) return;
    std::vector<store::StoredEntry> read;
    if (!store_->ReadEntries(q->queue_id(), seq, seq + 1, 1, &read).ok() || read.empty()) return;
    Entry entry;
    entry.seq = seq;
    entry.msg_id = read[0].value.msg_id;
    entry.bytes = read[0].value.bytes;
    entry.expires_ms = store::Store::EnvelopeExpiry(read[0].envelope);
    entry.msg = MessageRef(Message::Create(entry.msg_id, read[0].envelope));  // for its receipt
    q->removed.insert(seq);  // ReadAhead must skip it until the delete commits
    RemoveEntry(q, entry, Removal::kExpired);
    return;
  }
  for (size_t i = 0; i < q->index_ahead.size(); ++i) {
    if (q->index_ahead[i].seq == seq) {
      RemoveEntry(q, q->index_ahead[i], Removal::kExpired);
      q->index_ahead.erase_at(i);
      return;
    }
  }
  if (auto it = q->returned.find(seq); it != q->returned.end()) {
    RemoveEntry(q, it->second, Removal::kExpired);
    q->returned.erase(it);
    return;
  }
  for (auto it = q->delayed.begin(); it != q->delayed.end(); ++it) {
    if (it->second.seq != seq) continue;
    bool first = it == q->delayed.begin();
    uint64_t due = it->first;
    RemoveEntry(q, it->second, Removal::kExpired);
    q->delayed.erase(it);
    if (first) {
      delayed_queues_.erase({due, q});
      if (!q->delayed.empty()) delayed_queues_.emplace(q->delayed.begin()->first, q);
    }
    return;
  }
}

void Broker::SweepDedup(uint64_t now_ms) {
  if (now_ms <= config_.dedup_window_ms) return;
  std::vector<std::string> expired;
  std::string next;
  Status s = store_->ScanDedup(dedup_sweep_from_, now_ms - config_.dedup_window_ms,
                               static_cast<size_t>(config_.sweep_batch) * 10, &expired, &next);
  if (!s.ok()) {
    spdlog::error("dedup sweep: {}", s.ToString());
    return;
  }
  dedup_sweep_from_ = std::move(next);
  // Each node sweeps its own dedup table, followed partitions' rows too:
  // expiry is housekeeping by each replica's clock, not shipped.
  store::LogWriter& log = pipeline_.batch().log.In(store::kNodeLocalPartition);
  for (const std::string& key : expired) log.DedupExpire(key);
}

}  // namespace hermod::core
