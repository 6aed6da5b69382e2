// The controller's rules (docs/cluster.md, "Failure handling"): what a
// partition's state becomes when nodes die, come back, fall behind or catch
// up. Pure functions over one partition's state; the controller (whichever
// node holds the `controller` key) writes what they return with a
// transaction on the key's mod_revision, so a stale controller's write
// loses. Any thread.
#ifndef HERMOD_CLUSTER_CONTROLLER_H_
#define HERMOD_CLUSTER_CONTROLLER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "cluster/cluster_store.h"
#include "cluster/control_plane.h"
#include "cluster/partition_map.h"
#include "hermod/status.h"

namespace hermod::cluster {

// The partition's leader is not live (or there is none): the first live
// member of the ISR leads, the epoch goes up, and dead members leave the
// ISR (the new leader stays in it). With no live ISR member, the
// partition is left leaderless (epoch up once) and its ISR as it was: only
// a replica holding everything confirmed may lead, so one of them has to
// come back. A leader is never chosen outside the ISR. nullopt: nothing
// to change (the leader is live, or it is leaderless with no live ISR
// member, or it is not assigned).
std::optional<PartitionState> Failover(const PartitionState& state, const std::set<NodeId>& live);

// The leader at `epoch` takes a lagging follower out of the ISR, or puts a
// caught-up one back. kInvalidArgument for another epoch (a stale
// leader), a node that is not a replica, or removing the leader; the
// state unchanged when there is nothing to do.
Result<PartitionState> ShrinkIsr(const PartitionState& state, const NodeId& node, uint64_t epoch);
Result<PartitionState> ExpandIsr(const PartitionState& state, const NodeId& node, uint64_t epoch);

// `node` came back with another data directory (a new incarnation): it
// holds nothing, so it leaves the ISR and cannot lead until a leader puts
// it back; if it led, the partition fails over. nullopt: nothing to change.
std::optional<PartitionState> DropIncarnation(const PartitionState& state, const NodeId& node,
                                              const std::set<NodeId>& live);

// What the controller decides from one view of the cluster: the partitions
// to write (each with the mod_revision it was read at, so the write is a
// compare-and-set), the incarnations to record first (nodes seen for the
// first time) and after the writes (nodes that came back wiped: recorded
// only once they have left every ISR, so that a controller that dies in
// between leaves the mismatch for the next one to see).
struct ControllerPlan {
  std::map<uint32_t, PartitionState> writes;
  std::map<NodeId, std::string> record_before;
  std::map<NodeId, std::string> record_after;

  bool empty() const { return writes.empty() && record_before.empty() && record_after.empty(); }
};

// The controller's decisions (docs/design.md, "Controller"):
// - a node with a recorded incarnation other than the one it registered
//   with leaves every ISR (DropIncarnation) and counts as not live for
//   leadership until a leader puts it back in an ISR;
// - unassigned partitions get replicas (Assign) once at least R eligible
//   nodes are registered;
// - a partition whose leader is not live fails over within its ISR.
// Pure; any thread.
ControllerPlan PlanChanges(const ClusterView& view);

// Controller: applies PlanChanges through a ControlPlane. Run by the node
// holding `controller`; a node that lost it simply stops calling it (its
// writes would fail anyway: they are conditioned on what it read). Loop
// thread only; `plane` outlives it.
class Controller {
 public:
  explicit Controller(ControlPlane* plane) : plane_(plane) {}

  // Writes what `view` calls for. done(true): every write landed;
  // done(false): one lost to a newer state (re-read and call again);
  // an error status: etcd did not answer.
  void Reconcile(const ClusterView& view, std::function<void(Result<bool>)> done);

 private:
  ControlPlane* plane_;
};

// The data path's ISR change: the leader of `partition` at `epoch` takes
// `node` out of the ISR (expand = false) or puts it back (expand = true).
// Reads the partition, applies ShrinkIsr/ExpandIsr and writes it on the
// mod_revision it read, re-reading on a conflict (up to a few times) as long
// as the epoch is still `epoch`. kInvalidArgument for a stale epoch or a
// node that is not a replica. Loop thread only.
void ChangeIsr(ControlPlane* plane, uint32_t partition, const NodeId& node, uint64_t epoch,
               bool expand, std::function<void(Result<PartitionState>)> done);

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_CONTROLLER_H_
