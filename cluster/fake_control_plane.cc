#include "cluster/fake_control_plane.h"

#include <charconv>

namespace hermod::cluster {

namespace {
Status Unreachable() { return Status::Unavailable("fake etcd: unreachable"); }
}  // namespace

size_t FakeEtcd::RunPending() {
  size_t ran = 0;
  while (!pending_.empty()) {
    std::function<void()> fn = std::move(pending_.front());
    pending_.pop_front();
    fn();
    ++ran;
  }
  return ran;
}

int64_t FakeEtcd::Put(const std::string& key, const std::string& value, LeaseId lease) {
  ++revision_;
  Entry& e = keys_[key];
  if (e.create_revision == 0) e.create_revision = revision_;
  e.mod_revision = revision_;
  e.value = value;
  e.lease = lease;
  Changed();
  return revision_;
}

void FakeEtcd::Delete(const std::string& key) {
  if (keys_.erase(key) == 0) return;
  ++revision_;
  Changed();
}

void FakeEtcd::Changed() {
  for (auto& [owner, w] : watchers_) {
    if (revision_ >= w.from_revision) Post(w.on_change);
  }
}

void FakeEtcd::ExpireLease(LeaseId lease) {
  if (leases_.erase(lease) == 0) return;
  std::vector<std::string> doomed;
  for (const auto& [key, e] : keys_) {
    if (e.lease == lease) doomed.push_back(key);
  }
  for (const std::string& key : doomed) Delete(key);
  auto it = lost_callbacks_.find(lease);
  if (it != lost_callbacks_.end()) {
    auto on_lost = std::move(it->second);
    lost_callbacks_.erase(it);
    Post([on_lost = std::move(on_lost)] { on_lost(Status::NotFound("fake etcd: lease expired")); });
  }
}

Result<ClusterView> FakeEtcd::View() const {
  ClusterView view;
  view.revision = revision_;
  std::map<uint32_t, PartitionState> parts;
  for (const auto& [key, e] : keys_) {
    if (!key.starts_with(prefix_)) continue;
    std::string_view name = std::string_view(key).substr(prefix_.size());
    if (name == "config") {
      Result<ClusterConfig> config = ClusterConfig::FromJson(e.value);
      if (!config.ok()) return config.status();
      view.config = *config;
    } else if (name == "controller") {
      view.controller = e.value;
    } else if (name.starts_with("nodes/")) {
      Result<NodeInfo> node = NodeInfo::FromJson(e.value);
      if (!node.ok()) return node.status();
      view.nodes[node->id] = *node;
    } else if (name.starts_with("incarnations/")) {
      view.incarnations[std::string(name.substr(13))] = e.value;
    } else if (name.starts_with("parts/")) {
      uint32_t p = 0;
      std::string_view digits = name.substr(6);
      std::from_chars(digits.data(), digits.data() + digits.size(), p);
      Result<PartitionState> state = PartitionState::FromJson(e.value);
      if (!state.ok()) return state.status();
      state->mod_revision = e.mod_revision;
      parts[p] = *state;
    }
  }
  if (view.config) {
    view.partitions.resize(view.config->partitions);
    for (auto& [p, state] : parts) {
      if (p < view.partitions.size()) view.partitions[p] = state;
    }
  }
  return view;
}

void FakeControlPlane::Answer(std::function<void()> fn) {
  ++calls_;
  etcd_->Post([alive = alive_, fn = std::move(fn)] {
    if (*alive) fn();
  });
}

void FakeControlPlane::InitConfig(const ClusterConfig& config, std::function<void(Status)> done) {
  Answer([this, config, done = std::move(done)] {
    if (unreachable_) return done(Unreachable());
    if (Status s = config.Validate(); !s.ok()) return done(s);
    const std::string key = etcd_->prefix() + "config";
    if (etcd_->keys_.count(key) > 0) return done(Status::AlreadyExists("initialised already"));
    etcd_->Put(key, config.ToJson());
    done(Status::OK());
  });
}

void FakeControlPlane::Read(std::function<void(Result<ClusterView>)> done) {
  Answer([this, done = std::move(done)] {
    if (unreachable_) return done(Unreachable());
    done(etcd_->View());
  });
}

void FakeControlPlane::CasPartition(uint32_t partition, const PartitionState& next,
                                    std::function<void(Result<bool>)> done) {
  Answer([this, partition, next, done = std::move(done)] {
    if (unreachable_) return done(Unreachable());
    const std::string key = etcd_->prefix() + "parts/" + std::to_string(partition);
    auto it = etcd_->keys_.find(key);
    const int64_t held = it == etcd_->keys_.end() ? 0 : it->second.mod_revision;
    if (held != next.mod_revision) return done(false);
    etcd_->Put(key, next.ToJson());
    done(true);
  });
}

void FakeControlPlane::RecordIncarnation(const NodeId& node, const std::string& incarnation,
                                         std::function<void(Status)> done) {
  Answer([this, node, incarnation, done = std::move(done)] {
    if (unreachable_) return done(Unreachable());
    etcd_->Put(etcd_->prefix() + "incarnations/" + node, incarnation);
    done(Status::OK());
  });
}

void FakeControlPlane::GrantLease(int64_t, std::function<void(Result<LeaseId>)> done) {
  Answer([this, done = std::move(done)] {
    if (unreachable_) return done(Unreachable());
    done(etcd_->Grant());
  });
}

void FakeControlPlane::KeepAlive(LeaseId lease, int64_t, std::function<void(Status)> on_lost) {
  // The fake's leases live until a test expires them: keeping alive is
  // remembering whom to tell.
  if (kept_ != 0) etcd_->lost_callbacks_.erase(kept_);
  kept_ = lease;
  if (!etcd_->LeaseAlive(lease)) {
    return Answer([on_lost = std::move(on_lost)] { on_lost(Status::NotFound("no such lease")); });
  }
  etcd_->lost_callbacks_[lease] = [alive = alive_, on_lost = std::move(on_lost)](Status s) {
    if (*alive) on_lost(std::move(s));
  };
}

void FakeControlPlane::RegisterNode(const NodeInfo& node, LeaseId lease,
                                    std::function<void(Status)> done) {
  Answer([this, node, lease, done = std::move(done)] {
    if (unreachable_) return done(Unreachable());
    if (!etcd_->LeaseAlive(lease)) return done(Status::NotFound("no such lease"));
    etcd_->Put(etcd_->prefix() + "nodes/" + node.id, node.ToJson(), lease);
    done(Status::OK());
  });
}

void FakeControlPlane::Campaign(const NodeId& node, LeaseId lease,
                                std::function<void(Result<bool>)> done) {
  Answer([this, node, lease, done = std::move(done)] {
    if (unreachable_) return done(Unreachable());
    const std::string key = etcd_->prefix() + "controller";
    auto it = etcd_->keys_.find(key);
    if (it != etcd_->keys_.end())
      return done(it->second.value == node && it->second.lease == lease);
    if (!etcd_->LeaseAlive(lease)) return done(Status::NotFound("no such lease"));
    etcd_->Put(key, node, lease);
    done(true);
  });
}

void FakeControlPlane::Watch(int64_t from_revision, std::function<void()> on_change) {
  etcd_->watchers_[this] =
      FakeEtcd::Watcher{from_revision, [alive = alive_, on_change = std::move(on_change)] {
                          if (*alive) on_change();
                        }};
}

void FakeControlPlane::Close() {
  if (!*alive_) return;
  *alive_ = false;
  etcd_->watchers_.erase(this);
  if (kept_ != 0) etcd_->lost_callbacks_.erase(kept_);
}

}  // namespace hermod::cluster
