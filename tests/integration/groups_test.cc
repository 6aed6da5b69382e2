// Groups through libhermod against a real hermodd: administration (create,
// add, remove, list, show, delete) and its errors, member lists split under
// the frame limit, group publishes (fan-out to 1,000 members stored once,
// in order; a 100,000-member fan-out that confirms at once and does not
// stall other publishers), membership changes ordered with publishes, and
// dedup of group publishes.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::BrokerProcess;
using test::ConfirmCounter;
using test::PollUntil;
using test::QueueDrainer;
using test::StatsOf;
using test::TempDir;
using Clock = std::chrono::steady_clock;

// How long a test waits for something that must happen.
constexpr milliseconds kWait = seconds(20);

// "prefix000042": fixed width, so name order is number order.
std::string Numbered(const std::string& prefix, size_t i, int width = 6) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%0*zu", width, i);
  return prefix + digits;
}

std::vector<std::string> NumberedNames(const std::string& prefix, size_t n, int width = 6) {
  std::vector<std::string> names;
  names.reserve(n);
  for (size_t i = 0; i < n; ++i) names.push_back(Numbered(prefix, i, width));
  return names;
}

class GroupTest : public ::testing::Test {
 protected:
  // Entries reach the index (and the stats) 50 ms after their commit
  // instead of 1 s, so that tests can poll the stored counts.
  void StartBroker(std::vector<std::string> extra_args = {}) {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.extra_args = {"--apply-lag-ms", "50"};
    options.extra_args.insert(options.extra_args.end(), extra_args.begin(), extra_args.end());
    broker_ = std::make_unique<BrokerProcess>(options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    client_ = test::ConnectClient(broker_->address());
    ASSERT_NE(client_, nullptr);
  }

  // The payloads of a queue's entries, by peeking (nothing is delivered).
  std::vector<std::string> PeekPayloads(const std::string& queue) {
    std::vector<std::string> payloads;
    Result<std::vector<PeekedEntry>> entries = client_->PeekQueue(queue, 0, 100);
    if (!entries.ok()) return {"<" + entries.status().ToString() + ">"};
    for (const PeekedEntry& e : *entries) payloads.push_back(e.payload);
    return payloads;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> client_;
};

TEST_F(GroupTest, AdministrationAndItsErrors) {
  StartBroker();
  Client& c = *client_;
  ASSERT_TRUE(c.CreateGroup("chat:1").ok());
  EXPECT_EQ(c.CreateGroup("chat:1").code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(c.CreateGroup("").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(c.CreateGroup("bad\x01name").code(), ErrorCode::kInvalidArgument);

  // Adding counts the queues that were not members; a name twice counts once.
  Result<uint64_t> added = c.AddMembers("chat:1", {"user:1", "user:2", "user:3", "user:1"});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 3u);
  added = c.AddMembers("chat:1", {"user:2", "user:4"});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 1u);
  // Adding created the member queues.
  Result<QueueInfo> member = c.ShowQueue("user:4");
  ASSERT_TRUE(member.ok()) << member.status().ToString();
  EXPECT_EQ(member->depth, 0u);

  Result<MemberPage> page = c.ShowGroup("chat:1");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->member_count, 4u);
  EXPECT_EQ(page->members, (std::vector<std::string>{"user:1", "user:2", "user:3", "user:4"}));
  EXPECT_EQ(page->next, "");

  Result<uint64_t> removed = c.RemoveMembers("chat:1", {"user:1", "user:9"});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1u);
  page = c.ShowGroup("chat:1");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->members, (std::vector<std::string>{"user:2", "user:3", "user:4"}));
  // Removing a member leaves its queue.
  EXPECT_TRUE(c.ShowQueue("user:1").ok());

  // A bad member name refuses its request whole.
  Result<uint64_t> bad = c.AddMembers("chat:1", {"user:5", ""});
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("member 1:"), std::string::npos) << bad.status().ToString();
  EXPECT_EQ(c.ShowGroup("chat:1")->member_count, 3u);

  EXPECT_EQ(c.ShowGroup("chat:none").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(c.AddMembers("chat:none", {"user:1"}).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(c.RemoveMembers("chat:none", {"user:1"}).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(c.DeleteGroup("chat:none").status().code(), ErrorCode::kNotFound);
  PublishResult missing = c.PublishToGroup("chat:none", "x").get();
  EXPECT_EQ(missing.status.code(), ErrorCode::kNotFound) << missing.status.ToString();
  PublishResult empty_name = c.PublishToGroup("", "x").get();
  EXPECT_EQ(empty_name.status.code(), ErrorCode::kInvalidArgument);

  Result<uint64_t> deleted = c.DeleteGroup("chat:1");
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 3u);
  EXPECT_EQ(c.ShowGroup("chat:1").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(c.PublishToGroup("chat:1", "x").get().status.code(), ErrorCode::kNotFound);
  // The name can be used again, and the group starts empty.
  ASSERT_TRUE(c.CreateGroup("chat:1").ok());
  EXPECT_EQ(c.ShowGroup("chat:1")->member_count, 0u);
}

TEST_F(GroupTest, ListsAndShowsPageByName) {
  StartBroker();
  Client& c = *client_;
  std::vector<std::string> groups = NumberedNames("g.", 25, 2);
  for (const std::string& g : groups) ASSERT_TRUE(c.CreateGroup(g).ok());
  ASSERT_TRUE(c.CreateGroup("other").ok());
  ASSERT_TRUE(c.AddMembers("g.03", {"q1", "q2"}).ok());

  // By prefix, ten at a time.
  std::vector<std::string> seen;
  std::string after;
  int pages = 0;
  for (; pages < 10; ++pages) {
    Result<GroupPage> page = c.ListGroups("g.", after, 10);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const GroupSummary& g : page->groups) {
      seen.push_back(g.name);
      EXPECT_GT(g.created_ms, 0u);
      EXPECT_EQ(g.members, g.name == "g.03" ? 2u : 0u) << g.name;
    }
    if (page->next.empty()) break;
    after = page->next;
  }
  EXPECT_EQ(pages, 2);  // three pages: 10, 10, 5
  EXPECT_EQ(seen, groups);

  // Every group, with the broker's default page.
  Result<GroupPage> all = c.ListGroups();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->groups.size(), 26u);
  EXPECT_EQ(all->groups.back().name, "other");
  EXPECT_EQ(all->next, "");

  // A group's members, seven at a time.
  std::vector<std::string> members = NumberedNames("member.", 20, 2);
  ASSERT_TRUE(c.AddMembers("other", members).ok());
  std::vector<std::string> listed;
  after.clear();
  for (int i = 0; i < 10; ++i) {
    Result<MemberPage> page = c.ShowGroup("other", after, 7);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_EQ(page->member_count, 20u);
    EXPECT_LE(page->members.size(), 7u);
    listed.insert(listed.end(), page->members.begin(), page->members.end());
    if (page->next.empty()) break;
    after = page->next;
  }
  EXPECT_EQ(listed, members);
}

