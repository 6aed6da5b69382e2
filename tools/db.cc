// `hermod db stat|dump|check|backup`: offline tools on a hermod data
// directory. They never talk to the broker. They open the LMDB environment
// read-only through the store library (LmdbEnv with read_only), which is
// safe while hermodd runs on it: LMDB's reader table lets readers in other
// processes share the environment, and a read-only open never takes
// hermodd's own lock file (hermod.lock). See docs/cli.md ("hermod db").
//
// Transactions. stat and dump read in many short read transactions (a page
// of queues or entries, one log record), so a dump of a live store is not
// one snapshot. check needs one snapshot, because its invariants span
// tables: it reads everything in one read transaction, as backup does
// (mdb_env_copy2). While either runs, LMDB cannot reuse the pages the
// broker frees, so on a large, busy store the file grows by what the broker
// writes meanwhile; check a backup instead when that matters.
//
// Main thread only.
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cli.h"
#include "envelope.h"
#include "json.h"
#include "keys.h"
#include "kv.h"
#include "lmdb_env.h"
#include "log_record.h"
#include "mdb_status.h"
#include "store.h"

namespace hermod::cli {

namespace {

using store::BatchNo;
using store::KvCursor;
using store::KvEnv;
using store::KvTxn;
using store::MsgId;
using store::QueueId;
using store::Seq;
using store::Table;

// `hermod db check` found the store inconsistent (1 stays "could not run").
constexpr int kExitInconsistent = 2;

// Rows per read transaction in dump, so that no reader stays open long.
constexpr size_t kQueuesPerTxn = 256;
constexpr size_t kEntriesPerTxn = 1000;
// Bytes of output buffered before they are written.
constexpr size_t kFlushBytes = 64 << 10;

struct DbOptions {
  std::string data_dir;
  bool json = false;
  std::string queue;  // dump: empty for every queue
  std::string to;     // backup
  bool compact = false;
};

// ---------------------------------------------------------------------------
// Opening, and formats the store keeps private

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

Result<std::unique_ptr<store::LmdbEnv>> OpenReadOnly(const std::string& dir) {
  if (Status s = CheckDataDir(dir); !s.ok()) return s;
  store::LmdbOptions options;
  options.read_only = true;
  return store::LmdbEnv::Open(dir, options);
}

// The meta rows, as store.cc writes them (its encoders are private there):
// "schema_version" is a u32, "counters" five u64 (little-endian).
constexpr std::string_view kMetaSchemaVersion = "schema_version";
constexpr std::string_view kMetaCounters = "counters";

bool DecodeCounters(std::string_view v, store::Counters* c) {
  if (v.size() != 40) return false;
  c->next_batch_no = store::DecodeFixed64(v.data());
  c->next_msg_id = store::DecodeFixed64(v.data() + 8);
  c->next_queue_id = store::DecodeFixed64(v.data() + 16);
  c->next_group_id = store::DecodeFixed64(v.data() + 24);
  c->next_job_id = store::DecodeFixed64(v.data() + 32);
  return true;
}

struct Meta {
  std::optional<uint32_t> schema_version;  // absent, or not 4 bytes: nullopt
  std::optional<store::Counters> counters;
  bool schema_present = false;
  bool counters_present = false;
};

Meta ReadMeta(KvTxn& txn) {
  Meta meta;
  std::string_view value;
  if (txn.Get(Table::kMeta, kMetaSchemaVersion, &value)) {
    meta.schema_present = true;
    if (value.size() == 4) meta.schema_version = store::DecodeFixed32(value.data());
  }
  if (txn.Get(Table::kMeta, kMetaCounters, &value)) {
    meta.counters_present = true;
    store::Counters counters;
    if (DecodeCounters(value, &counters)) meta.counters = counters;
  }
  return meta;
}

// One log record, put together from its chunks.
struct LogRecord {
  BatchNo batch_no = 0;
  uint32_t chunks = 0;
  std::string bytes;
};

// Reads the first log record with a batch number >= from, in one read
// transaction. Returns false when there is none.
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
  }
  return "?";
}

// Output, buffered: WriteOut() flushes every kFlushBytes and at the end.
class Output {
 public:
  std::string& text() { return text_; }
  bool MaybeFlush() {
    if (text_.size() < kFlushBytes) return true;
    return Flush();
  }
  bool Flush() {
    bool ok = WriteOut(text_);
    text_.clear();
    return ok;
  }

 private:
  std::string text_;
};

void AppendUint(std::string* out, uint64_t v) { *out += std::to_string(v); }

