#include "store.h"

#include "partition_rows.h"

#include <algorithm>
#include <chrono>

#include "check.h"

namespace hermod::store {

namespace {

// The meta rows: "schema_version" is a u32, "counters" five u64
// (little-endian). Only this file knows the layout; others read the rows
// through ReadSchemaVersion and ReadIdCounters.
constexpr std::string_view kMetaSchemaVersion = "schema_version";
constexpr std::string_view kMetaIdCounters = "counters";
// The message ids below this are taken, committed or not (Store::Recover).
constexpr std::string_view kMetaMsgIdLease = "msg_id_lease";

std::string EncodeIdCounters(const IdCounters& c) {
  std::string out;
  AppendFixed64(&out, c.next_batch_no);
  AppendFixed64(&out, c.next_msg_id);
  AppendFixed64(&out, c.next_queue_id);
  AppendFixed64(&out, c.next_group_id);
  AppendFixed64(&out, c.next_job_id);
  return out;
}

bool DecodeIdCounters(std::string_view v, IdCounters* c) {
  if (v.size() != 40) return false;
  c->next_batch_no = DecodeFixed64(v.data());
  c->next_msg_id = DecodeFixed64(v.data() + 8);
  c->next_queue_id = DecodeFixed64(v.data() + 16);
  c->next_group_id = DecodeFixed64(v.data() + 24);
  c->next_job_id = DecodeFixed64(v.data() + 32);
  return true;
}

}  // namespace

Result<uint32_t> ReadSchemaVersion(KvTxn& txn) {
  std::string_view value;
  if (!txn.Get(Table::kMeta, kMetaSchemaVersion, &value)) {
    if (!txn.status().ok()) return txn.status();
    return Status::NotFound("no schema version in meta");
  }
  if (value.size() != 4) return Status::StorageError("corrupt schema version in meta");
  return DecodeFixed32(value.data());
}

Result<IdCounters> ReadIdCounters(KvTxn& txn) {
  std::string_view value;
  if (!txn.Get(Table::kMeta, kMetaIdCounters, &value)) {
    if (!txn.status().ok()) return txn.status();
    return Status::NotFound("no counters in meta");
  }
  IdCounters counters;
  if (!DecodeIdCounters(value, &counters)) return Status::StorageError("corrupt counters in meta");
  return counters;
}

const char* TableName(Table table) {
  switch (table) {
    case Table::kMeta:
      return "meta";
    case Table::kLog:
      return "log";
    case Table::kMessages:
      return "messages";
    case Table::kRefs:
      return "refs";
    case Table::kEntries:
      return "entries";
    case Table::kQueues:
      return "queues";
    case Table::kQueueState:
      return "queue_state";
    case Table::kGroups:
      return "groups";
    case Table::kFanout:
      return "fanout";
    case Table::kDedup:
      return "dedup";
    case Table::kQueueConfig:
      return "queue_config";
    case Table::kExpiry:
      return "expiry";
    case Table::kGroupInfo:
      return "group_info";
    case Table::kPartitionLog:
      return "partition_log";
    case Table::kStaged:
      return "staged";
    case Table::kMessageChunks:
      return "message_chunks";
  }
  return "?";
}

Status Store::Open() {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginWrite();
  if (!txn.ok()) return txn.status();
  Result<uint32_t> version = ReadSchemaVersion(**txn);
  if (version.ok()) {
    if (*version > kSchemaVersion) {
      return Status::StorageError("the data directory has schema version " +
                                  std::to_string(*version) + "; this build reads up to " +
                                  std::to_string(kSchemaVersion) + " (upgrade hermodd)");
    }
    if (*version == kSchemaVersion) return Status::OK();
    // Version 2 indexes which groups each queue belongs to (keys.h,
    // MemberOfKey); build that index from the member rows once.
    if (*version < 2) {
      if (Status s = IndexGroupMembership(**txn); !s.ok()) return s;
    }
    // Version 3 chunks large envelopes as they are written; those already
    // whole in `messages` stay readable, so nothing is rewritten.
    std::string encoded;
    AppendFixed32(&encoded, kSchemaVersion);
    (*txn)->Put(Table::kMeta, kMetaSchemaVersion, encoded);
    return (*txn)->Commit();
  }
  if (!version.status().IsNotFound()) return version.status();
  std::string encoded;
  AppendFixed32(&encoded, kSchemaVersion);
  (*txn)->Put(Table::kMeta, kMetaSchemaVersion, encoded);
  (*txn)->Put(Table::kMeta, kMetaIdCounters, EncodeIdCounters(IdCounters{}));
  return (*txn)->Commit();
}

Result<Recovery> Store::Recover(const ReplayFn& replay, uint32_t id_prefix) {
  if (id_prefix > kMaxIdPrefix) {
    return Status::InvalidArgument("id prefix " + std::to_string(id_prefix) + " is over " +
                                   std::to_string(kMaxIdPrefix));
  }
  Result<Recovery> recovery = RecoverLog(replay);
  if (!recovery.ok()) return recovery;
  IdCounters& ids = recovery->ids;
  for (uint64_t* next :
       {&ids.next_msg_id, &ids.next_queue_id, &ids.next_group_id, &ids.next_job_id}) {
    *next = std::max(*next, IdBase(id_prefix) + 1);
  }
  // A message id may reach a consumer before its batch commits (delivery
  // does not wait for durability), so ids handed out by batches a crash
  // lost must not be handed out again: ids are leased in blocks, the lease
  // is durable before any id under it is used, and a restart continues
  // above the last lease.
  Result<std::unique_ptr<KvTxn>> began = env_->BeginWrite();
  if (!began.ok()) return began.status();
  KvTxn& txn = **began;
  std::string_view value;
  uint64_t leased = 0;
  if (txn.Get(Table::kMeta, kMetaMsgIdLease, &value)) {
    if (value.size() != 8) return Status::StorageError("corrupt message id lease in meta");
    leased = DecodeFixed64(value.data());
  }
  recovery->ids.next_msg_id = std::max(recovery->ids.next_msg_id, leased);
  recovery->msg_id_lease = recovery->ids.next_msg_id + kMsgIdLeaseBlock;
  std::string encoded;
  AppendFixed64(&encoded, recovery->msg_id_lease);
  txn.Put(Table::kMeta, kMetaMsgIdLease, encoded);
  if (Status s = txn.Commit(); !s.ok()) return s;
  return recovery;
}

Result<Recovery> Store::RecoverLog(const ReplayFn& replay) {
  Recovery recovery;
  // Read the counters and the numbers and sizes of the unapplied records.
  std::vector<std::pair<BatchNo, size_t>> records;
  {
    Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
    if (!txn.ok()) return txn.status();
    Result<IdCounters> counters = ReadIdCounters(**txn);
    if (counters.ok()) {
      recovery.ids = *counters;
    } else if (!counters.status().IsNotFound()) {
      return counters.status();
    }
    std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kLog);
    if (!cursor) return (*txn)->status();
    for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
      if (cursor->key().size() != kLogKeyBytes) return Status::StorageError("corrupt log key");
      BatchNo batch_no = LogKeyBatch(cursor->key());
      if (records.empty() || records.back().first != batch_no) records.emplace_back(batch_no, 0);
      records.back().second += cursor->value().size();
    }
    if (!(*txn)->status().ok()) return (*txn)->status();
  }
  if (Status s = ReadFanoutJobs(&recovery.fanout_jobs); !s.ok()) return s;
  if (records.empty()) return recovery;
  recovery.ids.next_batch_no = std::max(recovery.ids.next_batch_no, records.back().first + 1);

  // Entries acked while only in the log are named by kAck ops in later
  // records; seqs are never reused, so one sorted list serves every record.
  ApplyStep step;
  {
    Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
    if (!txn.ok()) return txn.status();
    std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kLog);
    if (!cursor) return (*txn)->status();
    std::string record;
    BatchNo current = 0;
    auto scan = [&]() -> Status {
      LogReader reader(record);
      LogOp op;
      while (reader.Next(&op)) {
        if (op.type == LogOpType::kAck) step.canceled.emplace_back(op.queue_id, op.seq);
        if (replay) replay(op);
      }
      return reader.status();
    };
    for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
      BatchNo batch_no = LogKeyBatch(cursor->key());
      if (batch_no != current && !record.empty()) {
        if (Status s = scan(); !s.ok()) return s;
        record.clear();
      }
      current = batch_no;
      record.append(cursor->value());
    }
    if (Status s = scan(); !s.ok()) return s;
    std::sort(step.canceled.begin(), step.canceled.end());
  }

  // Apply the records in order, a bounded slice per transaction. A crash in
  // between leaves the rest in the log for the next start.
  size_t next = 0;
  while (next < records.size()) {
    Result<std::unique_ptr<KvTxn>> began = env_->BeginWrite();
    if (!began.ok()) return began.status();
    KvTxn& txn = **began;
    deltas_.clear();
    envelope_tails_.Reset();
    size_t bytes = 0;
    size_t first = next;
    while (next < records.size() && (next == first || bytes < kRecoveryTxnBytes)) {
      step.batch_no = records[next].first;
      if (Status s = ApplyRecord(txn, step); !s.ok()) return s;
      bytes += records[next].second;
      ++next;
    }
    FlushRefDeltas(txn);
    WriteQueueDeltas(txn);
    txn.Put(Table::kMeta, kMetaIdCounters, EncodeIdCounters(recovery.ids));
    Status s = txn.Commit();
    if (!s.ok() && txn.map_full()) {
      if (Status grown = env_->GrowMap(); !grown.ok()) return grown;
      next = first;  // the transaction left nothing behind: run it again
      continue;
    }
    if (!s.ok()) return s;
    recovery.log_bytes += bytes;
  }
  recovery.records_applied = records.size();
  // The scratch of a large recovery is not needed again at that size.
  deltas_ = {};
  ref_deltas_ = {};
  record_ = std::string();
  return recovery;
}

