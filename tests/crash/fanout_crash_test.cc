// Crash test of group fan-out: hermodd is killed (SIGKILL) in the middle of
// expanding a confirmed publish to a group of 100,000 members, restarted on
// the same data directory, and must finish the expansion: every member ends
// with exactly one entry of the message (none missing, none twice), and the
// payload is stored once. Done twice, so that a second message resumed
// after a second crash lands behind the first in every member.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kMembers = 100000;
constexpr milliseconds kWait = seconds(60);

std::string Member(size_t i) {
  char name[32];
  std::snprintf(name, sizeof(name), "member.%06zu", i);
  return name;
}

class FanoutCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    // Small fan-out chunks stretch the expansion over a few hundred storage
    // batches, so that the kill lands in the middle of it; a short apply lag
    // lets the test read the stored counts soon after.
    options.extra_args = {"--apply-lag-ms", "50", "--fanout-chunk", "500"};
    broker_ = std::make_unique<BrokerProcess>(options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Publishes `payload` to the group, waits for its confirm, then kills the
  // broker once the expansion is under way but not done (at a random point
  // between 5% and 90%). Returns the member entries the broker had expanded
  // (not necessarily committed) by then.
  double PublishAndKillMidway(const std::string& payload) {
    std::random_device random;
    const double kill_at = static_cast<double>(kMembers) * (5 + random() % 85) / 100;
    std::unique_ptr<Client> client = ConnectClient(broker_->address());
    EXPECT_NE(client, nullptr);
    if (client == nullptr) return -1;
    const double before = StatsOf(*client)["fanout_entries_total"];
    PublishResult r = client->PublishToGroup("all", payload).get();
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    double expanded = 0;
    // Every 2 ms: the expansion takes a few hundred batches.
    PollUntil(
        [&] {
          expanded = StatsOf(*client)["fanout_entries_total"] - before;
          return expanded >= kill_at;
        },
        kWait, milliseconds(2));
    broker_->Kill(SIGKILL);
    Result<ExitStatus> exit = broker_->Wait(seconds(30));
    EXPECT_TRUE(exit.ok() && !exit->exited && exit->signal == SIGKILL)
        << (exit.ok() ? exit->ToString() : exit.status().ToString());
    client.reset();  // it would only try to reconnect
    return expanded;
  }

  // After a restart: waits for the expansion to finish, then checks that
  // every member holds exactly `depth` entries.
  void ExpectEveryMemberHolds(uint64_t depth) {
    std::unique_ptr<Client> client = ConnectClient(broker_->address());
    ASSERT_NE(client, nullptr);
    std::map<std::string, double> stats;
    ASSERT_TRUE(PollUntil(
        [&] {
          stats = StatsOf(*client);
          return stats["entries_stored"] >= kMembers * depth && stats["log_unapplied_bytes"] == 0;
        },
        kWait))
        << "entries_stored " << stats["entries_stored"];
    EXPECT_EQ(stats["entries_stored"], kMembers * depth);
    EXPECT_EQ(stats["messages_stored"], depth);  // one payload per message

    // Every member queue, by name, a page at a time.
    QueueListOptions list;
    list.prefix = "member.";
    list.limit = 1000;
    size_t rows = 0;
    size_t wrong = 0;
    std::string first_wrong;
    for (int page = 0; page < 1000; ++page) {
      Result<QueuePage> got = client->ListQueues(list);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      for (const QueueInfo& q : got->queues) {
        if (q.name != Member(rows) || q.depth != depth) {
          if (wrong++ == 0) first_wrong = q.name + " depth " + std::to_string(q.depth);
        }
        ++rows;
      }
      if (got->next.empty()) break;
      list.after = got->next;
    }
    EXPECT_EQ(rows, kMembers);
    EXPECT_EQ(wrong, 0u) << "first: " << first_wrong;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(FanoutCrashTest, ExpansionResumesAfterSigkillWithoutLossOrDuplicates) {
  {
    std::unique_ptr<Client> client = ConnectClient(broker_->address());
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->CreateGroup("all").ok());
    std::vector<std::string> members;
    for (size_t i = 0; i < kMembers; ++i) members.push_back(Member(i));
    Result<uint64_t> added = client->AddMembers("all", members);
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    ASSERT_EQ(*added, kMembers);
  }

  const double first = PublishAndKillMidway("first");
  std::printf("killed after %.0f of %zu member entries\n", first, kMembers);
  EXPECT_LT(first, kMembers) << "the expansion finished before the kill: nothing was tested";
  ASSERT_TRUE(broker_->Start().ok());
  ExpectEveryMemberHolds(1);

  const double second = PublishAndKillMidway("second");
  std::printf("killed after %.0f of %zu member entries\n", second, kMembers);
  EXPECT_LT(second, kMembers) << "the expansion finished before the kill: nothing was tested";
  ASSERT_TRUE(broker_->Start().ok());
  ExpectEveryMemberHolds(2);

  // And in publish order, wherever the kills fell.
  std::unique_ptr<Client> client = ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  for (size_t i : {size_t{0}, size_t{1}, kMembers / 3, kMembers / 2, kMembers - 1}) {
    Result<std::vector<PeekedEntry>> entries = client->PeekQueue(Member(i), 0, 10);
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    ASSERT_EQ(entries->size(), 2u) << Member(i);
    EXPECT_EQ((*entries)[0].payload, "first") << Member(i);
    EXPECT_EQ((*entries)[1].payload, "second") << Member(i);
  }
}

}  // namespace
}  // namespace hermod::test
