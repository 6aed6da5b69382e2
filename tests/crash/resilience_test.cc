// Resilience under hostile consumers and large backlogs: a poison message
// reaches the dead-letter queue while the rest flows; a consumer that never
// acks holds no more than its credit and the broker's heap does not grow
// with the backlog; a broker killed on a million-entry backlog accepts
// connections again within seconds.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "admin_test_util.h"
#include "crash_util.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Publishes count messages of `size` bytes, queue i % queues, `inflight` at a
// time; returns how many were confirmed.
uint64_t PublishMany(Client& client, const std::string& prefix, uint64_t count, int queues,
                     size_t size, int inflight = 1000) {
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  uint64_t ok = 0;
  std::string payload(size, 'x');
  for (uint64_t i = 0; i < count; ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return outstanding < inflight; });
      ++outstanding;
    }
    std::string queue = queues == 1 ? prefix : prefix + "." + std::to_string(i % queues);
    client.PublishAsync(queue, payload, {}, [&](const PublishResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      --outstanding;
      if (r.status.ok()) ++ok;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, std::chrono::seconds(60), [&] { return outstanding == 0; });
  return ok;
}

// RssAnon of a process in KiB: its heap and stacks, not the LMDB map's
// file-backed pages (page cache the kernel can reclaim).
uint64_t AnonRssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8));
  }
  return 0;
}

std::string HeaderValue(const Delivery& d, const std::string& key) {
  for (const Header& h : d.headers) {
    if (h.key == key) return h.value;
  }
  return "";
}

TEST(ResilienceTest, PoisonMessageMovesToTheDeadLetterQueueWhileTheRestFlows) {
  TempDir dir;
  BrokerProcess broker({.data_dir = dir.Join("data"), .extra_args = {"--max-deliveries", "5"}});
  ASSERT_TRUE(broker.Start().ok());
  auto client = ConnectClient(broker.address());
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 100; ++i) {
    std::string payload = i == 37 ? "poison" : "good-" + std::to_string(i);
    ASSERT_TRUE(client->Publish("orders", payload).get().status.ok());
  }

  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> acked;
  std::vector<uint32_t> poison_counts;
  Client* raw = client.get();
  auto sub = client->Subscribe("orders", SubscribeOptions{.credit = 10}, [&](const Delivery& d) {
    std::lock_guard<std::mutex> lock(mu);
    if (d.payload == "poison") {
      poison_counts.push_back(d.delivery_count);
      (void)raw->Nack(d.subscription, d.seq);
    } else {
      acked.insert(d.payload);
      (void)raw->Ack(d.subscription, d.seq);
    }
    cv.notify_all();
  });
  ASSERT_TRUE(sub.ok());

  DeliveryLog dead;
  auto dlq = client->Subscribe("orders.dlq", SubscribeOptions{.credit = 10}, dead.Handler());
  ASSERT_TRUE(dlq.ok());
  ASSERT_TRUE(dead.WaitForCount(1, std::chrono::seconds(10)));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return acked.size() == 99; }));
    EXPECT_EQ(poison_counts, (std::vector<uint32_t>{1, 2, 3, 4, 5}));
  }
  Delivery d = dead.Snapshot()[0];
  EXPECT_EQ(d.payload, "poison");
  EXPECT_EQ(HeaderValue(d, "x-hermod-dead-letter-from"), "orders");
  EXPECT_EQ(HeaderValue(d, "x-hermod-dead-letter-reason"), "nacked");
  EXPECT_EQ(HeaderValue(d, "x-hermod-delivery-count"), "5");
  EXPECT_EQ(d.delivery_count, 1u);
  EXPECT_EQ(dead.size(), 1u);
  EXPECT_TRUE(broker.Stop().ok());
}

