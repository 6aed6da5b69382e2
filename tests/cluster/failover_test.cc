// A three-node cluster of real hermodd processes on one etcd: publishes are
// confirmed only once replicated, a SIGKILLed leader's partitions move to
// an in-sync follower within seconds, and every confirmed message is
// delivered by the new leaders; a SIGSTOPped leader that is resumed after
// its partitions moved confirms nothing, and its write never appears.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "etcd_process.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "hermod/partition.h"
#include "raw_frames.h"
#include "raw_socket.h"
#include "run_command.h"
#include "scripted_broker.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr uint32_t kPartitions = 4;
constexpr int kNodes = 3;
// Leaders SIGKILLed, one after another, while publishers run.
constexpr int kKillsUnderLoad = 10;

class FailoverTest : public ::testing::Test {
 protected:
  // Arguments every node gets besides the fixture's own.
  virtual std::vector<std::string> NodeArgs() { return {}; }

  void SetUp() override {
    ::mkdir(dir_.Join("etcd").c_str(), 0755);
    etcd_ = std::make_unique<test::EtcdProcess>(dir_.Join("etcd"));
    ASSERT_TRUE(etcd_->Start().ok());
    test::CommandResult init =
        Cli({"cluster", "init", "--partitions", std::to_string(kPartitions)});
    ASSERT_EQ(init.exit.code, 0) << init.err;
    for (int i = 1; i <= kNodes; ++i) {
      std::string id = "n" + std::to_string(i);
      test::BrokerProcess::Options options;
      options.data_dir = dir_.Join(id);
      options.stderr_path = dir_.Join(id + ".log");
      options.extra_args = {"--cluster-etcd",
                            etcd_->client_url(),
                            "--node-id",
                            id,
                            "--peer-listen",
                            "127.0.0.1:" + std::to_string(test::UnusedLoopbackPort()),
                            "--cluster-lease-ttl-s",
                            "1",
                            "--cluster-replica-lag-ms",
                            "500",
                            "--http-listen",
                            "127.0.0.1:0"};
      for (const std::string& arg : NodeArgs()) options.extra_args.push_back(arg);
      nodes_[id] = std::make_unique<test::BrokerProcess>(options);
      ASSERT_TRUE(nodes_[id]->Start().ok()) << id;
    }
    ASSERT_TRUE(WaitForFullIsr(30s)) << DumpLogs();
  }

  void TearDown() override {
    for (auto& [id, node] : nodes_) {
      node->Kill(SIGCONT);
      node->Stop();
    }
    etcd_->Stop();
  }

  test::CommandResult Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {HERMOD_CLI_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--etcd", etcd_->client_url()});
    Result<test::CommandResult> r = test::RunCommand(argv);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : test::CommandResult{};
  }

  json Status() {
    test::CommandResult r = Cli({"cluster", "status", "--json"});
    if (r.exit.code != 0) return json();
    return json::parse(r.out, nullptr, false);
  }

  // Every partition led, its ISR every replica.
  bool WaitForFullIsr(std::chrono::milliseconds timeout) {
    return WaitUntil(timeout, [&] {
      json j = Status();
      if (!j.is_object() || j["nodes"].size() != kNodes) return false;
      for (const json& p : j["partitions"]) {
        if (p["leader"] == "" || p["isr"].size() != kNodes) return false;
      }
      return true;
    });
  }

  // Every partition led by `node`.
  bool WaitForAllLedBy(const std::string& node, std::chrono::milliseconds timeout) {
    return WaitUntil(timeout, [&] {
      json j = Status();
      if (!j.is_object()) return false;
      for (const json& p : j["partitions"]) {
        if (p["leader"] != node) return false;
      }
      return true;
    });
  }

