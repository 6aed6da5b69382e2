// A three-node cluster where n3 runs in a network namespace of its own
// (NetnsLink), joined to the host by a veth pair. While publishers with
// confirms run on every partition, the link is cut: n3 loses etcd, its
// peers and its clients at once, but keeps running and keeps its clients
// inside the namespace. A few seconds later the link is healed. Checked on
// the history: every confirmed message is delivered (duplicates are
// counted, not failed); each partition n3 led gets a new leader that
// confirms; a publish that reached the isolated n3 itself is never
// confirmed and never appears in its queue; n3 gets back into every ISR.
//
// Addresses: etcd serves 127.0.0.1 and the host's veth address; n1 and n2
// listen (clients and peers) on the host's veth address, n3 on the
// namespace's. Loopback is per namespace, so n3 could reach nothing on
// 127.0.0.1 (SetUp checks it).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "etcd_process.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "hermod/partition.h"
#include "netns_link.h"
#include "raw_frames.h"
#include "raw_socket.h"
#include "run_command.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr uint32_t kPartitions = 6;  // two led by each node
constexpr int kNodes = 3;
constexpr int kPublishers = 3;  // threads, each with a routing client, each on every partition
constexpr int kInflightPerPartition = 8;
constexpr auto kPublishTick = 20ms;  // a publisher sends at most one per partition per tick
const std::string kIsolated = "n3";
// The isolated node must be back in every ISR within this long of the heal.
constexpr auto kRejoinBound = 30s;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A queue name of the given partition.
std::string QueueIn(uint32_t partition, int n) {
  for (int i = 0;; ++i) {
    std::string name = "q" + std::to_string(n) + "-" + std::to_string(i);
    if (PartitionOf(name, kPartitions) == partition) return name;
  }
}

// What the publishers saw: the generator's side of the history.
class History {
 public:
  void Record(uint32_t partition, const std::string& queue, const std::string& payload,
              const PublishResult& r) {
    const Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    if (r.status.code() == ErrorCode::kClosed) {
      ++unanswered_;  // still waiting when its client closed
      return;
    }
    if (!r.status.ok()) {
      ++refused_[ErrorCodeName(r.status.code())];
      return;
    }
    confirmed_[queue].insert(payload);
    if (r.duplicate) ++said_duplicate_;
    if (cut_ != Clock::time_point() && now > cut_ && heal_ == Clock::time_point()) {
      ++confirmed_during_cut_;
      if (!first_after_cut_.count(partition)) first_after_cut_[partition] = now;
    }
    auto last = last_confirm_.find(partition);
    if (last != last_confirm_.end()) {
      longest_gap_[partition] = std::max(longest_gap_[partition], Seconds(now - last->second));
    }
    last_confirm_[partition] = now;
  }
  // A confirmed message published outside the publishers (a probe).
  void AddConfirmed(const std::string& queue, const std::string& payload) {
    std::lock_guard<std::mutex> lock(mu_);
    confirmed_[queue].insert(payload);
  }
  void MarkCut(Clock::time_point t) {
    std::lock_guard<std::mutex> lock(mu_);
    cut_ = t;
  }
  void MarkHeal(Clock::time_point t) {
    std::lock_guard<std::mutex> lock(mu_);
    heal_ = t;
  }

