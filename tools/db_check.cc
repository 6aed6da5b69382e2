// `hermod db check`: reads the whole store in one read transaction (one
// snapshot, see db_common.h) and lists every broken invariant, as text or
// one JSON object (--json). Exit 0 when consistent, kExitInconsistent (2)
// when not, 1 when it could not run. Main thread only.
//
// The invariants, from store.cc and groups.cc:
// - every index entry names a queue with a queue_state row and a stored
//   message; queue_state's depth and bytes count exactly the queue's index
//   entries (the unapplied log is not counted), and last_seq is at least
//   every indexed seq;
// - a message stored in chunks has all of them and their sizes add up, and
//   every chunk belongs to such a message;
// - a message without a refs row is held by exactly one index entry; a
//   message with one has refs = its index entries + its kEntry operations
//   in unapplied log records + 1 while its fan-out job is unfinished. A
//   kEntry acked before its record is applied still counts: the apply
//   drops it and its reference together. So no stored message is held by
//   nothing;
// - queues and queue_state match one to one (name <-> id); every expiry row
//   names an entry whose message expires then, and every such entry has
//   its row; group_info's member counts match the groups rows; queue_config
//   rows belong to queues; every log record decodes, and applying it would
//   not meet a queue that neither the index nor the log creates;
// - the id counters in meta are above every id in use.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cli.h"
#include "db_common.h"
#include "envelope.h"
#include "json.h"
#include "keys.h"
#include "kv.h"
#include "lmdb_env.h"
#include "log_record.h"
#include "message_table.h"
#include "store.h"

namespace hermod::cli::db {

using store::BatchNo;
using store::KvCursor;
using store::KvTxn;
using store::MsgId;
using store::QueueId;
using store::Seq;
using store::Table;

namespace {

// `hermod db check` found the store inconsistent (1 stays "could not run").
constexpr int kExitInconsistent = 2;

class Checker {
 public:
  explicit Checker(KvTxn& txn) : txn_(txn) {}

  // Reads everything; then problems() lists what is wrong. A failed read
  // is returned (the check is then incomplete).
  Status Run();
  const std::vector<std::string>& problems() const { return problems_; }

  uint64_t queues = 0;
  uint64_t entries = 0;
  uint64_t messages = 0;
  uint64_t log_records = 0;
  uint64_t fanout_jobs = 0;
  uint64_t groups = 0;

 private:
  struct QueueCount {
    uint64_t depth = 0;
    uint64_t bytes = 0;
    Seq max_seq = 0;
  };

  void Problem(std::string text) { problems_.push_back(std::move(text)); }
  uint32_t schema_version_ = 0;
  std::string QueueLabel(QueueId queue_id) const;
  std::string EntryLabel(QueueId queue_id, Seq seq) const;
  void CheckMeta();
  void CheckLog();
  void CheckLogRecord(const LogRecord& record);
  void CheckQueues();
  void ReadExpiryRows();
  void CheckEntries();
  void CheckFanout();
  void CheckMessages();
  void CheckMessageChunks();
  void CheckRefRows();
  void CheckGroups();
  void CheckQueueConfig();
  void CheckIdCounters();
  void NoteMsgId(MsgId id) { max_msg_id_ = std::max(max_msg_id_, id); }
  void NoteQueueId(QueueId id) { max_queue_id_ = std::max(max_queue_id_, id); }

