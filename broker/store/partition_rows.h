// The rows of one partition of a cluster's store, for a rebuild
// (docs/design.md, "Replication": a follower whose copy diverged, or fell
// behind what its leader still keeps, is sent the partition's state instead
// of its log).
//
// A partition's rows are its queues (queues, queue_state, queue_config),
// their entries and expiry rows, its groups (group_info, both key spaces of
// groups), their unfinished fan-out jobs, the dedup rows of those queues
// and groups, and the messages all of these reference (messages,
// message_chunks, refs). In a cluster a message is referenced from one
// partition only: a group's members are in its partition (the broker
// refuses other members), so the rows copy whole. Which names belong to
// the partition is the caller's to say (NameFilter): the store knows no
// hash.
//
// Rows travel as one encoding (AppendRow): table u8, key length u32, key,
// value length u32, value (lengths little-endian). Free functions and a
// scan over the caller's transaction: the leader scans in a read
// transaction held for the whole snapshot (the env runs with MDB_NOTLS, so
// the loop may keep it across turns); a follower drops and puts rows on
// the storage thread, in the commit that applies kDropPartition and
// kPutRows.
#ifndef HERMOD_BROKER_STORE_PARTITION_ROWS_H_
#define HERMOD_BROKER_STORE_PARTITION_ROWS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "hermod/status.h"
#include "keys.h"
#include "kv.h"
#include "partition_log.h"

namespace hermod::store {

// Whether a queue or group name belongs to the partition.
using NameFilter = std::function<bool(std::string_view name)>;

void AppendRow(std::string* out, Table table, std::string_view key, std::string_view value);
// Calls fn for every row of an encoded run. Corruption when it does not
// read, or names a table a snapshot never carries (meta, log, the
// partition logs): nothing after the bad row is passed on.
Status ForEachRow(std::string_view rows,
                  const std::function<void(Table, std::string_view, std::string_view)>& fn);

// Walks the partition's rows in a fixed order of tables, a slice per call.
class PartitionScan {
 public:
  // REQUIRES: txn outlives the scan. `partition` is the one in_partition
  // accepts: rows kept under its number rather than a name (the dedup ids
  // of forwarded publishes) go by it.
  PartitionScan(KvTxn* txn, NameFilter in_partition, PartitionId partition)
      : txn_(txn), in_partition_(std::move(in_partition)), partition_(partition) {}
  PartitionScan(const PartitionScan&) = delete;
  PartitionScan& operator=(const PartitionScan&) = delete;

  // Appends rows to *out until it holds at least max_bytes or the scan
  // ends (then *done). A row is never split.
  Status Next(size_t max_bytes, std::string* out, bool* done);

  // A message the rows must carry besides those the scan finds referenced
  // (one that a log record not applied yet references). Before the scan
  // reaches its messages.
  void AddMessage(MsgId msg_id) { messages_.insert(msg_id); }

  // Rows appended so far.
  uint64_t rows() const { return rows_; }
  // The queues and groups found (complete once the scan passed them).
  const std::unordered_set<QueueId>& queue_ids() const { return queue_ids_; }

 private:
  enum class Phase : uint8_t {
    kQueues,     // the names: collects the queue ids
    kQueueRows,  // per queue: state, config, entries (collects messages)
    kExpiry,
    kGroupInfo,  // collects the group ids
    kGroups,     // members and member-of rows
    kDedup,
    kFanout,    // jobs of the groups (collects their messages)
    kMessages,  // messages, refs, chunks
    kDone,
  };
  void Emit(std::string* out, Table table, std::string_view key, std::string_view value);
  Status Fail();

  KvTxn* txn_;
  NameFilter in_partition_;
  PartitionId partition_;
  Phase phase_ = Phase::kQueues;
  std::unique_ptr<KvCursor> cursor_;
  bool positioned_ = false;  // cursor_ stands on the next row to look at
  std::unordered_set<QueueId> queue_ids_;
  std::vector<QueueId> queue_order_;
  size_t next_queue_ = 0;
  bool in_entries_ = false;  // walking next_queue_'s entries with cursor_
  std::unordered_set<uint64_t> group_ids_;
  std::unordered_set<uint64_t> job_ids_;
  std::set<MsgId> messages_;
  std::set<MsgId>::iterator next_message_;
  uint64_t rows_ = 0;
};

// A leader's snapshot of one partition for a follower's rebuild, from one
// read transaction: the index holds the state of every log record applied
// so far plus every operation applied at commit, and the log holds the
// records not applied yet. So the snapshot is the partition's rows, then
// its operations of those records (the follower logs and applies them as
// the leader will), and the partition log as of that transaction: its end
// offset is exactly what all of it makes up. Loop thread (reads only).
class PartitionSnapshot {
 public:
  static Result<std::unique_ptr<PartitionSnapshot>> Begin(KvEnv* env, PartitionId partition,
                                                          NameFilter in_partition);
  // Where the snapshot stands: its end offset and epochs.
  const PartitionLogState& log() const { return log_; }
  // As PartitionScan::Next.
  Status NextRows(size_t max_bytes, std::string* out, bool* done) {
    return scan_->Next(max_bytes, out, done);
  }
  uint64_t rows() const { return scan_->rows(); }
  // The partition's operations of the log records not applied yet, one
  // record each (without partition markers), oldest first. The messages
  // their fan-out entries reference are among the rows.
  std::vector<std::string> TakeLogTail() { return std::move(tail_); }

 private:
  PartitionSnapshot() = default;
  Status ReadLogTail();
  std::unique_ptr<KvTxn> txn_;
  std::vector<std::string> tail_;
  std::unique_ptr<PartitionScan> scan_;
  PartitionId partition_ = 0;
  PartitionLogState log_;
};

// The ids of the partition's queues, and of its groups with kGroupDedupBit
// set: the targets of its dedup ids (keys.h).
Status CollectPartitionTargets(KvTxn& txn, const NameFilter& in_partition, PartitionId partition,
                               std::unordered_set<uint64_t>* targets);

// Deletes every row of the partition (a follower's copy, before it takes a
// snapshot in). Returns how many rows went. Storage thread: in the commit.
Result<uint64_t> DropPartitionRows(KvTxn& txn, const NameFilter& in_partition,
                                   PartitionId partition);
// Puts the rows of an encoded run (a slice of a leader's snapshot).
Status PutPartitionRows(KvTxn& txn, std::string_view rows);

// The epochs of a partition log ((epoch, first offset), oldest first) as
// kRebuiltPartition carries them.
std::string EncodeEpochs(const std::vector<std::pair<uint64_t, uint64_t>>& epochs);
Result<std::vector<std::pair<uint64_t, uint64_t>>> DecodeEpochs(std::string_view encoded);

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_PARTITION_ROWS_H_
