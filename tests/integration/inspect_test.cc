// Queue inspection and server stats through libhermod against a real
// hermodd: list (paged by name over 20,000 queues, sorted by depth), show
// (limits and their sources, consumers), peek (changes no delivery count),
// purge (keeps deliveries in flight), delete (refused while consumed), and
// stats counters that match what the test did.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "run_command.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::BrokerProcess;
using test::ConfirmCounter;
using test::DeliveryLog;
using test::PollUntil;
using test::StatsOf;
using test::TempDir;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kWait = seconds(20);

class InspectTest : public ::testing::Test {
 protected:
  void StartBroker(std::vector<std::string> extra_args = {}) {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    // Stored counts show in the index 50 ms after their commit, not 1 s.
    options.extra_args = {"--apply-lag-ms", "50"};
    options.extra_args.insert(options.extra_args.end(), extra_args.begin(), extra_args.end());
    broker_ = std::make_unique<BrokerProcess>(options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    client_ = test::ConnectClient(broker_->address());
    ASSERT_NE(client_, nullptr);
  }

  // Publishes the payloads to `queue` and waits for every confirm.
  void PublishAll(const std::string& queue, const std::vector<std::string>& payloads) {
    ConfirmCounter confirms;
    for (const std::string& p : payloads) client_->PublishAsync(queue, p, {}, confirms.Callback());
    ASSERT_TRUE(confirms.WaitFor(payloads.size(), kWait));
    ASSERT_EQ(confirms.failed(), 0u) << confirms.first_error().ToString();
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> client_;
};

std::vector<std::string> Payloads(size_t n, const std::string& prefix = "m") {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

TEST_F(InspectTest, PeekShowsEntriesWithoutDeliveringThem) {
  StartBroker();
  Client& c = *client_;
  PublishOptions with_header;
  with_header.headers = {{"k", "v"}};
  with_header.ttl = seconds(3600);
  ASSERT_TRUE(c.Publish("peeked", "first", with_header).get().status.ok());
  PublishAll("peeked", {"second", std::string("\x00\xff", 2)});

  Result<std::vector<PeekedEntry>> peeked = c.PeekQueue("peeked");
  ASSERT_TRUE(peeked.ok()) << peeked.status().ToString();
  ASSERT_EQ(peeked->size(), 3u);
  EXPECT_EQ((*peeked)[0].seq, 1u);
  EXPECT_EQ((*peeked)[0].payload, "first");
  ASSERT_EQ((*peeked)[0].headers.size(), 1u);
  EXPECT_EQ((*peeked)[0].headers[0].key, "k");
  EXPECT_GT((*peeked)[0].expires_ms, (*peeked)[0].publish_time_ms);
  EXPECT_EQ((*peeked)[2].payload, std::string("\x00\xff", 2));
  for (const PeekedEntry& e : *peeked) {
    EXPECT_EQ(e.delivery_count, 0u);
    EXPECT_FALSE(e.inflight);
    EXPECT_GT(e.publish_time_ms, 0u);
  }
  // From a seq, and a limit.
  Result<std::vector<PeekedEntry>> tail = c.PeekQueue("peeked", 2, 1);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].seq, 2u);

  // Peeking changed nothing: the first delivery counts 1.
  DeliveryLog log;
  Result<SubscriptionId> sub = c.Subscribe("peeked", {.credit = 1}, log.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(log.WaitForCount(1, kWait));
  EXPECT_EQ(log.Snapshot()[0].delivery_count, 1u);
  EXPECT_EQ(log.Snapshot()[0].seq, 1u);
  // The delivery in flight shows as such.
  peeked = c.PeekQueue("peeked");
  ASSERT_TRUE(peeked.ok());
  ASSERT_EQ(peeked->size(), 3u);
  EXPECT_TRUE((*peeked)[0].inflight);
  EXPECT_FALSE((*peeked)[1].inflight);
  EXPECT_EQ(c.PeekQueue("never-was").status().code(), ErrorCode::kNotFound);
}

TEST_F(InspectTest, PurgeRemovesWhatIsNotInFlight) {
  StartBroker();
  Client& c = *client_;
  PublishAll("work", Payloads(10));
  DeliveryLog log;
  Result<SubscriptionId> sub = c.Subscribe("work", {.credit = 3}, log.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(3, kWait));

  Result<uint64_t> removed = c.PurgeQueue("work");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 7u);
  Result<QueueInfo> info = c.ShowQueue("work");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->depth, 3u);
  EXPECT_EQ(info->inflight, 3u);
  // The three in flight are still the consumer's: acking them empties it.
  for (const Delivery& d : log.Snapshot()) ASSERT_TRUE(c.Ack(d.subscription, d.seq).ok());
  EXPECT_TRUE(PollUntil([&] { return c.ShowQueue("work")->depth == 0; }, kWait));
  EXPECT_EQ(log.size(), 3u);  // nothing purged was delivered

