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
//
// So one record describes everything its batch changed, which is what a
// follower of a cluster is sent. The operations come in two kinds:
// the first eight are applied to the index an apply lag after their batch
// (a publish acked meanwhile never reaches it), and replaying the records
// still in the log in order rebuilds exactly the state the index does not
// hold yet; the last three change what the index already holds, so the
// commit that logs them applies them (AppliedAtCommit), and replay and the
// apply step pass over them. See docs/design.md ("Storage"). New operation types get new
// numbers; a reader that meets an unknown type reports corruption rather than
// guessing. LogWriter is used on the loop thread, LogReader on the storage
// thread and at recovery.
#ifndef HERMOD_BROKER_STORE_LOG_RECORD_H_
#define HERMOD_BROKER_STORE_LOG_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

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
};

// Whether the commit that logs an operation of this type applies it to the
// index (the others wait for the record's apply step).
inline bool AppliedAtCommit(LogOpType type) {
  return type == LogOpType::kIndexAck || type == LogOpType::kDedupExpire ||
         type == LogOpType::kPurge;
}

inline constexpr uint8_t kLogRecordVersion = 1;

struct LogOp;

class LogWriter {
 public:
  bool empty() const { return ops_ == 0; }
  size_t ops() const { return ops_; }
  // Whether the record has operations for the apply step; a record of only
  // AppliedAtCommit operations is done with when its batch commits and
  // need not be kept in the log.
  bool needs_apply() const { return ops_ > commit_ops_; }
  // Whether it has AppliedAtCommit operations.
  bool has_commit_ops() const { return commit_ops_ > 0; }
  size_t bytes() const { return record_.size(); }
  const std::string& record() const { return record_; }
  void Clear() {
    record_.clear();
    ops_ = 0;
    commit_ops_ = 0;
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
  // Copies one operation read from another record.
  void Copy(const LogOp& op);
  // Puts the operations of `earlier` in front of this record's.
  void Prepend(const LogWriter& earlier);

 private:
  void Begin(LogOpType type);
  void BeginPublish(QueueId queue_id, Seq seq, MsgId msg_id, size_t envelope_bytes);

  std::string record_;
  size_t ops_ = 0;
  size_t commit_ops_ = 0;  // of them AppliedAtCommit
};

struct LogOp {
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
};

// Reads the operations of one record. Views point into the record's bytes.
class LogReader {
 public:
  explicit LogReader(std::string_view record);
  // Reads the next operation into *op. Returns false at the end of the record
  // or on corruption; status() tells which.
  bool Next(LogOp* op);
  const Status& status() const { return status_; }

 private:
  bool Fail(std::string_view why);

  std::string_view rest_;
  Status status_;
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_LOG_RECORD_H_
