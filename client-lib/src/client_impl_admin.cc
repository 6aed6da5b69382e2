// Client::Impl (client_impl.h), administration: the group requests
// (create, delete, add and remove members, list, show), the queue requests
// (list, show, peek, purge, delete) and server statistics. Each is a
// RetriedRequest (client_impl_requests.cc) whose reply frame carries data:
// the public-facing methods here run on the application's thread and block
// on a future; the send and reply functions they build run on the loop
// thread, and the reply functions copy what they need out of the frame
// while it is valid.
#include <algorithm>
#include <deque>
#include <limits>
#include <utility>

#include "client_impl.h"

namespace hermod {

namespace {

// How often a request is sent at most: once, and again after each of two
// connection losses. A reply the connection cannot carry (say one above
// ClientOptions::max_frame_bytes) then fails the call instead of being
// asked for forever.
constexpr uint32_t kAdminMaxSends = 3;

// AddMembers/RemoveMembers split their list so that each request stays well
// under the broker's frame limit and keeps the broker's loop busy only
// briefly (it checks every name, and an add may create the queue).
constexpr size_t kMaxMembersPerRequest = 4096;
constexpr size_t kMaxMemberBytesPerRequest = 256u << 10;
// Requests of one call in flight at once: they pipeline, so the commits
// they wait for overlap.
constexpr size_t kMemberRequestWindow = 4;

// What a string costs in a FlatBuffers vector of strings: its offset, its
// length prefix, its bytes and a NUL, padded to 4 bytes.
size_t EncodedStringBytes(const std::string& s) {
  return 4 + 4 + ((s.size() + 1 + 3) & ~size_t{3});
}

flatbuffers::Offset<flatbuffers::String> StringOrNull(flatbuffers::FlatBufferBuilder& fbb,
                                                      std::string_view s) {
  if (s.empty()) return 0;
  return fbb.CreateString(s.data(), s.size());
}

// The broker names a bad member by its index in the request ("member 3:
// ..."); a split list makes that the index in the caller's list.
Status ShiftMemberIndex(const Status& status, size_t offset) {
  const std::string& message = status.message();
  constexpr std::string_view kPrefix = "member ";
  if (offset == 0 || message.compare(0, kPrefix.size(), kPrefix) != 0) return status;
  size_t end = kPrefix.size();
  uint64_t index = 0;
  while (end < message.size() && end < kPrefix.size() + 12 && message[end] >= '0' &&
         message[end] <= '9') {
    index = index * 10 + static_cast<uint64_t>(message[end] - '0');
    ++end;
  }
  if (end == kPrefix.size() || end >= message.size() || message[end] != ':') return status;
  return Status(status.code(),
                std::string(kPrefix) + std::to_string(index + offset) + message.substr(end));
}

QueueInfo ReadQueueRow(const wire::QueueRow& row) {
  QueueInfo info;
  info.name.assign(proto::View(row.name()));
  info.depth = row.depth();
  info.bytes = row.bytes();
  info.consumers = row.consumers();
  info.inflight = row.inflight();
  info.oldest_age_ms = row.oldest_age_ms();
  info.dlq_depth = row.dlq_depth();
  info.first_seq = row.first_seq();
  info.last_seq = row.last_seq();
  info.created_ms = row.created_ms();
  info.publish_rate = row.publish_rate();
  info.ack_rate = row.ack_rate();
  if (const auto* limits = row.limits()) {
    for (const wire::QueueLimit* limit : *limits) {
      info.limits.push_back(QueueLimitInfo{std::string(proto::View(limit->name())),
                                           std::string(proto::View(limit->value())),
                                           std::string(proto::View(limit->source()))});
    }
  }
  if (const auto* consumers = row.consumer_list()) {
    for (const wire::QueueConsumer* c : *consumers) {
      info.consumer_list.push_back(ConsumerInfo{std::string(proto::View(c->address())),
                                                c->subscription_id(), c->credit(), c->inflight(),
                                                c->ack_wait_ms()});
    }
  }
  return info;
}

void ReadHeaders(const flatbuffers::Vector<flatbuffers::Offset<wire::Header>>* headers,
                 std::vector<Header>* out) {
  if (headers == nullptr) return;
  for (const wire::Header* header : *headers) {
    out->push_back(
        Header{std::string(proto::View(header->key())), std::string(proto::View(header->value()))});
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Groups.

// Builds a GroupRequest on the loop thread. `members` may be null.
Status Client::Impl::SendGroupRequest(uint64_t correlation_id, const GroupRequestArgs& args) {
  auto& fbb = encoder_.Start();
  auto group = StringOrNull(fbb, args.group);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> members;
  if (args.members != nullptr) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    names.reserve(args.members_end - args.members_begin);
    for (size_t i = args.members_begin; i < args.members_end; ++i) {
      names.push_back(fbb.CreateString((*args.members)[i]));
    }
    members = fbb.CreateVector(names);
  }
  auto prefix = StringOrNull(fbb, args.prefix);
  auto after = StringOrNull(fbb, args.after);
  return SendChecked(wire::CreateGroupRequest(fbb, correlation_id, args.op, group, members, prefix,
                                              after, args.limit),
                     "group request");
}

std::shared_ptr<Client::Impl::RetriedRequest> Client::Impl::MakeGroupRequest(
    GroupRequestArgs args, std::function<Status(const wire::GroupReply&)> read) {
  auto request = std::make_shared<RetriedRequest>();
  request->max_sends = kAdminMaxSends;
  request->reply_type = wire::Body::GroupReply;
  request->reply = [read = std::move(read)](const wire::Frame& frame) {
    return read(*frame.body_as_GroupReply());
  };
  request->send = [this, args = std::move(args)](uint64_t correlation_id) {
    return SendGroupRequest(correlation_id, args);
  };
  return request;
}

Status Client::Impl::CreateGroup(std::string_view group) {
  GroupRequestArgs args;
  args.op = wire::GroupOp::Create;
  args.group.assign(group);
  auto request =
      MakeGroupRequest(std::move(args), [](const wire::GroupReply&) { return Status::OK(); });
  request->ok_when_resent = ErrorCode::kAlreadyExists;
  return CallRequest(std::move(request), "CreateGroup");
}

Result<uint64_t> Client::Impl::DeleteGroup(std::string_view group) {
  GroupRequestArgs args;
  args.op = wire::GroupOp::Delete;
  args.group.assign(group);
  auto changed = std::make_shared<uint64_t>(0);
  auto request = MakeGroupRequest(std::move(args), [changed](const wire::GroupReply& reply) {
    *changed = reply.changed();
    return Status::OK();
  });
  request->ok_when_resent = ErrorCode::kNotFound;
  Status s = CallRequest(std::move(request), "DeleteGroup");
  if (!s.ok()) return s;
  return *changed;
}

Result<uint64_t> Client::Impl::ChangeMembers(bool add, std::string_view group,
                                             const std::vector<std::string>& members) {
  const char* what = add ? "AddMembers" : "RemoveMembers";
  if (OnLoopThread()) {
    return Status::InvalidArgument(std::string(what) +
                                   " blocks, so it cannot run in a callback of its client");
  }
  if (Finished()) return NotConnectedStatus();
  // The list is shared by the requests, each of which sends one range.
  auto list = std::make_shared<const std::vector<std::string>>(members);
  // A quarter of the broker's limit leaves room for everything else in the
  // frame, and for a broker restarted with a smaller limit.
  const size_t budget = std::min<size_t>(
      kMaxMemberBytesPerRequest, std::max<uint32_t>(server_info_.max_frame_bytes, 4096) / 4);
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t begin = 0;
  size_t bytes = 0;
  for (size_t i = 0; i < list->size(); ++i) {
    const size_t cost = EncodedStringBytes((*list)[i]);
    if (i > begin && (i - begin >= kMaxMembersPerRequest || bytes + cost > budget)) {
      ranges.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += cost;
  }
  // An empty list still asks once: the answer says whether the group exists.
  ranges.emplace_back(begin, list->size());

  struct Pending {
    std::future<Status> status;
    std::shared_ptr<uint64_t> changed;
    std::pair<size_t, size_t> range;
  };
  std::deque<Pending> window;
  uint64_t total = 0;
  Status first_error;
  auto finish_oldest = [&] {
    Pending pending = std::move(window.front());
    window.pop_front();
    Status s = pending.status.get();
    if (s.ok()) {
      total += *pending.changed;
    } else if (first_error.ok()) {
      first_error = ShiftMemberIndex(s, pending.range.first);
    }
  };
  for (const std::pair<size_t, size_t>& range : ranges) {
    if (window.size() >= kMemberRequestWindow) finish_oldest();
    if (!first_error.ok()) break;  // the requests already sent still finish
    GroupRequestArgs args;
    args.op = add ? wire::GroupOp::Add : wire::GroupOp::Remove;
    args.group.assign(group);
    args.members = list;
    args.members_begin = range.first;
    args.members_end = range.second;
    auto changed = std::make_shared<uint64_t>(0);
    auto request = MakeGroupRequest(std::move(args), [changed](const wire::GroupReply& reply) {
      *changed = reply.changed();
      return Status::OK();
    });
    window.push_back(Pending{BeginRequest(std::move(request)), changed, range});
  }
  while (!window.empty()) finish_oldest();
  if (!first_error.ok()) return first_error;
  return total;
}

Result<GroupPage> Client::Impl::ListGroups(std::string_view prefix, std::string_view after,
                                           uint32_t limit) {
  GroupRequestArgs args;
  args.op = wire::GroupOp::List;
  args.prefix.assign(prefix);
  args.after.assign(after);
  args.limit = limit;
  auto page = std::make_shared<GroupPage>();
  auto request = MakeGroupRequest(std::move(args), [page](const wire::GroupReply& reply) {
    if (const auto* groups = reply.groups()) {
      for (const wire::GroupSummary* g : *groups) {
        page->groups.push_back(
            GroupSummary{std::string(proto::View(g->name())), g->members(), g->created_ms()});
      }
    }
    page->next.assign(proto::View(reply.next()));
    return Status::OK();
  });
  Status s = CallRequest(std::move(request), "ListGroups");
  if (!s.ok()) return s;
  return std::move(*page);
}

Result<MemberPage> Client::Impl::ShowGroup(std::string_view group, std::string_view after,
                                           uint32_t limit) {
  GroupRequestArgs args;
  args.op = wire::GroupOp::Show;
  args.group.assign(group);
  args.after.assign(after);
  args.limit = limit;
  auto page = std::make_shared<MemberPage>();
  auto request = MakeGroupRequest(std::move(args), [page](const wire::GroupReply& reply) {
    if (const auto* members = reply.members()) {
      page->members.reserve(members->size());
      for (const flatbuffers::String* m : *members) page->members.emplace_back(proto::View(m));
    }
    page->member_count = reply.member_count();
    page->next.assign(proto::View(reply.next()));
    return Status::OK();
  });
  Status s = CallRequest(std::move(request), "ShowGroup");
  if (!s.ok()) return s;
  return std::move(*page);
}

// ---------------------------------------------------------------------------
// Queues.

Status Client::Impl::SendQueueRequest(uint64_t correlation_id, const QueueRequestArgs& args) {
  auto& fbb = encoder_.Start();
  auto queue = StringOrNull(fbb, args.queue);
  auto prefix = StringOrNull(fbb, args.prefix);
  auto after = StringOrNull(fbb, args.after);
  auto sort = StringOrNull(fbb, args.sort);
  auto to = StringOrNull(fbb, args.to);
  return SendChecked(wire::CreateQueueRequest(fbb, correlation_id, args.op, queue, prefix, after,
                                              args.limit, sort, args.from_seq, to),
                     "queue request");
}

std::shared_ptr<Client::Impl::RetriedRequest> Client::Impl::MakeQueueRequest(
    QueueRequestArgs args, std::function<Status(const wire::QueueReply&)> read) {
  auto request = std::make_shared<RetriedRequest>();
  request->max_sends = kAdminMaxSends;
  request->reply_type = wire::Body::QueueReply;
  request->reply = [read = std::move(read)](const wire::Frame& frame) {
    return read(*frame.body_as_QueueReply());
  };
  request->send = [this, args = std::move(args)](uint64_t correlation_id) {
    return SendQueueRequest(correlation_id, args);
  };
  return request;
}

Result<QueuePage> Client::Impl::ListQueues(const QueueListOptions& options) {
  QueueRequestArgs args;
  args.op = wire::QueueOp::List;
  args.prefix = options.prefix;
  args.after = options.after;
  args.limit = options.limit;
  args.sort = options.sort;
  auto page = std::make_shared<QueuePage>();
  auto request = MakeQueueRequest(std::move(args), [page](const wire::QueueReply& reply) {
    if (const auto* rows = reply.queues()) {
      page->queues.reserve(rows->size());
      for (const wire::QueueRow* row : *rows) page->queues.push_back(ReadQueueRow(*row));
    }
    page->next.assign(proto::View(reply.next()));
    return Status::OK();
  });
  Status s = CallRequest(std::move(request), "ListQueues");
  if (!s.ok()) return s;
  return std::move(*page);
}

Result<QueueInfo> Client::Impl::ShowQueue(std::string_view queue) {
  QueueRequestArgs args;
  args.op = wire::QueueOp::Show;
  args.queue.assign(queue);
  auto info = std::make_shared<QueueInfo>();
  auto request = MakeQueueRequest(std::move(args), [info](const wire::QueueReply& reply) {
    const auto* rows = reply.queues();
    if (rows == nullptr || rows->size() != 1) {
      return Status(ErrorCode::kProtocolViolation, "queue show reply without its one row");
    }
    *info = ReadQueueRow(*rows->Get(0));
    return Status::OK();
  });
  Status s = CallRequest(std::move(request), "ShowQueue");
  if (!s.ok()) return s;
  return std::move(*info);
}

Result<std::vector<PeekedEntry>> Client::Impl::PeekQueue(std::string_view queue, uint64_t from_seq,
                                                         uint32_t limit) {
  QueueRequestArgs args;
  args.op = wire::QueueOp::Peek;
  args.queue.assign(queue);
  args.from_seq = from_seq;
  args.limit = limit;
  auto entries = std::make_shared<std::vector<PeekedEntry>>();
  auto request = MakeQueueRequest(std::move(args), [entries](const wire::QueueReply& reply) {
    if (const auto* peeked = reply.entries()) {
      entries->reserve(peeked->size());
      for (const wire::PeekEntry* e : *peeked) {
        PeekedEntry entry;
        entry.seq = e->seq();
        entry.msg_id = e->msg_id();
        entry.delivery_count = e->delivery_count();
        entry.publish_time_ms = e->publish_time_ms();
        entry.expires_ms = e->expires_ms();
        entry.inflight = e->inflight();
        ReadHeaders(e->headers(), &entry.headers);
        entry.payload.assign(proto::View(e->payload()));
        entry.deliver_at_ms = e->deliver_at_ms();
        entries->push_back(std::move(entry));
      }
    }
    return Status::OK();
  });
  Status s = CallRequest(std::move(request), "PeekQueue");
  if (!s.ok()) return s;
  return std::move(*entries);
}

Result<uint64_t> Client::Impl::PurgeQueue(std::string_view queue, bool forget) {
  QueueRequestArgs args;
  args.op = forget ? wire::QueueOp::Delete : wire::QueueOp::Purge;
  args.queue.assign(queue);
  auto removed = std::make_shared<uint64_t>(0);
  auto request = MakeQueueRequest(std::move(args), [removed](const wire::QueueReply& reply) {
    *removed = reply.removed();
    return Status::OK();
  });
  // A purge sent again only finds less to remove; a delete sent again finds
  // the queue gone when the first one went through.
  if (forget) request->ok_when_resent = ErrorCode::kNotFound;
  Status s = CallRequest(std::move(request), forget ? "DeleteQueue" : "PurgeQueue");
  if (!s.ok()) return s;
  return *removed;
}

Result<RedriveResult> Client::Impl::Redrive(std::string_view dlq, std::string_view to,
                                            uint32_t limit) {
  QueueRequestArgs args;
  args.op = wire::QueueOp::Redrive;
  args.queue.assign(dlq);
  args.to.assign(to);
  args.limit = limit;
  auto result = std::make_shared<RedriveResult>();
  auto request = MakeQueueRequest(std::move(args), [result](const wire::QueueReply& reply) {
    result->moved = reply.moved();
    result->remaining = reply.remaining();
    return Status::OK();
  });
  // Sent once: a resend after the first moved a batch would move another,
  // and the count returned would be the second's alone.
  request->max_sends = 1;
  Status s = CallRequest(std::move(request), "Redrive");
  if (!s.ok()) return s;
  return *result;
}

// ---------------------------------------------------------------------------
// Server statistics.

Result<std::vector<ServerStat>> Client::Impl::Stats() {
  auto stats = std::make_shared<std::vector<ServerStat>>();
  auto request = std::make_shared<RetriedRequest>();
  request->max_sends = kAdminMaxSends;
  request->reply_type = wire::Body::StatsReply;
  request->reply = [stats](const wire::Frame& frame) {
    if (const auto* list = frame.body_as_StatsReply()->stats()) {
      stats->reserve(list->size());
      for (const wire::Stat* stat : *list) {
        stats->push_back(ServerStat{std::string(proto::View(stat->name())), stat->value(),
                                    std::string(proto::View(stat->text()))});
      }
    }
    return Status::OK();
  };
  request->send = [this](uint64_t correlation_id) {
    auto& fbb = encoder_.Start();
    return SendChecked(wire::CreateStatsRequest(fbb, correlation_id), "stats request");
  };
  Status s = CallRequest(std::move(request), "Stats");
  if (!s.ok()) return s;
  return std::move(*stats);
}

// ---------------------------------------------------------------------------
// The partition map (the routing layer's).

Result<client_internal::ClusterMap> Client::Impl::FetchMap(std::chrono::milliseconds wait) {
  if (OnLoopThread()) {
    return Status::InvalidArgument("FetchMap blocks, so it cannot run in a callback of its client");
  }
  if (Finished()) return NotConnectedStatus();
  auto map = std::make_shared<client_internal::ClusterMap>();
  auto request = std::make_shared<RetriedRequest>();
  request->max_sends = 1;
  request->reply_type = wire::Body::MapReply;
  request->reply = [map](const wire::Frame& frame) {
    return client_internal::ReadClusterMap(*frame.body_as_MapReply(), map.get());
  };
  request->send = [this](uint64_t correlation_id) {
    auto& fbb = encoder_.Start();
    return SendChecked(wire::CreateMapRequest(fbb, correlation_id), "map request");
  };
  Status s = BeginRequest(std::move(request), wait).get();
  if (!s.ok()) return s;
  return std::move(*map);
}

}  // namespace hermod