  std::map<std::string, std::set<std::string>> confirmed() {
    std::lock_guard<std::mutex> lock(mu_);
    return confirmed_;
  }
  size_t confirmed_count() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& [queue, payloads] : confirmed_) n += payloads.size();
    return n;
  }
  // Seconds from the cut to the publishers' first confirm on `partition`;
  // -1 when none came before the heal.
  double FirstConfirmAfterCut(uint32_t partition) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = first_after_cut_.find(partition);
    return it == first_after_cut_.end() ? -1 : Seconds(it->second - cut_);
  }
  double LongestGap(uint32_t partition) {
    std::lock_guard<std::mutex> lock(mu_);
    return longest_gap_[partition];
  }
  size_t confirmed_during_cut() {
    std::lock_guard<std::mutex> lock(mu_);
    return confirmed_during_cut_;
  }
  size_t said_duplicate() {
    std::lock_guard<std::mutex> lock(mu_);
    return said_duplicate_;
  }
  size_t unanswered() {
    std::lock_guard<std::mutex> lock(mu_);
    return unanswered_;
  }
  std::string Refused() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    size_t total = 0;
    for (const auto& [code, n] : refused_) {
      out += (out.empty() ? "" : ", ") + code + " " + std::to_string(n);
      total += n;
    }
    return std::to_string(total) + (out.empty() ? "" : " (" + out + ")");
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::set<std::string>> confirmed_;  // queue -> payloads
  std::map<std::string, size_t> refused_;                   // by error code name
  size_t unanswered_ = 0;
  size_t said_duplicate_ = 0;  // confirms with PublishResult::duplicate
  size_t confirmed_during_cut_ = 0;
  Clock::time_point cut_{}, heal_{};
  std::map<uint32_t, Clock::time_point> first_after_cut_, last_confirm_;
  std::map<uint32_t, double> longest_gap_;  // seconds without a confirm, per partition
};

// One publisher: a routing client seeded with every node, a queue in every
// partition, at most kInflightPerPartition unconfirmed per partition (so a
// partition that stalls does not hold the others up). Runs until `stop`,
// then waits up to `drain` for its last confirms.
void RunPublisher(int index, const std::string& seeds, History* history,
                  const std::atomic<bool>* stop, std::chrono::milliseconds drain) {
  ClientOptions options;
  options.server = seeds;
  options.client_name = "publisher-" + std::to_string(index);
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) {
    ADD_FAILURE() << "publisher " << index << ": " << client.status().ToString();
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> inflight(kPartitions, 0);
  auto total = [&] {
    int n = 0;
    for (int i : inflight) n += i;
    return n;
  };
  uint64_t n = 0;
  std::unique_lock<std::mutex> lock(mu);
  while (!*stop) {
    for (uint32_t p = 0; p < kPartitions; ++p) {
      if (inflight[p] >= kInflightPerPartition) continue;
      ++inflight[p];
      const std::string queue = QueueIn(p, index);
      const std::string payload = queue + "/" + std::to_string(n++);
      lock.unlock();  // a confirm may come at once, on this thread if the client is closing
      (*client)->PublishAsync(queue, payload, {}, [&, p, queue, payload](const PublishResult& r) {
        history->Record(p, queue, payload, r);
        std::lock_guard<std::mutex> guard(mu);
        --inflight[p];
        cv.notify_all();
      });
      lock.lock();
    }
    cv.wait_for(lock, kPublishTick, [&] { return stop->load(); });
  }
  cv.wait_for(lock, drain, [&] { return total() == 0; });
  lock.unlock();
  // What is still unconfirmed completes with kClosed (counted unanswered).
  (*client)->Close();
}

// A raw connection to the isolated node, made from inside its namespace so
// that it stays up through the cut: what the node itself does with a
// publish while it cannot reach anyone. (libhermod would move the publish to
// the new leader, which is right for a client but not what is tested.) Its
// thread owns the socket: it publishes, pings (so that the node does not
// close it for silence) and reads the replies.
class StaleWriter {
 public:
  explicit StaleWriter(std::unique_ptr<test::RawSocket> socket)
      : socket_(std::move(socket)), decoder_(proto::kDefaultMaxFrameBytes) {}
  ~StaleWriter() { Stop(); }

