// Log records: what one storage batch appends to the durable log.
//
// A record is a version byte followed by operations, each a type byte and
// fixed fields (little-endian):
//
//   kCreateQueue  queue_id u64, created_ms u64, name_len u16, name
//   kPublish      queue_id u64, seq u64, msg_id u64, envelope_len u32, envelope
//   kAck          queue_id u64, seq u64         (an entry that is only in the log)
//   kDelivered    queue_id u64, seq u64, delivery_count u32
//   kConfigure    queue_id u64, settings_len u32, settings (opaque to the store)
//   kDedup        queue_id u64, seq u64, msg_id u64, time_ms u64, id_len u16, dedup_id
//   kEntry        queue_id u64, seq u64, msg_id u64, bytes u32, expires_ms u64
//                 (a fan-out entry: its message is in the messages table)
//   kDeleteQueue  queue_id u64, name_len u16, name
//                 (forgets the queue and takes it out of its groups; the
//                 last operation naming it)
//   kIndexAck     queue_id u64, seq u64, msg_id u64, bytes u32, expires_ms u64
//                 (an ack of an entry that is in the index)
//   kDedupExpire  key_len u16, key (a dedup record past the window, by its
//                 index key)
//   kPurge        queue_id u64, from u64, to u64 (the index's entries of the
//                 queue with seq in [from, to))
//   kGroupChange  kind u8, queue_id u64, group_id u64, created_ms u64,
//                 group_len u16, group, member_len u16, member
//   kFanoutStart  job_id u64, msg_id u64, group_id u64, created_ms u64,
//                 envelope_len u32, envelope, count u32, count member queue ids u64
//   kFanoutProgress job_id u64, msg_id u64, cursor u32, added u32, done u8
//   kFanoutForward job_id u64, partition u32, chunk u32, msg_id u64,
//                 group_id u64, count u32, count (name_len u16, name): a
//                 group publish's members in another partition, to forward
//                 to its leader (holds a reference on the message)
//   kFanoutForwarded job_id u64, partition u32, chunk u32, msg_id u64: that
//                 leader has them (drops the forward and its reference)
//   kReceiptTally msg_id u64, from u32, remaining u32, delivered u32,
//                 failed u32: a receipt tally's new state (remaining 0:
//                 settled, the row goes)
//   kStage        partition u32, epoch u64, offset u64, record_len u32,
//                 record, commit_len u32, commit record: a follower's
//                 staged part (partition_log.h)
//   kUnstage      partition u32, through u64
//   kTruncatePartition partition u32, to u64
//   kPartitionEnd partition u32, epoch u64, end offset u64 (a leader's)
//   kDropPartition partition u32, 0 u64: a follower empties its copy of a
//                 partition before a rebuild (partition_rows.h)
//   kPutRows      as kStage, with the rows of a partition's snapshot as its
//                 record and no commit record (partition_rows.h)
//   kRebuiltPartition as kStage: epoch and end offset of the snapshot, its
//                 epochs ((epoch u64, first offset u64)...) as the record
//   kFence        partition u32, epoch u64: parts of older epochs are
//                 refused from here on, across restarts
//   kPartition    partition u32: the operations after it, up to the next
//                 kPartition, belong to that partition (docs/cluster.md); a
//                 record starts in partition 0, so a single node, whose one
//                 partition is 0, writes none
//
// So a batch's operations describe everything it changed, which is what a
// follower of a cluster is sent. They come in two kinds, written as two
// records (LogWriter::record and commit_record). The first eight types are
// applied to the index an apply lag after their batch (a publish acked
// meanwhile never reaches it): their record is what the log keeps, and
// replaying the records still in the log in order rebuilds exactly the
// state the index does not hold yet. The others change what the index
// already holds, so the commit that logs them applies them
// (AppliedAtCommit) and the log does not keep them. The two kinds touch
// different things, so applying each record in its own order gives the
// same state as the operations' one order. See docs/design.md ("Storage"). New operation types get
// new numbers; a reader that meets an unknown type reports corruption rather than guessing.
// LogWriter is used on the loop thread, LogReader on the storage thread and at recovery.
#ifndef HERMOD_BROKER_STORE_LOG_RECORD_H_
#define HERMOD_BROKER_STORE_LOG_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "envelope.h"
#include "hermod/status.h"
#include "keys.h"