  template <typename Pred>
  static bool WaitUntil(std::chrono::milliseconds timeout, Pred pred) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);  // polling another process's state
    }
    return pred();
  }

  // The leader of `partition` as etcd says, and its client address.
  std::pair<std::string, std::string> Leader(uint32_t partition) {
    json j = Status();
    if (!j.is_object()) return {};
    std::string leader = j["partitions"][partition]["leader"];
    for (const json& n : j["nodes"]) {
      if (n["id"] == leader) return {leader, n["client_address"]};
    }
    return {leader, ""};
  }

  // The epoch of partition p in the map the node at `address` serves
  // (MapRequest); 0 when it does not answer.
  static uint64_t ServedEpoch(const std::string& address, uint32_t p) {
    Result<std::unique_ptr<test::RawSocket>> socket = test::RawSocket::Connect(address);
    if (!socket.ok()) return 0;
    test::ScriptedBroker node(std::move(*socket));
    if (!node.socket().Write(test::HelloFrame()).ok()) return 0;
    if (node.Read(2s).type() != wire::Body::Welcome) return 0;
    proto::FrameEncoder encoder;
    auto& fbb = encoder.Start();
    if (!node.socket().Write(test::AsString(encoder.Finish(wire::CreateMapRequest(fbb, 1)))).ok()) {
      return 0;
    }
    test::OwnedFrame reply = node.Read(2s);
    if (reply.type() != wire::Body::MapReply) return 0;
    const auto* routes = reply.frame->body_as_MapReply()->routes();
    return routes != nullptr && p < routes->size() ? routes->Get(p)->epoch() : 0;
  }

  // A client that reconnects (the default), as an application's does: in a
  // cluster it routes by the partition map and follows the leaders.
  std::unique_ptr<Client> ConnectTo(const std::string& address) {
    ClientOptions options;
    options.server = address;
    Result<std::unique_ptr<Client>> c = Client::Connect(options);
    if (!c.ok()) return nullptr;
    return std::move(*c);
  }

  // A queue name of the given partition.
  static std::string QueueIn(uint32_t partition, int n) {
    for (int i = 0;; ++i) {
      std::string name = "q" + std::to_string(n) + "-" + std::to_string(i);
      if (PartitionOf(name, kPartitions) == partition) return name;
    }
  }

  // Publishes to the partition's current leader until one is confirmed;
  // returns how long after `since` that was, or -1 when none was within
  // `timeout`.
  double PublishUntilConfirmed(const std::string& queue, const std::string& payload,
                               std::chrono::milliseconds timeout,
                               Clock::time_point since = Clock::now()) {
    bool done = WaitUntil(timeout, [&] {
      auto [leader, address] = Leader(PartitionOf(queue, kPartitions));
      if (address.empty()) return false;
      std::unique_ptr<Client> c = ConnectTo(address);
      if (!c) return false;
      std::future<PublishResult> f = c->Publish(queue, payload);
      if (f.wait_for(5s) != std::future_status::ready) return false;
      return f.get().status.ok();
    });
    if (!done) return -1;
    return std::chrono::duration<double>(Clock::now() - since).count();
  }

  // Drains `queue` at its leader until every payload of `want` arrived (or
  // `timeout`); returns every payload delivered, acking each.
  std::multiset<std::string> Drain(const std::string& queue, const std::set<std::string>& want,
                                   std::chrono::milliseconds timeout) {
    std::multiset<std::string> got;
    auto [leader, address] = Leader(PartitionOf(queue, kPartitions));
    std::unique_ptr<Client> c = ConnectTo(address);
    if (!c) return got;
    std::mutex mu;
    Client* client = c.get();
    Result<SubscriptionId> sub = c->Subscribe(queue, SubscribeOptions{}, [&](const Delivery& d) {
      std::lock_guard<std::mutex> lock(mu);
      got.insert(d.payload);
      (void)client->Ack(d.subscription, d.seq);
    });
    if (!sub.ok()) return got;
    WaitUntil(timeout, [&] {
      std::lock_guard<std::mutex> lock(mu);
      return std::all_of(want.begin(), want.end(),
                         [&](const std::string& p) { return got.count(p) > 0; });
    });
    c->Close();
    return got;
  }

  // Drains every queue of `confirmed` and counts what came back: each
  // confirmed payload missing is a test failure (the first five named).
  struct Tally {
    size_t confirmed = 0, lost = 0, duplicates = 0;
  };
  Tally CheckDelivered(const std::map<std::string, std::set<std::string>>& confirmed,
                       std::chrono::milliseconds timeout) {
    Tally t;
    for (const auto& [queue, want] : confirmed) {
      std::multiset<std::string> got = Drain(queue, want, timeout);
      for (const std::string& payload : want) {
        ++t.confirmed;
        size_t n = got.count(payload);
        if (n == 0) {
          if (++t.lost <= 5) ADD_FAILURE() << "confirmed " << payload << " was not delivered";
        } else {
          t.duplicates += n - 1;
        }
      }
    }
    return t;
  }

  // The sum of a statistic over the nodes that answer.
  double SumStat(const std::string& name) {
    json j = Status();
    double sum = 0;
    for (const json& n : j.is_object() ? j["nodes"] : json::array()) {
      std::unique_ptr<Client> c = ConnectTo(n["client_address"]);
      if (!c) continue;
      Result<std::vector<ServerStat>> stats = c->Stats();
      if (!stats.ok()) continue;
      for (const ServerStat& s : *stats) {
        if (s.name == name) sum += s.value;
      }
    }
    return sum;
  }

  std::string DumpLogs() {
    std::string out;
    for (auto& [id, node] : nodes_) {
      FILE* f = std::fopen(dir_.Join(id + ".log").c_str(), "r");
      if (f == nullptr) continue;
      out += "---- " + id + "\n";
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      std::fclose(f);
    }
    return out;
  }

  test::TempDir dir_;
  std::unique_ptr<test::EtcdProcess> etcd_;
  std::map<std::string, std::unique_ptr<test::BrokerProcess>> nodes_;
};

