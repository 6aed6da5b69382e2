// The key-value seam under the store: named tables, transactions, cursors.
//
// Store (store.h) holds every rule of hermod's storage; it reaches bytes only
// through these interfaces, so the same rules run on LMDB (lmdb_env.h) and on
// the in-memory twin (mem_env.h) that tests and the network benchmark use.
//
// Errors are sticky per transaction, like LevelDB's iterator status(): a
// failed Get/Put/Del/cursor step returns false or does nothing, records the
// first error, and every later step of that transaction does nothing.
// Commit() returns it. So code inside a transaction reads straight through,
// and checks once at the end.
//
// A transaction and its cursors belong to the thread that began it; views
// (keys, values) are valid until the next write in that transaction or its
// end, whichever comes first. Cursors must be destroyed before their
// transaction.
#ifndef HERMOD_BROKER_STORE_KV_H_
#define HERMOD_BROKER_STORE_KV_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "hermod/status.h"

namespace hermod::store {

// The tables of the store. The numbers are only array indexes; LMDB knows
// tables by name (TableName). See docs/design.md ("Storage") for layouts.
enum class Table : uint8_t {
  kMeta,           // key -> schema version, id counters
  kLog,            // batch number · chunk -> a slice of the batch's log record
  kMessages,       // message id -> envelope, or the stub of a chunked one
  kRefs,           // message id -> remaining references (shared messages only)
  kEntries,        // queue id · seq -> message id, bytes, delivery count
  kQueues,         // queue name -> queue id
  kQueueState,     // queue id -> counters, creation time, name
  kGroups,         // group name · 0 · member queue name -> member queue id
  kFanout,         // job id -> fan-out job; job id · 'm' -> its member queue ids
  kDedup,          // dedup id · 0 · queue id -> message id, seq, time
  kQueueConfig,    // queue id -> the queue's setting overrides
  kExpiry,         // expiry time · queue id · seq -> (empty): entries that expire
  kGroupInfo,      // group name -> group id, creation time, member count
  kMessageChunks,  // message id · chunk -> a slice of a large envelope
  kPartitionLog,   // a cluster node's partition logs: ends, epochs (partition_log.h)
  kStaged,         // partition · offset · slice -> a follower's staged part
};
inline constexpr int kTableCount = 16;
const char* TableName(Table table);

class KvCursor {
 public:
  virtual ~KvCursor() = default;
  // Positions at the first key >= key. Returns false at the end.
  virtual bool Seek(std::string_view key) = 0;
  virtual bool First() = 0;
  virtual bool Last() = 0;
  virtual bool Next() = 0;
  virtual bool Prev() = 0;
  // REQUIRES: the last positioning call returned true.
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // Deletes the current item and moves to the one after it. Returns false
  // when there is none. Write transactions only.
  virtual bool DeleteAndNext() = 0;
};

class KvTxn {
 public:
  virtual ~KvTxn() = default;  // aborts unless Commit() succeeded

  // Returns false when the key is absent (or on error; see status()).
  virtual bool Get(Table table, std::string_view key, std::string_view* value) = 0;
  // `append` promises the key sorts after every key in the table, which lets
  // LMDB fill pages completely (MDB_APPEND).
  virtual void Put(Table table, std::string_view key, std::string_view value,
                   bool append = false) = 0;
  // Returns false when the key was absent.
  virtual bool Del(Table table, std::string_view key) = 0;
  virtual std::unique_ptr<KvCursor> Cursor(Table table) = 0;

  // Write transactions: makes every change durable as the env's sync mode
  // says, or returns the first error. The transaction is finished either way.
  virtual Status Commit() = 0;

  // The first error met, or OK.
  const Status& status() const { return status_; }
  // True when the error was "the map is full": the caller may grow the map
  // (KvEnv::GrowMap) and run the whole transaction again.
  bool map_full() const { return map_full_; }

 protected:
  void Fail(Status s, bool map_full = false) {
    if (!status_.ok()) return;
    status_ = std::move(s);
    map_full_ = map_full;
  }

  Status status_;
  bool map_full_ = false;
};

struct KvStats {
  uint64_t map_bytes = 0;   // the configured map size
  uint64_t used_bytes = 0;  // pages in use × page size
  uint64_t page_bytes = 0;
  uint64_t entries[kTableCount] = {};
};

class KvEnv {
 public:
  virtual ~KvEnv() = default;
  // Read transactions: loop thread, tools. Keep them short.
  virtual Result<std::unique_ptr<KvTxn>> BeginRead() = 0;
  // Write transactions: the storage thread only.
  virtual Result<std::unique_ptr<KvTxn>> BeginWrite() = 0;
  // Flushes committed transactions to disk (for sync mode "batch").
  virtual Status Sync() = 0;
  // Grows the map after a map-full failure. Returns kStorageFull when the
  // configured maximum is reached. Storage thread only, no write open.
  virtual Status GrowMap() = 0;
  virtual KvStats Stats() = 0;
  // How many more bytes the store can take before a write fails: up to its
  // configured maximum, and no more than the disk holds. Free pages inside
  // the store are counted only when the quick estimate (limit minus the
  // highest page in use) is under `exact_below`, since that walks LMDB's
  // freelist. Storage thread.
  virtual uint64_t Headroom(uint64_t exact_below) = 0;
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_KV_H_