Status Store::Commit(WriteBatch& batch) {
  if (!background_error_.ok()) return background_error_;
  if (test_fail_armed_.exchange(false)) {
    std::lock_guard<std::mutex> lock(test_mu_);
    if (test_fail_next_.code() == ErrorCode::kStorageFull) return test_fail_next_;
    background_error_ = test_fail_next_;
    return background_error_;
  }
  for (;;) {
    Status s = CommitOnce(batch);
    if (s.ok()) return s;
    if (s.code() == ErrorCode::kStorageFull && last_map_full_) {
      // The transaction died when the map filled; it left nothing behind.
      // Grow the map and run the whole batch again.
      Status grown = env_->GrowMap();
      if (grown.ok()) continue;
      return grown;  // not sticky: the loop may retry once space frees
    }
    background_error_ = s;
    return s;
  }
}

Status Store::CommitOnce(WriteBatch& batch) {
  last_map_full_ = false;
  Result<std::unique_ptr<KvTxn>> began = env_->BeginWrite();
  if (!began.ok()) return began.status();
  KvTxn& txn = **began;
  deltas_.clear();
  ref_deltas_.clear();
  envelope_tails_.Reset();

  // A record of only AppliedAtCommit operations is done with below.
  if (batch.log.needs_apply()) AppendLog(txn, batch);
  for (const ApplyStep& step : batch.apply) {
    Status s = ApplyRecord(txn, step);
    if (!s.ok()) {
      // A put that failed (the map filled) breaks the transaction, and the
      // reads after it see a cut record: report what broke it, not that.
      if (!txn.status().ok()) {
        last_map_full_ = txn.map_full();
        return txn.status();
      }
      return s;
    }
  }
  batch.purged.clear();
  if (batch.log.has_commit_ops()) {
    // After the apply steps: they apply older batches.
    Status s = ApplyAtCommit(txn, batch.log.commit_record(), &batch.purged);
    if (!s.ok()) return s;
  }
  FlushRefDeltas(txn);
  WriteQueueDeltas(txn);
  txn.Put(Table::kMeta, kMetaIdCounters, EncodeIdCounters(batch.ids));
  if (batch.msg_id_lease != 0) {
    std::string lease;
    AppendFixed64(&lease, batch.msg_id_lease);
    txn.Put(Table::kMeta, kMetaMsgIdLease, lease);
  }
  Status s = txn.Commit();
  last_map_full_ = txn.map_full();
  return s;
}

