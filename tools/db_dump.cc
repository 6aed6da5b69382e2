// `hermod db dump`: every queue with its index entries and their messages,
// then the log records not yet applied, operation by operation, then the
// unfinished fan-out jobs; as text for people or one JSON object per line
// (--json). --queue limits it to one queue, found in the index or, when
// created since the last apply, in the log. The Dumper reads a page of rows
// per read transaction (see db_common.h). Main thread only.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cli.h"
#include "db_common.h"
#include "json.h"
#include "keys.h"
#include "kv.h"
#include "lmdb_env.h"
#include "log_record.h"
#include "store.h"

namespace hermod::cli::db {

using store::BatchNo;
using store::KvCursor;
using store::KvEnv;
using store::KvTxn;
using store::QueueId;
using store::Seq;
using store::Table;

namespace {

// Rows per read transaction, so that no reader stays open long.
constexpr size_t kQueuesPerTxn = 256;
constexpr size_t kEntriesPerTxn = 1000;

struct EntryRow {
  Seq seq = 0;
  store::EntryValue value;
  bool decoded = false;
  bool has_message = false;
  std::string envelope;
};

// Reads up to max entries of a queue from seq `from` on, each with a copy
// of its message, in one read transaction. *more: there may be more.
Status ReadEntryPage(KvEnv& env, QueueId queue_id, Seq from, size_t max, std::vector<EntryRow>* out,
                     bool* more) {
  *more = false;
  Result<std::unique_ptr<KvTxn>> began = env.BeginRead();
  if (!began.ok()) return began.status();
  KvTxn& txn = **began;
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kEntries);
  if (!cursor) return txn.status();
  for (bool ok = cursor->Seek(store::EntryKey(queue_id, from).view());
       ok && cursor->key().size() == store::kEntryKeyBytes &&
       store::EntryKeyQueue(cursor->key()) == queue_id;
       ok = cursor->Next()) {
    if (out->size() == max) {
      *more = true;
      break;
    }
    EntryRow row;
    row.seq = store::EntryKeySeq(cursor->key());
    row.decoded = row.value.Decode(cursor->value());
    if (row.decoded) {
      // A message whose chunks do not add up is dumped as missing; `hermod
      // db check` says why.
      Result<bool> found = store::ReadEnvelope(txn, row.value.msg_id, &row.envelope);
      row.has_message = found.ok() && *found;
    }
    out->push_back(std::move(row));
  }
  return txn.status();
}

class Dumper {
 public:
  Dumper(store::LmdbEnv* env, const DbOptions& options)
      : env_(env), store_(env), options_(options) {}

  int Run();

 private:
  Status FindOnlyQueue();
  Status DumpQueues();
  Status DumpQueue(QueueId queue_id, const store::QueueState& state);
  Status DumpLog();
  // With --json, appends the op to *ops_json (an array).
  void DumpOp(const store::LogOp& op, Json* ops_json);
  Status DumpFanoutJobs();
  std::string QueueName(QueueId queue_id);
  bool Flush() { return out_.MaybeFlush(); }

