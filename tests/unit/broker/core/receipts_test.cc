// Delivery receipts in the core (docs/semantics.md, "Receipts"), on the
// in-memory store with a fake clock (core_harness.h).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "broker.h"
#include "core_harness.h"

namespace hermod::core::testing {
namespace {

class ReceiptsTest : public ::testing::Test {
 protected:
  CoreHarness h;
  std::vector<Delivered>& deliveries(ClientId c) { return h.out().deliveries[c]; }
  std::vector<Confirm>& confirms(ClientId c) { return h.out().confirms[c]; }

  void Publish(ClientId c, std::string_view queue, std::string_view group,
               std::string_view receipt_to, std::string_view mode = {}, uint64_t ttl_ms = 0) {
    PublishRequest p;
    p.correlation_id = ++correlation_;
    p.queue = queue;
    p.group = group;
    p.payload = "hello";
    p.ttl_ms = ttl_ms;
    p.receipt_to = receipt_to;
    p.receipt = mode;
    h.broker().Publish(c, p);
  }
  // The deliveries of client c on subscription sub.
  std::vector<Delivered> On(ClientId c, SubscriptionId sub) {
    std::vector<Delivered> out;
    for (const Delivered& d : deliveries(c)) {
      if (d.subscription_id == sub) out.push_back(d);
    }
    return out;
  }
  uint64_t correlation_ = 1000;
};

TEST_F(ReceiptsTest, AnAckAppendsADeliveredReceiptInTheSameBatch) {
  h.Start();
  ClientId c = h.Connect();
  Publish(c, "alice", "", "bob.receipts");
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 1u);
  ASSERT_TRUE(confirms(c)[0].status.ok());
  MsgId msg_id = confirms(c)[0].msg_id;
  EXPECT_EQ(h.Depth("bob.receipts"), 0u) << "a receipt before anyone acked";

  h.Subscribe(c, 1, "alice", 10);
  h.Turn();
  ASSERT_EQ(On(c, 1).size(), 1u);
  h.committer().Hold();
  h.broker().Ack(c, 1, 1, 1);
  h.Turn();
  // The ack and the receipt are in one batch: held, neither is durable yet.
  ASSERT_EQ(h.committer().held(), 1u);
  bool has_ack = false, has_receipt = false;
  store::LogOp op;
  for (const std::string* record : {&h.committer().held_batch(0).log.record(),
                                    &h.committer().held_batch(0).log.commit_record()}) {
    store::LogReader reader(*record);
    while (reader.Next(&op)) {
      has_ack =
          has_ack || op.type == store::LogOpType::kAck || op.type == store::LogOpType::kIndexAck;
      has_receipt = has_receipt || op.type == store::LogOpType::kPublish;
    }
  }
  EXPECT_TRUE(has_ack);
  EXPECT_TRUE(has_receipt);
  h.committer().Release();
  h.Turn();

  EXPECT_EQ(h.Depth("bob.receipts"), 1u);
  h.Subscribe(c, 2, "bob.receipts", 10);
  h.Turn();
  std::vector<Delivered> receipts = On(c, 2);
  ASSERT_EQ(receipts.size(), 1u);
  EXPECT_EQ(receipts[0].payload, "") << "a receipt carries no copy of the payload";
  EXPECT_EQ(receipts[0].headers.at("kind"), "delivered");
  EXPECT_EQ(receipts[0].headers.at("msg-id"), std::to_string(msg_id));
  EXPECT_EQ(receipts[0].headers.at("queue"), "alice");
  EXPECT_EQ(receipts[0].headers.at("seq"), "1");
  EXPECT_EQ(receipts[0].headers.at("time"), std::to_string(FakeClock::kWallBase + 1000));
  EXPECT_EQ(receipts[0].headers.count(std::string(store::kReceiptToHeader)), 0u);
  EXPECT_EQ(h.Stat("receipts_total"), 1);