  KvTxn& txn_;
  std::vector<std::string> problems_;
  std::optional<store::IdCounters> ids_;
  std::unordered_map<QueueId, store::QueueState> states_;
  std::unordered_map<QueueId, QueueCount> counted_;
  // Who holds each message: index entries, kEntry operations in the log,
  // unfinished fan-out jobs.
  std::unordered_map<MsgId, uint64_t> index_refs_;
  std::unordered_map<MsgId, uint64_t> log_refs_;
  std::unordered_map<MsgId, uint64_t> job_refs_;
  std::string envelope_;  // CheckMessages' scratch
  // (queue id, seq) -> expiry time of each expiry row; rows that match an
  // entry are erased as the entries are read.
  std::map<std::pair<QueueId, Seq>, uint64_t> expiry_rows_;
  // Queues that the log creates, with the batch that does.
  std::unordered_map<QueueId, BatchNo> log_created_;
  MsgId max_msg_id_ = 0;
  QueueId max_queue_id_ = 0;
  BatchNo max_batch_no_ = 0;
  uint64_t max_job_id_ = 0;
  uint64_t max_group_id_ = 0;
};

std::string Checker::QueueLabel(QueueId queue_id) const {
  auto it = states_.find(queue_id);
  if (it == states_.end()) return "queue id " + std::to_string(queue_id);
  return "queue '" + it->second.name + "' (id " + std::to_string(queue_id) + ")";
}

std::string Checker::EntryLabel(QueueId queue_id, Seq seq) const {
  return "entry seq " + std::to_string(seq) + " of " + QueueLabel(queue_id);
}

Status Checker::Run() {
  CheckMeta();
  CheckQueues();
  CheckLog();
  ReadExpiryRows();
  CheckEntries();
  CheckFanout();
  CheckMessages();
  CheckMessageChunks();
  CheckRefRows();
  CheckGroups();
  CheckQueueConfig();
  CheckIdCounters();
  return txn_.status();
}

void Checker::CheckMeta() {
  Meta meta = ReadMeta(txn_);
  if (!meta.schema_present) {
    Problem("meta has no schema_version");
  } else if (!meta.schema_version) {
    Problem("meta's schema_version is not 4 bytes");
  } else if (*meta.schema_version > store::kSchemaVersion) {
    Problem("schema version " + std::to_string(*meta.schema_version) +
            " is newer than this build reads (" + std::to_string(store::kSchemaVersion) +
            "); its checks may not apply");
  }
  if (!meta.ids_present) {
    Problem("meta has no id counters");
  } else if (!meta.ids) {
    Problem("meta's id counters are not 40 bytes");
  }
  ids_ = meta.ids;
  schema_version_ = meta.schema_version.value_or(0);
}

void Checker::CheckQueues() {
  // queues: name -> id. queue_state: id -> counters and the name. They
  // match one to one.
  std::unordered_map<QueueId, std::string> named;  // from queues
  {
    std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kQueues);
    if (!cursor) return;
    for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
      std::string name(cursor->key());
      if (cursor->value().size() != 8) {
        Problem("queues row '" + name + "' holds a queue id of " +
                std::to_string(cursor->value().size()) + " bytes, not 8");
        continue;
      }
      QueueId queue_id = store::DecodeU64Key(cursor->value());
      NoteQueueId(queue_id);
      auto [it, inserted] = named.emplace(queue_id, name);
      if (!inserted) {
        Problem("queues rows '" + it->second + "' and '" + name + "' both name queue id " +
                std::to_string(queue_id));
      }
    }
  }
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kQueueState);
  if (!cursor) return;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    if (cursor->key().size() != 8) {
      Problem("queue_state has a key of " + std::to_string(cursor->key().size()) + " bytes, not 8");
      continue;
    }
    QueueId queue_id = store::DecodeU64Key(cursor->key());
    NoteQueueId(queue_id);
    store::QueueState state;
    if (!state.Decode(cursor->value())) {
      Problem("queue_state row of queue id " + std::to_string(queue_id) + " is malformed");
      continue;
    }
    ++queues;
    auto it = named.find(queue_id);
    if (it == named.end()) {
      std::string_view value;
      if (txn_.Get(Table::kQueues, state.name, &value) && value.size() == 8) {
        Problem("queue_state row of queue id " + std::to_string(queue_id) + " names '" +
                state.name + "', but queues maps that name to queue id " +
                std::to_string(store::DecodeU64Key(value)));
      } else {
        Problem("queue_state row of queue id " + std::to_string(queue_id) + " ('" + state.name +
                "') has no queues row");
      }
    } else {
      if (it->second != state.name) {
        Problem("queue id " + std::to_string(queue_id) + " is named '" + it->second +
                "' in queues but '" + state.name + "' in queue_state");
      }
      named.erase(it);
    }
    states_.emplace(queue_id, std::move(state));
  }
  for (auto& [queue_id, name] : named) {
    Problem("queues row '" + name + "' (queue id " + std::to_string(queue_id) +
            ") has no queue_state row");
  }
}