TEST_F(FailoverTest, ConfirmedMessagesSurviveKilledLeaders) {
  // Two queues per partition, 20 confirmed messages each.
  std::map<std::string, std::set<std::string>> confirmed;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto [leader, address] = Leader(p);
    std::unique_ptr<Client> c = ConnectTo(address);
    ASSERT_TRUE(c) << address;
    for (int n = 0; n < 2; ++n) {
      std::string queue = QueueIn(p, n);
      std::vector<std::pair<std::string, std::future<PublishResult>>> futures;
      for (int i = 0; i < 20; ++i) {
        std::string payload = queue + "/" + std::to_string(i);
        futures.emplace_back(payload, c->Publish(queue, payload));
      }
      for (auto& [payload, f] : futures) {
        ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
        PublishResult r = f.get();
        ASSERT_TRUE(r.status.ok()) << r.status.ToString();
        confirmed[queue].insert(payload);
      }
    }
  }

  // Two rounds: SIGKILL the leader of partition `round`, measure until each
  // of its partitions confirms again, restart it, wait until it is back in
  // every ISR.
  std::vector<double> failover_s;
  for (uint32_t round = 0; round < 2; ++round) {
    json before = Status();
    std::string victim = before["partitions"][round]["leader"];
    std::vector<uint32_t> led;
    for (uint32_t p = 0; p < kPartitions; ++p) {
      if (before["partitions"][p]["leader"] == victim) led.push_back(p);
    }
    nodes_[victim]->Kill(SIGKILL);
    const Clock::time_point killed = Clock::now();
    for (uint32_t p : led) {
      std::string queue = QueueIn(p, 0);
      std::string payload = queue + "/after-kill-" + std::to_string(round);
      double took = PublishUntilConfirmed(queue, payload, 20s, killed);
      ASSERT_GE(took, 0) << "partition " << p << " never confirmed again\n" << DumpLogs();
      std::printf("partition %u: leader %s killed; %s confirms %.2f s later\n", p, victim.c_str(),
                  Leader(p).first.c_str(), took);
      failover_s.push_back(took);
      confirmed[queue].insert(payload);
    }
    nodes_[victim]->Stop();
    ASSERT_TRUE(nodes_[victim]->Restart().ok());
    ASSERT_TRUE(WaitForFullIsr(30s)) << DumpLogs();
  }

  const Tally t = CheckDelivered(confirmed, 15s);
  std::sort(failover_s.begin(), failover_s.end());
  std::printf("failover: %zu partitions moved; SIGKILL -> first confirm: min %.2f s, max %.2f s\n",
              failover_s.size(), failover_s.front(), failover_s.back());
  std::printf("confirmed %zu, lost %zu, duplicates %zu\n", t.confirmed, t.lost, t.duplicates);
  EXPECT_EQ(t.lost, 0u);
}

// Publishers with confirms run on every partition throughout while ten
// leaders are SIGKILLed one after another (each restarted before the
// next). Every confirmed message is delivered afterwards.
TEST_F(FailoverTest, ConfirmedMessagesSurviveKillsUnderLoad) {
  std::mutex mu;
  std::map<uint32_t, std::string> leaders;  // partition -> client address
  std::map<std::string, std::set<std::string>> confirmed;
  size_t refused = 0;
  auto refresh = [&] {
    json j = Status();
    if (!j.is_object()) return;
    std::map<std::string, std::string> address;
    for (const json& n : j["nodes"]) address[n["id"]] = n["client_address"];
    std::lock_guard<std::mutex> lock(mu);
    for (uint32_t p = 0; p < kPartitions; ++p) {
      leaders[p] = address[j["partitions"][p]["leader"].get<std::string>()];
    }
  };
  refresh();
  std::atomic<bool> stop{false};
  const auto deadline = Clock::now() + 60s;  // a bound on the whole load
  std::vector<std::thread> publishers;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    publishers.emplace_back([&, p] {
      const std::string queue = QueueIn(p, 3);
      std::unique_ptr<Client> client;
      std::string connected_to;
      uint64_t n = 0;
      while (!stop && Clock::now() < deadline) {
        std::string address;
        {
          std::lock_guard<std::mutex> lock(mu);
          address = leaders[p];
        }
        if (!client || address != connected_to) {
          client = address.empty() ? nullptr : ConnectTo(address);
          connected_to = address;
          if (!client) {
            std::this_thread::sleep_for(50ms);  // the map moves on meanwhile
            continue;
          }
        }
        std::vector<std::pair<std::string, std::future<PublishResult>>> window;
        for (int i = 0; i < 20; ++i) {
          std::string payload = queue + "/" + std::to_string(n++);
          window.emplace_back(payload, client->Publish(queue, payload));
        }
        bool failed = false;
        for (auto& [payload, f] : window) {
          if (f.wait_for(5s) != std::future_status::ready) {
            failed = true;
            continue;
          }
          PublishResult r = f.get();
          std::lock_guard<std::mutex> lock(mu);
          if (r.status.ok()) {
            confirmed[queue].insert(payload);
          } else {
            ++refused;
            failed = true;
          }
        }
        if (failed) client.reset();
      }
    });
  }
  auto run_for = [&](std::chrono::milliseconds how_long) {
    const auto until = Clock::now() + how_long;
    while (Clock::now() < until) {
      refresh();
      std::this_thread::sleep_for(50ms);
    }
  };
  auto count_confirmed = [&] {
    std::lock_guard<std::mutex> lock(mu);
    size_t n = 0;
    for (auto& [q, set] : confirmed) n += set.size();
    return n;
  };
  // Kill the leader of a busy partition, let the load go on through the
  // failover, restart the victim and wait until it is back in every ISR (a
  // leader killed with batches its followers never got comes back with a
  // diverged copy of those partitions: it rebuilds them from the new
  // leaders' snapshots first).
  run_for(1500ms);
  const size_t before_kills = count_confirmed();
  size_t rejoined = 0;
  std::vector<std::string> victims;
  for (int k = 0; k < kKillsUnderLoad; ++k) {
    json j = Status();
    std::string victim = j["partitions"][k % kPartitions]["leader"];
    if (victim.empty()) continue;
    victims.push_back(victim);
    nodes_[victim]->Kill(SIGKILL);
    run_for(2500ms);
    nodes_[victim]->Stop();
    ASSERT_TRUE(nodes_[victim]->Restart().ok());
    const auto until = Clock::now() + 20s;
    bool full = false;
    while (!full && Clock::now() < until) {
      refresh();
      json now = Status();
      full = now.is_object();
      for (const json& p : full ? now["partitions"] : json::array()) {
        full = full && p["isr"].size() == kNodes;
      }
      std::this_thread::sleep_for(50ms);
    }
    rejoined += full ? 1 : 0;
  }
  run_for(1000ms);
  stop = true;
  for (std::thread& t : publishers) t.join();
  std::string killed;
  for (const std::string& v : victims) killed += v + " ";
  const double rebuilds = SumStat("cluster_rebuilds_finished_total");

  const Tally t = CheckDelivered(confirmed, 20s);
  std::printf(
      "under load: %zu leaders SIGKILLed (%s), %zu back in every ISR (%.0f partition copies "
      "rebuilt from snapshots since the last restarts); %zu confirmed (%zu before the first "
      "kill), %zu refused, %zu lost, %zu duplicates\n",
      victims.size(), killed.c_str(), rejoined, rebuilds, t.confirmed, before_kills, refused,
      t.lost, t.duplicates);
  EXPECT_EQ(rejoined, victims.size()) << "a restarted leader did not get back into every ISR";
  EXPECT_GT(before_kills, 0u);
  EXPECT_GT(t.confirmed, before_kills);  // publishing went on through the kills
  EXPECT_EQ(t.lost, 0u);
}

