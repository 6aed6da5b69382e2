// EtcdClient and LeaseKeeper against a real etcd 3.4: one etcd for the
// suite (EtcdProcess), one net::Loop per test that runs only while a test
// waits for a condition, always with a deadline.
#include "cluster/etcd_client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/lease_keeper.h"
#include "etcd_process.h"
#include "loop_harness.h"
#include "net/loop.h"
#include "net/timer.h"
#include "temp_dir.h"

namespace hermod::cluster {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::EtcdProcess;
using test::TempDir;

std::string DeadEndpoint() {
  return "http://127.0.0.1:" + std::to_string(test::UnusedLoopbackPort());
}

// What each test needs: a loop, clients on it, and ways to wait.
// Collects what a watch delivers.
struct WatchLog {
  std::vector<WatchEvent> events;
  std::optional<EtcdClient::WatchEnd> end;

  EtcdClient::WatchCallbacks Callbacks() {
    return {[this](const std::vector<WatchEvent>& batch, int64_t) {
              events.insert(events.end(), batch.begin(), batch.end());
            },
            [this](const EtcdClient::WatchEnd& e) { end = e; }};
  }
};

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    etcd_ = new EtcdProcess(dir_->path());
    const Status s = etcd_->Start();
    if (!s.ok()) ADD_FAILURE() << "etcd did not start: " << s.ToString();
  }
  static void TearDownTestSuite() {
    etcd_->Stop();
    delete etcd_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(etcd_->running()); }

  // A key of this test's own, so that tests sharing the etcd never meet.
  static std::string Key(const std::string& name) {
    return "/t/" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
           "/" + name;
  }

  static TempDir* dir_;
  static EtcdProcess* etcd_;
  LoopHarness h_;
};

TempDir* EtcdClientTest::dir_ = nullptr;
EtcdProcess* EtcdClientTest::etcd_ = nullptr;

TEST_F(EtcdClientTest, PutAndGetRoundTripBinaryKeysAndValues) {
  EtcdClient& etcd = h_.NewClient({etcd_->client_url()});
  std::string value;
  for (int b = 0; b < 256; ++b) value.push_back(static_cast<char>(b));
  const std::string key = Key(std::string("bin\0\xff", 5));

  Result<int64_t> first = h_.Put(etcd, key, value);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<int64_t> second = h_.Put(etcd, key, value + "!");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT(*second, *first);

  Result<RangeResult> got = h_.Get(etcd, key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].key, key);
  EXPECT_EQ(got->kvs[0].value, value + "!");
  EXPECT_EQ(got->kvs[0].create_revision, *first);
  EXPECT_EQ(got->kvs[0].mod_revision, *second);
  EXPECT_EQ(got->kvs[0].version, 2);
  EXPECT_EQ(got->kvs[0].lease_id, 0);
  EXPECT_GE(got->revision, *second);

  Result<RangeResult> missing = h_.Get(etcd, Key("missing"));
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->kvs.empty());

  auto deleted =
      h_.Await<Result<DeleteResult>>(etcd, [&](auto cb) { return etcd.Delete(key, cb); });
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->deleted, 1);
  EXPECT_TRUE(h_.Get(etcd, key)->kvs.empty());
}

TEST_F(EtcdClientTest, GetPrefixReturnsOnlyKeysUnderThePrefixInOrder) {
  EtcdClient& etcd = h_.NewClient({etcd_->client_url()});
  for (const char* name : {"parts/2", "parts/0", "parts/1", "parts", "partsx", "nodes/1"}) {
    ASSERT_TRUE(h_.Put(etcd, Key(name), name).ok());
  }
  auto got = h_.Await<Result<RangeResult>>(
      etcd, [&](auto cb) { return etcd.GetPrefix(Key("parts/"), cb); });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->kvs.size(), 3u);
  EXPECT_EQ(got->kvs[0].value, "parts/0");
  EXPECT_EQ(got->kvs[1].value, "parts/1");
  EXPECT_EQ(got->kvs[2].value, "parts/2");
}

