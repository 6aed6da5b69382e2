// Redrive and resume end to end (issue 14), against a spawned hermodd:
// entries dead-lettered through nacks go back with `hermod queue redrive`,
// and a consumer that lost its connection with deliveries unacked
// resubscribes with resume_through and gets only the entries above it.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "json_test_util.h"
#include "run_command.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::BrokerProcess;
using test::DeliveryLog;

constexpr milliseconds kWait = seconds(15);
constexpr milliseconds kQuiet = milliseconds(300);

class RedriveResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    broker_ = std::make_unique<BrokerProcess>(options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    client_ = test::ConnectClient(broker_->address());
    ASSERT_NE(client_, nullptr);
  }

  test::CommandResult Hermod(std::vector<std::string> args) {
    args.insert(args.begin(), {HERMOD_CLI_BIN, "--server", broker_->address()});
    test::CommandOptions options;
    options.unset_env.push_back("HERMOD_SERVER");
    Result<test::CommandResult> result = test::RunCommand(args, options);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? std::move(*result) : test::CommandResult{};
  }

  uint64_t Depth(const std::string& queue) {
    Result<QueueInfo> info = client_->ShowQueue(queue);
    return info.ok() ? info->depth : 0;
  }

  // Publishes payloads to queue, each confirmed; returns their seqs.
  std::vector<uint64_t> Publish(const std::string& queue,
                                const std::vector<std::string>& payloads) {
    std::vector<uint64_t> seqs;
    for (const std::string& p : payloads) {
      PublishResult r = client_->Publish(queue, p).get();
      EXPECT_TRUE(r.status.ok()) << r.status.ToString();
      seqs.push_back(r.seq);
    }
    return seqs;
  }

  test::TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> client_;
};

bool HasDeadLetterHeaders(const Delivery& d) {
  for (const Header& h : d.headers) {
    if (h.key.starts_with("x-hermod-dead-letter-") || h.key.starts_with("x-hermod-original-") ||
        h.key == "x-hermod-delivery-count") {
      return true;
    }
  }
  return false;
}

TEST_F(RedriveResumeTest, RedriveMovesExactlyTheDeadLettersBack) {
  QueueSettings settings;
  settings.max_deliveries = 1;
  ASSERT_TRUE(client_->ConfigureQueue("orders", settings).ok());
  Publish("orders", {"ok-1", "bad-1", "ok-2", "bad-2", "bad-3"});
  {
    // Nacks the bad ones (dead-lettered at once: max_deliveries 1), acks
    // the others.
    std::unique_ptr<Client> consumer = test::ConnectClient(broker_->address());
    ASSERT_NE(consumer, nullptr);
    Client* c = consumer.get();
    DeliveryLog log;
    Result<SubscriptionId> sub =
        consumer->Subscribe("orders", {}, log.Handler([c](const Delivery& d) {
          if (d.payload.starts_with("bad")) {
            (void)c->Nack(d.subscription, d.seq);
          } else {
            (void)c->Ack(d.subscription, d.seq);
          }
        }));
    ASSERT_TRUE(sub.ok());
    ASSERT_TRUE(log.WaitForCount(5, kWait));
    ASSERT_TRUE(consumer->Unsubscribe(*sub).ok());
  }
  ASSERT_TRUE(test::PollUntil([&] { return Depth("orders.dlq") == 3; }, kWait));
  EXPECT_EQ(Depth("orders"), 0u);
  Publish("orders", {"later"});  // stays where it is

  test::CommandResult r = Hermod({"queue", "redrive", "orders.dlq"});
  EXPECT_TRUE(r.exit.ok()) << r.exit.ToString() << " " << r.err;
  EXPECT_EQ(r.out, "redrove 3 entries from orders.dlq to their origin; 0 left\n");
  EXPECT_EQ(Depth("orders.dlq"), 0u);
  EXPECT_EQ(Depth("orders"), 4u);
  EXPECT_EQ(test::StatOf(*client_, "redriven_total"), 3);

  DeliveryLog log;
  ASSERT_TRUE(client_->Subscribe("orders", {}, log.Handler()).ok());
  ASSERT_TRUE(log.WaitForCount(4, kWait));
  EXPECT_FALSE(log.WaitForCount(5, kQuiet)) << "more than the dead letters came back";
  std::vector<Delivery> got = log.Snapshot();
  // The redriven copies are newer entries than "later".
  std::vector<std::string> payloads;
  for (const Delivery& d : got) {
    payloads.push_back(d.payload);
    EXPECT_EQ(d.delivery_count, 1u) << d.payload;
    EXPECT_FALSE(HasDeadLetterHeaders(d)) << d.payload;
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"later", "bad-1", "bad-2", "bad-3"}));
}

