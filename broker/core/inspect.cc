// The inspection half of the Broker: queue list/show/peek/purge/delete and
// server statistics. Reads come from the store, with the live state of
// queues in memory laid over them. See broker.h and docs/cli.md.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <queue>
#include <set>

#include "broker.h"
#include "envelope.h"
#include "names.h"

namespace hermod::core {

namespace {

// Peeked and listed entries carry the publish time from their envelope.
uint64_t PublishMs(std::string_view envelope) {
  store::EnvelopeView view;
  return view.Parse(envelope) ? view.publish_ms() : 0;
}

}  // namespace

struct Broker::Row : QueueRow {
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
  Queue* q = queues_.Find(name);
  if (q != nullptr && q->queue_id() == queue_id) {
    row->live = q;
    row->depth = q->depth;
    row->bytes = q->bytes;
    row->last_seq = q->next_seq - 1;
    row->created_ms = q->created_ms;
    row->consumers = static_cast<uint32_t>(q->consumers.size());
    row->inflight = q->inflight;
    row->publish_rate = q->publish_rate.Rate(now);
    row->ack_rate = q->ack_rate.Rate(now);
    row->overrides = q->overrides();
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
  if (Queue* dlq = queues_.Find(limits.dead_letter_queue)) {
    row->dlq_depth = dlq->depth;
  } else {
    Result<std::optional<store::QueueInfo>> info = store_->FindQueue(limits.dead_letter_queue);
    if (info.ok() && info->has_value()) row->dlq_depth = (*info)->state.depth;
  }
  return Status::OK();
}

Result<QueuePage> Broker::ListQueues(const PageRequest& request, std::string_view sort) {
  size_t limit = request.limit != 0 ? request.limit : config_.list_page;
  std::string_view prefix = request.prefix;
  QueuePage result;
  std::vector<QueueRow>& rows = result.rows;
  std::string& next = result.next;
  if (sort.empty() || sort == "name") {
    // Paged straight from the name index: a page costs its rows, whatever
    // the number of queues.
    std::string_view after = request.after;
    std::vector<store::QueueInfo> page;
    Status s = store_->ListQueues(prefix, after, limit + 1, &page);
    if (!s.ok()) return s;
    // A queue reaches the name index when its creation record is applied
    // (the apply lag after its first publish); until then only memory knows
    // it. Merge those in, in name order: the first limit + 1 of them, kept
    // in a heap, since a burst of new queues can be many.
    BatchNo applied = pipeline_.unapplied().applied_through();
    auto name_less = [](const Queue* a, const Queue* b) { return a->name() < b->name(); };
    std::priority_queue<Queue*, std::vector<Queue*>, decltype(name_less)> first(name_less);
    queues_.ForEach([&](Queue& q) {
      const std::string& name = q.name();
      if (q.created_batch <= applied || q.queue_id() == 0 || q.deleted ||
          name.compare(0, prefix.size(), prefix) != 0 || (!after.empty() && name <= after)) {
        return;
      }
      if (first.size() == limit + 1) {
        if (name >= first.top()->name()) return;
        first.pop();
      }
      first.push(&q);
    });
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
      if (Status f = FillRow(info.state.name, info.queue_id, info.state, &row); !f.ok()) return f;
      rows.push_back(std::move(row));
    }
  } else if (sort == "depth" || sort == "bytes" || sort == "age") {
    // A full pass over the queue counters, keeping only the top `limit` in
    // a heap: memory stays O(limit). For "age", the oldest entry comes from
    // the lowest message id (ids grow with publish time).
    // Ties rank by queue id, so that the ranking is the same on every
    // call: pages of it (the console's offsets) neither repeat nor skip.
    using Item = std::pair<uint64_t, QueueId>;  // key, queue
    auto cmp = [](const Item& a, const Item& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    };
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
    if (!s.ok()) return s;
    std::vector<Item> sorted;
    while (!top.empty()) {
      sorted.push_back(top.top());
      top.pop();
    }
    std::reverse(sorted.begin(), sorted.end());
    for (const Item& item : sorted) {
      const store::QueueState& state = states[item.second];
      Row row;
      if (Status f = FillRow(state.name, item.second, state, &row); !f.ok()) return f;
      rows.push_back(std::move(row));
    }
  } else {
    return Status::InvalidArgument("sort must be name, depth, bytes or age, not " +
                                   std::string(sort));
  }
  return result;
}

std::vector<SubscriptionInfo> Broker::ClientSubscriptions(ClientId client_id) const {
  std::vector<SubscriptionInfo> out;
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return out;
  for (const std::unique_ptr<Consumer>& c : it->second->consumers()) {
    out.push_back(SubscriptionInfo{c->subscription_id, c->queue->name(), c->credit,
                                   static_cast<uint32_t>(c->inflight.size())});
  }
  return out;
}

Result<QueueDetail> Broker::ShowQueue(std::string_view name) {
  if (Status s = ValidateQueueName(name); !s.ok()) return s;
  Row row;
  Result<std::optional<store::QueueInfo>> info = store_->FindQueue(name);
  if (!info.ok()) return info.status();
  Queue* live = queues_.Find(name);
  bool in_memory = live != nullptr && !live->deleted;
  if (!info->has_value() && !(in_memory && live->queue_id() != 0)) {
    return Status::NotFound("no queue " + std::string(name));
  }
  store::QueueInfo found = info->has_value() ? **info : store::QueueInfo{};
  QueueId queue_id = info->has_value() ? found.queue_id : live->queue_id();
  if (!info->has_value()) found.state.name.assign(name);
  if (!in_memory) row.overrides.Decode(found.config);
  if (Status s = FillRow(name, queue_id, found.state, &row); !s.ok()) return s;

  QueueDetail detail;
  // Limits and where each comes from.
  const QueueDefaults& d = config_.queue_defaults;
  const QueueOverrides& o = row.overrides;
  QueueLimits limits = EffectiveLimits(d, o, name);
  auto add = [&](const char* key, const std::string& value, bool overridden) {
    detail.limits.push_back(QueueLimitInfo{key, value, overridden});
  };
  add("max_messages", std::to_string(limits.max_messages), o.max_messages.has_value());
  add("max_bytes", std::to_string(limits.max_bytes), o.max_bytes.has_value());
  add("overflow", OverflowName(limits.overflow), o.overflow.has_value());
  add("max_age_ms", std::to_string(limits.max_age_ms), o.max_age_ms.has_value());
  add("max_deliveries", std::to_string(limits.max_deliveries), o.max_deliveries.has_value());
  add("dead_letter_queue", limits.dead_letter_queue, o.dead_letter_queue.has_value());
  add("ack_wait_ms", std::to_string(limits.ack_wait_ms), o.ack_wait_ms.has_value());
  add("backoff", limits.backoff.text, o.backoff.has_value());
  if (row.live != nullptr) {
    for (Consumer* c : row.live->consumers) {
      detail.consumers.push_back(
          QueueConsumerInfo{c->client->client_id(), c->subscription_id, c->credit,
                            static_cast<uint32_t>(c->inflight.size()), c->ack_wait_ms});
    }
  }
  detail.row = row;
  return detail;
}

Result<std::vector<PeekedEntry>> Broker::PeekQueue(std::string_view name, Seq from,
                                                   uint32_t requested) {
  if (Status s = ValidateQueueName(name); !s.ok()) return s;
  size_t limit = requested != 0 ? requested : 10;
  Result<std::optional<store::QueueInfo>> info = store_->FindQueue(name);
  if (!info.ok()) return info.status();
  Queue* live = queues_.Find(name);
  if (!info->has_value() && (live == nullptr || live->queue_id() == 0)) {
    return Status::NotFound("no queue " + std::string(name));
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
  if (!s.ok()) return s;
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
  std::vector<PeekedEntry> entries;
  uint64_t now = Now();
  // The reply must fit a frame the client accepts (max_peek_bytes; at
  // least one entry goes).
  size_t reply_bytes = 0;
  for (auto& [seq, p] : peeked) {
    if (entries.size() == limit) break;
    if (!entries.empty() && reply_bytes + p.envelope.size() > config_.max_peek_bytes) break;
    reply_bytes += p.envelope.size() + 64;
    store::EnvelopeView envelope;
    if (!envelope.Parse(p.envelope)) continue;
    uint64_t deliver_at = envelope.DeliverAt();
    entries.push_back(PeekedEntry{seq, p.msg_id, p.delivery_count, p.inflight,
                                  std::move(p.envelope), deliver_at > now ? deliver_at : 0});
  }
  return entries;
}

void Broker::PurgeQueue(ClientId client_id, uint64_t correlation_id, std::string_view name,
                        bool forget) {
  auto fail = [&](const Status& s) { out_->Error(client_id, s, correlation_id, false); };
  if (Status s = ValidateQueueName(name); !s.ok()) return fail(s);
  if (Status s = CheckServes(name); !s.ok()) return fail(s);
  if (!storage_failure_.ok()) return fail(storage_failure_);
  if (draining_) return fail(Status(ErrorCode::kShuttingDown, "broker is stopping"));
  Result<Queue*> found = queues_.Load(name);
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
    batch.log.In(q->partition).Purge(q->queue_id(), q->index_cursor, q->index_end);
    q->index_cursor = q->index_end;
    q->removed.clear();
  }
  if (forget) {
    // The delete is a log operation, durable with this batch and applied in
    // order after every record that names the queue: applying one of those
    // after the delete would find no queue_state to update, or bring back
    // the deleted queue's rows. Until it is applied (MaybeEvict), the name
    // answers "being deleted".
    batch.log.In(q->partition).DeleteQueue(q->queue_id(), q->name());
    q->deleted = true;
  }
  pipeline_.NoteLogQueue(q);
  pending_purges_.push_back(PendingPurge{pipeline_.batch_no(), client_id, correlation_id,
                                         q->queue_id(), removed, forget});
  // A delete must be durable before the name can be used again.
  if (!forget) Dispatch(q);
}

std::vector<StatValue> Broker::Stats() {
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
  auto n = [](uint64_t v) { return static_cast<double>(v); };
  const BrokerStatistics& c = stats_;
  std::vector<StatValue> out;
  auto gauge = [&](const char* name, const char* help, double value) {
    out.push_back(StatValue{name, "gauge", help, value, {}});
  };
  auto counter = [&](const char* name, const char* help, uint64_t value) {
    out.push_back(StatValue{name, "counter", help, n(value), {}});
  };
  out.push_back(
      StatValue{"sync_mode", "gauge", "When commits reach the disk.", 0, config_.sync_mode});
  gauge("uptime_seconds", "Seconds since the broker started.",
        static_cast<double>(clock_->MonotonicMs() - started_mono_ms_) / 1000.0);
  gauge("subscriptions", "Active subscriptions.", n(subscriptions_));
  gauge("queues", "Queues in the store.", table(store::Table::kQueueState));
  gauge("queues_in_memory", "Queues whose state is in memory.", n(queues_.size()));
  gauge("groups", "Groups in the store.", table(store::Table::kGroupInfo));
  gauge("messages_stored", "Messages in the index (the log tail excluded).",
        table(store::Table::kMessages));
  gauge("entries_stored", "Entries in the index (the log tail excluded).",
        table(store::Table::kEntries));
  gauge("log_unapplied_bytes", "Log bytes not yet applied to the index.",
        n(pipeline_.unapplied().unapplied_bytes()));
  gauge("store_used_bytes", "Bytes of the LMDB file in use.", n(kv.used_bytes));
  gauge("store_map_bytes", "The LMDB map size.", n(kv.map_bytes));
  gauge("store_headroom_bytes", "Bytes the store can still take (-1: no bound known).",
        HeadroomGauge());
  counter("published_total", "Publishes accepted (duplicates excluded).", c.published);
  counter("delivered_total", "Deliveries, redeliveries included.", c.delivered);
  counter("redelivered_total", "Deliveries after the first of an entry.", c.redelivered);
  counter("acked_total", "Entries acknowledged.", c.acked);
  counter("nacked_total", "Deliveries given back.", c.nacked);
  counter("ack_timeouts_total", "Deliveries not acked within ack wait.", c.ack_timeouts);
  counter("dead_lettered_total", "Entries moved to a dead-letter queue.", c.dead_lettered);
  counter("expired_total", "Entries removed because they expired.", c.expired);
  counter("dropped_total",
          "Entries dropped by a queue limit: overflow drop-oldest, or a full dead-letter queue.",
          c.dropped);
  counter("duplicates_total", "Publishes answered as duplicates.", c.duplicates);
  counter("refused_full_total", "Publishes refused by a queue limit.", c.refused_full);
  counter("refused_storage_total", "Publishes refused because the store is full.",
          c.refused_storage);
  counter("purged_total", "Entries removed by purge or delete.", c.purged);
  counter("scheduled_total", "Publishes scheduled for later delivery.", c.scheduled);
  counter("redriven_total", "Dead letters moved back by redrive.", c.redriven);
  counter("resumed_acks_total",
          "Deliveries settled as acked by a subscribe's resume_through instead of redelivered.",
          c.resumed_acks);
  counter("group_publishes_total", "Publishes to groups.", c.group_publishes);
  counter("fanout_entries_total", "Member entries made by group fan-out.", c.fanout_entries);
  counter("fanout_forwards_total",
          "Forwards of group publishes to the leaders of other partitions' members (a cluster).",
          c.fanout_forwards);
  counter("fanout_forwards_received_total",
          "Forwarded group publishes stored for this node's partitions (duplicates not counted).",
          c.forwards_received);
  counter("receipts_total", "Delivery receipts appended to receipt queues.", c.receipts);
  counter("receipts_dropped_total",
          "Delivery receipts dropped because their queue had no room (or could not be loaded).",
          c.receipts_dropped);
  gauge("publish_rate", "Publishes per second, recent.", publish_rate_.Rate(now));
  gauge("deliver_rate", "Deliveries per second, recent.", deliver_rate_.Rate(now));
  gauge("ack_rate", "Acks per second, recent.", ack_rate_.Rate(now));
  counter("batches_total", "Storage batches committed or failed.", c.batches);
  counter("batch_failures_total", "Storage batches that failed.", c.batch_failures);
  gauge("batch_messages_avg", "Publishes per storage batch, on average.",
        c.batches == 0 ? 0.0 : n(batch_messages_) / n(c.batches));
  counter("batch_messages_total", "Publishes carried by storage batches.", batch_messages_);
  gauge("healthy", "1 while the store accepts writes and the broker runs.", Healthy() ? 1 : 0);
  gauge("commit_latency_p50_ms", "Median commit time over the last 1,024 batches.",
        percentile(0.50));
  gauge("commit_latency_p99_ms", "99th percentile commit time over the last 1,024 batches.",
        percentile(0.99));
  return out;
}

}  // namespace hermod::core