// "1 chunk", "3 chunks".
std::string Count(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Appends `"key":value` to a JSON object under construction, with the
// comma when it is not the first member.
class JsonFields {
 public:
  explicit JsonFields(std::string* out) : out_(out) {}
  void Key(std::string_view key) {
    if (!first_) out_->push_back(',');
    first_ = false;
    AppendJsonString(out_, key);
    out_->push_back(':');
  }
  void Num(std::string_view key, uint64_t v) {
    Key(key);
    AppendUint(out_, v);
  }
  void Str(std::string_view key, std::string_view v) {
    Key(key);
    AppendJsonString(out_, v);
  }
  void Bool(std::string_view key, bool v) {
    Key(key);
    *out_ += v ? "true" : "false";
  }

 private:
  std::string* out_;
  bool first_ = true;
};

// A message's envelope as JSON members: publish_ms, expires_ms, headers,
// and payload (text) or payload_base64, as `hermod sub --json` prints them.
void AppendEnvelopeJson(JsonFields& fields, std::string* out, std::string_view envelope) {
  store::EnvelopeView view;
  if (!view.Parse(envelope)) {
    fields.Bool("envelope_malformed", true);
    return;
  }
  fields.Num("publish_time_ms", view.publish_ms());
  fields.Num("expires_ms", view.expires_ms());
  fields.Key("headers");
  out->push_back('{');
  bool first = true;
  view.ForEachHeader([&](std::string_view key, std::string_view value) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(out, key);
    out->push_back(':');
    AppendJsonString(out, value);
  });
  out->push_back('}');
  if (IsPrintableUtf8(view.payload())) {
    fields.Str("payload", view.payload());
  } else {
    fields.Key("payload_base64");
    out->push_back('"');
    AppendBase64(out, view.payload());
    out->push_back('"');
  }
}

// The same for people: a line with times, one per header, one for the
// payload (a quoted, escaped string when printable, else base64).
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
    *out += "header ";
    AppendJsonString(out, key);
    *out += '=';
    AppendJsonString(out, value);
    *out += '\n';
  });
  *out += indent;
  if (IsPrintableUtf8(view.payload())) {
    *out += "payload ";
    AppendJsonString(out, view.payload());
  } else {
    *out += "payload base64:";
    AppendBase64(out, view.payload());
  }
  *out += '\n';
}

// ---------------------------------------------------------------------------
// LMDB's own statistics
//
// The KvEnv seam gives entry counts only; B-tree depth, page counts, the
// freelist and the reader table need LMDB itself, as its mdb_stat does. They
// are read in an environment of their own, opened read-only and closed
// before the LmdbEnv opens: one process must never have two environments on
// one directory at once (closing one drops the other's fcntl locks). This
// is the only raw LMDB in the tools; it moves behind LmdbEnv once the store
// offers per-table statistics.

struct TableStat {
  uint64_t entries = 0;
  uint64_t depth = 0;
  uint64_t branch_pages = 0;
  uint64_t leaf_pages = 0;
  uint64_t overflow_pages = 0;
};

struct LmdbStat {
  uint64_t map_bytes = 0;
  uint64_t page_bytes = 0;
  uint64_t pages_used = 0;  // the highest page in use + 1
  uint64_t free_pages = 0;  // in LMDB's freelist: reusable
  uint64_t last_txn = 0;
  uint64_t file_bytes = 0;
  uint32_t max_readers = 0;
  uint32_t reader_slots_used = 0;  // slots ever taken (LMDB never shrinks it)
  uint32_t active_readers = 0;
  uint64_t oldest_reader_txn = 0;  // 0: no reader holds a snapshot
  TableStat tables[store::kTableCount];
};

// mdb_reader_list's callback: a header line, then one line per reader
// ("pid thread txnid", txnid "-" for a slot without a snapshot).
int CountReader(const char* line, void* arg) noexcept {
  auto* stat = static_cast<LmdbStat*>(arg);
  int pid = 0;
  unsigned long thread = 0;
  char txn[32] = {};
  if (std::sscanf(line, "%d %lx %31s", &pid, &thread, txn) != 3) return 0;
  ++stat->active_readers;
  if (txn[0] != '-') {
    uint64_t id = std::strtoull(txn, nullptr, 10);
    if (stat->oldest_reader_txn == 0 || id < stat->oldest_reader_txn) stat->oldest_reader_txn = id;
  }
  return 0;
}

