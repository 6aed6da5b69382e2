// Redrive: dead letters moved back to their origin or another queue, on the
// in-memory store with a fake clock (core_harness.h). Issue 14.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "broker.h"
#include "core_harness.h"

namespace hermod::core::testing {
namespace {

class RedriveTest : public ::testing::Test {
 protected:
  std::vector<Delivered>& deliveries(ClientId c) { return h.out().deliveries[c]; }
  std::vector<Reply>& replies(ClientId c) { return h.out().replies[c]; }

  // Publishes n messages to q ("m1".."mn", each with header app=v<i>) and
  // dead-letters them all through nacks (max_deliveries 1).
  void DeadLetter(ClientId c, const std::string& q, int n) {
    const uint64_t before = h.Depth(q + ".dlq");
    QueueOverrides o;
    o.max_deliveries = 1;
    h.Configure(c, q, o);
    for (int i = 1; i <= n; ++i) {
      std::string payload = "m" + std::to_string(i);
      std::string value = "v" + std::to_string(i);
      const Header headers[] = {{"app", value}};
      PublishRequest p;
      p.correlation_id = ++correlation_;
      p.queue = q;
      p.payload = payload;
      p.headers = headers;
      h.broker().Publish(c, p);
    }
    h.Subscribe(c, 99, q, static_cast<uint32_t>(n));
    h.Turn();
    for (const Delivered& d : std::vector<Delivered>(deliveries(c))) {
      if (d.subscription_id == 99) h.broker().Nack(c, 99, d.seq, 0);
    }
    h.Turn();
    ASSERT_TRUE(h.broker().Unsubscribe(c, 99).ok());
    h.Turn();
    ASSERT_EQ(h.Depth(q + ".dlq"), before + static_cast<uint64_t>(n));
  }

  // Redrives and returns the reply ("redriven" or "error").
  Reply Redrive(ClientId c, std::string_view dlq, std::string_view to = {}, uint32_t limit = 0) {
    uint64_t correlation_id = ++correlation_;
    h.broker().Redrive(c, correlation_id, dlq, to, limit);
    h.Turn();
    for (const Reply& r : replies(c)) {
      if (r.correlation_id == correlation_id) return r;
    }
    ADD_FAILURE() << "no reply to the redrive";
    return Reply{};
  }

