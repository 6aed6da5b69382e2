// ClusterMember: what every hermodd runs in cluster mode (docs/design.md,
// "Control plane"). It registers `nodes/<id>` on a lease and keeps the lease
// alive (a lost lease is replaced by a new one and the node registers
// again), campaigns for `controller` and runs the Controller while it holds
// it, and follows `nodes/` and `parts/` with a watch, keeping the partition
// map and the node table in memory. Every change of the map is reported to
// a callback, with the changes of this node's own roles ("I lead p at epoch
// e", "I follow p"): that is what the data path subscribes to.
//
// Loop thread only. Owned by the Server; Close() before destruction, and
// the ControlPlane outlives it.
#ifndef HERMOD_CLUSTER_CLUSTER_MEMBER_H_
#define HERMOD_CLUSTER_CLUSTER_MEMBER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cluster/cluster_store.h"
#include "cluster/control_plane.h"
#include "cluster/controller.h"
#include "cluster/partition_map.h"
#include "hermod/status.h"
#include "net/loop.h"
#include "net/timer.h"

namespace hermod::cluster {

struct MemberOptions {
  NodeId node_id;
  std::string client_address;  // advertised to clients
  std::string peer_address;    // advertised to other nodes
  std::string incarnation;     // LoadOrCreateIncarnation(data dir)
  int64_t lease_ttl_s = 2;     // how soon a dead node is noticed
  uint64_t retry_ms = 500;     // pause before retrying after etcd failed
};

// This node's part in one partition.
enum class Role { kNone, kLeader, kFollower };
const char* RoleName(Role role);

struct RoleChange {
  uint32_t partition = 0;
  Role role = Role::kNone;
  uint64_t epoch = 0;
  NodeId leader;  // empty: leaderless
};

// One partition as a client needs it.
struct PartitionRoute {
  NodeId leader;               // empty: leaderless
  std::string leader_address;  // its client address; empty when unknown
  uint64_t epoch = 0;
  std::vector<NodeId> replicas;
  std::vector<NodeId> isr;
};

class ClusterMember {
 public:
  // Runs after every new view of the cluster, with this node's role
  // changes in it (possibly none).
  using OnChange = std::function<void(const ClusterView& view, const std::vector<RoleChange>&)>;

  ClusterMember(net::Loop& loop, ControlPlane* plane, MemberOptions options);
  ~ClusterMember();  // REQUIRES: Close() was called, or Start() never was.
  ClusterMember(const ClusterMember&) = delete;
  ClusterMember& operator=(const ClusterMember&) = delete;

  void SetOnChange(OnChange on_change) { on_change_ = std::move(on_change); }
  // Starts registering; returns at once (failures are retried, logged).
  void Start();
  // Stops everything; no callback runs after it. Idempotent.
  void Close();

  const ClusterView& view() const { return view_; }
  bool registered() const { return registered_; }
  LeaseId lease() const { return lease_; }
  bool is_controller() const;
  const MemberOptions& options() const { return options_; }
  // nullopt until the cluster is initialised or when p is out of range.
  std::optional<PartitionRoute> Route(uint32_t partition) const;
  // This node's role in every partition, as of view().
  Role RoleIn(uint32_t partition) const;

 private:
  void Register();
  void OnLeaseLost(Status status);
  void Campaign();
  void Refresh();
  void ApplyView(ClusterView view);
  void RunController();
  void RetryLater(std::function<void()> what, bool is_register = false);

  net::Loop& loop_;
  ControlPlane* plane_;
  MemberOptions options_;
  Controller controller_;
  OnChange on_change_;
  net::Timer retry_timer_;
  std::function<void()> retry_;
  bool retry_is_register_ = false;
  bool started_ = false;
  bool closed_ = false;
  LeaseId lease_ = 0;
  LeaseId controller_lease_ = 0;  // the lease we won `controller` on
  bool registered_ = false;
  bool watching_ = false;
  bool reading_ = false;
  bool read_again_ = false;
  bool campaigning_ = false;
  bool reconciling_ = false;
  ClusterView view_;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_CLUSTER_MEMBER_H_
