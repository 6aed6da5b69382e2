// FakeControlPlane: an in-memory etcd for unit tests of the controller and
// the member. FakeEtcd holds the keys with create/mod revisions and leases
// (that a test expires at will); each node gets its own FakeControlPlane
// over the one FakeEtcd. Answers are not given at once but queued, and
// RunPending() delivers them in order, so a test scripts interleavings
// (two controllers deciding from one read, one of them "paused"). Single
// thread; the answers run inside RunPending().
#ifndef HERMOD_CLUSTER_FAKE_CONTROL_PLANE_H_
#define HERMOD_CLUSTER_FAKE_CONTROL_PLANE_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "cluster/control_plane.h"

namespace hermod::cluster {

class FakeEtcd {
 public:
  struct Entry {
    std::string value;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    LeaseId lease = 0;
  };

  explicit FakeEtcd(std::string cluster = "test") : prefix_("/hermod/" + cluster + "/") {}

  // Runs queued answers (and what they queue) until none is left; returns
  // how many ran.
  size_t RunPending();
  // Deletes the lease and every key on it, as etcd does when it expires.
  void ExpireLease(LeaseId lease);
  bool LeaseAlive(LeaseId lease) const { return leases_.count(lease) > 0; }

  // Direct access for tests (no queueing).
  int64_t revision() const { return revision_; }
  const std::map<std::string, Entry>& keys() const { return keys_; }
  const std::string& prefix() const { return prefix_; }
  Result<ClusterView> View() const;
  // Puts a key as a client would; returns the new revision.
  int64_t Put(const std::string& key, const std::string& value, LeaseId lease = 0);

 private:
  friend class FakeControlPlane;
  struct Watcher {
    int64_t from_revision = 0;
    std::function<void()> on_change;
  };

  void Post(std::function<void()> fn) { pending_.push_back(std::move(fn)); }
  void Changed();
  void Delete(const std::string& key);
  LeaseId Grant() {
    leases_.insert(next_lease_);
    return next_lease_++;
  }

  std::string prefix_;
  int64_t revision_ = 1;
  LeaseId next_lease_ = 100;
  std::map<std::string, Entry> keys_;
  std::set<LeaseId> leases_;
  std::map<LeaseId, std::function<void(Status)>> lost_callbacks_;
  std::map<const void*, Watcher> watchers_;
  std::deque<std::function<void()>> pending_;
};

class FakeControlPlane : public ControlPlane {
 public:
  explicit FakeControlPlane(FakeEtcd* etcd) : etcd_(etcd) {}
  ~FakeControlPlane() override { Close(); }

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

  // Makes every later call fail with kUnavailable (etcd unreachable).
  void TEST_SetUnreachable(bool unreachable) { unreachable_ = unreachable; }
  size_t calls() const { return calls_; }

 private:
  // Queues fn with the closed flag checked when it runs.
  void Answer(std::function<void()> fn);

  FakeEtcd* etcd_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  LeaseId kept_ = 0;
  bool unreachable_ = false;
  size_t calls_ = 0;
};

}  // namespace hermod::cluster

#endif  // HERMOD_CLUSTER_FAKE_CONTROL_PLANE_H_