TEST_F(EtcdClientTest, TxnAppliesOnlyWhileModRevisionIsUnchanged) {
  EtcdClient& etcd = h_.NewClient({etcd_->client_url()});
  const std::string key = Key("parts/0");
  Result<int64_t> put = h_.Put(etcd, key, "epoch 1");
  ASSERT_TRUE(put.ok());

  auto change = [&](int64_t expected_mod_revision, const std::string& value) {
    return h_.Await<Result<TxnResult>>(etcd, [&](auto cb) {
      return etcd.Txn({Compare::ModRevision(key, Compare::Result::kEqual, expected_mod_revision)},
                      {TxnOp::Put(key, value)}, {TxnOp::Get(key)}, cb);
    });
  };
  Result<TxnResult> won = change(*put, "epoch 2");
  ASSERT_TRUE(won.ok()) << won.status().ToString();
  EXPECT_TRUE(won->succeeded);
  ASSERT_EQ(won->responses.size(), 1u);
  EXPECT_EQ(won->responses[0].kind, TxnOp::Kind::kPut);

  // The same change again is conditioned on a revision that is gone.
  Result<TxnResult> lost = change(*put, "epoch 2 again");
  ASSERT_TRUE(lost.ok()) << lost.status().ToString();
  EXPECT_FALSE(lost->succeeded);
  ASSERT_EQ(lost->responses.size(), 1u);
  ASSERT_EQ(lost->responses[0].kvs.size(), 1u);
  EXPECT_EQ(lost->responses[0].kvs[0].value, "epoch 2");
  EXPECT_EQ(lost->responses[0].kvs[0].mod_revision, won->revision);
}

TEST_F(EtcdClientTest, OfTwoControllersRacingForTheKeyExactlyOneWins) {
  const std::string key = Key("controller");
  struct Node {
    EtcdClient* etcd;
    std::string name;
    Lease lease;
    std::optional<Result<TxnResult>> outcome;
  };
  std::vector<Node> nodes = {{&h_.NewClient({etcd_->client_url()}), "node-a", {}, {}},
                             {&h_.NewClient({etcd_->client_url()}), "node-b", {}, {}}};
  for (Node& node : nodes) {
    Result<Lease> lease = h_.Grant(*node.etcd, 5);
    ASSERT_TRUE(lease.ok()) << lease.status().ToString();
    node.lease = *lease;
  }
  // Both transactions are in flight at once: put `controller` if it does
  // not exist (create_revision == 0), else read who holds it.
  for (Node& node : nodes) {
    node.etcd->Txn({Compare::CreateRevision(key, Compare::Result::kEqual, 0)},
                   {TxnOp::Put(key, node.name, node.lease.lease_id)}, {TxnOp::Get(key)},
                   [&node](Result<TxnResult> r) { node.outcome.emplace(std::move(r)); });
  }
  ASSERT_TRUE(h_.RunUntil([&] { return nodes[0].outcome && nodes[1].outcome; }));
  ASSERT_TRUE(nodes[0].outcome->ok() && nodes[1].outcome->ok());
  const int winners = (*nodes[0].outcome)->succeeded + (*nodes[1].outcome)->succeeded;
  ASSERT_EQ(winners, 1);
  const Node& winner = (*nodes[0].outcome)->succeeded ? nodes[0] : nodes[1];
  const Node& loser = (*nodes[0].outcome)->succeeded ? nodes[1] : nodes[0];
  const TxnResult& lost = **loser.outcome;
  ASSERT_EQ(lost.responses.size(), 1u);
  ASSERT_EQ(lost.responses[0].kvs.size(), 1u);
  EXPECT_EQ(lost.responses[0].kvs[0].value, winner.name);
  EXPECT_EQ(lost.responses[0].kvs[0].lease_id, winner.lease.lease_id);
}

