// The web console's JSON API (docs/console.md): HttpService's answers to
// /api/..., each from the core function the matching admin frame calls,
// and the operations, sent to the core as the local client's requests.
#include <spdlog/spdlog.h>

#include "envelope.h"
#include "http_answer.h"
#include "http_query.h"
#include "http_service.h"

namespace hermod::server {

namespace {

using Response = net::HttpServer::Response;

// Rows a sorted queue listing ranks at most (offset + limit), as `hermod
// queue ls --sort`.
constexpr uint64_t kMaxRanked = 10000;
constexpr uint32_t kDefaultQueuePage = 50;
constexpr uint32_t kMaxQueuePage = 1000;
constexpr uint32_t kDefaultPeek = 20;
constexpr uint32_t kMaxPeek = 100;
// Payload bytes a peek shows of each entry.
constexpr size_t kPeekPreviewBytes = 1024;

Json RowJson(const core::QueueRow& row) {
  Json j;
  j["name"] = row.name;
  j["depth"] = row.depth;
  j["bytes"] = row.bytes;
  j["consumers"] = row.consumers;
  j["inflight"] = row.inflight;
  j["oldest_age_ms"] = row.oldest_age_ms;
  j["dlq_depth"] = row.dlq_depth;
  j["first_seq"] = row.first_seq;
  j["last_seq"] = row.last_seq;
  j["created_ms"] = row.created_ms;
  j["publish_rate"] = JsonNumber(row.publish_rate);
  j["ack_rate"] = JsonNumber(row.ack_rate);
  return j;
}

}  // namespace

Response HttpService::Overview() const {
  Json stats = Json::object();
  for (const core::StatValue& v : sessions_->Stats()) {
    stats[v.name] = v.text.empty() ? JsonNumber(v.value) : Json(v.text);
  }
  Json samples = Json::array();
  for (size_t i = 0; i < history_.size(); ++i) {
    const HistorySample& s = history_[(history_next_ + i) % history_.size()];
    samples.push_back(Json{{"t", s.time_ms},
                           {"published", s.published},
                           {"delivered", s.delivered},
                           {"acked", s.acked}});
  }
  Json j;
  j["version"] = stats.value("version", "");
  j["node"] = node_;
  j["time_ms"] = WallMs();
  j["stats"] = std::move(stats);
  j["history"] = Json{{"interval_ms", 1000}, {"samples", std::move(samples)}};
  return JsonResponse(200, j);
}

Response HttpService::Queues(const HttpQuery& query) {
  Result<uint32_t> limit = query.Limit(kDefaultQueuePage, kMaxQueuePage);
  if (!limit.ok()) return ErrorResponse(limit.status());
  Result<uint64_t> offset = query.Number("offset", 0);
  if (!offset.ok()) return ErrorResponse(offset.status());
  std::string sort = query.Get("sort");
  if (sort.empty()) sort = "name";
  const bool by_name = sort == "name";
  if (!by_name && *offset + *limit > kMaxRanked) {
    return ErrorResponse(Status::InvalidArgument(
        "offset + limit: at most " + std::to_string(kMaxRanked) + " when sorted by " + sort));
  }
  std::string prefix = query.Get("prefix");
  std::string after = query.Get("after");
  core::PageRequest page;
  page.prefix = prefix;
  page.after = after;
  page.limit = static_cast<uint32_t>(by_name ? *limit : *offset + *limit);
  Result<core::QueuePage> rows = broker_->ListQueues(page, sort);
  if (!rows.ok()) return ErrorResponse(rows.status());
  Json list = Json::array();
  for (size_t i = by_name ? 0 : *offset; i < rows->rows.size(); ++i) {
    list.push_back(RowJson(rows->rows[i]));
  }
  Json j;
  j["queues"] = std::move(list);
  j["next"] = by_name ? rows->next : std::string();
  return JsonResponse(200, j);
}

Response HttpService::QueueDetail(const HttpQuery& query) {
  Result<core::QueueDetail> detail = broker_->ShowQueue(query.Get("name"));
  if (!detail.ok()) return ErrorResponse(detail.status());
  Json j = RowJson(detail->row);
  Json limits = Json::array();
  std::string dead_letter_queue;
  for (const core::QueueLimitInfo& limit : detail->limits) {
    limits.push_back(Json{{"name", limit.name},
                          {"value", limit.value},
                          {"source", limit.overridden ? "queue" : "default"}});
    if (limit.name == "dead_letter_queue") dead_letter_queue = limit.value;
  }
  Json consumers = Json::array();
  for (const core::QueueConsumerInfo& c : detail->consumers) {
    consumers.push_back(Json{{"address", sessions_->PeerOf(c.client_id)},
                             {"subscription", c.subscription_id},
                             {"credit", c.credit},
                             {"inflight", c.inflight},
                             {"ack_wait_ms", c.ack_wait_ms}});
  }
  j["limits"] = std::move(limits);
  j["consumer_list"] = std::move(consumers);
  j["dead_letter_queue"] = dead_letter_queue;
  return JsonResponse(200, j);
}

Response HttpService::Peek(const HttpQuery& query) {
  Result<uint64_t> from = query.Number("from", 0);
  Result<uint32_t> limit = query.Limit(kDefaultPeek, kMaxPeek);
  if (!from.ok()) return ErrorResponse(from.status());
  if (!limit.ok()) return ErrorResponse(limit.status());
  Result<std::vector<core::PeekedEntry>> peeked =
      broker_->PeekQueue(query.Get("name"), *from, *limit);
  if (!peeked.ok()) return ErrorResponse(peeked.status());
  Json entries = Json::array();
  uint64_t next_from = *from;
  for (const core::PeekedEntry& e : *peeked) {
    store::EnvelopeView envelope;
    if (!envelope.Parse(e.envelope)) continue;
    Json j;
    j["seq"] = e.seq;
    j["id"] = e.msg_id;
    j["delivery_count"] = e.delivery_count;
    j["publish_time_ms"] = envelope.publish_ms();
    j["expires_ms"] = envelope.expires_ms();
    j["inflight"] = e.inflight;
    j["deliver_at_ms"] = e.deliver_at_ms;
    Json& headers = j["headers"] = Json::object();
    envelope.ForEachHeader([&headers](std::string_view key, std::string_view value) {
      headers[std::string(key)] = std::string(value);
    });
    std::string_view payload = envelope.payload();
    j["size"] = payload.size();
    size_t cut = std::min(payload.size(), kPeekPreviewBytes);
    // Whole characters only: a cut inside one would make text look binary.
    while (cut > 0 && cut < payload.size() && (static_cast<uint8_t>(payload[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    SetPayload(&j, payload.substr(0, cut));
    j["payload_truncated"] = cut < payload.size();
    entries.push_back(std::move(j));
    next_from = e.seq + 1;
  }
  Json j;
  j["entries"] = std::move(entries);
  j["next_from"] = next_from;
  return JsonResponse(200, j);
}

Response HttpService::Groups(const HttpQuery& query) {
  Result<uint32_t> limit = query.Limit(kDefaultQueuePage, kMaxQueuePage);
  if (!limit.ok()) return ErrorResponse(limit.status());
  std::string prefix = query.Get("prefix");
  std::string after = query.Get("after");
  Result<core::GroupPage> groups = broker_->ListGroups({prefix, after, *limit});
  if (!groups.ok()) return ErrorResponse(groups.status());
  Json list = Json::array();
  for (const core::GroupSummary& g : groups->groups) {
    list.push_back(Json{{"name", g.name}, {"members", g.members}, {"created_ms", g.created_ms}});
  }
  Json j;
  j["groups"] = std::move(list);
  j["next"] = groups->next;
  return JsonResponse(200, j);
}

Response HttpService::Group(const HttpQuery& query) {
  Result<uint32_t> limit = query.Limit(kDefaultQueuePage, kMaxQueuePage);
  if (!limit.ok()) return ErrorResponse(limit.status());
  std::string name = query.Get("name");
  std::string after = query.Get("after");
  Result<core::GroupMembers> members =
      broker_->ShowGroup(name, {std::string_view(), after, *limit});
  if (!members.ok()) return ErrorResponse(members.status());
  Json j;
  j["name"] = name;
  j["member_count"] = members->member_count;
  j["members"] = members->members;
  j["next"] = members->next;
  return JsonResponse(200, j);
}

Response HttpService::Connections(const HttpQuery& query) const {
  Result<uint64_t> after = query.Number("after", 0);
  Result<uint32_t> limit = query.Limit(kDefaultQueuePage, kMaxQueuePage);
  if (!after.ok()) return ErrorResponse(after.status());
  if (!limit.ok()) return ErrorResponse(limit.status());
  std::vector<Sessions::ConnectionInfo> conns =
      sessions_->ListConnections(*after, static_cast<size_t>(*limit) + 1);
  const bool more = conns.size() > *limit;
  if (more) conns.pop_back();
  Json list = Json::array();
  for (const Sessions::ConnectionInfo& c : conns) {
    Json subs = Json::array();
    uint64_t inflight = 0;
    for (const core::SubscriptionInfo& s : c.subscriptions) {
      subs.push_back(
          Json{{"id", s.id}, {"queue", s.queue}, {"credit", s.credit}, {"inflight", s.inflight}});
      inflight += s.inflight;
    }
    list.push_back(Json{{"id", c.id},
                        {"peer", c.peer},
                        {"principal", c.principal},
                        {"tls", c.tls},
                        {"age_ms", c.age_ms},
                        {"subscriptions", std::move(subs)},
                        {"inflight", inflight},
                        {"pending_output_bytes", c.pending_output_bytes}});
  }
  Json j;
  j["connections"] = std::move(list);
  j["next"] = more && !conns.empty() ? conns.back().id : 0;
  return JsonResponse(200, j);
}

Response HttpService::Cluster() const {
  Json j;
  j["enabled"] = static_cast<bool>(cluster_status_);
  if (!cluster_status_) return JsonResponse(200, j);
  ClusterStatusInfo info = cluster_status_();
  j["node"] = info.node;
  j["controller"] = info.controller;
  Json nodes = Json::array();
  for (const ClusterStatusInfo::Node& n : info.nodes) {
    nodes.push_back(Json{{"id", n.id}, {"address", n.address}, {"alive", n.alive}});
  }
  Json partitions = Json::array();
  for (const ClusterStatusInfo::Partition& p : info.partitions) {
    Json followers = Json::array();
    for (const ClusterStatusInfo::Follower& f : p.followers) {
      followers.push_back(Json{{"node", f.node}, {"acked", f.acked}, {"lag", f.lag}});
    }
    partitions.push_back(Json{{"id", p.id},
                              {"leader", p.leader},
                              {"epoch", p.epoch},
                              {"replicas", p.replicas},
                              {"isr", p.isr},
                              {"followers", std::move(followers)}});
  }
  j["nodes"] = std::move(nodes);
  j["partitions"] = std::move(partitions);
  return JsonResponse(200, j);
}

void HttpService::Operate(std::string_view what, std::string_view body, Reply reply) {
  if (client_id_ == 0) {
    return reply(ErrorResponse(Status(ErrorCode::kShuttingDown, "the broker is stopping")));
  }
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return reply(ErrorResponse(Status::InvalidArgument("the body must be a JSON object")));
  }
  // A member of the body: a string, a number, or absent; else an error.
  std::string bad;
  auto text = [&](const char* key) -> std::optional<std::string> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) {
      bad = std::string(key) + " must be a string";
      return std::nullopt;
    }
    return it->get<std::string>();
  };
  auto number = [&](const char* key) -> std::optional<uint64_t> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_unsigned()) {
      bad = std::string(key) + " must be a number of 0 or more";
      return std::nullopt;
    }
    return it->get<uint64_t>();
  };
  std::string name = text("name").value_or("");
  if (bad.empty() && name.empty()) bad = "name: the queue";
  if (!bad.empty()) return reply(ErrorResponse(Status::InvalidArgument(bad)));

