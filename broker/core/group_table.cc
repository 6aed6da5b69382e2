#include "group_table.h"

#include <spdlog/spdlog.h>

#include <limits>

#include "check.h"

namespace hermod::core {

Result<Group*> GroupTable::Load(std::string_view name) {
  auto it = groups_.find(name);
  if (it != groups_.end()) {
    if (it->second->deleted) return Status::NotFound("no group " + std::string(name));
    return it->second.get();
  }
  Result<std::optional<store::GroupInfoValue>> info = store_->FindGroup(name);
  if (!info.ok()) return info.status();
  if (!info->has_value()) return Status::NotFound("no group " + std::string(name));
  auto group = std::make_unique<Group>();
  group->name.assign(name);
  group->group_id = (*info)->group_id;
  group->created_ms = (*info)->created_ms;
  std::vector<std::pair<std::string, QueueId>> members;
  Status s = store_->ReadGroupMembers(name, "", std::numeric_limits<size_t>::max(), &members);
  if (!s.ok()) return s;
  for (auto& [member, queue_id] : members) group->members.emplace(std::move(member), queue_id);
  Group* raw = group.get();
  groups_.emplace(raw->name, std::move(group));
  return raw;
}

Group* GroupTable::Create(std::string_view name, uint64_t group_id, uint64_t created_ms) {
  auto& slot = groups_[std::string(name)];  // replaces a tombstone
  slot = std::make_unique<Group>();
  slot->name.assign(name);
  slot->group_id = group_id;
  slot->created_ms = created_ms;
  return slot.get();
}

void GroupTable::ForgetMember(const std::string& queue_name, QueueId queue_id) {
  for (auto& [name, group] : groups_) {
    auto member = group->members.find(queue_name);
    if (member == group->members.end() || member->second != queue_id) continue;
    group->members.erase(member);
    group->Changed();
  }
}

void GroupTable::AddJob(FanoutJob job) {
  uint64_t group_id = job.group_id;
  jobs_[group_id].push_back(std::move(job));
}

void GroupTable::RecoverJobs(
    const std::vector<store::RecoveredFanout>& jobs,
    const std::function<store::PartitionId(uint64_t group_id)>& partition_of) {
  for (const store::RecoveredFanout& recovered : jobs) {
    FanoutJob job;
    job.partition = partition_of(recovered.header.group_id);
    job.job_id = recovered.job_id;
    job.group_id = recovered.header.group_id;
    job.msg_id = recovered.header.msg_id;
    job.msg = MessageRef(Message::Create(job.msg_id, recovered.envelope));
    job.bytes = static_cast<uint32_t>(recovered.envelope.size());
    job.expires_ms = store::Store::EnvelopeExpiry(recovered.envelope);
    job.members = std::make_shared<const std::vector<QueueId>>(recovered.members);
    job.cursor = recovered.header.cursor;
    AddJob(std::move(job));
  }
  if (!jobs.empty()) spdlog::info("resuming {} fan-out jobs", jobs.size());
}

void GroupTable::DropPartitionJobs(store::PartitionId partition) {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Ring<FanoutJob>& jobs = it->second;
    for (size_t i = jobs.size(); i-- > 0;) {
      if (jobs[i].partition == partition) jobs.erase_at(i);
    }
    it = jobs.empty() ? jobs_.erase(it) : std::next(it);
  }
}

bool GroupTable::has_job(uint64_t group_id, uint64_t job_id) const {
  auto it = jobs_.find(group_id);
  if (it == jobs_.end()) return false;
  for (size_t i = 0; i < it->second.size(); ++i) {
    if (it->second[i].job_id == job_id) return true;
  }
  return false;
}

void GroupTable::DropJob(uint64_t group_id, uint64_t job_id) {
  auto it = jobs_.find(group_id);
  if (it == jobs_.end()) return;
  Ring<FanoutJob>& jobs = it->second;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].job_id == job_id) {
      jobs.erase_at(i);
      break;
    }
  }
  if (jobs.empty()) jobs_.erase(it);
}

FanoutJob& GroupTable::NextJob() {
  HERMOD_CHECK(!jobs_.empty());
  auto it = jobs_.upper_bound(turn_);
  if (it == jobs_.end()) it = jobs_.begin();
  turn_ = it->first;
  return it->second.front();
}

void GroupTable::Advance(FanoutJob& job, size_t cursor) {
  job.cursor = cursor;
  if (cursor < job.members->size()) return;
  auto it = jobs_.find(job.group_id);
  HERMOD_CHECK(it != jobs_.end() && &it->second.front() == &job);
  it->second.pop_front();
  if (it->second.empty()) jobs_.erase(it);
}

}  // namespace hermod::core