TEST_F(EtcdClientTest, KeepAliveHoldsALeasePastItsTtlAndTheKeyGoesWhenItStops) {
  EtcdClient& etcd = h_.NewClient({etcd_->client_url()});
  const std::string key = Key("nodes/1");
  Result<Lease> lease = h_.Grant(etcd, 1);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_EQ(lease->ttl_s, 1);  // EtcdProcess's etcd allows a 1 s TTL
  LeaseKeeper& keeper = h_.NewKeeper(etcd);
  std::optional<Status> lost;
  keeper.Start(*lease, [&lost](Status s) { lost = std::move(s); });
  Result<int64_t> put = h_.Put(etcd, key, "127.0.0.1:7400", lease->lease_id);
  ASSERT_TRUE(put.ok()) << put.status().ToString();

  WatchLog log;
  etcd.WatchPrefix(key, *put, false, log.Callbacks());

  // Over two TTLs pass: only the keeper's refreshes keep the key.
  EXPECT_FALSE(h_.RunUntil([&] { return lost.has_value() || log.end.has_value(); }, 2200ms));
  ASSERT_FALSE(lost.has_value()) << lost->ToString();
  EXPECT_GE(keeper.refreshes(), 5u);
  Result<RangeResult> held = h_.Get(etcd, key);
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->kvs.size(), 1u);
  EXPECT_EQ(held->kvs[0].lease_id, lease->lease_id);

  // Without refreshes, etcd expires the lease and deletes the key.
  keeper.Stop();
  ASSERT_TRUE(h_.RunUntil([&] { return log.events.size() >= 2 || log.end.has_value(); }, 5s));
  ASSERT_FALSE(log.end.has_value()) << log.end->status.ToString();
  ASSERT_EQ(log.events.size(), 2u);
  EXPECT_EQ(log.events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(log.events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(log.events[1].kv.key, key);
  EXPECT_TRUE(h_.Get(etcd, key)->kvs.empty());
}

TEST_F(EtcdClientTest, RevokeDeletesTheKeyAndTheKeeperReportsTheLoss) {
  EtcdClient& etcd = h_.NewClient({etcd_->client_url()});
  const std::string key = Key("controller");
  Result<Lease> lease = h_.Grant(etcd, 2);
  ASSERT_TRUE(lease.ok());
  LeaseKeeper& keeper = h_.NewKeeper(etcd);
  std::optional<Status> lost;
  keeper.Start(*lease, [&lost](Status s) { lost = std::move(s); });
  Result<int64_t> put = h_.Put(etcd, key, "node-a", lease->lease_id);
  ASSERT_TRUE(put.ok());
  WatchLog log;
  etcd.WatchPrefix(key, *put, false, log.Callbacks());

  // Revoked from elsewhere (an operator, or the controller fencing a node).
  EtcdClient& other = h_.NewClient({etcd_->client_url()});
  Status revoked =
      h_.Await<Status>(other, [&](auto cb) { return other.RevokeLease(lease->lease_id, cb); });
  ASSERT_TRUE(revoked.ok()) << revoked.ToString();

  ASSERT_TRUE(h_.RunUntil([&] { return log.events.size() >= 2 && lost.has_value(); }, 3s));
  EXPECT_EQ(log.events[1].type, WatchEvent::Type::kDelete);
  EXPECT_TRUE(lost->IsNotFound()) << lost->ToString();
  EXPECT_FALSE(keeper.running());
  Status again =
      h_.Await<Status>(other, [&](auto cb) { return other.RevokeLease(lease->lease_id, cb); });
  EXPECT_TRUE(again.IsNotFound()) << again.ToString();
}

TEST_F(EtcdClientTest, WatchFromARevisionSeesEarlierAndLaterPutsInOrder) {
  EtcdClient& etcd = h_.NewClient({etcd_->client_url()});
  const std::string prefix = Key("parts/");
  Result<int64_t> first = h_.Put(etcd, prefix + "0", "a");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(h_.Put(etcd, prefix + "1", "b").ok());
  ASSERT_TRUE(h_.Put(etcd, Key("elsewhere"), "not watched").ok());

  WatchLog log;
  etcd.WatchPrefix(prefix, *first, /*prev_kv=*/true, log.Callbacks());
  ASSERT_TRUE(h_.RunUntil([&] { return log.events.size() >= 2; }));
  ASSERT_TRUE(h_.Put(etcd, prefix + "0", "c").ok());
  ASSERT_TRUE(h_.Put(etcd, prefix + "2", "d").ok());
  ASSERT_TRUE(h_.RunUntil([&] { return log.events.size() >= 4; }));
  EXPECT_FALSE(log.end.has_value());

  const std::vector<std::string> values = {"a", "b", "c", "d"};
  ASSERT_EQ(log.events.size(), 4u);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(log.events[i].type, WatchEvent::Type::kPut);
    EXPECT_EQ(log.events[i].kv.value, values[i]) << i;
    if (i > 0) {
      EXPECT_GT(log.events[i].kv.mod_revision, log.events[i - 1].kv.mod_revision);
    }
  }
  EXPECT_EQ(log.events[0].kv.mod_revision, *first);
  ASSERT_TRUE(log.events[2].prev_kv.has_value());  // "c" replaced "a"
  EXPECT_EQ(log.events[2].prev_kv->value, "a");
  EXPECT_FALSE(log.events[3].prev_kv.has_value());  // "d" is a new key
}