  // Purging an empty queue removes nothing; a missing one is NotFound.
  removed = c.PurgeQueue("work");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0u);
  EXPECT_EQ(c.PurgeQueue("never-was").status().code(), ErrorCode::kNotFound);
}

TEST_F(InspectTest, PurgeReachesEntriesAlreadyInTheIndex) {
  StartBroker();
  Client& c = *client_;
  PublishAll("old", Payloads(50));
  // Applied to the index (50 ms apply lag), so the purge covers stored entries.
  ASSERT_TRUE(PollUntil([&] { return StatsOf(c)["entries_stored"] == 50; }, kWait));
  Result<uint64_t> removed = c.PurgeQueue("old");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 50u);
  EXPECT_EQ(c.ShowQueue("old")->depth, 0u);
  EXPECT_TRUE(PollUntil([&] { return StatsOf(c)["entries_stored"] == 0; }, kWait));
}

TEST_F(InspectTest, DeleteIsRefusedWhileConsumedThenWorks) {
  StartBroker();
  Client& c = *client_;
  PublishAll("doomed", Payloads(4));
  DeliveryLog log;
  Result<SubscriptionId> sub = c.Subscribe("doomed", {.credit = 1}, log.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(1, kWait));
  Result<uint64_t> refused = c.DeleteQueue("doomed");
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument) << refused.status().ToString();
  EXPECT_EQ(c.ShowQueue("doomed")->depth, 4u);

  ASSERT_TRUE(c.Unsubscribe(*sub).ok());
  Result<uint64_t> removed = c.DeleteQueue("doomed");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 4u);
  EXPECT_EQ(c.ShowQueue("doomed").status().code(), ErrorCode::kNotFound);
  // Until the store forgot it (once the queue's log records are applied),
  // the name answers "being deleted"; then it is gone.
  Status again_deleted;
  ASSERT_TRUE(PollUntil(
      [&] {
        again_deleted = c.DeleteQueue("doomed").status();
        return again_deleted.code() != ErrorCode::kUnavailable;
      },
      kWait));
  EXPECT_EQ(again_deleted.code(), ErrorCode::kNotFound) << again_deleted.ToString();
  // The name is free again, with seqs from 1.
  PublishResult again = c.Publish("doomed", "new").get();
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(again.seq, 1u);
}

// A queue deleted right after it was created, while its records are still
// in the log (not yet applied to the index), stays deleted once they are
// applied.
TEST_F(InspectTest, QueueDeletedBeforeItsRecordsAreAppliedStaysDeleted) {
  StartBroker();
  Client& c = *client_;
  PublishAll("brief", Payloads(2));
  Result<uint64_t> removed = c.DeleteQueue("brief");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(c.ShowQueue("brief").status().code(), ErrorCode::kNotFound);
  // Everything applied (50 ms apply lag), the delete included.
  ASSERT_TRUE(PollUntil(
      [&] {
        std::map<std::string, double> stats = StatsOf(c);
        return stats["log_unapplied_bytes"] == 0 && stats["queues_in_memory"] == 0;
      },
      kWait));
  Result<QueueInfo> after = c.ShowQueue("brief");
  EXPECT_EQ(after.status().code(), ErrorCode::kNotFound)
      << "the deleted queue is back: " << after.status().ToString();
  EXPECT_EQ(StatsOf(c)["queues"], 0);
  Result<QueuePage> listed = c.ListQueues();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_TRUE(listed->queues.empty());
}