void Store::AppendLog(KvTxn& txn, const WriteBatch& batch) {
  // Log chunks: see kLogChunkBytes. Batch numbers only grow, so every key
  // sorts after the last one in the log and MDB_APPEND fills pages fully.
  const std::string& record = batch.log.record();
  uint32_t chunk = 0;
  for (size_t offset = 0; offset < record.size(); offset += kLogChunkBytes, ++chunk) {
    std::string_view slice = std::string_view(record).substr(offset, kLogChunkBytes);
    txn.Put(Table::kLog, LogKey(batch.batch_no, chunk).view(), slice, /*append=*/true);
  }
}

Status Store::ApplyAtCommit(KvTxn& txn, std::string_view record, std::vector<PurgeRange>* purged) {
  LogReader reader(record);
  LogOp op;
  while (reader.Next(&op)) {
    switch (op.type) {
      case LogOpType::kIndexAck: {
        // An entry can be removed twice (an expiry sweep and a delivery that
        // found it expired): only the first removal counts.
        if (!txn.Del(Table::kEntries, EntryKey(op.queue_id, op.seq).view())) break;
        QueueDelta& delta = deltas_[op.queue_id];
        delta.depth -= 1;
        delta.bytes -= op.bytes;
        ref_deltas_[op.msg_id] -= 1;
        if (op.expires_ms != 0) {
          txn.Del(Table::kExpiry, ExpiryKey(op.expires_ms, op.queue_id, op.seq).view());
        }
        break;
      }
      case LogOpType::kDedupExpire:
        txn.Del(Table::kDedup, op.key);
        break;
      case LogOpType::kPurge: {
        PurgeRange range{op.queue_id, op.seq, op.to, 0, 0};
        Purge(txn, &range);
        purged->push_back(range);
        break;
      }
      case LogOpType::kGroupChange:
        ApplyGroupChange(txn, op.ToGroupChange());
        break;
      case LogOpType::kFanoutStart:
        StartFanout(txn, op.ToFanoutStart());
        break;
      case LogOpType::kFanoutProgress:
        AdvanceFanout(txn, op.ToFanoutProgress());
        break;
      case LogOpType::kFanoutForward: {
        // The forward holds a reference on the message until its partition's
        // leader has it (kFanoutForwarded).
        std::string value;
        AppendFixed64(&value, op.msg_id);
        AppendFixed64(&value, op.group_id);
        AppendFixed32(&value, op.partition);
        value.append(op.names);
        txn.Put(Table::kFanout, FanoutForwardKey(op.job_id, op.forward_partition, op.chunk), value);
        ref_deltas_[op.msg_id] += 1;
        break;
      }
      case LogOpType::kFanoutForwarded:
        // Twice (a resend answered twice) drops the reference once.
        if (txn.Del(Table::kFanout, FanoutForwardKey(op.job_id, op.forward_partition, op.chunk))) {
          ref_deltas_[op.msg_id] -= 1;
        }
        break;
      case LogOpType::kReceiptTally:
        if (op.tally.remaining == 0) {
          txn.Del(Table::kFanout, ReceiptTallyKey(op.msg_id));
        } else {
          txn.Put(Table::kFanout, ReceiptTallyKey(op.msg_id), op.tally.EncodeValue());
        }
        break;
      case LogOpType::kStage:
        ApplyStage(txn, op.log_partition, op.epoch, op.offset, op.part_record,
                   op.part_commit_record);
        break;
      case LogOpType::kUnstage:
        ApplyUnstage(txn, op.log_partition, op.offset);
        break;
      case LogOpType::kTruncatePartition:
        ApplyTruncate(txn, op.log_partition, op.offset);
        break;
      case LogOpType::kPartitionEnd:
        ApplyPartitionEnd(txn, op.log_partition, op.epoch, op.offset);
        break;
      case LogOpType::kDropPartition: {
        if (!partition_of_)
          return Status::StorageError("a partition dropped in a store without partitions");
        const PartitionId p = op.log_partition;
        Result<uint64_t> dropped = DropPartitionRows(
            txn, [&](std::string_view name) { return partition_of_(name) == p; }, p);
        if (!dropped.ok()) return dropped.status();
        ApplyDropPartitionLog(txn, p);
        break;
      }
      case LogOpType::kFence:
        ApplyFence(txn, op.log_partition, op.epoch);
        break;
      case LogOpType::kPutRows:
        if (Status s = PutPartitionRows(txn, op.part_record); !s.ok()) return s;
        break;
      case LogOpType::kRebuiltPartition: {
        Result<std::vector<std::pair<uint64_t, uint64_t>>> epochs = DecodeEpochs(op.part_record);
        if (!epochs.ok()) return epochs.status();
        ApplyRebuiltPartitionLog(txn, op.log_partition, op.epoch, op.offset, *epochs);
        break;
      }
      default:
        return Status::StorageError("log operation " + std::to_string(static_cast<int>(op.type)) +
                                    " in the record applied at commit");
    }
  }
  return reader.status();
}

