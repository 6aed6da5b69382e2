// Issue 11: deliveries stop waiting for the disk; confirms still do. A real
// hermodd whose commits are held back (--test-commit-delay-ms) delivers a
// publish before it is durable; SIGKILLed then, it loses that unconfirmed
// message but no confirmed one, and libhermod's resend after the restart
// delivers it again.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class Received {
 public:
  void Add(std::string payload) {
    std::lock_guard<std::mutex> lock(mu_);
    payloads_.push_back(std::move(payload));
    cv_.notify_all();
  }
  // Waits until `payload` arrived `times` times in all; false at the deadline.
  bool WaitFor(const std::string& payload, size_t times, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return static_cast<size_t>(std::count(payloads_.begin(), payloads_.end(), payload)) >= times;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> payloads_;
};

TEST(Issue11Test, ADeliveryBeforeTheCommitIsResentAfterACrashAndNothingConfirmedIsLost) {
  TempDir dir;
  BrokerProcess::Options slow;
  slow.data_dir = dir.Join("data");
  slow.extra_args = {"--test-commit-delay-ms", "1500"};
  BrokerProcess first(slow);
  ASSERT_TRUE(first.Start().ok());
  const std::string address = first.address();

  std::unique_ptr<Client> publisher = ConnectClient(address);
  std::unique_ptr<Client> consumer = ConnectClient(address);
  ASSERT_TRUE(publisher && consumer);

  // A confirmed message in a queue nobody reads: it must survive the crash.
  PublishResult kept = publisher->Publish("kept", "confirmed").get();
  ASSERT_TRUE(kept.status.ok()) << kept.status.ToString();

  Received received;
  Client* c = consumer.get();
  auto sub = consumer->Subscribe("live", SubscribeOptions{.credit = 10}, [&, c](const Delivery& d) {
    received.Add(d.payload);
    (void)c->Ack(d.subscription, d.seq);
  });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();

  std::future<PublishResult> unconfirmed = publisher->Publish("live", "early");
  // Delivered while its batch waits 1.5 s to commit: before the confirm.
  ASSERT_TRUE(received.WaitFor("early", 1, milliseconds(1200)))
      << "the delivery waited for the commit";
  EXPECT_EQ(unconfirmed.wait_for(milliseconds(0)), std::future_status::timeout)
      << "confirmed before the commit could have finished";

  first.Kill(SIGKILL);
  ASSERT_TRUE(first.Wait(seconds(10)).ok());
  BrokerProcess::Options again;
  again.data_dir = dir.Join("data");
  again.listen = address;
  BrokerProcess second(again);
  ASSERT_TRUE(second.Start().ok());

  // libhermod resends the unconfirmed publish after reconnecting; it is
  // stored now, and delivered again.
  ASSERT_EQ(unconfirmed.wait_for(seconds(20)), std::future_status::ready);
  PublishResult result = unconfirmed.get();
  EXPECT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_TRUE(received.WaitFor("early", 2, seconds(20)))
      << "the resent message was not delivered again";

  // The confirmed one is there.
  Received kept_received;
  Client* k = publisher.get();
  auto kept_sub =
      publisher->Subscribe("kept", SubscribeOptions{.credit = 10}, [&, k](const Delivery& d) {
        kept_received.Add(d.payload);
        (void)k->Ack(d.subscription, d.seq);
      });
  ASSERT_TRUE(kept_sub.ok()) << kept_sub.status().ToString();
  EXPECT_TRUE(kept_received.WaitFor("confirmed", 1, seconds(10)));
}

TEST(Issue11Test, DeliverAfterCommitWaitsForTheCommit) {
  TempDir dir;
  BrokerProcess::Options options;
  options.data_dir = dir.Join("data");
  options.extra_args = {"--test-commit-delay-ms", "1000", "--deliver-after-commit"};
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start().ok());
  std::unique_ptr<Client> client = ConnectClient(broker.address());
  ASSERT_TRUE(client);
  Received received;
  Client* c = client.get();
  auto sub = client->Subscribe("q", SubscribeOptions{.credit = 10}, [&, c](const Delivery& d) {
    received.Add(d.payload);
    (void)c->Ack(d.subscription, d.seq);
  });
  ASSERT_TRUE(sub.ok());
  std::future<PublishResult> published = client->Publish("q", "m");
  // Not before the commit (1 s)...
  EXPECT_FALSE(received.WaitFor("m", 1, milliseconds(700))) << "delivered before durable";
  // ...and once it is.
  EXPECT_TRUE(received.WaitFor("m", 1, seconds(10)));
  EXPECT_TRUE(published.get().status.ok());
}

}  // namespace
}  // namespace hermod::test
