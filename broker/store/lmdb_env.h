// LmdbEnv: the KvEnv on LMDB, one environment in one data directory.
//
// Every table is a named LMDB database, opened once at Open() in one
// committed transaction. Write transactions run on the storage thread only
// (LMDB has one writer); read transactions may run on any thread and must be
// short (a long reader stops LMDB from reusing freed pages).
//
// Sync modes (--sync): kAlways commits with LMDB's default flushes (durable
// against power loss once Commit returns); kBatch commits with MDB_NOSYNC and
// relies on Sync() from a timer (survives a process crash; a power loss can
// lose the last batches); kNone never syncs (tests and benchmarks).
//
// The map grows when full (GrowMap, doubling up to max_map_bytes). LMDB
// requires that no transaction be active in the process while the map size
// changes, so read transactions hold a shared lock that GrowMap takes
// exclusively.
#ifndef HERMOD_BROKER_STORE_LMDB_ENV_H_
#define HERMOD_BROKER_STORE_LMDB_ENV_H_

#include <lmdb.h>

#include <memory>
#include <shared_mutex>
#include <string>

#include "kv.h"
#include "sync_mode.h"

namespace hermod::store {

struct LmdbOptions {
  SyncMode sync = SyncMode::kAlways;
  uint64_t map_bytes = 1ull << 30;  // initial map size; grows by doubling
  uint64_t max_map_bytes = 0;       // 0: no limit but the disk
  bool read_only = false;           // tools: hermod db ...
};

// LMDB's own statistics of one table (mdb_stat).
struct LmdbTableStats {
  uint64_t entries = 0;
  uint64_t depth = 0;  // of the B-tree
  uint64_t branch_pages = 0;
  uint64_t leaf_pages = 0;
  uint64_t overflow_pages = 0;
};

// What LMDB knows about the environment, as its mdb_stat tool shows it:
// for `hermod db stat`. Plain values, copied out of one read transaction.
struct LmdbEnvStats {
  uint64_t map_bytes = 0;
  uint64_t page_bytes = 0;
  uint64_t pages_used = 0;  // the highest page in use + 1
  uint64_t free_pages = 0;  // in LMDB's freelist: reusable
  uint64_t last_txn = 0;
  uint64_t file_bytes = 0;  // the size of data.mdb
  uint32_t max_readers = 0;
  uint32_t reader_slots_used = 0;      // slots ever taken (LMDB never shrinks it)
  uint32_t active_readers = 0;         // in every process
  uint64_t oldest_reader_txn = 0;      // 0: no reader holds a snapshot
  LmdbTableStats tables[kTableCount];  // indexed by Table
};

class LmdbEnv final : public KvEnv {
 public:
  // Opens (creating when writable) the environment in `dir`, which must
  // exist. REQUIRES: no other LmdbEnv on `dir` in this process.
  static Result<std::unique_ptr<LmdbEnv>> Open(const std::string& dir, const LmdbOptions& options);
  ~LmdbEnv() override;

  Result<std::unique_ptr<KvTxn>> BeginRead() override;
  Result<std::unique_ptr<KvTxn>> BeginWrite() override;
  Status Sync() override;
  Status GrowMap() override;
  KvStats Stats() override;
  uint64_t Headroom(uint64_t exact_below) override;

  // Unmaps the pages of the data file this process touched so far (they stay
  // in the page cache; a later read faults them back in). Called after
  // recovery, whose applying of the log tail touches many pages that steady
  // state never reads again, and while running when many queues went idle
  // (server/memory_return.h). Without MDB_WRITEMAP the map is read-only, so
  // nothing is lost. Any thread: it holds off GrowMap, whose remap would
  // otherwise let it advise memory that is no longer the map.
  void ReleaseMappedPages();

  // LMDB's statistics of the environment, its reader table and every
  // table (KvEnv::Stats() has entry counts only), read with this env's own
  // handles in one short read transaction. The reader table is read before
  // that transaction begins, so it is not counted; read transactions the
  // caller holds are. Any thread.
  Result<LmdbEnvStats> DetailedStats();

  // Copies the environment to `path` (a directory), consistently, while
  // writers run; with compact, free pages are left out (mdb_env_copy2).
  Status CopyTo(const std::string& path, bool compact);

  // The handle of a table that a read-only open did not find: a store from
  // before the table existed. Its transactions see it empty.
  static constexpr MDB_dbi kAbsent = ~MDB_dbi{0};

 private:
  LmdbEnv() = default;
  // Pages in LMDB's freelist (reusable), counted in a read transaction.
  Result<uint64_t> FreePages(MDB_txn* txn);
  Status OpenTables();
  Result<std::unique_ptr<KvTxn>> Begin(bool read_only);

  MDB_env* env_ = nullptr;
  MDB_dbi dbi_[kTableCount] = {};
  LmdbOptions options_;
  std::string dir_;
  std::shared_mutex resize_mu_;  // shared: open read txns; exclusive: GrowMap
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_LMDB_ENV_H_
