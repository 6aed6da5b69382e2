// BrokerConfig: the core's limits and tunables (the connection layer's are
// server::SessionOptions). Every field is a hermodd flag and config-file key; the defaults here are
// the documented ones (docs/operations.md). Plain value; any thread.
#ifndef HERMOD_BROKER_CORE_CONFIG_H_
#define HERMOD_BROKER_CORE_CONFIG_H_

#include <cstdint>
#include <string>

#include "settings.h"
#include "unapplied_log.h"

namespace hermod::core {

struct BrokerConfig {
  // Bytes of envelopes a `queue peek` answer holds at most (at least one
  // entry goes): the server sets half its largest frame, so the reply fits
  // the frames clients accept.
  uint32_t max_peek_bytes = 8 << 20;
  // A storage batch closes at this many publishes or bytes; while the
  // storage thread is busy and the next batch is full, publishers' reads pause.
  uint32_t max_batch_messages = 4096;
  uint64_t max_batch_bytes = 8 << 20;
  // When log records move into the index (docs/design.md, "Storage").
  ApplyPolicy apply;
  // Output a connection may leave unread before it is closed as too slow
  // (used by the server layer for every connection).
  uint64_t max_pending_output = 64 << 20;
  // Deliver a message only once its batch is durable, as hermod did before
  // 0.2. By default a publish to a queue with a waiting consumer is
  // delivered as soon as the loop has it, and only its confirm waits for
  // the commit (docs/semantics.md, "Delivery before durability").
  bool deliver_after_commit = false;
  // Deliveries are read from the index this many at a time.
  uint32_t index_read_ahead = 256;
  // Queue limits, dead-lettering and ack wait, unless a queue overrides them.
  QueueDefaults queue_defaults;
  // A publish repeating a dedup id seen on its queue this recently is
  // confirmed with the original message and not stored again.
  uint64_t dedup_window_ms = 120000;
  // Client-generated dedup ids held in memory per client at most
  // (core/dedup_index.h): enough for any client's unconfirmed publishes.
  uint64_t max_client_dedup_ids = 65536;
  // The expiry and dedup sweeps: how often, and how much per round.
  uint32_t sweep_interval_ms = 1000;
  uint32_t sweep_batch = 1000;
  // Group fan-out: member entries written per storage batch at most, so a
  // large group expands in chunks that interleave with other traffic.
  uint32_t fanout_chunk = 4096;
  // Scheduled delivery: how far ahead a publish may be scheduled (366 days).
  uint64_t max_schedule_ms = 366ull * 24 * 3600 * 1000;
  // Redrive: dead letters moved per request at most (the CLI repeats it).
  uint32_t redrive_batch = 1000;
  // Group and member names returned per page by default.
  uint32_t list_page = 100;
  // /metrics lists per-queue series for this many of the deepest queues,
  // found by a scan of this many queues per sweep round.
  uint32_t metrics_top_queues = 20;
  uint32_t metrics_scan_slice = 20000;
  // Publishes are refused (kStorageFull) while the store has less room than
  // this left, so that acks, fan-out and the apply of the log, which free
  // space or need a little, always have some (docs/operations.md). Set from
  // --store-reserve-bytes, at most a quarter of --max-store-bytes.
  uint64_t store_reserve_bytes = 64 << 20;
  // Reported in Welcome.
  std::string sync_mode = "always";
  // In a cluster (docs/cluster.md), set by its membership, not by flags:
  // the partitions of the queue space, whose number every operation in the
  // log is tagged with (store/log_record.h), and this data directory's id
  // prefix (store/keys.h). A single node: one partition, prefix 0.
  // A cluster node serves no partition until it is made its leader.
  bool cluster = false;
  uint32_t partitions = 1;
  uint32_t id_prefix = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_CONFIG_H_
