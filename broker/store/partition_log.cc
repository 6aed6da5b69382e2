#include "partition_log.h"

#include <algorithm>
#include <memory>

namespace hermod::store {
namespace {

std::string StateKey(PartitionId partition) {
  std::string key(5, '\0');
  key[0] = 'S';
  PutBig32(key.data() + 1, partition);
  return key;
}

std::string EpochKey(PartitionId partition, uint64_t epoch) {
  std::string key(13, '\0');
  key[0] = 'E';
  PutBig32(key.data() + 1, partition);
  PutBig64(key.data() + 5, epoch);
  return key;
}

std::string FenceKey(PartitionId partition) {
  std::string key(5, '\0');
  key[0] = 'F';
  PutBig32(key.data() + 1, partition);
  return key;
}

std::string RebuildKey(PartitionId partition) {
  std::string key(5, '\0');
  key[0] = 'R';
  PutBig32(key.data() + 1, partition);
  return key;
}

std::string StagedKey(PartitionId partition, uint64_t offset, uint32_t slice) {
  std::string key(16, '\0');
  PutBig32(key.data(), partition);
  PutBig64(key.data() + 4, offset);
  PutBig32(key.data() + 12, slice);
  return key;
}
constexpr size_t kStagedKeyBytes = 16;

// The state row: epoch, end offset, unstaged-through (24 bytes).
bool ReadState(KvTxn& txn, PartitionId partition, PartitionLogState* state) {
  std::string_view v;
  if (!txn.Get(Table::kPartitionLog, StateKey(partition), &v) || v.size() != 24) return false;
  state->epoch = DecodeFixed64(v.data());
  state->end_offset = DecodeFixed64(v.data() + 8);
  state->unstaged_through = DecodeFixed64(v.data() + 16);
  return true;
}

void WriteState(KvTxn& txn, PartitionId partition, const PartitionLogState& state) {
  std::string v;
  AppendFixed64(&v, state.epoch);
  AppendFixed64(&v, state.end_offset);
  AppendFixed64(&v, state.unstaged_through);
  txn.Put(Table::kPartitionLog, StateKey(partition), v);
}

// A newer epoch starts at `first`.
void NoteEpoch(KvTxn& txn, PartitionId partition, PartitionLogState* state, uint64_t epoch,
               uint64_t first) {
  if (epoch <= state->epoch) return;
  std::string v;
  AppendFixed64(&v, first);
  txn.Put(Table::kPartitionLog, EpochKey(partition, epoch), v);
  state->epoch = epoch;
}

// Deletes the staged slices of `partition` with from <= offset <= to.
void DeleteStaged(KvTxn& txn, PartitionId partition, uint64_t from, uint64_t to) {
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kStaged);
  if (!cursor) return;
  bool ok = cursor->Seek(StagedKey(partition, from, 0));
  while (ok && cursor->key().size() == kStagedKeyBytes &&
         GetBig32(cursor->key().data()) == partition && GetBig64(cursor->key().data() + 4) <= to) {
    ok = cursor->DeleteAndNext();
  }
}

}  // namespace

uint64_t PartitionLogState::EndOfEpoch(uint64_t epoch) const {
  for (const auto& [e, first] : epochs) {
    if (e > epoch) return first - 1;
  }
  return end_offset;
}

void ApplyStage(KvTxn& txn, PartitionId partition, uint64_t epoch, uint64_t offset,
                std::string_view record, std::string_view commit_record) {
  PartitionLogState state;
  ReadState(txn, partition, &state);
  NoteEpoch(txn, partition, &state, epoch, offset);
  state.end_offset = offset;
  WriteState(txn, partition, state);
  // Header (epoch, record length, commit record length), then the bytes.
  std::string value;
  value.reserve(16 + record.size() + commit_record.size());
  AppendFixed64(&value, epoch);
  AppendFixed32(&value, static_cast<uint32_t>(record.size()));
  AppendFixed32(&value, static_cast<uint32_t>(commit_record.size()));
  value.append(record);
  value.append(commit_record);
  std::string_view rest = value;
  for (uint32_t slice = 0; slice == 0 || !rest.empty(); ++slice) {
    std::string_view piece = rest.substr(0, kStagedSliceBytes);
    txn.Put(Table::kStaged, StagedKey(partition, offset, slice), piece);
    rest.remove_prefix(piece.size());
  }
}

void ApplyUnstage(KvTxn& txn, PartitionId partition, uint64_t through) {
  PartitionLogState state;
  ReadState(txn, partition, &state);
  DeleteStaged(txn, partition, 0, through);
  state.unstaged_through = std::max(state.unstaged_through, through);
  WriteState(txn, partition, state);
}

void ApplyTruncate(KvTxn& txn, PartitionId partition, uint64_t to) {
  Result<PartitionLogState> read = ReadPartitionLog(txn, partition);
  if (!read.ok()) return;  // the commit reports the transaction's error
  PartitionLogState& state = *read;
  DeleteStaged(txn, partition, to + 1, UINT64_MAX);
  // Epochs that start past the new end are gone with their offsets.
  uint64_t epoch = 0;
  for (const auto& [e, first] : state.epochs) {
    if (first > to) {
      txn.Del(Table::kPartitionLog, EpochKey(partition, e));
    } else {
      epoch = e;
    }
  }
  state.epoch = epoch;
  state.end_offset = std::min(state.end_offset, to);
  WriteState(txn, partition, state);
}

