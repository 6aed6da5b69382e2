// The controller's rules (docs/cluster.md, "Failure handling"): what a
// partition's state becomes when nodes die, come back, fall behind or catch
// up. Pure functions over one partition's state; the controller (whichever
// node holds the `controller` key) writes what they return with a
// transaction on the key's mod_revision, so a stale controller's write
// loses. Any thread.
#ifndef HERMOD_CLUSTER_CONTROLLER_H_
#define HERMOD_CLUSTER_CONTROLLER_H_

#include <cstdint>
#include <optional>
#include <set>

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

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_CONTROLLER_H_
