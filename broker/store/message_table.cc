#include "message_table.h"

#include <memory>

namespace hermod::store {

namespace {

// LMDB's leaf pages, at 4 KiB: 4,080 bytes after the page header, and each
// node costs an 8-byte header, the key, the value rounded up to even, and a
// 2-byte slot. A node over 2,038 bytes goes to overflow pages.
constexpr size_t kPageRoom = 4096 - 16;
constexpr size_t kNodeHeader = 8 + kMessageChunkKeyBytes;
constexpr size_t kMaxChunkBytes = 2038 - kNodeHeader;

size_t NodesPerPage(size_t chunk_bytes) {
  return kPageRoom / (((kNodeHeader + chunk_bytes + 1) & ~size_t{1}) + 2);
}

void DeleteChunks(KvTxn& txn, MsgId msg_id) {
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kMessageChunks);
  if (!cursor) return;
  bool ok = cursor->Seek(MessageChunkKey(msg_id, 0).view());
  while (ok && cursor->key().size() == kMessageChunkKeyBytes &&
         MessageChunkKeyMsg(cursor->key()) == msg_id) {
    ok = cursor->DeleteAndNext();
  }
}

}  // namespace

std::string ChunkStub::Encode() const {
  std::string out;
  AppendFixed32(&out, envelope_bytes);
  AppendFixed32(&out, chunks);
  return out;
}

bool ChunkStub::Decode(std::string_view value) {
  if (value.size() != kBytes) return false;
  envelope_bytes = DecodeFixed32(value.data());
  chunks = DecodeFixed32(value.data() + 4);
  return true;
}

ChunkPlan PlanChunks(size_t envelope_bytes) {
  // Appended slices fill pages in turn, so a message costs chunks / (nodes
  // per page) pages when its neighbours are cut alike. Fixed 2,000-byte
  // slices would cut 3,022 bytes into 2,000 + 1,022, and with no room for a
  // third node each message would take a page of its own (74% full); four
  // slices of 756 bytes go five to a page (0.8 pages a message, 92%). So
  // try equal cuts from the fewest slices up to three times as many, and
  // keep the one with the fewest pages per message (then fewest slices).
  auto div_up = [](size_t a, size_t b) { return (a + b - 1) / b; };
  size_t fewest = div_up(envelope_bytes, kMaxChunkBytes);
  ChunkPlan best;
  size_t best_per_page = 0;
  for (size_t n = fewest; n <= 3 * fewest; ++n) {
    size_t chunk_bytes = div_up(envelope_bytes, n);
    size_t chunks = div_up(envelope_bytes, chunk_bytes);
    size_t per_page = NodesPerPage(chunk_bytes);
    // chunks / per_page < best.chunks / best_per_page, without division.
    if (best_per_page == 0 || chunks * best_per_page < best.chunks * per_page) {
      best = ChunkPlan{static_cast<uint32_t>(chunks), static_cast<uint32_t>(chunk_bytes)};
      best_per_page = per_page;
    }
  }
  return best;
}

bool AppendTail::AppendsAfter(KvTxn& txn, MsgId msg_id) {
  if (!known_) {
    std::unique_ptr<KvCursor> cursor = txn.Cursor(table_);
    if (!cursor) return false;
    empty_ = !cursor->Last();
    // A key too short to hold a message id: never append after it.
    if (!empty_) last_ = cursor->key().size() >= 8 ? GetBig64(cursor->key().data()) : ~MsgId{0};
    known_ = true;
  }
  return empty_ || msg_id > last_;
}

void AppendTail::Wrote(MsgId msg_id) {
  // Deletes may have lowered the table's true last key since; a stale,
  // higher last_ only turns an append into a plain put.
  if (empty_ || msg_id > last_) last_ = msg_id;
  empty_ = false;
}

void PutEnvelope(KvTxn& txn, MsgId msg_id, std::string_view envelope, EnvelopeTails* tails) {
  // Rows of ~1.5 KB put in id order without MDB_APPEND went one to a page:
  // LMDB splits a full page in the middle, leaving the older half alone.
  U64Key key(msg_id);
  bool append_row = tails->messages.AppendsAfter(txn, msg_id);
  if (envelope.size() <= kInlineEnvelopeBytes) {
    txn.Put(Table::kMessages, key.view(), envelope, append_row);
    tails->messages.Wrote(msg_id);
    return;
  }
  ChunkPlan plan = PlanChunks(envelope.size());
  bool append = tails->chunks.AppendsAfter(txn, msg_id);
  // Message ids are never reused, so this finds nothing unless a caller
  // stores the same message twice; then no slice of the old one may stay.
  if (!append) DeleteChunks(txn, msg_id);
  for (uint32_t chunk = 0; chunk < plan.chunks; ++chunk) {
    std::string_view slice = envelope.substr(size_t{chunk} * plan.chunk_bytes, plan.chunk_bytes);
    txn.Put(Table::kMessageChunks, MessageChunkKey(msg_id, chunk).view(), slice, append);
  }
  tails->chunks.Wrote(msg_id);
  ChunkStub stub{static_cast<uint32_t>(envelope.size()), plan.chunks};
  txn.Put(Table::kMessages, key.view(), stub.Encode(), append_row);
  tails->messages.Wrote(msg_id);
}

Result<bool> ReadEnvelope(KvTxn& txn, MsgId msg_id, std::string* envelope) {
  std::string_view value;
  if (!txn.Get(Table::kMessages, U64Key(msg_id).view(), &value)) {
    if (!txn.status().ok()) return txn.status();
    return false;
  }
  ChunkStub stub;
  if (!stub.Decode(value)) {
    envelope->assign(value);
    return true;
  }
  auto corrupt = [&](const std::string& what) {
    return Status::StorageError("message " + std::to_string(msg_id) + ": " + what);
  };
  envelope->clear();
  envelope->reserve(stub.envelope_bytes);
  std::unique_ptr<KvCursor> cursor = txn.Cursor(Table::kMessageChunks);
  if (!cursor) return txn.status();
  bool ok = cursor->Seek(MessageChunkKey(msg_id, 0).view());
  for (uint32_t chunk = 0; chunk < stub.chunks; ++chunk, ok = cursor->Next()) {
    if (!ok || cursor->key() != MessageChunkKey(msg_id, chunk).view()) {
      if (!txn.status().ok()) return txn.status();
      return corrupt("chunk " + std::to_string(chunk) + " of " + std::to_string(stub.chunks) +
                     " is missing");
    }
    envelope->append(cursor->value());
  }
  if (!txn.status().ok()) return txn.status();
  if (envelope->size() != stub.envelope_bytes) {
    return corrupt("chunks hold " + std::to_string(envelope->size()) + " bytes, not " +
                   std::to_string(stub.envelope_bytes));
  }
  return true;
}

bool DeleteEnvelope(KvTxn& txn, MsgId msg_id) {
  U64Key key(msg_id);
  std::string_view value;
  if (!txn.Get(Table::kMessages, key.view(), &value)) return false;
  bool chunked = value.size() == ChunkStub::kBytes;
  if (chunked) DeleteChunks(txn, msg_id);
  return txn.Del(Table::kMessages, key.view());
}

}  // namespace hermod::store