TEST_F(InspectTest, ShowHasLimitsWithSourcesAndConsumers) {
  StartBroker();
  Client& c = *client_;
  QueueSettings settings;
  settings.max_messages = 500;
  settings.overflow = "drop-oldest";
  ASSERT_TRUE(c.ConfigureQueue("shown", settings).ok());
  PublishAll("shown", Payloads(5));
  // In the index (see ShowOfAQueueOnlyInMemory for the moments before).
  ASSERT_TRUE(PollUntil([&] { return StatsOf(c)["entries_stored"] == 5; }, kWait));
  DeliveryLog log;
  Result<SubscriptionId> sub =
      c.Subscribe("shown", {.credit = 2, .ack_wait = seconds(40)}, log.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(2, kWait));

  Result<QueueInfo> info = c.ShowQueue("shown");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "shown");
  EXPECT_EQ(info->depth, 5u);
  EXPECT_GT(info->bytes, 0u);
  EXPECT_EQ(info->first_seq, 1u);
  EXPECT_EQ(info->last_seq, 5u);
  EXPECT_EQ(info->consumers, 1u);
  EXPECT_EQ(info->inflight, 2u);
  EXPECT_GT(info->created_ms, 0u);
  std::map<std::string, QueueLimitInfo> limits;
  for (const QueueLimitInfo& l : info->limits) limits[l.name] = l;
  EXPECT_EQ(limits["max_messages"].value, "500");
  EXPECT_EQ(limits["max_messages"].source, "queue");
  EXPECT_EQ(limits["overflow"].value, "drop-oldest");
  EXPECT_EQ(limits["overflow"].source, "queue");
  EXPECT_EQ(limits["max_bytes"].source, "default");
  EXPECT_EQ(limits["dead_letter_queue"].value, "shown.dlq");
  ASSERT_EQ(info->consumer_list.size(), 1u);
  const ConsumerInfo& consumer = info->consumer_list[0];
  EXPECT_EQ(consumer.subscription_id, *sub);
  EXPECT_EQ(consumer.credit, 2u);
  EXPECT_EQ(consumer.inflight, 2u);
  EXPECT_EQ(consumer.ack_wait_ms, 40000u);
  EXPECT_EQ(consumer.address.rfind("127.0.0.1:", 0), 0u) << consumer.address;

  EXPECT_EQ(c.ShowQueue("never-was").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(c.ShowQueue("").status().code(), ErrorCode::kInvalidArgument);
}

// The same figures while the queue and its entries are still only in the
// log and in memory (the broker's default apply lag of 1 s keeps them
// there for the whole test): the oldest entry is seq 1 even while it is
// being delivered, and the queue has its creation time.
TEST_F(InspectTest, ShowOfAQueueOnlyInMemory) {
  BrokerProcess::Options options;
  options.data_dir = dir_.Join("data");
  broker_ = std::make_unique<BrokerProcess>(options);
  ASSERT_TRUE(broker_->Start().ok());
  client_ = test::ConnectClient(broker_->address());
  ASSERT_NE(client_, nullptr);
  Client& c = *client_;
  PublishAll("fresh", Payloads(5));
  DeliveryLog log;
  Result<SubscriptionId> sub = c.Subscribe("fresh", {.credit = 2}, log.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(2, kWait));
  Result<QueueInfo> info = c.ShowQueue("fresh");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(StatsOf(c)["entries_stored"], 0) << "applied already: the test proves nothing";
  EXPECT_EQ(info->depth, 5u);
  EXPECT_EQ(info->inflight, 2u);
  EXPECT_EQ(info->last_seq, 5u);
  EXPECT_EQ(info->first_seq, 1u);
  EXPECT_GT(info->created_ms, 0u);
}

