#include "broker.h"
#include "clock.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <unordered_set>

#include "check.h"
#include "envelope.h"
#include "names.h"
#include "wire_envelope.h"

namespace hermod::core {

namespace {

// How long a graceful stop waits for clients to read their last confirms.
constexpr uint64_t kShutdownDrainMs = 5000;

}  // namespace

Broker::Broker(net::Loop* loop, store::Store* store, store::StorageThread* storage,
               const BrokerConfig& config)
    : loop_(loop),
      store_(store),
      config_(config),
      pipeline_(loop, storage, config, [this](CommittedBatch& batch) { OnCommitted(batch); }),
      dedup_(store, config.dedup_window_ms, config.max_client_dedup_ids) {}

Broker::~Broker() = default;

Status Broker::Recover(const store::Recovery& recovery) {
  // Store::Recover applied the log tail to the index: everything is in the
  // index now, and queues load from it on first use.
  pipeline_.Start(recovery.counters, recovery.counters.next_batch_no - 1);
  // Client-generated dedup ids live only in memory and the log; the tail
  // that was just applied brings back those of the last moments before the
  // stop, which are the ones a reconnecting client may resend.
  for (const store::RecoveredDedup& d : recovery.client_dedup) {
    dedup_.Add(d.queue_id, d.dedup_id, DedupIndex::Original{d.msg_id, d.seq, 0}, d.time_ms);
  }
  RecoverFanouts(recovery.fanout_jobs);
  if (recovery.records_applied > 0) {
    spdlog::info("recovered {} log records ({} bytes) into the index", recovery.records_applied,
                 recovery.log_bytes);
  }
  return Status::OK();
}

uint64_t Broker::Now() {
  // One clock read per loop turn: uv_now() is cached per turn, and the
  // wall clock is read again only when it moved.
  uint64_t loop_ms = loop_->now_ms();
  if (loop_ms != clock_loop_ms_ || clock_wall_ms_ == 0) {
    clock_loop_ms_ = loop_ms;
    clock_wall_ms_ = WallClockMs();
  }
  return clock_wall_ms_;
}

void Broker::Start() {
  started_ = std::chrono::steady_clock::now();
  // One storage batch per loop turn: everything read in a turn goes together.
  loop_->AddTurnHook([this] { pipeline_.MaybeSubmit(); });
  // Every batch carries a bounded chunk of the fan-outs in progress.
  pipeline_.set_before_submit([this] { ExpandFanouts(); });
  redelivery_timer_.Init(*loop_, [this] { OnRedeliveryTimer(); });
  redelivery_timer_.Unref();
  sweep_timer_.Init(*loop_, [this] { OnSweepTimer(); });
  sweep_timer_.Start(config_.sweep_interval_ms, config_.sweep_interval_ms);
  sweep_timer_.Unref();
  heartbeat_timer_.Init(*loop_, [this] { OnHeartbeatTimer(); });
  if (config_.heartbeat_ms != 0) {
    // The sessions are checked in slices, one per tick, a full pass per
    // period: one pass at once over a million connections stalls the loop
    // for tens of milliseconds (measured ~40 ns a session).
    heartbeat_slices_ = std::clamp<uint32_t>(config_.heartbeat_ms / 10, 1, kHeartbeatSlices);
    uint64_t tick = config_.heartbeat_ms / heartbeat_slices_;
    heartbeat_timer_.Start(tick, tick);
    heartbeat_timer_.Unref();
  }
}

// ---------------------------------------------------------------------------
// Queues

Queue* Broker::AddQueue(std::string_view name, QueueId queue_id, const store::QueueInfo* info) {
  auto q = std::make_unique<Queue>(std::string(name), queue_id);
  if (info != nullptr) {
    const store::QueueState& state = info->state;
    q->next_seq = state.last_seq + 1;
    q->index_end = state.last_seq + 1;
    // An empty index range needs no read at all.
    q->index_cursor = state.depth > 0 ? 1 : q->index_end;
    q->created_ms = state.created_ms;
    q->depth = state.depth;
    q->bytes = state.bytes;
    if (!info->config.empty() && !q->overrides.Decode(info->config)) {
      spdlog::warn("queue {}: unreadable settings; using the defaults", name);
    }
  }
  q->limits = EffectiveLimits(config_.queue_defaults, q->overrides, name);
  Queue* raw = q.get();
  queues_.emplace(raw->name(), std::move(q));
  if (queue_id != 0) queues_by_id_[queue_id] = raw;
  return raw;
}

Result<Queue*> Broker::FindOrLoadQueue(std::string_view name) {
  auto it = queues_.find(name);
  if (it != queues_.end()) {
    if (it->second->deleted) {
      return Status(ErrorCode::kUnavailable,
                    "queue " + std::string(name) + " is being deleted; retry in a moment");
    }
    return it->second.get();
  }
  Result<std::optional<store::QueueInfo>> info = store_->FindQueue(name);
  if (!info.ok()) return info.status();
  if (info->has_value()) return AddQueue(name, (*info)->queue_id, &**info);
  // Not created yet: the first publish creates it durably (EnsureCreated).
  return AddQueue(name, 0, nullptr);
}

Result<Queue*> Broker::FindOrLoadQueueById(QueueId queue_id) {
  auto it = queues_by_id_.find(queue_id);
  if (it != queues_by_id_.end()) {
    if (it->second->deleted) return Status::NotFound("queue " + it->second->name() + " is deleted");
    return it->second;
  }
  Result<std::optional<store::QueueInfo>> info = store_->FindQueueById(queue_id);
  if (!info.ok()) return info.status();
  if (!info->has_value()) return Status::NotFound("no queue " + std::to_string(queue_id));
  return AddQueue((*info)->state.name, queue_id, &**info);
}

void Broker::EnsureCreated(Queue* q) {
  if (q->queue_id() != 0) return;
  q->set_queue_id(pipeline_.counters().next_queue_id++);
  q->created_ms = Now();
  q->created_batch = pipeline_.batch_no();
  queues_by_id_[q->queue_id()] = q;
  pipeline_.batch().log.CreateQueue(q->queue_id(), q->created_ms, q->name());
  pipeline_.NoteLogQueue(q);
}

void Broker::MaybeEvict(Queue* q) {
  // Evict only what the store holds completely: nothing in memory only, no
  // batch in flight that touches it, no log record naming it unapplied. A
  // deleted queue goes once the record that deletes it (its last) is
  // applied: the store has forgotten it, and its name is free again.
  bool committed = q->last_touch_batch <= pipeline_.committed_through();
  bool applied = q->last_log_batch <= pipeline_.unapplied().applied_through();
  if (q->deleted) {
    if (!committed || !applied) return;
    // It left its groups in the store with that record; in memory too.
    for (auto& [name, group] : groups_) {
      auto member = group->members.find(q->name());
      if (member == group->members.end() || member->second != q->queue_id()) continue;
      group->members.erase(member);
      group->Changed();
    }
    queues_by_id_.erase(q->queue_id());
    queues_.erase(q->name());
    return;
  }
  if (!q->idle() || !committed || !applied) return;
  if (q->queue_id() != 0) queues_by_id_.erase(q->queue_id());
  queues_.erase(q->name());
}

Status Broker::MakeRoom(Queue* q, uint64_t bytes) {
  const QueueLimits& limits = q->limits;
  auto over = [&] {
    return (limits.max_messages != 0 && q->depth + 1 > limits.max_messages) ||
           (limits.max_bytes != 0 && q->bytes + bytes > limits.max_bytes);
  };
  if (!over()) return Status::OK();
  auto refuse = [&] {
    ++counters_.refused_full;
    std::string limit = limits.max_messages != 0 && q->depth + 1 > limits.max_messages
                            ? "max_messages " + std::to_string(limits.max_messages)
                            : "max_bytes " + std::to_string(limits.max_bytes);
    return Status(ErrorCode::kLimitExceeded, "queue " + q->name() + " is full (" + limit +
                                                 ", overflow " + OverflowName(limits.overflow) +
                                                 ")");
  };
  if (limits.overflow == Overflow::kReject) return refuse();
  // drop-oldest: drop undelivered entries, oldest first, until it fits.
  // Deliveries in flight are not taken back.
  while (over()) {
    Entry oldest;
    if (!TakeNextEntry(q, &oldest, /*include_uncommitted=*/true)) return refuse();
    RemoveEntry(q, oldest, Removal::kDropped);
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Publish

void Broker::Publish(Session& session, const wire::Publish& publish) {
  uint64_t correlation_id = publish.correlation_id();
  auto refuse = [&](const Status& status) { RefusePublish(session, correlation_id, status); };
  if (!storage_failure_.ok()) return refuse(storage_failure_);
  if (shutting_down_) return refuse(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  std::string_view dedup_id = proto::View(publish.dedup_id());
  if (!dedup_id.empty()) {
    if (Status s = ValidateDedupId(dedup_id); !s.ok()) return refuse(s);
  }
  // Size the envelope first: it is written once, straight into the log record.
  Result<size_t> sized = EnvelopeBytes(publish);
  if (!sized.ok()) return refuse(sized.status());
  size_t envelope_bytes = *sized;
  if (publish.group() != nullptr && publish.group()->size() > 0) {
    if (publish.queue() != nullptr && publish.queue()->size() > 0) {
      return refuse(Status::InvalidArgument("a publish names a queue or a group, not both"));
    }
    return PublishToGroup(session, publish, envelope_bytes);
  }
  std::string_view name = proto::View(publish.queue());
  if (Status s = ValidateQueueName(name); !s.ok()) return refuse(s);
  if (Status s = CheckStoreRoom(); !s.ok()) return refuse(s);

  Result<Queue*> found = FindOrLoadQueue(name);
  if (!found.ok()) return refuse(found.status());
  Queue* q = *found;
  uint64_t now = Now();
  BatchNo batch_no = pipeline_.batch_no();

  if (!dedup_id.empty() && q->queue_id() != 0) {
    Result<std::optional<DedupIndex::Original>> original =
        dedup_.Find(q->queue_id(), dedup_id, now);
    if (!original.ok()) return refuse(original.status());
    if (original->has_value()) {
      // Confirm with the original message once it is durable.
      ++counters_.duplicates;
      const DedupIndex::Original& o = **original;
      AddConfirm(session, Session::PendingConfirm{o.batch_no, correlation_id, o.msg_id, o.seq,
                                                  Session::PendingConfirm::kDuplicate});
      return;
    }
  }
  if (Status s = MakeRoom(q, envelope_bytes); !s.ok()) return refuse(s);

  uint64_t expires_ms = publish.ttl_ms() != 0 ? now + publish.ttl_ms() : 0;
  if (q->limits.max_age_ms != 0) {
    uint64_t aged = now + q->limits.max_age_ms;
    expires_ms = expires_ms == 0 ? aged : std::min(expires_ms, aged);
  }
  Entry& entry = AppendEntry(q, envelope_bytes, expires_ms, [&](std::string* out) {
    WriteEnvelope(publish, now, expires_ms, out);
  });
  if (!dedup_id.empty()) {
    pipeline_.batch().log.Dedup(q->queue_id(), entry.seq, entry.msg_id, now, dedup_id);
    dedup_.Add(q->queue_id(), dedup_id, DedupIndex::Original{entry.msg_id, entry.seq, batch_no},
               now);
  }
  AddConfirm(session, Session::PendingConfirm{batch_no, correlation_id, entry.msg_id, entry.seq,
                                              Session::PendingConfirm::kPublish});
  ++counters_.published;
  publish_rate_.Add(now);
  q->publish_rate.Add(now);

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

void Broker::RefusePublish(Session& session, uint64_t correlation_id, const Status& status) {
  auto& fbb = encoder_.Start();
  auto message = fbb.CreateString(status.message());
  session.Send(encoder_.Finish(wire::CreatePublishError(
      fbb, correlation_id, static_cast<uint16_t>(status.code()), message)));
}

void Broker::AddConfirm(Session& session, Session::PendingConfirm confirm) {
  // Replies leave in the order of their requests, so a reply waits for the
  // batch of the one before it as well as for its own.
  Ring<Session::PendingConfirm>& confirms = session.confirms();
  BatchNo after = confirm.batch_no > pipeline_.committed_through() ? confirm.batch_no : 0;
  if (!confirms.empty()) after = std::max(after, confirms.back().batch_no);
  confirm.batch_no = after;
  confirms.push_back(confirm);
  if (after == 0) {  // durable already
    SendConfirms(session, 0);
    return;
  }
  if (session.last_confirm_batch != after) {
    session.last_confirm_batch = after;
    pipeline_.NoteSession(after, session.conn_id());
  }
}

// ---------------------------------------------------------------------------
// Queue settings

void Broker::ConfigureQueue(Session& session, const wire::ConfigureQueue& configure) {
  uint64_t correlation_id = configure.correlation_id();
  auto fail = [&](const Status& s) { session.SendError(s, correlation_id, false); };
  if (!storage_failure_.ok()) return fail(storage_failure_);
  if (shutting_down_) return fail(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  std::string_view name = proto::View(configure.queue());
  if (Status s = ValidateQueueName(name); !s.ok()) return fail(s);

  QueueOverrides changes;
  if (configure.max_messages()) changes.max_messages = *configure.max_messages();
  if (configure.max_bytes()) changes.max_bytes = *configure.max_bytes();
  if (configure.overflow() != nullptr) {
    Result<Overflow> overflow = ParseOverflow(proto::View(configure.overflow()));
    if (!overflow.ok()) return fail(overflow.status());
    changes.overflow = *overflow;
  }
  if (configure.max_age_ms()) changes.max_age_ms = *configure.max_age_ms();
  if (configure.max_deliveries()) changes.max_deliveries = *configure.max_deliveries();
  if (configure.dead_letter_queue() != nullptr) {
    std::string_view dlq = proto::View(configure.dead_letter_queue());
    if (!dlq.empty()) {
      if (Status s = ValidateQueueName(dlq); !s.ok()) return fail(s);
      if (dlq == name)
        return fail(Status::InvalidArgument("a queue cannot be its own dead-letter queue"));
    }
    changes.dead_letter_queue = std::string(dlq);
  }
  if (configure.ack_wait_ms()) changes.ack_wait_ms = *configure.ack_wait_ms();

  Result<Queue*> found = FindOrLoadQueue(name);
  if (!found.ok()) return fail(found.status());
  Queue* q = *found;
  EnsureCreated(q);
  if (configure.reset()) q->overrides = QueueOverrides();
  q->overrides.Merge(changes);
  q->limits = EffectiveLimits(config_.queue_defaults, q->overrides, q->name());
  pipeline_.batch().log.Configure(q->queue_id(), q->overrides.Encode());
  pipeline_.NoteLogQueue(q);
  AddConfirm(session, Session::PendingConfirm{pipeline_.batch_no(), correlation_id, 0, 0,
                                              Session::PendingConfirm::kConfigure});
}

// ---------------------------------------------------------------------------
// Sessions

net::Connection::Handler* Broker::Accept(net::Connection& conn) {
  if (shutting_down_) return nullptr;
  ConnId conn_id = next_conn_id_++;
  // Over the limit, the connection still gets a session, only to be told
  // why it is closed.
  bool over = config_.max_connections != 0 && sessions_.size() >= config_.max_connections;
  auto session = std::make_unique<Session>(this, &conn, conn_id);
  bool over_ip = false;
  if (config_.max_connections_per_ip != 0) {
    // peer() is "HOST:PORT" ("[v6]:PORT" for IPv6): the address is what
    // precedes the last colon.
    const std::string& peer = conn.peer();
    session->ip = peer.substr(0, peer.rfind(':'));
    over_ip = ++per_ip_[session->ip] > config_.max_connections_per_ip;
  }
  session->last_heard_ms = loop_->now_ms();
  Session* raw = session.get();
  sessions_.emplace(conn_id, std::move(session));
  raw->list_index = session_list_.size();
  session_list_.push_back(raw);
  ++counters_.connections_accepted;
  spdlog::info("connection {} from {} opened", conn_id, conn.peer());
  if (over) {
    ++counters_.connections_refused;
    raw->SendError(Status(ErrorCode::kLimitExceeded, "too many connections: this broker takes " +
                                                         std::to_string(config_.max_connections) +
                                                         " at once (--max-connections)"),
                   0, /*fatal=*/true);
  } else if (over_ip) {
    ++counters_.connections_refused;
    raw->SendError(Status(ErrorCode::kLimitExceeded,
                          "too many connections from " + raw->ip + ": this broker takes " +
                              std::to_string(config_.max_connections_per_ip) +
                              " per address (--max-connections-per-ip)"),
                   0, /*fatal=*/true);
  }
  return raw;
}

namespace {
// Compares in time that depends on the secret's length only, not on where
// the first difference is, so answers cannot be used to guess a token byte
// by byte.
bool SameSecret(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() != secret.size();
  for (size_t i = 0; i < secret.size(); ++i) {
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ secret[i]);
  }
  return diff == 0;
}

// Never 0, which stands for "no token".
uint64_t TokenHash(std::string_view token) { return std::hash<std::string_view>{}(token) | 1; }
}  // namespace

bool Broker::Authenticate(Session& session, std::string_view token) {
  if (config_.auth_tokens.empty()) return true;
  bool ok = false;
  for (const std::string& secret : config_.auth_tokens) ok |= SameSecret(token, secret);
  if (ok) {
    session.token_hash = TokenHash(token);
  } else {
    ++counters_.auth_failures;
    spdlog::warn("connection {} from {}: {} auth token", session.conn_id(),
                 session.connection()->peer(), token.empty() ? "no" : "wrong");
  }
  return ok;
}

size_t Broker::SetAuthTokens(std::vector<std::string> tokens) {
  config_.auth_tokens = std::move(tokens);
  std::unordered_set<uint64_t> accepted;
  for (const std::string& token : config_.auth_tokens) accepted.insert(TokenHash(token));
  // Collected first: closing a connection must not change the map walked.
  std::vector<Session*> revoked;
  for (auto& [conn_id, session] : sessions_) {
    if (session->token_hash != 0 && accepted.count(session->token_hash) == 0 &&
        !session->closing()) {
      revoked.push_back(session.get());
    }
  }
  for (Session* s : revoked) {
    spdlog::warn("connection {} from {}: auth token revoked", s->conn_id(),
                 s->connection()->peer());
    s->SendError(Status(ErrorCode::kUnauthenticated, "the auth token was revoked"), 0,
                 /*fatal=*/true);
  }
  return revoked.size();
}

void Broker::OnHeartbeatTimer() {
  // One slice of the connections per tick, a full pass per period: a client
  // that heard nothing to answer still sends its Ping each period, so twice
  // that without a frame means it is gone (or stuck); it is found within
  // one more period. A session moved into the part already passed (by a
  // removal) waits for the next pass.
  uint64_t now = loop_->now_ms();
  uint64_t limit = 2 * uint64_t{config_.heartbeat_ms};
  std::vector<Session*> silent;
  const size_t n = session_list_.size();
  const size_t slice = (n + heartbeat_slices_ - 1) / heartbeat_slices_;
  if (heartbeat_cursor_ >= n) heartbeat_cursor_ = 0;
  const size_t end = std::min(n, heartbeat_cursor_ + slice);
  for (; heartbeat_cursor_ < end; ++heartbeat_cursor_) {
    Session* session = session_list_[heartbeat_cursor_];
    // A publisher the broker itself stopped reading (the next batch is
    // full) is not silent: its frames wait in the socket.
    if (session->connection()->reading_paused()) {
      session->last_heard_ms = now;
      continue;
    }
    if (now - session->last_heard_ms > limit && !session->closing()) {
      silent.push_back(session);
    }
  }
  for (Session* s : silent) {
    ++counters_.heartbeat_timeouts;
    s->SendError(
        Status::Timeout("no frame from the client in " + std::to_string(limit) +
                        " ms (heartbeat every " + std::to_string(config_.heartbeat_ms) + " ms)"),
        0, /*fatal=*/true);
  }
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
  if (config_.max_connections_per_ip != 0) {
    auto it = per_ip_.find(session.ip);
    if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  }
  // Out of the heartbeat's list by moving the last one into its place.
  Session* last = session_list_.back();
  session_list_[session.list_index] = last;
  last->list_index = session.list_index;
  session_list_.pop_back();
  sessions_.erase(session.conn_id());  // frees the session
  std::sort(queues.begin(), queues.end());
  queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
  for (Queue* q : queues) MaybeEvict(q);
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
  redelivery_timer_.Close();
  sweep_timer_.Close();
  heartbeat_timer_.Close();
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
