// The Store's groups and fan-out jobs: group changes applied directly in a
// batch's transaction, fan-out starts and progress, and the reads the loop
// needs. See store.h and docs/design.md ("Groups and fan-out").
#include <algorithm>
#include <vector>

#include "store.h"

namespace hermod::store {

void Store::StartFanout(KvTxn& txn, const FanoutStart& start) {
  // The message is stored once, with one reference held by the job until it
  // finishes; each member entry adds one when its chunk is written.
  PutEnvelope(txn, start.msg_id, start.envelope, &envelope_tails_);
  std::string one;
  AppendFixed64(&one, 1);
  txn.Put(Table::kRefs, U64Key(start.msg_id).view(), one);
  FanoutHeader header;
  header.msg_id = start.msg_id;
  header.group_id = start.group_id;
  header.created_ms = start.created_ms;
  header.total = static_cast<uint32_t>(start.members.size());
  txn.Put(Table::kFanout, FanoutKey(start.job_id, false), header.Encode());
  std::string members;
  members.reserve(start.members.size() * 8);
  for (QueueId id : start.members) AppendFixed64(&members, id);
  txn.Put(Table::kFanout, FanoutKey(start.job_id, true), members);
}

void Store::AdvanceFanout(KvTxn& txn, const FanoutProgress& progress) {
  ref_deltas_[progress.msg_id] += static_cast<int64_t>(progress.added) - (progress.done ? 1 : 0);
  std::string key = FanoutKey(progress.job_id, false);
  if (progress.done) {
    txn.Del(Table::kFanout, key);
    txn.Del(Table::kFanout, FanoutKey(progress.job_id, true));
    return;
  }
  std::string_view value;
  FanoutHeader header;
  if (!txn.Get(Table::kFanout, key, &value) || !header.Decode(value)) return;
  header.cursor = progress.cursor;
  txn.Put(Table::kFanout, key, header.Encode());
}

void Store::ApplyGroupChange(KvTxn& txn, const GroupChange& change) {
  std::string_view value;
  GroupInfoValue info;
  bool exists = txn.Get(Table::kGroupInfo, change.group, &value) && info.Decode(value);
  switch (change.kind) {
    case GroupChange::kCreate:
      if (exists) return;
      info = GroupInfoValue{change.group_id, change.created_ms, 0};
      break;
    case GroupChange::kDelete: {
      if (!exists) return;
      // Fan-out jobs carry their own member lists, so deleting the rows
      // cannot take a confirmed message away from anyone.
      std::vector<QueueId> member_ids;
      {
        std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kGroups);
        if (!cursor) return;
        std::string prefix = GroupMemberKey(change.group, "");
        bool ok = cursor->Seek(prefix);
        while (ok && cursor->key().substr(0, prefix.size()) == prefix) {
          if (cursor->value().size() == 8) member_ids.push_back(DecodeU64Key(cursor->value()));
          ok = cursor->DeleteAndNext();
        }
      }
      for (QueueId id : member_ids) txn.Del(Table::kGroups, MemberOfKey(id, change.group));
      txn.Del(Table::kGroupInfo, change.group);
      return;
    }
    case GroupChange::kAdd: {
      if (!exists) return;
      std::string key = GroupMemberKey(change.group, change.member);
      std::string_view old;
      if (txn.Get(Table::kGroups, key, &old)) return;
      txn.Put(Table::kGroups, key, U64Key(change.queue_id).view());
      // A member of another partition (queue id 0) has no queue here.
      if (change.queue_id != 0) {
        txn.Put(Table::kGroups, MemberOfKey(change.queue_id, change.group), {});
      }
      info.members += 1;
      break;
    }
    case GroupChange::kRemove: {
      if (!exists) return;
      std::string key = GroupMemberKey(change.group, change.member);
      std::string_view old;
      if (!txn.Get(Table::kGroups, key, &old)) return;
      if (old.size() == 8) txn.Del(Table::kGroups, MemberOfKey(DecodeU64Key(old), change.group));
      txn.Del(Table::kGroups, key);
      info.members -= 1;
      break;
    }
  }
  txn.Put(Table::kGroupInfo, change.group, info.Encode());
}

void Store::LeaveGroups(KvTxn& txn, QueueId queue_id, std::string_view name) {
  std::vector<std::string> groups;
  {
    std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kGroups);
    if (!cursor) return;
    std::string prefix = MemberOfKey(queue_id, "");
    for (bool ok = cursor->Seek(prefix); ok && cursor->key().substr(0, prefix.size()) == prefix;
         ok = cursor->DeleteAndNext()) {
      groups.emplace_back(cursor->key().substr(prefix.size()));
    }
  }
  for (const std::string& group : groups) {
    // The member row may name a newer queue of the same name by now.
    std::string key = GroupMemberKey(group, name);
    std::string_view value;
    if (!txn.Get(Table::kGroups, key, &value) || value != U64Key(queue_id).view()) continue;
    txn.Del(Table::kGroups, key);
    std::string_view info_value;
    GroupInfoValue info;
    if (txn.Get(Table::kGroupInfo, group, &info_value) && info.Decode(info_value)) {
      info.members -= 1;
      txn.Put(Table::kGroupInfo, group, info.Encode());
    }
  }
}