TEST_F(InspectTest, ListPagesTwentyThousandQueuesByName) {
  constexpr size_t kQueues = 20000;
  StartBroker();
  Client& c = *client_;
  // One message per queue, all pipelined.
  ConfirmCounter confirms;
  std::vector<std::string> names;
  for (size_t i = 0; i < kQueues; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "inbox.%05zu", i);
    names.push_back(name);
    c.PublishAsync(names.back(), "hello", {}, confirms.Callback());
  }
  // Deeper queues, for the sort by depth.
  PublishAll("inbox.deepest", Payloads(7));
  PublishAll("inbox.deeper", Payloads(4));
  ASSERT_TRUE(confirms.WaitFor(kQueues, kWait));
  ASSERT_EQ(confirms.failed(), 0u) << confirms.first_error().ToString();
  // Listing reads the index: wait until every queue got there.
  ASSERT_TRUE(PollUntil([&] { return StatsOf(c)["queues"] == kQueues + 2; }, kWait));

  QueueListOptions list;
  list.limit = 1000;
  const auto start = Clock::now();
  Result<QueuePage> first = c.ListQueues(list);
  const double first_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::printf("first page of 1000 of %zu queues in %.1f ms\n", kQueues + 2, first_ms);
  EXPECT_LT(first_ms, 1000);
  ASSERT_EQ(first->queues.size(), 1000u);
  EXPECT_EQ(first->queues[0].name, "inbox.00000");
  EXPECT_EQ(first->next, first->queues.back().name);

  // Paging by name sees every queue once, in order.
  std::vector<std::string> seen;
  for (const QueueInfo& q : first->queues) seen.push_back(q.name);
  list.after = first->next;
  for (int page = 0; page < 100 && !list.after.empty(); ++page) {
    Result<QueuePage> next = c.ListQueues(list);
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    for (const QueueInfo& q : next->queues) {
      seen.push_back(q.name);
      if (q.name.size() == 11) {
        EXPECT_EQ(q.depth, 1u) << q.name;
      }
    }
    list.after = next->next;
  }
  std::vector<std::string> expected = names;
  expected.push_back("inbox.deeper");
  expected.push_back("inbox.deepest");
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(seen, expected);

  // By prefix.
  QueueListOptions prefixed;
  prefixed.prefix = "inbox.1999";
  Result<QueuePage> few = c.ListQueues(prefixed);
  ASSERT_TRUE(few.ok());
  ASSERT_EQ(few->queues.size(), 10u);
  EXPECT_EQ(few->queues[0].name, "inbox.19990");
  EXPECT_EQ(few->next, "");

  // The deepest first.
  QueueListOptions by_depth;
  by_depth.sort = "depth";
  by_depth.limit = 3;
  Result<QueuePage> deepest = c.ListQueues(by_depth);
  ASSERT_TRUE(deepest.ok()) << deepest.status().ToString();
  ASSERT_EQ(deepest->queues.size(), 3u);
  EXPECT_EQ(deepest->queues[0].name, "inbox.deepest");
  EXPECT_EQ(deepest->queues[0].depth, 7u);
  EXPECT_EQ(deepest->queues[1].name, "inbox.deeper");
  EXPECT_EQ(deepest->queues[2].depth, 1u);
  EXPECT_EQ(deepest->next, "");

  QueueListOptions bad_sort;
  bad_sort.sort = "colour";
  EXPECT_EQ(c.ListQueues(bad_sort).status().code(), ErrorCode::kInvalidArgument);

  // The CLI pages through all of them, or stops at --limit.
  auto lines_of = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {HERMOD_CLI_BIN, "--server", broker_->address(), "queue", "ls"});
    Result<test::CommandResult> r = test::RunCommand(args);
    EXPECT_TRUE(r.ok() && r->exit.ok()) << (r.ok() ? r->err : r.status().ToString());
    return r.ok() ? std::count(r->out.begin(), r->out.end(), '\n') : -1;
  };
  EXPECT_EQ(lines_of({"--json"}), static_cast<long>(kQueues + 2));
  EXPECT_EQ(lines_of({"--json", "--limit", "1500"}), 1500);
  EXPECT_EQ(lines_of({}), static_cast<long>(kQueues + 3));  // and a header
}