Result<LmdbStat> ReadLmdbStat(const std::string& dir) {
  MDB_env* raw_env = nullptr;
  int rc = mdb_env_create(&raw_env);
  if (rc != MDB_SUCCESS) return store::FromMdb(rc, "mdb_env_create");
  std::unique_ptr<MDB_env, decltype(&mdb_env_close)> env(raw_env, &mdb_env_close);
  mdb_env_set_maxdbs(env.get(), store::kTableCount + 2);
  rc = mdb_env_open(env.get(), dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0644);
  if (rc != MDB_SUCCESS) return store::FromMdb(rc, "open LMDB environment in " + dir);

  LmdbStat out;
  // Readers first, while this process holds none.
  mdb_reader_list(env.get(), CountReader, &out);
  unsigned int max_readers = 0;
  mdb_env_get_maxreaders(env.get(), &max_readers);
  out.max_readers = max_readers;

  MDB_txn* raw_txn = nullptr;
  rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &raw_txn);
  if (rc == MDB_MAP_RESIZED) {
    // The broker grew the map since the open; adopt its size.
    mdb_env_set_mapsize(env.get(), 0);
    rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &raw_txn);
  }
  if (rc != MDB_SUCCESS) return store::FromMdb(rc, "begin transaction");
  std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> txn(raw_txn, &mdb_txn_abort);

  MDB_envinfo info;
  mdb_env_info(env.get(), &info);
  MDB_stat env_stat;
  mdb_env_stat(env.get(), &env_stat);
  out.map_bytes = info.me_mapsize;
  out.page_bytes = env_stat.ms_psize;
  out.pages_used = info.me_last_pgno + 1;
  out.last_txn = info.me_last_txnid;
  out.reader_slots_used = info.me_numreaders;
  for (int i = 0; i < store::kTableCount; ++i) {
    const char* name = store::TableName(static_cast<Table>(i));
    MDB_dbi dbi;
    rc = mdb_dbi_open(txn.get(), name, 0, &dbi);
    if (rc != MDB_SUCCESS) return store::FromMdb(rc, std::string("open table ") + name);
    MDB_stat s;
    rc = mdb_stat(txn.get(), dbi, &s);
    if (rc != MDB_SUCCESS) return store::FromMdb(rc, std::string("stat table ") + name);
    out.tables[i] = TableStat{s.ms_entries, s.ms_depth, s.ms_branch_pages, s.ms_leaf_pages,
                              s.ms_overflow_pages};
  }
  // The freelist is LMDB's database 0: each value is a list of page
  // numbers whose first word is its length (as mdb_stat -f counts).
  MDB_cursor* raw_cursor = nullptr;
  rc = mdb_cursor_open(txn.get(), 0, &raw_cursor);
  if (rc != MDB_SUCCESS) return store::FromMdb(rc, "open the freelist");
  std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> cursor(raw_cursor, &mdb_cursor_close);
  MDB_val key, value;
  while ((rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_NEXT)) == MDB_SUCCESS) {
    size_t pages = 0;
    if (value.mv_size >= sizeof(pages)) std::memcpy(&pages, value.mv_data, sizeof(pages));
    out.free_pages += pages;
  }
  if (rc != MDB_NOTFOUND) return store::FromMdb(rc, "read the freelist");

  struct stat file;
  if (stat((dir + "/data.mdb").c_str(), &file) == 0) {
    out.file_bytes = static_cast<uint64_t>(file.st_size);
  }
  return out;
}

// ---------------------------------------------------------------------------
// hermod db stat

struct LogSummary {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t chunks = 0;
  BatchNo first_batch = 0;
  BatchNo last_batch = 0;
};

struct StoreSummary {
  Meta meta;
  LogSummary log;
  uint64_t fanout_jobs = 0;
};

// One read transaction: meta, the log's keys (the unapplied tail, bounded
// by the broker's --max-unapplied-bytes) and the fan-out job headers (few).
Status ReadStoreSummary(KvEnv& env, StoreSummary* out) {
  Result<std::unique_ptr<KvTxn>> began = env.BeginRead();
  if (!began.ok()) return began.status();
  KvTxn& txn = **began;
  out->meta = ReadMeta(txn);
  {
    std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kLog);
    if (!cursor) return txn.status();
    for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
      if (cursor->key().size() != store::kLogKeyBytes) continue;
      BatchNo batch_no = store::LogKeyBatch(cursor->key());
      if (out->log.records == 0 || batch_no != out->log.last_batch) {
        if (out->log.records == 0) out->log.first_batch = batch_no;
        ++out->log.records;
        out->log.last_batch = batch_no;
      }
      ++out->log.chunks;
      out->log.bytes += cursor->value().size();
    }
  }
  {
    std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kFanout);
    if (!cursor) return txn.status();
    for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
      if (cursor->key().size() == 8) ++out->fanout_jobs;
    }
  }
  return txn.status();
}