// A node restarted with an empty data directory (a new disk) comes back as
// a new incarnation: it leaves every ISR, catches up from its leaders'
// windows of recent parts, and is put back; then, with the two other nodes
// dead, it leads every partition and delivers every confirmed message.
TEST_F(FailoverTest, AWipedNodeCatchesUpAndCanLeadWithEverything) {
  std::map<std::string, std::set<std::string>> confirmed;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::unique_ptr<Client> c = ConnectTo(Leader(p).second);
    ASSERT_TRUE(c);
    std::string queue = QueueIn(p, 5);
    for (int i = 0; i < 20; ++i) {
      std::string payload = queue + "/" + std::to_string(i);
      PublishResult r = c->Publish(queue, payload).get();
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      confirmed[queue].insert(payload);
    }
  }
  const std::string wiped = "n3";
  nodes_[wiped]->Stop();
  std::filesystem::remove_all(dir_.Join(wiped));
  ASSERT_TRUE(nodes_[wiped]->Start().ok());
  std::string incarnation;
  ASSERT_TRUE(WaitUntil(30s, [&] {
    json j = Status();
    if (!j.is_object()) return false;
    for (const json& n : j["nodes"]) {
      if (n["id"] == wiped) incarnation = n["incarnation"];
    }
    return !incarnation.empty();
  }));
  ASSERT_TRUE(WaitForFullIsr(30s)) << DumpLogs();
  // The others die: it is the only replica left, and in every ISR.
  for (const std::string other : {"n1", "n2"}) nodes_[other]->Kill(SIGKILL);
  ASSERT_TRUE(WaitForAllLedBy(wiped, 30s)) << DumpLogs();
  const Tally t = CheckDelivered(confirmed, 15s);
  std::printf("wiped node: %zu confirmed, %zu missing after it caught up and took over\n",
              t.confirmed, t.lost);
  EXPECT_EQ(t.lost, 0u);
  for (const std::string other : {"n1", "n2"}) nodes_[other]->Stop();
}

// Leaders that keep only 1 MiB of recent parts: a follower that needs
// older ones must be sent its partitions whole (a rebuild).
class SmallWindowFailoverTest : public FailoverTest {
 protected:
  std::vector<std::string> NodeArgs() override { return {"--cluster-replica-window-mib", "1"}; }
};