  const uint64_t correlation_id = next_correlation_++;
  pending_[correlation_id] = Pending{std::string(what), reply};
  if (what == "purge" || what == "delete") {
    broker_->PurgeQueue(client_id_, correlation_id, name, /*forget=*/what == "delete");
  } else if (what == "redrive") {
    std::string to = text("to").value_or("");
    uint64_t limit = number("limit").value_or(0);
    if (bad.empty() && limit > UINT32_MAX) bad = "limit: too large";
    if (!bad.empty()) {
      pending_.erase(correlation_id);
      return reply(ErrorResponse(Status::InvalidArgument(bad)));
    }
    broker_->Redrive(client_id_, correlation_id, name, to, static_cast<uint32_t>(limit));
  } else {
    core::ConfigureRequest request;
    request.correlation_id = correlation_id;
    request.queue = name;
    auto reset = j.find("reset");
    request.reset = reset != j.end() && reset->is_boolean() && reset->get<bool>();
    core::QueueOverrides& changes = request.changes;
    changes.max_messages = number("max_messages");
    changes.max_bytes = number("max_bytes");
    changes.max_age_ms = number("max_age_ms");
    std::optional<uint64_t> max_deliveries = number("max_deliveries");
    std::optional<uint64_t> ack_wait_ms = number("ack_wait_ms");
    if (max_deliveries && *max_deliveries > UINT32_MAX) bad = "max_deliveries: too large";
    if (ack_wait_ms && *ack_wait_ms > UINT32_MAX) bad = "ack_wait_ms: too large";
    if (max_deliveries) changes.max_deliveries = static_cast<uint32_t>(*max_deliveries);
    if (ack_wait_ms) changes.ack_wait_ms = static_cast<uint32_t>(*ack_wait_ms);
    changes.dead_letter_queue = text("dead_letter_queue");
    changes.backoff = text("backoff");
    if (std::optional<std::string> overflow = text("overflow")) {
      Result<core::Overflow> parsed = core::ParseOverflow(*overflow);
      if (!parsed.ok()) {
        bad = parsed.status().message();
      } else {
        changes.overflow = *parsed;
      }
    }
    if (!bad.empty()) {
      pending_.erase(correlation_id);
      return reply(ErrorResponse(Status::InvalidArgument(bad)));
    }
    broker_->ConfigureQueue(client_id_, request);
  }
}

void HttpService::OnAnswer(uint64_t correlation_id, const Sessions::LocalAnswer& answer) {
  auto it = pending_.find(correlation_id);
  if (it == pending_.end()) return;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  if (!answer.status.ok()) return pending.reply(ErrorResponse(answer.status));
  Json j = Json::object();
  if (pending.what == "purge" || pending.what == "delete") {
    j["removed"] = answer.count;
    spdlog::info("console: {} of a queue removed {} entries", pending.what, answer.count);
  } else if (pending.what == "redrive") {
    j["moved"] = answer.count;
    j["remaining"] = answer.remaining;
  }
  pending.reply(JsonResponse(200, j));
}

}  // namespace hermod::server
