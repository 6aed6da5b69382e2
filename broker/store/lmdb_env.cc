#include "lmdb_env.h"

#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <mutex>

#include "mdb_status.h"

namespace hermod::store {

namespace {

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

// Stands for a table that a read-only open did not find (LmdbEnv::kAbsent).
class EmptyCursor final : public KvCursor {
 public:
  bool Seek(std::string_view) override { return false; }
  bool First() override { return false; }
  bool Last() override { return false; }
  bool Next() override { return false; }
  bool Prev() override { return false; }
  std::string_view key() const override { return {}; }
  std::string_view value() const override { return {}; }
  bool DeleteAndNext() override { return false; }
};

class LmdbTxn;
void RecordError(LmdbTxn* txn, int rc, const char* what);

class LmdbCursor final : public KvCursor {
 public:
  LmdbCursor(MDB_cursor* cursor, LmdbTxn* txn) : cursor_(cursor), txn_(txn) {}
  ~LmdbCursor() override { mdb_cursor_close(cursor_); }

  bool Seek(std::string_view key) override {
    // LMDB refuses a zero-length key (MDB_BAD_VALSIZE); every key is >= "".
    if (key.empty()) return Op(MDB_FIRST);
    key_ = Val(key);
    return Op(MDB_SET_RANGE);
  }
  bool First() override { return Op(MDB_FIRST); }
  bool Last() override { return Op(MDB_LAST); }
  bool Next() override { return Op(MDB_NEXT); }
  bool Prev() override { return Op(MDB_PREV); }
  std::string_view key() const override { return View(key_); }
  std::string_view value() const override { return View(value_); }
  bool DeleteAndNext() override {
    int rc = mdb_cursor_del(cursor_, 0);
    if (rc != MDB_SUCCESS) {
      RecordError(txn_, rc, "cursor delete");
      return false;
    }
    // After a delete LMDB marks the cursor (C_DEL) so that MDB_NEXT reads
    // the item that followed the deleted one instead of skipping it.
    return Op(MDB_NEXT);
  }

 private:
  bool Op(MDB_cursor_op op) {
    int rc = mdb_cursor_get(cursor_, &key_, &value_, op);
    if (rc == MDB_SUCCESS) return true;
    if (rc != MDB_NOTFOUND) RecordError(txn_, rc, "cursor");
    return false;
  }

  MDB_cursor* cursor_;
  LmdbTxn* txn_;
  MDB_val key_{};
  MDB_val value_{};
};

class LmdbTxn final : public KvTxn {
 public:
  LmdbTxn(MDB_txn* txn, const MDB_dbi* dbi, std::shared_lock<std::shared_mutex> lock)
      : txn_(txn), dbi_(dbi), lock_(std::move(lock)) {}
  ~LmdbTxn() override {
    if (txn_) mdb_txn_abort(txn_);
  }

  bool Get(Table table, std::string_view key, std::string_view* value) override {
    if (!status_.ok() || dbi_[static_cast<int>(table)] == LmdbEnv::kAbsent) return false;
    MDB_val k = Val(key), v;
    int rc = mdb_get(txn_, dbi_[static_cast<int>(table)], &k, &v);
    if (rc == MDB_SUCCESS) {
      *value = View(v);
      return true;
    }
    if (rc != MDB_NOTFOUND) Record(rc, "get");
    return false;
  }

  void Put(Table table, std::string_view key, std::string_view value, bool append) override {
    if (!status_.ok()) return;
    MDB_val k = Val(key), v = Val(value);
    int rc = mdb_put(txn_, dbi_[static_cast<int>(table)], &k, &v, append ? MDB_APPEND : 0);
    if (rc != MDB_SUCCESS) Record(rc, std::string("put into ") + TableName(table));
  }

  bool Del(Table table, std::string_view key) override {
    if (!status_.ok() || dbi_[static_cast<int>(table)] == LmdbEnv::kAbsent) return false;
    MDB_val k = Val(key);
    int rc = mdb_del(txn_, dbi_[static_cast<int>(table)], &k, nullptr);
    if (rc == MDB_SUCCESS) return true;
    if (rc != MDB_NOTFOUND) Record(rc, std::string("delete from ") + TableName(table));
    return false;
  }

