#include "partition_rows.h"

#include <algorithm>

#include "log_record.h"

namespace hermod::store {
namespace {

bool SnapshotTable(Table table) {
  switch (table) {
    case Table::kMessages:
    case Table::kRefs:
    case Table::kEntries:
    case Table::kQueues:
    case Table::kQueueState:
    case Table::kGroups:
    case Table::kFanout:
    case Table::kDedup:
    case Table::kQueueConfig:
    case Table::kExpiry:
    case Table::kGroupInfo:
    case Table::kMessageChunks:
      return true;
    case Table::kMeta:
    case Table::kLog:
    case Table::kPartitionLog:
    case Table::kStaged:
      return false;
  }
  return false;
}

// The target a dedup row names: the last 8 bytes of its key (keys.h).
uint64_t DedupTarget(std::string_view key) {
  return key.size() >= 9 ? GetBig64(key.data() + key.size() - 8) : 0;
}

}  // namespace

void AppendRow(std::string* out, Table table, std::string_view key, std::string_view value) {
  out->push_back(static_cast<char>(table));
  AppendFixed32(out, static_cast<uint32_t>(key.size()));
  out->append(key);
  AppendFixed32(out, static_cast<uint32_t>(value.size()));
  out->append(value);
}

Status ForEachRow(std::string_view rows,
                  const std::function<void(Table, std::string_view, std::string_view)>& fn) {
  while (!rows.empty()) {
    if (rows.size() < 5) return Status(ErrorCode::kCorruption, "short snapshot row");
    auto table = static_cast<uint8_t>(rows[0]);
    if (table >= kTableCount || !SnapshotTable(static_cast<Table>(table))) {
      return Status(ErrorCode::kCorruption, "snapshot row of table " + std::to_string(table));
    }
    uint64_t key_len = DecodeFixed32(rows.data() + 1);
    if (rows.size() < 9 + key_len) return Status(ErrorCode::kCorruption, "short snapshot row key");
    std::string_view key = rows.substr(5, key_len);
    uint64_t value_len = DecodeFixed32(rows.data() + 5 + key_len);
    if (rows.size() < 9 + key_len + value_len) {
      return Status(ErrorCode::kCorruption, "short snapshot row value");
    }
    std::string_view value = rows.substr(9 + key_len, value_len);
    fn(static_cast<Table>(table), key, value);
    rows.remove_prefix(9 + key_len + value_len);
  }
  return Status::OK();
}

void PartitionScan::Emit(std::string* out, Table table, std::string_view key,
                         std::string_view value) {
  AppendRow(out, table, key, value);
  ++rows_;
}

Status PartitionScan::Fail() {
  return txn_->status().ok() ? Status::StorageError("cannot open a cursor") : txn_->status();
}

Status PartitionScan::Next(size_t max_bytes, std::string* out, bool* done) {
  *done = false;
  // Each phase opens its cursor when it starts (cursor_ null) and leaves
  // it null when it ends.
  auto full = [&] { return out->size() >= max_bytes; };
  auto start = [&](Table table) {
    if (cursor_) return true;
    cursor_ = txn_->Cursor(table);
    if (!cursor_) return false;
    positioned_ = cursor_->First();  // false: an empty table
    return true;
  };
  auto end_phase = [&](Phase next) {
    cursor_.reset();
    positioned_ = false;
    phase_ = next;
  };
  while (!full()) {
    switch (phase_) {
      case Phase::kQueues:
        if (!start(Table::kQueues)) return Fail();
        for (; positioned_ && !full(); positioned_ = cursor_->Next()) {
          std::string_view name = cursor_->key();
          if (!in_partition_(name) || cursor_->value().size() != 8) continue;
          QueueId id = DecodeU64Key(cursor_->value());
          queue_ids_.insert(id);
          queue_order_.push_back(id);
          Emit(out, Table::kQueues, name, cursor_->value());
        }
        if (!positioned_) {
          std::sort(queue_order_.begin(), queue_order_.end());
          end_phase(Phase::kQueueRows);
        }
        break;
      case Phase::kQueueRows:
        while (next_queue_ < queue_order_.size() && !full()) {
          const QueueId id = queue_order_[next_queue_];
          if (!in_entries_) {
            std::string_view v;
            if (txn_->Get(Table::kQueueState, U64Key(id).view(), &v)) {
              Emit(out, Table::kQueueState, U64Key(id).view(), v);
            }
            if (txn_->Get(Table::kQueueConfig, U64Key(id).view(), &v)) {
              Emit(out, Table::kQueueConfig, U64Key(id).view(), v);
            }
            cursor_ = txn_->Cursor(Table::kEntries);
            if (!cursor_) return Fail();
            positioned_ = cursor_->Seek(EntryKey(id, 0).view());
            in_entries_ = true;
          }
          for (; positioned_ && !full(); positioned_ = cursor_->Next()) {
            if (EntryKeyQueue(cursor_->key()) != id) {
              positioned_ = false;
              break;
            }
            EntryValue entry;
            if (entry.Decode(cursor_->value())) messages_.insert(entry.msg_id);
            Emit(out, Table::kEntries, cursor_->key(), cursor_->value());
          }
          if (!positioned_) {
            in_entries_ = false;
            cursor_.reset();
            ++next_queue_;
          }
        }
        if (next_queue_ == queue_order_.size()) end_phase(Phase::kExpiry);
        break;
      case Phase::kExpiry:
        if (!start(Table::kExpiry)) return Fail();
        for (; positioned_ && !full(); positioned_ = cursor_->Next()) {
          std::string_view key = cursor_->key();
          if (key.size() == kExpiryKeyBytes && queue_ids_.contains(GetBig64(key.data() + 8))) {
            Emit(out, Table::kExpiry, key, cursor_->value());
          }
        }
        if (!positioned_) end_phase(Phase::kGroupInfo);
        break;
      case Phase::kGroupInfo:
        if (!start(Table::kGroupInfo)) return Fail();
        for (; positioned_ && !full(); positioned_ = cursor_->Next()) {
          if (!in_partition_(cursor_->key())) continue;
          GroupInfoValue info;
          if (info.Decode(cursor_->value())) group_ids_.insert(info.group_id);
          Emit(out, Table::kGroupInfo, cursor_->key(), cursor_->value());
        }
        if (!positioned_) end_phase(Phase::kGroups);
        break;
      case Phase::kGroups:
        if (!start(Table::kGroups)) return Fail();
        for (; positioned_ && !full(); positioned_ = cursor_->Next()) {
          std::string_view key = cursor_->key();
          bool ours;
          if (IsMemberOfKey(key)) {
            ours =
                key.size() > kMemberOfPrefixBytes && queue_ids_.contains(GetBig64(key.data() + 1));
          } else {
            ours = in_partition_(key.substr(0, key.find('\0')));
          }
          if (ours) Emit(out, Table::kGroups, key, cursor_->value());
        }
        if (!positioned_) end_phase(Phase::kDedup);
        break;
      case Phase::kDedup:
        if (!start(Table::kDedup)) return Fail();
        for (; positioned_ && !full(); positioned_ = cursor_->Next()) {
          uint64_t target = DedupTarget(cursor_->key());
          bool ours =
              target == ForwardDedupTarget(partition_) ||
              ((target & kGroupDedupBit) != 0 ? group_ids_.contains(target & ~kGroupDedupBit)
                                              : queue_ids_.contains(target));
          if (ours) Emit(out, Table::kDedup, cursor_->key(), cursor_->value());
        }
        if (!positioned_) end_phase(Phase::kFanout);
        break;
      case Phase::kFanout:
        if (!start(Table::kFanout)) return Fail();
        // A job's header (job id) sorts right before its members (job id · 'm').
        for (; positioned_ && !full(); positioned_ = cursor_->Next()) {
          std::string_view key = cursor_->key();
          if (key.size() < 8) continue;
          uint64_t job_id = GetBig64(key.data());
          if (key.size() == 8) {
            FanoutHeader header;
            if (!header.Decode(cursor_->value()) || !group_ids_.contains(header.group_id)) {
              continue;
            }
            job_ids_.insert(job_id);
            messages_.insert(header.msg_id);
          } else if (IsFanoutForwardKey(key)) {
            // A forward can outlive its job and its group: it goes by the
            // partition whose log holds it.
            FanoutForwardValue forward;
            if (!forward.Decode(cursor_->value()) || forward.from != partition_) {
              continue;
            }
            messages_.insert(forward.msg_id);
          } else if (IsReceiptTallyKey(key)) {
            ReceiptTally tally;
            if (!tally.DecodeValue(cursor_->value()) || tally.from != partition_) continue;
          } else if (!job_ids_.contains(job_id)) {
            continue;
          }
          Emit(out, Table::kFanout, key, cursor_->value());
        }
        if (!positioned_) {
          end_phase(Phase::kMessages);
          next_message_ = messages_.begin();
        }
        break;
      case Phase::kMessages:
        while (next_message_ != messages_.end() && !full()) {
          const MsgId id = *next_message_;
          if (!in_entries_) {
            std::string_view v;
            if (txn_->Get(Table::kMessages, U64Key(id).view(), &v)) {
              Emit(out, Table::kMessages, U64Key(id).view(), v);
            }
            if (txn_->Get(Table::kRefs, U64Key(id).view(), &v)) {
              Emit(out, Table::kRefs, U64Key(id).view(), v);
            }
            cursor_ = txn_->Cursor(Table::kMessageChunks);
            if (!cursor_) return Fail();
            positioned_ = cursor_->Seek(MessageChunkKey(id, 0).view());
            in_entries_ = true;
          }
          for (; positioned_ && !full(); positioned_ = cursor_->Next()) {
            if (cursor_->key().size() != kMessageChunkKeyBytes ||
                MessageChunkKeyMsg(cursor_->key()) != id) {
              positioned_ = false;
              break;
            }
            Emit(out, Table::kMessageChunks, cursor_->key(), cursor_->value());
          }
          if (!positioned_) {
            in_entries_ = false;
            cursor_.reset();
            ++next_message_;
          }
        }
        if (next_message_ == messages_.end()) end_phase(Phase::kDone);
        break;
      case Phase::kDone:
        *done = true;
        return txn_->status();
    }
    if (!txn_->status().ok()) return txn_->status();
  }
  return txn_->status();
}

Result<std::unique_ptr<PartitionSnapshot>> PartitionSnapshot::Begin(KvEnv* env,
                                                                    PartitionId partition,
                                                                    NameFilter in_partition) {
  Result<std::unique_ptr<KvTxn>> txn = env->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<PartitionSnapshot> snapshot(new PartitionSnapshot());
  snapshot->txn_ = std::move(*txn);
  snapshot->partition_ = partition;
  Result<PartitionLogState> log = ReadPartitionLog(*snapshot->txn_, partition);
  if (!log.ok()) return log.status();
  snapshot->log_ = std::move(*log);
  snapshot->scan_ =
      std::make_unique<PartitionScan>(snapshot->txn_.get(), std::move(in_partition), partition);
  if (Status s = snapshot->ReadLogTail(); !s.ok()) return s;
  return snapshot;
}

Status PartitionSnapshot::ReadLogTail() {
  std::vector<std::string>& out = tail_;
  std::unique_ptr<KvCursor> cursor = txn_->Cursor(Table::kLog);
  if (!cursor) return txn_->status();
  std::string record;
  BatchNo batch = 0;
  auto finish = [&]() -> Status {
    if (record.empty()) return Status::OK();
    Result<std::vector<PartitionRecord>> split = SplitByPartition(record);
    if (!split.ok()) return split.status();
    for (PartitionRecord& r : *split) {
      if (r.partition != partition_) continue;
      // A fan-out entry's message is stored on its own, in the index.
      LogReader reader(r.record, partition_);
      LogOp op;
      while (reader.Next(&op)) {
        if (op.type == LogOpType::kEntry) scan_->AddMessage(op.msg_id);
      }
      if (!reader.status().ok()) return reader.status();
      out.push_back(std::move(r.record));
    }
    record.clear();
    return Status::OK();
  };
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    if (cursor->key().size() != kLogKeyBytes) continue;
    BatchNo b = LogKeyBatch(cursor->key());
    if (b != batch) {
      if (Status s = finish(); !s.ok()) return s;
      batch = b;
    }
    record.append(cursor->value());
  }
  if (Status s = finish(); !s.ok()) return s;
  return txn_->status();
}

