// DedupIndex: which dedup ids were published to which queue (or group)
// lately, so that a publish repeating one is confirmed with the original
// message instead of being stored again.
//
// Two kinds of ids, two lifetimes:
// - Ids chosen by applications are kept for the whole dedup window: in
//   memory until their log record is applied, then in the store's dedup
//   table (swept once older than the window).
// - Ids libhermod generates for its own resends ("~<client>-<n>") guard only
//   against a resend after a reconnect, which repeats that client's last
//   unconfirmed publishes seconds later. They live in memory, in one small
//   ring per client (48 bytes an id, the newest --max-client-dedup-ids per
//   client, within the window), and in the log, from which a restart after a
//   crash brings back those of the last moments (Store::Recover). They never
//   cost an index write.
//
// Loop thread only.
#ifndef HERMOD_BROKER_CORE_DEDUP_INDEX_H_
#define HERMOD_BROKER_CORE_DEDUP_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "hermod/status.h"
#include "queue.h"
#include "ring.h"
#include "store.h"

namespace hermod::core {

using store::IsClientDedupId;

// A dedup id is 1 to 255 bytes of UTF-8 without control characters.
Status ValidateDedupId(std::string_view id);

class DedupIndex {
 public:
  struct Original {
    MsgId msg_id = 0;
    Seq seq = 0;
    BatchNo batch_no = 0;  // whose commit makes the original durable
  };

  // max_per_client: client-generated ids kept per client.
  DedupIndex(store::Store* store, uint64_t window_ms, size_t max_per_client)
      : store_(store), window_ms_(window_ms), max_per_client_(max_per_client) {}

  // The original publish with this id to this target inside the window.
  Result<std::optional<Original>> Find(QueueId target, std::string_view dedup_id, uint64_t now_ms);
  // Records a new publish with a dedup id.
  void Add(QueueId target, std::string_view dedup_id, const Original& original, uint64_t now_ms);
  // The publish of msg_id with this id was never stored (its batch failed):
  // a repeat is a new publish.
  void Forget(QueueId target, std::string_view dedup_id, MsgId msg_id);
  // The publish of msg_id with this id is retried in another batch.
  void Moved(QueueId target, std::string_view dedup_id, MsgId msg_id, BatchNo batch_no,
             uint64_t now_ms);
  // Forgets what the store now holds or what is past the window or bound.
  // applied_through: the newest batch whose log record is applied.
  void Trim(uint64_t now_ms, BatchNo applied_through);

  // Forgets every id published to one of these targets (a partition
  // rebuilt from its leader's snapshot).
  void ForgetTargets(const std::unordered_set<QueueId>& targets);

  size_t size() const;
  uint64_t window_ms() const { return window_ms_; }

 private:
  // A client-generated id, parsed.
  struct ClientId {
    uint64_t client = 0;
    uint64_t n = 0;
  };
  static std::optional<ClientId> ParseClientId(std::string_view id);

  struct ClientRecord {
    uint64_t n = 0;
    QueueId target = 0;
    Original original;
    uint64_t time_ms = 0;
  };
  struct Record {
    Original original;
    uint64_t time_ms = 0;
  };
  struct Order {
    std::string key;
    BatchNo batch_no = 0;
    uint64_t time_ms = 0;
  };

  ClientRecord* FindClientRecord(const ClientId& id);
  // The original of msg_id under this id, wherever it is kept; null if none.
  Original* FindOriginal(QueueId target, std::string_view dedup_id, MsgId msg_id);

  store::Store* store_;
  uint64_t window_ms_;
  size_t max_per_client_;
  // Client-generated ids: per client, in the order of n (a client numbers
  // its publishes in the order it sends them).
  std::unordered_map<uint64_t, Ring<ClientRecord>> clients_;
  size_t client_records_ = 0;
  // The key of an id in map_: the target's bytes, then the id.
  static std::string MemoryKey(QueueId target, std::string_view dedup_id);
  // Every other id, keyed by MemoryKey, with its insertion order.
  std::unordered_map<std::string, Record> map_;
  Ring<Order> order_;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_DEDUP_INDEX_H_