// A wiped node whose leaders no longer hold the parts it lacks rebuilds
// each partition from a snapshot: queues with their entries, settings and
// groups with a fan-out. Then, alone, it leads and delivers everything.
TEST_F(SmallWindowFailoverTest, AWipedNodeBehindTheWindowRebuildsFromSnapshots) {
  std::map<std::string, std::set<std::string>> confirmed;
  const std::string big(40 << 10, 'x');  // 40 KiB: 50 of them outgrow the window
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::unique_ptr<Client> c = ConnectTo(Leader(p).second);
    ASSERT_TRUE(c);
    std::string queue = QueueIn(p, 6);
    for (int i = 0; i < 50; ++i) {
      std::string payload = queue + "/" + std::to_string(i) + "/" + big;
      PublishResult r = c->Publish(queue, payload).get();
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      confirmed[queue].insert(payload);
    }
    // A group of this partition with two members, and one group publish.
    std::string group = QueueIn(p, 7);
    std::vector<std::string> members = {QueueIn(p, 8), QueueIn(p, 9)};
    ASSERT_TRUE(c->CreateGroup(group).ok());
    ASSERT_TRUE(c->AddMembers(group, members).ok());
    PublishResult r = c->PublishToGroup(group, group + "/fan-out").get();
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    for (const std::string& m : members) confirmed[m].insert(group + "/fan-out");
  }
  const std::string wiped = "n3";
  nodes_[wiped]->Stop();
  std::filesystem::remove_all(dir_.Join(wiped));
  ASSERT_TRUE(nodes_[wiped]->Start().ok());
  ASSERT_TRUE(WaitUntil(10s, [&] {
    json j = Status();
    return j.is_object() && j["nodes"].size() == kNodes;
  }));
  ASSERT_TRUE(WaitForFullIsr(60s)) << DumpLogs();
  std::unique_ptr<Client> c = ConnectTo(nodes_[wiped]->address());
  ASSERT_TRUE(c);
  double rebuilt = 0;
  Result<std::vector<ServerStat>> stats = c->Stats();
  ASSERT_TRUE(stats.ok());
  for (const ServerStat& st : *stats) {
    if (st.name == "cluster_rebuilds_finished_total") rebuilt = st.value;
  }
  c.reset();
  // It followed every partition but those it led; at least those behind
  // the window came as snapshots.
  EXPECT_GE(rebuilt, 1) << DumpLogs();
  for (const std::string other : {"n1", "n2"}) nodes_[other]->Kill(SIGKILL);
  ASSERT_TRUE(WaitForAllLedBy(wiped, 30s)) << DumpLogs();
  const Tally t = CheckDelivered(confirmed, 15s);
  std::printf(
      "wiped node behind the window: %.0f partitions rebuilt from snapshots; %zu confirmed, %zu "
      "missing after it took over\n",
      rebuilt, t.confirmed, t.lost);
  EXPECT_EQ(t.lost, 0u);
  for (const std::string other : {"n1", "n2"}) nodes_[other]->Stop();
}

TEST_F(FailoverTest, AResumedStaleLeaderConfirmsNothingAndItsWriteNeverAppears) {
  const uint32_t p = 1;
  const std::string queue = QueueIn(p, 7);
  auto [old_leader, address] = Leader(p);
  // A raw connection rather than libhermod: a routing client would move the
  // publish to the new leader once the stopped one stops answering (with
  // its dedup id) and have it confirmed there, which is right for a client.
  // What is tested here is what the stale node itself does with it.
  Result<std::unique_ptr<test::RawSocket>> socket = test::RawSocket::Connect(address);
  ASSERT_TRUE(socket.ok()) << socket.status().ToString();
  test::ScriptedBroker stale(std::move(*socket));  // reads frames: here the node's
  ASSERT_TRUE(stale.socket().Write(test::HelloFrame()).ok());
  ASSERT_EQ(stale.Read().type(), wire::Body::Welcome);
  nodes_[old_leader]->Kill(SIGSTOP);
  // The publish waits in the stopped leader's socket.
  {
    proto::FrameEncoder encoder;
    auto& fbb = encoder.Start();
    const std::string payload = "stale";
    auto publish = wire::CreatePublish(
        fbb, 1, fbb.CreateString(queue),
        fbb.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
    ASSERT_TRUE(stale.socket().Write(test::AsString(encoder.Finish(publish))).ok());
  }
  ASSERT_TRUE(WaitUntil(20s,
                        [&] {
                          std::string now = Leader(p).first;
                          return !now.empty() && now != old_leader;
                        }))
      << "partition " << p << " never moved away from the stopped leader";
  // Fencing is what the other nodes know: one that has not yet read the
  // new epoch from etcd still follows the old leader, and a write every
  // replica of the old ISR takes is rightly confirmed (the new leader then
  // holds it, so it is not lost). So the old leader resumes only once
  // every other node serves the new epoch.
  const uint64_t epoch = Status()["partitions"][p]["epoch"];
  for (const auto& [id, node] : nodes_) {
    if (id == old_leader) continue;
    ASSERT_TRUE(
        WaitUntil(20s, [&, address = node->address()] { return ServedEpoch(address, p) >= epoch; }))
        << id << " never served epoch " << epoch << " of partition " << p;
  }
  nodes_[old_leader]->Kill(SIGCONT);
  // Resumed, it still thinks it leads until it sees the map: whatever it
  // writes meanwhile goes nowhere, so it must not be confirmed. It may
  // refuse it, close the connection, or say nothing within the wait.
  const Clock::time_point until = Clock::now() + 10s;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) break;
    test::OwnedFrame reply = stale.Read(left);
    if (reply.frame == nullptr || reply.type() == wire::Body::PublishError) break;
    if (reply.type() == wire::Body::PublishOk) {
      ADD_FAILURE() << "a stale leader confirmed a publish";
      break;
    }
  }
  ASSERT_GE(PublishUntilConfirmed(queue, "fresh", 20s), 0) << DumpLogs();
  std::multiset<std::string> got = Drain(queue, {"fresh"}, 10s);
  EXPECT_EQ(got.count("fresh"), 1u);
  EXPECT_EQ(got.count("stale"), 0u) << "the stale leader's write reached the new leader";
}

