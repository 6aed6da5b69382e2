// ClusterMember against FakeControlPlane: members register, one of them is
// elected controller and assigns the partitions, every member's map follows,
// a lost lease leads to registering again, and the controller's death
// hands the role to another member that still fails partitions over.
#include "cluster/cluster_member.h"

#include <gtest/gtest.h>

#include <memory>

#include "cluster/fake_control_plane.h"
#include "net/loop.h"

namespace hermod::cluster {
namespace {

class ClusterMemberTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.Init().ok()); }
  void TearDown() override {
    for (auto& m : members_) m->Close();
    for (auto& p : planes_) p->Close();
    loop_.Close();
  }

  ClusterMember& Add(const NodeId& node, const std::string& incarnation = "inc") {
    planes_.push_back(std::make_unique<FakeControlPlane>(&etcd_));
    MemberOptions options;
    options.node_id = node;
    options.client_address = node + ":7400";
    options.peer_address = node + ":7500";
    options.incarnation = incarnation;
    options.retry_ms = 1;
    members_.push_back(std::make_unique<ClusterMember>(loop_, planes_.back().get(), options));
    members_.back()->SetOnChange(
        [this, node](const ClusterView&, const std::vector<RoleChange>& changes) {
          for (const RoleChange& c : changes) changes_[node].push_back(c);
        });
    members_.back()->Start();
    return *members_.back();
  }
  void Settle() {
    // Answers may start timers (retries), and timers calls: alternate.
    for (int i = 0; i < 50; ++i) {
      size_t ran = etcd_.RunPending();
      uv_run(loop_.uv(), UV_RUN_NOWAIT);
      if (ran == 0 && etcd_.RunPending() == 0) break;
    }
  }
  void InitCluster(uint32_t partitions, uint32_t replicas) {
    FakeControlPlane plane(&etcd_);
    plane.InitConfig(ClusterConfig{partitions, replicas, 1}, [](Status s) { ASSERT_TRUE(s.ok()); });
    Settle();
  }
  int Controllers() {
    int n = 0;
    for (auto& m : members_) n += m->is_controller() ? 1 : 0;
    return n;
  }

  net::Loop loop_;
  FakeEtcd etcd_;
  std::vector<std::unique_ptr<FakeControlPlane>> planes_;
  std::vector<std::unique_ptr<ClusterMember>> members_;
  std::map<NodeId, std::vector<RoleChange>> changes_;
};

TEST_F(ClusterMemberTest, MembersElectOneControllerThatAssignsEveryPartition) {
  InitCluster(6, 3);
  ClusterMember& a = Add("a");
  Add("b");
  Add("c");
  Settle();
  EXPECT_EQ(Controllers(), 1);
  for (auto& m : members_) {
    ASSERT_TRUE(m->registered());
    ASSERT_EQ(m->view().partitions.size(), 6u);
    for (uint32_t p = 0; p < 6; ++p) {
      std::optional<PartitionRoute> route = m->Route(p);
      ASSERT_TRUE(route.has_value());
      EXPECT_FALSE(route->leader.empty());
      EXPECT_EQ(route->leader_address, route->leader + ":7400");
      EXPECT_EQ(route->replicas.size(), 3u);
    }
  }
  int leads = 0;
  for (const RoleChange& c : changes_["a"]) leads += c.role == Role::kLeader ? 1 : 0;
  EXPECT_EQ(leads, 2);  // 6 partitions over 3 nodes
  EXPECT_EQ(a.RoleIn(0) == Role::kNone, false);
}

TEST_F(ClusterMemberTest, TheControllersDeathMovesTheRoleAndItsLeaderships) {
  InitCluster(6, 3);
  Add("a");
  Add("b");
  Add("c");
  Add("d");
  Settle();
  ClusterMember* old_controller = nullptr;
  size_t old_index = 0;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i]->is_controller()) old_controller = members_[i].get(), old_index = i;
  }
  ASSERT_NE(old_controller, nullptr);
  const NodeId dead = old_controller->options().node_id;
  // The process dies: its member stops, and its lease expires in etcd.
  const LeaseId lease = old_controller->lease();
  old_controller->Close();
  planes_[old_index]->Close();
  etcd_.ExpireLease(lease);
  Settle();
  EXPECT_EQ(Controllers(), 1);
  for (auto& m : members_) {
    if (m.get() == old_controller) continue;
    EXPECT_FALSE(m->is_controller() && m->options().node_id == dead);
    for (uint32_t p = 0; p < 6; ++p) {
      EXPECT_NE(m->Route(p)->leader, dead) << p;
      EXPECT_FALSE(m->Route(p)->leader.empty()) << p;
    }
  }
}

TEST_F(ClusterMemberTest, ALostLeaseIsReplacedAndTheNodeRegistersAgain) {
  InitCluster(3, 1);
  ClusterMember& a = Add("a");
  Settle();
  ASSERT_TRUE(a.registered());
  const LeaseId first = a.lease();
  etcd_.ExpireLease(first);
  Settle();
  EXPECT_TRUE(a.registered());
  EXPECT_NE(a.lease(), first);
  EXPECT_EQ(a.view().nodes.count("a"), 1u);
  EXPECT_TRUE(a.is_controller());
}

}  // namespace
}  // namespace hermod::cluster