void Checker::CheckLog() {
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kLog);
  if (!cursor) return;
  LogRecord record;
  bool have = false;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    std::string_view key = cursor->key();
    if (key.size() != store::kLogKeyBytes) {
      Problem("log has a key of " + std::to_string(key.size()) + " bytes, not 12");
      continue;
    }
    BatchNo batch_no = store::LogKeyBatch(key);
    uint32_t chunk = store::GetBig32(key.data() + 8);
    if (!have || batch_no != record.batch_no) {
      if (have) CheckLogRecord(record);
      record = LogRecord{batch_no, 0, {}};
      have = true;
    }
    if (chunk != record.chunks) {
      Problem("log record " + std::to_string(batch_no) + " has chunk " + std::to_string(chunk) +
              " where chunk " + std::to_string(record.chunks) + " belongs");
    }
    record.bytes.append(cursor->value());
    ++record.chunks;
  }
  if (have) CheckLogRecord(record);
}

void Checker::CheckLogRecord(const LogRecord& record) {
  using store::LogOpType;
  ++log_records;
  max_batch_no_ = std::max(max_batch_no_, record.batch_no);
  std::string where = "log record " + std::to_string(record.batch_no);
  store::LogReader reader(record.bytes);
  store::LogOp op;
  while (reader.Next(&op)) {
    switch (op.type) {
      case LogOpType::kCreateQueue:
        NoteQueueId(op.queue_id);
        log_created_.emplace(op.queue_id, record.batch_no);
        break;
      case LogOpType::kPublish:
      case LogOpType::kEntry: {
        NoteMsgId(op.msg_id);
        // Applying the record adds to the queue's counters: the queue must
        // exist by then (store.cc, WriteQueueDeltas).
        if (states_.count(op.queue_id) == 0 && log_created_.count(op.queue_id) == 0) {
          Problem(where + ": " + LogOpName(op.type) + " seq " + std::to_string(op.seq) +
                  " for queue id " + std::to_string(op.queue_id) +
                  ", which neither the index nor the log creates (applying it would fail)");
        }
        if (op.type == LogOpType::kEntry) {
          ++log_refs_[op.msg_id];
          std::string_view envelope;
          if (!txn_.Get(Table::kMessages, store::U64Key(op.msg_id).view(), &envelope)) {
            Problem(where + ": fan-out entry seq " + std::to_string(op.seq) + " of " +
                    QueueLabel(op.queue_id) + " references message " + std::to_string(op.msg_id) +
                    ", which is not stored");
          }
        }
        break;
      }
      case LogOpType::kAck:
      case LogOpType::kDelivered:
      case LogOpType::kConfigure:
      case LogOpType::kDedup:
      case LogOpType::kDeleteQueue:
      case LogOpType::kIndexAck:     // applied by the commit that logged it
      case LogOpType::kDedupExpire:  // the same
      case LogOpType::kPurge:        // the same
      case LogOpType::kGroupChange:
      case LogOpType::kFanoutStart:
      case LogOpType::kFanoutProgress:
      case LogOpType::kFanoutForward:
      case LogOpType::kFanoutForwarded:
      case LogOpType::kReceiptTally:
      case LogOpType::kPartition:  // read by LogReader itself
      case LogOpType::kStage:      // applied at commit (never in the log)
      case LogOpType::kUnstage:
      case LogOpType::kTruncatePartition:
      case LogOpType::kPartitionEnd:
      case LogOpType::kDropPartition:
      case LogOpType::kPutRows:
      case LogOpType::kRebuiltPartition:
      case LogOpType::kFence:
        break;
    }
  }
  if (!reader.status().ok()) Problem(where + ": " + reader.status().message());
}

void Checker::ReadExpiryRows() {
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kExpiry);
  if (!cursor) return;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    std::string_view key = cursor->key();
    if (key.size() != store::kExpiryKeyBytes) {
      Problem("expiry has a key of " + std::to_string(key.size()) + " bytes, not 24");
      continue;
    }
    uint64_t expires_ms = store::GetBig64(key.data());
    QueueId queue_id = store::GetBig64(key.data() + 8);
    Seq seq = store::GetBig64(key.data() + 16);
    auto [it, inserted] = expiry_rows_.emplace(std::make_pair(queue_id, seq), expires_ms);
    if (!inserted) {
      Problem("two expiry rows (at " + std::to_string(it->second) + " and " +
              std::to_string(expires_ms) + ") for " + EntryLabel(queue_id, seq));
    }
  }
}

