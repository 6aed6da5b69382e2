// The controller against FakeControlPlane: the first assignment spreads
// replicas and leaders, failover elects inside the ISR and bumps the epoch,
// two controllers deciding from one read cannot both write, and a node
// that comes back with a wiped data dir leaves every ISR and leads nothing.
#include "cluster/controller.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "cluster/fake_control_plane.h"

namespace hermod::cluster {
namespace {

class ControllerTest : public ::testing::Test {
 protected:
  void Init(uint32_t partitions, uint32_t replicas) {
    FakeControlPlane plane(&etcd_);
    std::optional<Status> done;
    plane.InitConfig(ClusterConfig{partitions, replicas, 1}, [&](Status s) { done = s; });
    etcd_.RunPending();
    ASSERT_TRUE(done && done->ok());
  }
  // Registers `node` on a new lease; returns the lease.
  LeaseId Join(const NodeId& node, const std::string& incarnation = "inc-1") {
    FakeControlPlane plane(&etcd_);
    std::optional<Result<LeaseId>> granted;
    plane.GrantLease(2, [&](Result<LeaseId> l) { granted = l; });
    etcd_.RunPending();
    const LeaseId lease = **granted;
    plane.RegisterNode(NodeInfo{node, node + ":1", node + ":2", incarnation}, lease,
                       [](Status s) { ASSERT_TRUE(s.ok()); });
    etcd_.RunPending();
    return lease;
  }
  ClusterView View() {
    Result<ClusterView> v = etcd_.View();
    EXPECT_TRUE(v.ok());
    return *v;
  }
  // One reconciliation by a controller over `plane`, from a fresh read.
  Result<bool> Reconcile(FakeControlPlane& plane) {
    Controller controller(&plane);
    std::optional<Result<bool>> out;
    controller.Reconcile(View(), [&](Result<bool> r) { out = r; });
    etcd_.RunPending();
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  FakeEtcd etcd_;
};

TEST_F(ControllerTest, AssignsOnlyOnceEnoughNodesAndSpreadsLeaders) {
  Init(12, 3);
  FakeControlPlane plane(&etcd_);
  Join("a");
  Join("b");
  ASSERT_TRUE(Reconcile(plane).ok());
  for (const PartitionState& s : View().partitions) EXPECT_FALSE(s.assigned());
  Join("c");
  ASSERT_TRUE(*Reconcile(plane));
  std::map<NodeId, int> leads;
  std::map<NodeId, int> holds;
  for (const PartitionState& s : View().partitions) {
    ASSERT_EQ(s.replicas.size(), 3u);
    EXPECT_EQ(s.isr.size(), 3u);
    EXPECT_EQ(s.epoch, 1u);
    ++leads[s.leader];
    for (const NodeId& n : s.replicas) ++holds[n];
  }
  EXPECT_EQ(leads, (std::map<NodeId, int>{{"a", 4}, {"b", 4}, {"c", 4}}));
  EXPECT_EQ(holds, (std::map<NodeId, int>{{"a", 12}, {"b", 12}, {"c", 12}}));
  // Nothing left to do: a second pass writes nothing.
  const int64_t revision = etcd_.revision();
  ASSERT_TRUE(*Reconcile(plane));
  EXPECT_EQ(etcd_.revision(), revision);
}

TEST_F(ControllerTest, FailoverPicksAnIsrMemberAndBumpsTheEpoch) {
  Init(6, 3);
  FakeControlPlane plane(&etcd_);
  Join("a");
  LeaseId b = Join("b");
  Join("c");
  Join("d");
  ASSERT_TRUE(*Reconcile(plane));
  const ClusterView before = View();
  etcd_.ExpireLease(b);
  ASSERT_TRUE(*Reconcile(plane));
  const ClusterView after = View();
  int moved = 0;
  for (size_t p = 0; p < after.partitions.size(); ++p) {
    const PartitionState& was = before.partitions[p];
    const PartitionState& now = after.partitions[p];
    EXPECT_NE(now.leader, "b");
    if (was.leader != "b") {
      EXPECT_EQ(now.epoch, was.epoch) << p;
      continue;
    }
    ++moved;
    EXPECT_EQ(now.epoch, was.epoch + 1);
    EXPECT_TRUE(was.InIsr(now.leader)) << "leader from outside the ISR in partition " << p;
    EXPECT_FALSE(now.InIsr("b"));
    EXPECT_EQ(now.replicas, was.replicas);  // leadership moves, data does not
  }
  EXPECT_GT(moved, 0);
}

TEST_F(ControllerTest, NeverElectsOutsideTheIsr) {
  Init(1, 3);
  FakeControlPlane plane(&etcd_);
  std::map<NodeId, LeaseId> leases{{"a", Join("a")}, {"b", Join("b")}, {"c", Join("c")}};
  ASSERT_TRUE(*Reconcile(plane));
  // The leader takes the two followers out of the ISR (they lag), then dies.
  PartitionState s = View().partitions[0];
  for (const NodeId& n : s.replicas) {
    if (n == s.leader) continue;
    std::optional<Result<PartitionState>> out;
    ChangeIsr(&plane, 0, n, s.epoch, false, [&](Result<PartitionState> r) { out = r; });
    etcd_.RunPending();
    ASSERT_TRUE(out && out->ok()) << out->status().ToString();
  }
  ASSERT_EQ(View().partitions[0].isr, std::vector<NodeId>{s.leader});
  etcd_.ExpireLease(leases[s.leader]);
  ASSERT_TRUE(*Reconcile(plane));
  const PartitionState now = View().partitions[0];
  EXPECT_EQ(now.leader, "");  // leaderless: no in-sync replica is live
  EXPECT_EQ(now.epoch, s.epoch + 1);
  EXPECT_EQ(now.isr, std::vector<NodeId>{s.leader});  // the ISR never empties
  // A second pass changes nothing (one bump only).
  ASSERT_TRUE(*Reconcile(plane));
  EXPECT_EQ(View().partitions[0].epoch, s.epoch + 1);
}

TEST_F(ControllerTest, AStaleControllerCannotOverwriteANewOne) {
  Init(4, 3);
  FakeControlPlane old_plane(&etcd_);
  FakeControlPlane new_plane(&etcd_);
  Join("a");
  LeaseId b = Join("b");
  Join("c");
  Join("d");
  ASSERT_TRUE(*Reconcile(new_plane));
  etcd_.ExpireLease(b);
  // Both decide from the same read; the old one was paused and writes last.
  const ClusterView seen = View();
  Controller old_controller(&old_plane);
  Controller new_controller(&new_plane);
  std::optional<Result<bool>> new_done;
  std::optional<Result<bool>> old_done;
  new_controller.Reconcile(seen, [&](Result<bool> r) { new_done = r; });
  etcd_.RunPending();
  const ClusterView after_new = View();
  old_controller.Reconcile(seen, [&](Result<bool> r) { old_done = r; });
  etcd_.RunPending();
  ASSERT_TRUE(new_done && new_done->ok() && **new_done);
  ASSERT_TRUE(old_done && old_done->ok());
  EXPECT_FALSE(**old_done) << "the stale controller's compare-and-set succeeded";
  const ClusterView after_old = View();
  for (size_t p = 0; p < seen.partitions.size(); ++p) {
    EXPECT_EQ(after_old.partitions[p], after_new.partitions[p]);
    if (seen.partitions[p].leader == "b") {
      EXPECT_EQ(after_old.partitions[p].epoch, seen.partitions[p].epoch + 1);
    }
  }
}

TEST_F(ControllerTest, AWipedNodeLeavesEveryIsrAndLeadsNothing) {
  Init(6, 3);
  FakeControlPlane plane(&etcd_);
  Join("a");
  LeaseId b = Join("b", "old");
  Join("c");
  ASSERT_TRUE(*Reconcile(plane));
  etcd_.ExpireLease(b);
  ASSERT_TRUE(*Reconcile(plane));
  // b is back before anyone shrank its ISRs of the partitions it followed.
  Join("b", "new");
  ASSERT_TRUE(*Reconcile(plane));
  ClusterView view = View();
  EXPECT_EQ(view.incarnations["b"], "new");
  for (const PartitionState& s : view.partitions) {
    EXPECT_NE(s.leader, "b");
    EXPECT_FALSE(s.InIsr("b"));
    EXPECT_NE(std::find(s.replicas.begin(), s.replicas.end(), "b"), s.replicas.end());
  }
  // Its leaders put it back once it caught up; then it may lead again.
  for (uint32_t p = 0; p < view.partitions.size(); ++p) {
    std::optional<Result<PartitionState>> out;
    ChangeIsr(&plane, p, "b", view.partitions[p].epoch, true,
              [&](Result<PartitionState> r) { out = r; });
    etcd_.RunPending();
    ASSERT_TRUE(out && out->ok());
    EXPECT_TRUE((*out)->InIsr("b"));
  }
  ASSERT_TRUE(*Reconcile(plane));
  for (const PartitionState& s : View().partitions) EXPECT_TRUE(s.InIsr("b"));
}

TEST_F(ControllerTest, IsrChangeWithAStaleEpochIsRefused) {
  Init(1, 3);
  FakeControlPlane plane(&etcd_);
  Join("a");
  Join("b");
  Join("c");
  ASSERT_TRUE(*Reconcile(plane));
  const PartitionState s = View().partitions[0];
  const NodeId follower = s.replicas[1];
  std::optional<Result<PartitionState>> out;
  ChangeIsr(&plane, 0, follower, s.epoch + 5, false, [&](Result<PartitionState> r) { out = r; });
  etcd_.RunPending();
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->ok());
  EXPECT_EQ(View().partitions[0], s);
}

TEST_F(ControllerTest, AnUninitialisedClusterIsLeftAlone) {
  FakeControlPlane plane(&etcd_);
  Join("a");
  const int64_t revision = etcd_.revision();
  ASSERT_TRUE(*Reconcile(plane));
  EXPECT_EQ(etcd_.revision(), revision);
}

}  // namespace
}  // namespace hermod::cluster