// The console's cluster page (/api/cluster) of a node says what etcd says
// of every partition, and, for the partitions the node leads, how far each
// follower is behind: nothing, once what was confirmed is on every replica.
TEST_F(FailoverTest, TheConsoleShowsEachPartitionsLeaderIsrAndFollowerLag) {
  const uint32_t p = 1;
  auto [leader, address] = Leader(p);
  ASSERT_GE(PublishUntilConfirmed(QueueIn(p, 5), "x", 20s), 0);
  std::string http;
  for (const std::string& line : nodes_[leader]->startup_lines()) {
    if (line.rfind("metrics on ", 0) == 0) http = line.substr(11);
  }
  ASSERT_FALSE(http.empty());
  const json status = Status();
  json cluster;
  ASSERT_TRUE(WaitUntil(10s, [&] {
    Result<std::unique_ptr<test::RawSocket>> socket = test::RawSocket::Connect(http);
    if (!socket.ok()) return false;
    if (!(*socket)->Write("GET /api/cluster HTTP/1.1\r\nHost: " + http + "\r\n\r\n").ok()) {
      return false;
    }
    Result<std::string> all = (*socket)->ReadUntilClosed(5s);
    if (!all.ok() || all->find("\r\n\r\n") == std::string::npos) return false;
    cluster = json::parse(all->substr(all->find("\r\n\r\n") + 4), nullptr, false);
    if (!cluster.is_object() || cluster["partitions"].size() != kPartitions) return false;
    // Replicas ack shortly after the confirm's commit: until then, lag.
    for (const json& f : cluster["partitions"][p]["followers"]) {
      if (f["lag"] != 0) return false;
    }
    return true;
  })) << cluster.dump();
  EXPECT_EQ(cluster["enabled"], true);
  EXPECT_EQ(cluster["node"], leader);
  EXPECT_EQ(cluster["nodes"].size(), static_cast<size_t>(kNodes));
  for (uint32_t q = 0; q < kPartitions; ++q) {
    EXPECT_EQ(cluster["partitions"][q]["leader"], status["partitions"][q]["leader"]) << q;
    EXPECT_EQ(cluster["partitions"][q]["isr"], status["partitions"][q]["isr"]) << q;
  }
  const json& followers = cluster["partitions"][p]["followers"];
  ASSERT_EQ(followers.size(), static_cast<size_t>(kNodes - 1));
  EXPECT_GE(followers[0]["acked"].get<uint64_t>(), 1u);
}

// A client that starts while a partition's leader is dead, before the map
// moves: the map it fetches still names the dead node, so its first
// publish goes to an address it never reaches. That publish must follow
// the partition to its next leader, not wait for the dead node.
TEST_F(FailoverTest, AFreshClientsFirstPublishToADeadLeaderFollowsTheFailover) {
  const uint32_t p = 2;
  const std::string queue = QueueIn(p, 11);
  const std::string victim = Leader(p).first;
  std::string seed;
  for (const auto& [id, node] : nodes_) {
    if (id != victim) seed = node->address();
  }
  nodes_[victim]->Kill(SIGKILL);
  const auto start = Clock::now();
  std::unique_ptr<Client> c = ConnectTo(seed);
  ASSERT_TRUE(c);
  std::future<PublishResult> f = c->Publish(queue, "fresh");
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready)
      << "a fresh client's publish stayed with the dead leader\n"
      << DumpLogs();
  PublishResult result = f.get();
  ASSERT_TRUE(result.status.ok()) << result.status.ToString();
  std::printf(
      "a fresh client's first publish, sent to a SIGKILLed leader, confirmed after %.2f s\n",
      std::chrono::duration<double>(Clock::now() - start).count());
  c->Close();
  nodes_[victim]->Stop();
  std::multiset<std::string> got = Drain(queue, {"fresh"}, 10s);
  EXPECT_EQ(got.count("fresh"), 1u);
}