void Checker::CheckEntries() {
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kEntries);
  if (!cursor) return;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    if (cursor->key().size() != store::kEntryKeyBytes) {
      Problem("entries has a key of " + std::to_string(cursor->key().size()) + " bytes, not 16");
      continue;
    }
    ++entries;
    QueueId queue_id = store::EntryKeyQueue(cursor->key());
    Seq seq = store::EntryKeySeq(cursor->key());
    store::EntryValue entry;
    if (!entry.Decode(cursor->value())) {
      Problem(EntryLabel(queue_id, seq) + " is malformed");
      continue;
    }
    if (states_.count(queue_id) == 0) {
      Problem(EntryLabel(queue_id, seq) + " belongs to no queue (no queue_state row)");
    }
    QueueCount& count = counted_[queue_id];
    count.depth += 1;
    count.bytes += entry.bytes;
    count.max_seq = std::max(count.max_seq, seq);
    ++index_refs_[entry.msg_id];
    NoteMsgId(entry.msg_id);

    std::string envelope;
    uint64_t expires_ms = 0;
    Result<bool> found = store::ReadEnvelope(txn_, entry.msg_id, &envelope);
    if (found.ok() && *found) {
      expires_ms = store::Store::EnvelopeExpiry(envelope);
    } else if (found.ok()) {
      Problem(EntryLabel(queue_id, seq) + " references message " + std::to_string(entry.msg_id) +
              ", which is not stored");
    }
    auto row = expiry_rows_.find({queue_id, seq});
    if (row != expiry_rows_.end()) {
      if (row->second != expires_ms) {
        Problem("the expiry row of " + EntryLabel(queue_id, seq) + " says " +
                std::to_string(row->second) + ", but its message expires at " +
                std::to_string(expires_ms));
      }
      expiry_rows_.erase(row);
    } else if (expires_ms != 0) {
      Problem(EntryLabel(queue_id, seq) + " expires at " + std::to_string(expires_ms) +
              " but has no expiry row (the sweep would never remove it)");
    }
  }
  for (auto& [key, expires_ms] : expiry_rows_) {
    Problem("the expiry row at " + std::to_string(expires_ms) + " points at " +
            EntryLabel(key.first, key.second) + ", which is not in the index");
  }
  for (auto& [queue_id, state] : states_) {
    QueueCount count;
    if (auto it = counted_.find(queue_id); it != counted_.end()) count = it->second;
    if (state.depth != count.depth) {
      Problem(QueueLabel(queue_id) + ": queue_state says depth " + std::to_string(state.depth) +
              ", the index holds " + std::to_string(count.depth) + " entries");
    }
    if (state.bytes != count.bytes) {
      Problem(QueueLabel(queue_id) + ": queue_state says " + std::to_string(state.bytes) +
              " bytes, its index entries weigh " + std::to_string(count.bytes));
    }
    if (state.last_seq < count.max_seq) {
      Problem(QueueLabel(queue_id) + ": queue_state's last seq " + std::to_string(state.last_seq) +
              " is below indexed seq " + std::to_string(count.max_seq));
    }
  }
}

