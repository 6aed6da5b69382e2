// Delivery receipts over the real protocol (docs/semantics.md, "Receipts"):
// they survive a SIGKILL between the ack and their consumption, a group of
// 100 gets one each or one for all, and the README's chat example runs.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
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
using test::DeliveryLog;
using test::TempDir;

constexpr milliseconds kWait = seconds(20);
constexpr milliseconds kQuiet = milliseconds(300);

std::map<std::string, std::string> Headers(const Delivery& d) {
  std::map<std::string, std::string> out;
  for (const Header& h : d.headers) out[h.key] = h.value;
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

TEST(ReceiptsTest, ReceiptsSurviveASigkillBetweenTheAckAndTheirConsumption) {
  TempDir dir;
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start().ok());

  constexpr int kMessages = 20;
  std::map<uint64_t, uint64_t> seq_of;  // msg id -> seq in the inbox
  {
    std::unique_ptr<Client> client = test::ConnectClient(broker.address());
    ASSERT_NE(client, nullptr);
    PublishOptions send;
    send.receipt_to = "receipts:alice";
    for (int i = 0; i < kMessages; ++i) {
      PublishResult sent = client->Publish("inbox:bob", "m" + std::to_string(i), send).get();
      ASSERT_TRUE(sent.status.ok()) << sent.status.ToString();
      seq_of[sent.msg_id] = sent.seq;
    }
    DeliveryLog bob;
    SubscribeOptions sub;
    sub.credit = kMessages;
    Result<SubscriptionId> id = client->Subscribe("inbox:bob", sub, bob.Handler());
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ASSERT_TRUE(bob.WaitForCount(kMessages, kWait));
    for (const Delivery& d : bob.Snapshot()) ASSERT_TRUE(client->Ack(*id, d.seq).ok());
    // A confirm after the acks on the same connection: their batch (which
    // holds the receipts too) has committed by then.
    PublishResult marker = client->Publish("marker", "x").get();
    ASSERT_TRUE(marker.status.ok()) << marker.status.ToString();
  }
  broker.Kill(SIGKILL);
  ASSERT_TRUE(broker.Wait(kWait).ok());
  ASSERT_TRUE(broker.Start().ok());

  std::unique_ptr<Client> client = test::ConnectClient(broker.address());
  ASSERT_NE(client, nullptr);
  DeliveryLog inbox;
  ASSERT_TRUE(client->Subscribe("inbox:bob", {}, inbox.Handler()).ok());
  EXPECT_FALSE(inbox.WaitForCount(1, kQuiet)) << "an acked message came back";
  DeliveryLog receipts;
  SubscribeOptions sub;
  sub.credit = 1000;
  ASSERT_TRUE(client->Subscribe("receipts:alice", sub, receipts.Handler()).ok());
  ASSERT_TRUE(receipts.WaitForCount(kMessages, kWait)) << "got " << receipts.Snapshot().size();
  EXPECT_FALSE(receipts.WaitForCount(kMessages + 1, kQuiet)) << "a receipt twice";
  std::set<uint64_t> receipted;
  for (const Delivery& d : receipts.Snapshot()) {
    std::map<std::string, std::string> h = Headers(d);
    EXPECT_EQ(h["kind"], "delivered");
    EXPECT_EQ(h["queue"], "inbox:bob");
    EXPECT_TRUE(d.payload.empty());
    uint64_t msg_id = std::stoull(h["msg-id"]);
    ASSERT_EQ(seq_of.count(msg_id), 1u) << "a receipt for an unknown message " << msg_id;
    EXPECT_EQ(h["seq"], std::to_string(seq_of[msg_id]));
    EXPECT_GE(std::stoull(h["time"]), d.publish_time_ms - 1);
    receipted.insert(msg_id);
  }
  EXPECT_EQ(receipted.size(), static_cast<size_t>(kMessages));
}

