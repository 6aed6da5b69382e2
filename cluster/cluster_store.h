// ClusterStore: the cluster's state in etcd, under one prefix per cluster
// (`/hermod/<cluster>/`, docs/cluster.md "State in etcd"):
//
//   config        ClusterConfig, written once by `hermod cluster init`
//   nodes/<id>    NodeInfo, on the node's lease
//   controller    the controller's node id, on its lease
//   parts/<p>     PartitionState; absent until the controller assigns it
//   incarnations/<id>  the data-dir incarnation the controller last saw the
//                 node with (no lease): how a new controller still knows that
//                 a node came back with a wiped disk
//   idprefixes/<n> the incarnation that owns message-id prefix n (1..32767,
//                 no lease): every data directory's ids are its own
//
// Reads return every key with its mod revision; a partition changes only
// through CasPartition, a transaction that holds only if the key is still
// at the revision the change was computed from, so of two controllers (a
// paused one and a new one) at most one write lands. Asynchronous over
// EtcdClient, on its loop. Loop thread only.
#ifndef HERMOD_CLUSTER_CLUSTER_STORE_H_
#define HERMOD_CLUSTER_CLUSTER_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/etcd_client.h"
#include "cluster/partition_map.h"
#include "hermod/status.h"

namespace hermod::cluster {

// The whole of one cluster's state at one revision.
struct ClusterView {
  int64_t revision = 0;
  std::optional<ClusterConfig> config;  // absent: not initialised
  std::map<NodeId, NodeInfo> nodes;
  NodeId controller;                           // empty: none
  std::map<NodeId, std::string> incarnations;  // as the controller recorded them
  std::vector<PartitionState> partitions;      // config->partitions of them; unassigned ones empty
};

class ClusterStore {
 public:
  // REQUIRES: etcd outlives the store. `cluster`: a name of [A-Za-z0-9_.-].
  ClusterStore(EtcdClient* etcd, std::string cluster);

  // Writes the config of a new cluster; kAlreadyExists when it has one.
  void Init(const ClusterConfig& config, std::function<void(Status)> done);
  void Read(std::function<void(Result<ClusterView>)> done);
  // Writes `next` for partition p if its key is still at
  // next.mod_revision (0: the key must not exist). true: written.
  void CasPartition(uint32_t partition, const PartitionState& next,
                    std::function<void(Result<bool>)> done);
  // The message-id prefix of the data directory `incarnation`: the one
  // recorded for it, or the smallest free one, claimed by a transaction
  // (two nodes claiming at once: one wins, the other takes the next).
  // kLimitExceeded when all 32767 are taken.
  void AllocateIdPrefix(const std::string& incarnation, std::function<void(Result<uint32_t>)> done);

  const std::string& prefix() const { return prefix_; }
  std::string PartitionKey(uint32_t partition) const;
  std::string NodeKey(std::string_view node) const;

  // kInvalidArgument unless the name is usable in keys.
  static Status ValidateName(std::string_view cluster);

 private:
  EtcdClient* etcd_;
  std::string prefix_;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_CLUSTER_STORE_H_
