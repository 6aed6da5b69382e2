// GroupTable: the groups in memory (loaded on first use, with their
// members) and the fan-out jobs of group publishes waiting to expand into
// member entries.
//
// Group publishes of one group expand in publish order, so one publisher's
// messages reach every member in the order it sent them; groups take turns,
// so a large group does not hold up the others. How many member entries a
// storage batch carries is the Broker's budget (--fanout-chunk).
//
// Loop thread only.
#ifndef HERMOD_BROKER_CORE_GROUP_TABLE_H_
#define HERMOD_BROKER_CORE_GROUP_TABLE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "group.h"
#include "hermod/status.h"
#include "ring.h"
#include "store.h"

namespace hermod::core {

class GroupTable {
 public:
  // REQUIRES: store outlives the table.
  explicit GroupTable(store::Store* store) : store_(store) {}
  GroupTable(const GroupTable&) = delete;
  GroupTable& operator=(const GroupTable&) = delete;

  // The group, loaded with its members if needed; NotFound when it does not
  // exist or is being deleted.
  Result<Group*> Load(std::string_view name);
  // A new group (its creation is in the batch being filled).
  Group* Create(std::string_view name, uint64_t group_id, uint64_t created_ms);
  // A deleted queue leaves every group in memory that holds it.
  void ForgetMember(const std::string& queue_name, QueueId queue_id);

  // Fan-out jobs.
  void AddJob(FanoutJob job);
  // The jobs found unfinished at startup.
  // Resumes jobs read from the store; `partition_of` names each one's
  // partition (its group's), from the group id.
  void RecoverJobs(const std::vector<store::RecoveredFanout>& jobs,
                   const std::function<store::PartitionId(uint64_t group_id)>& partition_of);
  // Forgets the jobs of a partition this node stops leading (its next
  // leader finishes them from the store).
  void DropPartitionJobs(store::PartitionId partition);
  bool has_job(uint64_t group_id, uint64_t job_id) const;
  // A job whose group publish was never stored (its batch failed).
  void DropJob(uint64_t group_id, uint64_t job_id);
  bool has_jobs() const { return !jobs_.empty(); }
  // The job to expand next: the next group's turn, its oldest job.
  // REQUIRES: has_jobs().
  FanoutJob& NextJob();
  // The job NextJob() returned expanded its members up to `cursor`; a
  // finished job leaves.
  void Advance(FanoutJob& job, size_t cursor);

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  store::Store* store_;
  // Groups in use (and tombstones of groups deleted in an uncommitted batch).
  std::unordered_map<std::string, std::unique_ptr<Group>, NameHash, std::equal_to<>> groups_;
  // Fan-out jobs by group id.
  std::map<uint64_t, Ring<FanoutJob>> jobs_;
  uint64_t turn_ = 0;  // the group served last
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_GROUP_TABLE_H_
