#include "cluster/etcd_control_plane.h"

namespace hermod::cluster {

namespace {
// A watch that broke is retried after this pause, so a dead etcd gets one
// attempt per pause rather than a busy loop.
constexpr uint64_t kRewatchPauseMs = 200;
}  // namespace

EtcdControlPlane::EtcdControlPlane(net::Loop& loop, EtcdClient& etcd, std::string cluster)
    : loop_(loop), etcd_(etcd), store_(&etcd, std::move(cluster)), keeper_(loop, etcd) {
  rewatch_timer_.Init(loop_, [this] { StartWatch(watch_next_); });
}

EtcdControlPlane::~EtcdControlPlane() = default;

template <typename Fn>
auto EtcdControlPlane::Guard(Fn fn) {
  return [alive = alive_, fn = std::move(fn)](auto&&... args) mutable {
    if (*alive) fn(std::forward<decltype(args)>(args)...);
  };
}

void EtcdControlPlane::InitConfig(const ClusterConfig& config, std::function<void(Status)> done) {
  store_.Init(config, Guard(std::move(done)));
}

void EtcdControlPlane::Read(std::function<void(Result<ClusterView>)> done) {
  store_.Read(Guard(std::move(done)));
}

void EtcdControlPlane::CasPartition(uint32_t partition, const PartitionState& next,
                                    std::function<void(Result<bool>)> done) {
  store_.CasPartition(partition, next, Guard(std::move(done)));
}

void EtcdControlPlane::RecordIncarnation(const NodeId& node, const std::string& incarnation,
                                         std::function<void(Status)> done) {
  etcd_.Put(store_.prefix() + "incarnations/" + node, incarnation, 0,
            Guard([done = std::move(done)](Result<int64_t> r) { done(r.status()); }));
}

void EtcdControlPlane::GrantLease(int64_t ttl_s, std::function<void(Result<LeaseId>)> done) {
  etcd_.GrantLease(ttl_s, Guard([done = std::move(done)](Result<Lease> r) {
                     if (!r.ok()) return done(r.status());
                     done(r->lease_id);
                   }));
}

void EtcdControlPlane::KeepAlive(LeaseId lease, int64_t ttl_s,
                                 std::function<void(Status)> on_lost) {
  keeper_.Stop();
  keeper_.Start(Lease{lease, ttl_s}, std::move(on_lost));
}

void EtcdControlPlane::RegisterNode(const NodeInfo& node, LeaseId lease,
                                    std::function<void(Status)> done) {
  etcd_.Put(store_.NodeKey(node.id), node.ToJson(), lease,
            Guard([done = std::move(done)](Result<int64_t> r) { done(r.status()); }));
}

void EtcdControlPlane::Campaign(const NodeId& node, LeaseId lease,
                                std::function<void(Result<bool>)> done) {
  const std::string key = store_.prefix() + "controller";
  // Elected by create revision: the key exists only while its holder's
  // lease lives, so at most one node holds it at any revision.
  etcd_.Txn(
      {Compare::CreateRevision(key, Compare::Result::kEqual, 0)}, {TxnOp::Put(key, node, lease)},
      {TxnOp::Get(key)}, Guard([done = std::move(done), node, lease](Result<TxnResult> r) {
        if (!r.ok()) return done(r.status());
        if (r->succeeded) return done(true);
        const auto& kvs = r->responses.empty() ? std::vector<KeyValue>{} : r->responses[0].kvs;
        done(!kvs.empty() && kvs[0].value == node && kvs[0].lease_id == lease);
      }));
}

void EtcdControlPlane::Watch(int64_t from_revision, std::function<void()> on_change) {
  if (watch_call_ != 0) etcd_.Cancel(watch_call_);
  watch_call_ = 0;
  on_change_ = std::move(on_change);
  StartWatch(from_revision);
}

void EtcdControlPlane::StartWatch(int64_t from_revision) {
  watch_next_ = from_revision;
  EtcdClient::WatchCallbacks callbacks;
  callbacks.on_events = [this](const std::vector<WatchEvent>& events, int64_t) {
    if (events.empty()) return;
    watch_next_ = events.back().kv.mod_revision + 1;
    on_change_();
  };
  callbacks.on_end = [this](const EtcdClient::WatchEnd& end) {
    watch_call_ = 0;
    if (end.compact_revision != 0) {
      // History is gone: the caller reads everything again, and watching
      // from the compaction on misses nothing that read does not show.
      watch_next_ = end.compact_revision;
      on_change_();
    } else {
      watch_next_ = end.next_revision;
    }
    rewatch_timer_.Start(kRewatchPauseMs);
  };
  watch_call_ = etcd_.WatchPrefix(store_.prefix(), from_revision, false, std::move(callbacks));
}

void EtcdControlPlane::Close() {
  if (!*alive_) return;
  *alive_ = false;
  if (watch_call_ != 0) etcd_.Cancel(watch_call_);
  watch_call_ = 0;
  keeper_.Close();
  rewatch_timer_.Close();
}

}  // namespace hermod::cluster
