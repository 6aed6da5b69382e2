// libhermod's reconnect against a real hermodd: a broker stopped (SIGTERM)
// and restarted on the same data directory and port under a publishing,
// subscribed client; and a broker that does not come back, until the client
// gives up. Frame-level details are in client_reconnect_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "scripted_broker.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::BrokerProcess;
using test::DeliveryLog;
using test::StateLog;
using test::TempDir;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kWait = seconds(15);
constexpr milliseconds kQuiet = milliseconds(300);

std::string Payload(size_t i) { return "m" + std::to_string(i); }

TEST(ReconnectTest, BrokerRestartOnTheSamePortLosesAndDuplicatesNothing) {
  TempDir dir;
  BrokerProcess::Options broker_options;
  broker_options.data_dir = dir.Join("data");
  auto broker = std::make_unique<BrokerProcess>(broker_options);
  ASSERT_TRUE(broker->Start().ok());
  const std::string address = broker->address();

  StateLog states;
  DeliveryLog sub_log;
  ClientOptions options;
  options.server = address;
  options.client_name = "reconnect_test";
  options.reconnect_initial_delay = milliseconds(20);
  options.reconnect_max_delay = milliseconds(200);
  options.on_state_change = states.Callback();
  Result<std::unique_ptr<Client>> made = Client::Connect(options);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<Client> client = std::move(*made);
  Client* raw = client.get();

  // A subscription that must survive the restart on its own.
  SubscribeOptions sub_options;
  sub_options.credit = 10;
  Result<SubscriptionId> sub = client->Subscribe(
      "reconnect.sub", sub_options,
      sub_log.Handler([raw](const Delivery& d) { (void)raw->Ack(d.subscription, d.seq); }));
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client->Publish("reconnect.sub", "before" + std::to_string(i)).get().status.ok());
  }
  ASSERT_TRUE(sub_log.WaitForCount(5, kWait));

  // Publishes in flight while the broker stops, more while it is down, and
  // more after it is back: kBefore + kWhileDown + kAfter in one order.
  constexpr size_t kBefore = 1000;
  constexpr size_t kWhileDown = 50;
  constexpr size_t kAfter = 50;
  constexpr size_t kTotal = kBefore + kWhileDown + kAfter;
  test::ConfirmCounter results(kTotal);
  size_t next = 0;
  for (; next < kBefore; ++next) {
    client->PublishAsync("reconnect.pub", Payload(next), {}, results.Callback(next));
  }
  test::ExitStatus stopped = broker->Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.ToString();
  ASSERT_TRUE(states.WaitFor(ConnectionState::kReconnecting, kWait));
  EXPECT_FALSE(client->connected());
  for (; next < kBefore + kWhileDown; ++next) {
    client->PublishAsync("reconnect.pub", Payload(next), {}, results.Callback(next));
  }
  // Nothing can confirm them before a broker is back.
  EXPECT_FALSE(results.WaitFor(kBefore + 1, kQuiet)) << "confirmed with no broker";

  // The same data directory and the same port.
  broker_options.listen = address;
  broker = std::make_unique<BrokerProcess>(broker_options);
  Status restarted = broker->Start();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  const Clock::time_point restarted_at = Clock::now();
  ASSERT_TRUE(states.WaitFor(ConnectionState::kConnected, kWait, 2));
  for (; next < kTotal; ++next) {
    client->PublishAsync("reconnect.pub", Payload(next), {}, results.Callback(next));
  }
  ASSERT_TRUE(results.WaitFor(kTotal, kWait)) << results.done() << " of " << kTotal;
  size_t duplicates = 0;
  for (size_t i = 0; i < kTotal; ++i) {
    ASSERT_TRUE(results.result(i).status.ok())
        << Payload(i) << ": " << results.result(i).status.ToString();
    duplicates += results.result(i).duplicate ? 1 : 0;
  }
  for (size_t i = kBefore; i < kBefore + kWhileDown; ++i) {
    EXPECT_GE(results.done_at(i), restarted_at) << Payload(i) << " confirmed before the restart";
  }
  EXPECT_EQ(states.states(), (std::vector<ConnectionState>{ConnectionState::kConnected,
                                                           ConnectionState::kReconnecting,
                                                           ConnectionState::kConnected}));

  // The subscription came back by itself and keeps receiving.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client->Publish("reconnect.sub", "after" + std::to_string(i)).get().status.ok());
  }
  // Redeliveries of what was unacked at the break may come too: count
  // distinct payloads.
  std::set<std::string> got;
  for (int round = 0; round < 100; ++round) {
    const size_t seen = sub_log.size();
    got.clear();
    for (const Delivery& d : sub_log.Snapshot()) got.insert(d.payload);
    if (got.size() >= 10) break;
    ASSERT_TRUE(sub_log.WaitForCount(seen + 1, kWait)) << "got " << got.size();
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(got.count("before" + std::to_string(i)), 1u);
    EXPECT_EQ(got.count("after" + std::to_string(i)), 1u);
  }
  client.reset();

  // Drained by a fresh client: exactly the published messages, each once,
  // in publish order. (Resends after the reconnect carry their dedup ids;
  // the broker stores a resend of an already stored publish once.)
  ClientOptions drain_options;
  drain_options.server = address;
  Result<std::unique_ptr<Client>> drainer = Client::Connect(drain_options);
  ASSERT_TRUE(drainer.ok()) << drainer.status().ToString();
  Client* drain = drainer->get();
  DeliveryLog drained;
  SubscribeOptions drain_sub;
  drain_sub.credit = 500;
  ASSERT_TRUE(
      (*drainer)
          ->Subscribe("reconnect.pub", drain_sub, drained.Handler([drain](const Delivery& d) {
            (void)drain->Ack(d.subscription, d.seq);
          }))
          .ok());
  ASSERT_TRUE(drained.WaitForCount(kTotal, kWait)) << "drained " << drained.size();
  EXPECT_FALSE(drained.WaitForCount(kTotal + 1, kQuiet)) << "a message was stored twice";
  std::vector<Delivery> all = drained.Snapshot();
  std::set<uint64_t> msg_ids;
  for (size_t i = 0; i < kTotal && i < all.size(); ++i) {
    EXPECT_EQ(all[i].payload, Payload(i)) << "position " << i;
    EXPECT_EQ(all[i].delivery_count, 1u) << Payload(i);
    msg_ids.insert(all[i].msg_id);
    EXPECT_EQ(all[i].msg_id, results.result(i).msg_id) << Payload(i);
  }
  EXPECT_EQ(msg_ids.size(), kTotal);
  std::printf("restart under load: %zu publishes, %zu confirmed as duplicates of a stored one\n",
              kTotal, duplicates);
}

