// The Broker's Prometheus exposition (/metrics) and health (/healthz).
// Counters and gauges are named hermod_*, each with HELP and TYPE lines.
// Per-queue series exist only for the deepest --metrics-top-queues queues,
// found by a scan of the queue counters that runs a slice per sweep round,
// so a million queues cost neither a stall nor a million series.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <queue>

#include "broker.h"
#include "clock.h"
#include "hermod/version.h"

namespace hermod::core {

namespace {

// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

class Exposition {
 public:
  void Metric(const char* name, const char* type, const char* help, double value) {
    Header(name, type, help);
    Sample(name, "", value);
  }
  void Header(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void Sample(const char* name, const std::string& labels, double value) {
    char number[64];
    std::snprintf(number, sizeof(number), "%.17g", value);
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += ' ';
    out_ += number;
    out_ += '\n';
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

void Broker::ScanDeepest() {
  // One slice of the pass over queue_state; the finished pass replaces the
  // published top list.
  using Item = std::pair<uint64_t, std::string>;
  size_t top_n = config_.metrics_top_queues;
  if (top_n == 0) return;
  size_t seen = 0;
  QueueId last = deepest_scan_from_;
  bool finished = true;
  Status s = store_->ForEachQueue(
      [&](QueueId id, const store::QueueState& state) {
        if (seen++ == config_.metrics_scan_slice) {
          finished = false;
          last = id;
          return false;
        }
        if (state.depth > 0) {
          deepest_scan_.emplace_back(state.depth, state.name);
          if (deepest_scan_.size() > 4 * top_n) {
            std::partial_sort(deepest_scan_.begin(), deepest_scan_.begin() + top_n,
                              deepest_scan_.end(), std::greater<Item>());
            deepest_scan_.resize(top_n);
          }
        }
        return true;
      },
      deepest_scan_from_);
  if (!s.ok()) return;
  if (!finished) {
    deepest_scan_from_ = last;
    return;
  }
  std::sort(deepest_scan_.begin(), deepest_scan_.end(), std::greater<Item>());
  if (deepest_scan_.size() > top_n) deepest_scan_.resize(top_n);
  deepest_ = std::move(deepest_scan_);
  deepest_scan_.clear();
  deepest_scan_from_ = 0;
}

bool Broker::Healthy() const { return storage_failure_.ok() && !shutting_down_; }

std::string Broker::MetricsText() {
  store::KvStats kv = store_->env()->Stats();
  Exposition e;
  e.Header("hermod_build_info", "gauge", "Build information; the value is always 1.");
  e.Sample("hermod_build_info",
           "version=\"" + EscapeLabel(HERMOD_VERSION) + "\",sync_mode=\"" +
               EscapeLabel(config_.sync_mode) + "\"",
           1);
  e.Metric("hermod_uptime_seconds", "gauge", "Seconds since the broker started.", UptimeSeconds());
  e.Metric("hermod_connections", "gauge", "Open client connections.",
           static_cast<double>(sessions_.size()));
  e.Metric("hermod_subscriptions", "gauge", "Active subscriptions.",
           static_cast<double>(subscriptions_));
  e.Metric("hermod_queues", "gauge", "Queues in the store.",
           static_cast<double>(kv.entries[static_cast<int>(store::Table::kQueueState)]));
  e.Metric("hermod_queues_in_memory", "gauge", "Queues whose state is in memory.",
           static_cast<double>(queues_.size()));
  e.Metric("hermod_messages_stored", "gauge", "Messages in the index (the log tail excluded).",
           static_cast<double>(kv.entries[static_cast<int>(store::Table::kMessages)]));
  e.Metric("hermod_store_used_bytes", "gauge", "Bytes of the LMDB file in use.",
           static_cast<double>(kv.used_bytes));
  e.Metric("hermod_store_map_bytes", "gauge", "The LMDB map size.",
           static_cast<double>(kv.map_bytes));
  e.Metric("hermod_store_headroom_bytes", "gauge",
           "Bytes the store can still take (-1: no bound known).", HeadroomGauge());
  e.Metric("hermod_log_unapplied_bytes", "gauge", "Log bytes not yet applied to the index.",
           static_cast<double>(pipeline_.unapplied().unapplied_bytes()));
  e.Metric("hermod_connections_accepted_total", "counter", "Connections accepted.",
           static_cast<double>(counters_.connections_accepted));
  e.Metric("hermod_published_total", "counter", "Publishes accepted (duplicates excluded).",
           static_cast<double>(counters_.published));
  e.Metric("hermod_duplicates_total", "counter", "Publishes answered as duplicates.",
           static_cast<double>(counters_.duplicates));
  e.Metric("hermod_delivered_total", "counter", "Deliveries, redeliveries included.",
           static_cast<double>(counters_.delivered));
  e.Metric("hermod_redelivered_total", "counter", "Deliveries after the first of an entry.",
           static_cast<double>(counters_.redelivered));
  e.Metric("hermod_acked_total", "counter", "Entries acknowledged.",
           static_cast<double>(counters_.acked));
  e.Metric("hermod_nacked_total", "counter", "Deliveries given back.",
           static_cast<double>(counters_.nacked));
  e.Metric("hermod_ack_timeouts_total", "counter", "Deliveries not acked within ack wait.",
           static_cast<double>(counters_.ack_timeouts));
  e.Metric("hermod_dead_lettered_total", "counter", "Entries moved to a dead-letter queue.",
           static_cast<double>(counters_.dead_lettered));
  e.Metric("hermod_expired_total", "counter", "Entries removed because they expired.",
           static_cast<double>(counters_.expired));
  e.Metric("hermod_dropped_total", "counter",
           "Entries dropped by a queue limit: overflow drop-oldest, or a full dead-letter queue.",
           static_cast<double>(counters_.dropped));
  e.Metric("hermod_refused_full_total", "counter", "Publishes refused by a queue limit.",
           static_cast<double>(counters_.refused_full));
  e.Metric("hermod_refused_storage_total", "counter",
           "Publishes refused because the store is full.",
           static_cast<double>(counters_.refused_storage));
  e.Metric("hermod_purged_total", "counter", "Entries removed by purge or delete.",
           static_cast<double>(counters_.purged));
  e.Metric("hermod_group_publishes_total", "counter", "Publishes to groups.",
           static_cast<double>(counters_.group_publishes));
  e.Metric("hermod_fanout_entries_total", "counter", "Member entries made by group fan-out.",
           static_cast<double>(counters_.fanout_entries));
  e.Metric("hermod_batches_total", "counter", "Storage batches committed or failed.",
           static_cast<double>(counters_.batches));
  e.Metric("hermod_batch_failures_total", "counter", "Storage batches that failed.",
           static_cast<double>(counters_.batch_failures));
  e.Metric("hermod_connections_refused_total", "counter",
           "Connections refused by --max-connections or --max-connections-per-ip.",
           static_cast<double>(counters_.connections_refused));
  e.Metric("hermod_auth_failures_total", "counter",
           "Connections refused because their Hello carried no valid auth token.",
           static_cast<double>(counters_.auth_failures));
  e.Metric("hermod_heartbeat_timeouts_total", "counter",
           "Connections closed because the client went silent past the heartbeat.",
           static_cast<double>(counters_.heartbeat_timeouts));
  e.Metric("hermod_batch_messages_total", "counter", "Publishes carried by storage batches.",
           static_cast<double>(batch_messages_));
  e.Metric("hermod_healthy", "gauge", "1 while the store accepts writes and the broker runs.",
           Healthy() ? 1 : 0);

  // Per-queue: the deepest queues of the last full scan, with live depths
  // for those in memory.
  e.Header("hermod_queue_depth", "gauge",
           "Entries in a queue; only the deepest queues (--metrics-top-queues) are listed.");
  for (const auto& [depth, name] : deepest_) {
    auto it = queues_.find(name);
    uint64_t live = it != queues_.end() ? it->second->depth : depth;
    e.Sample("hermod_queue_depth", "queue=\"" + EscapeLabel(name) + "\"",
             static_cast<double>(live));
  }
  return e.Take();
}

}  // namespace hermod::core
