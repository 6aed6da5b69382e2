// Group and FanoutJob: a group's membership as the loop holds it, and one
// group publish being expanded into member entries.
//
// A group publish takes a snapshot of the member queue ids (shared by every
// publish until the membership changes), so "members are read at publish
// time" holds exactly however long the expansion takes. Loop thread only.
#ifndef HERMOD_BROKER_CORE_GROUP_H_
#define HERMOD_BROKER_CORE_GROUP_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "keys.h"
#include "message.h"

namespace hermod::core {

using store::QueueId;

struct Group {
  std::string name;
  uint64_t group_id = 0;
  uint64_t created_ms = 0;
  bool deleted = false;  // deleted in a batch that may not have committed yet
  std::unordered_map<std::string, QueueId> members;

  // The member ids, sorted; rebuilt after a membership change.
  std::shared_ptr<const std::vector<QueueId>> Snapshot() {
    if (!snapshot_) {
      auto ids = std::make_shared<std::vector<QueueId>>();
      ids->reserve(members.size());
      for (auto& [name, id] : members) ids->push_back(id);
      std::sort(ids->begin(), ids->end());
      snapshot_ = std::move(ids);
    }
    return snapshot_;
  }
  void Changed() { snapshot_.reset(); }

 private:
  std::shared_ptr<const std::vector<QueueId>> snapshot_;
};

struct FanoutJob {
  store::PartitionId partition = 0;  // the group's
  uint64_t job_id = 0;
  uint64_t group_id = 0;
  MsgId msg_id = 0;
  MessageRef msg;  // shared by every member entry made from it
  uint32_t bytes = 0;
  uint64_t expires_ms = 0;
  std::shared_ptr<const std::vector<QueueId>> members;
  size_t cursor = 0;  // members expanded so far
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_GROUP_H_