  std::unique_ptr<KvCursor> Cursor(Table table) override {
    if (dbi_[static_cast<int>(table)] == LmdbEnv::kAbsent) return std::make_unique<EmptyCursor>();
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn_, dbi_[static_cast<int>(table)], &cursor);
    if (rc != MDB_SUCCESS) {
      Record(rc, "cursor open");
      return nullptr;
    }
    return std::make_unique<LmdbCursor>(cursor, this);
  }

  Status Commit() override {
    if (!status_.ok()) return status_;
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;  // commit frees the handle, whatever it returns
    if (rc != MDB_SUCCESS) Record(rc, "commit");
    return status_;
  }

  void Record(int rc, const std::string& what) { Fail(FromMdb(rc, what), rc == MDB_MAP_FULL); }

 private:
  MDB_txn* txn_;
  const MDB_dbi* dbi_;
  std::shared_lock<std::shared_mutex> lock_;  // held by read transactions only
};

void RecordError(LmdbTxn* txn, int rc, const char* what) { txn->Record(rc, what); }

// mdb_txn_begin, adopting the map size when another process (the broker)
// grew the map since this one last looked.
int BeginMdbTxn(MDB_env* env, unsigned flags, MDB_txn** txn) {
  int rc = mdb_txn_begin(env, nullptr, flags, txn);
  if (rc == MDB_MAP_RESIZED) {
    mdb_env_set_mapsize(env, 0);
    rc = mdb_txn_begin(env, nullptr, flags, txn);
  }
  return rc;
}

// mdb_reader_list's callback: a header line, then one line per reader
// ("pid thread txnid", txnid "-" for a slot without a snapshot).
int CountReader(const char* line, void* arg) noexcept {
  auto* stats = static_cast<LmdbEnvStats*>(arg);
  int pid = 0;
  unsigned long thread = 0;
  char txn[32] = {};
  if (std::sscanf(line, "%d %lx %31s", &pid, &thread, txn) != 3) return 0;
  ++stats->active_readers;
  if (txn[0] != '-') {
    uint64_t txn_id = std::strtoull(txn, nullptr, 10);
    if (stats->oldest_reader_txn == 0 || txn_id < stats->oldest_reader_txn) {
      stats->oldest_reader_txn = txn_id;
    }
  }
  return 0;
}

}  // namespace

const char* SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kAlways:
      return "always";
    case SyncMode::kBatch:
      return "batch";
    case SyncMode::kNone:
      return "none";
  }
  return "?";
}

Result<SyncMode> ParseSyncMode(std::string_view text) {
  if (text == "always") return SyncMode::kAlways;
  if (text == "batch") return SyncMode::kBatch;
  if (text == "none") return SyncMode::kNone;
  return Status::InvalidArgument("sync mode must be always, batch or none, not '" +
                                 std::string(text) + "'");
}

Result<std::unique_ptr<LmdbEnv>> LmdbEnv::Open(const std::string& dir, const LmdbOptions& options) {
  std::unique_ptr<LmdbEnv> env(new LmdbEnv());
  env->options_ = options;
  env->dir_ = dir;
  int rc = mdb_env_create(&env->env_);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_create");
  mdb_env_set_maxdbs(env->env_, kTableCount + 2);
  // Readers: the loop thread, tools in other processes, a margin.
  mdb_env_set_maxreaders(env->env_, 256);
  if (!options.read_only) mdb_env_set_mapsize(env->env_, options.map_bytes);

  // MDB_NOTLS: a reader slot belongs to the transaction, not the thread, so
  // the loop thread may hold more than one short read at a time.
  // MDB_NORDAHEAD: B-tree reads are random; the kernel's readahead would
  // only fill the mapping (and the broker's RSS) with pages nobody asked for.
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  if (options.read_only) flags |= MDB_RDONLY;
  // "always": one flush per commit (the data); the meta page is flushed by
  // the next commit or sync, before the batch counts as durable
  // (storage_thread.h). LMDB keeps the store intact either way.
  if (options.sync == SyncMode::kAlways) flags |= MDB_NOMETASYNC;
  if (options.sync == SyncMode::kBatch) flags |= MDB_NOSYNC;
  if (options.sync == SyncMode::kNone) flags |= MDB_NOSYNC | MDB_NOMETASYNC;
  rc = mdb_env_open(env->env_, dir.c_str(), flags, 0644);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "open LMDB environment in " + dir);
  // A reader killed without closing leaves a slot that pins old pages.
  int dead = 0;
  mdb_reader_check(env->env_, &dead);
  Status s = env->OpenTables();
  if (!s.ok()) return s;
  return env;
}

