// Key and value encodings of the store, in one place.
//
// Integers in keys are big-endian and fixed width, so LMDB's bytewise order
// is numeric order: an entries cursor walks one queue's seqs in order, the
// log walks batches in commit order. Values are little-endian fixed width.
// Pure functions; any thread.
#ifndef HERMOD_BROKER_STORE_KEYS_H_
#define HERMOD_BROKER_STORE_KEYS_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace hermod::store {

using QueueId = uint64_t;
using MsgId = uint64_t;
using Seq = uint64_t;
using BatchNo = uint64_t;
// A partition of a cluster's queue space (hermod/partition.h); a single
// node has one, partition 0.
using PartitionId = uint32_t;
// Operations a node logs for itself and never ships (LogWriter::In).
inline constexpr PartitionId kNodeLocalPartition = UINT32_MAX;

// Id prefixes. In a cluster, the ids a node allocates (queues, messages,
// groups, fan-out jobs) carry its data directory's id prefix in bits 48-62,
// one per incarnation, handed out by the control plane (docs/cluster.md):
// replicas store a leader's operations with the leader's ids, so ids of
// different leaders never meet, and a new leader never reuses an old one's.
// A single node's prefix is 0: its ids are what they always were. Bit 63
// stays free (kGroupDedupBit).
inline constexpr int kIdPrefixShift = 48;
inline constexpr uint32_t kMaxIdPrefix = (1u << 15) - 1;
inline constexpr uint32_t IdPrefix(uint64_t id) {
  return static_cast<uint32_t>(id >> kIdPrefixShift) & kMaxIdPrefix;
}
// The first id of a prefix's range (0 for prefix 0: ids start at 1 there).
inline constexpr uint64_t IdBase(uint32_t prefix) {
  return static_cast<uint64_t>(prefix) << kIdPrefixShift;
}

