// Crash tests: the broker is really killed (SIGKILL) while publishers wait for
// confirms, restarted on the same data directory, and drained. Every
// confirmed message must be there, in publish order per queue.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kQueues = 8;

std::string QueueName(int q) { return "crash." + std::to_string(q); }

// Payload "q:i": queue number and the publisher's counter for that queue.
std::string Payload(int q, uint64_t i) { return std::to_string(q) + ":" + std::to_string(i); }

std::unique_ptr<Client> Connect(const std::string& address) {
  ClientOptions options;
  options.connect_timeout = milliseconds(5000);
  // The broker comes back on a new port: the loss must end the round.
  options.reconnect = false;
  return ConnectClient(address, options);
}

// Publishes to kQueues queues with up to `inflight` unconfirmed until the
// broker dies under it; returns, per queue, the counters that were confirmed.
std::vector<std::set<uint64_t>> PublishUntilKilled(BrokerProcess& broker, int inflight,
                                                   milliseconds kill_after,
                                                   std::vector<uint64_t>& next) {
  std::vector<std::set<uint64_t>> confirmed(kQueues);
  std::unique_ptr<Client> client = Connect(broker.address());
  if (!client) return confirmed;

  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  bool lost = false;

  std::thread killer([&] {
    std::this_thread::sleep_for(kill_after);  // the random moment, not a wait
    broker.Kill(SIGKILL);
  });

  Clock::time_point deadline = Clock::now() + std::chrono::seconds(20);
  for (uint64_t n = 0; Clock::now() < deadline; ++n) {
    int q = static_cast<int>(n % kQueues);
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return outstanding < inflight || lost; });
      if (lost) break;
      ++outstanding;
    }
    uint64_t i = next[q]++;
    client->PublishAsync(QueueName(q), Payload(q, i), {}, [&, q, i](const PublishResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      --outstanding;
      if (r.status.ok()) {
        confirmed[q].insert(i);
      } else {
        lost = true;
      }
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return outstanding == 0; });
  }
  killer.join();
  client.reset();
  return confirmed;
}

// Drains every queue after a restart and checks the confirmed messages.
void DrainAndCheck(const std::string& address, const std::vector<std::set<uint64_t>>& confirmed) {
  std::unique_ptr<Client> client = Connect(address);
  ASSERT_NE(client, nullptr);
  for (int q = 0; q < kQueues; ++q) {
    DeliveryLog log;
    std::set<uint64_t> missing = confirmed[q];
    std::mutex mu;
    std::condition_variable cv;
    Client* c = client.get();
    auto sub = client->Subscribe(QueueName(q), SubscribeOptions{.credit = 500},
                                 log.Handler([&, c](const Delivery& d) {
                                   (void)c->Ack(d.subscription, d.seq);
                                   std::lock_guard<std::mutex> lock(mu);
                                   size_t colon = d.payload.find(':');
                                   missing.erase(std::stoull(d.payload.substr(colon + 1)));
                                   cv.notify_all();
                                 }));
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
    {
      std::unique_lock<std::mutex> lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return missing.empty(); }))
          << QueueName(q) << ": " << missing.size() << " confirmed messages missing, first "
          << *missing.begin();
    }
    ASSERT_TRUE(client->Unsubscribe(*sub).ok());
    // First deliveries follow publish order (acked ones never come back, so
    // every delivery here is a first one after this restart).
    uint64_t last = 0;
    bool first = true;
    for (const Delivery& d : log.Snapshot()) {
      uint64_t i = std::stoull(d.payload.substr(d.payload.find(':') + 1));
      if (!first) {
        EXPECT_GT(i, last) << QueueName(q) << " out of order";
      }
      last = i;
      first = false;
    }
  }
}

TEST(SigkillTest, ConfirmedMessagesSurviveKillsAtRandomMoments) {
  TempDir dir;
  BrokerProcess broker({.data_dir = dir.Join("data"), .extra_args = {"--sync", "always"}});
  std::mt19937 rng(std::random_device{}());
  std::vector<uint64_t> next(kQueues, 0);
  std::vector<std::set<uint64_t>> all_confirmed(kQueues);
  const int kRounds = 3;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_TRUE(broker.Start().ok()) << "round " << round;
    milliseconds kill_after(100 + rng() % 400);
    auto confirmed =
        PublishUntilKilled(broker, 1 + static_cast<int>(rng() % 500), kill_after, next);
    Result<ExitStatus> exit = broker.Wait(std::chrono::seconds(10));
    ASSERT_TRUE(exit.ok());
    EXPECT_EQ(exit->signal, SIGKILL);
    size_t count = 0;
    for (int q = 0; q < kQueues; ++q) {
      all_confirmed[q].insert(confirmed[q].begin(), confirmed[q].end());
      count += confirmed[q].size();
    }
    std::printf("round %d: killed after %lld ms with %zu confirmed\n", round,
                static_cast<long long>(kill_after.count()), count);
    EXPECT_GT(count, 0u) << "the kill came before any confirm; the test proved nothing";
  }
  ASSERT_TRUE(broker.Start().ok());
  DrainAndCheck(broker.address(), all_confirmed);
  EXPECT_TRUE(broker.Stop().ok());
}

}  // namespace
}  // namespace hermod::test