void ApplyPartitionEnd(KvTxn& txn, PartitionId partition, uint64_t epoch, uint64_t end_offset) {
  PartitionLogState state;
  ReadState(txn, partition, &state);
  NoteEpoch(txn, partition, &state, epoch, state.end_offset + 1);
  state.end_offset = std::max(state.end_offset, end_offset);
  // A leader's log is its state: nothing of it is staged.
  state.unstaged_through = state.end_offset;
  WriteState(txn, partition, state);
}

void ApplyDropPartitionLog(KvTxn& txn, PartitionId partition) {
  Result<PartitionLogState> read = ReadPartitionLog(txn, partition);
  if (!read.ok()) return;  // the commit reports the transaction's error
  for (const auto& [e, first] : read->epochs) txn.Del(Table::kPartitionLog, EpochKey(partition, e));
  DeleteStaged(txn, partition, 0, UINT64_MAX);
  WriteState(txn, partition, PartitionLogState());
  txn.Put(Table::kPartitionLog, RebuildKey(partition), {});
}

void ApplyFence(KvTxn& txn, PartitionId partition, uint64_t epoch) {
  std::string_view v;
  if (txn.Get(Table::kPartitionLog, FenceKey(partition), &v) && v.size() == 8 &&
      DecodeFixed64(v.data()) >= epoch) {
    return;
  }
  std::string value;
  AppendFixed64(&value, epoch);
  txn.Put(Table::kPartitionLog, FenceKey(partition), value);
}

void ApplyRebuiltPartitionLog(KvTxn& txn, PartitionId partition, uint64_t epoch,
                              uint64_t end_offset,
                              const std::vector<std::pair<uint64_t, uint64_t>>& epochs) {
  PartitionLogState state;
  for (const auto& [e, first] : epochs) {
    std::string v;
    AppendFixed64(&v, first);
    txn.Put(Table::kPartitionLog, EpochKey(partition, e), v);
    state.epoch = std::max(state.epoch, e);
  }
  state.epoch = std::max(state.epoch, epoch);
  state.end_offset = end_offset;
  state.unstaged_through = end_offset;
  WriteState(txn, partition, state);
  txn.Del(Table::kPartitionLog, RebuildKey(partition));
}

Result<PartitionLogState> ReadPartitionLog(KvTxn& txn, PartitionId partition) {
  PartitionLogState state;
  ReadState(txn, partition, &state);
  std::string_view marker;
  state.rebuilding = txn.Get(Table::kPartitionLog, RebuildKey(partition), &marker);
  std::string_view fence;
  if (txn.Get(Table::kPartitionLog, FenceKey(partition), &fence) && fence.size() == 8) {
    state.fence_epoch = DecodeFixed64(fence.data());
  }
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kPartitionLog);
  if (!cursor) return txn.status();
  std::string prefix = EpochKey(partition, 0).substr(0, 5);
  for (bool ok = cursor->Seek(prefix); ok && cursor->key().starts_with(prefix);
       ok = cursor->Next()) {
    if (cursor->key().size() != 13 || cursor->value().size() != 8) {
      return Status::StorageError("corrupt partition_log epoch row");
    }
    state.epochs.emplace_back(GetBig64(cursor->key().data() + 5),
                              DecodeFixed64(cursor->value().data()));
  }
  if (!txn.status().ok()) return txn.status();
  return state;
}

Status ReadStaged(KvTxn& txn, PartitionId partition, uint64_t from, uint64_t to,
                  std::vector<StagedPart>* out) {
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kStaged);
  if (!cursor) return txn.status();
  std::string value;
  uint64_t current = 0;
  auto finish = [&]() -> Status {
    if (value.size() < 16) return Status::StorageError("corrupt staged part");
    uint32_t record_len = DecodeFixed32(value.data() + 8);
    uint32_t commit_len = DecodeFixed32(value.data() + 12);
    if (value.size() != 16ull + record_len + commit_len) {
      return Status::StorageError("corrupt staged part of offset " + std::to_string(current));
    }
    StagedPart part;
    part.offset = current;
    part.epoch = DecodeFixed64(value.data());
    part.record = value.substr(16, record_len);
    part.commit_record = value.substr(16 + record_len);
    out->push_back(std::move(part));
    value.clear();
    return Status::OK();
  };
  for (bool ok = cursor->Seek(StagedKey(partition, from, 0));
       ok && cursor->key().size() == kStagedKeyBytes &&
       GetBig32(cursor->key().data()) == partition && GetBig64(cursor->key().data() + 4) <= to;
       ok = cursor->Next()) {
    uint64_t offset = GetBig64(cursor->key().data() + 4);
    if (offset != current && !value.empty()) {
      if (Status s = finish(); !s.ok()) return s;
    }
    current = offset;
    value.append(cursor->value());
  }
  if (!txn.status().ok()) return txn.status();
  if (!value.empty()) return finish();
  return Status::OK();
}

Result<std::vector<PartitionId>> ListPartitionLogs(KvTxn& txn) {
  std::vector<PartitionId> out;
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kPartitionLog);
  if (!cursor) return txn.status();
  for (bool ok = cursor->Seek("S"); ok && cursor->key().starts_with("S"); ok = cursor->Next()) {
    if (cursor->key().size() == 5) out.push_back(GetBig32(cursor->key().data() + 1));
  }
  if (!txn.status().ok()) return txn.status();
  return out;
}

}  // namespace hermod::store
