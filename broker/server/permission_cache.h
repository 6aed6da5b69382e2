// PermissionCache: one connection's decisions on what its principal may do
// with which queue or group, so a publisher sending to the same queues
// matches their names against the principal's patterns once, not per
// message (docs/security.md, "What a check costs").
//
// Owned by a Session, created on its first check. Loop thread only.
#ifndef HERMOD_BROKER_SERVER_PERMISSION_CACHE_H_
#define HERMOD_BROKER_SERVER_PERMISSION_CACHE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "principals.h"

namespace hermod::server {

// What a name pattern grants (admin is a flag of the principal, not a pattern).
enum class Operation : uint8_t { kPublish = 0, kConsume = 1, kManage = 2 };

class PermissionCache {
 public:
  // Names remembered at most. Past that, a new name is matched against
  // the patterns each time and not remembered: memory stays bounded, the
  // names already remembered stay fast, and nothing is allocated per
  // publish (a cache emptied when full would allocate again and again for a
  // client that names endless queues). Matching costs about twice a lookup
  // (docs/benchmarks.md, "Principals").
  static constexpr size_t kMaxNames = 1024;

  // Whether `principal` may do `op` with `name`.
  bool Allowed(const Principal& principal, Operation op, std::string_view name) {
    const uint8_t bit = uint8_t{1} << static_cast<uint8_t>(op);
    auto it = decisions_.find(name);
    if (it == decisions_.end()) {
      if (decisions_.size() >= kMaxNames) return Patterns(principal, op).Matches(name);
      it = decisions_.emplace(std::string(name), Decisions{}).first;
    }
    Decisions& d = it->second;
    if ((d.known & bit) == 0) {
      d.known |= bit;
      if (Patterns(principal, op).Matches(name)) d.allowed |= bit;
    }
    return (d.allowed & bit) != 0;
  }

 private:
  static const NamePatterns& Patterns(const Principal& principal, Operation op) {
    return op == Operation::kPublish   ? principal.publish
           : op == Operation::kConsume ? principal.consume
                                       : principal.manage;
  }

  struct Decisions {
    uint8_t known = 0;    // one bit per Operation
    uint8_t allowed = 0;  // of those known
  };
  // Looked up by string_view without making a string.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Decisions, Hash, std::equal_to<>> decisions_;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_PERMISSION_CACHE_H_