Status Store::ApplyRecord(KvTxn& txn, const ApplyStep& step) {
  // Read the record's chunks and delete them as we go: the record leaves the
  // log in the same transaction that puts its effects into the index.
  record_.clear();
  {
    std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kLog);
    if (!cursor) return txn.status();
    bool ok = cursor->Seek(LogKey(step.batch_no, 0).view());
    while (ok && LogKeyBatch(cursor->key()) == step.batch_no) {
      record_.append(cursor->value());
      ok = cursor->DeleteAndNext();
    }
  }
  LogReader reader(record_);
  LogOp op;
  while (reader.Next(&op)) {
    switch (op.type) {
      case LogOpType::kCreateQueue: {
        txn.Put(Table::kQueues, op.name, U64Key(op.queue_id).view());
        QueueState state;
        state.created_ms = op.created_ms;
        state.name.assign(op.name);
        txn.Put(Table::kQueueState, U64Key(op.queue_id).view(), state.Encode());
        break;
      }
      case LogOpType::kPublish: {
        QueueDelta& delta = deltas_[op.queue_id];
        delta.last_seq = std::max(delta.last_seq, op.seq);
        if (std::binary_search(step.canceled.begin(), step.canceled.end(),
                               std::make_pair(op.queue_id, op.seq))) {
          break;  // published and acked inside the lag: never indexed
        }
        EntryValue entry;
        entry.msg_id = op.msg_id;
        entry.bytes = static_cast<uint32_t>(op.envelope.size());
        PutEnvelope(txn, op.msg_id, op.envelope, &envelope_tails_);
        txn.Put(Table::kEntries, EntryKey(op.queue_id, op.seq).view(), entry.Encode());
        uint64_t expires_ms = EnvelopeExpiry(op.envelope);
        if (expires_ms != 0) {
          txn.Put(Table::kExpiry, ExpiryKey(expires_ms, op.queue_id, op.seq).view(), {});
        }
        delta.depth += 1;
        delta.bytes += entry.bytes;
        break;
      }
      case LogOpType::kEntry: {
        QueueDelta& delta = deltas_[op.queue_id];
        delta.last_seq = std::max(delta.last_seq, op.seq);
        if (std::binary_search(step.canceled.begin(), step.canceled.end(),
                               std::make_pair(op.queue_id, op.seq))) {
          // Acked inside the lag: its reference on the shared message goes.
          ref_deltas_[op.msg_id] -= 1;
          break;
        }
        EntryValue entry;
        entry.msg_id = op.msg_id;
        entry.bytes = op.bytes;
        txn.Put(Table::kEntries, EntryKey(op.queue_id, op.seq).view(), entry.Encode());
        if (op.expires_ms != 0) {
          txn.Put(Table::kExpiry, ExpiryKey(op.expires_ms, op.queue_id, op.seq).view(), {});
        }
        delta.depth += 1;
        delta.bytes += op.bytes;
        break;
      }
      case LogOpType::kAck:
        // Acks in the log name entries that were only in the log when acked;
        // the apply step of their own record already left them out.
        break;
      case LogOpType::kIndexAck:
      case LogOpType::kDedupExpire:
      case LogOpType::kPurge:
      case LogOpType::kGroupChange:
      case LogOpType::kFanoutStart:
      case LogOpType::kFanoutProgress:
      case LogOpType::kFanoutForward:
      case LogOpType::kFanoutForwarded:
      case LogOpType::kReceiptTally:
      case LogOpType::kPartition:  // LogReader reads the markers itself
      case LogOpType::kStage:
      case LogOpType::kUnstage:
      case LogOpType::kTruncatePartition:
      case LogOpType::kPartitionEnd:
      case LogOpType::kDropPartition:
      case LogOpType::kPutRows:
      case LogOpType::kRebuiltPartition:
      case LogOpType::kFence:
        // Applied by the commit that logged them (never in the log's
        // records; a corrupt record would be the only way here).
        return Status::StorageError("log record " + std::to_string(step.batch_no) +
                                    " holds an operation applied at commit");
      case LogOpType::kDeleteQueue:
        DeleteQueue(txn, op.queue_id, op.name);
        break;
      case LogOpType::kConfigure:
        if (op.settings.empty()) {
          txn.Del(Table::kQueueConfig, U64Key(op.queue_id).view());
        } else {
          txn.Put(Table::kQueueConfig, U64Key(op.queue_id).view(), op.settings);
        }
        break;
      case LogOpType::kDedup: {
        // Ids libhermod made for its resends stay out of the index; see
        // core/dedup_index.h.
        if (IsClientDedupId(op.dedup_id)) break;
        // Kept whether or not the entry was acked meanwhile: the dedup
        // window outlives the message.
        DedupValue value{op.msg_id, op.seq, op.created_ms};
        txn.Put(Table::kDedup, DedupKey(op.queue_id, op.dedup_id), value.Encode());
        break;
      }
      case LogOpType::kDelivered: {
        if (std::binary_search(step.canceled.begin(), step.canceled.end(),
                               std::make_pair(op.queue_id, op.seq))) {
          break;  // acked since: the entry is gone
        }
        std::string_view value;
        EntryKey key(op.queue_id, op.seq);
        EntryValue entry;
        if (txn.Get(Table::kEntries, key.view(), &value) && entry.Decode(value) &&
            entry.delivery_count < op.delivery_count) {
          entry.delivery_count = op.delivery_count;
          txn.Put(Table::kEntries, key.view(), entry.Encode());
        }
        break;
      }
    }
  }
  return reader.status();
}