  // Says Hello and reads the Welcome, on the calling thread.
  bool Handshake() {
    if (!socket_->Write(test::HelloFrame("stale-writer")).ok()) return false;
    const Clock::time_point until = Clock::now() + 5s;
    while (Clock::now() < until && !welcomed_) {
      if (!ReadSome(100ms)) return false;
    }
    return welcomed_;
  }
  // Starts the thread.
  void Start(std::string queue) {
    queue_ = std::move(queue);
    thread_ = std::thread([this] { Run(); });
  }
  // Publishes "stale-<n>" to the queue from the thread (n: 1, 2, ...).
  void Publish() {
    std::lock_guard<std::mutex> lock(mu_);
    ++wanted_;
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // How each publish ended: "confirmed", "refused: <code>", or "no answer".
  std::map<uint64_t, std::string> outcomes() {
    std::lock_guard<std::mutex> lock(mu_);
    return outcomes_;
  }
  size_t sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  // "open", "closed by the node" (with when, from `since`), or an error.
  std::string connection(Clock::time_point since) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_at_ == Clock::time_point()) return connection_;
    char when[64];
    std::snprintf(when, sizeof when, " %.2f s after the cut", Seconds(closed_at_ - since));
    return connection_ + when;
  }
  // Every publish sent has its answer, or the connection is gone.
  bool settled() {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_at_ != Clock::time_point()) return true;
    for (const auto& [n, outcome] : outcomes_) {
      if (outcome == "no answer") return false;
    }
    return true;
  }
  bool confirmed_any() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [n, outcome] : outcomes_) {
      if (outcome == "confirmed") return true;
    }
    return false;
  }
  const std::string& queue() const { return queue_; }

 private:
  void Run() {
    Clock::time_point next_ping = Clock::now();
    uint64_t nonce = 0;
    while (!stop_) {
      size_t wanted;
      {
        std::lock_guard<std::mutex> lock(mu_);
        wanted = wanted_;
      }
      while (sent() < wanted) {
        const uint64_t n = sent() + 1;
        proto::FrameEncoder encoder;
        auto& fbb = encoder.Start();
        const std::string payload = "stale-" + std::to_string(n);
        auto publish = wire::CreatePublish(
            fbb, n, fbb.CreateString(queue_),
            fbb.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
        Status s = socket_->Write(test::AsString(encoder.Finish(publish)));
        std::lock_guard<std::mutex> lock(mu_);
        outcomes_[n] = s.ok() ? "no answer" : "not sent: " + s.ToString();
        sent_ = n;
      }
      if (Clock::now() >= next_ping) {
        proto::FrameEncoder encoder;
        auto& fbb = encoder.Start();
        (void)socket_->Write(test::AsString(encoder.Finish(wire::CreatePing(fbb, ++nonce))));
        next_ping = Clock::now() + 300ms;
      }
      if (!ReadSome(100ms)) return;
    }
  }

  // Reads what came within `timeout` and notes it; false once the
  // connection closed.
  bool ReadSome(std::chrono::milliseconds timeout) {
    Result<std::string> bytes = socket_->Read(timeout);
    if (!bytes.ok() && bytes.status().code() == ErrorCode::kTimeout) return true;
    if (!bytes.ok() || bytes->empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      connection_ = bytes.ok() ? "closed by the node" : bytes.status().ToString();
      closed_at_ = Clock::now();
      return false;
    }
    Status s = decoder_.Feed(
        reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(),
        [&](const wire::Frame& frame) {
          std::lock_guard<std::mutex> lock(mu_);
          if (frame.body_type() == wire::Body::Welcome) welcomed_ = true;
          if (const wire::PublishOk* ok = frame.body_as_PublishOk()) {
            outcomes_[ok->correlation_id()] = "confirmed";
          }
          if (const wire::PublishError* e = frame.body_as_PublishError()) {
            outcomes_[e->correlation_id()] =
                std::string("refused: ") + ErrorCodeName(static_cast<ErrorCode>(e->code()));
          }
          if (const wire::Error* e = frame.body_as_Error()) {
            connection_ = std::string("Error ") + ErrorCodeName(static_cast<ErrorCode>(e->code())) +
                          (e->fatal() ? " (fatal)" : "") + ": " +
                          std::string(proto::View(e->message()));
          }
          return true;
        });
    return s.ok();
  }

  std::unique_ptr<test::RawSocket> socket_;
  proto::FrameDecoder decoder_;
  std::string queue_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  bool welcomed_ = false;
  size_t wanted_ = 0, sent_ = 0;
  std::map<uint64_t, std::string> outcomes_;  // by correlation id = n
  std::string connection_ = "open";
  Clock::time_point closed_at_{};
};

class IsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<test::NetnsLink>> link = test::NetnsLink::Create();
    if (!link.ok()) {
      GTEST_SKIP() << "no network namespace for the isolated node (this test needs root and "
                      "iproute2's `ip`, as CI has): "
                   << link.status().ToString();
    }
    link_ = std::move(*link);
    ::mkdir(dir_.Join("etcd").c_str(), 0755);
    etcd_ = std::make_unique<test::EtcdProcess>(dir_.Join("etcd"), link_->host_address());
    ASSERT_TRUE(etcd_->Start().ok());

    // From inside the namespace, the host's listeners on 127.0.0.1 are out
    // of reach (that loopback is another one) and those on the veth
    // address are not.
    const std::string etcd_port = etcd_->client_url().substr(etcd_->client_url().rfind(':') + 1);
    bool loopback_reached = true, veth_reached = false;
    ASSERT_TRUE(link_
                    ->RunInside([&] {
                      loopback_reached = test::RawSocket::Connect("127.0.0.1:" + etcd_port).ok();
                      veth_reached =
                          test::RawSocket::Connect(link_->host_address() + ":" + etcd_port).ok();
                    })
                    .ok());
    ASSERT_FALSE(loopback_reached) << "the namespace reaches the host's loopback";
    ASSERT_TRUE(veth_reached) << "the namespace does not reach " << link_->host_address();

    test::CommandResult init =
        Cli({"cluster", "init", "--partitions", std::to_string(kPartitions)});
    ASSERT_EQ(init.exit.code, 0) << init.err;
    for (int i = 1; i <= kNodes; ++i) {
      const std::string id = "n" + std::to_string(i);
      const bool isolated = id == kIsolated;
      const std::string& host = isolated ? link_->ns_address() : link_->host_address();
      test::BrokerProcess::Options options;
      options.data_dir = dir_.Join(id);
      options.stderr_path = dir_.Join(id + ".log");
      options.listen = host + ":" + std::to_string(NewPort());
      if (isolated) options.netns = link_->name();
      options.extra_args = {"--cluster-etcd",
                            isolated ? etcd_->extra_client_url() : etcd_->client_url(), "--node-id",
                            id, "--peer-listen", host + ":" + std::to_string(NewPort()),
                            "--cluster-lease-ttl-s", "1", "--cluster-replica-lag-ms", "500",
                            // Clients notice a silent node after two periods.
                            "--heartbeat-ms", "1000",
                            // The veth addresses are reachable only from this
                            // machine's own namespaces.
                            "--insecure"};
      nodes_[id] = std::make_unique<test::BrokerProcess>(options);
      ASSERT_TRUE(nodes_[id]->Start().ok()) << id << "\n" << DumpLogs();
    }
    // The pid BrokerProcess has is hermodd's, and it runs in the namespace.
    const pid_t pid = nodes_[kIsolated]->pid();
    struct stat in_ns {
    }, of_ns{}, ours{};
    ASSERT_EQ(::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &in_ns), 0);
    ASSERT_EQ(::stat(("/run/netns/" + link_->name()).c_str(), &of_ns), 0);
    ASSERT_EQ(::stat("/proc/self/ns/net", &ours), 0);
    EXPECT_EQ(in_ns.st_ino, of_ns.st_ino);
    EXPECT_NE(in_ns.st_ino, ours.st_ino);
    EXPECT_EQ(
        std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe").filename().string(),
        "hermodd");
    ASSERT_TRUE(WaitForFullIsr(30s)) << DumpLogs();
  }

  void TearDown() override {
    for (auto& [id, node] : nodes_) {
      if (node->running()) node->Stop();
    }
    if (etcd_) etcd_->Stop();
    link_.reset();  // after every process inside is gone
  }

  int NewPort() {
    int port;
    do {
      port = test::UnusedLoopbackPort();
    } while (!ports_.insert(port).second);
    return port;
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

  template <typename Pred>
  static bool WaitUntil(std::chrono::milliseconds timeout, Pred pred) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);  // polling another process's state
    }
    return pred();
  }

  // Every node registered, every partition led, every ISR all replicas.
  static bool FullIsr(const json& j) {
    if (!j.is_object() || j["nodes"].size() != kNodes) return false;
    for (const json& p : j["partitions"]) {
      if (p["leader"] == "" || p["isr"].size() != kNodes) return false;
    }
    return true;
  }
  bool WaitForFullIsr(std::chrono::milliseconds timeout) {
    return WaitUntil(timeout, [&] { return FullIsr(Status()); });
  }

  static std::string AddressOf(const json& j, const std::string& node) {
    for (const json& n : j.is_object() ? j["nodes"] : json::array()) {
      if (n["id"] == node) return n["client_address"];
    }
    return "";
  }

  std::unique_ptr<Client> ConnectTo(const std::string& address) {
    ClientOptions options;
    options.server = address;
    options.connect_timeout = 2s;
    Result<std::unique_ptr<Client>> c = Client::Connect(options);
    if (!c.ok()) return nullptr;
    return std::move(*c);
  }

  // One publish at `address` (the partition's leader), confirmed within
  // `timeout`?
  bool ProbePublish(const std::string& address, const std::string& queue,
                    const std::string& payload, std::chrono::milliseconds timeout) {
    std::unique_ptr<Client> c = ConnectTo(address);
    if (!c) return false;
    std::future<PublishResult> f = c->Publish(queue, payload);
    if (f.wait_for(timeout) != std::future_status::ready) return false;
    return f.get().status.ok();
  }

  // Drains `queue` at its leader until every payload of `want` arrived (or
  // `timeout`); returns every delivery by payload, acking each.
  using Deliveries = std::map<std::string, std::vector<Delivery>>;
  Deliveries Drain(const std::string& queue, const std::set<std::string>& want,
                   std::chrono::milliseconds timeout) {
    Deliveries got;
    json j = Status();
    if (!j.is_object()) return got;
    std::string leader = j["partitions"][PartitionOf(queue, kPartitions)]["leader"];
    std::unique_ptr<Client> c = ConnectTo(AddressOf(j, leader));
    if (!c) return got;
    std::mutex mu;
    Client* client = c.get();
    Result<SubscriptionId> sub = c->Subscribe(queue, SubscribeOptions{}, [&](const Delivery& d) {
      std::lock_guard<std::mutex> lock(mu);
      got[d.payload].push_back(d);
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

  // The checker: drains every queue of `confirmed`; each confirmed payload
  // missing is a failure (the first five named), each extra copy a
  // duplicate.
  struct Tally {
    size_t confirmed = 0, lost = 0, duplicates = 0;
    std::vector<std::string> duplicated;  // the first few payloads delivered twice or more
  };
  Tally CheckDelivered(const std::map<std::string, std::set<std::string>>& confirmed,
                       std::chrono::milliseconds timeout) {
    Tally t;
    for (const auto& [queue, want] : confirmed) {
      Deliveries got = Drain(queue, want, timeout);
      for (const std::string& payload : want) {
        ++t.confirmed;
        auto it = got.find(payload);
        const size_t n = it == got.end() ? 0 : it->second.size();
        if (n == 0) {
          if (++t.lost <= 5) ADD_FAILURE() << "confirmed " << payload << " was not delivered";
        } else if (n > 1) {
          t.duplicates += n - 1;
          // Two entries (seq and msg_id differ: stored twice) or one
          // delivered again (the same seq)?
          if (t.duplicated.size() < 5) {
            std::string copies;
            for (const Delivery& d : it->second) {
              copies += " [seq " + std::to_string(d.seq) + ", msg_id " + std::to_string(d.msg_id) +
                        ", delivery " + std::to_string(d.delivery_count) + "]";
            }
            t.duplicated.push_back(payload + " (p" +
                                   std::to_string(PartitionOf(queue, kPartitions)) + "):" + copies);
          }
        }
      }
    }
    return t;
  }

  // A statistic of the node at `address`; -1 when it does not answer.
  double StatOf(const std::string& address, const std::string& name) {
    std::unique_ptr<Client> c = ConnectTo(address);
    if (!c) return -1;
    Result<std::vector<ServerStat>> stats = c->Stats();
    if (!stats.ok()) return -1;
    for (const ServerStat& s : *stats) {
      if (s.name == name) return s.value;
    }
    return 0;
  }

  std::vector<std::string> LogLines(const std::string& id, const std::string& containing) {
    std::ifstream in(dir_.Join(id + ".log"));
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(containing) != std::string::npos) out.push_back(line);
    }
    return out;
  }

  std::string DumpLogs() {
    std::string out;
    for (auto& [id, node] : nodes_) {
      std::ifstream in(dir_.Join(id + ".log"));
      std::stringstream all;
      all << in.rdbuf();
      out += "---- " + id + "\n" + all.str();
    }
    return out;
  }

  test::TempDir dir_;
  std::unique_ptr<test::NetnsLink> link_;
  std::unique_ptr<test::EtcdProcess> etcd_;
  std::map<std::string, std::unique_ptr<test::BrokerProcess>> nodes_;
  std::set<int> ports_;
};