TEST_F(GroupTest, LongMemberListsAreSplitUnderTheFrameLimit) {
  // 64 KiB frames: 2,000 members of 200 bytes (about 420 KB) cannot go in
  // one request.
  StartBroker({"--max-frame-bytes", "65536"});
  Client& c = *client_;
  ASSERT_EQ(c.server_info().max_frame_bytes, 65536u);
  ASSERT_TRUE(c.CreateGroup("wide").ok());
  std::vector<std::string> members = NumberedNames(std::string(194, 'm'), 2000);
  Result<uint64_t> added = c.AddMembers("wide", members);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 2000u);
  EXPECT_TRUE(c.connected());
  EXPECT_EQ(c.ShowGroup("wide")->member_count, 2000u);

  // Adding them again changes nothing; removing them removes them all.
  added = c.AddMembers("wide", members);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 0u);
  Result<uint64_t> removed = c.RemoveMembers("wide", members);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 2000u);
  EXPECT_EQ(c.ShowGroup("wide")->member_count, 0u);

  // A bad name far down the list is named by its index in the whole list.
  members[1500] = "bad\x01";
  Result<uint64_t> bad = c.AddMembers("wide", members);
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("member 1500:", 0), 0u) << bad.status().ToString();
  EXPECT_TRUE(c.connected());
}