  // Acking the receipt sends none: receipts ask for no receipts.
  h.broker().Ack(c, 2, 1, 1);
  h.Turn();
  EXPECT_EQ(h.Depth("bob.receipts"), 0u);
  EXPECT_EQ(h.Stat("receipts_total"), 1);
}

TEST_F(ReceiptsTest, ExpiryAndDeadLetteringSendFailedReceipts) {
  h.Start();
  ClientId c = h.Connect();
  QueueOverrides o;
  o.max_deliveries = 1;
  h.Configure(c, "q", o);
  Publish(c, "q", "", "r");                  // seq 1: dead-lettered
  Publish(c, "q", "", "r", {}, /*ttl=*/50);  // seq 2: expires
  h.Turn();
  h.Subscribe(c, 1, "q", 1);
  h.Turn();
  ASSERT_EQ(On(c, 1).size(), 1u);
  h.Advance(100);
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  h.Subscribe(c, 2, "r", 10);
  h.Turn();
  std::vector<Delivered> receipts = On(c, 2);
  ASSERT_EQ(receipts.size(), 2u);
  std::set<std::string> reasons;
  for (const Delivered& r : receipts) {
    EXPECT_EQ(r.headers.at("kind"), "failed");
    reasons.insert(r.headers.at("reason") + "@" + r.headers.at("seq"));
  }
  EXPECT_EQ(reasons, (std::set<std::string>{"dead-lettered@1", "expired@2"}));
  // The dead letter itself asks for no receipt: acking it sends none.
  h.Subscribe(c, 3, "q.dlq", 10);
  h.Turn();
  ASSERT_EQ(On(c, 3).size(), 1u);
  EXPECT_EQ(On(c, 3)[0].headers.count(std::string(store::kReceiptToHeader)), 0u);
  h.broker().Ack(c, 3, 1, 1);
  h.Turn();
  EXPECT_EQ(On(c, 2).size(), 2u);
}

TEST_F(ReceiptsTest, AGroupOfAHundredGetsOneReceiptEachOrOneForAll) {
  h.Start();
  ClientId c = h.Connect();
  std::vector<std::string> members;
  for (int i = 0; i < 100; ++i) members.push_back("m" + std::to_string(i));
  h.CreateGroup(c, "g", members);
  // m7's copy dead-letters at its first nack.
  QueueOverrides o;
  o.max_deliveries = 1;
  h.Configure(c, "m7", o);
  h.Turn();
  Publish(c, "", "g", "each.r", "each");
  Publish(c, "", "g", "all.r", "all");
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 2u);
  ASSERT_TRUE(confirms(c)[1].status.ok()) << confirms(c)[1].status.ToString();
  const MsgId all_id = confirms(c)[1].msg_id;

  // Every member takes both copies; m7 nacks, the others ack.
  for (int i = 0; i < 100; ++i) h.Subscribe(c, 10 + i, members[i], 10);
  h.Turn();
  h.Subscribe(c, 1, "all.r", 10);
  h.Turn();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(On(c, 10 + i).size(), 2u) << members[i];
    if (i == 7) {
      h.broker().Nack(c, 10 + i, 1, 0);
      h.broker().Nack(c, 10 + i, 2, 0);
    } else {
      h.broker().Ack(c, 10 + i, 1, 2);
    }
    h.Turn();
    // No aggregate receipt before the last member settled.
    if (i < 99) {
      ASSERT_EQ(On(c, 1).size(), 0u) << "after member " << i;
    }
    // Restart halfway: the tally is durable.
    if (i == 50) {
      h.Restart();
      c = h.Connect();
      for (int k = 0; k < 100; ++k) h.Subscribe(c, 10 + k, members[k], 10);
      h.Subscribe(c, 1, "all.r", 10);
      h.Turn();
      // Members past 50 get their copies again on the new connection.
    }
  }
  std::vector<Delivered> all = On(c, 1);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].headers.at("kind"), "failed");
  EXPECT_EQ(all[0].headers.at("msg-id"), std::to_string(all_id));
  EXPECT_EQ(all[0].headers.at("members"), "100");
  EXPECT_EQ(all[0].headers.at("delivered"), "99");
  EXPECT_EQ(all[0].headers.at("failed"), "1");

  h.Subscribe(c, 2, "each.r", 1000);
  h.Turn();
  std::vector<Delivered> each = On(c, 2);
  ASSERT_EQ(each.size(), 100u);
  std::set<std::string> queues;
  for (const Delivered& r : each) {
    queues.insert(r.headers.at("queue"));
    EXPECT_EQ(r.headers.at("kind"), r.headers.at("queue") == "m7" ? "failed" : "delivered");
  }
  EXPECT_EQ(queues.size(), 100u);
  // The tally is gone once settled.
  Result<std::optional<store::ReceiptTally>> tally = h.store().ReadReceiptTally(all_id);
  ASSERT_TRUE(tally.ok());
  EXPECT_FALSE(tally->has_value());
}

TEST_F(ReceiptsTest, BadReceiptOptionsAreRefusedAndChangeNothing) {
  h.Start();
  ClientId c = h.Connect();
  Publish(c, "q", "", "", "all");         // a mode without a queue
  Publish(c, "q", "", "r", "all");        // "all" on a queue publish
  Publish(c, "q", "", "r", "twice");      // no such mode
  Publish(c, "q", "", "bad name\n", "");  // not a queue name
  PublishRequest forged;
  forged.correlation_id = 1;
  forged.queue = "q";
  const Header h1[] = {{store::kReceiptToHeader, "r"}};
  forged.headers = h1;
  h.broker().Publish(c, forged);  // the broker's own header
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 5u);
  for (const Confirm& r : confirms(c)) {
    EXPECT_EQ(r.status.code(), ErrorCode::kInvalidArgument) << r.status.ToString();
  }
  EXPECT_EQ(h.Depth("q"), 0u);
}

}  // namespace
}  // namespace hermod::core::testing
