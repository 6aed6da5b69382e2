#include "hermod/partition.h"

#include <xxhash.h>

#include "check.h"

namespace hermod {

uint32_t PartitionOf(std::string_view name, uint32_t partitions) {
  HERMOD_CHECK(partitions > 0);
  return static_cast<uint32_t>(XXH64(name.data(), name.size(), 0) % partitions);
}

}  // namespace hermod
