// Store: hermod's storage rules over a KvEnv — the durable log, the index
// behind it, and the reads the loop needs. See docs/design.md ("Storage").
//
// Threads: Open() and Recover() run once at startup before the storage
// thread starts. Commit() runs on the storage thread only. FindQueue,
// ReadEntries and the other reads run on the loop thread (or in tools), each
// in its own short read transaction.
//
// Errors: a commit that fails with anything but a full map is sticky, as
// LevelDB's background error: every later Commit() returns the same status
// without touching the disk, because the loop can no longer know what is
// durable.
#ifndef HERMOD_BROKER_STORE_STORE_H_
#define HERMOD_BROKER_STORE_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hermod/status.h"
#include "keys.h"
#include "kv.h"
#include "message_table.h"
#include "partition_log.h"
#include "write_batch.h"

namespace hermod::store {

// 2: member-of rows in `groups`. 3: large envelopes in `message_chunks`
// (message_table.h); an older build would read their stubs as envelopes.
inline constexpr uint32_t kSchemaVersion = 3;

// The rows of the meta table (their encoding stays in store.cc): the schema
// version, and the id counters that every commit writes. Each reader returns
// NotFound when its row is absent (a store Open() never initialised), a
// StorageError ("corrupt ... in meta") when the row does not decode, or the
// transaction's error when the read failed. Any thread, in the caller's
// transaction.
Result<uint32_t> ReadSchemaVersion(KvTxn& txn);
Result<IdCounters> ReadIdCounters(KvTxn& txn);

struct QueueInfo {
  QueueId queue_id = 0;
  QueueState state;
  std::string config;  // the queue's setting overrides, as the core encoded them
};

struct ExpiredEntry {
  uint64_t expires_ms = 0;
  QueueId queue_id = 0;
  Seq seq = 0;
};

struct StoredEntry {
  Seq seq = 0;
  EntryValue value;
  std::string envelope;
};

// An unfinished fan-out job found at startup.
struct RecoveredFanout {
  uint64_t job_id = 0;
  FanoutHeader header;
  std::vector<QueueId> members;
  std::string envelope;
};

// A forward of a group publish to another partition's members that its
// leader has not confirmed yet (a cluster's; keys.h FanoutForwardKey).
struct RecoveredForward {
  uint64_t job_id = 0;
  PartitionId from = 0;  // the group's
  PartitionId to = 0;
  uint32_t chunk = 0;
  MsgId msg_id = 0;
  uint64_t group_id = 0;
  std::vector<std::string> names;
  std::string envelope;
};

struct GroupSummary {
  std::string name;
  GroupInfoValue info;
};

struct Recovery {
  IdCounters ids;
  // Message ids below this are leased (durable): the loop may hand them out.
  uint64_t msg_id_lease = 0;
  std::vector<RecoveredFanout> fanout_jobs;
  uint64_t records_applied = 0;  // log records found and applied at startup
  uint64_t log_bytes = 0;        // their size
};

class Store {
 public:
  // REQUIRES: env outlives the Store.
  explicit Store(KvEnv* env) : env_(env) {}
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Writes the schema version into a new store, or checks an existing one.
  Status Open();
  // Applies every log record not yet applied to the index (the tail a crash
  // or a stop left), then returns the id counters. Afterwards the log is
  // empty and the index holds the whole state. Calls replay(op) for every
  // operation of that tail, in log order, before applying it (the core
  // takes what lives only in memory from there: core::Broker::ApplyCommitted).
  // Before the storage thread starts: it runs write transactions itself.
  // `id_prefix`: this data directory's (keys.h); the recovered counters
  // start at its range, so a fresh incarnation's first ids are under a
  // durable lease like any others.
  using ReplayFn = std::function<void(const LogOp&)>;
  Result<Recovery> Recover(const ReplayFn& replay = nullptr, uint32_t id_prefix = 0);

  // How a cluster node tells the partition of a queue or group name, for
  // the rebuild of a partition (kDropPartition). Before the storage thread
  // starts.
  void set_partition_of(std::function<PartitionId(std::string_view)> partition_of) {
    partition_of_ = std::move(partition_of);
  }

  // Commits the batch as one write transaction. Storage thread only.
  // Purge counts are written back into the batch.
  Status Commit(WriteBatch& batch);
  Status Commit(WriteBatch&& batch) { return Commit(batch); }

  // Reads (loop thread, tools).
  Result<std::optional<QueueInfo>> FindQueue(std::string_view name);
  Result<std::optional<QueueInfo>> FindQueueById(QueueId queue_id);

  // A cluster node's partition logs (partition_log.h).
  Result<PartitionLogState> ReadPartitionLog(PartitionId partition);
  Status ReadStaged(PartitionId partition, uint64_t from, uint64_t to,
                    std::vector<StagedPart>* out);
  Result<std::vector<PartitionId>> ListPartitionLogs();
  // Appends to *out up to max_entries entries of a queue with
  // from <= seq < end, in seq order, each with its message's envelope copied.
  Status ReadEntries(QueueId queue_id, Seq from, Seq end, size_t max_entries,
                     std::vector<StoredEntry>* out);

