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
  // Names remembered at most; the cache empties when full, so a client
  // naming endless queues cannot grow it.
  static constexpr size_t kMaxNames = 1024;

  // Whether `principal` may do `op` with `name`.
  bool Allowed(const Principal& principal, Operation op, std::string_view name) {
    auto it = decisions_.find(name);
    if (it == decisions_.end()) {
      if (decisions_.size() >= kMaxNames) decisions_.clear();
      it = decisions_.emplace(std::string(name), Decisions{}).first;
    }
    Decisions& d = it->second;
    const uint8_t bit = uint8_t{1} << static_cast<uint8_t>(op);
    if ((d.known & bit) == 0) {
      const NamePatterns& patterns = op == Operation::kPublish   ? principal.publish
                                     : op == Operation::kConsume ? principal.consume
                                                                 : principal.manage;
      d.known |= bit;
      if (patterns.Matches(name)) d.allowed |= bit;
    }
    return (d.allowed & bit) != 0;
  }

 private:
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