LmdbEnv::~LmdbEnv() {
  if (env_) {
    if (options_.sync != SyncMode::kAlways && !options_.read_only) mdb_env_sync(env_, 1);
    mdb_env_close(env_);
  }
}

Status LmdbEnv::OpenTables() {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, options_.read_only ? MDB_RDONLY : 0, &txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "begin");
  for (int i = 0; i < kTableCount; ++i) {
    const char* name = TableName(static_cast<Table>(i));
    rc = mdb_dbi_open(txn, name, options_.read_only ? 0 : MDB_CREATE, &dbi_[i]);
    // A store no newer build has written lacks the tables added since; read
    // (by tools), they are empty. Only the broker's writable open adds them.
    Table table = static_cast<Table>(i);
    if (rc == MDB_NOTFOUND && options_.read_only &&
        (table == Table::kMessageChunks || table == Table::kPartitionLog ||
         table == Table::kStaged)) {
      dbi_[i] = kAbsent;
      continue;
    }
    if (rc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return FromMdb(rc, std::string("open table ") + name + " in " + dir_ +
                             " (is this a hermod data directory?)");
    }
  }
  return FromMdb(mdb_txn_commit(txn), "commit table opening");
}

Result<std::unique_ptr<KvTxn>> LmdbEnv::Begin(bool read_only) {
  std::shared_lock<std::shared_mutex> lock;
  if (read_only) lock = std::shared_lock<std::shared_mutex>(resize_mu_);
  MDB_txn* txn = nullptr;
  int rc = BeginMdbTxn(env_, read_only ? MDB_RDONLY : 0, &txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "begin transaction");
  return std::unique_ptr<KvTxn>(new LmdbTxn(txn, dbi_, std::move(lock)));
}

Result<std::unique_ptr<KvTxn>> LmdbEnv::BeginRead() { return Begin(true); }
Result<std::unique_ptr<KvTxn>> LmdbEnv::BeginWrite() { return Begin(false); }

Status LmdbEnv::Sync() { return FromMdb(mdb_env_sync(env_, 1), "sync"); }

Status LmdbEnv::GrowMap() {
  std::unique_lock<std::shared_mutex> lock(resize_mu_);
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  uint64_t next = info.me_mapsize * 2;
  if (options_.max_map_bytes != 0 && next > options_.max_map_bytes) {
    if (info.me_mapsize >= options_.max_map_bytes) {
      return Status::StorageFull("the store reached its limit of " +
                                 std::to_string(options_.max_map_bytes) + " bytes");
    }
    next = options_.max_map_bytes;
  }
  return FromMdb(mdb_env_set_mapsize(env_, next), "grow map");
}

KvStats LmdbEnv::Stats() {
  KvStats stats;
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  MDB_stat env_stat;
  mdb_env_stat(env_, &env_stat);
  stats.map_bytes = info.me_mapsize;
  stats.page_bytes = env_stat.ms_psize;
  stats.used_bytes = (info.me_last_pgno + 1) * uint64_t{env_stat.ms_psize};
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  MDB_txn* raw = nullptr;
  if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw) == MDB_SUCCESS) {
    for (int i = 0; i < kTableCount; ++i) {
      MDB_stat s;
      if (dbi_[i] == kAbsent) continue;
      if (mdb_stat(raw, dbi_[i], &s) == MDB_SUCCESS) stats.entries[i] = s.ms_entries;
    }
    mdb_txn_abort(raw);
  }
  return stats;
}

Result<uint64_t> LmdbEnv::FreePages(MDB_txn* txn) {
  // The freelist is LMDB's database 0: each value is a list of page
  // numbers whose first word is its length (as mdb_stat -f counts).
  MDB_cursor* raw_cursor = nullptr;
  int rc = mdb_cursor_open(txn, 0, &raw_cursor);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "open the freelist");
  std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> cursor(raw_cursor, &mdb_cursor_close);
  uint64_t free_pages = 0;
  MDB_val key, value;
  while ((rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_NEXT)) == MDB_SUCCESS) {
    size_t pages = 0;
    if (value.mv_size >= sizeof(pages)) std::memcpy(&pages, value.mv_data, sizeof(pages));
    free_pages += pages;
  }
  if (rc != MDB_NOTFOUND) return FromMdb(rc, "read the freelist");
  return free_pages;
}

