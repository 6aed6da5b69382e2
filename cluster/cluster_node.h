// ClusterNode: how hermodd joins a cluster. It owns the etcd client, the
// EtcdControlPlane over it and the ClusterMember, built from ClusterOptions
// (the --cluster-* flags and config keys). The Server creates one only when
// --cluster-etcd is given, so single-node hermodd pays nothing.
//
// Loop thread only. Close() before destruction (it closes every handle, so
// the loop can end); the loop outlives it.
#ifndef HERMOD_CLUSTER_CLUSTER_NODE_H_
#define HERMOD_CLUSTER_CLUSTER_NODE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "cluster/cluster_member.h"
#include "cluster/partition_map.h"
#include "hermod/status.h"
#include "net/loop.h"

namespace hermod::cluster {

class EtcdClient;
class EtcdControlPlane;

struct ClusterOptions {
  std::string etcd;                   // comma-separated etcd URLs; empty: single node
  std::string name = "default";       // the cluster: keys under /hermod/<name>/
  std::string node_id;                // required in cluster mode
  std::string advertise;              // client address others reach; empty: the listen address
  std::string peer_listen;            // HOST:PORT for other nodes; required in cluster mode
  int64_t lease_ttl_s = 2;            // a dead node is noticed after about this long
  uint32_t etcd_timeout_ms = 2000;    // one etcd request at most
  uint32_t retry_ms = 500;            // pause before retrying after etcd failed
  uint64_t replica_lag_ms = 1000;     // a follower this far behind leaves the ISR
  uint64_t replica_window_mib = 256;  // parts kept for followers catching up

  bool enabled() const { return !etcd.empty(); }
  // kInvalidArgument with the flag to fix when cluster mode lacks something.
  Status Validate() const;
};

// What a node needs from etcd before its store recovers: the cluster's
// fixed configuration and this data directory's message-id prefix.
struct JoinInfo {
  ClusterConfig config;
  uint32_t id_prefix = 0;
};

class ClusterNode {
 public:
  explicit ClusterNode(net::Loop& loop);
  ~ClusterNode();

  // Reads or creates the data dir's incarnation and connects to etcd.
  Status Open(const ClusterOptions& options, const std::string& data_dir);
  // Runs the loop until the cluster's config can be read (waiting, with a
  // log line, for `hermod cluster init`) and this data directory holds an
  // id prefix. Before anything else runs on the loop: it is the node's
  // start, and blocks nothing else.
  Result<JoinInfo> Join();
  // Starts the member. `client_address`: the bound listen address (used
  // when options.advertise is empty).
  Status Start(const std::string& client_address);
  // Stops the member and closes the etcd client. Idempotent.
  void Close();

  // Null before Start() succeeded.
  ClusterMember* member() { return member_.get(); }
  // Null before Open() succeeded.
  ControlPlane* plane();
  const std::string& incarnation() const { return incarnation_; }
  const ClusterOptions& options() const { return options_; }

 private:
  net::Loop& loop_;
  ClusterOptions options_;
  std::string incarnation_;
  std::unique_ptr<EtcdClient> etcd_;
  std::unique_ptr<EtcdControlPlane> plane_;
  std::unique_ptr<ClusterMember> member_;
  bool closed_ = false;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_CLUSTER_NODE_H_