TEST_F(GroupTest, FanOutToThousandMembersArrivesInOrderAndIsStoredOnce) {
  constexpr size_t kMembers = 1000;
  constexpr size_t kMessages = 100;
  StartBroker();
  Client& c = *client_;
  ASSERT_TRUE(c.CreateGroup("room").ok());
  std::vector<std::string> members = NumberedNames("member.", kMembers, 4);
  ASSERT_EQ(*c.AddMembers("room", members), kMembers);

  ConfirmCounter confirms;
  for (size_t i = 0; i < kMessages; ++i) {
    c.PublishToGroupAsync("room", "m-" + std::to_string(i), {}, confirms.Callback());
  }
  ASSERT_TRUE(confirms.WaitFor(kMessages, kWait));
  ASSERT_EQ(confirms.failed(), 0u) << confirms.first_error().ToString();

  // Once expanded and applied to the index: one stored message per publish,
  // one entry per member and message.
  std::map<std::string, double> stats;
  EXPECT_TRUE(PollUntil(
      [&] {
        stats = StatsOf(c);
        return stats["entries_stored"] == kMembers * kMessages;
      },
      kWait))
      << "entries_stored " << stats["entries_stored"];
  EXPECT_EQ(stats["messages_stored"], kMessages);
  EXPECT_EQ(stats["fanout_entries_total"], kMembers * kMessages);
  EXPECT_EQ(stats["published_total"], kMessages);

  // Every member gets every message, in publish order.
  QueueDrainer drainer(broker_->address(), 4);
  ASSERT_TRUE(drainer.connected());
  ASSERT_TRUE(drainer.Subscribe(members, kMessages).ok());
  ASSERT_TRUE(drainer.WaitForTotal(kMembers * kMessages, kWait)) << drainer.total();
  std::map<std::string, std::vector<std::string>> got = drainer.Payloads();
  ASSERT_EQ(got.size(), kMembers);
  std::vector<std::string> expected;
  for (size_t i = 0; i < kMessages; ++i) expected.push_back("m-" + std::to_string(i));
  for (const std::string& m : members) EXPECT_EQ(got[m], expected) << m;
  EXPECT_EQ(drainer.redelivered(), 0u);

  // Acked everywhere: the shared payloads go with the last reference.
  EXPECT_TRUE(PollUntil(
      [&] {
        stats = StatsOf(c);
        return stats["entries_stored"] == 0 && stats["messages_stored"] == 0;
      },
      kWait))
      << "entries_stored " << stats["entries_stored"] << " messages_stored "
      << stats["messages_stored"];
}

