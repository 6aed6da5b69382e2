// EtcdControlPlane: ControlPlane over EtcdClient (the v3 JSON gateway on
// the node's loop), ClusterStore (keys and compare-and-set) and LeaseKeeper.
// Loop thread only. Close() before destruction; the EtcdClient outlives it.
#ifndef HERMOD_CLUSTER_ETCD_CONTROL_PLANE_H_
#define HERMOD_CLUSTER_ETCD_CONTROL_PLANE_H_

#include <memory>

#include "cluster/cluster_store.h"
#include "cluster/control_plane.h"
#include "cluster/etcd_client.h"
#include "cluster/lease_keeper.h"
#include "net/loop.h"
#include "net/timer.h"

namespace hermod::cluster {

class EtcdControlPlane : public ControlPlane {
 public:
  // REQUIRES: etcd is initialised and outlives *this; `cluster` is valid
  // (ClusterStore::ValidateName).
  EtcdControlPlane(net::Loop& loop, EtcdClient& etcd, std::string cluster);
  ~EtcdControlPlane() override;

  void InitConfig(const ClusterConfig& config, std::function<void(Status)> done) override;
  void Read(std::function<void(Result<ClusterView>)> done) override;
  void CasPartition(uint32_t partition, const PartitionState& next,
                    std::function<void(Result<bool>)> done) override;
  void RecordIncarnation(const NodeId& node, const std::string& incarnation,
                         std::function<void(Status)> done) override;
  void GrantLease(int64_t ttl_s, std::function<void(Result<LeaseId>)> done) override;
  void KeepAlive(LeaseId lease, int64_t ttl_s, std::function<void(Status)> on_lost) override;
  void RegisterNode(const NodeInfo& node, LeaseId lease, std::function<void(Status)> done) override;
  void Campaign(const NodeId& node, LeaseId lease, std::function<void(Result<bool>)> done) override;
  void Watch(int64_t from_revision, std::function<void()> on_change) override;
  void Close() override;

 private:
  // Wraps a callback so that it never runs after Close().
  template <typename Fn>
  auto Guard(Fn fn);
  void StartWatch(int64_t from_revision);

  net::Loop& loop_;
  EtcdClient& etcd_;
  ClusterStore store_;
  LeaseKeeper keeper_;
  net::Timer rewatch_timer_;  // a broken watch is retried after a pause
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  CallId watch_call_ = 0;
  int64_t watch_next_ = 0;
  std::function<void()> on_change_;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_ETCD_CONTROL_PLANE_H_
