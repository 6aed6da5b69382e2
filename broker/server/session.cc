#include "session.h"

#include <spdlog/spdlog.h>

#include "hermod/version.h"
#include "sessions.h"
#include "wire_envelope.h"

namespace hermod::server {

bool Session::OnFrame(net::Connection& /*conn*/, const wire::Frame& frame) {
  last_heard_ms = sessions_->loop_ms();
  wire::Body type = frame.body_type();
  if (!greeted_) {
    if (authenticating_) {
      // The client did not wait for Welcome. Nothing is said now (that
      // would tell before the delay of a refusal whether the credentials
      // were good); the verdict answers it (Admit).
      sent_before_welcome_ = true;
      return false;
    }
    if (type != wire::Body::Hello) {
      SendError(
          Status(ErrorCode::kProtocolViolation,
                 std::string("expected Hello as the first frame, got ") + proto::BodyName(type)),
          0, /*fatal=*/true);
      return false;
    }
    return HandleHello(*frame.body_as_Hello());
  }
  core::Broker& broker = sessions_->broker();
  switch (type) {
    case wire::Body::Publish:
      HandlePublish(*frame.body_as_Publish());
      break;
    case wire::Body::Subscribe: {
      const wire::Subscribe* subscribe = frame.body_as_Subscribe();
      core::SubscribeRequest request;
      request.correlation_id = subscribe->correlation_id();
      request.subscription_id = subscribe->subscription_id();
      request.queue = proto::View(subscribe->queue());
      request.credit = subscribe->credit();
      request.ack_wait_ms = subscribe->ack_wait_ms();
      request.backoff = proto::View(subscribe->backoff());
      request.resume_through = subscribe->resume_through();
      // Ack, Nack, Credit and Unsubscribe name a subscription of this
      // connection, so this check covers them too.
      if (Status s = Permit(Operation::kConsume, "consume from queue", request.queue); !s.ok()) {
        SendError(s, request.correlation_id, false);
        break;
      }
      broker.Subscribe(client_id_, request);
      break;
    }
    case wire::Body::Credit: {
      const wire::Credit* credit = frame.body_as_Credit();
      broker.SetCredit(client_id_, credit->subscription_id(), credit->credit());
      break;
    }
    case wire::Body::Ack: {
      const wire::Ack* ack = frame.body_as_Ack();
      broker.Ack(client_id_, ack->subscription_id(), ack->first_seq(), ack->last_seq());
      break;
    }
    case wire::Body::Nack: {
      const wire::Nack* nack = frame.body_as_Nack();
      broker.Nack(client_id_, nack->subscription_id(), nack->seq(), nack->delay_ms());
      break;
    }
    case wire::Body::Unsubscribe: {
      const wire::Unsubscribe* unsubscribe = frame.body_as_Unsubscribe();
      Status s = broker.Unsubscribe(client_id_, unsubscribe->subscription_id());
      if (!s.ok()) {
        SendError(s, unsubscribe->correlation_id(), false);
        break;
      }
      auto& fbb = sessions_->encoder().Start();
      Send(sessions_->encoder().Finish(wire::CreateUnsubscribeOk(fbb, unsubscribe->correlation_id(),
                                                                 unsubscribe->subscription_id())));
      break;
    }
    case wire::Body::ConfigureQueue:
      HandleConfigure(*frame.body_as_ConfigureQueue());
      break;
    case wire::Body::GroupRequest:
      HandleGroupRequest(*frame.body_as_GroupRequest());
      break;
    case wire::Body::QueueRequest:
      HandleQueueRequest(*frame.body_as_QueueRequest());
      break;
    case wire::Body::StatsRequest:
      HandleStats(*frame.body_as_StatsRequest());
      break;
    case wire::Body::MapRequest:
      HandleMapRequest(*frame.body_as_MapRequest());
      break;
    case wire::Body::Ping: {
      auto& fbb = sessions_->encoder().Start();
      Send(sessions_->encoder().Finish(wire::CreatePong(fbb, frame.body_as_Ping()->nonce())));
      break;
    }
    case wire::Body::Pong:
      break;
    case wire::Body::Hello:
      SendError(Status(ErrorCode::kProtocolViolation, "Hello sent twice"), 0, true);
      return false;
    default:
      // Frames only the broker sends (Welcome, Deliver, ...) are known types
      // but not valid requests.
      SendError(Status(ErrorCode::kProtocolViolation,
                       std::string(proto::BodyName(type)) + " is not a client frame"),
                0, true);
      return false;
  }
  return !conn_->closing();
}

bool Session::HandleHello(const wire::Hello& hello) {
  if (hello.protocol_version() != proto::kProtocolVersion) {
    SendError(Status(ErrorCode::kUnsupportedVersion, "protocol version " +
                                                         std::to_string(hello.protocol_version()) +
                                                         " is not supported; this broker speaks " +
                                                         std::to_string(proto::kProtocolVersion)),
              0, true);
    return false;
  }
  std::string_view principal = proto::View(hello.principal());
  spdlog::info(
      "connection {} from {}: {} (client {}{}){}{}", client_id_, conn_->peer(),
      proto::View(hello.client_name()), proto::View(hello.client_id()),
      hello.reconnect() ? ", reconnecting" : "", principal.empty() ? "" : " as ",
      principal.empty() || IsPrincipalName(principal) ? principal : "(not a principal name)");
  authenticating_ = true;
  // Admit() runs now or once a slow check is done; a refusal keeps reading
  // paused until its delayed answer closes the connection.
  sessions_->Authenticate(*this, principal, proto::View(hello.auth_token()));
  if (authenticating_ && !conn_->closing()) conn_->PauseReading();
  return !conn_->closing();
}

void Session::Admit(const AuthVerdict& verdict) {
  authenticating_ = false;
  if (sent_before_welcome_) {
    SendError(Status(ErrorCode::kProtocolViolation,
                     "frames sent before Welcome: wait for Welcome after Hello"),
              0, true);
    return;
  }
  principal_ = verdict.principal;
  token_id = verdict.token_id;
  greeted_ = true;
  sessions_->Greeted(*this);
  conn_->ResumeReading();
  proto::FrameEncoder& encoder = sessions_->encoder();
  const core::BrokerConfig& config = sessions_->broker().config();
  auto& fbb = encoder.Start();
  auto version = fbb.CreateString(HERMOD_VERSION);
  auto sync_mode = fbb.CreateString(config.sync_mode);
  Send(encoder.Finish(wire::CreateWelcome(fbb, proto::kProtocolVersion, version,
                                          sessions_->options().max_frame_bytes, sync_mode,
                                          sessions_->options().heartbeat_ms)));
}

Status Session::Denied(std::string_view what, std::string_view name) {
  sessions_->CountDenied();
  return Status(ErrorCode::kPermissionDenied, "permission denied: principal " + principal_->name +
                                                  " may not " + std::string(what) +
                                                  (name.empty() ? "" : " ") + std::string(name));
}

Status Session::Permit(Operation op, std::string_view what, std::string_view name) {
  if (principal_ == nullptr) return Status::OK();
  if (permissions_ == nullptr) permissions_ = std::make_unique<PermissionCache>();
  if (permissions_->Allowed(*principal_, op, name)) return Status::OK();
  return Denied(what, name);
}

Status Session::PermitAdmin(std::string_view what, std::string_view name) {
  if (principal_ == nullptr || principal_->admin) return Status::OK();
  return Denied(what, name.empty() ? "(admin only)" : std::string(name) + " (admin only)");
}

void Session::HandlePublish(const wire::Publish& publish) {
  core::PublishRequest request;
  request.correlation_id = publish.correlation_id();
  request.queue = proto::View(publish.queue());
  request.group = proto::View(publish.group());
  request.payload = proto::View(publish.payload());
  request.ttl_ms = publish.ttl_ms();
  request.dedup_id = proto::View(publish.dedup_id());
  request.delay_ms = publish.delay_ms();
  request.deliver_at_ms = publish.deliver_at_ms();
  request.receipt_to = proto::View(publish.receipt_to());
  request.receipt = proto::View(publish.receipt());
  // A group publish needs publish on the group's name: whoever may change
  // the group decides where it fans out (HandleGroupRequest).
  Status permitted = request.group.empty()
                         ? Permit(Operation::kPublish, "publish to queue", request.queue)
                         : Permit(Operation::kPublish, "publish to group", request.group);
  // Receipts are publishes into receipt_to, made on this client's behalf.
  if (permitted.ok() && !request.receipt_to.empty()) {
    permitted = Permit(Operation::kPublish, "send receipts to queue", request.receipt_to);
  }
  if (!permitted.ok())
    return sessions_->PublishFailed(client_id_, request.correlation_id, permitted);
  std::vector<core::Header>& headers = sessions_->header_scratch();
  headers.clear();
  if (const auto* list = publish.headers()) {
    for (const wire::Header* h : *list) {
      headers.push_back(core::Header{proto::View(h->key()), proto::View(h->value())});
    }
  }
  request.headers = headers;
  sessions_->broker().Publish(client_id_, request);
}

void Session::HandleConfigure(const wire::ConfigureQueue& configure) {
  core::ConfigureRequest request;
  request.correlation_id = configure.correlation_id();
  request.queue = proto::View(configure.queue());
  request.reset = configure.reset();
  if (Status s = PermitAdmin("configure queue", request.queue); !s.ok()) {
    return SendError(s, request.correlation_id, false);
  }
  core::QueueOverrides& changes = request.changes;
  if (configure.max_messages()) changes.max_messages = *configure.max_messages();
  if (configure.max_bytes()) changes.max_bytes = *configure.max_bytes();
  if (configure.overflow() != nullptr) {
    Result<core::Overflow> overflow = core::ParseOverflow(proto::View(configure.overflow()));
    if (!overflow.ok()) return SendError(overflow.status(), request.correlation_id, false);
    changes.overflow = *overflow;
  }
  if (configure.max_age_ms()) changes.max_age_ms = *configure.max_age_ms();
  if (configure.max_deliveries()) changes.max_deliveries = *configure.max_deliveries();
  if (configure.dead_letter_queue() != nullptr) {
    changes.dead_letter_queue = std::string(proto::View(configure.dead_letter_queue()));
  }
  if (configure.ack_wait_ms()) changes.ack_wait_ms = *configure.ack_wait_ms();
  if (configure.backoff() != nullptr)
    changes.backoff = std::string(proto::View(configure.backoff()));
  sessions_->broker().ConfigureQueue(client_id_, request);
}

void Session::HandleGroupRequest(const wire::GroupRequest& request) {
  uint64_t correlation_id = request.correlation_id();
  core::Broker& broker = sessions_->broker();
  proto::FrameEncoder& encoder = sessions_->encoder();
  core::PageRequest page;
  page.prefix = proto::View(request.prefix());
  page.after = proto::View(request.after());
  page.limit = request.limit();
  std::string_view group = proto::View(request.group());
  // Listing every group is for admins; the rest for them and for whoever
  // may manage the group.
  Status permitted;
  switch (request.op()) {
    case wire::GroupOp::List:
      permitted = PermitAdmin("list groups", "");
      break;
    case wire::GroupOp::Show:
      if (principal_ == nullptr || principal_->admin) break;
      permitted = Permit(Operation::kManage, "show group", group);
      break;
    case wire::GroupOp::Create:
    case wire::GroupOp::Delete:
    case wire::GroupOp::Add:
    case wire::GroupOp::Remove: {
      if (principal_ == nullptr || principal_->admin) break;
      permitted = Permit(Operation::kManage, "change group", group);
      // A member added is a queue the group's publishers reach: adding one
      // needs the right to publish to it.
      const auto* list = request.members();
      if (permitted.ok() && request.op() == wire::GroupOp::Add && list != nullptr) {
        for (const flatbuffers::String* member : *list) {
          permitted =
              Permit(Operation::kPublish, "add to a group (publish to) queue", proto::View(member));
          if (!permitted.ok()) break;
        }
      }
      break;
    }
    default:
      break;
  }
  if (!permitted.ok()) return SendError(permitted, correlation_id, false);
  switch (request.op()) {
    case wire::GroupOp::List: {
      Result<core::GroupPage> groups = broker.ListGroups(page);
      if (!groups.ok()) return SendError(groups.status(), correlation_id, false);
      auto& fbb = encoder.Start();
      std::vector<flatbuffers::Offset<wire::GroupSummary>> list;
      for (const core::GroupSummary& g : groups->groups) {
        list.push_back(
            wire::CreateGroupSummaryDirect(fbb, g.name.c_str(), g.members, g.created_ms));
      }
      const std::string& next = groups->next;
      Send(encoder.Finish(wire::CreateGroupReplyDirect(fbb, correlation_id, 0, &list, nullptr, 0,
                                                       next.empty() ? nullptr : next.c_str())));
      return;
    }
    case wire::GroupOp::Show: {
      Result<core::GroupMembers> members = broker.ShowGroup(proto::View(request.group()), page);
      if (!members.ok()) return SendError(members.status(), correlation_id, false);
      auto& fbb = encoder.Start();
      std::vector<flatbuffers::Offset<flatbuffers::String>> names;
      for (const std::string& member : members->members) names.push_back(fbb.CreateString(member));
      const std::string& next = members->next;
      Send(encoder.Finish(wire::CreateGroupReplyDirect(fbb, correlation_id, 0, nullptr, &names,
                                                       members->member_count,
                                                       next.empty() ? nullptr : next.c_str())));
      return;
    }
    case wire::GroupOp::Create:
    case wire::GroupOp::Delete:
    case wire::GroupOp::Add:
    case wire::GroupOp::Remove:
      break;
    default:
      return SendError(Status::InvalidArgument("unknown group operation"), correlation_id, false);
  }
  core::GroupChangeRequest change;
  change.correlation_id = correlation_id;
  change.group = proto::View(request.group());
  switch (request.op()) {
    case wire::GroupOp::Create:
      change.op = core::GroupOp::kCreate;
      break;
    case wire::GroupOp::Delete:
      change.op = core::GroupOp::kDelete;
      break;
    case wire::GroupOp::Add:
      change.op = core::GroupOp::kAdd;
      break;
    default:
      change.op = core::GroupOp::kRemove;
      break;
  }
  std::vector<std::string_view> members;
  if (const auto* list = request.members()) {
    members.reserve(list->size());
    for (const flatbuffers::String* member : *list) members.push_back(proto::View(member));
  }
  change.members = members;
  broker.ChangeGroup(client_id_, change);
}

namespace {

// One QueueRow; `limits` and `consumers` only for queue show (null: absent).
flatbuffers::Offset<wire::QueueRow> BuildRow(
    flatbuffers::FlatBufferBuilder& fbb, const core::QueueRow& row,
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::QueueLimit>>> limits = 0,
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::QueueConsumer>>> consumers =
        0) {
  auto name = fbb.CreateString(row.name);
  wire::QueueRowBuilder b(fbb);
  b.add_name(name);
  b.add_depth(row.depth);
  b.add_bytes(row.bytes);
  b.add_consumers(row.consumers);
  b.add_inflight(row.inflight);
  b.add_oldest_age_ms(row.oldest_age_ms);
  b.add_dlq_depth(row.dlq_depth);
  b.add_first_seq(row.first_seq);
  b.add_last_seq(row.last_seq);
  b.add_created_ms(row.created_ms);
  b.add_publish_rate(row.publish_rate);
  b.add_ack_rate(row.ack_rate);
  if (!limits.IsNull()) b.add_limits(limits);
  if (!consumers.IsNull()) b.add_consumer_list(consumers);
  return b.Finish();
}

}  // namespace

void Session::HandleQueueRequest(const wire::QueueRequest& request) {
  uint64_t correlation_id = request.correlation_id();
  core::Broker& broker = sessions_->broker();
  proto::FrameEncoder& encoder = sessions_->encoder();
  std::string_view name = proto::View(request.queue());
  static constexpr std::string_view kWhat[] = {"list queues", "show queue",   "peek into queue",
                                               "purge queue", "delete queue", "redrive queue"};
  const auto op = static_cast<size_t>(request.op());
  if (Status s = PermitAdmin(op < std::size(kWhat) ? kWhat[op] : "administer queue", name);
      !s.ok()) {
    return SendError(s, correlation_id, false);
  }
  switch (request.op()) {
    case wire::QueueOp::List: {
      core::PageRequest page;
      page.prefix = proto::View(request.prefix());
      page.after = proto::View(request.after());
      page.limit = request.limit();
      Result<core::QueuePage> rows = broker.ListQueues(page, proto::View(request.sort()));
      if (!rows.ok()) return SendError(rows.status(), correlation_id, false);
      auto& fbb = encoder.Start();
      std::vector<flatbuffers::Offset<wire::QueueRow>> list;
      for (const core::QueueRow& row : rows->rows) list.push_back(BuildRow(fbb, row));
      const std::string& next = rows->next;
      Send(encoder.Finish(wire::CreateQueueReplyDirect(
          fbb, correlation_id, &list, next.empty() ? nullptr : next.c_str(), nullptr, 0)));
      return;
    }
    case wire::QueueOp::Show: {
      Result<core::QueueDetail> detail = broker.ShowQueue(name);
      if (!detail.ok()) return SendError(detail.status(), correlation_id, false);
      auto& fbb = encoder.Start();
      std::vector<flatbuffers::Offset<wire::QueueLimit>> limits;
      for (const core::QueueLimitInfo& limit : detail->limits) {
        limits.push_back(wire::CreateQueueLimitDirect(fbb, limit.name.c_str(), limit.value.c_str(),
                                                      limit.overridden ? "queue" : "default"));
      }
      std::vector<flatbuffers::Offset<wire::QueueConsumer>> consumers;
      for (const core::QueueConsumerInfo& c : detail->consumers) {
        consumers.push_back(wire::CreateQueueConsumerDirect(
            fbb, sessions_->PeerOf(c.client_id).c_str(), c.subscription_id, c.credit, c.inflight,
            c.ack_wait_ms));
      }
      auto limits_offset = fbb.CreateVector(limits);
      auto consumers_offset = fbb.CreateVector(consumers);
      std::vector<flatbuffers::Offset<wire::QueueRow>> list{
          BuildRow(fbb, detail->row, limits_offset, consumers_offset)};
      Send(encoder.Finish(
          wire::CreateQueueReplyDirect(fbb, correlation_id, &list, nullptr, nullptr, 0)));
      return;
    }
    case wire::QueueOp::Peek: {
      Result<std::vector<core::PeekedEntry>> peeked =
          broker.PeekQueue(name, request.from_seq(), request.limit());
      if (!peeked.ok()) return SendError(peeked.status(), correlation_id, false);
      auto& fbb = encoder.Start();
      std::vector<flatbuffers::Offset<wire::PeekEntry>> entries;
      for (const core::PeekedEntry& e : *peeked) {
        EncodeEnvelope(fbb, e.envelope,
                       [&](const store::EnvelopeView& envelope, auto headers, auto payload) {
                         entries.push_back(wire::CreatePeekEntry(
                             fbb, e.seq, e.msg_id, e.delivery_count, envelope.publish_ms(),
                             envelope.expires_ms(), e.inflight, headers, payload, e.deliver_at_ms));
                       });
      }
      Send(encoder.Finish(
          wire::CreateQueueReplyDirect(fbb, correlation_id, nullptr, nullptr, &entries, 0)));
      return;
    }
    case wire::QueueOp::Purge:
      return broker.PurgeQueue(client_id_, correlation_id, name, /*forget=*/false);
    case wire::QueueOp::Delete:
      return broker.PurgeQueue(client_id_, correlation_id, name, /*forget=*/true);
    case wire::QueueOp::Redrive:
      return broker.Redrive(client_id_, correlation_id, name, proto::View(request.to()),
                            request.limit());
  }
  SendError(Status::InvalidArgument("unknown queue operation"), correlation_id, false);
}

void Session::HandleStats(const wire::StatsRequest& request) {
  if (Status s = PermitAdmin("read", "statistics"); !s.ok()) {
    return SendError(s, request.correlation_id(), false);
  }
  proto::FrameEncoder& encoder = sessions_->encoder();
  std::vector<core::StatValue> values = sessions_->Stats();
  auto& fbb = encoder.Start();
  std::vector<flatbuffers::Offset<wire::Stat>> stats;
  for (const core::StatValue& v : values) {
    stats.push_back(wire::CreateStatDirect(fbb, v.name, v.text.empty() ? v.value : 0,
                                           v.text.empty() ? nullptr : v.text.c_str()));
  }
  Send(encoder.Finish(wire::CreateStatsReplyDirect(fbb, request.correlation_id(), &stats)));
}

void Session::HandleMapRequest(const wire::MapRequest& request) {
  Result<ClusterMapInfo> map = sessions_->ClusterMap();
  if (!map.ok()) return SendError(map.status(), request.correlation_id(), false);
  proto::FrameEncoder& encoder = sessions_->encoder();
  auto& fbb = encoder.Start();
  std::vector<flatbuffers::Offset<wire::PartitionRoute>> routes;
  routes.reserve(map->routes.size());
  for (const ClusterMapInfo::Route& route : map->routes) {
    routes.push_back(
        wire::CreatePartitionRoute(fbb, fbb.CreateString(route.leader_address), route.epoch));
  }
  Send(encoder.Finish(
      wire::CreateMapReplyDirect(fbb, request.correlation_id(), map->partitions, &routes)));
}

void Session::Deliver(const core::Delivery& delivery) {
  proto::FrameEncoder& encoder = sessions_->encoder();
  auto& fbb = encoder.Start();
  EncodeEnvelope(
      fbb, delivery.envelope,
      [&](const store::EnvelopeView& envelope, WireHeaders headers, WirePayload payload) {
        Send(encoder.Finish(wire::CreateDeliver(fbb, delivery.subscription_id, delivery.seq,
                                                delivery.msg_id, delivery.delivery_count,
                                                envelope.publish_ms(), headers, payload)));
      });
}

bool Session::CanDeliver() {
  return !closing() && conn_->pending_output() < sessions_->options().delivery_high_water;
}

void Session::SendError(const Status& status, uint64_t correlation_id, bool fatal) {
  proto::FrameEncoder& encoder = sessions_->encoder();
  auto& fbb = encoder.Start();
  auto message = fbb.CreateString(status.message());
  Send(encoder.Finish(wire::CreateError(fbb, static_cast<uint16_t>(status.code()), message,
                                        correlation_id, fatal)));
  if (fatal) conn_->Close(status);
}

void Session::OnBadInput(net::Connection& /*conn*/, const Status& why) {
  SendError(why, 0, /*fatal=*/true);
}

void Session::OnDrained(net::Connection& /*conn*/) {
  if (close_when_drained_) {
    conn_->Close(Status(ErrorCode::kShuttingDown, "broker stopping"));
    return;
  }
  if (greeted_) sessions_->broker().ClientWritable(client_id_);
}

void Session::CloseWhenDrained() {
  close_when_drained_ = true;
  if (conn_->pending_output() == 0) {
    conn_->Close(Status(ErrorCode::kShuttingDown, "broker stopping"));
  }
}

void Session::OnClosed(net::Connection& /*conn*/, const Status& why) {
  sessions_->SessionClosed(*this, why);  // frees this session
}

}  // namespace hermod::server
