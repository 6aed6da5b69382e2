// Regression tests from the inspection issue (#6). `hermod db check` found
// that deleting a queue removed its store rows while unapplied log records
// still named it: the next apply aborted the broker (and every restart
// after it), or brought the deleted queue back.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

TEST(Issue6Test, DeletingAQueueWithUnappliedRecordsKeepsTheStoreWhole) {
  TempDir dir;
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  options.extra_args = {"--apply-lag-ms", "200"};
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start().ok());
  {
    std::unique_ptr<Client> c = ConnectClient(broker.address());
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Publish("dq", "first").get().status.ok());
    // Wait until that record is applied, then leave a second one unapplied.
    ASSERT_TRUE(
        PollUntil([&] { return StatsOf(*c)["entries_stored"] == 1; }, std::chrono::seconds(10)));
    ASSERT_TRUE(c->Publish("dq", "second").get().status.ok());
    Result<uint64_t> removed = c->DeleteQueue("dq");
    ASSERT_TRUE(removed.ok()) << removed.status().ToString();
    EXPECT_EQ(*removed, 2u);
    // Every record applied (the delete after them): the broker is alive.
    ASSERT_TRUE(PollUntil(
        [&] {
          std::map<std::string, double> stats = StatsOf(*c);
          return stats["log_unapplied_bytes"] == 0 && stats["queues"] == 0;
        },
        std::chrono::seconds(10)));
    // The name is free again.
    ASSERT_TRUE(c->Publish("dq", "third").get().status.ok());
  }
  EXPECT_TRUE(broker.Stop().ok());
  ASSERT_TRUE(broker.Start().ok()) << "the broker must restart on this store";
  EXPECT_TRUE(broker.Stop().ok());
  ExpectStoreChecksClean(options.data_dir);
}

// `queue rm` answered: the delete is durable, even when the broker dies
// before the queue's records are applied (a long apply lag here) — the
// restart finishes it, groups included. Once per way of stopping.
TEST(Issue6Test, AnsweredQueueDeleteSurvivesAStopBeforeItIsApplied) {
  for (bool kill : {false, true}) {
    SCOPED_TRACE(kill ? "SIGKILL" : "SIGTERM");
    TempDir dir;
    BrokerProcess::Options options;
    options.data_dir = dir.Join("data");
    options.extra_args = {"--apply-lag-ms", "60000"};
    BrokerProcess broker(options);
    ASSERT_TRUE(broker.Start().ok());
    {
      std::unique_ptr<Client> c = ConnectClient(broker.address());
      ASSERT_NE(c, nullptr);
      ASSERT_TRUE(c->CreateGroup("g").ok());
      ASSERT_TRUE(c->AddMembers("g", {"doomed", "kept"}).ok());
      ASSERT_TRUE(c->Publish("doomed", "m").get().status.ok());
      Result<uint64_t> removed = c->DeleteQueue("doomed");
      ASSERT_TRUE(removed.ok()) << removed.status().ToString();
      EXPECT_EQ(*removed, 1u);
    }
    if (kill) {
      broker.Kill(SIGKILL);
      ASSERT_TRUE(broker.Wait(std::chrono::seconds(10)).ok());
    } else {
      ASSERT_TRUE(broker.Stop().ok());
    }
    ASSERT_TRUE(broker.Start().ok());
    {
      std::unique_ptr<Client> c = ConnectClient(broker.address());
      ASSERT_NE(c, nullptr);
      Result<QueueInfo> gone = c->ShowQueue("doomed");
      EXPECT_EQ(gone.status().code(), ErrorCode::kNotFound) << gone.status().ToString();
      Result<MemberPage> members = c->ShowGroup("g");
      ASSERT_TRUE(members.ok()) << members.status().ToString();
      EXPECT_EQ(members->members, std::vector<std::string>{"kept"});
      EXPECT_EQ(members->member_count, 1u);
      // The name makes a new, empty queue.
      PublishResult fresh = c->Publish("doomed", "new").get();
      ASSERT_TRUE(fresh.status.ok()) << fresh.status.ToString();
      EXPECT_EQ(fresh.seq, 1u);
    }
    EXPECT_TRUE(broker.Stop().ok());
    ExpectStoreChecksClean(options.data_dir);
  }
}

}  // namespace
}  // namespace hermod::test