void Store::FlushRefDeltas(KvTxn& txn) {
  // Messages held by one entry (direct publishes) have no refs record: one
  // removal deletes them. Shared messages (group publishes) count their
  // live entries plus one for an unfinished fan-out job; the changes of a
  // whole transaction are summed first, so no intermediate zero deletes a
  // message that a later change in the same transaction still needs.
  for (auto& [msg_id, delta] : ref_deltas_) {
    if (delta == 0) continue;
    U64Key key(msg_id);
    std::string_view value;
    if (!txn.Get(Table::kRefs, key.view(), &value) || value.size() != 8) {
      if (delta < 0) DeleteEnvelope(txn, msg_id);
      continue;
    }
    int64_t refs = static_cast<int64_t>(DecodeFixed64(value.data())) + delta;
    if (refs <= 0) {
      txn.Del(Table::kRefs, key.view());
      DeleteEnvelope(txn, msg_id);
    } else {
      std::string encoded;
      AppendFixed64(&encoded, static_cast<uint64_t>(refs));
      txn.Put(Table::kRefs, key.view(), encoded);
    }
  }
}

void Store::DeleteQueue(KvTxn& txn, QueueId queue_id, std::string_view name) {
  LeaveGroups(txn, queue_id, name);
  // The name may belong to a newer queue by now.
  std::string_view value;
  if (txn.Get(Table::kQueues, name, &value) && value == U64Key(queue_id).view()) {
    txn.Del(Table::kQueues, name);
  }
  txn.Del(Table::kQueueState, U64Key(queue_id).view());
  txn.Del(Table::kQueueConfig, U64Key(queue_id).view());
  deltas_.erase(queue_id);
}

