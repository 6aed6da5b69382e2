#include "broker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "check.h"
#include "envelope.h"
#include "names.h"

namespace hermod::core {

namespace {

uint64_t WallClockMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// How long a graceful stop waits for clients to read their last confirms.
constexpr uint64_t kShutdownDrainMs = 5000;

}  // namespace

Broker::Broker(net::Loop* loop, store::Store* store, store::StorageThread* storage,
               const BrokerConfig& config)
    : loop_(loop),
      store_(store),
      config_(config),
      pipeline_(loop, storage, config, [this](CommittedBatch& batch) { OnCommitted(batch); }) {}

Broker::~Broker() = default;

void Broker::Start() {
  // One storage batch per loop turn: everything read in a turn goes together.
  loop_->AddTurnHook([this] { pipeline_.MaybeSubmit(); });
}

// ---------------------------------------------------------------------------
// Recovery

Status Broker::Recover(const store::Recovery& recovery) {
  // Store::Recover applied the log tail to the index: everything is in the
  // index now, and queues load from it on first use.
  pipeline_.Start(recovery.counters, recovery.counters.next_batch_no - 1);
  if (recovery.records_applied > 0) {
    spdlog::info("recovered {} log records ({} bytes) into the index", recovery.records_applied,
                 recovery.log_bytes);
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Queues

Queue* Broker::AddQueue(std::string_view name, QueueId queue_id, const store::QueueState* state) {
  auto q = std::make_unique<Queue>(std::string(name), queue_id);
  if (state != nullptr) {
    q->next_seq = state->last_seq + 1;
    q->index_end = state->last_seq + 1;
    // An empty index range needs no read at all.
    q->index_cursor = state->depth > 0 ? 1 : q->index_end;
    q->created_ms = state->created_ms;
  }
  Queue* raw = q.get();
  queues_.emplace(raw->name(), std::move(q));
  return raw;
}

Result<Queue*> Broker::FindOrLoadQueue(std::string_view name) {
  auto it = queues_.find(name);
  if (it != queues_.end()) return it->second.get();
  Result<std::optional<store::QueueInfo>> info = store_->FindQueue(name);
  if (!info.ok()) return info.status();
  if (info->has_value()) return AddQueue(name, (*info)->queue_id, &(*info)->state);
  // Not created yet: the first publish creates it durably (EnsureCreated).
  return AddQueue(name, 0, nullptr);
}

void Broker::EnsureCreated(Queue* q) {
  if (q->queue_id() != 0) return;
  q->set_queue_id(pipeline_.counters().next_queue_id++);
  q->created_ms = WallClockMs();
  pipeline_.batch().log.CreateQueue(q->queue_id(), q->created_ms, q->name());
  pipeline_.NoteLogQueue(q);
}

void Broker::MaybeEvict(Queue* q) {
  // Evict only what the store holds completely: nothing in memory only, no
  // batch in flight that touches it, no log record naming it unapplied.
  if (!q->idle() || q->last_touch_batch > pipeline_.committed_through() ||
      q->last_log_batch > pipeline_.unapplied().applied_through()) {
    return;
  }
  queues_.erase(q->name());
}

// ---------------------------------------------------------------------------
// Publish

void Broker::Publish(Session& session, const wire::Publish& publish) {
  uint64_t correlation_id = publish.correlation_id();
  auto refuse = [&](const Status& status) {
    auto& fbb = encoder_.Start();
    auto message = fbb.CreateString(status.message());
    session.Send(encoder_.Finish(wire::CreatePublishError(
        fbb, correlation_id, static_cast<uint16_t>(status.code()), message)));
  };
  if (!storage_failure_.ok()) return refuse(storage_failure_);
  if (shutting_down_) return refuse(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  if (publish.group() != nullptr && publish.group()->size() > 0) {
    return refuse(Status(ErrorCode::kNotSupported, "group publishing is not supported yet"));
  }
  if (publish.ttl_ms() != 0 || (publish.dedup_id() && publish.dedup_id()->size() > 0)) {
    return refuse(Status(ErrorCode::kNotSupported, "ttl and dedup ids are not supported yet"));
  }
  std::string_view name = proto::View(publish.queue());
  if (Status s = ValidateQueueName(name); !s.ok()) return refuse(s);

  // Size the envelope first: it is written once, straight into the log record.
  std::string_view payload = proto::View(publish.payload());
  const auto* headers = publish.headers();
  size_t n_headers = headers ? headers->size() : 0;
  if (n_headers > UINT16_MAX) return refuse(Status::InvalidArgument("too many headers"));
  size_t envelope_bytes = store::EnvelopeWriter::FixedBytes() + payload.size();
  for (size_t i = 0; i < n_headers; ++i) {
    const wire::Header* h = headers->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (h->key()->size() > UINT16_MAX)
      return refuse(Status::InvalidArgument("header key too long"));
    envelope_bytes +=
        store::EnvelopeWriter::HeaderBytes(h->key()->size(), proto::View(h->value()).size());
  }

  Result<Queue*> found = FindOrLoadQueue(name);
  if (!found.ok()) return refuse(found.status());
  Queue* q = *found;
  EnsureCreated(q);

  store::WriteBatch& batch = pipeline_.batch();
  MsgId msg_id = pipeline_.counters().next_msg_id++;
  Seq seq = q->next_seq++;
  std::string* record =
      batch.log.BeginPublish(q->queue_id(), seq, msg_id, static_cast<uint32_t>(envelope_bytes));
  size_t start = record->size();
  store::EnvelopeWriter writer(record, WallClockMs(), 0, static_cast<uint16_t>(n_headers));
  for (size_t i = 0; i < n_headers; ++i) {
    const wire::Header* h = headers->Get(static_cast<flatbuffers::uoffset_t>(i));
    writer.Header(proto::View(h->key()), proto::View(h->value()));
  }
  writer.Payload(payload);
  HERMOD_CHECK(record->size() - start == envelope_bytes);

  Entry entry;
  entry.seq = seq;
  entry.batch_no = batch.batch_no;
  entry.msg_id = msg_id;
  entry.bytes = static_cast<uint32_t>(envelope_bytes);
  entry.msg = MessageRef(new Message(msg_id, record->substr(start)));
  q->tail.push_back(std::move(entry));
  pipeline_.NoteLogQueue(q);
  pipeline_.NotePublish(envelope_bytes);

  session.confirms().push_back(
      Session::PendingConfirm{batch.batch_no, correlation_id, msg_id, seq});
  if (session.last_confirm_batch != batch.batch_no) {
    session.last_confirm_batch = batch.batch_no;
    pipeline_.NoteSession(session.conn_id());
  }
  ++counters_.published;

  if (pipeline_.full()) {
    pipeline_.MaybeSubmit();
    // Storage is busy and the next batch is full: stop reading from this
    // publisher until a batch commits, rather than buffer without bound.
    if (pipeline_.full() && !session.connection()->reading_paused()) {
      session.connection()->PauseReading();
      paused_.push_back(&session);
    }
  }
}

// ---------------------------------------------------------------------------
// Subscriptions and delivery

void Broker::Subscribe(Session& session, const wire::Subscribe& subscribe) {
  uint64_t correlation_id = subscribe.correlation_id();
  SubscriptionId subscription_id = subscribe.subscription_id();
  std::string_view name = proto::View(subscribe.queue());
  if (shutting_down_) {
    return session.SendError(Status(ErrorCode::kShuttingDown, "broker is stopping"), correlation_id,
                             false);
  }
  if (Status s = ValidateQueueName(name); !s.ok()) {
    return session.SendError(s, correlation_id, false);
  }
  if (session.FindConsumer(subscription_id) != nullptr) {
    return session.SendError(
        Status::AlreadyExists("subscription " + std::to_string(subscription_id) +
                              " exists on this connection"),
        correlation_id, false);
  }
  Result<Queue*> q = FindOrLoadQueue(name);
  if (!q.ok()) return session.SendError(q.status(), correlation_id, false);

  auto consumer = std::make_unique<Consumer>();
  consumer->session = &session;
  consumer->subscription_id = subscription_id;
  consumer->queue = *q;
  consumer->credit = subscribe.credit();
  consumer->ack_wait_ms = subscribe.ack_wait_ms();
  (*q)->consumers.push_back(consumer.get());
  session.consumers().push_back(std::move(consumer));

  auto& fbb = encoder_.Start();
  session.Send(encoder_.Finish(wire::CreateSubscribeOk(fbb, correlation_id, subscription_id)));
  Dispatch(*q);
}

void Broker::SetCredit(Session& session, SubscriptionId subscription_id, uint32_t credit) {
  Consumer* c = session.FindConsumer(subscription_id);
  if (c == nullptr) return;
  c->credit = credit;
  Dispatch(c->queue);
}

Consumer* Broker::NextConsumer(Queue* q) {
  size_t n = q->consumers.size();
  for (size_t i = 0; i < n; ++i) {
    size_t at = (q->next_consumer + i) % n;
    Consumer* c = q->consumers[at];
    if (c->has_credit() && !c->session->closing() &&
        c->session->connection()->pending_output() < config_.delivery_high_water) {
      q->next_consumer = (at + 1) % n;
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
    Entry entry;
    entry.seq = stored.seq;
    entry.batch_no = 0;  // in the index
    entry.delivery_count = stored.value.delivery_count;
    entry.msg_id = stored.value.msg_id;
    entry.bytes = stored.value.bytes;
    entry.msg = MessageRef(new Message(stored.value.msg_id, std::move(stored.envelope)));
    q->index_ahead.push_back(std::move(entry));
  }
  q->index_cursor = read.size() < config_.index_read_ahead ? q->index_end : read.back().seq + 1;
  return Status::OK();
}

bool Broker::TakeNextEntry(Queue* q, Entry* entry) {
  if (!q->returned.empty()) {
    auto it = q->returned.begin();
    *entry = std::move(it->second);
    q->returned.erase(it);
    return true;
  }
  if (q->index_ahead.empty() && q->index_cursor < q->index_end) {
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
  // Entries of a batch still committing are not delivered: a crash could
  // still lose them.
  if (!q->tail.empty() && q->tail[0].batch_no <= pipeline_.committed_through()) {
    *entry = std::move(q->tail.front());
    q->tail.pop_front();
    return true;
  }
  return false;
}

void Broker::Dispatch(Queue* q) {
  for (;;) {
    if (!q->has_deliverable(pipeline_.committed_through())) return;
    Consumer* c = NextConsumer(q);
    if (c == nullptr) return;
    Entry entry;
    if (!TakeNextEntry(q, &entry)) return;
    Deliver(c, std::move(entry));
  }
}

void Broker::Deliver(Consumer* c, Entry entry) {
  ++entry.delivery_count;
  store::EnvelopeView envelope;
  HERMOD_CHECK(envelope.Parse(entry.msg->envelope()));

  auto& fbb = encoder_.Start();
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::Header>>> headers;
  if (envelope.header_count() > 0) {
    std::vector<flatbuffers::Offset<wire::Header>> list;
    list.reserve(envelope.header_count());
    envelope.ForEachHeader([&](std::string_view key, std::string_view value) {
      auto k = fbb.CreateString(key);
      auto v = fbb.CreateString(value);
      list.push_back(wire::CreateHeader(fbb, k, v));
    });
    headers = fbb.CreateVector(list);
  }
  std::string_view payload = envelope.payload();
  auto payload_offset =
      fbb.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  c->session->Send(encoder_.Finish(
      wire::CreateDeliver(fbb, c->subscription_id, entry.seq, entry.msg_id, entry.delivery_count,
                          envelope.publish_ms(), headers, payload_offset)));

  ++counters_.delivered;
  if (entry.delivery_count > 1) ++counters_.redelivered;
  ++c->queue->inflight;
  Seq seq = entry.seq;
  c->inflight.emplace(seq, std::move(entry));
}

void Broker::Ack(Session& session, SubscriptionId subscription_id, Seq first_seq, Seq last_seq) {
  Consumer* c = session.FindConsumer(subscription_id);
  if (c == nullptr || first_seq > last_seq) return;
  Queue* q = c->queue;
  auto it = c->inflight.lower_bound(first_seq);
  while (it != c->inflight.end() && it->first <= last_seq) {
    AckEntry(q, it->second);
    it = c->inflight.erase(it);
    --q->inflight;
    ++counters_.acked;
  }
  Dispatch(q);
}

void Broker::AckEntry(Queue* q, Entry& entry) {
  store::WriteBatch& batch = pipeline_.batch();
  UnappliedLog& unapplied = pipeline_.unapplied();
  if (!unapplied.apply_submitted(entry.batch_no)) {
    // The entry is only in the log: note the ack there (a replay after a
    // crash must not bring it back) and leave it out when its record is
    // applied. It never touches the index.
    batch.log.Ack(q->queue_id(), entry.seq);
    unapplied.Cancel(entry.batch_no, q->queue_id(), entry.seq);
  } else {
    // Acks go into the next batch, not a transaction of their own:
    // committing one transaction per ack would cost an fsync per message.
    batch.acks.push_back(store::IndexAck{q->queue_id(), entry.seq, entry.msg_id, entry.bytes});
  }
  pipeline_.NoteQueue(q);
}

void Broker::Nack(Session& session, SubscriptionId subscription_id, Seq seq,
                  uint32_t /*delay_ms*/) {
  // TODO(foundation): honor delay_ms with the redelivery timers of the
  // at-least-once issue; until then a nacked entry is returned at once.
  Consumer* c = session.FindConsumer(subscription_id);
  if (c == nullptr) return;
  auto it = c->inflight.find(seq);
  if (it == c->inflight.end()) return;
  Queue* q = c->queue;
  ReturnEntry(q, std::move(it->second));
  c->inflight.erase(it);
  --q->inflight;
  Dispatch(q);
}

void Broker::ReturnEntry(Queue* q, Entry entry) {
  Seq seq = entry.seq;
  q->returned.emplace(seq, std::move(entry));
}

void Broker::RemoveConsumer(Consumer* c) {
  Queue* q = c->queue;
  for (auto& [seq, entry] : c->inflight) ReturnEntry(q, std::move(entry));
  q->inflight -= c->inflight.size();
  c->inflight.clear();
  auto it = std::find(q->consumers.begin(), q->consumers.end(), c);
  HERMOD_CHECK(it != q->consumers.end());
  q->consumers.erase(it);
  if (q->next_consumer >= q->consumers.size()) q->next_consumer = 0;
  Dispatch(q);
}

void Broker::Unsubscribe(Session& session, const wire::Unsubscribe& unsubscribe) {
  SubscriptionId subscription_id = unsubscribe.subscription_id();
  auto& consumers = session.consumers();
  auto it = std::find_if(consumers.begin(), consumers.end(),
                         [&](auto& c) { return c->subscription_id == subscription_id; });
  if (it == consumers.end()) {
    return session.SendError(Status::NotFound("no subscription " + std::to_string(subscription_id)),
                             unsubscribe.correlation_id(), false);
  }
  Queue* q = (*it)->queue;
  RemoveConsumer(it->get());
  consumers.erase(it);
  MaybeEvict(q);
  auto& fbb = encoder_.Start();
  session.Send(encoder_.Finish(
      wire::CreateUnsubscribeOk(fbb, unsubscribe.correlation_id(), subscription_id)));
}

// ---------------------------------------------------------------------------
// Sessions

net::Connection::Handler* Broker::Accept(net::Connection& conn) {
  if (shutting_down_) return nullptr;
  ConnId conn_id = next_conn_id_++;
  auto session = std::make_unique<Session>(this, &conn, conn_id);
  Session* raw = session.get();
  sessions_.emplace(conn_id, std::move(session));
  ++counters_.connections_accepted;
  spdlog::info("connection {} from {} opened", conn_id, conn.peer());
  return raw;
}

void Broker::SessionWritable(Session& session) {
  // Deliveries paused at the high-water mark resume.
  for (auto& c : session.consumers()) Dispatch(c->queue);
}

void Broker::SessionClosed(Session& session, const Status& why) {
  spdlog::info("connection {} from {} closed: {}", session.conn_id(), session.connection()->peer(),
               why.ToString());
  std::vector<Queue*> queues;
  for (auto& c : session.consumers()) {
    queues.push_back(c->queue);
    RemoveConsumer(c.get());
  }
  session.consumers().clear();
  paused_.erase(std::remove(paused_.begin(), paused_.end(), &session), paused_.end());
  sessions_.erase(session.conn_id());  // frees the session
  std::sort(queues.begin(), queues.end());
  queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
  for (Queue* q : queues) MaybeEvict(q);
  MaybeFinishShutdown();
}

// ---------------------------------------------------------------------------
// Commits

void Broker::SendConfirms(Session& session, BatchNo through, const Status& failure,
                          BatchNo failed) {
  Ring<Session::PendingConfirm>& confirms = session.confirms();
  while (!confirms.empty() && confirms.front().batch_no <= through) {
    const Session::PendingConfirm& c = confirms.front();
    auto& fbb = encoder_.Start();
    if (c.batch_no == failed) {
      auto message = fbb.CreateString(failure.message());
      session.Send(encoder_.Finish(wire::CreatePublishError(
          fbb, c.correlation_id, static_cast<uint16_t>(failure.code()), message)));
    } else {
      session.Send(
          encoder_.Finish(wire::CreatePublishOk(fbb, c.correlation_id, c.msg_id, c.seq, false)));
    }
    confirms.pop_front();
  }
}

void Broker::OnCommitted(CommittedBatch& batch) {
  ++counters_.batches;
  BatchNo failed = 0;
  if (!batch.status.ok()) {
    ++counters_.batch_failures;
    failed = batch.batch_no;
    spdlog::error("storage batch {} failed: {}", batch.batch_no, batch.status.ToString());
    if (storage_failure_.ok() && batch.status.code() != ErrorCode::kStorageFull) {
      storage_failure_ = batch.status;
    }
    // The batch's entries were never stored: they must not be delivered.
    for (Queue* q : batch.queues) {
      for (size_t i = q->tail.size(); i-- > 0;) {
        if (q->tail[i].batch_no == failed) q->tail.erase_at(i);
      }
    }
  }
  for (ConnId conn_id : batch.sessions) {
    auto it = sessions_.find(conn_id);
    if (it != sessions_.end()) SendConfirms(*it->second, batch.batch_no, batch.status, failed);
  }
  // Entries whose record is now in the index leave memory unless they are
  // being delivered: the index serves them from here on.
  BatchNo applied_through = pipeline_.unapplied().applied_through();
  for (Queue* q : batch.applied_queues) {
    while (!q->tail.empty() && q->tail[0].batch_no <= applied_through) {
      q->index_end = q->tail[0].seq + 1;
      q->tail.pop_front();
    }
  }
  for (Queue* q : batch.queues) Dispatch(q);

  std::vector<Queue*> candidates = std::move(batch.queues);
  candidates.insert(candidates.end(), batch.applied_queues.begin(), batch.applied_queues.end());
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (Queue* q : candidates) MaybeEvict(q);

  if (!paused_.empty() && !pipeline_.full()) {
    for (Session* s : paused_) s->connection()->ResumeReading();
    paused_.clear();
  }
  MaybeFinishShutdown();
}

// ---------------------------------------------------------------------------
// Shutdown

void Broker::Shutdown(std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  for (auto& [conn_id, session] : sessions_) session->connection()->PauseReading();
  paused_.clear();
  pipeline_.MaybeSubmit();
  shutdown_timer_.Init(*loop_, [this] {
    // Clients that do not read their last confirms in time are cut off.
    std::vector<Session*> open;
    for (auto& [conn_id, session] : sessions_) open.push_back(session.get());
    for (Session* s : open) {
      s->connection()->Close(Status(ErrorCode::kShuttingDown, "broker stopping"));
    }
  });
  shutdown_timer_.Start(kShutdownDrainMs);
  MaybeFinishShutdown();
}

void Broker::CloseTimers() {
  pipeline_.Close();
  shutdown_timer_.Close();
}

void Broker::MaybeFinishShutdown() {
  if (!shutting_down_ || !shutdown_done_) return;
  if (!pipeline_.idle()) return;  // confirms of received publishes come first
  if (!closing_sessions_) {
    closing_sessions_ = true;
    std::vector<Session*> open;
    for (auto& [conn_id, session] : sessions_) open.push_back(session.get());
    for (Session* s : open) s->CloseWhenDrained();
  }
  if (!sessions_.empty()) return;
  CloseTimers();
  std::function<void()> done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

}  // namespace hermod::core