// Group fan-out across nodes: a group whose members live in every
// partition (so at every node) gives each member every confirmed publish,
// once while nothing fails; after its partition's leader is SIGKILLed, the
// next leader sends on what was not forwarded yet, and nothing confirmed
// is lost (duplicates counted, not failed).
TEST_F(FailoverTest, AGroupReachesMembersOfEveryPartitionAcrossAKilledLeader) {
  const std::string group = "room";
  const uint32_t group_p = PartitionOf(group, kPartitions);
  std::vector<std::string> members;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    for (int n = 0; n < 3; ++n) members.push_back(QueueIn(p, 100 + n));
  }
  std::unique_ptr<Client> c = ConnectTo(Leader(group_p).second);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->CreateGroup(group).ok());
  Result<uint64_t> added = c->AddMembers(group, members);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(*added, members.size());

  // Publishes until each is confirmed (a refused one is sent again).
  auto publish = [&](const std::string& payload) {
    return WaitUntil(30s, [&] {
      std::future<PublishResult> f = c->PublishToGroup(group, payload);
      if (f.wait_for(10s) != std::future_status::ready) return false;
      return f.get().status.ok();
    });
  };
  // Every member is owed every payload of `want`.
  auto tally = [&](const std::set<std::string>& want) {
    std::map<std::string, std::set<std::string>> owed;
    for (const std::string& member : members) owed[member] = want;
    return CheckDelivered(owed, 20s);
  };

  std::set<std::string> first;
  for (int i = 0; i < 20; ++i) {
    std::string payload = "before-" + std::to_string(i);
    ASSERT_TRUE(publish(payload)) << payload << "\n" << DumpLogs();
    first.insert(payload);
  }
  Tally t1 = tally(first);
  std::printf(
      "group fan-out to %zu members in %u partitions: %zu deliveries due, %zu lost, %zu "
      "duplicates\n",
      members.size(), kPartitions, t1.confirmed, t1.lost, t1.duplicates);
  EXPECT_EQ(t1.lost, 0u);
  EXPECT_EQ(t1.duplicates, 0u) << "a forward was stored twice";

  // The group's leader dies with forwards in flight.
  std::set<std::string> second;
  const std::string victim = Leader(group_p).first;
  for (int i = 0; i < 20; ++i) {
    std::string payload = "around-" + std::to_string(i);
    if (i == 5) nodes_[victim]->Kill(SIGKILL);
    ASSERT_TRUE(publish(payload)) << payload << "\n" << DumpLogs();
    second.insert(payload);
  }
  nodes_[victim]->Stop();
  ASSERT_TRUE(nodes_[victim]->Restart().ok());
  ASSERT_TRUE(WaitForFullIsr(30s)) << DumpLogs();
  Tally t2 = tally(second);
  std::printf(
      "after SIGKILL of %s, the group's leader: %zu deliveries due, %zu lost, %zu "
      "duplicates; forwards sent %.0f, resent %.0f, stored %.0f\n",
      victim.c_str(), t2.confirmed, t2.lost, t2.duplicates, SumStat("cluster_forwards_sent_total"),
      SumStat("cluster_forwards_resent_total"), SumStat("cluster_forwards_answered_total"));
  EXPECT_EQ(t2.lost, 0u);
  c->Close();
}