TEST_F(IsolationTest, AnIsolatedLeaderConfirmsNothingAndEveryConfirmedMessageSurvives) {
  const Clock::time_point test_start = Clock::now();
  json before = Status();
  std::vector<uint32_t> led;  // the partitions the isolated node leads
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (before["partitions"][p]["leader"] == kIsolated) led.push_back(p);
  }
  ASSERT_FALSE(led.empty()) << kIsolated << " leads nothing: " << before.dump();
  const std::string isolated_address = AddressOf(before, kIsolated);
  std::string seeds;
  for (const json& n : before["nodes"]) {
    seeds += (seeds.empty() ? "" : ",") + n["client_address"].get<std::string>();
  }

  // The generator: publishers with confirms on every partition.
  History history;
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  for (int i = 0; i < kPublishers; ++i) {
    publishers.emplace_back(RunPublisher, i, seeds, &history, &stop, 20s);
  }
  // Stops the publishers however the test ends.
  struct Joiner {
    std::atomic<bool>* stop;
    std::vector<std::thread>* threads;
    ~Joiner() {
      *stop = true;
      for (std::thread& t : *threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{&stop, &publishers};
  // Some history before the fault.
  ASSERT_TRUE(WaitUntil(15s, [&] { return history.confirmed_count() >= 500; }))
      << "the publishers confirm too little: " << history.confirmed_count() << ", refused "
      << history.Refused() << "\n"
      << DumpLogs();

  // A connection to the isolated node from inside its namespace, made
  // before the cut.
  std::unique_ptr<test::RawSocket> socket;
  ASSERT_TRUE(link_
                  ->RunInside([&] {
                    Result<std::unique_ptr<test::RawSocket>> s =
                        test::RawSocket::Connect(isolated_address);
                    if (s.ok()) socket = std::move(*s);
                  })
                  .ok());
  ASSERT_TRUE(socket) << "cannot connect to " << isolated_address << " inside the namespace";
  StaleWriter stale(std::move(socket));
  ASSERT_TRUE(stale.Handshake());
  const size_t before_cut = history.confirmed_count();

  // The nemesis: cut n3 off.
  ASSERT_TRUE(link_->Cut().ok());
  const Clock::time_point cut = Clock::now();
  history.MarkCut(cut);
  stale.Start(QueueIn(led.front(), 9));
  stale.Publish();  // reaches n3, which still thinks it leads

  // Each partition n3 led: when the map names another leader, and when a
  // publish there is first confirmed (a fresh client, straight to it).
  std::map<uint32_t, double> moved_s, confirms_s;
  std::map<uint32_t, std::string> new_leader;
  int probes = 0;
  WaitUntil(20s, [&] {
    json j = Status();
    if (!j.is_object()) return false;
    for (uint32_t p : led) {
      const std::string leader = j["partitions"][p]["leader"];
      if (!moved_s.count(p) && !leader.empty() && leader != kIsolated) {
        moved_s[p] = Seconds(Clock::now() - cut);
        new_leader[p] = leader;
      }
      if (moved_s.count(p) && !confirms_s.count(p)) {
        const std::string queue = QueueIn(p, 8);
        const std::string payload = queue + "/probe-" + std::to_string(++probes);
        if (ProbePublish(AddressOf(j, new_leader[p]), queue, payload, 2s)) {
          confirms_s[p] = Seconds(Clock::now() - cut);
          history.AddConfirmed(queue, payload);
        }
      }
    }
    return confirms_s.size() == led.size();
  });
  // n3 still believes it leads (nothing told it otherwise): a second
  // publish reaches it after its partitions moved.
  stale.Publish();
  // The cut lasts until the publishers, too, have moved to the new leaders
  // and then for 4 s more of load in the new configuration (long enough for
  // the peer links to n3 to be declared down).
  const Clock::time_point moved_on = Clock::now();
  WaitUntil(20s, [&] {
    for (uint32_t p : led) {
      if (history.FirstConfirmAfterCut(p) < 0) return false;
    }
    return Clock::now() >= moved_on + 4s;
  });
  const std::map<uint64_t, std::string> during_cut = stale.outcomes();
  const std::string stale_connection_during_cut = stale.connection(cut);

  // What the map says of n3 just before the heal.
  json at_heal = Status();
  const bool registered_at_heal = !AddressOf(at_heal, kIsolated).empty();
  int in_isr_at_heal = 0, led_at_heal = 0;
  for (const json& p : at_heal.is_object() ? at_heal["partitions"] : json::array()) {
    for (const json& node : p["isr"]) in_isr_at_heal += node == kIsolated ? 1 : 0;
    led_at_heal += p["leader"] == kIsolated ? 1 : 0;
  }

  // Heal, and wait until n3 is back in every ISR.
  ASSERT_TRUE(link_->Heal().ok());
  const Clock::time_point heal = Clock::now();
  history.MarkHeal(heal);
  const double isolated_for = Seconds(heal - cut);
  double rejoined_s = -1;
  if (WaitUntil(kRejoinBound, [&] { return FullIsr(Status()); })) {
    rejoined_s = Seconds(Clock::now() - heal);
  }
  // The stale publishes may still get an answer after the heal (they must
  // not be confirmed then either): up to 5 s.
  WaitUntil(std::chrono::duration_cast<std::chrono::milliseconds>(heal + 5s - Clock::now()),
            [&] { return stale.settled(); });
  stale.Stop();
  const size_t after_heal_before_stop = history.confirmed_count();
  stop = true;
  for (std::thread& t : publishers) t.join();

  const double rebuilds = StatOf(isolated_address, "cluster_rebuilds_finished_total");
  const size_t rebuilding_lines = LogLines(kIsolated, "rebuilding this node's copy").size();
  const size_t rebuilt_lines = LogLines(kIsolated, "rebuilt from").size();
  const size_t failed_isr_changes = LogLines(kIsolated, "ISR change for").size();

  // The checker. The stale publishes' queue gets a fresh message last:
  // whatever the queue holds before it has been delivered once it comes.
  const std::string stale_queue = stale.queue();
  json now = Status();
  const std::string stale_leader =
      AddressOf(now, now["partitions"][PartitionOf(stale_queue, kPartitions)]["leader"]);
  ASSERT_TRUE(ProbePublish(stale_leader, stale_queue, "fresh", 10s)) << DumpLogs();
  Deliveries stale_queue_got = Drain(stale_queue, {"fresh"}, 10s);
  const Tally t = CheckDelivered(history.confirmed(), 20s);

  std::printf("isolation: %s cut off %.1f s after the load began, for %.1f s; it led",
              kIsolated.c_str(), Seconds(cut - test_start), isolated_for);
  for (uint32_t p : led) std::printf(" p%u", p);
  std::printf("\n");
  for (uint32_t p : led) {
    std::printf(
        "  p%u: new leader %s after %.2f s; a fresh client's publish confirmed there after %.2f s; "
        "the publishers' first confirm after %.2f s; longest gap between their confirms %.2f s\n",
        p, new_leader.count(p) ? new_leader[p].c_str() : "(none)",
        moved_s.count(p) ? moved_s[p] : -1.0, confirms_s.count(p) ? confirms_s[p] : -1.0,
        history.FirstConfirmAfterCut(p), history.LongestGap(p));
  }
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (std::find(led.begin(), led.end(), p) != led.end()) continue;
    std::printf("  p%u (not led by %s): longest gap between confirms %.2f s\n", p,
                kIsolated.c_str(), history.LongestGap(p));
  }
  const std::map<uint64_t, std::string> final_outcomes = stale.outcomes();
  std::printf("  publishes sent to the isolated %s itself (queue %s):", kIsolated.c_str(),
              stale_queue.c_str());
  for (const auto& [n, outcome] : final_outcomes) {
    std::printf(" stale-%llu: %s during the cut, %s at the end;",
                static_cast<unsigned long long>(n),
                during_cut.count(n) ? during_cut.at(n).c_str() : "not sent yet", outcome.c_str());
  }
  std::printf(" connection: %s during the cut, %s at the end\n",
              stale_connection_during_cut.c_str(), stale.connection(cut).c_str());
  std::printf("  %s tried and failed %zu ISR changes while cut off (%.0f a second)\n",
              kIsolated.c_str(), failed_isr_changes, failed_isr_changes / isolated_for);
  std::printf("  at the heal, the map had %s %s, in %d ISRs of %u, leading %d partitions\n",
              kIsolated.c_str(), registered_at_heal ? "registered" : "not registered",
              in_isr_at_heal, kPartitions, led_at_heal);
  std::printf(
      "heal: %s back in every ISR after %.2f s (bound %lld s); it rebuilt %.0f partition copies "
      "from snapshots (log: %zu 'rebuilding this node's copy', %zu 'rebuilt from')\n",
      kIsolated.c_str(), rejoined_s, static_cast<long long>(kRejoinBound.count()), rebuilds,
      rebuilding_lines, rebuilt_lines);
  std::printf(
      "history: %zu confirmed (%zu before the cut, %zu during it, %zu by the time the load "
      "stopped), "
      "%zu lost, %zu duplicates (%zu confirms said duplicate), refused %s, %zu unanswered when "
      "the publishers stopped; whole test %.1f s\n",
      t.confirmed, before_cut, history.confirmed_during_cut(), after_heal_before_stop, t.lost,
      t.duplicates, history.said_duplicate(), history.Refused().c_str(), history.unanswered(),
      Seconds(Clock::now() - test_start));

  for (const std::string& d : t.duplicated) std::printf("  duplicate: %s\n", d.c_str());
  EXPECT_EQ(t.lost, 0u);
  for (uint32_t p : led) {
    EXPECT_TRUE(confirms_s.count(p)) << "p" << p << " never confirmed again after the cut\n"
                                     << DumpLogs();
  }
  EXPECT_EQ(stale.sent(), 2u);
  EXPECT_FALSE(stale.confirmed_any()) << "the isolated node confirmed a publish\n" << DumpLogs();
  EXPECT_EQ(stale_queue_got.count("fresh"), 1u);
  for (const std::string payload : {"stale-1", "stale-2"}) {
    EXPECT_EQ(stale_queue_got.count(payload), 0u)
        << payload << ", written to the isolated node, reached the new leader";
  }
  EXPECT_GE(rejoined_s, 0) << kIsolated << " not back in every ISR within " << kRejoinBound.count()
                           << " s of the heal\n"
                           << DumpLogs();
  EXPECT_GT(history.confirmed_during_cut(), 0u) << "nothing was confirmed during the cut";
}

}  // namespace
}  // namespace hermod