// A call made while the client is reconnecting waits for the connection
// and is answered by the broker that comes back.
TEST_F(InspectTest, CallsWaitForAReconnect) {
  StartBroker();
  Client& c = *client_;
  PublishAll("kept", Payloads(3));
  ASSERT_TRUE(c.CreateGroup("kept-group").ok());
  const std::string address = broker_->address();
  ASSERT_TRUE(broker_->Stop().ok());
  ASSERT_TRUE(PollUntil([&] { return !c.connected(); }, kWait));

  Result<QueueInfo> shown = Status::Internal("not called");
  Result<uint64_t> added = Status::Internal("not called");
  std::thread caller([&] {
    shown = c.ShowQueue("kept");
    added = c.AddMembers("kept-group", {"a", "b"});
  });
  BrokerProcess::Options options;
  options.data_dir = dir_.Join("data");
  options.listen = address;
  BrokerProcess again(options);
  ASSERT_TRUE(again.Start().ok());
  caller.join();
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(shown->depth, 3u);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, 2u);
  EXPECT_TRUE(c.connected());
}

TEST_F(InspectTest, BlockingCallsRefuseToRunInTheClientsCallbacks) {
  StartBroker();
  Client& c = *client_;
  PublishAll("cb", Payloads(1));
  std::vector<Status> statuses;
  DeliveryLog log;
  Result<SubscriptionId> sub = c.Subscribe("cb", {.credit = 1}, log.Handler([&](const Delivery&) {
    statuses.push_back(c.Stats().status());
    statuses.push_back(c.ShowQueue("cb").status());
    statuses.push_back(c.AddMembers("g", {"x"}).status());
    statuses.push_back(c.CreateGroup("g"));
  }));
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(1, kWait));
  ASSERT_TRUE(c.Unsubscribe(*sub).ok());  // the handler has returned
  ASSERT_EQ(statuses.size(), 4u);
  for (const Status& s : statuses) EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.ToString();
  // Outside callbacks they work.
  EXPECT_TRUE(c.Stats().ok());
}

TEST_F(InspectTest, StatsCountWhatHappened) {
  StartBroker();
  Client& c = *client_;
  std::map<std::string, double> before = StatsOf(c);
  ASSERT_FALSE(before.empty());
  PublishAll("counted", Payloads(7));
  DeliveryLog log;
  Result<SubscriptionId> sub =
      c.Subscribe("counted", {.credit = 100},
                  log.Handler([&](const Delivery& d) { (void)c.Ack(d.subscription, d.seq); }));
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(7, kWait));
  // Acks are counted once the broker handled them.
  std::map<std::string, double> after;
  ASSERT_TRUE(PollUntil(
      [&] {
        after = StatsOf(c);
        return after["acked_total"] == 7;
      },
      kWait));
  EXPECT_EQ(after["published_total"], 7);
  EXPECT_EQ(after["delivered_total"], 7);
  EXPECT_EQ(after["redelivered_total"], 0);
  EXPECT_EQ(after["connections"], 1);
  EXPECT_EQ(after["subscriptions"], 1);
  EXPECT_GE(after["batches_total"], 1);
  EXPECT_GT(after["uptime_seconds"], 0);
  EXPECT_GT(after["rss_bytes"], 0);

  Result<std::vector<ServerStat>> stats = c.Stats();
  ASSERT_TRUE(stats.ok());
  std::map<std::string, ServerStat> by_name;
  for (const ServerStat& s : *stats) by_name[s.name] = s;
  EXPECT_FALSE(by_name["version"].text.empty());
  EXPECT_EQ(by_name["sync_mode"].text, "always");
  EXPECT_EQ(by_name["sync_mode"].text, c.server_info().sync_mode);
}

}  // namespace
}  // namespace hermod