uint64_t Entries(const LmdbStat& stat, Table table) {
  return stat.tables[static_cast<int>(table)].entries;
}

std::string StatJson(const std::string& dir, const LmdbStat& lmdb, const StoreSummary& summary) {
  std::string out = "{";
  JsonFields root(&out);
  root.Str("data_dir", dir);
  root.Key("schema_version");
  if (summary.meta.schema_version) {
    AppendUint(&out, *summary.meta.schema_version);
  } else {
    out += "null";
  }
  root.Key("lmdb");
  out += '{';
  {
    JsonFields f(&out);
    f.Num("map_bytes", lmdb.map_bytes);
    f.Num("used_bytes", lmdb.pages_used * lmdb.page_bytes);
    f.Num("file_bytes", lmdb.file_bytes);
    f.Num("page_bytes", lmdb.page_bytes);
    f.Num("pages_used", lmdb.pages_used);
    f.Num("free_pages", lmdb.free_pages);
    f.Num("last_txn", lmdb.last_txn);
    f.Key("readers");
    out += '{';
    JsonFields r(&out);
    r.Num("active", lmdb.active_readers);
    r.Num("max", lmdb.max_readers);
    r.Num("slots_used", lmdb.reader_slots_used);
    r.Num("oldest_txn", lmdb.oldest_reader_txn);
    out += '}';
  }
  out += '}';
  root.Key("tables");
  out += '{';
  {
    JsonFields tables(&out);
    for (int i = 0; i < store::kTableCount; ++i) {
      const TableStat& t = lmdb.tables[i];
      tables.Key(store::TableName(static_cast<Table>(i)));
      out += '{';
      JsonFields f(&out);
      f.Num("entries", t.entries);
      f.Num("depth", t.depth);
      f.Num("branch_pages", t.branch_pages);
      f.Num("leaf_pages", t.leaf_pages);
      f.Num("overflow_pages", t.overflow_pages);
      out += '}';
    }
  }
  out += '}';
  root.Key("counters");
  if (summary.meta.counters) {
    const store::Counters& c = *summary.meta.counters;
    out += '{';
    JsonFields f(&out);
    f.Num("next_batch_no", c.next_batch_no);
    f.Num("next_msg_id", c.next_msg_id);
    f.Num("next_queue_id", c.next_queue_id);
    f.Num("next_group_id", c.next_group_id);
    f.Num("next_job_id", c.next_job_id);
    out += '}';
  } else {
    out += "null";
  }
  root.Num("queues", Entries(lmdb, Table::kQueueState));
  root.Num("messages", Entries(lmdb, Table::kMessages));
  root.Num("entries", Entries(lmdb, Table::kEntries));
  root.Num("groups", Entries(lmdb, Table::kGroupInfo));
  root.Num("fanout_jobs", summary.fanout_jobs);
  root.Key("log");
  out += '{';
  {
    JsonFields f(&out);
    f.Num("records", summary.log.records);
    f.Num("bytes", summary.log.bytes);
    f.Num("chunks", summary.log.chunks);
    f.Num("first_batch", summary.log.first_batch);
    f.Num("last_batch", summary.log.last_batch);
  }
  out += "}}\n";
  return out;
}