void Store::WriteQueueDeltas(KvTxn& txn) {
  for (auto& [queue_id, delta] : deltas_) {
    U64Key key(queue_id);
    std::string_view value;
    QueueState state;
    if (!txn.Get(Table::kQueueState, key.view(), &value) || !state.Decode(value)) {
      // Every queue is created in or before the record that first names it,
      // and the broker deletes a queue only after its records are applied;
      // a store that breaks that is reported by `hermod db check`. Skip the
      // counters rather than refuse to start.
      continue;
    }
    state.last_seq = std::max(state.last_seq, delta.last_seq);
    state.depth = static_cast<uint64_t>(static_cast<int64_t>(state.depth) + delta.depth);
    state.bytes = static_cast<uint64_t>(static_cast<int64_t>(state.bytes) + delta.bytes);
    txn.Put(Table::kQueueState, key.view(), state.Encode());
  }
}

uint64_t Store::EnvelopeExpiry(std::string_view envelope) {
  // The envelope starts with publish_ms and expires_ms (envelope.h).
  return envelope.size() >= 16 ? DecodeFixed64(envelope.data() + 8) : 0;
}

Status Store::ReadConfig(KvTxn& txn, QueueInfo* info) {
  std::string_view value;
  if (txn.Get(Table::kQueueConfig, U64Key(info->queue_id).view(), &value)) {
    info->config.assign(value);
  }
  return txn.status();
}

