// DedupIndex: which dedup ids were published to which queue lately, so that
// a publish repeating one is confirmed with the original message instead of
// being stored again.
//
// Two kinds of ids, two lifetimes:
// - Ids chosen by applications are kept for the whole dedup window: in
//   memory until their log record is applied, then in the store's dedup
//   table (swept once older than the window).
// - Ids libhermod generates for its own resends (they start with "~") guard
//   only against a resend after a reconnect, which follows its original by
//   seconds: they live in memory (bounded by the window and a count) and in
//   the log, and after a crash the unapplied log tail brings them back
//   (Store::Recover). They never cost an index write.
//
// Loop thread only.
#ifndef HERMOD_BROKER_CORE_DEDUP_INDEX_H_
#define HERMOD_BROKER_CORE_DEDUP_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

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

  DedupIndex(store::Store* store, uint64_t window_ms, size_t max_client_ids)
      : store_(store), window_ms_(window_ms), max_client_ids_(max_client_ids) {}

  // The original publish with this id to this queue inside the window.
  Result<std::optional<Original>> Find(QueueId queue_id, std::string_view dedup_id,
                                       uint64_t now_ms);
  // Records a new publish with a dedup id.
  void Add(QueueId queue_id, std::string_view dedup_id, const Original& original, uint64_t now_ms);
  // Forgets what the store now holds or what is past the window/bound.
  // applied_through: the newest batch whose log record is applied.
  void Trim(uint64_t now_ms, BatchNo applied_through);

  size_t size() const { return map_.size(); }
  uint64_t window_ms() const { return window_ms_; }

 private:
  struct Record {
    Original original;
    uint64_t time_ms = 0;
  };
  struct Order {
    std::string key;
    BatchNo batch_no = 0;
    uint64_t time_ms = 0;
    bool client_id = false;
  };

  store::Store* store_;
  uint64_t window_ms_;
  size_t max_client_ids_;
  std::unordered_map<std::string, Record> map_;
  Ring<Order> order_;  // insertion order, for trimming
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_DEDUP_INDEX_H_