std::string StatText(const std::string& dir, const LmdbStat& lmdb, const StoreSummary& summary) {
  std::string out;
  auto line = [&](const char* key, const std::string& value) {
    char label[24];
    std::snprintf(label, sizeof(label), "%-16s", key);
    out += label;
    out += value;
    out += '\n';
  };
  auto num = [](uint64_t v) { return std::to_string(v); };
  line("data directory", dir);
  line("schema version", summary.meta.schema_version ? num(*summary.meta.schema_version)
                                                     : std::string("missing or corrupt"));
  line("map size", FormatBytes(lmdb.map_bytes) + " (" + num(lmdb.map_bytes) + " bytes)");
  line("used", FormatBytes(lmdb.pages_used * lmdb.page_bytes) + ": " + num(lmdb.pages_used) +
                   " pages of " + num(lmdb.page_bytes) + " bytes, " + num(lmdb.free_pages) +
                   " of them free for reuse");
  line("file", FormatBytes(lmdb.file_bytes) + " (" + num(lmdb.file_bytes) + " bytes)");
  line("last txn", num(lmdb.last_txn));
  std::string readers = num(lmdb.active_readers) + " active";
  if (lmdb.oldest_reader_txn != 0) {
    readers += " (oldest snapshot: txn " + num(lmdb.oldest_reader_txn) + ")";
  }
  readers += ", " + num(lmdb.reader_slots_used) + " slots used of " + num(lmdb.max_readers);
  line("readers", readers);
  if (summary.meta.counters) {
    const store::Counters& c = *summary.meta.counters;
    line("next ids", "batch " + num(c.next_batch_no) + ", message " + num(c.next_msg_id) +
                         ", queue " + num(c.next_queue_id) + ", group " + num(c.next_group_id) +
                         ", job " + num(c.next_job_id));
  } else {
    line("next ids", "missing or corrupt");
  }
  line("queues", num(Entries(lmdb, Table::kQueueState)));
  line("messages", num(Entries(lmdb, Table::kMessages)));
  line("entries", num(Entries(lmdb, Table::kEntries)) + " in the index");
  line("groups", num(Entries(lmdb, Table::kGroupInfo)));
  line("fan-out jobs", num(summary.fanout_jobs) + " unfinished");
  std::string log = Count(summary.log.records, "record", "records") + ", " +
                    FormatBytes(summary.log.bytes) + " in " +
                    Count(summary.log.chunks, "chunk", "chunks");
  if (summary.log.records == 1) {
    log += " (batch " + num(summary.log.first_batch) + ")";
  } else if (summary.log.records > 1) {
    log += " (batches " + num(summary.log.first_batch) + " to " + num(summary.log.last_batch) + ")";
  }
  line("unapplied log", log);
  out += '\n';
  cli::Table table({"table", "entries", "depth", "branch", "leaf", "overflow"},
                   {false, true, true, true, true, true});
  for (int i = 0; i < store::kTableCount; ++i) {
    const TableStat& t = lmdb.tables[i];
    table.AddRow({store::TableName(static_cast<Table>(i)), num(t.entries), num(t.depth),
                  num(t.branch_pages), num(t.leaf_pages), num(t.overflow_pages)});
  }
  out += table.Format();
  return out;
}

int DbStat(const DbOptions& options) {
  if (Status s = CheckDataDir(options.data_dir); !s.ok()) return Fail(s.message());
  Result<LmdbStat> lmdb = ReadLmdbStat(options.data_dir);
  if (!lmdb.ok()) return Fail(lmdb.status().message());
  Result<std::unique_ptr<store::LmdbEnv>> env = OpenReadOnly(options.data_dir);
  if (!env.ok()) return Fail(env.status().message());
  StoreSummary summary;
  if (Status s = ReadStoreSummary(**env, &summary); !s.ok()) return Fail(s.message());
  std::string out = options.json ? StatJson(options.data_dir, *lmdb, summary)
                                 : StatText(options.data_dir, *lmdb, summary);
  if (!WriteOut(out)) return Fail("cannot write to stdout");
  return kExitOk;
}

// ---------------------------------------------------------------------------
// hermod db dump

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
    std::string_view envelope;
    if (row.decoded &&
        txn.Get(Table::kMessages, store::U64Key(row.value.msg_id).view(), &envelope)) {
      row.has_message = true;
      row.envelope.assign(envelope);
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
  void DumpOp(const store::LogOp& op, std::string* ops_json, bool* first_op);
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
    out += '{';
    JsonFields f(&out);
    f.Str("kind", "summary");
    f.Num("queues", queues_);
    f.Num("entries", entries_);
    f.Num("log_records", records_);
    f.Num("log_ops", ops_);
    out += "}\n";
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
    out += '{';
    JsonFields f(&out);
    f.Str("kind", "queue");
    f.Str("queue", state.name);
    f.Num("queue_id", queue_id);
    f.Num("depth", state.depth);
    f.Num("bytes", state.bytes);
    f.Num("last_seq", state.last_seq);
    f.Num("created_ms", state.created_ms);
    out += "}\n";
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
        out += '{';
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
            AppendEnvelopeJson(f, &out, row.envelope);
          } else {
            f.Bool("message_missing", true);
          }
        }
        out += "}\n";
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

