// hermodd and its data directory across process lifetimes: a graceful stop
// and restart keeps unacked messages and forgets acked ones; a second broker
// on a directory in use refuses to start.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::BrokerProcess;
using test::DeliveryLog;
using test::TempDir;

constexpr milliseconds kWait = seconds(15);
constexpr milliseconds kQuiet = milliseconds(300);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

TEST(RestartTest, GracefulRestartKeepsUnackedAndForgetsAcked) {
  TempDir dir;
  // The default --sync (always): what a deployment runs.
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start().ok());

  constexpr int kMessages = 10;
  constexpr int kAcked = 4;
  std::vector<PublishResult> published;
  {
    std::unique_ptr<Client> publisher = test::ConnectClient(broker.address());
    ASSERT_NE(publisher, nullptr);
    std::vector<std::future<PublishResult>> confirms;
    for (int i = 0; i < kMessages; ++i) {
      confirms.push_back(publisher->Publish("restart", "p" + std::to_string(i)));
    }
    for (auto& confirm : confirms) {
      ASSERT_EQ(confirm.wait_for(kWait), std::future_status::ready);
      published.push_back(confirm.get());
      ASSERT_TRUE(published.back().status.ok()) << published.back().status.ToString();
    }
  }
  {
    std::unique_ptr<Client> consumer = test::ConnectClient(broker.address());
    ASSERT_NE(consumer, nullptr);
    DeliveryLog log;
    SubscribeOptions options;
    options.credit = kMessages;
    Result<SubscriptionId> sub = consumer->Subscribe("restart", options, log.Handler());
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
    ASSERT_TRUE(log.WaitForCount(kMessages, kWait));
    // Acks the first kAcked; the reply to Unsubscribe orders them before
    // the stop.
    ASSERT_TRUE(consumer->AckRange(*sub, published[0].seq, published[kAcked - 1].seq).ok());
    ASSERT_TRUE(consumer->Unsubscribe(*sub).ok());
  }

  test::ExitStatus stopped = broker.Stop();
  EXPECT_TRUE(stopped.ok()) << "hermodd stopped with " << stopped.ToString();
  Status restarted = broker.Start();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();

  std::unique_ptr<Client> consumer = test::ConnectClient(broker.address());
  ASSERT_NE(consumer, nullptr);
  DeliveryLog log;
  ASSERT_TRUE(consumer->Subscribe("restart", {}, log.Handler()).ok());
  ASSERT_TRUE(log.WaitForCount(kMessages - kAcked, kWait)) << "got " << log.size();
  EXPECT_FALSE(log.WaitForCount(kMessages - kAcked + 1, kQuiet)) << "an acked message came back";
  std::vector<Delivery> got = log.Snapshot();
  for (int i = 0; i < kMessages - kAcked; ++i) {
    EXPECT_EQ(got[i].payload, "p" + std::to_string(kAcked + i));
    EXPECT_EQ(got[i].seq, published[kAcked + i].seq);
    EXPECT_EQ(got[i].msg_id, published[kAcked + i].msg_id);
  }
}

TEST(RestartTest, SecondBrokerOnTheSameDirectoryExitsAtOnce) {
  TempDir dir;
  const std::string data_dir = dir.Join("data");
  BrokerProcess::Options first_options;
  first_options.data_dir = data_dir;
  BrokerProcess first(first_options);
  ASSERT_TRUE(first.Start().ok());

  const std::string stderr_path = dir.Join("second.stderr");
  BrokerProcess::Options second_options = first_options;
  second_options.stderr_path = stderr_path;
  BrokerProcess second(second_options);
  const auto start = std::chrono::steady_clock::now();
  Status s = second.Start();
  ASSERT_FALSE(s.ok()) << "a second hermodd runs on " << data_dir << " at " << second.address();
  Result<test::ExitStatus> exit = second.Wait(kWait);
  ASSERT_TRUE(exit.ok()) << exit.status().ToString();
  EXPECT_TRUE(exit->exited && exit->code != 0) << exit->ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5)) << "took too long to give up";

  const std::string err = ReadFile(stderr_path);
  EXPECT_NE(err.find(data_dir), std::string::npos) << "stderr does not name the directory: " << err;
  EXPECT_NE(Lower(err).find("lock"), std::string::npos)
      << "stderr does not mention the lock: " << err;

  // The first broker is unharmed.
  std::unique_ptr<Client> client = test::ConnectClient(first.address());
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Publish("still.here", "yes").get().status.ok());
}

}  // namespace
}  // namespace hermod
