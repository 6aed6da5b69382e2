// Which partition of a cluster holds a queue (or a group).
//
// A cluster splits the queue space into P partitions, fixed when the
// cluster is created; every client and every node must compute the same
// partition for a name, so the function is part of the protocol
// (docs/protocol.md, "Partitions"): XXH64 of the name's bytes with seed 0,
// modulo P. XXH64 is specified and implemented in most languages, so a
// client written in any of them can route by itself.
#ifndef HERMOD_PARTITION_H_
#define HERMOD_PARTITION_H_

#include <cstdint>
#include <string_view>

namespace hermod {

// The partition of the queue or group `name` among `partitions` (> 0).
uint32_t PartitionOf(std::string_view name, uint32_t partitions);

}  // namespace hermod

#endif  // HERMOD_PARTITION_H_