void Dumper::DumpOp(const store::LogOp& op, std::string* ops_json, bool* first_op) {
  using store::LogOpType;
  if (op.type == LogOpType::kCreateQueue) names_[op.queue_id] = std::string(op.name);
  if (only_ && op.queue_id != *only_) return;
  ++ops_;
  // A group publish's dedup id is kept under the group's id, marked.
  const bool group_dedup =
      op.type == LogOpType::kDedup && (op.queue_id & store::kGroupDedupBit) != 0;
  std::string name = group_dedup ? std::string() : QueueName(op.queue_id);
  if (options_.json) {
    std::string& out = *ops_json;
    if (!*first_op) out += ',';
    *first_op = false;
    out += '{';
    JsonFields f(&out);
    f.Str("op", LogOpName(op.type));
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
        AppendEnvelopeJson(f, &out, op.envelope);
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
        f.Num("seq", op.seq);
        f.Num("msg_id", op.msg_id);
        f.Num("bytes", op.bytes);
        f.Num("expires_ms", op.expires_ms);
        break;
    }
    out += '}';
    return;
  }
  std::string& out = out_.text();
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
    case LogOpType::kDelivered:
      out += "  delivered " + queue + " seq " + std::to_string(op.seq) + ", delivery count " +
             std::to_string(op.delivery_count) + "\n";
      break;
    case LogOpType::kConfigure:
      out += "  configure " + queue + " (" + std::to_string(op.settings.size()) +
             " bytes of settings)\n";
      break;
    case LogOpType::kDedup:
      out += "  dedup id ";
      AppendJsonString(&out, op.dedup_id);
      out += " for " + queue + (group_dedup ? "" : " seq " + std::to_string(op.seq)) + "  msg " +
             std::to_string(op.msg_id) + "\n";
      break;
    case LogOpType::kEntry:
      out += "  fan-out entry in " + queue + " seq " + std::to_string(op.seq) + "  msg " +
             std::to_string(op.msg_id) + "  " + std::to_string(op.bytes) + " bytes\n";
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
    std::string ops_json;
    bool first_op = true;
    if (!options_.json) {
      out += "log record " + std::to_string(record.batch_no) + " (" +
             std::to_string(record.bytes.size()) + " bytes in " +
             Count(record.chunks, "chunk", "chunks") + "), not yet applied:\n";
    }
    store::LogReader reader(record.bytes);
    store::LogOp op;
    while (reader.Next(&op)) DumpOp(op, &ops_json, &first_op);
    bool any = ops_ != ops_before;
    if (!options_.json && !any && only_ && reader.status().ok()) {
      out.resize(mark);  // nothing about this queue in the record
    }
    if (options_.json && (any || !only_)) {
      out += '{';
      JsonFields f(&out);
      f.Str("kind", "log_record");
      f.Num("batch", record.batch_no);
      f.Num("bytes", record.bytes.size());
      f.Num("chunks", record.chunks);
      f.Key("ops");
      out += '[';
      out += ops_json;
      out += ']';
      if (!reader.status().ok()) f.Str("error", reader.status().message());
      out += "}\n";
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
      out += '{';
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
      out += "}\n";
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

int DbDump(const DbOptions& options) {
  Result<std::unique_ptr<store::LmdbEnv>> env = OpenReadOnly(options.data_dir);
  if (!env.ok()) return Fail(env.status().message());
  Dumper dumper(env->get(), options);
  return dumper.Run();
}

// ---------------------------------------------------------------------------
// hermod db check
//
// The invariants, from store.cc and groups.cc:
// - every index entry names a queue with a queue_state row and a stored
//   message; queue_state's depth and bytes count exactly the queue's index
//   entries (the unapplied log is not counted), and last_seq is at least
//   every indexed seq;
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
  void CheckRefRows();
  void CheckGroups();
  void CheckQueueConfig();
  void CheckIdCounters();
  void NoteMsgId(MsgId id) { max_msg_id_ = std::max(max_msg_id_, id); }
  void NoteQueueId(QueueId id) { max_queue_id_ = std::max(max_queue_id_, id); }

  KvTxn& txn_;
  std::vector<std::string> problems_;
  std::optional<store::Counters> counters_;
  std::unordered_map<QueueId, store::QueueState> states_;
  std::unordered_map<QueueId, QueueCount> counted_;
  // Who holds each message: index entries, kEntry operations in the log,
  // unfinished fan-out jobs.
  std::unordered_map<MsgId, uint64_t> index_refs_;
  std::unordered_map<MsgId, uint64_t> log_refs_;
  std::unordered_map<MsgId, uint64_t> job_refs_;
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
  if (!meta.counters_present) {
    Problem("meta has no id counters");
  } else if (!meta.counters) {
    Problem("meta's id counters are not 40 bytes");
  }
  counters_ = meta.counters;
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

    std::string_view envelope;
    uint64_t expires_ms = 0;
    if (txn_.Get(Table::kMessages, store::U64Key(entry.msg_id).view(), &envelope)) {
      expires_ms = store::Store::EnvelopeExpiry(envelope);
    } else {
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
  // A job is a header (job id) and its member list (job id · 'm').
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
    if (!envelope.Parse(cursor->value())) Problem(message + " has a malformed envelope");
    uint64_t in_index = held(index_refs_, msg_id);
    uint64_t in_log = held(log_refs_, msg_id);
    uint64_t in_jobs = held(job_refs_, msg_id);
    uint64_t holders = in_index + in_log + in_jobs;
    auto who = [&] {
      return std::to_string(in_index) + " index entries, " + std::to_string(in_log) +
             " fan-out entries in the unapplied log, " + std::to_string(in_jobs) +
             " unfinished fan-out jobs";
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
  std::unique_ptr<KvCursor> cursor = txn_.Cursor(Table::kGroups);
  if (!cursor) return;
  for (bool ok = cursor->First(); ok; ok = cursor->Next()) {
    std::string_view key = cursor->key();
    size_t zero = key.find('\0');
    if (zero == std::string_view::npos) {
      Problem("groups has a key without a zero byte");
      continue;
    }
    std::string group(key.substr(0, zero));
    if (cursor->value().size() != 8) {
      Problem("member '" + std::string(key.substr(zero + 1)) + "' of group '" + group +
              "' holds a queue id of " + std::to_string(cursor->value().size()) + " bytes");
    }
    ++rows[group];
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
  if (!counters_) return;
  auto check = [&](const char* what, uint64_t max_used, uint64_t next) {
    if (max_used >= next) {
      Problem(std::string("the next ") + what + " id in meta is " + std::to_string(next) +
              ", but " + std::to_string(max_used) + " is in use");
    }
  };
  check("message", max_msg_id_, counters_->next_msg_id);
  check("queue", max_queue_id_, counters_->next_queue_id);
  check("batch", max_batch_no_, counters_->next_batch_no);
  check("job", max_job_id_, counters_->next_job_id);
  check("group", max_group_id_, counters_->next_group_id);
}

int DbCheck(const DbOptions& options) {
  Result<std::unique_ptr<store::LmdbEnv>> env = OpenReadOnly(options.data_dir);
  if (!env.ok()) return Fail(env.status().message());
  // One snapshot: see the comment at the top of this file.
  Result<std::unique_ptr<KvTxn>> txn = (*env)->BeginRead();
  if (!txn.ok()) return Fail(txn.status().message());
  Checker checker(**txn);
  Status s = checker.Run();
  txn->reset();
  if (!s.ok()) return Fail("cannot check " + options.data_dir + ": " + s.message());

  const std::vector<std::string>& problems = checker.problems();
  std::string out;
  if (options.json) {
    out += '{';
    JsonFields f(&out);
    f.Str("data_dir", options.data_dir);
    f.Bool("ok", problems.empty());
    f.Key("problems");
    out += '[';
    for (size_t i = 0; i < problems.size(); ++i) {
      if (i > 0) out += ',';
      AppendJsonString(&out, problems[i]);
    }
    out += ']';
    f.Num("queues", checker.queues);
    f.Num("entries", checker.entries);
    f.Num("messages", checker.messages);
    f.Num("log_records", checker.log_records);
    f.Num("fanout_jobs", checker.fanout_jobs);
    f.Num("groups", checker.groups);
    out += "}\n";
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

// ---------------------------------------------------------------------------
// hermod db backup

Status SyncPath(const std::string& path, bool directory) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return Status::IoError("cannot open " + path + ": " + std::strerror(errno));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return Status::IoError("cannot sync " + path + ": " + std::strerror(err));
  return Status::OK();
}

// Copies the environment into `to` (an empty directory). The copy is the
// snapshot of the moment it starts (LMDB blocks writers only while it reads
// the meta pages), so everything committed before, confirmed publishes
// included, is in it.
Status CopyEnvironment(store::LmdbEnv& env, const std::string& to, bool compact) {
  const std::string file = to + "/data.mdb";
  Status s;
  // Bounded: a retry only follows the broker growing the map meanwhile.
  for (int attempt = 0; attempt < 3; ++attempt) {
    {
      // A read transaction adopts a map the broker grew since the open,
      // which mdb_env_copy2's own transaction would refuse.
      Result<std::unique_ptr<KvTxn>> txn = env.BeginRead();
      if (!txn.ok()) return txn.status();
    }
    s = env.CopyTo(to, compact);
    if (s.ok()) break;
    std::remove(file.c_str());  // mdb_env_copy2 creates the file exclusively
    if (s.message().find("MDB_MAP_RESIZED") == std::string::npos) return s;
  }
  if (!s.ok()) return s;
  if (Status synced = SyncPath(file, false); !synced.ok()) return synced;
  return SyncPath(to, true);
}

int DbBackup(const DbOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string& to = options.to;
  bool created = false;
  fs::file_status target = fs::status(to, ec);
  if (fs::exists(target)) {
    if (!fs::is_directory(target)) return Fail(to + " exists and is not a directory");
    if (!fs::is_empty(to, ec) || ec) {
      return Fail(to + " exists and is not empty; back up into a new or empty directory");
    }
  } else {
    fs::create_directories(to, ec);
    if (ec) return Fail("cannot create " + to + ": " + ec.message());
    created = true;
  }
  auto fail = [&](const std::string& message) {
    // Leave nothing half-written behind.
    std::remove((to + "/data.mdb").c_str());
    if (created) fs::remove(to, ec);
    return Fail(message);
  };

  Result<std::unique_ptr<store::LmdbEnv>> env = OpenReadOnly(options.data_dir);
  if (!env.ok()) return fail(env.status().message());
  if (Status s = CopyEnvironment(**env, to, options.compact); !s.ok()) {
    return fail("backup of " + options.data_dir + " failed: " + s.message());
  }
  if (created) {
    fs::path parent = fs::absolute(fs::path(to), ec).parent_path();
    if (!ec) {
      if (Status s = SyncPath(parent.string(), true); !s.ok()) return fail(s.message());
    }
  }
  uint64_t bytes = fs::file_size(to + "/data.mdb", ec);
  std::string line = "backed up " + options.data_dir + " to " + to + ": " + FormatBytes(bytes) +
                     (options.compact ? " (compacted)" : "") + "\n";
  if (!WriteOut(line)) return Fail("cannot write to stdout");
  return kExitOk;
}

// ---------------------------------------------------------------------------
// Registration

CLI::App* AddDbSubcommand(CLI::App& db, const char* name, const char* description,
                          const std::shared_ptr<DbOptions>& options) {
  CLI::App* sub = db.add_subcommand(name, description);
  sub->add_option("--data-dir", options->data_dir, "The broker's data directory (DIR)")
      ->type_name("DIR")
      ->required();
  return sub;
}

template <typename Run>
void SetRun(CLI::App* sub, GlobalOptions& global, const std::shared_ptr<DbOptions>& options,
            Run run) {
  sub->callback([options, &global, run] { global.run = [options, run] { return run(*options); }; });
}

}  // namespace

void AddDbCommand(CLI::App& app, GlobalOptions& global) {
  CLI::App* db = app.add_subcommand(
      "db", "Offline tools on a data directory: read-only, safe while hermodd runs");
  db->require_subcommand(1);

  auto stat_options = std::make_shared<DbOptions>();
  CLI::App* stat_command = AddDbSubcommand(
      *db, "stat", "LMDB and per-table statistics, counts, schema version, the unapplied log",
      stat_options);
  stat_command->add_flag("--json", stat_options->json, "One JSON object");
  SetRun(stat_command, global, stat_options, DbStat);

  auto dump_options = std::make_shared<DbOptions>();
  CLI::App* dump = AddDbSubcommand(
      *db, "dump", "Entries with their messages, and the log records not yet applied",
      dump_options);
  dump->add_option("--queue", dump_options->queue, "Only this queue")->type_name("QUEUE");
  dump->add_flag("--json", dump_options->json, "One JSON object per line");
  SetRun(dump, global, dump_options, DbDump);

  auto check_options = std::make_shared<DbOptions>();
  CLI::App* check = AddDbSubcommand(
      *db, "check",
      "Check consistency: exit 0 when consistent, 2 with the list of problems otherwise",
      check_options);
  check->add_flag("--json", check_options->json, "One JSON object");
  SetRun(check, global, check_options, DbCheck);

  auto backup_options = std::make_shared<DbOptions>();
  CLI::App* backup = AddDbSubcommand(
      *db, "backup", "A consistent copy of the store, taken while hermodd runs", backup_options);
  backup->add_option("--to", backup_options->to, "A new (or empty) directory for the copy")
      ->type_name("PATH")
      ->required();
  backup->add_flag("--compact", backup_options->compact, "Leave free pages out of the copy");
  SetRun(backup, global, backup_options, DbBackup);
}

}  // namespace hermod::cli