inline void PutBig64(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}
inline uint64_t GetBig64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}
inline void PutBig32(char* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}
inline uint32_t GetBig32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// Little-endian fixed-width appends and reads, for values and log records.
// On a little-endian host the value's own bytes are the encoding: one copy.
inline void AppendFixed64(std::string* out, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    out->append(reinterpret_cast<const char*>(&v), 8);
  } else {
    char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out->append(buf, 8);
  }
}
inline void AppendFixed32(std::string* out, uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    out->append(reinterpret_cast<const char*>(&v), 4);
  } else {
    char buf[4];
    for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out->append(buf, 4);
  }
}
inline void AppendFixed16(std::string* out, uint16_t v) {
  char buf[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  out->append(buf, 2);
}
inline uint64_t DecodeFixed64(const char* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}
inline uint32_t DecodeFixed32(const char* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}
inline uint16_t DecodeFixed16(const char* in) {
  return static_cast<uint16_t>(static_cast<uint8_t>(in[0]) | static_cast<uint8_t>(in[1]) << 8);
}

// A u64 key: message ids (messages, refs), queue ids (queue_state).
struct U64Key {
  char bytes[8];
  explicit U64Key(uint64_t v) { PutBig64(bytes, v); }
  std::string_view view() const { return {bytes, sizeof(bytes)}; }
};
inline uint64_t DecodeU64Key(std::string_view key) { return GetBig64(key.data()); }

// entries: queue id · seq.
struct EntryKey {
  char bytes[16];
  EntryKey(QueueId queue_id, Seq seq) {
    PutBig64(bytes, queue_id);
    PutBig64(bytes + 8, seq);
  }
  std::string_view view() const { return {bytes, sizeof(bytes)}; }
};
inline constexpr size_t kEntryKeyBytes = 16;
inline QueueId EntryKeyQueue(std::string_view key) { return GetBig64(key.data()); }
inline Seq EntryKeySeq(std::string_view key) { return GetBig64(key.data() + 8); }

// log: batch number · chunk number. A batch's record is split into chunks
// small enough to stay on ordinary pages (see store.cc: "Log chunks").
struct LogKey {
  char bytes[12];
  LogKey(BatchNo batch_no, uint32_t chunk) {
    PutBig64(bytes, batch_no);
    PutBig32(bytes + 8, chunk);
  }
  std::string_view view() const { return {bytes, sizeof(bytes)}; }
};
inline constexpr size_t kLogKeyBytes = 12;
inline BatchNo LogKeyBatch(std::string_view key) { return GetBig64(key.data()); }

// message_chunks: message id · chunk number. An envelope too large for one
// row of `messages` is stored as slices in key order (message_table.h).
struct MessageChunkKey {
  char bytes[12];
  MessageChunkKey(MsgId msg_id, uint32_t chunk) {
    PutBig64(bytes, msg_id);
    PutBig32(bytes + 8, chunk);
  }
  std::string_view view() const { return {bytes, sizeof(bytes)}; }
};
inline constexpr size_t kMessageChunkKeyBytes = 12;
inline MsgId MessageChunkKeyMsg(std::string_view key) { return GetBig64(key.data()); }
inline uint32_t MessageChunkKeyChunk(std::string_view key) { return GetBig32(key.data() + 8); }

// expiry: when · queue id · seq, so a cursor from the start finds the
// entries that expired first.
struct ExpiryKey {
  char bytes[24];
  ExpiryKey(uint64_t expires_ms, QueueId queue_id, Seq seq) {
    PutBig64(bytes, expires_ms);
    PutBig64(bytes + 8, queue_id);
    PutBig64(bytes + 16, seq);
  }
  std::string_view view() const { return {bytes, sizeof(bytes)}; }
};
inline constexpr size_t kExpiryKeyBytes = 24;

// dedup: the dedup id, a zero byte, the queue id. Dedup ids never contain a
// zero byte (the broker refuses control characters), and leading with the
// id keeps one client's generated ids ("~client-1", "~client-2", ...)
// together in the table whatever queues they went to.
inline std::string DedupKey(QueueId queue_id, std::string_view dedup_id) {
  std::string key;
  key.reserve(dedup_id.size() + 9);
  key.append(dedup_id);
  key.push_back('\0');
  char id[8];
  PutBig64(id, queue_id);
  key.append(id, 8);
  return key;
}

// Dedup ids that libhermod generates for its own resends start with this
// character; they are kept in memory and the log only (core/dedup_index.h).
inline constexpr char kClientDedupPrefix = '~';
inline bool IsClientDedupId(std::string_view id) {
  return !id.empty() && id[0] == kClientDedupPrefix;
}

// dedup value: what the first publish with that id became.
struct DedupValue {
  MsgId msg_id = 0;
  Seq seq = 0;
  uint64_t time_ms = 0;
  std::string Encode() const {
    std::string out;
    AppendFixed64(&out, msg_id);
    AppendFixed64(&out, seq);
    AppendFixed64(&out, time_ms);
    return out;
  }
  bool Decode(std::string_view v) {
    if (v.size() != 24) return false;
    msg_id = DecodeFixed64(v.data());
    seq = DecodeFixed64(v.data() + 8);
    time_ms = DecodeFixed64(v.data() + 16);
    return true;
  }
};

// Dedup ids of group publishes live in the same table under the group's id
// with this bit set, so they never meet a queue's.
inline constexpr uint64_t kGroupDedupBit = 1ull << 63;
// Dedup ids of the publishes another partition's group fan-out forwarded
// into partition p (docs/design.md, "Group fan-out across partitions") live
// under this target: a group id of the highest id prefix, which the control
// plane never hands out, so it meets neither a group's nor a queue's.
inline constexpr uint64_t ForwardDedupTarget(PartitionId p) {
  return kGroupDedupBit | IdBase(kMaxIdPrefix) | p;
}

// groups: group name · 0 · member queue name. Names never contain a zero
// byte, so one group's members are one contiguous, name-ordered range.
inline std::string GroupMemberKey(std::string_view group, std::string_view member) {
  std::string key;
  key.reserve(group.size() + 1 + member.size());
  key.append(group);
  key.push_back('\0');
  key.append(member);
  return key;
}

// groups, second key space: 0 · member queue id (big-endian) · group name
// -> (empty): the groups a queue belongs to, so that deleting the queue
// takes it out of them. Group names are never empty, so no member key
// above starts with a zero byte.
inline constexpr size_t kMemberOfPrefixBytes = 9;
inline std::string MemberOfKey(uint64_t queue_id, std::string_view group) {
  std::string key(kMemberOfPrefixBytes, '\0');
  PutBig64(key.data() + 1, queue_id);
  key.append(group);
  return key;
}
inline bool IsMemberOfKey(std::string_view key) { return !key.empty() && key[0] == '\0'; }

// group_info value.
struct GroupInfoValue {
  uint64_t group_id = 0;
  uint64_t created_ms = 0;
  uint64_t members = 0;
  std::string Encode() const {
    std::string out;
    AppendFixed64(&out, group_id);
    AppendFixed64(&out, created_ms);
    AppendFixed64(&out, members);
    return out;
  }
  bool Decode(std::string_view v) {
    if (v.size() != 24) return false;
    group_id = DecodeFixed64(v.data());
    created_ms = DecodeFixed64(v.data() + 8);
    members = DecodeFixed64(v.data() + 16);
    return true;
  }
};

// fanout: job id (the job's header), and job id · 'm' (its member ids,
// written once).
inline std::string FanoutKey(uint64_t job_id, bool members) {
  std::string key(8, '\0');
  PutBig64(key.data(), job_id);
  if (members) key.push_back('m');
  return key;
}

// fanout: job id · 'f' · partition · chunk: a forward of the job's message
// to the members of the group in another partition (a chunk of at most
// fanout_chunk of them), until that partition's leader has it.
inline constexpr size_t kFanoutForwardKeyBytes = 17;
inline std::string FanoutForwardKey(uint64_t job_id, PartitionId partition, uint32_t chunk) {
  std::string key(kFanoutForwardKeyBytes, '\0');
  PutBig64(key.data(), job_id);
  key[8] = 'f';
  PutBig32(key.data() + 9, partition);
  PutBig32(key.data() + 13, chunk);
  return key;
}
inline bool IsFanoutForwardKey(std::string_view key) {
  return key.size() == kFanoutForwardKeyBytes && key[8] == 'f';
}

// fanout: msg id · 'r': the tally of a group publish with `receipt: all`
// (docs/semantics.md, "Receipts"), until its last member settles it.
inline constexpr size_t kReceiptTallyKeyBytes = 9;
inline std::string ReceiptTallyKey(MsgId msg_id) {
  std::string key(kReceiptTallyKeyBytes, '\0');
  PutBig64(key.data(), msg_id);
  key[8] = 'r';
  return key;
}
inline bool IsReceiptTallyKey(std::string_view key) {
  return key.size() == kReceiptTallyKeyBytes && key[8] == 'r';
}

// A receipt tally: the members yet to settle the message, and how those
// that did settled it. Its value: from u32 (the group's partition),
// remaining u32, delivered u32, failed u32.
struct ReceiptTally {
  MsgId msg_id = 0;
  PartitionId from = 0;
  uint32_t remaining = 0;
  uint32_t delivered = 0;
  uint32_t failed = 0;
  std::string EncodeValue() const {
    std::string out;
    AppendFixed32(&out, from);
    AppendFixed32(&out, remaining);
    AppendFixed32(&out, delivered);
    AppendFixed32(&out, failed);
    return out;
  }
  bool DecodeValue(std::string_view v) {
    if (v.size() != 16) return false;
    from = DecodeFixed32(v.data());
    remaining = DecodeFixed32(v.data() + 4);
    delivered = DecodeFixed32(v.data() + 8);
    failed = DecodeFixed32(v.data() + 12);
    return true;
  }
};

// fanout forward value: msg_id u64, group_id u64, from u32 (the group's
// partition, whose log holds the forward), then the member names as
// kFanoutForward carries them.
struct FanoutForwardValue {
  MsgId msg_id = 0;
  uint64_t group_id = 0;
  PartitionId from = 0;
  std::string_view names;  // a view into the value
  bool Decode(std::string_view v) {
    if (v.size() < 20) return false;
    msg_id = DecodeFixed64(v.data());
    group_id = DecodeFixed64(v.data() + 8);
    from = DecodeFixed32(v.data() + 16);
    names = v.substr(20);
    return true;
  }
};

// fanout header value: where the job stands.
struct FanoutHeader {
  MsgId msg_id = 0;
  uint64_t group_id = 0;
  uint64_t created_ms = 0;
  uint32_t cursor = 0;  // members expanded so far
  uint32_t total = 0;
  std::string Encode() const {
    std::string out;
    AppendFixed64(&out, msg_id);
    AppendFixed64(&out, group_id);
    AppendFixed64(&out, created_ms);
    AppendFixed32(&out, cursor);
    AppendFixed32(&out, total);
    return out;
  }
  bool Decode(std::string_view v) {
    if (v.size() != 32) return false;
    msg_id = DecodeFixed64(v.data());
    group_id = DecodeFixed64(v.data() + 8);
    created_ms = DecodeFixed64(v.data() + 16);
    cursor = DecodeFixed32(v.data() + 24);
    total = DecodeFixed32(v.data() + 28);
    return true;
  }
};

// entries value: where the entry's message is and what it weighs.
struct EntryValue {
  MsgId msg_id = 0;
  uint32_t bytes = 0;           // the message's stored size, for queue counters
  uint32_t delivery_count = 0;  // deliveries made before the last apply
  std::string Encode() const {
    std::string out;
    out.reserve(16);
    AppendFixed64(&out, msg_id);
    AppendFixed32(&out, bytes);
    AppendFixed32(&out, delivery_count);
    return out;
  }
  // Returns false when the value has the wrong size.
  bool Decode(std::string_view v) {
    if (v.size() != 16) return false;
    msg_id = DecodeFixed64(v.data());
    bytes = DecodeFixed32(v.data() + 8);
    delivery_count = DecodeFixed32(v.data() + 12);
    return true;
  }
};

// queue_state value: a queue's counters as of the last applied batch, and
// its name (queue_state doubles as the id -> name index).
struct QueueState {
  Seq last_seq = 0;    // highest seq ever assigned and applied
  uint64_t depth = 0;  // entries in the index
  uint64_t bytes = 0;  // their messages' bytes
  uint64_t created_ms = 0;
  std::string name;
  std::string Encode() const {
    std::string out;
    out.reserve(32 + name.size());
    AppendFixed64(&out, last_seq);
    AppendFixed64(&out, depth);
    AppendFixed64(&out, bytes);
    AppendFixed64(&out, created_ms);
    out.append(name);
    return out;
  }
  bool Decode(std::string_view v) {
    if (v.size() < 32) return false;
    last_seq = DecodeFixed64(v.data());
    depth = DecodeFixed64(v.data() + 8);
    bytes = DecodeFixed64(v.data() + 16);
    created_ms = DecodeFixed64(v.data() + 24);
    name.assign(v.substr(32));
    return true;
  }
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_KEYS_H_
