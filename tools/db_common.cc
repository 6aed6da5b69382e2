// What the `hermod db` subcommands share (db_common.h): opening a data
// directory read-only, reading the meta rows and log records, and the text
// and JSON output helpers. Main thread only.
#include "db_common.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "cli.h"
#include "envelope.h"
#include "json.h"
#include "store.h"

namespace hermod::cli::db {

using store::BatchNo;
using store::KvCursor;
using store::KvEnv;
using store::KvTxn;
using store::Table;

namespace {

// Checks that dir holds an LMDB environment before LMDB sees it: a
// read-only open of a directory without one would leave a lock.mdb there.
Status CheckDataDir(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return Status::NotFound("cannot open data directory " + dir + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + " is not a directory");
  if (stat((dir + "/data.mdb").c_str(), &st) != 0) {
    return Status::NotFound(dir + " holds no hermod store (no data.mdb)");
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<store::LmdbEnv>> OpenReadOnly(const std::string& dir) {
  if (Status s = CheckDataDir(dir); !s.ok()) return s;
  store::LmdbOptions options;
  options.read_only = true;
  return store::LmdbEnv::Open(dir, options);
}

Meta ReadMeta(store::KvTxn& txn) {
  // A row that is there but does not decode is present and corrupt; a
  // failed read (txn.status()) leaves it absent.
  Meta meta;
  Result<uint32_t> version = store::ReadSchemaVersion(txn);
  if (version.ok()) {
    meta.schema_present = true;
    meta.schema_version = *version;
  } else if (!version.status().IsNotFound() && txn.status().ok()) {
    meta.schema_present = true;
  }
  Result<store::IdCounters> counters = store::ReadIdCounters(txn);
  if (counters.ok()) {
    meta.ids_present = true;
    meta.ids = *counters;
  } else if (!counters.status().IsNotFound() && txn.status().ok()) {
    meta.ids_present = true;
  }
  return meta;
}

Result<bool> ReadLogRecord(KvEnv& env, BatchNo from, LogRecord* record) {
  Result<std::unique_ptr<KvTxn>> txn = env.BeginRead();
  if (!txn.ok()) return txn.status();
  std::unique_ptr<KvCursor> cursor = (*txn)->Cursor(Table::kLog);
  if (!cursor) return (*txn)->status();
  record->bytes.clear();
  record->chunks = 0;
  bool ok = cursor->Seek(store::LogKey(from, 0).view());
  if (!ok) return (*txn)->status().ok() ? Result<bool>(false) : Result<bool>((*txn)->status());
  if (cursor->key().size() != store::kLogKeyBytes) return Status::StorageError("corrupt log key");
  record->batch_no = store::LogKeyBatch(cursor->key());
  for (; ok && cursor->key().size() == store::kLogKeyBytes &&
         store::LogKeyBatch(cursor->key()) == record->batch_no;
       ok = cursor->Next()) {
    record->bytes.append(cursor->value());
    ++record->chunks;
  }
  if (!(*txn)->status().ok()) return (*txn)->status();
  return true;
}

const char* LogOpName(store::LogOpType type) {
  switch (type) {
    case store::LogOpType::kCreateQueue:
      return "create_queue";
    case store::LogOpType::kPublish:
      return "publish";
    case store::LogOpType::kAck:
      return "ack";
    case store::LogOpType::kDelivered:
      return "delivered";
    case store::LogOpType::kConfigure:
      return "configure";
    case store::LogOpType::kDedup:
      return "dedup";
    case store::LogOpType::kEntry:
      return "entry";
    case store::LogOpType::kDeleteQueue:
      return "delete_queue";
    case store::LogOpType::kIndexAck:
      return "index_ack";
    case store::LogOpType::kDedupExpire:
      return "dedup_expire";
    case store::LogOpType::kPurge:
      return "purge";
    case store::LogOpType::kGroupChange:
      return "group_change";
    case store::LogOpType::kFanoutStart:
      return "fanout_start";
    case store::LogOpType::kFanoutProgress:
      return "fanout_progress";
    case store::LogOpType::kPartition:
      return "partition";
    case store::LogOpType::kStage:
      return "stage";
    case store::LogOpType::kUnstage:
      return "unstage";
    case store::LogOpType::kTruncatePartition:
      return "truncate_partition";
    case store::LogOpType::kPartitionEnd:
      return "partition_end";
    case store::LogOpType::kDropPartition:
      return "drop_partition";
    case store::LogOpType::kPutRows:
      return "put_rows";
    case store::LogOpType::kRebuiltPartition:
      return "rebuilt_partition";
    case store::LogOpType::kFence:
      return "fence";
    case store::LogOpType::kFanoutForward:
      return "fanout_forward";
    case store::LogOpType::kFanoutForwarded:
      return "fanout_forwarded";
    case store::LogOpType::kReceiptTally:
      return "receipt_tally";
  }
  return "?";
}

bool Output::MaybeFlush() {
  if (text_.size() < kFlushBytes) return true;
  return Flush();
}

bool Output::Flush() {
  bool ok = WriteOut(text_);
  text_.clear();
  return ok;
}

void AppendUint(std::string* out, uint64_t v) { *out += std::to_string(v); }

std::string Count(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

void SetEnvelopeJson(Json* object, std::string_view envelope) {
  store::EnvelopeView view;
  if (!view.Parse(envelope)) {
    (*object)["envelope_malformed"] = true;
    return;
  }
  (*object)["publish_time_ms"] = view.publish_ms();
  (*object)["expires_ms"] = view.expires_ms();
  Json& headers = (*object)["headers"] = Json::object();
  view.ForEachHeader([&](std::string_view key, std::string_view value) {
    headers[std::string(key)] = std::string(value);
  });
  SetPayload(object, view.payload());
}

void AppendEnvelopeText(std::string* out, std::string_view envelope, const char* indent) {
  store::EnvelopeView view;
  if (!view.Parse(envelope)) {
    *out += indent;
    *out += "(malformed envelope, " + std::to_string(envelope.size()) + " bytes)\n";
    return;
  }
  *out += indent;
  *out += "published " + FormatTime(view.publish_ms()) + " (" + std::to_string(view.publish_ms()) +
          "), expires " +
          (view.expires_ms() == 0
               ? std::string("never")
               : FormatTime(view.expires_ms()) + " (" + std::to_string(view.expires_ms()) + ")") +
          "\n";
  view.ForEachHeader([&](std::string_view key, std::string_view value) {
    *out += indent;
    *out += "header " + QuoteJson(key) + "=" + QuoteJson(value) + "\n";
  });
  *out += indent;
  if (IsPrintableUtf8(view.payload())) {
    *out += "payload " + QuoteJson(view.payload());
  } else {
    *out += "payload base64:";
    AppendBase64(out, view.payload());
  }
  *out += '\n';
}

}  // namespace hermod::cli::db
