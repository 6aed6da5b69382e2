// The cluster's state in a real etcd (ClusterStore): init once, read it
// all back, and partition changes that land only from the revision they
// were computed at, so two controllers never both win.
#include "cluster/cluster_store.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "etcd_process.h"
#include "loop_harness.h"
#include "temp_dir.h"

namespace hermod::cluster {
namespace {

using test::EtcdProcess;
using test::TempDir;

class ClusterStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    etcd_ = new EtcdProcess(dir_->path());
    const Status s = etcd_->Start();
    if (!s.ok()) ADD_FAILURE() << "etcd did not start: " << s.ToString();
  }
  static void TearDownTestSuite() {
    etcd_->Stop();
    delete etcd_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_TRUE(etcd_->running());
    etcd_client_ = &h_.NewClient({etcd_->client_url()});
    // A cluster of this test's own name: tests sharing the etcd never meet.
    store_.emplace(etcd_client_, ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  Status Init(const ClusterConfig& config) {
    std::optional<Status> result;
    store_->Init(config, [&](Status s) { result = s; });
    EXPECT_TRUE(h_.RunUntil([&] { return result.has_value(); }));
    return result.value_or(Status::Internal("no answer"));
  }
  Result<ClusterView> Read() {
    std::optional<Result<ClusterView>> result;
    store_->Read([&](Result<ClusterView> r) { result = std::move(r); });
    EXPECT_TRUE(h_.RunUntil([&] { return result.has_value(); }));
    return result ? std::move(*result) : Result<ClusterView>(Status::Internal("no answer"));
  }
  Result<bool> Cas(uint32_t p, const PartitionState& next) {
    std::optional<Result<bool>> result;
    store_->CasPartition(p, next, [&](Result<bool> r) { result = std::move(r); });
    EXPECT_TRUE(h_.RunUntil([&] { return result.has_value(); }));
    return result ? *result : Result<bool>(Status::Internal("no answer"));
  }

  static TempDir* dir_;
  static EtcdProcess* etcd_;
  LoopHarness h_;
  EtcdClient* etcd_client_ = nullptr;
  std::optional<ClusterStore> store_;
};

TempDir* ClusterStoreTest::dir_ = nullptr;
EtcdProcess* ClusterStoreTest::etcd_ = nullptr;

TEST_F(ClusterStoreTest, InitOnceThenReadItAllBack) {
  Result<ClusterView> before = Read();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_FALSE(before->config.has_value());

  EXPECT_EQ(Init(ClusterConfig{8, 3, 4}).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(Init(ClusterConfig{8, 3, 2}).ok());
  EXPECT_EQ(Init(ClusterConfig{16, 3, 2}).code(), ErrorCode::kAlreadyExists);

  NodeInfo node{"n1", "127.0.0.1:7400", "127.0.0.1:7500", "inc"};
  ASSERT_TRUE(h_.Put(*etcd_client_, store_->NodeKey("n1"), node.ToJson()).ok());
  ASSERT_TRUE(h_.Put(*etcd_client_, store_->prefix() + "controller", "n1").ok());

  Result<ClusterView> view = Read();
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  ASSERT_TRUE(view->config.has_value());
  EXPECT_EQ(view->config->partitions, 8u);  // the first init's, not the second's
  ASSERT_EQ(view->partitions.size(), 8u);
  for (const PartitionState& p : view->partitions) EXPECT_FALSE(p.assigned());
  ASSERT_EQ(view->nodes.count("n1"), 1u);
  EXPECT_EQ(view->nodes["n1"].client_address, "127.0.0.1:7400");
  EXPECT_EQ(view->controller, "n1");
}

TEST_F(ClusterStoreTest, APartitionChangesOnlyFromTheRevisionItWasReadAt) {
  ASSERT_TRUE(Init(ClusterConfig{4, 2, 1}).ok());
  Result<std::vector<PartitionState>> assigned = Assign(ClusterConfig{4, 2, 1}, {"a", "b"});
  ASSERT_TRUE(assigned.ok());
  PartitionState first = (*assigned)[2];
  ASSERT_EQ(*Cas(2, first), true);   // absent: created
  EXPECT_EQ(*Cas(2, first), false);  // no longer absent

  Result<ClusterView> view = Read();
  ASSERT_TRUE(view.ok());
  PartitionState read = view->partitions[2];
  EXPECT_EQ(read, first);
  ASSERT_GT(read.mod_revision, 0);

  // Two controllers decide from the same read: one lands, the other loses.
  PartitionState by_one = read;
  by_one.leader = "b";
  by_one.epoch = read.epoch + 1;
  PartitionState by_other = read;
  by_other.isr = {read.leader};
  std::optional<Result<bool>> one, other;
  store_->CasPartition(2, by_one, [&](Result<bool> r) { one = std::move(r); });
  store_->CasPartition(2, by_other, [&](Result<bool> r) { other = std::move(r); });
  ASSERT_TRUE(h_.RunUntil([&] { return one.has_value() && other.has_value(); }));
  ASSERT_TRUE(one->ok() && other->ok());
  EXPECT_NE(**one, **other);
  view = Read();
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->partitions[2], **one ? by_one : by_other);
  EXPECT_GT(view->partitions[2].mod_revision, read.mod_revision);
}

}  // namespace
}  // namespace hermod::cluster