uint64_t LmdbEnv::Headroom(uint64_t exact_below) {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  MDB_stat env_stat;
  mdb_env_stat(env_, &env_stat);
  uint64_t page = env_stat.ms_psize;
  uint64_t used = (info.me_last_pgno + 1) * page;
  // The data file grows by the pages written past its end, so the disk
  // bounds the store as well as the configured maximum does.
  uint64_t room = UINT64_MAX;
  struct statvfs disk;
  if (statvfs(dir_.c_str(), &disk) == 0) room = uint64_t{disk.f_bavail} * disk.f_frsize;
  if (options_.max_map_bytes != 0) {
    room = std::min(room, options_.max_map_bytes > used ? options_.max_map_bytes - used : 0);
  }
  if (room >= exact_below) return room;
  // Near the limit: pages freed by acks and applied log records are
  // reused before the file grows, so they count.
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  MDB_txn* raw_txn = nullptr;
  if (BeginMdbTxn(env_, MDB_RDONLY, &raw_txn) != MDB_SUCCESS) return room;
  Result<uint64_t> free_pages = FreePages(raw_txn);
  mdb_txn_abort(raw_txn);
  return free_pages.ok() ? room + *free_pages * page : room;
}

Result<LmdbEnvStats> LmdbEnv::DetailedStats() {
  LmdbEnvStats out;
  // Readers first, while this call holds none.
  mdb_reader_list(env_, CountReader, &out);
  unsigned int max_readers = 0;
  mdb_env_get_maxreaders(env_, &max_readers);
  out.max_readers = max_readers;

  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  MDB_txn* raw_txn = nullptr;
  int rc = BeginMdbTxn(env_, MDB_RDONLY, &raw_txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "begin transaction");
  std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> txn(raw_txn, &mdb_txn_abort);

  MDB_envinfo info;
  mdb_env_info(env_, &info);
  MDB_stat env_stat;
  mdb_env_stat(env_, &env_stat);
  out.map_bytes = info.me_mapsize;
  out.page_bytes = env_stat.ms_psize;
  out.pages_used = info.me_last_pgno + 1;
  out.last_txn = info.me_last_txnid;
  out.reader_slots_used = info.me_numreaders;
  for (int i = 0; i < kTableCount; ++i) {
    MDB_stat s;
    if (dbi_[i] == kAbsent) continue;
    rc = mdb_stat(txn.get(), dbi_[i], &s);
    if (rc != MDB_SUCCESS) {
      return FromMdb(rc, std::string("stat table ") + TableName(static_cast<Table>(i)));
    }
    out.tables[i] = LmdbTableStats{s.ms_entries, s.ms_depth, s.ms_branch_pages, s.ms_leaf_pages,
                                   s.ms_overflow_pages};
  }
  Result<uint64_t> free_pages = FreePages(txn.get());
  if (!free_pages.ok()) return free_pages.status();
  out.free_pages = *free_pages;

  struct stat file;
  if (stat((dir_ + "/data.mdb").c_str(), &file) == 0) {
    out.file_bytes = static_cast<uint64_t>(file.st_size);
  }
  return out;
}

void LmdbEnv::ReleaseMappedPages() {
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  // LMDB does not tell where it mapped the file unless MDB_FIXEDMAP; the
  // process's own map list does.
  std::string data_file = dir_ + "/data.mdb";
  char resolved[PATH_MAX];
  if (realpath(data_file.c_str(), resolved) != nullptr) data_file = resolved;
  FILE* maps = std::fopen("/proc/self/maps", "r");
  if (maps == nullptr) return;
  char line[PATH_MAX + 128];
  while (std::fgets(line, sizeof(line), maps) != nullptr) {
    std::string_view text(line);
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (text.size() < data_file.size() ||
        text.substr(text.size() - data_file.size()) != data_file) {
      continue;
    }
    unsigned long start = 0, end = 0;
    if (std::sscanf(line, "%lx-%lx", &start, &end) == 2 && end > start) {
      madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
    }
  }
  std::fclose(maps);
}

Status LmdbEnv::CopyTo(const std::string& path, bool compact) {
  return FromMdb(mdb_env_copy2(env_, path.c_str(), compact ? MDB_CP_COMPACT : 0),
                 "copy environment to " + path);
}

}  // namespace hermod::store