TEST(ReceiptsTest, AGroupOfAHundredGetsReceiptsEachAndOneForAll) {
  TempDir dir;
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start().ok());
  std::unique_ptr<Client> client = test::ConnectClient(broker.address());
  ASSERT_NE(client, nullptr);

  std::vector<std::string> members;
  for (int i = 0; i < 100; ++i) members.push_back("device:" + std::to_string(i));
  ASSERT_TRUE(client->CreateGroup("chat:1").ok());
  ASSERT_TRUE(client->AddMembers("chat:1", members).ok());
  QueueSettings poison;
  poison.max_deliveries = 1;  // device:3's copy dead-letters at its first nack
  ASSERT_TRUE(client->ConfigureQueue("device:3", poison).ok());

  PublishOptions each;
  each.receipt_to = "receipts:each";
  PublishResult sent_each = client->PublishToGroup("chat:1", "hello", each).get();
  ASSERT_TRUE(sent_each.status.ok()) << sent_each.status.ToString();
  PublishOptions all;
  all.receipt_to = "receipts:all";
  all.receipt = "all";
  PublishResult sent_all = client->PublishToGroup("chat:1", "hello", all).get();
  ASSERT_TRUE(sent_all.status.ok()) << sent_all.status.ToString();

  DeliveryLog aggregate;
  ASSERT_TRUE(client->Subscribe("receipts:all", {}, aggregate.Handler()).ok());
  for (int i = 0; i < 100; ++i) {
    DeliveryLog copies;
    Result<SubscriptionId> id = client->Subscribe(members[i], {}, copies.Handler());
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ASSERT_TRUE(copies.WaitForCount(2, kWait)) << members[i];
    for (const Delivery& d : copies.Snapshot()) {
      ASSERT_TRUE((i == 3 ? client->Nack(*id, d.seq) : client->Ack(*id, d.seq)).ok());
    }
    ASSERT_TRUE(client->Unsubscribe(*id).ok());
    if (i < 99) {
      ASSERT_FALSE(aggregate.WaitForCount(1, milliseconds(0))) << "early, at " << i;
    }
  }
  ASSERT_TRUE(aggregate.WaitForCount(1, kWait));
  std::map<std::string, std::string> h = Headers(aggregate.Snapshot()[0]);
  EXPECT_EQ(h["kind"], "failed");
  EXPECT_EQ(h["msg-id"], std::to_string(sent_all.msg_id));
  EXPECT_EQ(h["members"], "100");
  EXPECT_EQ(h["delivered"], "99");
  EXPECT_EQ(h["failed"], "1");

  DeliveryLog per_member;
  SubscribeOptions wide;
  wide.credit = 1000;
  ASSERT_TRUE(client->Subscribe("receipts:each", wide, per_member.Handler()).ok());
  ASSERT_TRUE(per_member.WaitForCount(100, kWait));
  EXPECT_FALSE(per_member.WaitForCount(101, kQuiet));
  std::set<std::string> queues;
  for (const Delivery& d : per_member.Snapshot()) {
    std::map<std::string, std::string> r = Headers(d);
    queues.insert(r["queue"]);
    EXPECT_EQ(r["msg-id"], std::to_string(sent_each.msg_id));
    if (r["queue"] == "device:3") {
      EXPECT_EQ(r["kind"], "failed");
      EXPECT_EQ(r["reason"], "dead-lettered");
    } else {
      EXPECT_EQ(r["kind"], "delivered");
    }
  }
  EXPECT_EQ(queues.size(), 100u);
}

TEST(ReceiptsTest, TheReadmeChatExampleRunsAndIsTheOneInTheReadme) {
  // The README shows examples/chat_frontend.cc whole; it must stay so.
  std::string example = ReadFile(HERMOD_CHAT_EXAMPLE_SOURCE);
  std::string readme = ReadFile(HERMOD_README);
  ASSERT_FALSE(example.empty());
  EXPECT_NE(readme.find(example), std::string::npos)
      << "README.md no longer shows examples/chat_frontend.cc as it is";

  TempDir dir;
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start().ok());
  Result<test::CommandResult> run = test::RunCommand({HERMOD_CHAT_EXAMPLE, broker.address()});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_TRUE(run->exit.ok()) << run->exit.ToString() << run->err;
  EXPECT_NE(run->out.find("bob reads: hi bob"), std::string::npos) << run->out;
  EXPECT_NE(run->out.find("receipt kind=delivered"), std::string::npos) << run->out;
  EXPECT_NE(run->out.find("receipt queue=inbox:bob"), std::string::npos) << run->out;
}

}  // namespace
}  // namespace hermod