namespace hermod::store {

enum class LogOpType : uint8_t {
  kCreateQueue = 1,
  kPublish = 2,
  kAck = 3,
  kDelivered = 4,
  kConfigure = 5,
  kDedup = 6,
  kEntry = 7,
  kDeleteQueue = 8,
  kIndexAck = 9,
  kDedupExpire = 10,
  kPurge = 11,
  kGroupChange = 12,
  kFanoutStart = 13,
  kFanoutProgress = 14,
  kPartition = 15,
  // A node's own bookkeeping of its partition logs (partition_log.h),
  // written In(kNodeLocalPartition) and applied at commit.
  kStage = 16,
  kUnstage = 17,
  kTruncatePartition = 18,
  kPartitionEnd = 19,
  // A follower's rebuild of a partition from its leader's snapshot
  // (partition_rows.h), node-local and applied at commit as well.
  kDropPartition = 20,
  kPutRows = 21,
  kRebuiltPartition = 22,
  // The newest epoch the control plane named for a partition (the fence).
  kFence = 23,
  // Group fan-out across partitions: ops of the group's partition, applied
  // at commit.
  kFanoutForward = 24,
  kFanoutForwarded = 25,
  // Receipts (docs/semantics.md): a `receipt: all` tally, applied at commit.
  kReceiptTally = 26,
};

// Whether the commit that logs an operation of this type applies it to the
// index (the others wait for the record's apply step). kStage and every
// type after it are.
inline bool AppliedAtCommit(LogOpType type) {
  return (type >= LogOpType::kIndexAck && type <= LogOpType::kFanoutProgress) ||
         type >= LogOpType::kStage;
}

// A change to a group (kGroupChange).
struct GroupChange {
  enum Kind : uint8_t { kCreate, kDelete, kAdd, kRemove };
  Kind kind = kCreate;
  std::string group;
  std::string member;       // kAdd, kRemove
  QueueId queue_id = 0;     // kAdd: the member queue
  uint64_t group_id = 0;    // kCreate
  uint64_t created_ms = 0;  // kCreate
};

// A group publish (kFanoutStart): the message, stored once, and its
// fan-out job with the members it goes to (read at publish time).
struct FanoutStart {
  uint64_t job_id = 0;
  MsgId msg_id = 0;
  uint64_t group_id = 0;
  uint64_t created_ms = 0;
  std::string envelope;
  std::vector<QueueId> members;
};

// A fan-out job's progress in a batch (kFanoutProgress): `added` member
// entries were written to the batch's record (kEntry), and `cursor`
// members are done.
// A forward of a group publish to the members of one other partition
// (kFanoutForward; kFanoutForwarded names the same job, partition, chunk).
struct FanoutForward {
  uint64_t job_id = 0;
  PartitionId partition = 0;  // the members'
  uint32_t chunk = 0;
  MsgId msg_id = 0;
  uint64_t group_id = 0;
  std::string names;  // count u32, then (len u16, name) each: EncodeNames
};
// The names blob of a FanoutForward (and of a FanoutForwardValue).
std::string EncodeNames(const std::vector<std::string>& names);
// False when the blob is malformed.
bool DecodeNames(std::string_view blob, std::vector<std::string>* names);

struct FanoutProgress {
  uint64_t job_id = 0;
  MsgId msg_id = 0;
  uint32_t cursor = 0;
  uint32_t added = 0;
  bool done = false;
};

inline constexpr uint8_t kLogRecordVersion = 1;

struct LogOp;

class LogWriter {
 public:
  bool empty() const { return ops_ == 0; }
  size_t ops() const { return ops_; }
  // The operations for the apply step: what the log keeps. Empty when there
  // are none (then the log keeps nothing of this batch).
  const std::string& record() const { return record_; }
  size_t bytes() const { return record_.size(); }
  bool needs_apply() const { return !record_.empty(); }
  // The AppliedAtCommit operations, in the same format.
  const std::string& commit_record() const { return commit_record_; }
  bool has_commit_ops() const { return !commit_record_.empty(); }
  // Every partition an operation was written in, in first-use order.
  const std::vector<PartitionId>& partitions() const { return partitions_; }
  void Clear() {
    record_.clear();
    commit_record_.clear();
    ops_ = 0;
    partition_ = record_partition_ = commit_partition_ = 0;
    partitions_.clear();
    noted_partition_ = kNoPartition;
  }

