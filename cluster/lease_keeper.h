// LeaseKeeper: keeps one etcd lease alive, and says when it is lost.
//
// A node's lease is its membership: its `nodes/<id>` key and, on the
// controller, the `controller` key are attached to it (docs/cluster.md), so
// they vanish when the node stops refreshing it. LeaseKeeper refreshes the
// lease every TTL/3 (as etcd's clientv3 does) and reports its loss once:
// kNotFound when etcd says it expired or was revoked, kTimeout when no
// refresh succeeded for a whole TTL. In the second case etcd may still hold
// the lease, but the holder cannot know it and must act as if it had lost
// it (stop acting as controller, stop confirming as leader).
//
// The clock starts at Start(): call it as soon as the grant answered, so
// that the keeper's idea of the expiry is never later than etcd's.
//
// Owned by its user. Close() before destruction, then let the loop run the
// close callbacks; the EtcdClient must outlive it. Loop thread only.
#ifndef HERMOD_CLUSTER_LEASE_KEEPER_H_
#define HERMOD_CLUSTER_LEASE_KEEPER_H_

#include <cstdint>
#include <functional>

#include "etcd_client.h"
#include "etcd_types.h"
#include "hermod/status.h"
#include "net/loop.h"
#include "net/timer.h"

namespace hermod::cluster {

class LeaseKeeper {
 public:
  LeaseKeeper(net::Loop& loop, EtcdClient& etcd);
  ~LeaseKeeper();  // REQUIRES: Close() was called, or Start() never was.
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Starts refreshing `lease`. on_lost runs at most once, on the loop
  // thread, when the lease is lost; the keeper is stopped by then.
  // REQUIRES: not running; lease.ttl_s >= 1.
  void Start(Lease lease, std::function<void(Status)> on_lost);
  // Stops refreshing without reporting anything; the lease then expires
  // in etcd after its TTL (revoke it to end it at once).
  void Stop();
  // Stop(), and closes the timers. Idempotent.
  void Close();

  bool running() const { return running_; }
  LeaseId lease_id() const { return lease_.lease_id; }
  // Refreshes etcd confirmed since Start().
  uint64_t refreshes() const { return refreshes_; }

 private:
  void Refresh();
  void Lose(Status status);

  net::Loop& loop_;
  EtcdClient& etcd_;
  net::Timer refresh_timer_;
  net::Timer expiry_timer_;  // fires when the last confirmed refresh runs out
  bool initialized_ = false;
  bool running_ = false;
  Lease lease_;
  std::function<void(Status)> on_lost_;
  CallId in_flight_ = 0;
  uint64_t refreshes_ = 0;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_LEASE_KEEPER_H_