TEST_F(GroupTest, HundredThousandMembersConfirmAtOnceWithoutStallingOthers) {
  constexpr size_t kMembers = 100000;
  StartBroker();
  Client& c = *client_;
  ASSERT_TRUE(c.CreateGroup("everyone").ok());
  std::vector<std::string> members = NumberedNames("user.", kMembers);
  const auto add_start = Clock::now();
  Result<uint64_t> added = c.AddMembers("everyone", members);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  ASSERT_EQ(*added, kMembers);
  std::printf("AddMembers(100000): %.0f ms\n",
              std::chrono::duration<double, std::milli>(Clock::now() - add_start).count());

  // A second connection publishes to an unrelated queue, one message at a
  // time, while the expansion runs; a third watches the expansion.
  std::unique_ptr<Client> direct = test::ConnectClient(broker_->address());
  std::unique_ptr<Client> watcher = test::ConnectClient(broker_->address());
  ASSERT_NE(direct, nullptr);
  ASSERT_NE(watcher, nullptr);
  const double fanout_before = StatsOf(*watcher)["fanout_entries_total"];
  std::atomic<bool> expanded{false};
  std::atomic<bool> published{false};
  std::vector<double> latencies_ms;     // direct publishes while expanding
  std::atomic<size_t> direct_count{0};  // every direct publish
  std::atomic<size_t> direct_failed{0};
  std::thread publisher([&] {
    const auto deadline = Clock::now() + kWait;
    while (!expanded.load() && Clock::now() < deadline) {
      const auto start = Clock::now();
      PublishResult r = direct->Publish("unrelated", "ping").get();
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      ++direct_count;
      if (!r.status.ok()) ++direct_failed;
      // Only what ran while the expansion did counts.
      if (published.load() && !expanded.load()) latencies_ms.push_back(ms);
    }
  });
  std::thread watch([&] {
    PollUntil(
        [&] {
          expanded = StatsOf(*watcher)["fanout_entries_total"] >= fanout_before + kMembers;
          return expanded.load();
        },
        kWait, milliseconds(5));
    expanded = true;  // also on timeout, so the publisher stops
  });

  const auto start = Clock::now();
  published = true;
  PublishResult r = c.PublishToGroup("everyone", "to all").get();
  const double confirm_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.seq, 0u);
  watch.join();
  publisher.join();

  std::printf(
      "group publish confirmed in %.1f ms; %zu direct publishes during the expansion: "
      "p50 %.1f ms, max %.1f ms\n",
      confirm_ms, latencies_ms.size(), test::Percentile(latencies_ms, 0.5),
      test::Percentile(latencies_ms, 1.0));
  RecordProperty("group_confirm_ms", static_cast<int>(confirm_ms));
  RecordProperty("direct_p50_ms", static_cast<int>(test::Percentile(latencies_ms, 0.5)));
  RecordProperty("direct_max_ms", static_cast<int>(test::Percentile(latencies_ms, 1.0)));
  EXPECT_LT(confirm_ms, 1000);
  EXPECT_EQ(direct_failed.load(), 0u);
  // The expansion takes several storage batches: the direct publisher got
  // its turns in between.
  EXPECT_GE(latencies_ms.size(), 3u);
  EXPECT_LT(test::Percentile(latencies_ms, 1.0), 500);

  // Every member ends with the one message.
  std::map<std::string, double> stats;
  EXPECT_TRUE(PollUntil(
      [&] {
        stats = StatsOf(c);
        return stats["entries_stored"] == kMembers + direct_count.load();
      },
      kWait))
      << "entries_stored " << stats["entries_stored"] << ", want " << kMembers + direct_count;
  for (size_t i : {size_t{0}, kMembers / 2, kMembers - 1}) {
    Result<QueueInfo> q = c.ShowQueue(members[i]);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    EXPECT_EQ(q->depth, 1u) << members[i];
  }
  EXPECT_EQ(stats["messages_stored"], 1 + direct_count.load());
}