  // The operations written next belong to partition p (until the next
  // call); each record gets a kPartition marker where its partition
  // changes. Returns *this, for log.In(p).Ack(...).
  LogWriter& In(PartitionId p) {
    partition_ = p;
    return *this;
  }

  void CreateQueue(QueueId queue_id, uint64_t created_ms, std::string_view name);
  // A new message and its entry: writes the envelope (envelope_bytes long,
  // as envelope.Bytes() said) into the record. Returns a view of the stored
  // envelope, valid until the next operation is added.
  std::string_view Publish(QueueId queue_id, Seq seq, MsgId msg_id, const NewEnvelope& envelope,
                           size_t envelope_bytes);
  // The same with an envelope already encoded (a copy, a replicated op).
  void PublishEncoded(QueueId queue_id, Seq seq, MsgId msg_id, std::string_view envelope);
  void Ack(QueueId queue_id, Seq seq);
  void Delivered(QueueId queue_id, Seq seq, uint32_t delivery_count);
  // A queue's setting overrides, replacing earlier ones; empty: none.
  void Configure(QueueId queue_id, std::string_view settings);
  // The publish of (queue_id, seq) carried a dedup id.
  void Dedup(QueueId queue_id, Seq seq, MsgId msg_id, uint64_t time_ms, std::string_view dedup_id);
  // An entry referring to a message stored on its own (a group publish's).
  void Entry(QueueId queue_id, Seq seq, MsgId msg_id, uint32_t bytes, uint64_t expires_ms);
  // Forgets a queue (whose entries are already gone).
  void DeleteQueue(QueueId queue_id, std::string_view name);
  // Removes an acked entry from the index.
  void IndexAck(QueueId queue_id, Seq seq, MsgId msg_id, uint32_t bytes, uint64_t expires_ms);
  // Removes a dedup record (key as Store::ScanDedup gave it) from the index.
  void DedupExpire(std::string_view key);
  // Removes the index's entries of a queue with seq in [from, to).
  void Purge(QueueId queue_id, Seq from, Seq to);
  void ChangeGroup(const GroupChange& change);
  // A group publish: its message, stored once, and the members to expand to.
  void StartFanout(const FanoutStart& start);
  // A fan-out job wrote member entries up to `cursor` (`added` of them).
  void AdvanceFanout(const FanoutProgress& progress);
  // A group publish's members of another partition, to forward; and their
  // forward done.
  void ForwardFanout(const FanoutForward& forward);
  void FanoutForwarded(uint64_t job_id, PartitionId partition, uint32_t chunk, MsgId msg_id);
  // A receipt tally's new state; remaining 0 removes it.
  void SetReceiptTally(const ReceiptTally& tally);
  // A cluster node's partition logs (partition_log.h): a follower stages a
  // leader's part, moves staged parts up to `through` into its state, or
  // cuts its log of the partition back to `to`; a leader records where its
  // log of a partition ends.
  void Stage(PartitionId partition, uint64_t epoch, uint64_t offset, std::string_view record,
             std::string_view commit_record);
  void Unstage(PartitionId partition, uint64_t through);
  void TruncatePartition(PartitionId partition, uint64_t to);
  void PartitionEnd(PartitionId partition, uint64_t epoch, uint64_t end_offset);
  // A rebuild (partition_rows.h): empty this node's copy of the partition
  // (its rows, its log, its staged parts; it is marked rebuilding), write a
  // slice of the leader's snapshot rows, and end the rebuild with the
  // snapshot's epoch, end offset and epochs (EncodeEpochs).
  void DropPartition(PartitionId partition);
  // The fence of a partition's log (partition_log.h) rises to `epoch`.
  void Fence(PartitionId partition, uint64_t epoch);
  void PutRows(PartitionId partition, std::string_view rows);
  void RebuiltPartition(PartitionId partition, uint64_t epoch, uint64_t end_offset,
                        std::string_view epochs);
  // Copies one operation read from another record, into its partition.
  void Copy(const LogOp& op);
  // Puts the operations of `earlier` in front of this writer's.
  void Prepend(const LogWriter& earlier);