Status Store::IndexGroupMembership(KvTxn& txn) {
  std::vector<std::pair<QueueId, std::string>> rows;
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kGroups);
  if (!cursor) return txn.status();
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    std::string_view key = cursor->key();
    if (IsMemberOfKey(key) || cursor->value().size() != 8) continue;
    if (DecodeU64Key(cursor->value()) == 0) continue;  // another partition's member
    rows.emplace_back(DecodeU64Key(cursor->value()), std::string(key.substr(0, key.find('\0'))));
  }
  cursor.reset();
  for (auto& [queue_id, group] : rows) txn.Put(Table::kGroups, MemberOfKey(queue_id, group), {});
  return txn.status();
}

Result<std::optional<ReceiptTally>> Store::ReadReceiptTally(MsgId msg_id) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::string_view value;
  if (!(*txn)->Get(Table::kFanout, ReceiptTallyKey(msg_id), &value)) {
    if (!(*txn)->status().ok()) return (*txn)->status();
    return std::optional<ReceiptTally>();
  }
  ReceiptTally tally;
  tally.msg_id = msg_id;
  if (!tally.DecodeValue(value)) {
    return Status::StorageError("corrupt receipt tally of message " + std::to_string(msg_id));
  }
  return std::optional<ReceiptTally>(tally);
}

Status Store::ReadFanoutJobs(std::vector<RecoveredFanout>* out) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kFanout);
  if (!cursor) return (*txn)->status();
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    std::string_view key = cursor->key();
    if (key.size() == 8) {
      RecoveredFanout job;
      job.job_id = GetBig64(key.data());
      if (!job.header.Decode(cursor->value())) return Status::StorageError("corrupt fan-out job");
      out->push_back(std::move(job));
    } else if (key.size() == 9 && key[8] == 'm' && !out->empty() &&
               out->back().job_id == GetBig64(key.data())) {
      std::string_view blob = cursor->value();
      for (size_t i = 0; i + 8 <= blob.size(); i += 8) {
        out->back().members.push_back(DecodeFixed64(blob.data() + i));
      }
    }
  }
  for (RecoveredFanout& job : *out) {
    Result<bool> found = ReadEnvelope(**txn, job.header.msg_id, &job.envelope);
    if (!found.ok()) return found.status();
    if (!*found) {
      return Status::StorageError("fan-out job " + std::to_string(job.job_id) +
                                  " references missing message " +
                                  std::to_string(job.header.msg_id));
    }
  }
  return (*txn)->status();
}

Status Store::ReadFanoutForwards(std::vector<RecoveredForward>* out) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kFanout);
  if (!cursor) return (*txn)->status();
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    std::string_view key = cursor->key();
    if (!IsFanoutForwardKey(key)) continue;
    RecoveredForward forward;
    forward.job_id = GetBig64(key.data());
    forward.to = GetBig32(key.data() + 9);
    forward.chunk = GetBig32(key.data() + 13);
    FanoutForwardValue value;
    if (!value.Decode(cursor->value()) || !DecodeNames(value.names, &forward.names)) {
      return Status::StorageError("corrupt fan-out forward of job " +
                                  std::to_string(forward.job_id));
    }
    forward.msg_id = value.msg_id;
    forward.group_id = value.group_id;
    forward.from = value.from;
    out->push_back(std::move(forward));
  }
  for (RecoveredForward& forward : *out) {
    Result<bool> found = ReadEnvelope(**txn, forward.msg_id, &forward.envelope);
    if (!found.ok()) return found.status();
    if (!*found) {
      return Status::StorageError("fan-out forward of job " + std::to_string(forward.job_id) +
                                  " references missing message " + std::to_string(forward.msg_id));
    }
  }
  return (*txn)->status();
}

Result<std::optional<GroupInfoValue>> Store::FindGroup(std::string_view name) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::string_view value;
  GroupInfoValue info;
  if (!(*txn)->Get(Table::kGroupInfo, name, &value)) {
    if (!(*txn)->status().ok()) return (*txn)->status();
    return std::optional<GroupInfoValue>();
  }
  if (!info.Decode(value)) return Status::StorageError("corrupt group record");
  return std::optional<GroupInfoValue>(info);
}

Status Store::ReadGroupMembers(std::string_view group, std::string_view after, size_t limit,
                               std::vector<std::pair<std::string, QueueId>>* out) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kGroups);
  if (!cursor) return (*txn)->status();
  std::string prefix = GroupMemberKey(group, "");
  std::string start = GroupMemberKey(group, after);
  bool ok = cursor->Seek(start);
  if (ok && !after.empty() && cursor->key() == start) ok = cursor->Next();
  size_t n = 0;
  for (; ok && n < limit && cursor->key().substr(0, prefix.size()) == prefix; ok = cursor->Next()) {
    if (cursor->value().size() != 8) return Status::StorageError("corrupt group member");
    out->emplace_back(std::string(cursor->key().substr(prefix.size())),
                      DecodeU64Key(cursor->value()));
    ++n;
  }
  return (*txn)->status();
}

Status Store::ListGroups(std::string_view prefix, std::string_view after, size_t limit,
                         std::vector<GroupSummary>* out) {
  Result<std::unique_ptr<KvTxn>> txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kGroupInfo);
  if (!cursor) return (*txn)->status();
  std::string start = std::max(std::string(prefix), std::string(after));
  bool ok = cursor->Seek(start);
  if (ok && !after.empty() && cursor->key() == after) ok = cursor->Next();
  size_t n = 0;
  for (; ok && n < limit && cursor->key().substr(0, prefix.size()) == prefix; ok = cursor->Next()) {
    GroupSummary summary;
    summary.name.assign(cursor->key());
    if (!summary.info.Decode(cursor->value())) return Status::StorageError("corrupt group record");
    out->push_back(std::move(summary));
    ++n;
  }
  return (*txn)->status();
}

}  // namespace hermod::store