TEST_F(RedriveResumeTest, RedriveToAnotherQueueWithALimit) {
  QueueSettings settings;
  settings.max_deliveries = 1;
  ASSERT_TRUE(client_->ConfigureQueue("jobs", settings).ok());
  Publish("jobs", {"a", "b", "c"});
  {
    std::unique_ptr<Client> consumer = test::ConnectClient(broker_->address());
    ASSERT_NE(consumer, nullptr);
    Client* c = consumer.get();
    DeliveryLog log;
    Result<SubscriptionId> sub = consumer->Subscribe(
        "jobs", {}, log.Handler([c](const Delivery& d) { (void)c->Nack(d.subscription, d.seq); }));
    ASSERT_TRUE(sub.ok());
    ASSERT_TRUE(log.WaitForCount(3, kWait));
    ASSERT_TRUE(consumer->Unsubscribe(*sub).ok());
  }
  ASSERT_TRUE(test::PollUntil([&] { return Depth("jobs.dlq") == 3; }, kWait));

  test::CommandResult r =
      Hermod({"queue", "redrive", "jobs.dlq", "--to", "jobs.retry", "--limit", "2", "--json"});
  EXPECT_TRUE(r.exit.ok()) << r.exit.ToString() << " " << r.err;
  std::optional<test::JsonValue> j = test::ParseJson(r.out);
  ASSERT_TRUE(j) << r.out;
  ASSERT_NE(j->Find("moved"), nullptr);
  EXPECT_EQ(j->Find("moved")->number, 2);
  EXPECT_EQ(j->Find("remaining")->number, 1);
  EXPECT_EQ(Depth("jobs.retry"), 2u);
  EXPECT_EQ(Depth("jobs.dlq"), 1u);
  EXPECT_EQ(Depth("jobs"), 0u);

  // Into itself: refused, nothing moves.
  r = Hermod({"queue", "redrive", "jobs.dlq", "--to", "jobs.dlq"});
  EXPECT_FALSE(r.exit.ok());
  EXPECT_NE(r.err.find("into itself"), std::string::npos) << r.err;
  EXPECT_EQ(Depth("jobs.dlq"), 1u);
}

TEST_F(RedriveResumeTest, AResumedSubscriptionGetsOnlyTheEntriesAboveItsSeq) {
  std::vector<uint64_t> seqs = Publish("inbox", {"m1", "m2", "m3", "m4", "m5", "m6"});
  {
    // Processes everything, but its acks never reach the broker: the
    // connection goes first.
    std::unique_ptr<Client> lost = test::ConnectClient(broker_->address());
    ASSERT_NE(lost, nullptr);
    DeliveryLog log;
    ASSERT_TRUE(lost->Subscribe("inbox", {}, log.Handler()).ok());
    ASSERT_TRUE(log.WaitForCount(6, kWait));
  }
  SubscribeOptions options;
  options.resume_through = seqs[3];  // m1..m4 were processed
  DeliveryLog log;
  Client* c = client_.get();
  ASSERT_TRUE(client_
                  ->Subscribe("inbox", options, log.Handler([c](const Delivery& d) {
                    (void)c->Ack(d.subscription, d.seq);
                  }))
                  .ok());
  ASSERT_TRUE(log.WaitForCount(2, kWait));
  EXPECT_FALSE(log.WaitForCount(3, kQuiet)) << "a processed entry was delivered again";
  std::vector<Delivery> got = log.Snapshot();
  EXPECT_EQ(got[0].payload, "m5");
  EXPECT_EQ(got[1].payload, "m6");
  for (const Delivery& d : got) EXPECT_EQ(d.delivery_count, 2u);
  EXPECT_EQ(test::StatOf(*client_, "resumed_acks_total"), 4);
  ASSERT_TRUE(test::PollUntil([&] { return Depth("inbox") == 0; }, kWait));
}

TEST_F(RedriveResumeTest, SubResumeThroughPrintsOnlyTheUnprocessedMessages) {
  std::vector<uint64_t> seqs = Publish("phone", {"p1", "p2", "p3"});
  {
    std::unique_ptr<Client> lost = test::ConnectClient(broker_->address());
    ASSERT_NE(lost, nullptr);
    DeliveryLog log;
    ASSERT_TRUE(lost->Subscribe("phone", {}, log.Handler()).ok());
    ASSERT_TRUE(log.WaitForCount(3, kWait));
  }
  // --count 1 exits after one message; that p1 and p2 are gone for good
  // shows in the depth: nothing is left once p3 is acked.
  test::CommandResult r = Hermod(
      {"sub", "phone", "--resume-through", std::to_string(seqs[1]), "--count", "1", "--json"});
  EXPECT_TRUE(r.exit.ok()) << r.exit.ToString() << " " << r.err;
  std::optional<test::JsonValue> j = test::ParseJson(r.out);
  ASSERT_TRUE(j) << r.out;
  EXPECT_EQ(j->Find("payload")->text, "p3");
  EXPECT_EQ(j->Find("seq")->number, static_cast<double>(seqs[2]));
  ASSERT_TRUE(test::PollUntil([&] { return Depth("phone") == 0; }, kWait));
  EXPECT_EQ(test::StatOf(*client_, "resumed_acks_total"), 2);
}

}  // namespace
}  // namespace hermod
