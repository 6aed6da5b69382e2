// The commits half of the Broker: what happens when a storage batch comes
// back. Durable batches send their confirms and replies, let the index
// serve what was applied, and report the store's headroom; a failed batch
// refuses its publishes and, on a full store, is retried without them in
// the next batch. See broker.h and docs/operations.md ("When the store
// fills up").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker.h"
#include "check.h"

namespace hermod::core {

void Broker::SendReplies(Client& client, BatchNo through) {
  Ring<PendingReply>& replies = client.replies();
  ClientId client_id = client.client_id();
  while (!replies.empty() && replies.front().batch_no <= through) {
    const PendingReply& r = replies.front();
    if (client.internal != nullptr) {
      client.internal->Replied(r.correlation_id, r.failed ? batch_failure_ : Status::OK());
    } else if (r.failed) {
      if (r.kind == PendingReply::kConfigure || r.kind == PendingReply::kGroup ||
          r.kind == PendingReply::kRedrive) {
        out_->Error(client_id, batch_failure_, r.correlation_id, false);
      } else {
        out_->PublishFailed(client_id, r.correlation_id, batch_failure_);
      }
    } else if (r.kind == PendingReply::kConfigure) {
      out_->QueueConfigured(client_id, r.correlation_id);
    } else if (r.kind == PendingReply::kGroup) {
      out_->GroupChanged(client_id, r.correlation_id, r.changed);
    } else if (r.kind == PendingReply::kRedrive) {
      out_->QueueRedriven(client_id, r.correlation_id, r.changed, r.remaining);
    } else {
      out_->PublishConfirmed(client_id, r.correlation_id, r.msg_id, r.seq,
                             r.kind == PendingReply::kDuplicate);
    }
    replies.pop_front();
  }
}

void Broker::OnBatchDone(BatchOutcome& batch) {
  ++stats_.batches;
  batch_messages_ += batch.messages;
  if (commit_micros_.size() < kCommitSamples) {
    commit_micros_.push_back(static_cast<uint32_t>(batch.commit_micros));
  } else {
    commit_micros_[commit_next_] = static_cast<uint32_t>(batch.commit_micros);
    commit_next_ = (commit_next_ + 1) % kCommitSamples;
  }
  NoteHeadroom(batch.headroom, batch.status.code() == ErrorCode::kStorageFull);
  BatchNo failed = 0;
  if (!batch.status.ok()) {
    failed = batch.batch_no;
    OnBatchFailed(batch);
  }
  if (commit_listener_) commit_listener_(*batch.batch);
  if (!replication_failed_.empty()) {
    auto failed_replication = replication_failed_.find(batch.batch_no);
    if (failed_replication != replication_failed_.end()) {
      FailRepliesOf(batch.clients, batch.batch_no, failed_replication->second);
      replication_failed_.erase(failed_replication);
    }
  }
  if (replication_gate_ && batch.batch_no > replicated_through_) {
    awaiting_replication_.push_back(AwaitingReplication{batch.batch_no, std::move(batch.clients)});
  } else {
    if (!awaiting_forwards_.empty()) ReleaseForwards(batch.batch_no);
    for (ClientId client_id : batch.clients) {
      auto it = clients_.find(client_id);
      if (it != clients_.end()) SendReplies(*it->second, batch.batch_no);
    }
  }
  replies_decided_through_ = batch.batch_no;
  // Entries whose record is now in the index leave memory unless they are
  // being delivered: the index serves them from here on.
  BatchNo applied_through = pipeline_.unapplied().applied_through();
  replica_.Trim(applied_through);
  if (!promoting_.empty()) FinishPromotions();
  for (Queue* q : batch.applied_queues) {
    while (!q->tail.empty() && q->tail[0].batch_no <= applied_through) {
      q->index_end = q->tail[0].seq + 1;
      q->tail.pop_front();
    }
  }
  FinishPurges(batch, failed);
  if (!tally_touches_.empty() && failed == 0) ForgetCommittedTallies(batch.batch_no);
  for (Queue* q : batch.queues) {
    if (!q->deleted && !q->consumers.empty()) Dispatch(q);
  }

  std::vector<Queue*> candidates = std::move(batch.queues);
  candidates.insert(candidates.end(), batch.applied_queues.begin(), batch.applied_queues.end());
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  for (Queue* q : candidates) MaybeEvict(q);

  if (!paused_.empty() && !pipeline_.full()) {
    for (ClientId client_id : paused_) out_->ResumeReading(client_id);
    paused_.clear();
  }
  MaybeFinishDrain();
}

void Broker::OnReplicated(BatchNo through) {
  if (through <= replicated_through_) return;
  replicated_through_ = through;
  if (!awaiting_forwards_.empty()) ReleaseForwards(std::min(through, replies_decided_through_));
  while (!awaiting_replication_.empty() && awaiting_replication_.front().batch_no <= through) {
    AwaitingReplication& done = awaiting_replication_.front();
    for (ClientId client_id : done.clients) {
      auto it = clients_.find(client_id);
      if (it != clients_.end()) SendReplies(*it->second, done.batch_no);
    }
    awaiting_replication_.pop_front();
  }
  MaybeFinishDrain();
}

void Broker::FailRepliesOf(const std::vector<ClientId>& clients, BatchNo batch_no,
                           const Status& why) {
  for (ClientId client_id : clients) {
    auto it = clients_.find(client_id);
    if (it == clients_.end()) continue;
    Ring<PendingReply>& replies = it->second->replies();
    for (size_t j = 0; j < replies.size(); ++j) {
      if (replies[j].batch_no == batch_no) replies[j].failed = true;
    }
  }
  batch_failure_ = why;
}

void Broker::FailReplication(BatchNo batch_no, const Status& why) {
  for (size_t i = 0; i < awaiting_replication_.size(); ++i) {
    AwaitingReplication& waiting = awaiting_replication_[i];
    if (waiting.batch_no == batch_no) return FailRepliesOf(waiting.clients, batch_no, why);
  }
  // Not through OnBatchDone yet (at storage, or in its commit listener):
  // its replies fail when it gets there.
  if (batch_no > replies_decided_through_) replication_failed_.emplace(batch_no, why);
}

void Broker::NoteHeadroom(uint64_t headroom, bool batch_failed) {
  store_headroom_ = headroom;
  // After a batch failed for room, its retry goes alone: no publishes join
  // it until a batch commits.
  bool full = batch_failed || headroom < config_.store_reserve_bytes;
  if (full == store_full_) return;
  store_full_ = full;
  if (batch_failed) {
    spdlog::warn("store has {} bytes of room left and a batch did not fit: refusing publishes",
                 headroom);
  } else if (full) {
    spdlog::warn("store has {} bytes of room left, under the reserve of {}: refusing publishes",
                 headroom, config_.store_reserve_bytes);
  } else {
    spdlog::info("store has room again ({} bytes): accepting publishes", headroom);
  }
}

Status Broker::CheckStoreRoom() {
  if (!store_full_) return Status::OK();
  ++stats_.refused_storage;
  return Status::StorageFull("the store is full: " + std::to_string(store_headroom_) +
                             " bytes left, under the reserve of " +
                             std::to_string(config_.store_reserve_bytes) +
                             " kept for acks; consume, purge, or raise --max-store-bytes");
}

void Broker::OnBatchFailed(BatchOutcome& batch) {
  ++stats_.batch_failures;
  batch_failure_ = batch.status;
  spdlog::error("storage batch {} failed: {}", batch.batch_no, batch.status.ToString());
  // A full store is retried: everything the batch did except its publishes
  // goes again in the next batch, whose smaller size and the room acks free
  // let it through (the reserve makes this the exception). Any other
  // failure leaves storage unusable: publishes are refused from now on.
  bool retry = batch.status.code() == ErrorCode::kStorageFull && !draining_;
  if (!retry && storage_failure_.ok()) storage_failure_ = batch.status;
  BatchNo failed = batch.batch_no;
  BatchNo into = pipeline_.batch_no();

  // The publishes whose publishers wait for this batch are refused: their
  // messages are lost, and so is anything stored with them. A message
  // nobody waits for (a dead-lettered copy, or the publisher went away) is
  // retried with the rest.
  std::unordered_set<MsgId> lost;
  std::vector<Client*> clients;
  for (ClientId client_id : batch.clients) {
    auto it = clients_.find(client_id);
    if (it == clients_.end()) continue;
    clients.push_back(it->second.get());
    Ring<PendingReply>& replies = it->second->replies();
    for (size_t i = 0; i < replies.size(); ++i) {
      const PendingReply& r = replies[i];
      if (r.batch_no == failed && r.kind == PendingReply::kPublish) lost.insert(r.msg_id);
    }
  }
  // The group publishes of the batch: (group id, job id, message id).
  struct Started {
    uint64_t group_id, job_id;
    MsgId msg_id;
  };
  std::vector<Started> started;
  {
    store::LogReader reader(batch.failed->log.commit_record());
    store::LogOp op;
    while (reader.Next(&op)) {
      if (op.type == store::LogOpType::kFanoutStart) {
        started.push_back(Started{op.group_id, op.job_id, op.msg_id});
      }
    }
    HERMOD_CHECK(reader.status().ok());  // the loop wrote it
  }
  if (!retry) {
    for (const Started& start : started) lost.insert(start.msg_id);
  }
  for (Client* client : clients) {
    Ring<PendingReply>& replies = client->replies();
    bool moved = false;
    for (size_t i = 0; i < replies.size(); ++i) {
      PendingReply& r = replies[i];
      if (r.batch_no != failed) continue;
      switch (r.kind) {
        case PendingReply::kPublish:
          r.failed = true;
          break;
        case PendingReply::kDuplicate:
          if (lost.count(r.msg_id) != 0) {
            r.failed = true;
            break;
          }
          [[fallthrough]];  // its original may be retried: wait for that
        case PendingReply::kConfigure:
        case PendingReply::kGroup:
        case PendingReply::kRedrive:
          // Retried: the reply waits for the retry's batch.
          if (retry) {
            r.batch_no = into;
            moved = true;
          } else {
            r.failed = true;
          }
          break;
      }
    }
    if (moved && client->last_reply_batch != into) {
      client->last_reply_batch = into;
      pipeline_.NoteClient(into, client->client_id());
    }
  }

  // Fan-out jobs of refused group publishes never start, nor do their
  // forwards; the forwards of a retried one wait for the retry's batch.
  for (const Started& start : started) {
    if (lost.count(start.msg_id) != 0) groups_.DropJob(start.group_id, start.job_id);
  }
  for (auto& [batch_no, forward] : awaiting_forwards_) {
    if (batch_no == failed) batch_no = retry && lost.count(forward.msg_id) == 0 ? into : 0;
  }
  std::erase_if(awaiting_forwards_, [](const auto& f) { return f.first == 0; });

  // The batch's entries, wherever they are now (delivery does not wait for
  // the commit, so some may be with a consumer, or back from one): those of
  // lost messages were never stored and go (a consumer's ack of one is then
  // ignored); the others, and delivery counts the batch recorded, are
  // retried in batch `into`.
  auto gone = [&](Entry& e) { return e.batch_no == failed && (!retry || lost.count(e.msg_id)); };
  auto moved = [&](Entry& e) {
    if (e.batch_no == failed) e.batch_no = into;
    if (e.delivered_batch == failed) e.delivered_batch = retry ? into : 0;
  };
  for (Queue* q : batch.queues) {
    auto forget = [&](Entry& e) {
      q->depth -= 1;
      q->bytes -= e.bytes;
    };
    for (size_t i = q->tail.size(); i-- > 0;) {
      Entry& e = q->tail[i];
      if (gone(e)) {
        forget(e);
        q->tail.erase_at(i);
      } else {
        moved(e);
      }
    }
    // `returned` and each consumer's in-flight map: seq -> entry.
    auto sweep = [&](auto& entries, uint32_t* count) {
      for (auto it = entries.begin(); it != entries.end();) {
        if (gone(it->second)) {
          forget(it->second);
          if (count != nullptr) --*count;
          it = entries.erase(it);
        } else {
          moved(it->second);
          ++it;
        }
      }
    };
    for (Consumer* c : q->consumers) sweep(c->inflight, &q->inflight);
    sweep(q->returned, nullptr);
    for (auto it = q->delayed.begin(); it != q->delayed.end();) {
      if (gone(it->second)) {
        forget(it->second);
        bool first = it == q->delayed.begin();
        uint64_t due = it->first;
        it = q->delayed.erase(it);
        if (first) {
          delayed_queues_.erase({due, q});
          if (!q->delayed.empty()) delayed_queues_.emplace(q->delayed.begin()->first, q);
        }
      } else {
        moved(it->second);
        ++it;
      }
    }
  }
  if (retry) RetryFailedBatch(batch, lost);
}

void Broker::RetryFailedBatch(BatchOutcome& batch, const std::unordered_set<MsgId>& lost) {
  store::WriteBatch& failed = *batch.failed;
  store::WriteBatch& next = pipeline_.batch();
  BatchNo into = next.batch_no;
  // The failed record's operations, but for the lost publishes, go in front
  // of the next batch's (which came later).
  store::LogWriter carried;
  store::LogOp op;
  for (const std::string* record : {&failed.log.record(), &failed.log.commit_record()}) {
    store::LogReader reader(*record);
    while (reader.Next(&op)) {
      bool of_lost =
          (op.type == store::LogOpType::kPublish || op.type == store::LogOpType::kEntry ||
           op.type == store::LogOpType::kDedup || op.type == store::LogOpType::kFanoutStart ||
           op.type == store::LogOpType::kFanoutProgress ||
           op.type == store::LogOpType::kFanoutForward ||
           op.type == store::LogOpType::kReceiptTally) &&
          lost.count(op.msg_id) != 0;
      if (op.type == store::LogOpType::kCreateQueue) {
        if (Queue* q = queues_.FindById(op.queue_id)) q->created_batch = into;
      }
      if (op.type == store::LogOpType::kDedup) {
        if (of_lost) {
          dedup_.Forget(op.queue_id, op.dedup_id, op.msg_id);
        } else {
          dedup_.Moved(op.queue_id, op.dedup_id, op.msg_id, into, Now());
        }
      }
      if (!of_lost) carried.Copy(op);
    }
    HERMOD_CHECK(reader.status().ok());  // the loop wrote it
  }
  next.log.Prepend(carried);
  pipeline_.unapplied().MoveCancels(failed.batch_no, into);
  for (Queue* q : batch.failed_log_queues) pipeline_.NoteLogQueue(q);
  for (Queue* q : batch.queues) pipeline_.NoteQueue(q);

  for (PendingPurge& purge : pending_purges_) {
    if (purge.batch_no == failed.batch_no) purge.batch_no = into;
  }
  spdlog::warn("retrying batch {} without its {} refused publishes in batch {}", failed.batch_no,
               lost.size(), into);
}

void Broker::FinishPurges(BatchOutcome& batch, BatchNo failed) {
  // Purge and delete replies of this batch, with what storage removed.
  auto it = pending_purges_.begin();
  while (it != pending_purges_.end() && it->batch_no <= batch.batch_no) {
    uint64_t removed = it->removed_in_memory;
    for (const store::PurgeRange& range : batch.purges) {
      if (range.queue_id != it->queue_id) continue;
      removed += range.removed;
      if (Queue* q = queues_.FindById(range.queue_id)) {
        q->depth -= std::min(q->depth, range.removed);
        q->bytes -= std::min(q->bytes, range.removed_bytes);
      }
    }
    stats_.purged += removed;
    if (clients_.count(it->client_id) != 0) {
      if (it->batch_no == failed) {
        out_->Error(it->client_id, batch.status, it->correlation_id, false);
      } else {
        out_->QueuePurged(it->client_id, it->correlation_id, removed);
      }
    }
    if (it->forget && it->batch_no == failed) {
      if (Queue* q = queues_.FindById(it->queue_id)) q->deleted = false;  // it was not deleted
    }
    it = pending_purges_.erase(it);
  }
}

}  // namespace hermod::core