  // The record of a publish with this dedup id to this queue, if any.
  Result<std::optional<DedupValue>> FindDedup(QueueId queue_id, std::string_view dedup_id);
  // Appends up to max entries whose expiry time is <= now_ms, soonest first.
  Status ScanExpired(uint64_t now_ms, size_t max, std::vector<ExpiredEntry>* out);
  // Scans up to max_scan dedup records from key `from` (empty: the start),
  // appending the keys of those older than older_than_ms to *expired. Sets
  // *next to the key to continue from, or empty when the table ended.
  Status ScanDedup(std::string_view from, uint64_t older_than_ms, size_t max_scan,
                   std::vector<std::string>* expired, std::string* next);

  // Appends up to `limit` queues whose names start with `prefix`, in name
  // order, after `after`.
  Status ListQueues(std::string_view prefix, std::string_view after, size_t limit,
                    std::vector<QueueInfo>* out);
  // Calls fn(queue_id, state) for every queue with an id >= from, in id
  // order. fn returns false to stop. One read transaction: callers that
  // run on the loop scan in slices.
  Status ForEachQueue(const std::function<bool(QueueId, const QueueState&)>& fn, QueueId from = 0);

  // Groups (store/groups.cc).
  Result<std::optional<GroupInfoValue>> FindGroup(std::string_view name);
  // Appends up to `limit` members of a group, in name order, after `after`.
  Status ReadGroupMembers(std::string_view group, std::string_view after, size_t limit,
                          std::vector<std::pair<std::string, QueueId>>* out);
  // Appends up to `limit` groups whose names start with `prefix`, after `after`.
  Status ListGroups(std::string_view prefix, std::string_view after, size_t limit,
                    std::vector<GroupSummary>* out);

  // Every unfinished fan-out job, as recovery reads them (a cluster's new
  // leader takes over those of its partition).
  Status ReadFanoutJobs(std::vector<RecoveredFanout>* out);
  Status ReadFanoutForwards(std::vector<RecoveredForward>* out);
  // The receipt tally of a group publish's message (keys.h ReceiptTally),
  // if it has one that is not settled yet.
  Result<std::optional<ReceiptTally>> ReadReceiptTally(MsgId msg_id);

  // The expiry time in an encoded envelope (0: none).
  static uint64_t EnvelopeExpiry(std::string_view envelope);

  KvEnv* env() { return env_; }

  // The next Commit() fails with `status` as if the disk had: sticky like
  // an I/O error, but for kStorageFull, which (like a full map that cannot
  // grow) fails that commit only.
  void TEST_FailNextCommit(Status status);

  // The largest slice of a log record stored under one key: small enough
  // that two fit a 4 KiB LMDB page, so records never need overflow pages
  // (which need contiguous free runs and fragment the file).
  static constexpr size_t kLogChunkBytes = 2000;
  // Message ids are leased this many at a time (see Recover).
  static constexpr uint64_t kMsgIdLeaseBlock = 1 << 20;
  // Recovery applies at most this many log bytes per transaction.
  static constexpr size_t kRecoveryTxnBytes = 16 << 20;

 private:
  struct QueueDelta {
    Seq last_seq = 0;
    int64_t depth = 0;
    int64_t bytes = 0;
  };

  Result<Recovery> RecoverLog(const ReplayFn& replay);
  Status CommitOnce(WriteBatch& batch);
  void Purge(KvTxn& txn, PurgeRange* range);
  Status ReadConfig(KvTxn& txn, QueueInfo* info);
  void AppendLog(KvTxn& txn, const WriteBatch& batch);
  Status ApplyRecord(KvTxn& txn, const ApplyStep& step);
  // Applies the AppliedAtCommit operations of the record being committed;
  // what each purge removed goes to *purged.
  Status ApplyAtCommit(KvTxn& txn, std::string_view record, std::vector<PurgeRange>* purged);
  void FlushRefDeltas(KvTxn& txn);
  void WriteQueueDeltas(KvTxn& txn);
  // Groups and fan-out (store/groups.cc).
  void StartFanout(KvTxn& txn, const FanoutStart& start);
  void AdvanceFanout(KvTxn& txn, const FanoutProgress& progress);
  void ApplyGroupChange(KvTxn& txn, const GroupChange& change);
  // kDeleteQueue: forgets the queue's rows and takes it out of its groups.
  void DeleteQueue(KvTxn& txn, QueueId queue_id, std::string_view name);
  // A deleted queue leaves every group it belonged to.
  void LeaveGroups(KvTxn& txn, QueueId queue_id, std::string_view name);
  // Schema 1 to 2: writes the member-of rows of every group member.
  Status IndexGroupMembership(KvTxn& txn);

  KvEnv* env_;
  std::function<PartitionId(std::string_view)> partition_of_;
  // Per-commit scratch, storage thread only: counter changes per queue, and
  // the record being applied.
  std::unordered_map<QueueId, QueueDelta> deltas_;
  std::unordered_map<MsgId, int64_t> ref_deltas_;
  EnvelopeTails envelope_tails_;
  std::string record_;
  Status background_error_;  // storage thread only
  bool last_map_full_ = false;
  std::mutex test_mu_;
  Status test_fail_next_;
  std::atomic<bool> test_fail_armed_{false};
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_STORE_H_
