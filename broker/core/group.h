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
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "keys.h"
#include "message.h"

namespace hermod::core {

using store::QueueId;

// A group's members of other partitions, by partition, names sorted (a
// cluster forwards a publish to each partition's leader).
using RemoteMembers = std::map<store::PartitionId, std::vector<std::string>>;

struct Group {
  std::string name;
  uint64_t group_id = 0;
  uint64_t created_ms = 0;
  bool deleted = false;  // deleted in a batch that may not have committed yet
  // Member name -> queue id; 0 for a member of another partition (a cluster
  // stores those by name: only their own leader creates their queues).
  std::unordered_map<std::string, QueueId> members;

  // The member ids of the group's own partition, sorted; rebuilt after a
  // membership change. `partition_of` (a cluster's) names each member's
  // partition; null: every member is in the group's own.
  std::shared_ptr<const std::vector<QueueId>> Snapshot(
      const std::function<store::PartitionId(std::string_view)>& partition_of = nullptr,
      store::PartitionId own = 0) {
    if (!snapshot_) {
      auto ids = std::make_shared<std::vector<QueueId>>();
      auto remote = std::make_shared<RemoteMembers>();
      ids->reserve(members.size());
      for (auto& [name, id] : members) {
        store::PartitionId p = partition_of ? partition_of(name) : own;
        if (p == own && id != 0) {
          ids->push_back(id);
        } else if (p != own) {
          (*remote)[p].push_back(name);
        }
      }
      std::sort(ids->begin(), ids->end());
      for (auto& [p, names] : *remote) std::sort(names.begin(), names.end());
      snapshot_ = std::move(ids);
      remote_ = std::move(remote);
    }
    return snapshot_;
  }
  // The members of other partitions, as of the last Snapshot().
  const RemoteMembers& remote() const { return *remote_; }
  void Changed() {
    snapshot_.reset();
    remote_.reset();
  }

 private:
  std::shared_ptr<const std::vector<QueueId>> snapshot_;
  std::shared_ptr<const RemoteMembers> remote_;
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