void Store::Purge(KvTxn& txn, PurgeRange* purge) {
  const PurgeRange& range = *purge;
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kEntries);
  if (!cursor) return;
  uint64_t removed = 0;
  uint64_t removed_bytes = 0;
  QueueDelta& delta = deltas_[range.queue_id];
  std::vector<std::pair<uint64_t, Seq>> expiries;
  bool ok = cursor->Seek(EntryKey(range.queue_id, range.from).view());
  while (ok && EntryKeyQueue(cursor->key()) == range.queue_id) {
    Seq seq = EntryKeySeq(cursor->key());
    if (seq >= range.to) break;
    EntryValue entry;
    if (entry.Decode(cursor->value())) {
      std::string envelope;
      Result<bool> found = ReadEnvelope(txn, entry.msg_id, &envelope);
      if (found.ok() && *found) {
        uint64_t expires_ms = EnvelopeExpiry(envelope);
        if (expires_ms != 0) expiries.emplace_back(expires_ms, seq);
      }
      ref_deltas_[entry.msg_id] -= 1;
      delta.depth -= 1;
      delta.bytes -= entry.bytes;
      ++removed;
      removed_bytes += entry.bytes;
    }
    ok = cursor->DeleteAndNext();
  }
  cursor.reset();
  for (auto& [expires_ms, seq] : expiries) {
    txn.Del(Table::kExpiry, ExpiryKey(expires_ms, range.queue_id, seq).view());
  }
  purge->removed = removed;
  purge->removed_bytes = removed_bytes;
}

Status Store::ListQueues(std::string_view prefix, std::string_view after, size_t limit,
                         std::vector<QueueInfo>* out) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kQueues);
  if (!cursor) return (*txn)->status();
  std::string start = std::max(std::string(prefix), std::string(after));
  bool ok = cursor->Seek(start);
  if (ok && !after.empty() && cursor->key() == after) ok = cursor->Next();
  for (size_t n = 0; ok && n < limit && cursor->key().substr(0, prefix.size()) == prefix;
       ok = cursor->Next(), ++n) {
    if (cursor->value().size() != 8) return Status::StorageError("corrupt queue id");
    QueueInfo info;
    info.queue_id = DecodeU64Key(cursor->value());
    std::string_view state;
    if (!(*txn)->Get(Table::kQueueState, U64Key(info.queue_id).view(), &state) ||
        !info.state.Decode(state)) {
      return Status::StorageError("queue " + std::string(cursor->key()) + " has no state record");
    }
    if (Status s = ReadConfig(**txn, &info); !s.ok()) return s;
    out->push_back(std::move(info));
  }
  return (*txn)->status();
}

Status Store::ForEachQueue(const std::function<bool(QueueId, const QueueState&)>& fn,
                           QueueId from) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kQueueState);
  if (!cursor) return (*txn)->status();
  QueueState state;
  for (bool ok = cursor->Seek(U64Key(from).view()); ok; ok = cursor->Next()) {
    if (!state.Decode(cursor->value())) return Status::StorageError("corrupt queue state");
    if (!fn(DecodeU64Key(cursor->key()), state)) break;
  }
  return (*txn)->status();
}

Result<std::optional<QueueInfo>> Store::FindQueue(std::string_view name) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::string_view value;
  if (!(*txn)->Get(Table::kQueues, name, &value)) {
    if (!(*txn)->status().ok()) return (*txn)->status();
    return std::optional<QueueInfo>();
  }
  if (value.size() != 8) return Status::StorageError("corrupt queue id for " + std::string(name));
  QueueInfo info;
  info.queue_id = DecodeU64Key(value);
  if (!(*txn)->Get(Table::kQueueState, U64Key(info.queue_id).view(), &value) ||
      !info.state.Decode(value)) {
    return Status::StorageError("queue " + std::string(name) + " has no state record");
  }
  if (Status s = ReadConfig(**txn, &info); !s.ok()) return s;
  return std::optional<QueueInfo>(std::move(info));
}