TEST(ReconnectTest, GivesUpAfterMaxReconnectAttemptsWithNoBroker) {
  TempDir dir;
  BrokerProcess::Options broker_options;
  broker_options.data_dir = dir.Join("data");
  BrokerProcess broker(broker_options);
  ASSERT_TRUE(broker.Start().ok());

  StateLog states;
  ClientOptions options;
  options.server = broker.address();
  options.reconnect_initial_delay = milliseconds(20);
  options.reconnect_max_delay = milliseconds(100);
  options.max_reconnect_attempts = 3;
  options.on_state_change = states.Callback();
  Result<std::unique_ptr<Client>> made = Client::Connect(options);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<Client> client = std::move(*made);
  ASSERT_TRUE(client->Publish("gone", "confirmed").get().status.ok());
  DeliveryLog log;
  ASSERT_TRUE(client->Subscribe("gone", {}, log.Handler()).ok());

  ASSERT_TRUE(broker.Stop().ok());
  ASSERT_TRUE(states.WaitFor(ConnectionState::kReconnecting, kWait));
  std::vector<std::future<PublishResult>> pending;
  for (int i = 0; i < 5; ++i) pending.push_back(client->Publish("gone", "p" + std::to_string(i)));

  ASSERT_TRUE(states.WaitFor(ConnectionState::kDisconnected, kWait));
  for (auto& f : pending) {
    ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
    PublishResult r = f.get();
    EXPECT_EQ(r.status.code(), ErrorCode::kUnavailable) << r.status.ToString();
  }
  EXPECT_EQ(states.states(), (std::vector<ConnectionState>{ConnectionState::kConnected,
                                                           ConnectionState::kReconnecting,
                                                           ConnectionState::kDisconnected}));
  EXPECT_EQ(states.last_reason().code(), ErrorCode::kUnavailable)
      << states.last_reason().ToString();
  EXPECT_FALSE(client->connected());
  // Final: later calls fail at once.
  EXPECT_EQ(client->Publish("gone", "late").get().status.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(client->Subscribe("gone", {}, log.Handler()).status().code(), ErrorCode::kUnavailable);
  client->Close();
  EXPECT_EQ(states.states().back(), ConnectionState::kClosed);
}

}  // namespace
}  // namespace hermod
