// The groups half of the Broker: group administration, group publishes, and
// the fan-out that expands them into member entries a bounded chunk per
// storage batch. See broker.h and docs/design.md ("Groups and fan-out").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "broker.h"
#include "names.h"

namespace hermod::core {

namespace {

Status ValidateGroupName(std::string_view name) {
  Status s = ValidateQueueName(name);
  if (s.ok()) return s;
  std::string message = s.message();
  if (message.rfind("queue name", 0) == 0) message.replace(0, 10, "group name");
  return Status::InvalidArgument(message);
}

}  // namespace

void Broker::ChangeGroup(ClientId client_id, const GroupChangeRequest& request) {
  Client& client = *FindClient(client_id);
  uint64_t correlation_id = request.correlation_id;
  auto fail = [&](const Status& s) { out_->Error(client_id, s, correlation_id, false); };
  std::string_view name = request.group;
  GroupOp op = request.op;
  if (Status s = ValidateGroupName(name); !s.ok()) return fail(s);
  if (Status s = CheckServes(name); !s.ok()) return fail(s);
  if (!storage_failure_.ok()) return fail(storage_failure_);
  if (draining_) return fail(Status(ErrorCode::kShuttingDown, "broker is stopping"));

  store::WriteBatch& batch = pipeline_.batch();
  batch.log.In(PartitionOfName(name));
  uint64_t changed = 0;
  switch (op) {
    case GroupOp::kCreate: {
      Result<Group*> existing = groups_.Load(name);
      if (existing.ok())
        return fail(Status::AlreadyExists("group " + std::string(name) + " exists"));
      if (!existing.status().IsNotFound()) return fail(existing.status());
      Group* group = groups_.Create(name, pipeline_.ids().next_group_id++, Now());
      store::GroupChange change;
      change.kind = store::GroupChange::kCreate;
      change.group.assign(name);
      change.group_id = group->group_id;
      change.created_ms = group->created_ms;
      batch.log.ChangeGroup(change);
      changed = 1;
      break;
    }
    case GroupOp::kDelete: {
      Result<Group*> group = groups_.Load(name);
      if (!group.ok()) return fail(group.status());
      // Fan-outs in progress keep their own member lists: they finish.
      changed = (*group)->members.size();
      (*group)->deleted = true;
      (*group)->members.clear();
      (*group)->Changed();
      store::GroupChange change;
      change.kind = store::GroupChange::kDelete;
      change.group.assign(name);
      batch.log.ChangeGroup(change);
      break;
    }
    case GroupOp::kAdd:
    case GroupOp::kRemove: {
      Result<Group*> found = groups_.Load(name);
      if (!found.ok()) return fail(found.status());
      Group* group = *found;
      // All or nothing: check every name before changing anything.
      for (size_t i = 0; i < request.members.size(); ++i) {
        if (Status s = ValidateQueueName(request.members[i]); !s.ok()) {
          return fail(Status::InvalidArgument("member " + std::to_string(i) + ": " + s.message()));
        }
      }
      for (std::string_view member : request.members) {
        store::GroupChange change;
        change.group.assign(name);
        change.member.assign(member);
        if (op == GroupOp::kAdd) {
          if (group->members.count(change.member) > 0) continue;
          change.kind = store::GroupChange::kAdd;
          if (config_.cluster && PartitionOfName(member) != PartitionOfName(name)) {
            // Another partition's member: only its own leader creates its
            // queue, when the first publish is forwarded there.
            change.queue_id = 0;
            group->members.emplace(change.member, 0);
            batch.log.ChangeGroup(change);
            ++changed;
            continue;
          }
          // A member queue need not exist yet: adding it creates it, so the
          // group can hold its id.
          Result<Queue*> q = queues_.Load(member);
          if (!q.ok()) return fail(q.status());
          EnsureCreated(*q);
          batch.log.In(PartitionOfName(name));  // EnsureCreated logs in the member's
          change.queue_id = (*q)->queue_id();
          group->members.emplace(change.member, change.queue_id);
        } else {
          if (group->members.erase(change.member) == 0) continue;
          change.kind = store::GroupChange::kRemove;
        }
        batch.log.ChangeGroup(change);
        ++changed;
      }
      if (changed > 0) group->Changed();
      break;
    }
  }
  // The reply goes once the change is durable; nothing changed: at once.
  PendingReply reply;
  reply.batch_no = changed > 0 || op == GroupOp::kCreate ? pipeline_.batch_no() : 0;
  reply.correlation_id = correlation_id;
  reply.changed = changed;
  reply.kind = PendingReply::kGroup;
  AddReply(client, reply);
}

Result<GroupPage> Broker::ListGroups(const PageRequest& request) {
  size_t limit = request.limit != 0 ? request.limit : config_.list_page;
  std::vector<store::GroupSummary> groups;
  Status s = store_->ListGroups(request.prefix, request.after, limit + 1, &groups);
  if (!s.ok()) return s;
  GroupPage page;
  if (groups.size() > limit) {
    groups.resize(limit);
    page.next = groups.back().name;
  }
  for (store::GroupSummary& g : groups) {
    page.groups.push_back(GroupSummary{std::move(g.name), g.info.members, g.info.created_ms});
  }
  return page;
}

Result<GroupMembers> Broker::ShowGroup(std::string_view name, const PageRequest& request) {
  if (Status s = ValidateGroupName(name); !s.ok()) return s;
  Result<std::optional<store::GroupInfoValue>> info = store_->FindGroup(name);
  if (!info.ok()) return info.status();
  if (!info->has_value()) return Status::NotFound("no group " + std::string(name));
  size_t limit = request.limit != 0 ? request.limit : config_.list_page;
  std::vector<std::pair<std::string, QueueId>> members;
  Status s = store_->ReadGroupMembers(name, request.after, limit + 1, &members);
  if (!s.ok()) return s;
  GroupMembers result;
  result.member_count = (*info)->members;
  if (members.size() > limit) {
    members.resize(limit);
    result.next = members.back().first;
  }
  for (auto& [member, queue_id] : members) result.members.push_back(std::move(member));
  return result;
}

void Broker::PublishToGroup(Client& client, const PublishRequest& publish,
                            const store::NewEnvelope& envelope, size_t envelope_bytes) {
  uint64_t correlation_id = publish.correlation_id;
  std::string_view name = publish.group;
  if (Status s = ValidateGroupName(name); !s.ok()) {
    return RefusePublish(client, correlation_id, s);
  }
  if (Status s = CheckServes(name); !s.ok()) return RefusePublish(client, correlation_id, s);
  if (Status s = CheckStoreRoom(); !s.ok()) return RefusePublish(client, correlation_id, s);
  Result<Group*> found = groups_.Load(name);
  if (!found.ok()) return RefusePublish(client, correlation_id, found.status());
  Group* group = *found;
  uint64_t now = envelope.publish_ms;
  BatchNo batch_no = pipeline_.batch_no();
  QueueId dedup_target = store::kGroupDedupBit | group->group_id;
  std::string_view dedup_id = publish.dedup_id;
  if (!dedup_id.empty()) {
    Result<std::optional<DedupIndex::Original>> original = dedup_.Find(dedup_target, dedup_id, now);
    if (!original.ok()) return RefusePublish(client, correlation_id, original.status());
    if (original->has_value()) {
      ++stats_.duplicates;
      const DedupIndex::Original& o = **original;
      PendingReply reply;
      reply.batch_no = o.batch_no;
      reply.correlation_id = correlation_id;
      reply.msg_id = o.msg_id;
      reply.kind = PendingReply::kDuplicate;
      AddReply(client, reply);
      return;
    }
  }

  // The message is stored once, with its job and the members it goes to;
  // the confirm waits for that, not for the member entries.
  uint64_t expires_ms = envelope.expires_ms;
  store::WriteBatch& batch = pipeline_.batch();
  store::FanoutStart start;
  start.job_id = pipeline_.ids().next_job_id++;
  start.msg_id = pipeline_.ids().next_msg_id++;
  start.group_id = group->group_id;
  start.created_ms = now;
  start.envelope.reserve(envelope_bytes);
  envelope.Write(&start.envelope);
  FanoutJob job;
  job.partition = PartitionOfName(name);
  job.job_id = start.job_id;
  job.group_id = group->group_id;
  job.msg_id = start.msg_id;
  job.msg = MessageRef(Message::Create(start.msg_id, start.envelope));
  job.bytes = static_cast<uint32_t>(envelope_bytes);
  job.expires_ms = expires_ms;
  if (config_.cluster) {
    job.members =
        group->Snapshot([this](std::string_view m) { return PartitionOfName(m); }, job.partition);
  } else {
    job.members = group->Snapshot();
  }
  start.members = *job.members;
  if (publish.receipt == "all" && !group->remote().empty()) {
    // Members elsewhere settle their copies at their partitions' leaders,
    // which do not report back to this one.
    return RefusePublish(client, correlation_id,
                         Status(ErrorCode::kNotSupported,
                                "receipt \"all\" needs every member of group " + std::string(name) +
                                    " in its partition; use \"each\""));
  }
  batch.log.In(job.partition).StartFanout(start);
  if (publish.receipt == "all") StartReceiptTally(job, publish.receipt_to);
  if (!group->remote().empty()) ForwardFanout(*group, job, start.envelope);
  pipeline_.NotePublish(envelope_bytes);
  if (!dedup_id.empty()) {
    batch.log.Dedup(dedup_target, 0, job.msg_id, now, dedup_id);
    dedup_.Add(dedup_target, dedup_id, DedupIndex::Original{job.msg_id, 0, batch_no}, now);
  }
  PendingReply reply;
  reply.batch_no = batch_no;
  reply.correlation_id = correlation_id;
  reply.msg_id = job.msg_id;
  reply.kind = PendingReply::kPublish;
  AddReply(client, reply);
  groups_.AddJob(std::move(job));
  ++stats_.group_publishes;
  ++stats_.published;
  for (const Header& h : envelope.extra_headers) {
    if (h.key == store::kDeliverAtHeader) ++stats_.scheduled;
  }
}

void Broker::ExpandFanouts() {
  if (!groups_.has_jobs()) return;
  if (fanout_batch_ != pipeline_.batch_no()) {
    fanout_batch_ = pipeline_.batch_no();
    fanout_in_batch_ = 0;
  }
  store::WriteBatch& batch = pipeline_.batch();
  while (fanout_in_batch_ < config_.fanout_chunk && groups_.has_jobs()) {
    FanoutJob& job = groups_.NextJob();
    size_t total = job.members->size();
    size_t end = std::min<size_t>(total, job.cursor + (config_.fanout_chunk - fanout_in_batch_));
    uint32_t added = 0;
    for (size_t i = job.cursor; i < end; ++i) {
      Result<Queue*> found = queues_.LoadById((*job.members)[i]);
      if (!found.ok()) {
        SettleSkippedMember(job, nullptr);  // the member queue is gone
        continue;
      }
      if (AddFanoutEntry(*found, job.msg_id, job.msg, job.bytes, job.expires_ms)) {
        ++added;
      } else {
        SettleSkippedMember(job, *found);
      }
    }
    fanout_in_batch_ += end - job.cursor;
    stats_.fanout_entries += added;
    batch.log.In(job.partition)
        .AdvanceFanout(store::FanoutProgress{job.job_id, job.msg_id, static_cast<uint32_t>(end),
                                             added, end == total});
    groups_.Advance(job, end);  // a finished job leaves: job is gone
  }
}

bool Broker::AddFanoutEntry(Queue* q, MsgId msg_id, const MessageRef& msg, uint32_t bytes,
                            uint64_t expires_ms) {
  if (Status s = MakeRoom(q, bytes); !s.ok()) {
    spdlog::debug("group fan-out skips {}: {}", q->name(), s.ToString());
    return false;
  }
  store::WriteBatch& batch = pipeline_.batch();
  Entry entry;
  entry.seq = q->next_seq++;
  entry.batch_no = batch.batch_no;
  entry.msg_id = msg_id;
  entry.bytes = bytes;
  entry.expires_ms = expires_ms;
  entry.msg = msg;
  batch.log.In(q->partition).Entry(q->queue_id(), entry.seq, msg_id, bytes, expires_ms);
  q->tail.push_back(std::move(entry));
  q->depth += 1;
  q->bytes += bytes;
  pipeline_.NoteLogQueue(q);
  // Delivery does not wait for the commit (the message is durable already;
  // its entry will be with this batch).
  if (!config_.deliver_after_commit && !q->consumers.empty()) Dispatch(q);
  return true;
}

// ---------------------------------------------------------------------------
// Group fan-out across partitions (docs/design.md). The group's leader
// logs one forward per other partition (and chunk of fanout_chunk
// members), each holding a reference on the message, in the publish's own
// batch: its followers hold them too, so a new leader resumes them. Once
// the batch is replicated, the forward listener (the replicator) sends
// them to the members' leader until it answers; ForwardDone() then logs
// them done.

void Broker::ForwardFanout(Group& group, const FanoutJob& job, std::string_view envelope) {
  store::WriteBatch& batch = pipeline_.batch();
  const size_t chunk_size = std::max<size_t>(config_.fanout_chunk, 1);
  for (const auto& [partition, names] : group.remote()) {
    for (size_t first = 0, chunk = 0; first < names.size(); first += chunk_size, ++chunk) {
      OutboundForward forward;
      forward.from = job.partition;
      forward.to = partition;
      forward.group_id = job.group_id;
      forward.job_id = job.job_id;
      forward.chunk = static_cast<uint32_t>(chunk);
      forward.msg_id = job.msg_id;
      forward.envelope = ForwardedEnvelope(envelope, job.msg_id);
      size_t last = std::min(names.size(), first + chunk_size);
      forward.names.assign(names.begin() + first, names.begin() + last);
      store::FanoutForward op;
      op.job_id = forward.job_id;
      op.partition = forward.to;
      op.chunk = forward.chunk;
      op.msg_id = forward.msg_id;
      op.group_id = forward.group_id;
      op.names = store::EncodeNames(forward.names);
      batch.log.In(job.partition).ForwardFanout(op);
      awaiting_forwards_.emplace_back(batch.batch_no, std::move(forward));
      ++stats_.fanout_forwards;
    }
  }
}

void Broker::ReleaseForwards(BatchNo through) {
  while (!awaiting_forwards_.empty() && awaiting_forwards_.front().first <= through) {
    OutboundForward& forward = awaiting_forwards_.front().second;
    // Led elsewhere by now: the new leader resumes it, if its copy has it.
    if (serves(forward.from) && forward_listener_) forward_listener_(std::move(forward));
    awaiting_forwards_.pop_front();
  }
}

void Broker::ForwardDone(const OutboundForward& forward) {
  // Not led here any more: the new leader sends it again, and the members'
  // leader answers that as a duplicate.
  if (!serves(forward.from) || !storage_failure_.ok()) return;
  pipeline_.batch()
      .log.In(forward.from)
      .FanoutForwarded(forward.job_id, forward.to, forward.chunk, forward.msg_id);
  pipeline_.NotePublish(0);
}

void Broker::PublishForwarded(ClientId client_id, const ForwardedPublish& forward) {
  Client& client = *FindClient(client_id);
  uint64_t correlation_id = forward.correlation_id;
  auto refuse = [&](const Status& s) { RefusePublish(client, correlation_id, s); };
  if (!serves(forward.partition)) {
    std::string why = "partition " + std::to_string(forward.partition) + " is not led by this node";
    std::string hint = leader_hint_ ? leader_hint_(forward.partition) : std::string();
    if (!hint.empty()) why += "; its leader is " + hint;
    return refuse(Status(ErrorCode::kNotLeader, why));
  }
  if (!storage_failure_.ok()) return refuse(storage_failure_);
  if (draining_) return refuse(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  if (Status s = CheckStoreRoom(); !s.ok()) return refuse(s);
  store::EnvelopeView view;
  if (!view.Parse(forward.envelope)) {
    return refuse(Status::InvalidArgument("a forwarded publish's envelope is malformed"));
  }
  for (const std::string& name : forward.names) {
    if (Status s = ValidateQueueName(name); !s.ok()) return refuse(s);
    if (PartitionOfName(name) != forward.partition) {
      return refuse(Status::InvalidArgument("forwarded member " + name + " is not in partition " +
                                            std::to_string(forward.partition)));
    }
  }

  // Once per (group, job, chunk): a resend after a lost answer or a new
  // leader of the group's partition finds the first.
  uint64_t now = Now();
  const uint64_t dedup_target = store::ForwardDedupTarget(forward.partition);
  std::string dedup_id = "fwd:" + std::to_string(forward.group_id) + ":" +
                         std::to_string(forward.job_id) + ":" + std::to_string(forward.chunk);
  Result<std::optional<DedupIndex::Original>> original = dedup_.Find(dedup_target, dedup_id, now);
  if (!original.ok()) return refuse(original.status());
  if (original->has_value()) {
    ++stats_.duplicates;
    PendingReply reply;
    reply.batch_no = (*original)->batch_no;
    reply.correlation_id = correlation_id;
    reply.msg_id = (*original)->msg_id;
    reply.kind = PendingReply::kDuplicate;
    AddReply(client, reply);
    return;
  }

  // The message is stored once for this partition's members, as a fan-out
  // job that finishes in the batch it starts in.
  std::vector<Queue*> members;
  members.reserve(forward.names.size());
  for (const std::string& name : forward.names) {
    Result<Queue*> q = queues_.Load(name);
    if (!q.ok()) return refuse(q.status());
    members.push_back(*q);
  }
  // A copy of one message for one queue (a receipt, a redriven dead letter:
  // ForwardCopy) waits at its sender while the queue has no room, rather
  // than be dropped as a group member's entry is: it is resent later.
  if (forward.group_id == 0 && members.size() == 1) {
    if (Status room = MakeRoom(members[0], forward.envelope.size()); !room.ok()) {
      return refuse(room);
    }
  }
  store::WriteBatch& batch = pipeline_.batch();
  store::FanoutStart start;
  start.job_id = pipeline_.ids().next_job_id++;
  start.msg_id = pipeline_.ids().next_msg_id++;
  start.group_id = forward.group_id;
  start.created_ms = now;
  start.envelope.assign(forward.envelope);
  for (Queue* q : members) {
    EnsureCreated(q);
    start.members.push_back(q->queue_id());
  }
  batch.log.In(forward.partition).StartFanout(start);
  MessageRef msg(Message::Create(start.msg_id, start.envelope));
  const auto bytes = static_cast<uint32_t>(start.envelope.size());
  uint32_t added = 0;
  for (Queue* q : members) {
    if (AddFanoutEntry(q, start.msg_id, msg, bytes, view.expires_ms())) ++added;
  }
  stats_.fanout_entries += added;
  batch.log.In(forward.partition)
      .AdvanceFanout(store::FanoutProgress{start.job_id, start.msg_id,
                                           static_cast<uint32_t>(members.size()), added, true});
  batch.log.In(forward.partition).Dedup(dedup_target, 0, start.msg_id, now, dedup_id);
  dedup_.Add(dedup_target, dedup_id, DedupIndex::Original{start.msg_id, 0, batch.batch_no}, now);
  pipeline_.NotePublish(start.envelope.size());
  ++stats_.forwards_received;
  PendingReply reply;
  reply.batch_no = batch.batch_no;
  reply.correlation_id = correlation_id;
  reply.msg_id = start.msg_id;
  reply.kind = PendingReply::kPublish;
  AddReply(client, reply);
}

}  // namespace hermod::core