void Checker::CheckFanout() {
  // A job is a header (job id) and its member list (job id · 'm'); a
  // cluster's forwards to other partitions (job id · 'f' · partition ·
  // chunk) outlive it, each holding a reference on the message.
  std::map<uint64_t, store::FanoutHeader> headers;
  std::map<uint64_t, size_t> member_bytes;
  {
    std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kFanout);
    if (!cursor) return;
    for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
      std::string_view key = cursor->key();
      if (key.size() == 8) {
        uint64_t job_id = store::GetBig64(key.data());
        store::FanoutHeader header;
        if (!header.Decode(cursor->value())) {
          Problem("fan-out job " + std::to_string(job_id) + " has a malformed header");
          continue;
        }
        headers.emplace(job_id, header);
      } else if (key.size() == 9 && key[8] == 'm') {
        member_bytes.emplace(store::GetBig64(key.data()), cursor->value().size());
      } else if (store::IsFanoutForwardKey(key)) {
        store::FanoutForwardValue forward;
        std::vector<std::string> names;
        if (!forward.Decode(cursor->value()) || !store::DecodeNames(forward.names, &names)) {
          Problem("fan-out job " + std::to_string(store::GetBig64(key.data())) +
                  " has a malformed forward");
          continue;
        }
        ++job_refs_[forward.msg_id];
        NoteMsgId(forward.msg_id);
        std::string_view stored;
        if (!txn_.Get(Table::kMessages, store::U64Key(forward.msg_id).view(), &stored)) {
          Problem("a forward of fan-out job " + std::to_string(store::GetBig64(key.data())) +
                  " references message " + std::to_string(forward.msg_id) +
                  ", which is not stored");
        }
      } else if (store::IsReceiptTallyKey(key)) {
        store::ReceiptTally tally;
        if (!tally.DecodeValue(cursor->value()) || tally.remaining == 0) {
          Problem("message " + std::to_string(store::GetBig64(key.data())) +
                  " has a malformed receipt tally");
        }
      } else {
        Problem("fanout has a key of " + std::to_string(key.size()) + " bytes");
      }
    }
  }
  for (auto& [job_id, header] : headers) {
    ++fanout_jobs;
    max_job_id_ = std::max(max_job_id_, job_id);
    max_group_id_ = std::max(max_group_id_, header.group_id);
    NoteMsgId(header.msg_id);
    ++job_refs_[header.msg_id];
    std::string job = "fan-out job " + std::to_string(job_id);
    auto members = member_bytes.find(job_id);
    if (members == member_bytes.end()) {
      Problem(job + " has no member list");
    } else {
      if (members->second != uint64_t{header.total} * 8) {
        Problem(job + " has " + std::to_string(members->second) + " bytes of member ids for " +
                std::to_string(header.total) + " members");
      }
      member_bytes.erase(members);
    }
    if (header.cursor > header.total) {
      Problem(job + " is at member " + std::to_string(header.cursor) + " of " +
              std::to_string(header.total));
    }
    std::string_view value;
    store::U64Key key(header.msg_id);
    if (!txn_.Get(Table::kMessages, key.view(), &value)) {
      Problem(job + " references message " + std::to_string(header.msg_id) +
              ", which is not stored");
    } else if (!txn_.Get(Table::kRefs, key.view(), &value)) {
      Problem(job + "'s message " + std::to_string(header.msg_id) + " has no refs row");
    }
  }
  for (auto& [job_id, bytes] : member_bytes) {
    Problem("fan-out job " + std::to_string(job_id) + " has a member list but no header");
  }
}

void Checker::CheckMessages() {
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kMessages);
  if (!cursor) return;
  auto held = [](const std::unordered_map<MsgId, uint64_t>& refs, MsgId msg_id) -> uint64_t {
    auto it = refs.find(msg_id);
    return it == refs.end() ? 0 : it->second;
  };
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    if (cursor->key().size() != 8) {
      Problem("messages has a key of " + std::to_string(cursor->key().size()) + " bytes, not 8");
      continue;
    }
    ++messages;
    MsgId msg_id = store::DecodeU64Key(cursor->key());
    NoteMsgId(msg_id);
    std::string message = "message " + std::to_string(msg_id);
    store::EnvelopeView envelope;
    Result<bool> read = store::ReadEnvelope(txn_, msg_id, &envelope_);
    if (!read.ok()) {
      Problem(read.status().message());
    } else if (!envelope.Parse(envelope_)) {
      Problem(message + " has a malformed envelope");
    }
    uint64_t in_index = held(index_refs_, msg_id);
    uint64_t in_log = held(log_refs_, msg_id);
    uint64_t in_jobs = held(job_refs_, msg_id);
    uint64_t holders = in_index + in_log + in_jobs;
    auto who = [&] {
      return std::to_string(in_index) + " index entries, " + std::to_string(in_log) +
             " fan-out entries in the unapplied log, " + std::to_string(in_jobs) +
             " unfinished fan-out jobs or forwards";
    };
    std::string_view value;
    if (txn_.Get(Table::kRefs, store::U64Key(msg_id).view(), &value)) {
      if (value.size() != 8) {
        Problem(message + " has a refs row of " + std::to_string(value.size()) + " bytes, not 8");
      } else if (uint64_t refs = store::DecodeFixed64(value.data()); refs != holders) {
        Problem(message + ": refs says " + std::to_string(refs) + ", but " +
                std::to_string(holders) + " hold it (" + who() + ")" +
                (holders == 0 ? "; an orphan" : ""));
      }
    } else if (holders == 0) {
      Problem(message + " is referenced by nothing (an orphan)");
    } else if (in_index != 1 || in_log != 0 || in_jobs != 0) {
      // Only a shared (group) message counts its references; one held by a
      // single entry goes with that entry.
      Problem(message + " has no refs row but " + std::to_string(holders) + " hold it (" + who() +
              ")");
    }
  }
}