  store::LmdbEnv* env_;
  store::Store store_;
  const DbOptions& options_;
  Output out_;
  std::optional<QueueId> only_;                     // --queue
  std::unordered_map<QueueId, std::string> names_;  // queues met in the log
  uint64_t queues_ = 0;
  uint64_t entries_ = 0;
  uint64_t records_ = 0;
  uint64_t ops_ = 0;
  bool write_failed_ = false;
};

int Dumper::Run() {
  if (!options_.queue.empty()) {
    if (Status s = FindOnlyQueue(); !s.ok()) return Fail(s.message());
  }
  if (Status s = DumpQueues(); !s.ok()) return Fail(s.message());
  if (Status s = DumpLog(); !s.ok()) return Fail(s.message());
  if (!only_) {
    if (Status s = DumpFanoutJobs(); !s.ok()) return Fail(s.message());
  }
  std::string& out = out_.text();
  if (options_.json) {
    JsonFields f(&out);
    f.Str("kind", "summary");
    f.Num("queues", queues_);
    f.Num("entries", entries_);
    f.Num("log_records", records_);
    f.Num("log_ops", ops_);
    f.Done();
  } else {
    out += Count(queues_, "queue", "queues") + ", " + Count(entries_, "entry", "entries") +
           " in the index; " + Count(records_, "log record", "log records") + " not yet applied (" +
           Count(ops_, "operation", "operations") + ")\n";
  }
  if (!out_.Flush() || write_failed_) return Fail("cannot write to stdout");
  return kExitOk;
}

Status Dumper::FindOnlyQueue() {
  Result<std::optional<store::QueueInfo>> found = store_.FindQueue(options_.queue);
  if (!found.ok()) return found.status();
  if (*found) {
    only_ = (*found)->queue_id;
    return Status::OK();
  }
  // A queue created since the last apply is known to the log only.
  LogRecord record;
  for (BatchNo from = 0;; from = record.batch_no + 1) {
    Result<bool> read = ReadLogRecord(*env_, from, &record);
    if (!read.ok()) return read.status();
    if (!*read) break;
    store::LogReader reader(record.bytes);
    store::LogOp op;
    while (reader.Next(&op)) {
      if (op.type == store::LogOpType::kCreateQueue && op.name == options_.queue) {
        only_ = op.queue_id;
        return Status::OK();
      }
    }
    if (record.batch_no == UINT64_MAX) break;
  }
  return Status::NotFound("no queue '" + options_.queue + "' in " + options_.data_dir);
}

Status Dumper::DumpQueues() {
  // Queues in id order, a page of them per read transaction.
  QueueId from = only_.value_or(0);
  for (;;) {
    std::vector<std::pair<QueueId, store::QueueState>> page;
    Status s = store_.ForEachQueue(
        [&](QueueId queue_id, const store::QueueState& state) {
          if (only_ && queue_id != *only_) return false;
          page.emplace_back(queue_id, state);
          return page.size() < kQueuesPerTxn;
        },
        from);
    if (!s.ok()) return s;
    if (page.empty()) return Status::OK();
    for (auto& [queue_id, state] : page) {
      if (Status d = DumpQueue(queue_id, state); !d.ok()) return d;
    }
    if (only_ || page.back().first == UINT64_MAX) return Status::OK();
    from = page.back().first + 1;
  }
}

Status Dumper::DumpQueue(QueueId queue_id, const store::QueueState& state) {
  ++queues_;
  std::string& out = out_.text();
  if (options_.json) {
    JsonFields f(&out);
    f.Str("kind", "queue");
    f.Str("queue", state.name);
    f.Num("queue_id", queue_id);
    f.Num("depth", state.depth);
    f.Num("bytes", state.bytes);
    f.Num("last_seq", state.last_seq);
    f.Num("created_ms", state.created_ms);
    f.Done();
  } else {
    out += "queue " + state.name + " (id " + std::to_string(queue_id) + "): depth " +
           std::to_string(state.depth) + ", " + std::to_string(state.bytes) + " bytes, last seq " +
           std::to_string(state.last_seq) + ", created " + FormatTime(state.created_ms) + "\n";
  }
  Seq from = 0;
  for (bool more = true; more;) {
    std::vector<EntryRow> page;
    if (Status s = ReadEntryPage(*env_, queue_id, from, kEntriesPerTxn, &page, &more); !s.ok()) {
      return s;
    }
    for (const EntryRow& row : page) {
      ++entries_;
      if (options_.json) {
        JsonFields f(&out);
        f.Str("kind", "entry");
        f.Str("queue", state.name);
        f.Num("queue_id", queue_id);
        f.Num("seq", row.seq);
        if (!row.decoded) {
          f.Bool("entry_malformed", true);
        } else {
          f.Num("msg_id", row.value.msg_id);
          f.Num("delivery_count", row.value.delivery_count);
          f.Num("bytes", row.value.bytes);
          if (row.has_message) {
            SetEnvelopeJson(&f.json(), row.envelope);
          } else {
            f.Bool("message_missing", true);
          }
        }
        f.Done();
      } else if (!row.decoded) {
        out += "  seq " + std::to_string(row.seq) + ": malformed entry\n";
      } else {
        out += "  seq " + std::to_string(row.seq) + "  msg " + std::to_string(row.value.msg_id) +
               "  deliveries " + std::to_string(row.value.delivery_count) + "  " +
               std::to_string(row.value.bytes) + " bytes\n";
        if (row.has_message) {
          AppendEnvelopeText(&out, row.envelope, "    ");
        } else {
          out += "    (message not stored)\n";
        }
      }
      if (!Flush()) write_failed_ = true;
    }
    if (!page.empty()) {
      if (page.back().seq == UINT64_MAX) break;
      from = page.back().seq + 1;
    }
  }
  return Status::OK();
}

std::string Dumper::QueueName(QueueId queue_id) {
  auto it = names_.find(queue_id);
  if (it != names_.end()) return it->second;
  Result<std::optional<store::QueueInfo>> found = store_.FindQueueById(queue_id);
  std::string name = found.ok() && *found ? (*found)->state.name : std::string();
  names_.emplace(queue_id, name);
  return name;
}

void Dumper::DumpOp(const store::LogOp& op, Json* ops_json) {
  using store::LogOpType;
  if (op.type == LogOpType::kCreateQueue) names_[op.queue_id] = std::string(op.name);
  if (only_ && op.queue_id != *only_) return;
  ++ops_;
  // A group publish's dedup id is kept under the group's id, marked.
  const bool group_dedup =
      op.type == LogOpType::kDedup && (op.queue_id & store::kGroupDedupBit) != 0;
  std::string name = group_dedup ? std::string() : QueueName(op.queue_id);
  if (options_.json) {
    std::string unused;
    JsonFields f(&unused);
    f.Str("op", LogOpName(op.type));
    if (op.partition != 0) f.Num("partition", op.partition);
    if (group_dedup) {
      f.Num("group_id", op.queue_id & ~store::kGroupDedupBit);
    } else {
      f.Num("queue_id", op.queue_id);
      f.Str("queue", name);
    }
    switch (op.type) {
      case LogOpType::kCreateQueue:
        f.Num("created_ms", op.created_ms);
        break;
      case LogOpType::kPublish:
        f.Num("seq", op.seq);
        f.Num("msg_id", op.msg_id);
        f.Num("bytes", op.envelope.size());
        SetEnvelopeJson(&f.json(), op.envelope);
        break;
      case LogOpType::kAck:
        f.Num("seq", op.seq);
        break;
      case LogOpType::kDelivered:
        f.Num("seq", op.seq);
        f.Num("delivery_count", op.delivery_count);
        break;
      case LogOpType::kConfigure:
        f.Num("settings_bytes", op.settings.size());
        break;
      case LogOpType::kDedup:
        f.Num("seq", op.seq);
        f.Num("msg_id", op.msg_id);
        f.Num("time_ms", op.created_ms);
        f.Str("dedup_id", op.dedup_id);
        break;
      case LogOpType::kEntry:
      case LogOpType::kIndexAck:
        f.Num("seq", op.seq);
        f.Num("msg_id", op.msg_id);
        f.Num("bytes", op.bytes);
        f.Num("expires_ms", op.expires_ms);
        break;
      case LogOpType::kPurge:
        f.Num("from_seq", op.seq);
        f.Num("to_seq", op.to);
        break;
      case LogOpType::kDedupExpire:
        f.Num("key_bytes", op.key.size());
        break;
      case LogOpType::kGroupChange:
        f.Str("group", op.group);
        f.Str("member", op.member);
        break;
      case LogOpType::kFanoutStart:
        f.Num("job_id", op.job_id);
        f.Num("msg_id", op.msg_id);
        f.Num("members", op.member_ids.size() / 8);
        break;
      case LogOpType::kFanoutProgress:
        f.Num("job_id", op.job_id);
        f.Num("cursor", op.cursor);
        break;
      case LogOpType::kReceiptTally:
        f.Num("msg_id", op.msg_id);
        f.Num("remaining", op.tally.remaining);
        f.Num("delivered", op.tally.delivered);
        f.Num("failed", op.tally.failed);
        break;
      case LogOpType::kFanoutForward:
      case LogOpType::kFanoutForwarded:
        f.Num("job_id", op.job_id);
        f.Num("msg_id", op.msg_id);
        f.Num("partition", op.forward_partition);
        f.Num("chunk", op.chunk);
        break;
      case LogOpType::kStage:
      case LogOpType::kUnstage:
      case LogOpType::kTruncatePartition:
      case LogOpType::kPartitionEnd:
      case LogOpType::kDropPartition:
      case LogOpType::kPutRows:
      case LogOpType::kRebuiltPartition:
      case LogOpType::kFence:
        f.Num("log_partition", op.log_partition);
        f.Num("epoch", op.epoch);
        f.Num("offset", op.offset);
        break;
      case LogOpType::kDeleteQueue:
      case LogOpType::kPartition:  // read by LogReader itself
        break;
    }
    ops_json->push_back(std::move(f.json()));
    return;
  }
  std::string& out = out_.text();
  if (op.partition != 0) out += "  [partition " + std::to_string(op.partition) + "]";
  std::string queue = group_dedup
                          ? "group id " + std::to_string(op.queue_id & ~store::kGroupDedupBit)
                          : (name.empty() ? std::string("queue") : name) + " (id " +
                                std::to_string(op.queue_id) + ")";
  switch (op.type) {
    case LogOpType::kCreateQueue:
      out += "  create queue " + queue + ", created " + FormatTime(op.created_ms) + "\n";
      break;
    case LogOpType::kPublish:
      out += "  publish to " + queue + " seq " + std::to_string(op.seq) + "  msg " +
             std::to_string(op.msg_id) + "  " + std::to_string(op.envelope.size()) + " bytes\n";
      AppendEnvelopeText(&out, op.envelope, "    ");
      break;
    case LogOpType::kAck:
      out += "  ack " + queue + " seq " + std::to_string(op.seq) + "\n";
      break;
    case LogOpType::kDeleteQueue:
      out += "  delete queue " + queue + "\n";
      break;
    case LogOpType::kDelivered:
      out += "  delivered " + queue + " seq " + std::to_string(op.seq) + ", delivery count " +
             std::to_string(op.delivery_count) + "\n";
      break;
    case LogOpType::kConfigure:
      out += "  configure " + queue + " (" + std::to_string(op.settings.size()) +
             " bytes of settings)\n";
      break;
    case LogOpType::kDedup:
      out += "  dedup id " + QuoteJson(op.dedup_id);
      out += " for " + queue + (group_dedup ? "" : " seq " + std::to_string(op.seq)) + "  msg " +
             std::to_string(op.msg_id) + "\n";
      break;
    case LogOpType::kEntry:
      out += "  fan-out entry in " + queue + " seq " + std::to_string(op.seq) + "  msg " +
             std::to_string(op.msg_id) + "  " + std::to_string(op.bytes) + " bytes\n";
      break;
    case LogOpType::kIndexAck:
      out += "  ack (indexed) " + queue + " seq " + std::to_string(op.seq) + "\n";
      break;
    case LogOpType::kPurge:
      out += "  purge " + queue + " seqs " + std::to_string(op.seq) + " to " +
             std::to_string(op.to) + " (exclusive)\n";
      break;
    case LogOpType::kDedupExpire:
      out += "  dedup record expired (" + std::to_string(op.key.size()) + "-byte key)\n";
      break;
    case LogOpType::kGroupChange:
      out += "  group " + QuoteJson(op.group) + " change, member " + QuoteJson(op.member) + "\n";
      break;
    case LogOpType::kFanoutStart:
      out += "  fan-out job " + std::to_string(op.job_id) + " of msg " + std::to_string(op.msg_id) +
             " to " + std::to_string(op.member_ids.size() / 8) + " members\n";
      break;
    case LogOpType::kFanoutProgress:
      out += "  fan-out job " + std::to_string(op.job_id) + " at member " +
             std::to_string(op.cursor) + (op.done ? ", done" : "") + "\n";
      break;
    case LogOpType::kReceiptTally:
      out += "  receipt tally of message " + std::to_string(op.msg_id) + ": " +
             std::to_string(op.tally.remaining) + " to settle\n";
      break;
    case LogOpType::kFanoutForward:
    case LogOpType::kFanoutForwarded:
      out += std::string("  ") + LogOpName(op.type) + " job " + std::to_string(op.job_id) +
             " to partition " + std::to_string(op.forward_partition) + " chunk " +
             std::to_string(op.chunk) + "\n";
      break;
    case LogOpType::kStage:
    case LogOpType::kUnstage:
    case LogOpType::kTruncatePartition:
    case LogOpType::kPartitionEnd:
    case LogOpType::kDropPartition:
    case LogOpType::kPutRows:
    case LogOpType::kRebuiltPartition:
    case LogOpType::kFence:
      out += std::string("  ") + LogOpName(op.type) + " partition " +
             std::to_string(op.log_partition) + " epoch " + std::to_string(op.epoch) + " offset " +
             std::to_string(op.offset) + "\n";
      break;
    case LogOpType::kPartition:
      break;
  }
}

Status Dumper::DumpLog() {
  // One read transaction per record: records are bounded by the broker's
  // batch size, and the whole tail by its --max-unapplied-bytes.
  LogRecord record;
  for (BatchNo from = 0;; from = record.batch_no + 1) {
    Result<bool> read = ReadLogRecord(*env_, from, &record);
    if (!read.ok()) return read.status();
    if (!*read) return Status::OK();
    std::string& out = out_.text();
    size_t mark = out.size();
    uint64_t ops_before = ops_;
    Json ops_json = Json::array();
    if (!options_.json) {
      out += "log record " + std::to_string(record.batch_no) + " (" +
             std::to_string(record.bytes.size()) + " bytes in " +
             Count(record.chunks, "chunk", "chunks") + "), not yet applied:\n";
    }
    store::LogReader reader(record.bytes);
    store::LogOp op;
    while (reader.Next(&op)) DumpOp(op, &ops_json);
    bool any = ops_ != ops_before;
    if (!options_.json && !any && only_ && reader.status().ok()) {
      out.resize(mark);  // nothing about this queue in the record
    }
    if (options_.json && (any || !only_)) {
      JsonFields f(&out);
      f.Str("kind", "log_record");
      f.Num("batch", record.batch_no);
      f.Num("bytes", record.bytes.size());
      f.Num("chunks", record.chunks);
      f.json()["ops"] = std::move(ops_json);
      if (!reader.status().ok()) f.Str("error", reader.status().message());
      f.Done();
    } else if (!options_.json && !reader.status().ok()) {
      out += "  " + reader.status().message() + "\n";
    }
    if (any || !only_) ++records_;
    if (!Flush()) write_failed_ = true;
    if (record.batch_no == UINT64_MAX) return Status::OK();  // the last key there can be
  }
}

Status Dumper::DumpFanoutJobs() {
  Result<std::unique_ptr<KvTxn>> began = env_->BeginRead();
  if (!began.ok()) return began.status();
  KvTxn& txn = **began;
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kFanout);
  if (!cursor) return txn.status();
  std::string& out = out_.text();
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    if (cursor->key().size() != 8) continue;  // a job's member list
    uint64_t job_id = store::GetBig64(cursor->key().data());
    store::FanoutHeader header;
    bool decoded = header.Decode(cursor->value());
    if (options_.json) {
      JsonFields f(&out);
      f.Str("kind", "fanout_job");
      f.Num("job_id", job_id);
      if (decoded) {
        f.Num("msg_id", header.msg_id);
        f.Num("group_id", header.group_id);
        f.Num("created_ms", header.created_ms);
        f.Num("cursor", header.cursor);
        f.Num("total", header.total);
      } else {
        f.Bool("job_malformed", true);
      }
      f.Done();
    } else if (decoded) {
      out += "fan-out job " + std::to_string(job_id) + ": message " +
             std::to_string(header.msg_id) + " to group id " + std::to_string(header.group_id) +
             ", " + std::to_string(header.cursor) + " of " + std::to_string(header.total) +
             " members done\n";
    } else {
      out += "fan-out job " + std::to_string(job_id) + ": malformed\n";
    }
  }
  return txn.status();
}

}  // namespace

int DbDump(const DbOptions& options) {
  Result<std::unique_ptr<store::LmdbEnv>> env = OpenReadOnly(options.data_dir);
  if (!env.ok()) return Fail(env.status().message());
  Dumper dumper(env->get(), options);
  return dumper.Run();
}

}  // namespace hermod::cli::db
