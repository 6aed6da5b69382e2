#include "cluster/cluster_member.h"

#include <spdlog/spdlog.h>

namespace hermod::cluster {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kLeader:
      return "leader";
    case Role::kFollower:
      return "follower";
    case Role::kNone:
      break;
  }
  return "none";
}

namespace {

Role RoleOf(const PartitionState& state, const NodeId& self) {
  if (state.leader == self) return Role::kLeader;
  for (const NodeId& n : state.replicas) {
    if (n == self) return Role::kFollower;
  }
  return Role::kNone;
}

}  // namespace

ClusterMember::ClusterMember(net::Loop& loop, ControlPlane* plane, MemberOptions options)
    : loop_(loop), plane_(plane), options_(std::move(options)), controller_(plane) {}

ClusterMember::~ClusterMember() = default;  // the timer checks that it was closed

void ClusterMember::Start() {
  started_ = true;
  retry_timer_.Init(loop_, [this] {
    auto what = std::move(retry_);
    retry_ = nullptr;
    if (what) what();
  });
  Register();
}

void ClusterMember::Close() {
  if (closed_ || !started_) return;
  closed_ = true;
  registered_ = false;  // a closed member holds no role
  controller_lease_ = 0;
  retry_timer_.Close();
}

void ClusterMember::RetryLater(std::function<void()> what, bool is_register) {
  if (closed_) return;
  // One pending retry at a time; registering again wins, since it reads
  // the state again when it is done.
  if (retry_ && retry_is_register_ && !is_register) return;
  retry_ = std::move(what);
  retry_is_register_ = is_register;
  retry_timer_.Start(options_.retry_ms);
}

bool ClusterMember::is_controller() const {
  return registered_ && controller_lease_ == lease_ && view_.controller == options_.node_id;
}

void ClusterMember::Register() {
  if (closed_) return;
  registered_ = false;
  plane_->GrantLease(options_.lease_ttl_s, [this](Result<LeaseId> lease) {
    if (!lease.ok()) {
      spdlog::warn("cluster: lease grant failed ({}); retrying", lease.status().ToString());
      return RetryLater([this] { Register(); }, true);
    }
    lease_ = *lease;
    // Kept alive from the grant on, so the keeper's idea of the expiry is
    // never later than etcd's.
    plane_->KeepAlive(lease_, options_.lease_ttl_s, [this](Status s) { OnLeaseLost(s); });
    NodeInfo info{options_.node_id, options_.client_address, options_.peer_address,
                  options_.incarnation};
    plane_->RegisterNode(info, lease_, [this](Status s) {
      if (!s.ok()) {
        spdlog::warn("cluster: registering node {} failed ({}); retrying", options_.node_id,
                     s.ToString());
        return RetryLater([this] { Register(); }, true);
      }
      registered_ = true;
      spdlog::info("cluster: node {} registered (lease {}, incarnation {})", options_.node_id,
                   lease_, options_.incarnation);
      Refresh();
    });
  });
}

void ClusterMember::OnLeaseLost(Status status) {
  // Membership and, if held, the controller role went with the lease: act
  // as if both were gone at once, and join again on a new lease.
  spdlog::warn("cluster: lease {} lost ({}); registering again", lease_, status.ToString());
  registered_ = false;
  controller_lease_ = 0;
  lease_ = 0;
  Register();
}

void ClusterMember::Campaign() {
  if (campaigning_ || !registered_) return;
  campaigning_ = true;
  const LeaseId lease = lease_;
  plane_->Campaign(options_.node_id, lease, [this, lease](Result<bool> won) {
    campaigning_ = false;
    if (!won.ok()) return RetryLater([this] { Refresh(); });
    if (*won && lease == lease_) {
      if (controller_lease_ != lease)
        spdlog::info("cluster: node {} is the controller", options_.node_id);
      controller_lease_ = lease;
    }
    Refresh();
  });
}

void ClusterMember::Refresh() {
  if (closed_) return;
  if (reading_) {
    read_again_ = true;
    return;
  }
  reading_ = true;
  read_again_ = false;
  plane_->Read([this](Result<ClusterView> view) {
    reading_ = false;
    if (!view.ok()) {
      spdlog::warn("cluster: reading the cluster state failed ({}); retrying",
                   view.status().ToString());
      return RetryLater([this] { Refresh(); });
    }
    const int64_t revision = view->revision;
    ApplyView(std::move(*view));
    if (!watching_) {
      watching_ = true;
      plane_->Watch(revision + 1, [this] { Refresh(); });
    }
    if (read_again_) return Refresh();
    if (view_.controller.empty() && registered_) return Campaign();
    if (is_controller()) RunController();
  });
}

void ClusterMember::ApplyView(ClusterView view) {
  std::vector<RoleChange> changes;
  for (uint32_t p = 0; p < view.partitions.size(); ++p) {
    const PartitionState& now = view.partitions[p];
    const Role role = RoleOf(now, options_.node_id);
    bool changed = true;
    if (p < view_.partitions.size()) {
      const PartitionState& before = view_.partitions[p];
      changed = RoleOf(before, options_.node_id) != role || before.epoch != now.epoch ||
                before.leader != now.leader;
    } else {
      changed = role != Role::kNone;
    }
    if (changed) changes.push_back(RoleChange{p, role, now.epoch, now.leader});
  }
  view_ = std::move(view);
  for (const RoleChange& c : changes) {
    spdlog::info("cluster: partition {}: {} at epoch {} (leader {})", c.partition, RoleName(c.role),
                 c.epoch, c.leader.empty() ? "none" : c.leader);
  }
  if (on_change_) on_change_(view_, changes);
}

void ClusterMember::RunController() {
  if (reconciling_) return;
  reconciling_ = true;
  controller_.Reconcile(view_, [this](Result<bool> done) {
    reconciling_ = false;
    // A write that lost, or an etcd error: the state moved on or could not
    // be written; read again (the watch may already have asked to).
    if (!done.ok()) {
      spdlog::warn("cluster: controller write failed ({}); retrying", done.status().ToString());
      return RetryLater([this] { Refresh(); });
    }
    if (!*done) Refresh();
  });
}

std::optional<PartitionRoute> ClusterMember::Route(uint32_t partition) const {
  if (partition >= view_.partitions.size()) return std::nullopt;
  const PartitionState& state = view_.partitions[partition];
  PartitionRoute route{state.leader, {}, state.epoch, state.replicas, state.isr};
  auto it = view_.nodes.find(state.leader);
  if (it != view_.nodes.end()) route.leader_address = it->second.client_address;
  return route;
}

Role ClusterMember::RoleIn(uint32_t partition) const {
  if (partition >= view_.partitions.size()) return Role::kNone;
  return RoleOf(view_.partitions[partition], options_.node_id);
}

}  // namespace hermod::cluster