Status CollectPartitionTargets(KvTxn& txn, const NameFilter& in_partition, PartitionId partition,
                               std::unordered_set<uint64_t>* targets) {
  std::unique_ptr<KvCursor> queues = txn.Cursor(Table::kQueues);
  if (!queues) return txn.status();
  for (bool ok = queues->First(); ok; ok = queues->Next()) {
    if (queues->value().size() == 8 && in_partition(queues->key())) {
      targets->insert(DecodeU64Key(queues->value()));
    }
  }
  std::unique_ptr<KvCursor> groups = txn.Cursor(Table::kGroupInfo);
  if (!groups) return txn.status();
  for (bool ok = groups->First(); ok; ok = groups->Next()) {
    GroupInfoValue info;
    if (in_partition(groups->key()) && info.Decode(groups->value())) {
      targets->insert(info.group_id | kGroupDedupBit);
    }
  }
  targets->insert(ForwardDedupTarget(partition));
  return txn.status();
}

Result<uint64_t> DropPartitionRows(KvTxn& txn, const NameFilter& in_partition,
                                   PartitionId partition) {
  // Scan first, delete after: no cursor of the scan sees its own deletes.
  std::vector<std::pair<Table, std::string>> keys;
  {
    PartitionScan scan(&txn, in_partition, partition);
    std::string rows;
    bool done = false;
    while (!done) {
      rows.clear();
      if (Status s = scan.Next(4 << 20, &rows, &done); !s.ok()) return s;
      Status s = ForEachRow(rows, [&](Table table, std::string_view key, std::string_view) {
        keys.emplace_back(table, std::string(key));
      });
      if (!s.ok()) return s;
    }
  }
  for (const auto& [table, key] : keys) txn.Del(table, key);
  if (!txn.status().ok()) return txn.status();
  return static_cast<uint64_t>(keys.size());
}

Status PutPartitionRows(KvTxn& txn, std::string_view rows) {
  Status s = ForEachRow(rows, [&](Table table, std::string_view key, std::string_view value) {
    txn.Put(table, key, value);
  });
  if (!s.ok()) return s;
  return txn.status();
}

std::string EncodeEpochs(const std::vector<std::pair<uint64_t, uint64_t>>& epochs) {
  std::string out;
  for (const auto& [epoch, first] : epochs) {
    AppendFixed64(&out, epoch);
    AppendFixed64(&out, first);
  }
  return out;
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> DecodeEpochs(std::string_view encoded) {
  if (encoded.size() % 16 != 0)
    return Status(ErrorCode::kCorruption, "epochs of a rebuild do not read");
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (size_t i = 0; i < encoded.size(); i += 16) {
    out.emplace_back(DecodeFixed64(encoded.data() + i), DecodeFixed64(encoded.data() + i + 8));
  }
  return out;
}

}  // namespace hermod::store