void Checker::CheckMessageChunks() {
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kMessageChunks);
  if (!cursor) return;
  MsgId current = 0;
  store::ChunkStub stub;
  bool has_stub = false;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    if (cursor->key().size() != store::kMessageChunkKeyBytes) {
      Problem("message_chunks has a key of " + std::to_string(cursor->key().size()) +
              " bytes, not " + std::to_string(store::kMessageChunkKeyBytes));
      continue;
    }
    MsgId msg_id = store::MessageChunkKeyMsg(cursor->key());
    uint32_t chunk = store::MessageChunkKeyChunk(cursor->key());
    if (msg_id != current || chunk == 0) {
      current = msg_id;
      std::string_view value;
      has_stub =
          txn_.Get(Table::kMessages, store::U64Key(msg_id).view(), &value) && stub.Decode(value);
    }
    if (!has_stub || chunk >= stub.chunks) {
      Problem("chunk " + std::to_string(chunk) + " of message " + std::to_string(msg_id) +
              " belongs to no chunked message (an orphan)");
    }
  }
}

void Checker::CheckRefRows() {
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kRefs);
  if (!cursor) return;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    if (cursor->key().size() != 8) {
      Problem("refs has a key of " + std::to_string(cursor->key().size()) + " bytes, not 8");
      continue;
    }
    std::string_view value;
    if (!txn_.Get(Table::kMessages, cursor->key(), &value)) {
      Problem("refs row of message " + std::to_string(store::DecodeU64Key(cursor->key())) +
              ", which is not stored");
    }
  }
}

void Checker::CheckGroups() {
  std::map<std::string, uint64_t, std::less<>> member_counts;  // group_info's
  {
    std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kGroupInfo);
    if (!cursor) return;
    for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
      std::string name(cursor->key());
      store::GroupInfoValue info;
      if (!info.Decode(cursor->value())) {
        Problem("group '" + name + "' has a malformed group_info row");
        continue;
      }
      ++groups;
      max_group_id_ = std::max(max_group_id_, info.group_id);
      member_counts.emplace(name, info.members);
    }
  }
  std::map<std::string, uint64_t, std::less<>> rows;  // groups rows per group
  // Member rows and member-of rows (schema 2) must name each other.
  std::set<std::pair<QueueId, std::string>> members, member_of;
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kGroups);
  if (!cursor) return;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    std::string_view key = cursor->key();
    if (store::IsMemberOfKey(key)) {
      if (key.size() <= store::kMemberOfPrefixBytes) {
        Problem("groups has a member-of key of " + std::to_string(key.size()) + " bytes");
        continue;
      }
      member_of.emplace(store::DecodeU64Key(key.substr(1)),
                        std::string(key.substr(store::kMemberOfPrefixBytes)));
      continue;
    }
    size_t zero = key.find('\0');
    if (zero == std::string_view::npos) {
      Problem("groups has a key without a zero byte");
      continue;
    }
    std::string group(key.substr(0, zero));
    if (cursor->value().size() != 8) {
      Problem("member '" + std::string(key.substr(zero + 1)) + "' of group '" + group +
              "' holds a queue id of " + std::to_string(cursor->value().size()) + " bytes");
    } else {
      members.emplace(store::DecodeU64Key(cursor->value()), group);
    }
    ++rows[group];
  }
  if (schema_version_ >= 2) {
    for (const auto& [queue_id, group] : members) {
      if (member_of.count({queue_id, group}) == 0) {
        Problem("queue id " + std::to_string(queue_id) + " is a member of group '" + group +
                "' without a member-of row");
      }
    }
    for (const auto& [queue_id, group] : member_of) {
      if (members.count({queue_id, group}) == 0) {
        Problem("member-of row says queue id " + std::to_string(queue_id) + " belongs to group '" +
                group + "', which has no such member");
      }
    }
  }
  for (auto& [group, count] : rows) {
    auto it = member_counts.find(group);
    if (it == member_counts.end()) {
      Problem("group '" + group + "' has " + std::to_string(count) +
              " member rows but no group_info row");
    }
  }
  for (auto& [group, members] : member_counts) {
    auto it = rows.find(group);
    uint64_t count = it == rows.end() ? 0 : it->second;
    if (count != members) {
      Problem("group '" + group + "': group_info says " + std::to_string(members) +
              " members, groups holds " + std::to_string(count));
    }
  }
}

