// The cluster's partition map as etcd holds it (docs/cluster.md, "State in
// etcd"): the cluster's fixed configuration, the registered nodes, and per
// partition its replicas, leader, epoch and in-sync set, each encoded as
// the JSON value of its key. Plain values and pure functions; any thread.
//
// Moving a partition to other nodes later is a change of `replicas`, not of
// this shape.
#ifndef HERMOD_CLUSTER_PARTITION_MAP_H_
#define HERMOD_CLUSTER_PARTITION_MAP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hermod/status.h"

namespace hermod::cluster {

using NodeId = std::string;

// `config`: fixed by `hermod cluster init`.
struct ClusterConfig {
  uint32_t partitions = 64;
  uint32_t replicas = 3;
  uint32_t min_insync = 2;

  // kInvalidArgument unless P >= 1, R >= 1 and 1 <= min_insync <= R.
  Status Validate() const;
  std::string ToJson() const;
  static Result<ClusterConfig> FromJson(std::string_view json);
};

// `nodes/<id>`: a live node (its key lives on the node's lease).
struct NodeInfo {
  NodeId id;
  std::string client_address;  // HOST:PORT clients reach
  std::string peer_address;    // HOST:PORT other nodes reach
  std::string incarnation;     // of its data directory; a new one: a wiped disk

  std::string ToJson() const;
  static Result<NodeInfo> FromJson(std::string_view json);
};

// `parts/<p>`.
struct PartitionState {
  std::vector<NodeId> replicas;  // distinct; empty: not assigned yet
  NodeId leader;                 // empty: none (no in-sync replica alive)
  uint64_t epoch = 0;            // bumped by every change of leader
  std::vector<NodeId> isr;       // the in-sync replicas, leader included
  // The etcd mod_revision the state was read at (not part of the value):
  // a change is written only if the key is still at it.
  int64_t mod_revision = 0;

  bool assigned() const { return !replicas.empty(); }
  bool InIsr(std::string_view node) const;
  std::string ToJson() const;
  static Result<PartitionState> FromJson(std::string_view json);
  bool operator==(const PartitionState& o) const {
    return replicas == o.replicas && leader == o.leader && epoch == o.epoch && isr == o.isr;
  }
};

// The first assignment: every partition gets `replicas` distinct nodes out
// of `nodes` (sorted, deduplicated by the caller), spread so that each node
// holds about as many replicas and leads about as many partitions as any
// other; the leader is the first replica; epoch 1; every replica in sync.
// kInvalidArgument when there are fewer nodes than replicas.
Result<std::vector<PartitionState>> Assign(const ClusterConfig& config,
                                           const std::vector<NodeId>& nodes);

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_PARTITION_MAP_H_