TEST(ResilienceTest, DeadLetterQueuesKeepTheirOwnLimits) {
  // Every entry is nacked once and dead-lettered (--max-deliveries 1). The
  // dead-letter queue of "jobs" keeps the newest 3 (drop-oldest); that of
  // "mail" takes 2 and rejects the rest, which are dropped, not kept circling.
  TempDir dir;
  BrokerProcess broker({.data_dir = dir.Join("data"), .extra_args = {"--max-deliveries", "1"}});
  ASSERT_TRUE(broker.Start().ok());
  auto client = ConnectClient(broker.address());
  ASSERT_NE(client, nullptr);
  QueueSettings newest;
  newest.max_messages = 3;
  newest.overflow = "drop-oldest";
  ASSERT_TRUE(client->ConfigureQueue("jobs.dlq", newest).ok());
  QueueSettings first;
  first.max_messages = 2;
  first.overflow = "reject";
  ASSERT_TRUE(client->ConfigureQueue("mail.dlq", first).ok());
  for (const char* queue : {"jobs", "mail"}) {
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(client->Publish(queue, std::to_string(i)).get().status.ok());
    }
  }

  Client* raw = client.get();
  auto nack = [raw](const Delivery& d) { (void)raw->Nack(d.subscription, d.seq); };
  ASSERT_TRUE(client->Subscribe("jobs", SubscribeOptions{.credit = 1}, nack).ok());
  ASSERT_TRUE(client->Subscribe("mail", SubscribeOptions{.credit = 1}, nack).ok());
  auto depth = [&](const char* queue) -> int64_t {
    Result<QueueInfo> info = client->ShowQueue(queue);
    return info.ok() ? static_cast<int64_t>(info->depth) : -1;
  };
  ASSERT_TRUE(
      PollUntil([&] { return depth("jobs") == 0 && depth("mail") == 0; }, std::chrono::seconds(15)))
      << "jobs " << depth("jobs") << ", mail " << depth("mail");

  auto payloads = [&](const char* queue) {
    std::vector<std::string> out;
    Result<std::vector<PeekedEntry>> peeked = client->PeekQueue(queue);
    EXPECT_TRUE(peeked.ok()) << peeked.status().ToString();
    if (peeked.ok()) {
      for (const PeekedEntry& e : *peeked) out.push_back(e.payload);
    }
    return out;
  };
  EXPECT_EQ(payloads("jobs.dlq"), (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_EQ(payloads("mail.dlq"), (std::vector<std::string>{"0", "1"}));
  // 2 dead letters dropped by jobs.dlq to make room, 3 entries of mail
  // dropped because mail.dlq was full.
  EXPECT_EQ(StatOf(*client, "dead_lettered_total"), 7);
  EXPECT_EQ(StatOf(*client, "dropped_total"), 5);
  EXPECT_TRUE(broker.Stop().ok());
}

TEST(ResilienceTest, DeliveryCountSurvivesACrash) {
  TempDir dir;
  StickyBroker broker(dir.Join("data"), {});
  ASSERT_TRUE(broker.Start().ok());
  {
    auto client = ConnectClient(broker.address());
    ASSERT_TRUE(client->Publish("q", "again and again").get().status.ok());
  }
  // Deliver it three times (nack twice, then leave it unacked), then kill.
  {
    ClientOptions options;
    options.server = broker.address();
    options.reconnect = false;
    auto client = Client::Connect(options);
    ASSERT_TRUE(client.ok());
    DeliveryLog log;
    Client* raw = client->get();
    auto sub = (*client)->Subscribe("q", SubscribeOptions{.credit = 1},
                                    log.Handler([&](const Delivery& d) {
                                      if (d.delivery_count < 3)
                                        (void)raw->Nack(d.subscription, d.seq);
                                    }));
    ASSERT_TRUE(sub.ok());
    ASSERT_TRUE(log.WaitForCount(3, std::chrono::seconds(10)));
    EXPECT_EQ(log.Snapshot()[2].delivery_count, 3u);
    // The third delivery's count is durable once a later batch committed;
    // a publish round trip forces one.
    ASSERT_TRUE((*client)->Publish("other", "x").get().status.ok());
    broker.process().Kill(SIGKILL);
    ASSERT_TRUE(broker.process().Wait(std::chrono::seconds(10)).ok());
  }
  ASSERT_TRUE(broker.Start().ok());
  auto client = ConnectClient(broker.address());
  DeliveryLog log;
  auto sub = client->Subscribe("q", SubscribeOptions{.credit = 1}, log.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(1, std::chrono::seconds(10)));
  EXPECT_EQ(log.Snapshot()[0].delivery_count, 4u);
  EXPECT_TRUE(broker.process().Stop().ok());
}

TEST(ResilienceTest, SlowConsumerHoldsItsCreditAndTheHeapStaysFlat) {
  TempDir dir;
  // A short apply lag and a small unapplied bound keep the log tail (the
  // only entries held in memory) small; the backlog lives in the index.
  BrokerProcess broker({.data_dir = dir.Join("data"),
                        .extra_args = {"--sync", "batch", "--apply-lag-ms", "200",
                                       "--max-unapplied-bytes", "4194304"}});
  ASSERT_TRUE(broker.Start().ok());
  auto publisher = ConnectClient(broker.address());
  auto consumer = ConnectClient(broker.address());
  DeliveryLog held;
  auto sub = consumer->Subscribe("slow", SubscribeOptions{.credit = 10}, held.Handler());
  ASSERT_TRUE(sub.ok());

  ASSERT_EQ(PublishMany(*publisher, "slow", 20000, 1, 256), 20000u);
  ASSERT_TRUE(held.WaitForCount(10, std::chrono::seconds(10)));
  uint64_t rss_20k = AnonRssKib(broker.pid());
  ASSERT_EQ(PublishMany(*publisher, "slow", 180000, 1, 256), 180000u);
  uint64_t rss_200k = AnonRssKib(broker.pid());
  // 180,000 more entries of ~300 bytes would be ~52 MB if they were held.
  std::printf("broker RssAnon: %lu KiB with 20,000 waiting, %lu KiB with 200,000 waiting\n",
              static_cast<unsigned long>(rss_20k), static_cast<unsigned long>(rss_200k));
  EXPECT_LT(rss_200k, rss_20k + 20 * 1024) << "broker heap grew with the backlog";
  // Never acked, never more than the credit.
  EXPECT_EQ(held.size(), 10u);
  EXPECT_TRUE(broker.Stop().ok());
}

TEST(ResilienceTest, RestartOnAMillionEntryBacklogIsQuick) {
  TempDir dir;
  StickyBroker broker(dir.Join("data"), {"--sync", "batch"});
  ASSERT_TRUE(broker.Start().ok());
  {
    auto client = ConnectClient(broker.address());
    ASSERT_EQ(PublishMany(*client, "backlog", 1000000, 10000, 64, 2000), 1000000u);
  }
  broker.process().Kill(SIGKILL);
  ASSERT_TRUE(broker.process().Wait(std::chrono::seconds(10)).ok());

  Clock::time_point start = Clock::now();
  ASSERT_TRUE(broker.Start().ok());
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("restart on 1,000,000 entries over 10,000 queues: accepting after %.3f s\n", seconds);
  EXPECT_LT(seconds, 5.0);

  // The backlog is all there: one queue holds its 100 entries.
  auto client = ConnectClient(broker.address());
  DeliveryLog log;
  auto sub = client->Subscribe("backlog.4242", SubscribeOptions{.credit = 200}, log.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(100, std::chrono::seconds(10)));
  EXPECT_TRUE(broker.process().Stop().ok());
}

}  // namespace
}  // namespace hermod::test
