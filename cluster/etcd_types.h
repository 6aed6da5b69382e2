// The values EtcdClient takes and returns: etcd v3's KeyValue, compares and
// operations of a transaction, watch events. Plain values; any thread.
//
// Numbers that name different things have different names, as etcd's own
// protocol does: a store revision (`revision`, `create_revision`,
// `mod_revision`) is global to the cluster, a key's `version` counts the
// puts since the key was created, and a `lease_id` names a lease.
#ifndef HERMOD_CLUSTER_ETCD_TYPES_H_
#define HERMOD_CLUSTER_ETCD_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hermod::cluster {

using LeaseId = int64_t;  // 0: no lease

// One key as etcd stores it. Keys and values are bytes.
struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;  // revision of the put that created the key
  int64_t mod_revision = 0;     // revision of the last put
  int64_t version = 0;          // puts since creation; 0 for a deleted key
  LeaseId lease_id = 0;         // the lease the key is attached to, or 0
};

// The answer to a range read: the keys, and the store's revision when it
// was read (a watch from revision + 1 misses nothing after it).
struct RangeResult {
  int64_t revision = 0;
  std::vector<KeyValue> kvs;
};

// One condition of a transaction: `key`'s `target` compared to a number
// (revisions, version) or to `value`. A missing key has create_revision,
// mod_revision and version 0, so "create_revision == 0" means "absent".
struct Compare {
  enum class Target { kCreateRevision, kModRevision, kVersion, kValue };
  enum class Result { kEqual, kNotEqual, kGreater, kLess };

  std::string key;
  Target target = Target::kCreateRevision;
  Result result = Result::kEqual;
  int64_t number = 0;  // for every target but kValue
  std::string value;   // for kValue

  static Compare CreateRevision(std::string key, Result result, int64_t revision) {
    return {std::move(key), Target::kCreateRevision, result, revision, {}};
  }
  static Compare ModRevision(std::string key, Result result, int64_t revision) {
    return {std::move(key), Target::kModRevision, result, revision, {}};
  }
  static Compare Version(std::string key, Result result, int64_t version) {
    return {std::move(key), Target::kVersion, result, version, {}};
  }
  static Compare Value(std::string key, Result result, std::string value) {
    return {std::move(key), Target::kValue, result, 0, std::move(value)};
  }
};

// One operation of a transaction's success or failure branch.
struct TxnOp {
  enum class Kind { kRange, kPut, kDelete };

  Kind kind = Kind::kRange;
  std::string key;
  std::string range_end;  // empty: `key` alone; else [key, range_end)
  std::string value;      // kPut
  LeaseId lease_id = 0;   // kPut

  static TxnOp Get(std::string key) { return {Kind::kRange, std::move(key), {}, {}, 0}; }
  static TxnOp GetPrefix(std::string prefix);
  static TxnOp Put(std::string key, std::string value, LeaseId lease_id = 0) {
    return {Kind::kPut, std::move(key), {}, std::move(value), lease_id};
  }
  static TxnOp Delete(std::string key) { return {Kind::kDelete, std::move(key), {}, {}, 0}; }
};

// What one TxnOp did: the keys a kRange read, or how many a kDelete removed.
struct TxnOpResult {
  TxnOp::Kind kind = TxnOp::Kind::kRange;
  std::vector<KeyValue> kvs;  // kRange
  int64_t deleted = 0;        // kDelete
};

struct TxnResult {
  int64_t revision = 0;                // the store's revision after the transaction
  bool succeeded = false;              // every compare held: the success branch ran
  std::vector<TxnOpResult> responses;  // one per op of the branch that ran
};

struct DeleteResult {
  int64_t revision = 0;
  int64_t deleted = 0;  // how many keys were removed
};

struct Lease {
  LeaseId lease_id = 0;
  int64_t ttl_s = 0;  // as granted by etcd
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // For kDelete: the key, and mod_revision = the revision of the delete.
  KeyValue kv;
  // The key before this event, when the watch asked for it and it existed.
  std::optional<KeyValue> prev_kv;
};

// The end of the range [key, range_end) that holds every key starting with
// `prefix`: the prefix with its last byte below 0xff incremented, as
// clientv3.GetPrefixRangeEnd. "\0" (every key) for an empty prefix or one
// of 0xff bytes only.
std::string PrefixRangeEnd(std::string_view prefix);

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_ETCD_TYPES_H_