TEST_F(GroupTest, MembershipAtPublishTimeDecides) {
  StartBroker();
  Client& c = *client_;
  ASSERT_TRUE(c.CreateGroup("team").ok());
  ASSERT_TRUE(c.AddMembers("team", {"a", "b"}).ok());
  // One connection, each step waiting for the one before.
  ASSERT_TRUE(c.PublishToGroup("team", "p1").get().status.ok());
  ASSERT_EQ(*c.AddMembers("team", {"c"}), 1u);  // after p1's confirm: no p1
  ASSERT_TRUE(c.PublishToGroup("team", "p2").get().status.ok());
  ASSERT_EQ(*c.RemoveMembers("team", {"a"}), 1u);  // before p3: no p3
  ASSERT_TRUE(c.PublishToGroup("team", "p3").get().status.ok());

  // Seven entries in all once every fan-out ran.
  ASSERT_TRUE(PollUntil([&] { return StatsOf(c)["fanout_entries_total"] == 7; }, kWait));
  EXPECT_EQ(PeekPayloads("a"), (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(PeekPayloads("b"), (std::vector<std::string>{"p1", "p2", "p3"}));
  EXPECT_EQ(PeekPayloads("c"), (std::vector<std::string>{"p2", "p3"}));
}

// Deleting a queue takes it out of its groups, as deleting a RabbitMQ
// queue removes its bindings: a queue later made under the same name is
// not a member, and the store (after a restart, and by db check) agrees.
TEST_F(GroupTest, DeletingAQueueTakesItOutOfItsGroups) {
  StartBroker();
  Client& c = *client_;
  ASSERT_TRUE(c.CreateGroup("one").ok());
  ASSERT_TRUE(c.CreateGroup("two").ok());
  ASSERT_TRUE(c.AddMembers("one", {"gone", "stays"}).ok());
  ASSERT_TRUE(c.AddMembers("two", {"gone"}).ok());
  ASSERT_TRUE(c.PublishToGroup("one", "before").get().status.ok());
  ASSERT_TRUE(PollUntil([&] { return StatsOf(c)["fanout_entries_total"] == 2; }, kWait));

  Result<uint64_t> removed = c.DeleteQueue("gone");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 1u);
  auto members_of = [&](const std::string& group) {
    Result<MemberPage> page = client_->ShowGroup(group);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? std::make_pair(page->members, page->member_count)
                     : std::make_pair(std::vector<std::string>{}, uint64_t{99});
  };
  // The store forgets the queue once its records are applied.
  ASSERT_TRUE(PollUntil([&] { return members_of("two").second == 0; }, kWait));
  EXPECT_EQ(members_of("one"), std::make_pair(std::vector<std::string>{"stays"}, uint64_t{1}));

  // A new queue of that name is not a member. (The store may show the
  // delete applied a moment before the loop frees the name: until then a
  // publish is told to retry.)
  ASSERT_TRUE(PollUntil(
      [&] {
        Status s = c.Publish("gone", "direct").get().status;
        EXPECT_TRUE(s.ok() || s.code() == ErrorCode::kUnavailable) << s.ToString();
        return s.ok();
      },
      kWait));
  ASSERT_TRUE(c.PublishToGroup("one", "after").get().status.ok());
  ASSERT_TRUE(PollUntil([&] { return StatsOf(c)["fanout_entries_total"] == 3; }, kWait));
  EXPECT_EQ(PeekPayloads("gone"), (std::vector<std::string>{"direct"}));
  EXPECT_EQ(PeekPayloads("stays"), (std::vector<std::string>{"before", "after"}));

  client_.reset();
  ASSERT_TRUE(broker_->Stop().ok());
  test::ExpectStoreChecksClean(dir_.Join("data"));
  ASSERT_TRUE(broker_->Start().ok());
  client_ = test::ConnectClient(broker_->address());
  ASSERT_NE(client_, nullptr);
  EXPECT_EQ(members_of("one"), std::make_pair(std::vector<std::string>{"stays"}, uint64_t{1}));
  EXPECT_EQ(members_of("two").second, 0u);
}

TEST_F(GroupTest, GroupPublishWithDedupIdIsStoredOnce) {
  StartBroker();
  Client& c = *client_;
  ASSERT_TRUE(c.CreateGroup("g").ok());
  ASSERT_TRUE(c.AddMembers("g", {"x", "y"}).ok());
  PublishOptions options;
  options.dedup_id = "order-17";
  PublishResult first = c.PublishToGroup("g", "shipped", options).get();
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_FALSE(first.duplicate);
  PublishResult second = c.PublishToGroup("g", "shipped", options).get();
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(second.msg_id, first.msg_id);
  // The same id on a queue is another target: not a duplicate.
  PublishResult direct = c.Publish("x", "shipped", options).get();
  ASSERT_TRUE(direct.status.ok());
  EXPECT_FALSE(direct.duplicate);

  ASSERT_TRUE(PollUntil([&] { return StatsOf(c)["fanout_entries_total"] == 2; }, kWait));
  EXPECT_EQ(PeekPayloads("x"), (std::vector<std::string>{"shipped", "shipped"}));
  EXPECT_EQ(PeekPayloads("y"), (std::vector<std::string>{"shipped"}));
}

// Group publishes unconfirmed when the broker dies are sent again after the
// reconnect, with their dedup ids: every member gets each message once, in
// publish order.
TEST_F(GroupTest, GroupPublishesAreResentAfterACrashAndStoredOnce) {
  constexpr int kMessages = 300;
  StartBroker();
  ASSERT_TRUE(client_->CreateGroup("g").ok());
  ASSERT_TRUE(client_->AddMembers("g", {"m1", "m2"}).ok());
  ConfirmCounter confirms;
  for (int i = 0; i < kMessages; ++i) {
    client_->PublishToGroupAsync("g", std::to_string(i), {}, confirms.Callback());
  }
  // Killed while the publishes are on their way; back on the same address.
  const std::string address = broker_->address();
  broker_->Kill(SIGKILL);
  ASSERT_TRUE(broker_->Wait(seconds(30)).ok());
  BrokerProcess::Options options;
  options.data_dir = dir_.Join("data");
  options.listen = address;
  options.extra_args = {"--apply-lag-ms", "50"};
  BrokerProcess again(options);
  ASSERT_TRUE(again.Start().ok());

  ASSERT_TRUE(confirms.WaitFor(kMessages, kWait));
  ASSERT_EQ(confirms.failed(), 0u) << confirms.first_error().ToString();
  ASSERT_TRUE(PollUntil(
      [&] {
        Result<QueueInfo> m1 = client_->ShowQueue("m1");
        Result<QueueInfo> m2 = client_->ShowQueue("m2");
        return m1.ok() && m2.ok() && m1->depth >= kMessages && m2->depth >= kMessages;
      },
      kWait));
  QueueDrainer drainer(again.address(), 1);
  ASSERT_TRUE(drainer.connected());
  ASSERT_TRUE(drainer.Subscribe({"m1", "m2"}, 1000).ok());
  ASSERT_TRUE(drainer.WaitForTotal(2 * kMessages, kWait));
  std::vector<std::string> expected;
  for (int i = 0; i < kMessages; ++i) expected.push_back(std::to_string(i));
  std::map<std::string, std::vector<std::string>> got = drainer.Payloads();
  EXPECT_EQ(got["m1"], expected);
  EXPECT_EQ(got["m2"], expected);
  EXPECT_EQ(client_->ShowQueue("m1")->last_seq, static_cast<uint64_t>(kMessages));
}

TEST_F(GroupTest, GroupAndQueuePublishesPipelineTogether) {
  StartBroker();
  Client& c = *client_;
  ASSERT_TRUE(c.CreateGroup("pair").ok());
  ASSERT_TRUE(c.AddMembers("pair", {"left", "right"}).ok());
  // Interleaved, without waiting: every publish is confirmed, and the
  // member queue holds them in publish order.
  ConfirmCounter confirms;
  for (int i = 0; i < 200; ++i) {
    if (i % 2 == 0) {
      c.PublishToGroupAsync("pair", "g" + std::to_string(i), {}, confirms.Callback());
    } else {
      c.PublishAsync("left", "q" + std::to_string(i), {}, confirms.Callback());
    }
  }
  ASSERT_TRUE(confirms.WaitFor(200, kWait));
  ASSERT_EQ(confirms.failed(), 0u) << confirms.first_error().ToString();
  ASSERT_TRUE(PollUntil([&] { return StatsOf(c)["fanout_entries_total"] == 200; }, kWait));
  QueueDrainer drainer(broker_->address(), 1);
  ASSERT_TRUE(drainer.connected());
  ASSERT_TRUE(drainer.Subscribe({"left", "right"}, 1000).ok());
  ASSERT_TRUE(drainer.WaitForTotal(300, kWait));
  std::map<std::string, std::vector<std::string>> got = drainer.Payloads();
  // Group publishes keep their order in every member; queue publishes theirs.
  std::vector<std::string> right_expected;
  std::vector<std::string> left_queue;
  std::vector<std::string> left_group;
  for (int i = 0; i < 200; i += 2) right_expected.push_back("g" + std::to_string(i));
  for (const std::string& p : got["left"]) (p[0] == 'g' ? left_group : left_queue).push_back(p);
  EXPECT_EQ(got["right"], right_expected);
  EXPECT_EQ(left_group, right_expected);
  ASSERT_EQ(left_queue.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(left_queue[i], "q" + std::to_string(2 * i + 1));
}

}  // namespace
}  // namespace hermod
