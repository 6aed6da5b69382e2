#include "broker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <unordered_set>

#include "check.h"
#include "envelope.h"
#include "hermod/partition.h"
#include "names.h"

namespace hermod::core {

Broker::Broker(Clock* clock, Scheduler* scheduler, store::Store* store, store::Committer* storage,
               Output* output, const BrokerConfig& config)
    : clock_(clock),
      scheduler_(scheduler),
      store_(store),
      out_(output),
      config_(config),
      pipeline_(clock, scheduler, storage, config,
                [this](BatchOutcome& batch) { OnBatchDone(batch); }),
      dedup_(store, config.dedup_window_ms, config.max_client_dedup_ids),
      queues_(store, config_.queue_defaults, config_.partitions),
      groups_(store),
      replica_(store, [this](const store::LogOp& op) { ApplyCommitted(op); }),
      follower_(store),
      // A single node serves its one partition; a cluster node, none yet.
      roles_(std::max<uint32_t>(config.partitions, 1),
             config.cluster ? Role::kFollowing : Role::kServing),
      random_state_(clock->WallMs() ^ (clock->MonotonicMs() << 32)) {}

Broker::~Broker() = default;

Status Broker::Recover(const store::Recovery& recovery) {
  // Store::Recover applied the log tail to the index (and replayed it
  // through ApplyCommitted): everything is in the index now, and queues
  // load from it on first use.
  pipeline_.Start(recovery.ids, recovery.ids.next_batch_no - 1, recovery.msg_id_lease);
  if (Status s = follower_.Load(); !s.ok()) return s;
  // A cluster node resumes a partition's jobs only once it leads it
  // (TakeOverFanouts); a single node all of them, now.
  if (!config_.cluster) {
    groups_.RecoverJobs(recovery.fanout_jobs, [](uint64_t) { return store::PartitionId{0}; });
  }
  if (recovery.records_applied > 0) {
    spdlog::info("recovered {} log records ({} bytes) into the index", recovery.records_applied,
                 recovery.log_bytes);
  }
  return Status::OK();
}

Result<BatchNo> Broker::AppendReplicated(store::PartitionId partition, std::string_view record,
                                         std::string_view commit_record) {
  store::WriteBatch& batch = pipeline_.batch();
  Status s = replica_.Append(partition, record, commit_record, &batch, &pipeline_.unapplied());
  if (!s.ok()) return s;
  pipeline_.NotePublish(record.size() + commit_record.size());
  return batch.batch_no;
}

Result<ReplicateResult> Broker::TakeReplicated(const ReplicatePart& part) {
  store::WriteBatch& batch = pipeline_.batch();
  Result<ReplicateResult> taken = follower_.Take(part, &batch, &replica_, &pipeline_.unapplied());
  if (taken.ok() && *taken == ReplicateResult::kStaged) {
    pipeline_.NotePublish(part.record.size() + part.commit_record.size());
  }
  return taken;
}

Status Broker::LeaderCommitted(store::PartitionId partition, uint64_t epoch,
                               uint64_t leader_commit) {
  return follower_.Commit(partition, epoch, leader_commit, &pipeline_.batch(), &replica_,
                          &pipeline_.unapplied());
}

Status Broker::TruncatePartition(store::PartitionId partition, uint64_t to) {
  return follower_.Truncate(partition, to, &pipeline_.batch());
}

void Broker::ApplyCommitted(const store::LogOp& op) {
  // What the store does not keep for the core: dedup ids it holds only in
  // memory (libhermod's resend ids never reach the index; an application's
  // only once its record is applied), and ids the next publishes must not
  // reuse. Entries need nothing here: an idle queue lives in the store, and
  // its entries still in the log are applied to the index before anyone
  // loads it (at startup; in a cluster, before a follower leads). Only ids
  // of this node's prefix count: a follower's log holds its leaders' ids,
  // which it never allocates (store/keys.h).
  store::IdCounters& ids = pipeline_.ids();
  auto raise = [this](uint64_t* next, uint64_t id) {
    if (store::IdPrefix(id) == config_.id_prefix) *next = std::max(*next, id + 1);
  };
  switch (op.type) {
    case store::LogOpType::kCreateQueue:
      raise(&ids.next_queue_id, op.queue_id);
      break;
    case store::LogOpType::kPublish:
    case store::LogOpType::kEntry:
      raise(&ids.next_msg_id, op.msg_id);
      break;
    case store::LogOpType::kDedup:
      // created_ms holds the publish time; batch 0: durable already.
      dedup_.Add(op.queue_id, op.dedup_id, DedupIndex::Original{op.msg_id, op.seq, 0},
                 op.created_ms);
      break;
    case store::LogOpType::kGroupChange:
      if (op.group_kind == store::GroupChange::kCreate) raise(&ids.next_group_id, op.group_id);
      break;
    case store::LogOpType::kFanoutStart:
      raise(&ids.next_msg_id, op.msg_id);
      raise(&ids.next_job_id, op.job_id);
      break;
    case store::LogOpType::kAck:
    case store::LogOpType::kDelivered:
    case store::LogOpType::kConfigure:
    case store::LogOpType::kDeleteQueue:
    case store::LogOpType::kIndexAck:
    case store::LogOpType::kDedupExpire:
    case store::LogOpType::kPurge:
    case store::LogOpType::kFanoutProgress:
    case store::LogOpType::kFanoutForward:
    case store::LogOpType::kFanoutForwarded:
    case store::LogOpType::kReceiptTally:
    case store::LogOpType::kPartition:  // never returned by LogReader
    case store::LogOpType::kStage:      // node-local bookkeeping
    case store::LogOpType::kUnstage:
    case store::LogOpType::kTruncatePartition:
    case store::LogOpType::kPartitionEnd:
    case store::LogOpType::kDropPartition:
    case store::LogOpType::kPutRows:
    case store::LogOpType::kRebuiltPartition:
    case store::LogOpType::kFence:
      break;
  }
}

uint64_t Broker::Now() {
  // The wall clock is read again only when the monotonic one moved (the
  // server's is cached per loop turn): one read per turn, not per message.
  uint64_t mono_ms = clock_->MonotonicMs();
  if (mono_ms != clock_mono_ms_ || clock_wall_ms_ == 0) {
    clock_mono_ms_ = mono_ms;
    clock_wall_ms_ = clock_->WallMs();
  }
  return clock_wall_ms_;
}

void Broker::Start() {
  started_mono_ms_ = clock_->MonotonicMs();
  // Every batch carries a bounded chunk of the fan-outs in progress.
  pipeline_.set_before_submit([this] { ExpandFanouts(); });
  redelivery_timer_ = scheduler_->NewTimer([this] { OnRedeliveryTimer(); });
  sweep_timer_ = scheduler_->NewTimer([this] { OnSweepTimer(); });
  sweep_timer_->Start(config_.sweep_interval_ms, config_.sweep_interval_ms);
}

Client* Broker::FindClient(ClientId client_id) {
  auto it = clients_.find(client_id);
  HERMOD_CHECK(it != clients_.end() && "a request from a client not connected");
  return it->second.get();
}

// ---------------------------------------------------------------------------
// Queues

store::PartitionId Broker::PartitionOfName(std::string_view name) const {
  return config_.partitions > 1 ? PartitionOf(name, config_.partitions) : 0;
}

Status Broker::CheckServes(std::string_view name) const {
  store::PartitionId partition = PartitionOfName(name);
  if (serves(partition)) return Status::OK();
  std::string why = "partition " + std::to_string(partition) + " of " + std::string(name) +
                    " is not led by this node";
  std::string hint = leader_hint_ ? leader_hint_(partition) : std::string();
  if (!hint.empty()) why += "; its leader is " + hint;
  return Status(ErrorCode::kNotLeader, why);
}

Status Broker::Promote(store::PartitionId partition, uint64_t epoch) {
  if (partition >= roles_.size()) {
    return Status::InvalidArgument("no partition " + std::to_string(partition));
  }
  if (roles_[partition] != Role::kFollowing) return Status::OK();
  // Queues kept in memory from an earlier leadership are stale now. Once
  // their consumers are gone (Demote sent them away), what they hold in
  // memory is in the store too (the log or the index): it is dropped, and
  // they leave as soon as no batch or unapplied record names them, to load
  // afresh from the index once the partition is taken over.
  std::vector<Queue*> stale;
  queues_.ForEach([&](Queue& q) {
    if (q.partition == partition) stale.push_back(&q);
  });
  for (Queue* q : stale) {
    if (!q->consumers.empty() || q->inflight > 0) continue;
    if (!q->delayed.empty()) {
      std::erase_if(delayed_queues_, [q](const auto& due) { return due.second == q; });
    }
    q->returned.clear();
    q->delayed.clear();
    q->removed.clear();
    q->index_ahead.clear();
    q->tail.clear();
    MaybeEvict(q);
  }
  size_t left = 0;
  queues_.ForEach([&](Queue& q) { left += q.partition == partition ? 1 : 0; });
  if (left > 0) {
    return Status::Unavailable("partition " + std::to_string(partition) + " still has " +
                               std::to_string(left) +
                               " queues in memory from when it was led here; retry");
  }
  // Its staged parts are this node's log's end now: they enter the state,
  // and a new epoch starts after them.
  follower_.Fence(partition, epoch, &pipeline_.batch());
  uint64_t end = follower_.state(partition).end_offset;
  Status s = follower_.Commit(partition, epoch, end, &pipeline_.batch(), &replica_,
                              &pipeline_.unapplied());
  if (!s.ok()) return s;
  pipeline_.batch().log.In(store::kNodeLocalPartition).PartitionEnd(partition, epoch, end);
  // Its entries still only in the log are applied to the index before any
  // of its queues loads (a queue loads from the index alone).
  BatchNo through = pipeline_.batch_no();
  pipeline_.unapplied().ApplyThrough(through);
  roles_[partition] = Role::kPromoting;
  promoting_[partition] = through;
  return Status::OK();
}

void Broker::Demote(store::PartitionId partition) {
  if (partition >= roles_.size() || roles_[partition] == Role::kFollowing) return;
  roles_[partition] = Role::kFollowing;
  promoting_.erase(partition);
  // Its unfinished fan-outs are the next leader's to finish, from the store.
  groups_.DropPartitionJobs(partition);
  // Its consumers are sent away: their clients reconnect to the new leader
  // (their deliveries come back there, from its state).
  std::vector<ClientId> away;
  for (auto& [client_id, client] : clients_) {
    for (const std::unique_ptr<Consumer>& c : client->consumers()) {
      if (c->queue->partition == partition) {
        away.push_back(client_id);
        break;
      }
    }
  }
  Status why(ErrorCode::kNotLeader,
             "partition " + std::to_string(partition) + " is led by another node now");
  for (ClientId client_id : away) out_->Error(client_id, why, 0, /*fatal=*/true);
}

store::NameFilter Broker::PartitionFilter(store::PartitionId partition) const {
  return [this, partition](std::string_view name) { return PartitionOfName(name) == partition; };
}

Result<BatchNo> Broker::PrepareRebuild(store::PartitionId partition, BatchNo* mark) {
  if (partition >= roles_.size() || roles_[partition] != Role::kFollowing) {
    return Status(ErrorCode::kInvalidArgument, "partition " + std::to_string(partition) +
                                                   " is served here: it cannot be rebuilt");
  }
  if (*mark == 0) {
    *mark = pipeline_.batch_no();
    pipeline_.unapplied().ApplyThrough(*mark);
    return BatchNo{0};
  }
  // Every batch up to the mark that may hold the partition's operations has
  // committed and had its record applied. The batch being filled is the
  // mark itself when nothing was submitted since: then it must hold no
  // record (the drop goes into it, after its apply steps).
  const BatchNo filling = pipeline_.batch_no();
  if (filling == *mark && pipeline_.batch().log.needs_apply()) return BatchNo{0};
  if (pipeline_.committed_through() < std::min(*mark, filling - 1) ||
      pipeline_.unapplied().oldest_unapplied() <= *mark) {
    return BatchNo{0};
  }
  // What the queues and groups of the partition had in memory goes with
  // their rows: dedup ids kept only in memory would answer a publish with
  // a message the snapshot may not hold.
  std::unordered_set<QueueId> targets;
  {
    Result<std::unique_ptr<store::KvTxn>> txn = store_->env()->BeginRead();
    if (!txn.ok()) return txn.status();
    if (Status s =
            store::CollectPartitionTargets(**txn, PartitionFilter(partition), partition, &targets);
        !s.ok()) {
      return s;
    }
  }
  dedup_.ForgetTargets(targets);
  follower_.Drop(partition, &pipeline_.batch());
  return pipeline_.batch_no();
}

Result<BatchNo> Broker::TakeSnapshotRows(store::PartitionId partition, std::string_view rows) {
  Status s = store::ForEachRow(rows, [](store::Table, std::string_view, std::string_view) {});
  if (!s.ok()) return s;
  pipeline_.batch().log.In(store::kNodeLocalPartition).PutRows(partition, rows);
  return pipeline_.batch_no();
}

Result<BatchNo> Broker::FinishRebuild(store::PartitionId partition, uint64_t epoch,
                                      uint64_t end_offset,
                                      const std::vector<std::pair<uint64_t, uint64_t>>& epochs,
                                      const std::vector<std::string>& records) {
  for (const std::string& record : records) {
    if (Status s =
            replica_.Append(partition, record, {}, &pipeline_.batch(), &pipeline_.unapplied());
        !s.ok()) {
      return s;
    }
  }
  follower_.Rebuilt(partition, epoch, end_offset, epochs, &pipeline_.batch());
  return pipeline_.batch_no();
}

Status Broker::TakeOverFanouts(store::PartitionId partition) {
  std::vector<store::RecoveredFanout> jobs;
  if (Status s = store_->ReadFanoutJobs(&jobs); !s.ok()) return s;
  std::erase_if(jobs, [&](const store::RecoveredFanout& j) {
    return groups_.has_job(j.header.group_id, j.job_id);
  });
  // The forwards of the partition go out again (their batches are committed
  // here): the members' leader answers those it has as duplicates.
  std::vector<store::RecoveredForward> forwards;
  if (forward_listener_) {
    if (Status s = store_->ReadFanoutForwards(&forwards); !s.ok()) return s;
  }
  for (store::RecoveredForward& f : forwards) {
    if (f.from != partition) continue;
    OutboundForward forward;
    forward.from = partition;
    forward.to = f.to;
    forward.group_id = f.group_id;
    forward.job_id = f.job_id;
    forward.chunk = f.chunk;
    forward.msg_id = f.msg_id;
    forward.envelope = ForwardedEnvelope(f.envelope, f.msg_id);
    forward.names = std::move(f.names);
    forward_listener_(std::move(forward));
  }
  if (jobs.empty()) return Status::OK();
  // A job names its group by id; its partition is its group name's.
  std::unordered_map<uint64_t, store::PartitionId> partition_of;
  std::vector<store::GroupSummary> page;
  std::string after;
  do {
    page.clear();
    if (Status s = store_->ListGroups("", after, 1000, &page); !s.ok()) return s;
    for (const store::GroupSummary& g : page) {
      partition_of[g.info.group_id] = PartitionOfName(g.name);
    }
    if (!page.empty()) after = page.back().name;
  } while (page.size() == 1000);
  std::erase_if(jobs, [&](const store::RecoveredFanout& j) {
    auto it = partition_of.find(j.header.group_id);
    return it == partition_of.end() || it->second != partition;
  });
  groups_.RecoverJobs(jobs, [partition](uint64_t) { return partition; });
  return Status::OK();
}

void Broker::FinishPromotions() {
  BatchNo applied = pipeline_.unapplied().applied_through();
  for (auto it = promoting_.begin(); it != promoting_.end();) {
    if (it->second <= applied && it->second <= pipeline_.committed_through()) {
      const store::PartitionId partition = it->first;
      roles_[partition] = Role::kServing;
      it = promoting_.erase(it);
      if (Status s = TakeOverFanouts(partition); !s.ok()) {
        spdlog::error("partition {}: cannot resume its fan-out jobs: {}", partition, s.ToString());
      }
      // Before any request of the partition is taken: its leader's
      // replication starts numbering from the next batch on.
      if (serve_listener_) serve_listener_(partition);
    } else {
      ++it;
    }
  }
}

void Broker::EnsureCreated(Queue* q) {
  if (q->queue_id() != 0) return;
  q->set_queue_id(pipeline_.ids().next_queue_id++);
  q->created_ms = Now();
  q->created_batch = pipeline_.batch_no();
  queues_.Created(q);
  pipeline_.batch().log.In(q->partition).CreateQueue(q->queue_id(), q->created_ms, q->name());
  pipeline_.NoteLogQueue(q);
}

void Broker::MaybeEvict(Queue* q) {
  // Evict only what the store holds completely: nothing in memory only, no
  // batch in flight that touches it, no log record naming it unapplied. A
  // deleted queue goes once the record that deletes it (its last) is
  // applied: the store has forgotten it, and its name is free again.
  bool committed = q->last_touch_batch() <= pipeline_.committed_through();
  bool applied = q->last_log_batch() <= pipeline_.unapplied().applied_through();
  if (q->deleted) {
    if (!committed || !applied) return;
    // It left its groups in the store with that record; in memory too.
    groups_.ForgetMember(q->name(), q->queue_id());
    queues_.Erase(q);
    return;
  }
  if (!q->idle() || !committed || !applied) return;
  queues_.Erase(q);
}

Status Broker::MakeRoom(Queue* q, uint64_t bytes) {
  const QueueLimits& limits = q->limits();
  auto over = [&] {
    return (limits.max_messages != 0 && q->depth + 1 > limits.max_messages) ||
           (limits.max_bytes != 0 && q->bytes + bytes > limits.max_bytes);
  };
  if (!over()) return Status::OK();
  auto refuse = [&] {
    ++stats_.refused_full;
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

Entry& Broker::AppendEntry(Queue* q, const store::NewEnvelope& envelope, size_t envelope_bytes) {
  EnsureCreated(q);
  store::WriteBatch& batch = pipeline_.batch();
  MsgId msg_id = pipeline_.ids().next_msg_id++;
  Seq seq = q->next_seq++;
  std::string_view stored =
      batch.log.In(q->partition).Publish(q->queue_id(), seq, msg_id, envelope, envelope_bytes);

  Entry entry;
  entry.seq = seq;
  entry.batch_no = batch.batch_no;
  entry.msg_id = msg_id;
  entry.bytes = static_cast<uint32_t>(envelope_bytes);
  entry.expires_ms = envelope.expires_ms;
  entry.msg = MessageRef(Message::Create(msg_id, stored));
  q->tail.push_back(std::move(entry));
  q->depth += 1;
  q->bytes += envelope_bytes;
  pipeline_.NoteLogQueue(q);
  pipeline_.NotePublish(envelope_bytes);
  return q->tail.back();
}

// ---------------------------------------------------------------------------
// Publish

Status Broker::TakePublishExtras(const PublishRequest& publish, uint64_t now,
                                 PublishExtras* extras) {
  for (const Header& h : publish.headers) {
    if (store::IsActionHeader(h.key)) {
      return Status::InvalidArgument("header " + std::string(h.key) +
                                     " is the broker's own; use the publish option instead");
    }
  }
  if (publish.delay_ms != 0 && publish.deliver_at_ms != 0) {
    return Status::InvalidArgument("a publish has a delay or a deliver-at time, not both");
  }
  uint64_t at = publish.delay_ms != 0 ? now + publish.delay_ms : publish.deliver_at_ms;
  if (at > now) {
    if (at - now > config_.max_schedule_ms) {
      return Status::InvalidArgument(
          "scheduled " + std::to_string(at - now) + " ms ahead; the limit is " +
          std::to_string(config_.max_schedule_ms) + " ms (--max-schedule-ms)");
    }
    if (publish.ttl_ms != 0 && publish.ttl_ms <= at - now) {
      return Status::InvalidArgument("the message would expire before it is deliverable");
    }
    extras->deliver_at = std::to_string(at);
    extras->Add(store::kDeliverAtHeader, extras->deliver_at);
  }
  if (publish.receipt_to.empty()) {
    if (!publish.receipt.empty()) {
      return Status::InvalidArgument("a receipt mode needs a receipt queue (receipt_to)");
    }
    return Status::OK();
  }
  if (Status s = ValidateQueueName(publish.receipt_to); !s.ok()) return s;
  extras->Add(store::kReceiptToHeader, publish.receipt_to);
  if (publish.receipt == "all") {
    if (publish.group.empty()) {
      return Status::InvalidArgument("receipt mode \"all\" is for group publishes");
    }
    extras->Add(store::kReceiptModeHeader, "all");
  } else if (!publish.receipt.empty() && publish.receipt != "each") {
    return Status::InvalidArgument("receipt mode \"" + std::string(publish.receipt) +
                                   "\": expected \"each\" or \"all\"");
  }
  return Status::OK();
}

void Broker::Publish(ClientId client_id, const PublishRequest& publish) {
  Client& client = *FindClient(client_id);
  uint64_t correlation_id = publish.correlation_id;
  auto refuse = [&](const Status& status) { RefusePublish(client, correlation_id, status); };
  if (!storage_failure_.ok()) return refuse(storage_failure_);
  if (draining_) return refuse(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  std::string_view dedup_id = publish.dedup_id;
  if (!dedup_id.empty()) {
    if (Status s = ValidateDedupId(dedup_id); !s.ok()) return refuse(s);
  }
  // Size the envelope first: it is written once, straight into the log record.
  uint64_t now = Now();
  store::NewEnvelope envelope;
  envelope.publish_ms = now;
  envelope.expires_ms = publish.ttl_ms != 0 ? now + publish.ttl_ms : 0;
  envelope.headers = publish.headers;
  envelope.payload = publish.payload;
  PublishExtras extras;
  if (Status s = TakePublishExtras(publish, now, &extras); !s.ok()) return refuse(s);
  envelope.extra_headers = extras.headers();
  Result<size_t> sized = envelope.Bytes();
  if (!sized.ok()) return refuse(sized.status());
  size_t envelope_bytes = *sized;
  if (!publish.group.empty()) {
    if (!publish.queue.empty()) {
      return refuse(Status::InvalidArgument("a publish names a queue or a group, not both"));
    }
    return PublishToGroup(client, publish, envelope, envelope_bytes);
  }
  std::string_view name = publish.queue;
  if (Status s = ValidateQueueName(name); !s.ok()) return refuse(s);
  if (Status s = CheckServes(name); !s.ok()) return refuse(s);
  if (Status s = CheckStoreRoom(); !s.ok()) return refuse(s);

  Result<Queue*> found = queues_.Load(name);
  if (!found.ok()) return refuse(found.status());
  Queue* q = *found;
  BatchNo batch_no = pipeline_.batch_no();

  if (!dedup_id.empty() && q->queue_id() != 0) {
    Result<std::optional<DedupIndex::Original>> original =
        dedup_.Find(q->queue_id(), dedup_id, now);
    if (!original.ok()) return refuse(original.status());
    if (original->has_value()) {
      // Confirm with the original message once it is durable.
      ++stats_.duplicates;
      const DedupIndex::Original& o = **original;
      PendingReply reply;
      reply.batch_no = o.batch_no;
      reply.correlation_id = correlation_id;
      reply.msg_id = o.msg_id;
      reply.seq = o.seq;
      reply.kind = PendingReply::kDuplicate;
      AddReply(client, reply);
      return;
    }
  }
  if (Status s = MakeRoom(q, envelope_bytes); !s.ok()) return refuse(s);

  if (q->limits().max_age_ms != 0) {
    uint64_t aged = now + q->limits().max_age_ms;
    envelope.expires_ms = envelope.expires_ms == 0 ? aged : std::min(envelope.expires_ms, aged);
  }
  Entry& entry = AppendEntry(q, envelope, envelope_bytes);
  if (!dedup_id.empty()) {
    pipeline_.batch()
        .log.In(q->partition)
        .Dedup(q->queue_id(), entry.seq, entry.msg_id, now, dedup_id);
    dedup_.Add(q->queue_id(), dedup_id, DedupIndex::Original{entry.msg_id, entry.seq, batch_no},
               now);
  }
  PendingReply reply;
  reply.batch_no = batch_no;
  reply.correlation_id = correlation_id;
  reply.msg_id = entry.msg_id;
  reply.seq = entry.seq;
  reply.kind = PendingReply::kPublish;
  AddReply(client, reply);
  ++stats_.published;
  if (!extras.deliver_at.empty()) ++stats_.scheduled;
  publish_rate_.Add(now);
  q->publish_rate.Add(now);
  // Delivery does not wait for the commit; the confirm does.
  if (!config_.deliver_after_commit && !q->consumers.empty()) Dispatch(q);

  if (pipeline_.full()) {
    pipeline_.MaybeSubmit();
    // Storage is busy and the next batch is full: stop reading from this
    // publisher until a batch commits, rather than buffer without bound.
    if (pipeline_.full() && std::find(paused_.begin(), paused_.end(), client_id) == paused_.end()) {
      out_->PauseReading(client_id);
      paused_.push_back(client_id);
    }
  }
}

void Broker::RefusePublish(Client& client, uint64_t correlation_id, const Status& status) {
  if (client.internal != nullptr) return client.internal->Replied(correlation_id, status);
  out_->PublishFailed(client.client_id(), correlation_id, status);
}

void Broker::AddReply(Client& client, PendingReply reply) {
  // Replies leave in the order of their requests, so a reply waits for the
  // batch of the one before it as well as for its own.
  Ring<PendingReply>& replies = client.replies();
  BatchNo after = reply.batch_no > pipeline_.committed_through() ? reply.batch_no : 0;
  if (!replies.empty()) after = std::max(after, replies.back().batch_no);
  reply.batch_no = after;
  replies.push_back(reply);
  if (after == 0) {  // durable already
    SendReplies(client, 0);
    return;
  }
  if (client.last_reply_batch != after) {
    client.last_reply_batch = after;
    pipeline_.NoteClient(after, client.client_id());
  }
}

// ---------------------------------------------------------------------------
// Queue settings

void Broker::ConfigureQueue(ClientId client_id, const ConfigureRequest& configure) {
  Client& client = *FindClient(client_id);
  uint64_t correlation_id = configure.correlation_id;
  auto fail = [&](const Status& s) { out_->Error(client_id, s, correlation_id, false); };
  if (!storage_failure_.ok()) return fail(storage_failure_);
  if (draining_) return fail(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  std::string_view name = configure.queue;
  if (Status s = ValidateQueueName(name); !s.ok()) return fail(s);
  if (Status s = CheckServes(name); !s.ok()) return fail(s);
  if (configure.changes.backoff.has_value()) {
    if (Result<RedeliveryBackoff> b = ParseBackoff(*configure.changes.backoff); !b.ok()) {
      return fail(b.status());
    }
  }
  if (configure.changes.dead_letter_queue.has_value()) {
    std::string_view dlq = *configure.changes.dead_letter_queue;
    if (!dlq.empty()) {
      if (Status s = ValidateQueueName(dlq); !s.ok()) return fail(s);
      if (dlq == name)
        return fail(Status::InvalidArgument("a queue cannot be its own dead-letter queue"));
    }
  }

  Result<Queue*> found = queues_.Load(name);
  if (!found.ok()) return fail(found.status());
  Queue* q = *found;
  EnsureCreated(q);
  QueueOverrides overrides = configure.reset ? QueueOverrides() : q->overrides();
  overrides.Merge(configure.changes);
  // An empty backoff resets the queue to the broker's default.
  if (overrides.backoff && overrides.backoff->empty()) overrides.backoff.reset();
  queues_.SetOverrides(q, std::move(overrides));
  pipeline_.batch().log.In(q->partition).Configure(q->queue_id(), q->overrides().Encode());
  pipeline_.NoteLogQueue(q);
  PendingReply reply;
  reply.batch_no = pipeline_.batch_no();
  reply.correlation_id = correlation_id;
  reply.kind = PendingReply::kConfigure;
  AddReply(client, reply);
}

// ---------------------------------------------------------------------------
// Clients

void Broker::Connect(ClientId client_id, ClientPort* port) {
  auto [it, added] = clients_.emplace(client_id, std::make_unique<Client>(client_id, port));
  HERMOD_CHECK(added && "a client connected twice");
}

void Broker::ConnectInternal(ClientId client_id, InternalReplies* replies) {
  Connect(client_id, nullptr);
  clients_[client_id]->internal = replies;
}

void Broker::Disconnect(ClientId client_id) {
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return;
  Client& client = *it->second;
  std::vector<Queue*> queues;
  for (auto& c : client.consumers()) {
    queues.push_back(c->queue);
    RemoveConsumer(c.get());
  }
  client.consumers().clear();
  paused_.erase(std::remove(paused_.begin(), paused_.end(), client_id), paused_.end());
  clients_.erase(it);  // frees the client
  std::sort(queues.begin(), queues.end());
  queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
  for (Queue* q : queues) MaybeEvict(q);
}

// ---------------------------------------------------------------------------
// Shutdown

void Broker::Drain(std::function<void()> drained) {
  if (draining_) return;
  draining_ = true;
  drained_ = std::move(drained);
  paused_.clear();  // the server stopped reading from every client
  pipeline_.MaybeSubmit();
  MaybeFinishDrain();
}

void Broker::Close() {
  pipeline_.Close();
  if (redelivery_timer_) redelivery_timer_->Close();
  if (sweep_timer_) sweep_timer_->Close();
}

void Broker::MaybeFinishDrain() {
  if (!draining_ || !drained_) return;
  if (!pipeline_.idle()) return;               // confirms of received publishes come first
  if (!awaiting_replication_.empty()) return;  // and they wait for the replicas
  std::function<void()> drained = std::move(drained_);
  drained_ = nullptr;
  drained();
}

}  // namespace hermod::core
