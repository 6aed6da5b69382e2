// ControlPlane: everything a node asks of etcd (docs/cluster.md, "State in
// etcd"), behind one small interface so that the controller and the member
// can be tested against a scripted fake (FakeControlPlane) as LevelDB is
// tested through Env. EtcdControlPlane is the real one.
//
// Every call is asynchronous and calls its callback exactly once, later,
// on the loop thread, unless Close() came first. Nothing blocks. Loop thread
// only. Owned by its user; Close() before destruction.
#ifndef HERMOD_CLUSTER_CONTROL_PLANE_H_
#define HERMOD_CLUSTER_CONTROL_PLANE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "cluster/cluster_store.h"
#include "cluster/etcd_types.h"
#include "cluster/partition_map.h"
#include "hermod/status.h"

namespace hermod::cluster {

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;

  // Writes the config of a new cluster; kAlreadyExists when it has one.
  virtual void InitConfig(const ClusterConfig& config, std::function<void(Status)> done) = 0;
  // The whole cluster state at one revision.
  virtual void Read(std::function<void(Result<ClusterView>)> done) = 0;
  // Writes parts/<p> = next if the key is still at next.mod_revision (0:
  // absent). true: written; false: someone else changed it first.
  virtual void CasPartition(uint32_t partition, const PartitionState& next,
                            std::function<void(Result<bool>)> done) = 0;
  // Writes incarnations/<node> (controller only, no lease).
  virtual void RecordIncarnation(const NodeId& node, const std::string& incarnation,
                                 std::function<void(Status)> done) = 0;

  // Grants a lease of ttl_s seconds.
  virtual void GrantLease(int64_t ttl_s, std::function<void(Result<LeaseId>)> done) = 0;
  // Keeps `lease` alive until Close() or until it is lost; then on_lost runs
  // once. One kept lease at a time: a second call replaces the first.
  virtual void KeepAlive(LeaseId lease, int64_t ttl_s, std::function<void(Status)> on_lost) = 0;
  // Puts nodes/<id> on `lease`.
  virtual void RegisterNode(const NodeInfo& node, LeaseId lease,
                            std::function<void(Status)> done) = 0;
  // Puts `controller` = node on `lease` if no one holds it. true: held by
  // `node` now (also when it already was, on this lease).
  virtual void Campaign(const NodeId& node, LeaseId lease,
                        std::function<void(Result<bool>)> done) = 0;

  // Calls on_change (loop thread) after any change under the cluster's
  // prefix at a revision >= from_revision; the caller re-reads. One watch
  // at a time; it survives broken streams (re-watched, or a change reported
  // when history was compacted so the caller reads everything again).
  virtual void Watch(int64_t from_revision, std::function<void()> on_change) = 0;

  // Stops keepalive and watch, cancels calls: no callback runs after it.
  virtual void Close() = 0;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_CONTROL_PLANE_H_