Result<PartitionLogState> Store::ReadPartitionLog(PartitionId partition) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  return store::ReadPartitionLog(**txn, partition);
}

Status Store::ReadStaged(PartitionId partition, uint64_t from, uint64_t to,
                         std::vector<StagedPart>* out) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  return store::ReadStaged(**txn, partition, from, to, out);
}

Result<std::vector<PartitionId>> Store::ListPartitionLogs() {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  return store::ListPartitionLogs(**txn);
}

Result<std::optional<QueueInfo>> Store::FindQueueById(QueueId queue_id) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::string_view value;
  QueueInfo info;
  info.queue_id = queue_id;
  if (!(*txn)->Get(Table::kQueueState, U64Key(queue_id).view(), &value)) {
    if (!(*txn)->status().ok()) return (*txn)->status();
    return std::optional<QueueInfo>();
  }
  if (!info.state.Decode(value)) return Status::StorageError("corrupt queue state");
  if (Status s = ReadConfig(**txn, &info); !s.ok()) return s;
  return std::optional<QueueInfo>(std::move(info));
}

Status Store::ReadEntries(QueueId queue_id, Seq from, Seq end, size_t max_entries,
                          std::vector<StoredEntry>* out) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kEntries);
  if (!cursor) return (*txn)->status();
  size_t n = 0;
  for (bool ok = cursor->Seek(EntryKey(queue_id, from).view());
       ok && n < max_entries && EntryKeyQueue(cursor->key()) == queue_id; ok = cursor->Next()) {
    StoredEntry entry;
    entry.seq = EntryKeySeq(cursor->key());
    if (entry.seq >= end) break;
    if (!entry.value.Decode(cursor->value())) return Status::StorageError("corrupt entry");
    Result<bool> found = ReadEnvelope(**txn, entry.value.msg_id, &entry.envelope);
    if (!found.ok()) return found.status();
    if (!*found) {
      return Status::StorageError("entry " + std::to_string(entry.seq) + " of queue " +
                                  std::to_string(queue_id) + " references missing message " +
                                  std::to_string(entry.value.msg_id));
    }
    out->push_back(std::move(entry));
    ++n;
  }
  return (*txn)->status();
}

Result<std::optional<DedupValue>> Store::FindDedup(QueueId queue_id, std::string_view dedup_id) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::string_view value;
  DedupValue dedup;
  if (!(*txn)->Get(Table::kDedup, DedupKey(queue_id, dedup_id), &value)) {
    if (!(*txn)->status().ok()) return (*txn)->status();
    return std::optional<DedupValue>();
  }
  if (!dedup.Decode(value)) return Status::StorageError("corrupt dedup record");
  return std::optional<DedupValue>(dedup);
}

Status Store::ScanExpired(uint64_t now_ms, size_t max, std::vector<ExpiredEntry>* out) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kExpiry);
  if (!cursor) return (*txn)->status();
  for (bool ok = cursor->First(); ok && out->size() < max; ok = cursor->Next()) {
    std::string_view key = cursor->key();
    if (key.size() != kExpiryKeyBytes) return Status::StorageError("corrupt expiry key");
    uint64_t expires_ms = GetBig64(key.data());
    if (expires_ms > now_ms) break;
    out->push_back(ExpiredEntry{expires_ms, GetBig64(key.data() + 8), GetBig64(key.data() + 16)});
  }
  return (*txn)->status();
}

Status Store::ScanDedup(std::string_view from, uint64_t older_than_ms, size_t max_scan,
                        std::vector<std::string>* expired, std::string* next) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kDedup);
  if (!cursor) return (*txn)->status();
  next->clear();
  size_t scanned = 0;
  bool ok = from.empty() ? cursor->First() : cursor->Seek(from);
  for (; ok; ok = cursor->Next()) {
    if (scanned++ == max_scan) {
      next->assign(cursor->key());
      break;
    }
    DedupValue value;
    if (value.Decode(cursor->value()) && value.time_ms < older_than_ms) {
      expired->emplace_back(cursor->key());
    }
  }
  return (*txn)->status();
}

void Store::TEST_FailNextCommit(Status status) {
  std::lock_guard<std::mutex> lock(test_mu_);
  test_fail_next_ = std::move(status);
  test_fail_armed_ = true;
}

}  // namespace hermod::store
