// The inspection half of the Broker: queue list/show/peek/purge/delete and
// server statistics. Reads come from the store, with the live state of
// queues in memory laid over them. See broker.h and docs/cli.md.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <queue>
#include <set>

#include "broker.h"
#include "clock.h"
#include "envelope.h"
#include "hermod/version.h"
#include "names.h"

namespace hermod::core {

namespace {

uint64_t OwnRssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long pages_total = 0, pages_resident = 0;
  int n = std::fscanf(f, "%lu %lu", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// Peeked and listed entries carry the publish time from their envelope.
uint64_t PublishMs(std::string_view envelope) {
  store::EnvelopeView view;
  return view.Parse(envelope) ? view.publish_ms() : 0;
}

}  // namespace

struct Broker::Row {
  std::string name;
  uint64_t depth = 0, bytes = 0, inflight = 0, oldest_age_ms = 0, dlq_depth = 0;
  uint64_t first_seq = 0, last_seq = 0, created_ms = 0;
  uint32_t consumers = 0;
  double publish_rate = 0, ack_rate = 0;
  Queue* live = nullptr;  // when the queue is in memory
  QueueOverrides overrides;
};

Status Broker::FillRow(std::string_view name, QueueId queue_id, const store::QueueState& state,
                       Row* row) {
  uint64_t now = Now();
  row->name.assign(name);
  row->depth = state.depth;
  row->bytes = state.bytes;
  row->last_seq = state.last_seq;
  row->created_ms = state.created_ms;
  auto it = queues_.find(name);
  if (it != queues_.end() && it->second->queue_id() == queue_id) {
    Queue* q = it->second.get();
    row->live = q;
    row->depth = q->depth;
    row->bytes = q->bytes;
    row->last_seq = q->next_seq - 1;
    row->created_ms = q->created_ms;
    row->consumers = static_cast<uint32_t>(q->consumers.size());
    row->inflight = q->inflight;
    row->publish_rate = q->publish_rate.Rate(now);
    row->ack_rate = q->ack_rate.Rate(now);
    row->overrides = q->overrides;
  }
  if (row->depth == 0 || queue_id == 0) return FillDeadLetterDepth(name, row);
  // The oldest entry: the lowest seq in the index or anywhere in memory
  // (in flight, returned, delayed, read ahead, or only in the log).
  Seq oldest_seq = UINT64_MAX;
  std::string_view oldest_envelope;
  std::vector<store::StoredEntry> first;
  Status s = store_->ReadEntries(queue_id, 0, UINT64_MAX, 1, &first);
  if (!s.ok()) return s;
  if (!first.empty()) {
    oldest_seq = first[0].seq;
    oldest_envelope = first[0].envelope;
  }
  if (Queue* q = row->live) {
    auto consider = [&](const Entry& e) {
      if (e.seq < oldest_seq && e.msg) {
        oldest_seq = e.seq;
        oldest_envelope = e.msg->envelope();
      }
    };
    if (!q->tail.empty()) consider(q->tail[0]);
    if (!q->index_ahead.empty()) consider(q->index_ahead[0]);
    if (!q->returned.empty()) consider(q->returned.begin()->second);
    for (auto& [due, e] : q->delayed) consider(e);
    for (Consumer* c : q->consumers) {
      if (!c->inflight.empty()) consider(c->inflight.begin()->second);
    }
  }
  if (oldest_seq != UINT64_MAX) {
    row->first_seq = oldest_seq;
    uint64_t published = PublishMs(oldest_envelope);
    row->oldest_age_ms = published != 0 && now > published ? now - published : 0;
  }
  return FillDeadLetterDepth(name, row);
}

Status Broker::FillDeadLetterDepth(std::string_view name, Row* row) {
  // Its dead-letter queue's depth.
  QueueLimits limits = EffectiveLimits(config_.queue_defaults, row->overrides, name);
  auto dlq = queues_.find(limits.dead_letter_queue);
  if (dlq != queues_.end()) {
    row->dlq_depth = dlq->second->depth;
  } else {
    Result<std::optional<store::QueueInfo>> info = store_->FindQueue(limits.dead_letter_queue);
    if (info.ok() && info->has_value()) row->dlq_depth = (*info)->state.depth;
  }
  return Status::OK();
}

namespace {

// One QueueRow; `limits` and `consumers` only for queue show (null: absent).
flatbuffers::Offset<wire::QueueRow> BuildRow(
    flatbuffers::FlatBufferBuilder& fbb, const Broker::Row& row,
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::QueueLimit>>> limits = 0,
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::QueueConsumer>>> consumers =
        0);

}  // namespace

void Broker::HandleQueueRequest(Session& session, const wire::QueueRequest& request) {
  switch (request.op()) {
    case wire::QueueOp::List:
      return SendQueueList(session, request);
    case wire::QueueOp::Show:
      return SendQueueShow(session, request);
    case wire::QueueOp::Peek:
      return SendQueuePeek(session, request);
    case wire::QueueOp::Purge:
      return PurgeQueue(session, request, /*forget=*/false);
    case wire::QueueOp::Delete:
      return PurgeQueue(session, request, /*forget=*/true);
  }
  session.SendError(Status::InvalidArgument("unknown queue operation"), request.correlation_id(),
                    false);
}

void Broker::SendQueueList(Session& session, const wire::QueueRequest& request) {
  uint64_t correlation_id = request.correlation_id();
  size_t limit = request.limit() != 0 ? request.limit() : config_.list_page;
  std::string_view prefix = proto::View(request.prefix());
  std::string_view sort = proto::View(request.sort());
  std::vector<Row> rows;
  std::string next;
  if (sort.empty() || sort == "name") {
    // Paged straight from the name index: a page costs its rows, whatever
    // the number of queues.
    std::string_view after = proto::View(request.after());
    std::vector<store::QueueInfo> page;
    Status s = store_->ListQueues(prefix, after, limit + 1, &page);
    if (!s.ok()) return session.SendError(s, correlation_id, false);
    // A queue reaches the name index when its creation record is applied
    // (the apply lag after its first publish); until then only memory knows
    // it. Merge those in, in name order: the first limit + 1 of them, kept
    // in a heap, since a burst of new queues can be many.
    BatchNo applied = pipeline_.unapplied().applied_through();
    auto name_less = [](const Queue* a, const Queue* b) { return a->name() < b->name(); };
    std::priority_queue<Queue*, std::vector<Queue*>, decltype(name_less)> first(name_less);
    for (auto& [name, q] : queues_) {
      if (q->created_batch <= applied || q->queue_id() == 0 || q->deleted ||
          name.compare(0, prefix.size(), prefix) != 0 || (!after.empty() && name <= after)) {
        continue;
      }
      if (first.size() == limit + 1) {
        if (name >= first.top()->name()) continue;
        first.pop();
      }
      first.push(q.get());
    }
    std::vector<store::QueueInfo> fresh;
    for (; !first.empty(); first.pop()) {
      Queue* q = first.top();
      const std::string& name = q->name();
      store::QueueInfo info;
      info.queue_id = q->queue_id();
      info.state.name = name;
      info.state.created_ms = q->created_ms;
      info.state.last_seq = q->next_seq - 1;
      fresh.push_back(std::move(info));
    }
    if (!fresh.empty()) {
      auto by_name = [](const store::QueueInfo& a, const store::QueueInfo& b) {
        return a.state.name < b.state.name;
      };
      std::sort(fresh.begin(), fresh.end(), by_name);
      std::vector<store::QueueInfo> merged;
      std::merge(std::make_move_iterator(page.begin()), std::make_move_iterator(page.end()),
                 std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()),
                 std::back_inserter(merged), by_name);
      merged.erase(std::unique(merged.begin(), merged.end(),
                               [](const store::QueueInfo& a, const store::QueueInfo& b) {
                                 return a.state.name == b.state.name;
                               }),
                   merged.end());
      page = std::move(merged);
    }
    if (page.size() > limit) {
      page.resize(limit);
      next = page.back().state.name;
    }
    for (const store::QueueInfo& info : page) {
      Row row;
      row.overrides.Decode(info.config);
      if (Status f = FillRow(info.state.name, info.queue_id, info.state, &row); !f.ok()) {
        return session.SendError(f, correlation_id, false);
      }
      rows.push_back(std::move(row));
    }
  } else if (sort == "depth" || sort == "bytes" || sort == "age") {
    // A full pass over the queue counters, keeping only the top `limit` in
    // a heap: memory stays O(limit). For "age", the oldest entry comes from
    // the lowest message id (ids grow with publish time).
    using Item = std::pair<uint64_t, QueueId>;  // key, queue
    auto cmp = [](const Item& a, const Item& b) { return a.first > b.first; };
    std::priority_queue<Item, std::vector<Item>, decltype(cmp)> top(cmp);
    std::unordered_map<QueueId, store::QueueState> states;
    Status s = store_->ForEachQueue([&](QueueId id, const store::QueueState& state) {
      if (state.name.compare(0, prefix.size(), prefix) != 0) return true;
      uint64_t key = 0;
      if (sort == "depth") {
        key = state.depth;
      } else if (sort == "bytes") {
        key = state.bytes;
      } else {
        if (state.depth == 0) return true;
        std::vector<store::StoredEntry> first;
        if (!store_->ReadEntries(id, 0, UINT64_MAX, 1, &first).ok() || first.empty()) return true;
        key = UINT64_MAX - first[0].value.msg_id;  // older: larger key
      }
      top.emplace(key, id);
      states[id] = state;
      if (top.size() > limit) {
        states.erase(top.top().second);
        top.pop();
      }
      return true;
    });
    if (!s.ok()) return session.SendError(s, correlation_id, false);
    std::vector<Item> sorted;
    while (!top.empty()) {
      sorted.push_back(top.top());
      top.pop();
    }
    std::reverse(sorted.begin(), sorted.end());
    for (const Item& item : sorted) {
      const store::QueueState& state = states[item.second];
      Row row;
      if (Status f = FillRow(state.name, item.second, state, &row); !f.ok()) {
        return session.SendError(f, correlation_id, false);
      }
      rows.push_back(std::move(row));
    }
  } else {
    return session.SendError(
        Status::InvalidArgument("sort must be name, depth, bytes or age, not " + std::string(sort)),
        correlation_id, false);
  }
  auto& fbb = encoder_.Start();
  std::vector<flatbuffers::Offset<wire::QueueRow>> list;
  for (const Row& row : rows) list.push_back(BuildRow(fbb, row));
  auto reply = wire::CreateQueueReplyDirect(fbb, correlation_id, &list,
                                            next.empty() ? nullptr : next.c_str(), nullptr, 0);
  session.Send(encoder_.Finish(reply));
}

void Broker::SendQueueShow(Session& session, const wire::QueueRequest& request) {
  uint64_t correlation_id = request.correlation_id();
  std::string_view name = proto::View(request.queue());
  if (Status s = ValidateQueueName(name); !s.ok()) {
    return session.SendError(s, correlation_id, false);
  }
  Row row;
  Result<std::optional<store::QueueInfo>> info = store_->FindQueue(name);
  if (!info.ok()) return session.SendError(info.status(), correlation_id, false);
  auto live = queues_.find(name);
  bool in_memory = live != queues_.end() && !live->second->deleted;
  if (!info->has_value() && !(in_memory && live->second->queue_id() != 0)) {
    return session.SendError(Status::NotFound("no queue " + std::string(name)), correlation_id,
                             false);
  }
  store::QueueInfo found = info->has_value() ? **info : store::QueueInfo{};
  QueueId queue_id = info->has_value() ? found.queue_id : live->second->queue_id();
  if (!info->has_value()) found.state.name.assign(name);
  if (!in_memory) row.overrides.Decode(found.config);
  if (Status s = FillRow(name, queue_id, found.state, &row); !s.ok()) {
    return session.SendError(s, correlation_id, false);
  }

  auto& fbb = encoder_.Start();
  // Limits and where each comes from.
  const QueueDefaults& d = config_.queue_defaults;
  const QueueOverrides& o = row.overrides;
  QueueLimits limits = EffectiveLimits(d, o, name);
  std::vector<flatbuffers::Offset<wire::QueueLimit>> limit_list;
  auto add = [&](const char* key, const std::string& value, bool overridden) {
    limit_list.push_back(
        wire::CreateQueueLimitDirect(fbb, key, value.c_str(), overridden ? "queue" : "default"));
  };
  add("max_messages", std::to_string(limits.max_messages), o.max_messages.has_value());
  add("max_bytes", std::to_string(limits.max_bytes), o.max_bytes.has_value());
  add("overflow", OverflowName(limits.overflow), o.overflow.has_value());
  add("max_age_ms", std::to_string(limits.max_age_ms), o.max_age_ms.has_value());
  add("max_deliveries", std::to_string(limits.max_deliveries), o.max_deliveries.has_value());
  add("dead_letter_queue", limits.dead_letter_queue, o.dead_letter_queue.has_value());
  add("ack_wait_ms", std::to_string(limits.ack_wait_ms), o.ack_wait_ms.has_value());
  std::vector<flatbuffers::Offset<wire::QueueConsumer>> consumers;
  if (row.live != nullptr) {
    for (Consumer* c : row.live->consumers) {
      consumers.push_back(wire::CreateQueueConsumerDirect(
          fbb, c->session->connection()->peer().c_str(), c->subscription_id, c->credit,
          static_cast<uint32_t>(c->inflight.size()), c->ack_wait_ms));
    }
  }
  auto limits_offset = fbb.CreateVector(limit_list);
  auto consumers_offset = fbb.CreateVector(consumers);
  std::vector<flatbuffers::Offset<wire::QueueRow>> list{
      BuildRow(fbb, row, limits_offset, consumers_offset)};
  session.Send(encoder_.Finish(
      wire::CreateQueueReplyDirect(fbb, correlation_id, &list, nullptr, nullptr, 0)));
}

void Broker::SendQueuePeek(Session& session, const wire::QueueRequest& request) {
  uint64_t correlation_id = request.correlation_id();
  std::string_view name = proto::View(request.queue());
  if (Status s = ValidateQueueName(name); !s.ok()) {
    return session.SendError(s, correlation_id, false);
  }
  size_t limit = request.limit() != 0 ? request.limit() : 10;
  Seq from = request.from_seq();
  Result<std::optional<store::QueueInfo>> info = store_->FindQueue(name);
  if (!info.ok()) return session.SendError(info.status(), correlation_id, false);
  auto live_it = queues_.find(name);
  Queue* live = live_it != queues_.end() ? live_it->second.get() : nullptr;
  if (!info->has_value() && (live == nullptr || live->queue_id() == 0)) {
    return session.SendError(Status::NotFound("no queue " + std::string(name)), correlation_id,
                             false);
  }
  QueueId queue_id = info->has_value() ? (*info)->queue_id : live->queue_id();

  // Entries by seq: from the index, then what only memory holds; in-flight
  // ones are marked. Nothing is delivered, no count changes.
  struct Peeked {
    uint32_t delivery_count = 0;
    MsgId msg_id = 0;
    bool inflight = false;
    std::string envelope;
  };
  std::map<Seq, Peeked> peeked;
  std::vector<store::StoredEntry> stored;
  Status s = store_->ReadEntries(queue_id, from, UINT64_MAX, limit, &stored);
  if (!s.ok()) return session.SendError(s, correlation_id, false);
  for (store::StoredEntry& e : stored) {
    peeked[e.seq] = Peeked{e.value.delivery_count, e.value.msg_id, false, std::move(e.envelope)};
  }
  if (live != nullptr) {
    std::set<Seq> in_memory;
    auto note = [&](const Entry& e, bool inflight) {
      if (e.seq < from) return;
      in_memory.insert(e.seq);
      peeked[e.seq] = Peeked{e.delivery_count, e.msg_id, inflight, std::string(e.msg->envelope())};
    };
    for (size_t i = 0; i < live->tail.size(); ++i) note(live->tail[i], false);
    for (size_t i = 0; i < live->index_ahead.size(); ++i) note(live->index_ahead[i], false);
    for (auto& [seq, e] : live->returned) note(e, false);
    for (auto& [due, e] : live->delayed) note(e, false);
    for (Consumer* c : live->consumers) {
      for (auto& [seq, e] : c->inflight) note(e, true);
    }
    // Index entries the loop has removed (acked, expired...) but storage
    // has not deleted yet: read past by the cursor, held nowhere in memory.
    for (auto it = peeked.begin(); it != peeked.end();) {
      bool stale = live->removed.count(it->first) > 0 ||
                   (it->first < live->index_cursor && !in_memory.count(it->first));
      it = stale ? peeked.erase(it) : std::next(it);
    }
  }
  auto& fbb = encoder_.Start();
  std::vector<flatbuffers::Offset<wire::PeekEntry>> entries;
  // The reply must fit a frame the client accepts: stop at half the
  // broker's own frame limit (at least one entry goes).
  size_t reply_bytes = 0;
  for (auto& [seq, p] : peeked) {
    if (entries.size() == limit) break;
    if (!entries.empty() && reply_bytes + p.envelope.size() > config_.max_frame_bytes / 2) break;
    reply_bytes += p.envelope.size() + 64;
    store::EnvelopeView envelope;
    if (!envelope.Parse(p.envelope)) continue;
    std::vector<flatbuffers::Offset<wire::Header>> headers;
    envelope.ForEachHeader([&](std::string_view k, std::string_view v) {
      auto key = fbb.CreateString(k);
      auto value = fbb.CreateString(v);
      headers.push_back(wire::CreateHeader(fbb, key, value));
    });
    auto headers_offset = fbb.CreateVector(headers);
    std::string_view payload = envelope.payload();
    auto payload_offset =
        fbb.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    entries.push_back(wire::CreatePeekEntry(fbb, seq, p.msg_id, p.delivery_count,
                                            envelope.publish_ms(), envelope.expires_ms(),
                                            p.inflight, headers_offset, payload_offset));
  }
  session.Send(encoder_.Finish(
      wire::CreateQueueReplyDirect(fbb, correlation_id, nullptr, nullptr, &entries, 0)));
}

void Broker::PurgeQueue(Session& session, const wire::QueueRequest& request, bool forget) {
  uint64_t correlation_id = request.correlation_id();
  std::string_view name = proto::View(request.queue());
  auto fail = [&](const Status& s) { session.SendError(s, correlation_id, false); };
  if (Status s = ValidateQueueName(name); !s.ok()) return fail(s);
  if (!storage_failure_.ok()) return fail(storage_failure_);
  if (shutting_down_) return fail(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  Result<Queue*> found = FindOrLoadQueue(name);
  if (!found.ok()) return fail(found.status());
  Queue* q = *found;
  if (q->queue_id() == 0) {
    MaybeEvict(q);
    return fail(Status::NotFound("no queue " + std::string(name)));
  }
  if (forget && (!q->consumers.empty() || q->inflight > 0)) {
    return fail(Status::InvalidArgument("queue " + std::string(name) +
                                        " has consumers; stop them before deleting it"));
  }
  // Everything not being delivered goes: what memory holds entry by entry,
  // the index range in one purge step the storage thread runs.
  uint64_t removed = 0;
  auto remove_all = [&](auto& container, auto&& entry_of) {
    for (auto& item : container) {
      RemoveEntry(q, entry_of(item), Removal::kPurged);
      ++removed;
    }
    container.clear();
  };
  for (size_t i = 0; i < q->tail.size(); ++i) {
    RemoveEntry(q, q->tail[i], Removal::kPurged);
    ++removed;
  }
  q->tail.clear();
  for (size_t i = 0; i < q->index_ahead.size(); ++i) {
    RemoveEntry(q, q->index_ahead[i], Removal::kPurged);
    ++removed;
  }
  q->index_ahead.clear();
  remove_all(q->returned, [](auto& item) -> Entry& { return item.second; });
  if (!q->delayed.empty()) delayed_queues_.erase({q->delayed.begin()->first, q});
  remove_all(q->delayed, [](auto& item) -> Entry& { return item.second; });
  store::WriteBatch& batch = pipeline_.batch();
  if (q->index_cursor < q->index_end) {
    batch.purges.push_back(store::PurgeRange{q->queue_id(), q->index_cursor, q->index_end, 0});
    q->index_cursor = q->index_end;
    q->removed.clear();
  }
  if (forget) {
    // The delete is a log operation, durable with this batch and applied in
    // order after every record that names the queue: applying one of those
    // after the delete would find no queue_state to update, or bring back
    // the deleted queue's rows. Until it is applied (MaybeEvict), the name
    // answers "being deleted".
    batch.log.DeleteQueue(q->queue_id(), q->name());
    q->deleted = true;
  }
  pipeline_.NoteLogQueue(q);
  pending_purges_.push_back(PendingPurge{pipeline_.batch_no(), session.conn_id(), correlation_id,
                                         q->queue_id(), removed, forget});
  // A delete must be durable before the name can be used again.
  if (!forget) Dispatch(q);
}

void Broker::HandleStats(Session& session, const wire::StatsRequest& request) {
  uint64_t now = Now();
  store::KvStats kv = store_->env()->Stats();
  auto table = [&](store::Table t) { return static_cast<double>(kv.entries[static_cast<int>(t)]); };
  std::vector<uint32_t> commits(commit_micros_);
  std::sort(commits.begin(), commits.end());
  auto percentile = [&](double p) {
    if (commits.empty()) return 0.0;
    size_t i = std::min(commits.size() - 1, static_cast<size_t>(p * commits.size()));
    return commits[i] / 1000.0;
  };
  auto& fbb = encoder_.Start();
  std::vector<flatbuffers::Offset<wire::Stat>> stats;
  auto num = [&](const char* name, double value) {
    stats.push_back(wire::CreateStatDirect(fbb, name, value, nullptr));
  };
  auto text = [&](const char* name, const std::string& value) {
    stats.push_back(wire::CreateStatDirect(fbb, name, 0, value.c_str()));
  };
  text("version", HERMOD_VERSION);
  text("sync_mode", config_.sync_mode);
  num("uptime_seconds", UptimeSeconds());
  num("rss_bytes", static_cast<double>(OwnRssBytes()));
  num("connections", static_cast<double>(sessions_.size()));
  num("subscriptions", static_cast<double>(subscriptions_));
  num("queues", table(store::Table::kQueueState));
  num("queues_in_memory", static_cast<double>(queues_.size()));
  num("groups", table(store::Table::kGroupInfo));
  num("messages_stored", table(store::Table::kMessages));
  num("entries_stored", table(store::Table::kEntries));
  num("log_unapplied_bytes", static_cast<double>(pipeline_.unapplied().unapplied_bytes()));
  num("store_used_bytes", static_cast<double>(kv.used_bytes));
  num("store_map_bytes", static_cast<double>(kv.map_bytes));
  num("store_headroom_bytes", HeadroomGauge());
  num("published_total", static_cast<double>(counters_.published));
  num("delivered_total", static_cast<double>(counters_.delivered));
  num("redelivered_total", static_cast<double>(counters_.redelivered));
  num("acked_total", static_cast<double>(counters_.acked));
  num("nacked_total", static_cast<double>(counters_.nacked));
  num("ack_timeouts_total", static_cast<double>(counters_.ack_timeouts));
  num("dead_lettered_total", static_cast<double>(counters_.dead_lettered));
  num("expired_total", static_cast<double>(counters_.expired));
  num("dropped_total", static_cast<double>(counters_.dropped));
  num("duplicates_total", static_cast<double>(counters_.duplicates));
  num("refused_full_total", static_cast<double>(counters_.refused_full));
  num("refused_storage_total", static_cast<double>(counters_.refused_storage));
  num("fanout_entries_total", static_cast<double>(counters_.fanout_entries));
  num("publish_rate", publish_rate_.Rate(now));
  num("deliver_rate", deliver_rate_.Rate(now));
  num("ack_rate", ack_rate_.Rate(now));
  num("batches_total", static_cast<double>(counters_.batches));
  num("batch_failures_total", static_cast<double>(counters_.batch_failures));
  num("heartbeat_timeouts_total", static_cast<double>(counters_.heartbeat_timeouts));
  num("connections_refused_total", static_cast<double>(counters_.connections_refused));
  num("auth_failures_total", static_cast<double>(counters_.auth_failures));
  num("batch_messages_avg",
      counters_.batches == 0 ? 0.0 : static_cast<double>(batch_messages_) / counters_.batches);
  num("commit_latency_p50_ms", percentile(0.50));
  num("commit_latency_p99_ms", percentile(0.99));
  num("connections_accepted_total", static_cast<double>(counters_.connections_accepted));
  session.Send(
      encoder_.Finish(wire::CreateStatsReplyDirect(fbb, request.correlation_id(), &stats)));
}

namespace {

flatbuffers::Offset<wire::QueueRow> BuildRow(
    flatbuffers::FlatBufferBuilder& fbb, const Broker::Row& row,
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::QueueLimit>>> limits,
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::QueueConsumer>>> consumers) {
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

}  // namespace hermod::core