 private:
  // Starts an operation in the record its type belongs to; returns it.
  std::string* Begin(LogOpType type);
  std::string* BeginPublish(QueueId queue_id, Seq seq, MsgId msg_id, size_t envelope_bytes);
  // kStage's layout, which kPutRows and kRebuiltPartition share.
  static void AppendStaged(std::string* out, PartitionId partition, uint64_t epoch, uint64_t offset,
                           std::string_view record, std::string_view commit_record);

  std::string record_;
  std::string commit_record_;
  size_t ops_ = 0;
  PartitionId partition_ = 0;         // of the next operation
  PartitionId record_partition_ = 0;  // where each record stands
  PartitionId commit_partition_ = 0;
  static constexpr PartitionId kNoPartition = UINT32_MAX - 1;
  std::vector<PartitionId> partitions_;
  PartitionId noted_partition_ = kNoPartition;  // the last one pushed to partitions_
};

struct LogOp {
  PartitionId partition = 0;  // set by LogReader from the kPartition markers
  LogOpType type;
  QueueId queue_id = 0;
  Seq seq = 0;
  MsgId msg_id = 0;
  uint32_t delivery_count = 0;
  uint32_t bytes = 0;         // kEntry, kIndexAck
  uint64_t expires_ms = 0;    // kEntry, kIndexAck
  Seq to = 0;                 // kPurge (seq is its from)
  uint64_t created_ms = 0;    // kCreateQueue; kDedup: the publish time
  std::string_view name;      // kCreateQueue, kDeleteQueue
  std::string_view envelope;  // kPublish
  std::string_view settings;  // kConfigure
  std::string_view dedup_id;  // kDedup
  std::string_view key;       // kDedupExpire
  // kGroupChange (queue_id, created_ms too)
  GroupChange::Kind group_kind = GroupChange::kCreate;
  std::string_view group;
  std::string_view member;
  uint64_t group_id = 0;  // kGroupChange, kFanoutStart
  // kFanoutStart (msg_id, created_ms, envelope too), kFanoutProgress
  uint64_t job_id = 0;
  std::string_view member_ids;  // count u64 little-endian queue ids
  uint32_t cursor = 0;
  uint32_t added = 0;
  bool done = false;
  // kFanoutForward, kFanoutForwarded (job_id, msg_id, group_id too)
  PartitionId forward_partition = 0;
  uint32_t chunk = 0;
  std::string_view names;  // kFanoutForward: count u32, then (len u16, name)
  // kReceiptTally (msg_id too; tally.from is its partition)
  ReceiptTally tally;

  // kStage, kUnstage, kTruncatePartition, kPartitionEnd, kDropPartition,
  // kPutRows, kRebuiltPartition (offset: the offset, `through`, `to` or end
  // offset; part_record: kPutRows' rows, kRebuiltPartition's epochs)
  PartitionId log_partition = 0;
  uint64_t epoch = 0;
  uint64_t offset = 0;
  std::string_view part_record;
  std::string_view part_commit_record;

  GroupChange ToGroupChange() const;
  FanoutStart ToFanoutStart() const;
  FanoutProgress ToFanoutProgress() const;
  FanoutForward ToFanoutForward() const;
};

// Reads the operations of one record. Views point into the record's bytes.
class LogReader {
 public:
  // `partition`: the one the record starts in (a record split by partition,
  // which has no markers, starts in its own).
  explicit LogReader(std::string_view record, PartitionId partition = 0);
  // Reads the next operation into *op, with its partition (kPartition
  // markers are read here, never returned). Returns false at the end of the
  // record or on corruption; status() tells which.
  bool Next(LogOp* op);
  const Status& status() const { return status_; }
  // The bytes of the operation Next() returned last, as written.
  std::string_view op_bytes() const { return op_bytes_; }

 private:
  bool Fail(std::string_view why);

  std::string_view rest_;
  std::string_view op_bytes_;
  PartitionId partition_;
  Status status_;
};

// One partition's operations of a record, as a record of their own (no
// kPartition markers): what a cluster leader ships to that partition's
// followers.
struct PartitionRecord {
  PartitionId partition = 0;
  std::string record;
};

// Splits a record by partition, keeping each partition's operations in
// order and byte for byte; ordered by partition. Corruption: the reader's.
Result<std::vector<PartitionRecord>> SplitByPartition(std::string_view record);

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_LOG_RECORD_H_
