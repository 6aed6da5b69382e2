// The partition map's values and the controller's rules: round trips, bad
// values refused, an even first assignment, and failover that never elects
// outside the in-sync set.
#include "cluster/partition_map.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cluster/controller.h"

namespace hermod::cluster {
namespace {

TEST(PartitionMap, ValuesRoundTripAndBadOnesAreRefused) {
  ClusterConfig config{64, 3, 2};
  Result<ClusterConfig> c = ClusterConfig::FromJson(config.ToJson());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->partitions, 64u);
  EXPECT_EQ(c->min_insync, 2u);
  EXPECT_FALSE(ClusterConfig::FromJson(R"({"partitions":64,"replicas":3})").ok());
  EXPECT_FALSE(ClusterConfig::FromJson(R"({"partitions":64,"replicas":2,"min_insync":3})").ok());
  EXPECT_FALSE(ClusterConfig::FromJson(R"({"partitions":0,"replicas":1,"min_insync":1})").ok());
  EXPECT_FALSE(ClusterConfig::FromJson(R"({"partitions":-1,"replicas":1,"min_insync":1})").ok());
  EXPECT_FALSE(ClusterConfig::FromJson("not json").ok());

  NodeInfo node{"n1", "127.0.0.1:7400", "127.0.0.1:7500", "inc-1"};
  Result<NodeInfo> n = NodeInfo::FromJson(node.ToJson());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->peer_address, "127.0.0.1:7500");
  EXPECT_FALSE(
      NodeInfo::FromJson(R"({"id":"","client_address":"","peer_address":"","incarnation":""})")
          .ok());

  PartitionState state;
  state.replicas = {"a", "b", "c"};
  state.leader = "b";
  state.epoch = 7;
  state.isr = {"b", "c"};
  Result<PartitionState> s = PartitionState::FromJson(state.ToJson());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, state);
  EXPECT_FALSE(
      PartitionState::FromJson(R"({"replicas":["a","a"],"leader":"a","epoch":1,"isr":["a"]})")
          .ok());
  EXPECT_FALSE(
      PartitionState::FromJson(R"({"replicas":["a","b"],"leader":"a","epoch":1,"isr":["c"]})")
          .ok());
  EXPECT_FALSE(
      PartitionState::FromJson(R"({"replicas":["a","b"],"leader":"a","epoch":1,"isr":["b"]})")
          .ok());
  EXPECT_FALSE(PartitionState::FromJson(R"({"replicas":["a"],"leader":"a","isr":["a"]})").ok());
}

TEST(PartitionMap, TheFirstAssignmentSpreadsReplicasAndLeaders) {
  Result<std::vector<PartitionState>> parts = Assign(ClusterConfig{64, 3, 2}, {"a", "b", "c"});
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 64u);
  std::map<NodeId, int> leads, holds;
  for (const PartitionState& p : *parts) {
    EXPECT_EQ(std::set<NodeId>(p.replicas.begin(), p.replicas.end()).size(), 3u);
    EXPECT_EQ(p.leader, p.replicas.front());
    EXPECT_EQ(p.isr, p.replicas);
    EXPECT_EQ(p.epoch, 1u);
    ++leads[p.leader];
    for (const NodeId& n : p.replicas) ++holds[n];
  }
  for (const char* n : {"a", "b", "c"}) {
    EXPECT_GE(leads[n], 21);
    EXPECT_LE(leads[n], 22);
    EXPECT_EQ(holds[n], 64);
  }
  Result<std::vector<PartitionState>> five =
      Assign(ClusterConfig{64, 3, 2}, {"a", "b", "c", "d", "e"});
  ASSERT_TRUE(five.ok());
  std::map<NodeId, int> leads5;
  for (const PartitionState& p : *five) ++leads5[p.leader];
  for (const auto& [n, count] : leads5) {
    EXPECT_GE(count, 12) << n;
    EXPECT_LE(count, 13) << n;
  }
  EXPECT_FALSE(Assign(ClusterConfig{64, 3, 2}, {"a", "b"}).ok());
}

PartitionState Abc() {
  PartitionState s;
  s.replicas = {"a", "b", "c"};
  s.leader = "a";
  s.epoch = 4;
  s.isr = {"a", "b", "c"};
  return s;
}

TEST(Controller, FailoverPicksALiveIsrMemberAndBumpsTheEpoch) {
  PartitionState s = Abc();
  EXPECT_FALSE(Failover(s, {"a", "b", "c"}).has_value());  // the leader lives
  std::optional<PartitionState> next = Failover(s, {"b", "c"});
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->leader, "b");
  EXPECT_EQ(next->epoch, 5u);
  EXPECT_EQ(next->isr, (std::vector<NodeId>{"b", "c"}));
  EXPECT_EQ(next->replicas, s.replicas);  // moving a partition is not failover
}

TEST(Controller, NeverElectsOutsideTheIsr) {
  PartitionState s = Abc();
  s.isr = {"a", "b"};  // c is behind
  std::optional<PartitionState> next = Failover(s, {"c"});
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->leader, "");  // c is alive but may not lead
  EXPECT_EQ(next->epoch, 5u);
  EXPECT_EQ(next->isr, (std::vector<NodeId>{"a", "b"}));  // kept: one of them must come back
  EXPECT_FALSE(Failover(*next, {"c"}).has_value());       // leaderless: no second bump
  std::optional<PartitionState> back = Failover(*next, {"b", "c"});
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->leader, "b");
  EXPECT_EQ(back->epoch, 6u);
  EXPECT_EQ(back->isr, (std::vector<NodeId>{"b"}));
}

TEST(Controller, IsrChangesAreFencedByTheEpoch) {
  PartitionState s = Abc();
  Result<PartitionState> shrunk = ShrinkIsr(s, "c", 4);
  ASSERT_TRUE(shrunk.ok());
  EXPECT_EQ(shrunk->isr, (std::vector<NodeId>{"a", "b"}));
  EXPECT_FALSE(ShrinkIsr(s, "c", 3).ok());  // a stale leader
  EXPECT_FALSE(ShrinkIsr(s, "a", 4).ok());  // not the leader itself
  EXPECT_FALSE(ShrinkIsr(s, "x", 4).ok());
  Result<PartitionState> grown = ExpandIsr(*shrunk, "c", 4);
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->isr, (std::vector<NodeId>{"a", "b", "c"}));
  EXPECT_FALSE(ExpandIsr(*shrunk, "c", 5).ok());
  EXPECT_FALSE(ExpandIsr(*shrunk, "x", 4).ok());
}

TEST(Controller, AWipedNodeLeavesTheIsrAndDoesNotLead) {
  PartitionState s = Abc();
  std::optional<PartitionState> follower = DropIncarnation(s, "c", {"a", "b", "c"});
  ASSERT_TRUE(follower.has_value());
  EXPECT_EQ(follower->leader, "a");
  EXPECT_EQ(follower->epoch, 4u);
  EXPECT_EQ(follower->isr, (std::vector<NodeId>{"a", "b"}));
  std::optional<PartitionState> leader = DropIncarnation(s, "a", {"a", "b", "c"});
  ASSERT_TRUE(leader.has_value());
  EXPECT_EQ(leader->leader, "b");
  EXPECT_EQ(leader->epoch, 5u);
  EXPECT_FALSE(leader->InIsr("a"));
  EXPECT_FALSE(DropIncarnation(*leader, "a", {"a", "b", "c"}).has_value());
}

}  // namespace
}  // namespace hermod::cluster
