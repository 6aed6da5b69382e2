#include "replica_log.h"

#include <vector>

namespace hermod::core {

Status ReplicaLog::Remove(store::LogWriter& log, UnappliedLog* unapplied, QueueId queue_id, Seq seq,
                          const Pending* known) {
  auto it = pending_.find(Key{queue_id, seq});
  if (it != pending_.end() && !unapplied->apply_submitted(it->second.batch_no)) {
    // Only in this node's log: the apply leaves it out, and replay too.
    unapplied->Cancel(it->second.batch_no, queue_id, seq);
    log.Ack(queue_id, seq);
    pending_.erase(it);
    return Status::OK();
  }
  Pending figures;
  if (it != pending_.end()) {
    figures = it->second;  // its apply is on its way: in the index by this commit
    pending_.erase(it);
  } else if (known != nullptr) {
    figures = *known;
  } else {
    // The leader had it only in its log, this node applied it already.
    std::vector<store::StoredEntry> found;
    if (Status s = store_->ReadEntries(queue_id, seq, seq + 1, 1, &found); !s.ok()) return s;
    if (found.empty() || found[0].seq != seq) return Status::OK();  // gone already
    figures.msg_id = found[0].value.msg_id;
    figures.bytes = found[0].value.bytes;
    figures.expires_ms = store::Store::EnvelopeExpiry(found[0].envelope);
  }
  log.IndexAck(queue_id, seq, figures.msg_id, figures.bytes, figures.expires_ms);
  return Status::OK();
}

Status ReplicaLog::Append(store::PartitionId partition, std::string_view record,
                          std::string_view commit_record, store::WriteBatch* batch,
                          UnappliedLog* unapplied) {
  store::LogWriter& log = batch->log;
  store::LogOp op;
  // The apply-step operations first: a removal in the commit record names
  // an entry of an earlier batch, never one of this.
  store::LogReader reader(record, partition);
  while (reader.Next(&op)) {
    if (on_op_) on_op_(op);
    switch (op.type) {
      case store::LogOpType::kPublish:
      case store::LogOpType::kEntry: {
        Pending p;
        p.batch_no = batch->batch_no;
        p.msg_id = op.msg_id;
        if (op.type == store::LogOpType::kPublish) {
          p.bytes = static_cast<uint32_t>(op.envelope.size());
          p.expires_ms = store::Store::EnvelopeExpiry(op.envelope);
        } else {
          p.bytes = op.bytes;
          p.expires_ms = op.expires_ms;
        }
        pending_[Key{op.queue_id, op.seq}] = p;
        by_batch_[batch->batch_no].push_back(Key{op.queue_id, op.seq});
        log.Copy(op);
        break;
      }
      case store::LogOpType::kAck:
        log.In(partition);
        if (Status s = Remove(log, unapplied, op.queue_id, op.seq, nullptr); !s.ok()) return s;
        break;
      default:
        log.Copy(op);
        break;
    }
  }
  if (!reader.status().ok()) return reader.status();

  store::LogReader commits(commit_record, partition);
  while (commits.Next(&op)) {
    if (on_op_) on_op_(op);
    switch (op.type) {
      case store::LogOpType::kIndexAck: {
        Pending known{0, op.msg_id, op.bytes, op.expires_ms};
        log.In(partition);
        if (Status s = Remove(log, unapplied, op.queue_id, op.seq, &known); !s.ok()) return s;
        break;
      }
      case store::LogOpType::kPurge: {
        // The leader's index range; part of it may be only in this node's
        // log, with its apply still to come: those entries are canceled.
        // The rest is in the index by this commit, where the purge finds it.
        log.In(partition);
        auto it = pending_.lower_bound(Key{op.queue_id, op.seq});
        while (it != pending_.end() && it->first.first == op.queue_id && it->first.second < op.to) {
          if (!unapplied->apply_submitted(it->second.batch_no)) {
            unapplied->Cancel(it->second.batch_no, op.queue_id, it->first.second);
            log.Ack(op.queue_id, it->first.second);
          }
          it = pending_.erase(it);
        }
        log.Copy(op);
        break;
      }
      default:
        log.Copy(op);
        break;
    }
  }
  return commits.status();
}

void ReplicaLog::Trim(BatchNo applied_through) {
  while (!by_batch_.empty() && by_batch_.begin()->first <= applied_through) {
    for (const Key& key : by_batch_.begin()->second) {
      auto it = pending_.find(key);
      if (it != pending_.end() && it->second.batch_no <= applied_through) pending_.erase(it);
    }
    by_batch_.erase(by_batch_.begin());
  }
}

}  // namespace hermod::core
