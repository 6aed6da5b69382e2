// `hermod db stat`: LMDB's statistics of the environment and of every table
// (LmdbEnv::DetailedStats), the meta rows, the unapplied log and the
// unfinished fan-out jobs, as text for people or one JSON object (--json).
// Main thread only.
#include <cstdio>
#include <memory>
#include <string>

#include "cli.h"
#include "db_common.h"
#include "keys.h"
#include "kv.h"
#include "lmdb_env.h"

namespace hermod::cli::db {

using store::BatchNo;
using store::KvCursor;
using store::KvEnv;
using store::KvTxn;
using store::Table;

namespace {

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

uint64_t Entries(const store::LmdbEnvStats& stat, Table table) {
  return stat.tables[static_cast<int>(table)].entries;
}

std::string StatJson(const std::string& dir, const store::LmdbEnvStats& lmdb,
                     const StoreSummary& summary) {
  Json root;
  root["data_dir"] = dir;
  root["schema_version"] =
      summary.meta.schema_version ? Json(*summary.meta.schema_version) : Json(nullptr);
  root["lmdb"] = Json{{"map_bytes", lmdb.map_bytes},
                      {"used_bytes", lmdb.pages_used * lmdb.page_bytes},
                      {"file_bytes", lmdb.file_bytes},
                      {"page_bytes", lmdb.page_bytes},
                      {"pages_used", lmdb.pages_used},
                      {"free_pages", lmdb.free_pages},
                      {"last_txn", lmdb.last_txn},
                      {"readers", Json{{"active", lmdb.active_readers},
                                       {"max", lmdb.max_readers},
                                       {"slots_used", lmdb.reader_slots_used},
                                       {"oldest_txn", lmdb.oldest_reader_txn}}}};
  Json& tables = root["tables"] = Json::object();
  for (int i = 0; i < store::kTableCount; ++i) {
    const store::LmdbTableStats& t = lmdb.tables[i];
    tables[store::TableName(static_cast<Table>(i))] = Json{{"entries", t.entries},
                                                           {"depth", t.depth},
                                                           {"branch_pages", t.branch_pages},
                                                           {"leaf_pages", t.leaf_pages},
                                                           {"overflow_pages", t.overflow_pages}};
  }
  if (summary.meta.ids) {
    const store::IdCounters& c = *summary.meta.ids;
    root["counters"] = Json{{"next_batch_no", c.next_batch_no},
                            {"next_msg_id", c.next_msg_id},
                            {"next_queue_id", c.next_queue_id},
                            {"next_group_id", c.next_group_id},
                            {"next_job_id", c.next_job_id}};
  } else {
    root["counters"] = nullptr;
  }
  root["queues"] = Entries(lmdb, Table::kQueueState);
  root["messages"] = Entries(lmdb, Table::kMessages);
  root["entries"] = Entries(lmdb, Table::kEntries);
  root["groups"] = Entries(lmdb, Table::kGroupInfo);
  root["fanout_jobs"] = summary.fanout_jobs;
  root["log"] = Json{{"records", summary.log.records},
                     {"bytes", summary.log.bytes},
                     {"chunks", summary.log.chunks},
                     {"first_batch", summary.log.first_batch},
                     {"last_batch", summary.log.last_batch}};
  return DumpJson(root) + "\n";
}

std::string StatText(const std::string& dir, const store::LmdbEnvStats& lmdb,
                     const StoreSummary& summary) {
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
  if (summary.meta.ids) {
    const store::IdCounters& c = *summary.meta.ids;
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
    const store::LmdbTableStats& t = lmdb.tables[i];
    table.AddRow({store::TableName(static_cast<Table>(i)), num(t.entries), num(t.depth),
                  num(t.branch_pages), num(t.leaf_pages), num(t.overflow_pages)});
  }
  out += table.Format();
  return out;
}

}  // namespace

int DbStat(const DbOptions& options) {
  Result<std::unique_ptr<store::LmdbEnv>> env = OpenReadOnly(options.data_dir);
  if (!env.ok()) return Fail(env.status().message());
  Result<store::LmdbEnvStats> lmdb = (*env)->DetailedStats();
  if (!lmdb.ok()) return Fail(lmdb.status().message());
  StoreSummary summary;
  if (Status s = ReadStoreSummary(**env, &summary); !s.ok()) return Fail(s.message());
  std::string out = options.json ? StatJson(options.data_dir, *lmdb, summary)
                                 : StatText(options.data_dir, *lmdb, summary);
  if (!WriteOut(out)) return Fail("cannot write to stdout");
  return kExitOk;
}

}  // namespace hermod::cli::db