// Receipts for a queue of another partition go by forward; the inbox's
// leader is SIGKILLed halfway through the acks: every message gets exactly
// one receipt (an ack lost with the leader is acked again after the
// redelivery, and its receipt never left unreplicated).
TEST_F(FailoverTest, ReceiptsCrossPartitionsOnceAcrossAKilledLeader) {
  const uint32_t inbox_p = 0;
  const std::string inbox = QueueIn(inbox_p, 300);
  // The receipts' partition is led by another node: they go by forward.
  uint32_t receipts_p = 1;
  while (receipts_p + 1 < kPartitions && Leader(receipts_p).first == Leader(inbox_p).first) {
    ++receipts_p;
  }
  ASSERT_NE(Leader(receipts_p).first, Leader(inbox_p).first);
  const std::string receipts = QueueIn(receipts_p, 301);
  // Seeded at a node that stays up; it routes to the inbox's leader.
  std::unique_ptr<Client> c = ConnectTo(Leader(receipts_p).second);
  ASSERT_TRUE(c);
  constexpr int kMessages = 20;
  std::set<std::string> ids;  // the msg ids the publishes were given
  for (int i = 0; i < kMessages; ++i) {
    PublishOptions send;
    send.receipt_to = receipts;
    send.dedup_id = "r-" + std::to_string(i);  // a retry is the same message
    uint64_t id = 0;
    ASSERT_TRUE(WaitUntil(30s, [&] {
      std::future<PublishResult> f = c->Publish(inbox, "m" + std::to_string(i), send);
      if (f.wait_for(10s) != std::future_status::ready) return false;
      PublishResult r = f.get();
      id = r.msg_id;
      return r.status.ok();
    })) << DumpLogs();
    ids.insert(std::to_string(id));
  }
  ASSERT_EQ(ids.size(), static_cast<size_t>(kMessages));

  // Half the inbox is consumed and acked, then its leader dies at once
  // (those acks and their receipts may not be replicated yet). A fresh
  // client consumes the rest from the new leader.
  // (A long-lived subscription's move is ASubscriptionFollowsItsPartition-
  // AcrossAKilledLeader's.)
  std::mutex mu;
  std::set<std::string> acked;
  auto consume = [&](Client* client, size_t until) {
    SubscribeOptions one_by_one;
    one_by_one.credit = 1;
    Result<SubscriptionId> sub =
        client->Subscribe(inbox, one_by_one, [&, client](const Delivery& d) {
          std::lock_guard<std::mutex> lock(mu);
          if (acked.size() >= until) return;  // held, unacked
          acked.insert(d.payload);
          (void)client->Ack(d.subscription, d.seq);
        });
    if (!sub.ok()) return false;
    return WaitUntil(20s, [&] {
      std::lock_guard<std::mutex> lock(mu);
      return acked.size() >= until;
    });
  };
  std::string victim;
  {
    std::unique_ptr<Client> first = ConnectTo(Leader(receipts_p).second);
    ASSERT_TRUE(first);
    ASSERT_TRUE(consume(first.get(), kMessages / 2));
    victim = Leader(inbox_p).first;
    nodes_[victim]->Kill(SIGKILL);
    first->Close();
  }
  // Kept until the receipts are in: its last acks must not die with it.
  std::unique_ptr<Client> rest;
  ASSERT_TRUE(WaitUntil(60s, [&] {
    rest = ConnectTo(Leader(receipts_p).second);
    return rest && consume(rest.get(), kMessages);
  })) << DumpLogs();
  Client* client = c.get();

  // Every message's receipt, once (the same client: it follows the leaders).
  std::multiset<std::string> got;
  SubscribeOptions wide;
  wide.credit = 1000;
  Result<SubscriptionId> rsub = c->Subscribe(receipts, wide, [&](const Delivery& d) {
    std::lock_guard<std::mutex> lock(mu);
    for (const Header& h : d.headers) {
      if (h.key == "msg-id") got.insert(h.value);
    }
    (void)client->Ack(d.subscription, d.seq);
  });
  ASSERT_TRUE(rsub.ok()) << rsub.status().ToString();
  auto all_in = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return std::all_of(ids.begin(), ids.end(),
                       [&](const std::string& id) { return got.count(id) > 0; });
  };
  EXPECT_TRUE(WaitUntil(60s, all_in)) << DumpLogs();
  nodes_[victim]->Stop();
  ASSERT_TRUE(nodes_[victim]->Restart().ok());
  ASSERT_TRUE(WaitForFullIsr(30s)) << DumpLogs();
  // A late duplicate would show within a second: none may.
  EXPECT_FALSE(WaitUntil(1s, [&] {
    std::lock_guard<std::mutex> lock(mu);
    return got.size() > static_cast<size_t>(kMessages);
  }));
  c->Close();
  size_t duplicates = 0, missing = 0;
  for (const std::string& id : ids) {
    size_t n = got.count(id);
    if (n == 0) ++missing;
    if (n > 1) duplicates += n - 1;
  }
  std::printf(
      "receipts across partitions, inbox leader %s killed after half the acks: %d messages, "
      "%zu receipts missing, %zu duplicates; forwards sent %.0f, resent %.0f\n",
      victim.c_str(), kMessages, missing, duplicates, SumStat("cluster_forwards_sent_total"),
      SumStat("cluster_forwards_resent_total"));
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicates, 0u) << "a receipt was stored twice";
  EXPECT_EQ(got.size(), static_cast<size_t>(kMessages));
}

// A subscription outlives a SIGKILL of its partition's leader: the map
// lags the failover, and the client keeps looking until it names the new
// leader, then subscribes there (docs/client.md, "What moves on a
// failover").
TEST_F(FailoverTest, ASubscriptionFollowsItsPartitionAcrossAKilledLeader) {
  const uint32_t p = 2;
  const std::string queue = QueueIn(p, 400);
  const std::string victim = Leader(p).first;
  std::string seed;
  for (uint32_t other = 0; other < kPartitions && seed.empty(); ++other) {
    if (Leader(other).first != victim) seed = Leader(other).second;
  }
  ASSERT_FALSE(seed.empty());
  std::unique_ptr<Client> c = ConnectTo(seed);  // a node that stays up
  ASSERT_TRUE(c);
  constexpr int kMessages = 10;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(c->Publish(queue, "m" + std::to_string(i)).get().status.ok());
  }
  // Half are acked; the next delivery is held unacked when the leader
  // dies. Nothing else this client does would make it look at the map
  // again: only the subscription's own move brings the rest.
  std::mutex mu;
  std::set<std::string> got;
  bool hold = true;
  Client* client = c.get();
  SubscribeOptions one_by_one;
  one_by_one.credit = 1;
  Result<SubscriptionId> sub = c->Subscribe(queue, one_by_one, [&](const Delivery& d) {
    std::lock_guard<std::mutex> lock(mu);
    if (hold && got.size() >= kMessages / 2) return;
    got.insert(d.payload);
    (void)client->Ack(d.subscription, d.seq);
  });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(WaitUntil(20s, [&] {
    std::lock_guard<std::mutex> lock(mu);
    return got.size() >= kMessages / 2;
  }));
  nodes_[victim]->Kill(SIGKILL);
  {
    std::lock_guard<std::mutex> lock(mu);
    hold = false;
  }
  EXPECT_TRUE(WaitUntil(30s,
                        [&] {
                          std::lock_guard<std::mutex> lock(mu);
                          return got.size() == kMessages;
                        }))
      << "the subscription did not follow its partition to the new leader\n"
      << DumpLogs();
  c->Close();
  nodes_[victim]->Stop();
  ASSERT_TRUE(nodes_[victim]->Restart().ok());
}

}  // namespace
}  // namespace hermod
