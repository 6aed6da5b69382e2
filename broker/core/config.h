// BrokerConfig: the core's limits and tunables. Every field is a hermodd flag
// and config-file key; the defaults here are the documented ones
// (docs/operations.md). Plain value; any thread.
#ifndef HERMOD_BROKER_CORE_CONFIG_H_
#define HERMOD_BROKER_CORE_CONFIG_H_

#include <cstdint>
#include <string>

#include "frame_codec.h"
#include "unapplied_log.h"

namespace hermod::core {

struct BrokerConfig {
  // Largest inbound frame (the length prefix's value).
  uint32_t max_frame_bytes = proto::kDefaultMaxFrameBytes;
  // A storage batch closes at this many publishes or bytes; while the
  // storage thread is busy and the next batch is full, publishers' reads pause.
  uint32_t max_batch_messages = 4096;
  uint64_t max_batch_bytes = 8 << 20;
  // When log records move into the index (docs/design.md, "Storage").
  ApplyPolicy apply;
  // Output a connection may leave unread before it is closed as too slow.
  uint64_t max_pending_output = 64 << 20;
  // Deliveries to a connection pause while this much of its output is
  // unwritten, and resume once it drains: credit bounds the count of
  // deliveries, this bounds their bytes.
  uint64_t delivery_high_water = 4 << 20;
  // Deliveries are read from the index this many at a time.
  uint32_t index_read_ahead = 256;
  // Reported in Welcome.
  std::string sync_mode = "always";
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_CONFIG_H_
