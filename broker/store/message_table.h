// Where envelopes live in the index: the `messages` and `message_chunks`
// tables (docs/design.md, "Storage").
//
// An envelope of up to kInlineEnvelopeBytes is one row of `messages`
// (message id -> envelope). A larger one is cut into slices stored in
// `message_chunks` (message id · chunk number -> slice), and its `messages`
// row is a ChunkStub that says how many slices and bytes to expect. A value
// over ~2 KB would be an LMDB overflow value, which needs a run of
// contiguous free pages; once acks have scattered the free pages, such
// values grow the file instead of reusing them. Slices are ordinary nodes on
// single pages, and since message ids only grow they are written with
// MDB_APPEND, which fills pages to the brim instead of splitting them in the
// middle.
//
// Stores written before schema version 3 hold large envelopes whole in
// `messages`; every row that is not a stub is read as a whole envelope, so
// they stay readable.
//
// Free functions over the caller's transaction: writes (PutEnvelope,
// DeleteEnvelope) on the storage thread, reads on any thread.
#ifndef HERMOD_BROKER_STORE_MESSAGE_TABLE_H_
#define HERMOD_BROKER_STORE_MESSAGE_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "hermod/status.h"
#include "keys.h"
#include "kv.h"

namespace hermod::store {

// Envelopes up to this size stay whole in `messages`.
inline constexpr size_t kInlineEnvelopeBytes = 2000;

// The `messages` row of a chunked envelope. Eight bytes, so it cannot be
// mistaken for an envelope (at least EnvelopeWriter::FixedBytes() long).
struct ChunkStub {
  static constexpr size_t kBytes = 8;
  uint32_t envelope_bytes = 0;
  uint32_t chunks = 0;

  std::string Encode() const;
  // Returns false when value is not a stub (it is a whole envelope).
  bool Decode(std::string_view value);
};

// How an envelope is cut: `chunks` slices, each `chunk_bytes` long but the
// last, which holds the rest. PlanChunks picks equal slices, each small
// enough for an ordinary node, in the number that packs 4 KiB pages best.
struct ChunkPlan {
  uint32_t chunks = 0;
  uint32_t chunk_bytes = 0;
};
// REQUIRES: envelope_bytes > kInlineEnvelopeBytes.
ChunkPlan PlanChunks(size_t envelope_bytes);

// What one write transaction knows about the last key of a table keyed by
// message id first (messages, message_chunks), so that a row is appended
// only when its key sorts after every key there (MDB_APPEND refuses
// anything else). Fan-out starts store their message at once while direct
// publishes reach the index an apply lag later, so ids do not always arrive
// in order; those fall back to plain puts.
class AppendTail {
 public:
  explicit AppendTail(Table table) : table_(table) {}
  void Reset() { known_ = false; }
  // True when every key in the table belongs to a message id below msg_id
  // (reads the last key once per transaction).
  bool AppendsAfter(KvTxn& txn, MsgId msg_id);
  void Wrote(MsgId msg_id);

 private:
  Table table_;
  bool known_ = false;
  bool empty_ = true;
  MsgId last_ = 0;  // the largest message id in the table, when !empty_
};

// The tails of both tables. Reset() at the start of every write transaction.
struct EnvelopeTails {
  AppendTail messages{Table::kMessages};
  AppendTail chunks{Table::kMessageChunks};
  void Reset() {
    messages.Reset();
    chunks.Reset();
  }
};

// Stores an envelope under msg_id, whole or in slices, replacing any there.
void PutEnvelope(KvTxn& txn, MsgId msg_id, std::string_view envelope, EnvelopeTails* tails);

// Copies the envelope of msg_id into *envelope. Returns false when there is
// none; a StorageError when its slices do not add up, or the read's error.
Result<bool> ReadEnvelope(KvTxn& txn, MsgId msg_id, std::string* envelope);

// Deletes the envelope of msg_id and all its slices. Returns false when
// there was none.
bool DeleteEnvelope(KvTxn& txn, MsgId msg_id);

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_MESSAGE_TABLE_H_