void Checker::CheckQueueConfig() {
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kQueueConfig);
  if (!cursor) return;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    if (cursor->key().size() != 8) {
      Problem("queue_config has a key of " + std::to_string(cursor->key().size()) + " bytes");
      continue;
    }
    QueueId queue_id = store::DecodeU64Key(cursor->key());
    if (states_.count(queue_id) == 0) {
      Problem("queue_config row of queue id " + std::to_string(queue_id) +
              ", which is not in queue_state");
    }
  }
}

void Checker::CheckIdCounters() {
  if (!ids_) return;
  auto check = [&](const char* what, uint64_t max_used, uint64_t next) {
    if (max_used >= next) {
      Problem(std::string("the next ") + what + " id in meta is " + std::to_string(next) +
              ", but " + std::to_string(max_used) + " is in use");
    }
  };
  check("message", max_msg_id_, ids_->next_msg_id);
  check("queue", max_queue_id_, ids_->next_queue_id);
  check("batch", max_batch_no_, ids_->next_batch_no);
  check("job", max_job_id_, ids_->next_job_id);
  check("group", max_group_id_, ids_->next_group_id);
}

}  // namespace

int DbCheck(const DbOptions& options) {
  Result<std::unique_ptr<store::LmdbEnv>> env = OpenReadOnly(options.data_dir);
  if (!env.ok()) return Fail(env.status().message());
  // One snapshot: see db_common.h.
  Result<std::unique_ptr<KvTxn>> txn = (*env)->BeginRead();
  if (!txn.ok()) return Fail(txn.status().message());
  Checker checker(**txn);
  Status s = checker.Run();
  txn->reset();
  if (!s.ok()) return Fail("cannot check " + options.data_dir + ": " + s.message());

  const std::vector<std::string>& problems = checker.problems();
  std::string out;
  if (options.json) {
    JsonFields f(&out);
    f.Str("data_dir", options.data_dir);
    f.Bool("ok", problems.empty());
    f.json()["problems"] = problems;
    f.Num("queues", checker.queues);
    f.Num("entries", checker.entries);
    f.Num("messages", checker.messages);
    f.Num("log_records", checker.log_records);
    f.Num("fanout_jobs", checker.fanout_jobs);
    f.Num("groups", checker.groups);
    f.Done();
  } else {
    for (const std::string& problem : problems) out += "problem: " + problem + "\n";
    out += (problems.empty() ? std::string("consistent: ")
                             : Count(problems.size(), "problem", "problems") + " in ") +
           Count(checker.queues, "queue", "queues") + ", " +
           Count(checker.entries, "entry", "entries") + ", " +
           Count(checker.messages, "message", "messages") + ", " +
           Count(checker.log_records, "unapplied log record", "unapplied log records") + ", " +
           Count(checker.fanout_jobs, "fan-out job", "fan-out jobs") + ", " +
           Count(checker.groups, "group", "groups") + "\n";
  }
  if (!WriteOut(out)) return Fail("cannot write to stdout");
  if (problems.empty()) return kExitOk;
  Fail(options.data_dir + " is inconsistent: " + Count(problems.size(), "problem", "problems") +
       " (listed on stdout)");
  return kExitInconsistent;
}

}  // namespace hermod::cli::db