TEST_F(EtcdClientTest, AStoppedEtcdGivesTimelyErrorsNotAHang) {
  EtcdClient& etcd = h_.NewClient({etcd_->client_url()}, 300ms);
  Result<Lease> lease = h_.Grant(etcd, 1);
  ASSERT_TRUE(lease.ok());
  LeaseKeeper& keeper = h_.NewKeeper(etcd);
  std::optional<Status> lost;
  keeper.Start(*lease, [&lost](Status s) { lost = std::move(s); });

  etcd_->Signal(SIGSTOP);  // it still accepts connections; it answers nothing
  const Clock::time_point start = Clock::now();
  Result<RangeResult> got = h_.Get(etcd, Key("anything"));
  const auto took = Clock::now() - start;
  // The keeper cannot refresh either: within its TTL it says so.
  const bool reported = h_.RunUntil([&] { return lost.has_value(); }, 3s);
  etcd_->Signal(SIGCONT);

  EXPECT_TRUE(got.status().IsTimeout()) << got.status().ToString();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1500ms);
  ASSERT_TRUE(reported);
  EXPECT_TRUE(lost->IsTimeout()) << lost->ToString();

  // Once it runs again, so do calls.
  EXPECT_TRUE(h_.Get(etcd, Key("anything")).ok());
}

TEST_F(EtcdClientTest, NoEtcdAtAllIsUnavailableAtOnce) {
  EtcdClient& etcd = h_.NewClient({DeadEndpoint(), DeadEndpoint()});
  const Clock::time_point start = Clock::now();
  Result<int64_t> put = h_.Put(etcd, Key("k"), "v");
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_TRUE(put.status().IsUnavailable()) << put.status().ToString();
  EXPECT_NE(put.status().message().find("tried 2 of 2"), std::string::npos);
}

TEST_F(EtcdClientTest, ASecondEndpointIsUsedWhenTheFirstIsDown) {
  const std::string dead = DeadEndpoint();
  EtcdClient& etcd = h_.NewClient({dead, etcd_->client_url()});
  EXPECT_EQ(etcd.current_endpoint(), dead);
  Result<int64_t> put = h_.Put(etcd, Key("k"), "v");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  // The endpoint that answered is where later calls go first.
  EXPECT_EQ(etcd.current_endpoint(), etcd_->client_url());
  Result<RangeResult> got = h_.Get(etcd, Key("k"));
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "v");
}

// Last: it compacts the shared etcd's history up to now.
TEST_F(EtcdClientTest, WatchFromACompactedRevisionEndsWithNotFound) {
  EtcdClient& etcd = h_.NewClient({etcd_->client_url()});
  Result<int64_t> old = h_.Put(etcd, Key("k"), "1");
  ASSERT_TRUE(old.ok());
  Result<int64_t> now = h_.Put(etcd, Key("k"), "2");
  ASSERT_TRUE(now.ok());
  ASSERT_TRUE(etcd_
                  ->Post("/v3/kv/compaction",
                         R"({"revision":")" + std::to_string(*now) + R"(","physical":true})")
                  .ok());

  WatchLog log;
  etcd.WatchPrefix(Key("k"), *old, false, log.Callbacks());
  ASSERT_TRUE(h_.RunUntil([&] { return log.end.has_value(); }));
  EXPECT_TRUE(log.events.empty());
  EXPECT_TRUE(log.end->status.IsNotFound()) << log.end->status.ToString();
  EXPECT_EQ(log.end->compact_revision, *now);
  EXPECT_EQ(log.end->next_revision, *old);
}

// A watch on an etcd that dies ends, with the revision to resume from.
TEST(EtcdWatchTest, AWatchEndsWhenEtcdDies) {
  TempDir dir;
  EtcdProcess etcd_process(dir.path());
  ASSERT_TRUE(etcd_process.Start().ok());
  LoopHarness h;
  EtcdClient& etcd = h.NewClient({etcd_process.client_url()});
  Result<int64_t> put = h.Put(etcd, "/k", "v");
  ASSERT_TRUE(put.ok());
  WatchLog log;
  etcd.WatchPrefix("/k", *put, false, log.Callbacks());
  ASSERT_TRUE(h.RunUntil([&] { return log.events.size() == 1; }));

  etcd_process.Signal(SIGKILL);
  ASSERT_TRUE(h.RunUntil([&] { return log.end.has_value(); }));
  EXPECT_TRUE(log.end->status.IsUnavailable()) << log.end->status.ToString();
  EXPECT_EQ(log.end->next_revision, *put + 1);
  etcd_process.Stop();
}

}  // namespace
}  // namespace hermod::cluster