  CoreHarness h;
  uint64_t correlation_ = 1000;
};

TEST_F(RedriveTest, MovesEveryDeadLetterBackToItsOriginAsANewEntry) {
  h.Start();
  ClientId c = h.Connect();
  DeadLetter(c, "q", 3);
  h.Advance(5000);  // the dead letters are in the index now, not the log tail
  Reply r = Redrive(c, "q.dlq");
  ASSERT_EQ(r.kind, "redriven") << r.status.ToString();
  EXPECT_EQ(r.count, 3u);
  EXPECT_EQ(r.remaining, 0u);
  EXPECT_EQ(h.Depth("q.dlq"), 0u);
  EXPECT_EQ(h.Depth("q"), 3u);
  EXPECT_EQ(h.Stat("redriven_total"), 3);

  ClientId sub = h.Connect();
  h.Subscribe(sub, 1, "q", 10);
  h.Turn();
  ASSERT_EQ(deliveries(sub).size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const Delivered& d = deliveries(sub)[static_cast<size_t>(i)];
    EXPECT_EQ(d.payload, "m" + std::to_string(i + 1)) << "out of order";
    EXPECT_EQ(d.delivery_count, 1u) << "the delivery count was not reset";
    EXPECT_EQ(d.seq, static_cast<Seq>(4 + i)) << "not a new entry";
    EXPECT_EQ(d.headers.at("app"), "v" + std::to_string(i + 1));
    EXPECT_EQ(d.headers.at("x-hermod-redriven-from"), "q.dlq");
    for (const auto& [key, value] : d.headers) {
      EXPECT_FALSE(key.starts_with("x-hermod-dead-letter-")) << key;
      EXPECT_FALSE(key.starts_with("x-hermod-original-")) << key;
      EXPECT_NE(key, "x-hermod-delivery-count");
    }
  }
  // The move is durable: the store has it after a restart.
  h.Restart();
  EXPECT_EQ(h.Depth("q.dlq"), 0u);
  EXPECT_EQ(h.Depth("q"), 3u);
}

TEST_F(RedriveTest, RepliesOnlyOnceTheMoveIsDurable) {
  h.Start();
  ClientId c = h.Connect();
  DeadLetter(c, "q", 2);
  h.committer().Hold();
  uint64_t correlation_id = ++correlation_;
  h.broker().Redrive(c, correlation_id, "q.dlq", {}, 0);
  h.Turn();
  for (const Reply& r : replies(c)) {
    EXPECT_NE(r.correlation_id, correlation_id) << "answered before its batch committed";
  }
  h.committer().Release();
  h.Turn();
  ASSERT_EQ(replies(c).back().correlation_id, correlation_id);
  EXPECT_EQ(replies(c).back().kind, "redriven");
  EXPECT_EQ(replies(c).back().count, 2u);
}

TEST_F(RedriveTest, MovesToTheNamedQueueWithinTheLimitAndTheBatch) {
  h.config().redrive_batch = 3;
  h.Start();
  ClientId c = h.Connect();
  DeadLetter(c, "q", 5);  // in the log tail
  Reply r = Redrive(c, "q.dlq", "other", /*limit=*/2);
  ASSERT_EQ(r.kind, "redriven") << r.status.ToString();
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(r.remaining, 3u);
  r = Redrive(c, "q.dlq", "other", /*limit=*/0);  // the batch bounds it
  EXPECT_EQ(r.count, 3u);
  EXPECT_EQ(r.remaining, 0u);
  EXPECT_EQ(h.Depth("other"), 5u);
  EXPECT_EQ(h.Depth("q"), 0u);
  ClientId sub = h.Connect();
  h.Subscribe(sub, 1, "other", 10);
  h.Turn();
  ASSERT_EQ(deliveries(sub).size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(deliveries(sub)[static_cast<size_t>(i)].payload, "m" + std::to_string(i + 1));
  }
}

TEST_F(RedriveTest, LeavesDeliveriesInFlightAlone) {
  h.Start();
  ClientId c = h.Connect();
  DeadLetter(c, "q", 3);
  ClientId dlq_consumer = h.Connect();
  h.Subscribe(dlq_consumer, 1, "q.dlq", /*credit=*/1);
  h.Turn();
  ASSERT_EQ(deliveries(dlq_consumer).size(), 1u);
  Seq inflight = deliveries(dlq_consumer)[0].seq;
  Reply r = Redrive(c, "q.dlq");
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(r.remaining, 1u);
  EXPECT_EQ(h.Depth("q"), 2u);
  // The delivery in flight is still its consumer's to ack.
  h.broker().Ack(dlq_consumer, 1, inflight, inflight);
  h.Turn();
  EXPECT_EQ(h.Depth("q.dlq"), 0u);
  EXPECT_EQ(deliveries(dlq_consumer).size(), 1u);
}

TEST_F(RedriveTest, SkipsAnEntryWithoutAnOriginUnlessATargetIsNamed) {
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q.dlq", "stray");  // published there: no origin header
  h.Turn();
  DeadLetter(c, "q", 2);
  Reply r = Redrive(c, "q.dlq");
  ASSERT_EQ(r.kind, "redriven") << r.status.ToString();
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(r.remaining, 1u);
  EXPECT_EQ(h.Depth("q"), 2u);
  r = Redrive(c, "q.dlq");  // nothing it can move
  ASSERT_EQ(r.kind, "redriven");
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(r.remaining, 1u);
  r = Redrive(c, "q.dlq", "other");
  EXPECT_EQ(r.count, 1u);
  EXPECT_EQ(r.remaining, 0u);
  EXPECT_EQ(h.Depth("other"), 1u);
}

TEST_F(RedriveTest, AFullTargetStopsTheRedriveAndLeavesTheEntries) {
  h.Start();
  ClientId c = h.Connect();
  DeadLetter(c, "q", 2);
  QueueOverrides full;
  full.max_messages = 1;
  h.Configure(c, "q", full);
  h.Publish(c, "q", "keeper");
  h.Turn();
  Reply r = Redrive(c, "q.dlq");
  ASSERT_EQ(r.kind, "error");
  EXPECT_EQ(r.status.code(), ErrorCode::kLimitExceeded) << r.status.ToString();
  EXPECT_EQ(h.Depth("q.dlq"), 2u);
  EXPECT_EQ(h.Depth("q"), 1u);
}

TEST_F(RedriveTest, RefusesRedrivingAQueueIntoItself) {
  h.Start();
  ClientId c = h.Connect();
  DeadLetter(c, "q", 1);
  Reply r = Redrive(c, "q.dlq", "q.dlq");
  ASSERT_EQ(r.kind, "error");
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidArgument);
  r = Redrive(c, "missing.dlq");
  ASSERT_EQ(r.kind, "error");
  EXPECT_EQ(r.status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(h.Depth("q.dlq"), 1u);
}

}  // namespace
}  // namespace hermod::core::testing
