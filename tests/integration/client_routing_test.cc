// The partition map and libhermod's routing. Against a real single hermodd:
// its answer to MapRequest (partitions 0) over the real protocol, and a seed
// list whose first address is down. Against two scripted nodes (see
// scripted_broker.h) that send a map of P=4 with partitions led by each: a
// publish goes to its partition's leader; a PublishError kNotLeader makes
// the client fetch the map again and resend to the new leader with the
// same dedup id; a subscription moves to the new leader after a fatal
// kNotLeader, keeping its SubscriptionId; a group publish and a blocking
// request on a name follow their partition's leader.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "hermod/partition.h"
#include "raw_frames.h"
#include "raw_socket.h"
#include "scripted_broker.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace std::chrono_literals;
using test::OwnedFrame;
using test::RawListener;
using test::ScriptedBroker;

constexpr milliseconds kWait = seconds(10);
constexpr uint32_t kPartitions = 4;

// ---------------------------------------------------------------------------
// A real single node.

class ClientMapSingleNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.extra_args = {"--sync", "none"};
    broker_ = std::make_unique<test::BrokerProcess>(options);
    ASSERT_TRUE(broker_->Start().ok());
  }

  test::TempDir dir_;
  std::unique_ptr<test::BrokerProcess> broker_;
};

TEST_F(ClientMapSingleNodeTest, AnswersMapRequestWithNoPartitions) {
  Result<std::unique_ptr<test::RawSocket>> socket = test::RawSocket::Connect(broker_->address());
  ASSERT_TRUE(socket.ok()) << socket.status().ToString();
  ScriptedBroker peer(std::move(*socket));  // reads frames; here from the broker
  ASSERT_TRUE(peer.socket().Write(test::HelloFrame()).ok());
  ASSERT_EQ(peer.Read().type(), wire::Body::Welcome);
  proto::FrameEncoder encoder;
  ASSERT_TRUE(
      peer.socket()
          .Write(test::AsString(encoder.Finish(wire::CreateMapRequest(encoder.Start(), 77))))
          .ok());
  OwnedFrame reply = peer.Read();
  ASSERT_EQ(reply.type(), wire::Body::MapReply) << proto::BodyName(reply.type());
  const wire::MapReply& map = *reply.frame->body_as_MapReply();
  EXPECT_EQ(map.correlation_id(), 77u);
  EXPECT_EQ(map.partitions(), 0u);
  EXPECT_TRUE(map.routes() == nullptr || map.routes()->size() == 0);
}

TEST_F(ClientMapSingleNodeTest, SeedListSkipsAnUnreachableNode) {
  // Port 1 on loopback refuses at once; the second seed is the broker.
  ClientOptions options;
  options.server = "127.0.0.1:1, " + broker_->address();
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  PublishResult r = (*client)->Publish("routed", "x").get();
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
}

// ---------------------------------------------------------------------------
// Two scripted nodes.

// A name whose partition is `partition`.
std::string NameIn(uint32_t partition) {
  for (int i = 0;; ++i) {
    std::string name = "q" + std::to_string(i);
    if (PartitionOf(name, kPartitions) == partition) return name;
  }
}

struct SentPublish {
  uint64_t correlation_id = 0;
  std::string queue;
  std::string dedup_id;
};

SentPublish ReadPublish(ScriptedBroker& broker) {
  OwnedFrame f = broker.Read();
  EXPECT_EQ(f.type(), wire::Body::Publish) << proto::BodyName(f.type());
  SentPublish p;
  if (f.type() != wire::Body::Publish) return p;
  const wire::Publish& publish = *f.frame->body_as_Publish();
  p.correlation_id = publish.correlation_id();
  p.queue = std::string(proto::View(publish.queue()));
  p.dedup_id = std::string(proto::View(publish.dedup_id()));
  return p;
}

class ClientRoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* listener : {&a_, &b_}) {
      Result<std::unique_ptr<RawListener>> l = RawListener::Listen();
      ASSERT_TRUE(l.ok()) << l.status().ToString();
      *listener = std::move(*l);
    }
    // Partitions 0 and 1 on node A, 2 and 3 on node B.
    map_ = {a_->address(), a_->address(), b_->address(), b_->address()};
  }

  // Connects through the seed list "A,B"; node A answers the handshake and
  // the map.
  std::unique_ptr<Client> Connect(bool reconnect = true) {
    ClientOptions options;
    options.server = a_->address() + "," + b_->address();
    options.reconnect = reconnect;
    options.client_name = "scripted";
    options.connect_timeout = kWait;
    options.reconnect_initial_delay = milliseconds(10);
    options.reconnect_max_delay = milliseconds(50);
    auto connecting =
        std::async(std::launch::async, [options] { return Client::Connect(options); });
    Result<std::unique_ptr<test::RawSocket>> socket = a_->Accept(kWait);
    EXPECT_TRUE(socket.ok()) << socket.status().ToString();
    if (socket.ok()) {
      node_a_ = std::make_unique<ScriptedBroker>(std::move(*socket));
      node_a_->Handshake(1 << 20, /*answer_map=*/false);
      EXPECT_FALSE(node_a_->reconnect());
      node_a_->AnswerMap(kPartitions, map_);
    }
    Result<std::unique_ptr<Client>> client = connecting.get();
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

  // Accepts the client's connection to node B (made on first use).
  void AcceptB() {
    Result<std::unique_ptr<test::RawSocket>> socket = b_->Accept(kWait);
    ASSERT_TRUE(socket.ok()) << socket.status().ToString();
    node_b_ = std::make_unique<ScriptedBroker>(std::move(*socket));
    // A node connection is not the client's first: it asks for no map.
    node_b_->Handshake(1 << 20, /*answer_map=*/false);
  }

  std::unique_ptr<RawListener> a_;
  std::unique_ptr<RawListener> b_;
  std::vector<std::string> map_;
  std::unique_ptr<ScriptedBroker> node_a_;
  std::unique_ptr<ScriptedBroker> node_b_;
};

TEST_F(ClientRoutingTest, PublishGoesToTheLeaderOfItsPartition) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  const std::string on_a = NameIn(1);
  const std::string on_b = NameIn(2);

  std::future<PublishResult> to_b = client->Publish(on_b, "b");
  ASSERT_NO_FATAL_FAILURE(AcceptB());
  SentPublish sent_b = ReadPublish(*node_b_);
  EXPECT_EQ(sent_b.queue, on_b);
  EXPECT_FALSE(sent_b.dedup_id.empty()) << "every routed publish carries a dedup id";
  node_b_->Send(wire::CreatePublishOk(node_b_->Start(), sent_b.correlation_id, 20, 1, false));
  ASSERT_EQ(to_b.wait_for(kWait), std::future_status::ready);
  PublishResult rb = to_b.get();
  EXPECT_TRUE(rb.status.ok()) << rb.status.ToString();
  EXPECT_EQ(rb.msg_id, 20u);

  std::future<PublishResult> to_a = client->Publish(on_a, "a");
  SentPublish sent_a = ReadPublish(*node_a_);
  EXPECT_EQ(sent_a.queue, on_a);
  node_a_->Send(wire::CreatePublishOk(node_a_->Start(), sent_a.correlation_id, 10, 1, false));
  ASSERT_EQ(to_a.wait_for(kWait), std::future_status::ready);
  PublishResult ra = to_a.get();
  EXPECT_TRUE(ra.status.ok()) << ra.status.ToString();
  EXPECT_EQ(ra.msg_id, 10u);

  // Cluster-wide listings and statistics are per node: the seed's.
  auto stats = std::async(std::launch::async, [&] { return client->Stats(); });
  OwnedFrame request = node_a_->Read();
  ASSERT_EQ(request.type(), wire::Body::StatsRequest);
  std::vector<flatbuffers::Offset<wire::Stat>> none;
  node_a_->Send(wire::CreateStatsReplyDirect(
      node_a_->Start(), request.frame->body_as_StatsRequest()->correlation_id(), &none));
  EXPECT_TRUE(stats.get().ok());
}

TEST_F(ClientRoutingTest, NotLeaderRefetchesTheMapAndResendsWithTheSameDedupId) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  const std::string name = NameIn(1);  // led by A, then by B

  std::future<PublishResult> result = client->Publish(name, "m");
  SentPublish first = ReadPublish(*node_a_);
  ASSERT_FALSE(first.dedup_id.empty());
  auto& fbb = node_a_->Start();
  auto message = fbb.CreateString("partition 1 is led by another node");
  node_a_->Send(wire::CreatePublishError(fbb, first.correlation_id,
                                         static_cast<uint16_t>(ErrorCode::kNotLeader), message));
  // The client asks A for the map again; partition 1 moved to B.
  map_[1] = b_->address();
  ASSERT_NO_FATAL_FAILURE(node_a_->AnswerMap(kPartitions, map_));
  ASSERT_NO_FATAL_FAILURE(AcceptB());
  SentPublish again = ReadPublish(*node_b_);
  EXPECT_EQ(again.queue, name);
  EXPECT_EQ(again.dedup_id, first.dedup_id) << "a resend to the new leader keeps its dedup id";
  node_b_->Send(wire::CreatePublishOk(node_b_->Start(), again.correlation_id, 7, 3, true));
  ASSERT_EQ(result.wait_for(kWait), std::future_status::ready);
  PublishResult r = result.get();
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.msg_id, 7u);
  EXPECT_TRUE(r.duplicate);
}

TEST_F(ClientRoutingTest, NotLeaderFromTheMapsLeaderIsResentThereAfterABackoff) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  const std::string name = NameIn(1);  // led by A throughout

  std::future<PublishResult> result = client->Publish(name, "m");
  SentPublish first = ReadPublish(*node_a_);
  auto& fbb = node_a_->Start();
  auto message = fbb.CreateString("still taking partition 1 over");
  node_a_->Send(wire::CreatePublishError(fbb, first.correlation_id,
                                         static_cast<uint16_t>(ErrorCode::kNotLeader), message));
  // The map still names A: the client holds the publish for one round,
  // asks again, and then sends it to A again.
  ASSERT_NO_FATAL_FAILURE(node_a_->AnswerMap(kPartitions, map_));
  ASSERT_NO_FATAL_FAILURE(node_a_->AnswerMap(kPartitions, map_));
  SentPublish again = ReadPublish(*node_a_);
  EXPECT_EQ(again.queue, name);
  EXPECT_EQ(again.dedup_id, first.dedup_id);
  node_a_->Send(wire::CreatePublishOk(node_a_->Start(), again.correlation_id, 9, 2, false));
  ASSERT_EQ(result.wait_for(kWait), std::future_status::ready);
  PublishResult r = result.get();
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.msg_id, 9u);
}

TEST_F(ClientRoutingTest, SubscriptionMovesToTheNewLeaderAfterFatalNotLeader) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  const std::string name = NameIn(0);  // led by A, then by B

  std::mutex mu;
  std::vector<std::pair<SubscriptionId, uint64_t>> delivered;  // (subscription, seq)
  std::atomic<int> deliveries{0};
  Client* raw = client.get();
  auto subscribing = std::async(std::launch::async, [&] {
    return raw->Subscribe(name, SubscribeOptions{.credit = 7}, [&](const Delivery& d) {
      std::lock_guard<std::mutex> lock(mu);
      delivered.emplace_back(d.subscription, d.seq);
      ++deliveries;
    });
  });
  OwnedFrame subscribe = node_a_->Read();
  ASSERT_EQ(subscribe.type(), wire::Body::Subscribe);
  const uint32_t on_a = subscribe.frame->body_as_Subscribe()->subscription_id();
  node_a_->Send(wire::CreateSubscribeOk(
      node_a_->Start(), subscribe.frame->body_as_Subscribe()->correlation_id(), on_a));
  Result<SubscriptionId> subscription = subscribing.get();
  ASSERT_TRUE(subscription.ok()) << subscription.status().ToString();

  node_a_->Send(wire::CreateDeliver(node_a_->Start(), on_a, 1, 100, 1, 0));
  for (int i = 0; i < 1000 && deliveries.load() < 1; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(deliveries.load(), 1);

  // A stops leading partition 0: its subscribers get a fatal kNotLeader.
  map_[0] = b_->address();
  {
    auto& fbb = node_a_->Start();
    auto message = fbb.CreateString("no longer the leader of partition 0");
    node_a_->Send(wire::CreateError(fbb, static_cast<uint16_t>(ErrorCode::kNotLeader), message, 0,
                                    /*fatal=*/true));
    node_a_.reset();
  }
  // With A unreachable for now, the client asks the next node it knows.
  ASSERT_NO_FATAL_FAILURE(AcceptB());
  ASSERT_NO_FATAL_FAILURE(node_b_->AnswerMap(kPartitions, map_));
  OwnedFrame moved = node_b_->Read();
  ASSERT_EQ(moved.type(), wire::Body::Subscribe) << proto::BodyName(moved.type());
  const wire::Subscribe& s = *moved.frame->body_as_Subscribe();
  EXPECT_EQ(proto::View(s.queue()), name);
  EXPECT_EQ(s.credit(), 7u);
  const uint32_t on_b = s.subscription_id();
  node_b_->Send(wire::CreateSubscribeOk(node_b_->Start(), s.correlation_id(), on_b));

  node_b_->Send(wire::CreateDeliver(node_b_->Start(), on_b, 5, 101, 1, 0));
  for (int i = 0; i < 1000 && deliveries.load() < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(deliveries.load(), 2);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(delivered[0], std::make_pair(*subscription, uint64_t{1}));
    EXPECT_EQ(delivered[1], std::make_pair(*subscription, uint64_t{5}))
        << "the caller's SubscriptionId stays valid across the move";
  }
  // Its acks go to the new leader, under that node's id.
  ASSERT_TRUE(client->Ack(*subscription, 5).ok());
  OwnedFrame ack = node_b_->Read();
  ASSERT_EQ(ack.type(), wire::Body::Ack) << proto::BodyName(ack.type());
  EXPECT_EQ(ack.frame->body_as_Ack()->subscription_id(), on_b);
  EXPECT_EQ(ack.frame->body_as_Ack()->first_seq(), 5u);
}

TEST_F(ClientRoutingTest, RequestsOnANameFollowTheLeader) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  const std::string name = NameIn(3);  // led by B, then by A

  // A group publish goes to the leader of the group's partition.
  std::future<PublishResult> to_group = client->PublishToGroup(name, "g");
  ASSERT_NO_FATAL_FAILURE(AcceptB());
  OwnedFrame publish = node_b_->Read();
  ASSERT_EQ(publish.type(), wire::Body::Publish) << proto::BodyName(publish.type());
  EXPECT_EQ(proto::View(publish.frame->body_as_Publish()->group()), name);
  node_b_->Send(wire::CreatePublishOk(
      node_b_->Start(), publish.frame->body_as_Publish()->correlation_id(), 1, 0, false));
  ASSERT_EQ(to_group.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(to_group.get().status.ok());

  // ConfigureQueue refused with kNotLeader waits for a fresher map and goes
  // to the leader it names.
  QueueSettings settings;
  settings.max_messages = 5;
  auto configuring =
      std::async(std::launch::async, [&] { return client->ConfigureQueue(name, settings); });
  OwnedFrame refused = node_b_->Read();
  ASSERT_EQ(refused.type(), wire::Body::ConfigureQueue) << proto::BodyName(refused.type());
  {
    auto& fbb = node_b_->Start();
    auto message = fbb.CreateString("not the leader");
    node_b_->Send(wire::CreateError(fbb, static_cast<uint16_t>(ErrorCode::kNotLeader), message,
                                    refused.frame->body_as_ConfigureQueue()->correlation_id(),
                                    false));
  }
  map_[3] = a_->address();
  ASSERT_NO_FATAL_FAILURE(node_a_->AnswerMap(kPartitions, map_));
  OwnedFrame again = node_a_->Read();
  ASSERT_EQ(again.type(), wire::Body::ConfigureQueue) << proto::BodyName(again.type());
  EXPECT_EQ(proto::View(again.frame->body_as_ConfigureQueue()->queue()), name);
  node_a_->Send(wire::CreateConfigureQueueOk(
      node_a_->Start(), again.frame->body_as_ConfigureQueue()->correlation_id()));
  ASSERT_EQ(configuring.wait_for(kWait), std::future_status::ready);
  Status configured = configuring.get();
  EXPECT_TRUE(configured.ok()) << configured.ToString();
}

TEST_F(ClientRoutingTest, AcksOfDeliveriesBeforeSubscribeReturnsReachTheNode) {
  // A node delivers as soon as it took the Subscribe, so the handler may
  // ack before the caller's Subscribe has returned. Those acks must reach
  // the node: dropped, each would hold a credit slot until the ack wait
  // runs out, and a subscription whose whole credit arrived in that window
  // would stall. Here the node delivers before it even confirms.
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  const std::string name = NameIn(0);  // led by A

  std::atomic<int> acks_refused{0};
  Client* raw = client.get();
  auto subscribing = std::async(std::launch::async, [&] {
    return raw->Subscribe(name, SubscribeOptions{.credit = 2}, [&](const Delivery& d) {
      if (!raw->Ack(d.subscription, d.seq).ok()) ++acks_refused;
    });
  });
  OwnedFrame subscribe = node_a_->Read();
  ASSERT_EQ(subscribe.type(), wire::Body::Subscribe) << proto::BodyName(subscribe.type());
  const uint32_t on_a = subscribe.frame->body_as_Subscribe()->subscription_id();
  node_a_->Send(wire::CreateDeliver(node_a_->Start(), on_a, 1, 100, 1, 0));
  node_a_->Send(wire::CreateDeliver(node_a_->Start(), on_a, 2, 101, 1, 0));
  for (uint64_t seq : {1, 2}) {
    OwnedFrame ack = node_a_->Read();
    ASSERT_EQ(ack.type(), wire::Body::Ack) << "seq " << seq << ": " << proto::BodyName(ack.type());
    EXPECT_EQ(ack.frame->body_as_Ack()->subscription_id(), on_a);
    EXPECT_EQ(ack.frame->body_as_Ack()->first_seq(), seq);
  }
  node_a_->Send(wire::CreateSubscribeOk(
      node_a_->Start(), subscribe.frame->body_as_Subscribe()->correlation_id(), on_a));
  Result<SubscriptionId> subscription = subscribing.get();
  ASSERT_TRUE(subscription.ok()) << subscription.status().ToString();
  EXPECT_EQ(acks_refused.load(), 0);

  // Later acks go the same way.
  node_a_->Send(wire::CreateDeliver(node_a_->Start(), on_a, 3, 102, 1, 0));
  OwnedFrame ack = node_a_->Read();
  ASSERT_EQ(ack.type(), wire::Body::Ack) << proto::BodyName(ack.type());
  EXPECT_EQ(ack.frame->body_as_Ack()->first_seq(), 3u);
  EXPECT_EQ(acks_refused.load(), 0);
}

// The file descriptors this process has open.
size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

TEST_F(ClientRoutingTest, NodeConnectionsThatGaveUpAreClosed) {
  // Without reconnects, a connection to a node gives up at its first
  // failure, and the client makes a new one when it routes there again.
  // Each one that gave up must be closed: a node that keeps failing while
  // the map names it must not cost descriptors round after round.
  std::unique_ptr<Client> client = Connect(/*reconnect=*/false);
  ASSERT_NE(client, nullptr);
  const size_t before = OpenFds();

  std::future<PublishResult> result = client->Publish(NameIn(2), "to a node that fails");
  // Node B closes every connection at once. Each time, the client asks A
  // for the map, which still names B, and dials B again.
  constexpr int kDials = 30;
  int dials = 0;
  const auto deadline = std::chrono::steady_clock::now() + 2 * kWait;
  while (dials < kDials && std::chrono::steady_clock::now() < deadline) {
    Result<std::unique_ptr<test::RawSocket>> socket = b_->Accept(5ms);
    if (socket.ok()) {
      ++dials;  // and closed
      continue;
    }
    OwnedFrame request = node_a_->Read(5ms);
    if (request.frame == nullptr) continue;
    ASSERT_EQ(request.type(), wire::Body::MapRequest) << proto::BodyName(request.type());
    auto& fbb = node_a_->Start();
    std::vector<flatbuffers::Offset<wire::PartitionRoute>> routes;
    for (const std::string& leader : map_) {
      routes.push_back(wire::CreatePartitionRouteDirect(fbb, leader.c_str(), 1));
    }
    node_a_->Send(wire::CreateMapReplyDirect(
        fbb, request.frame->body_as_MapRequest()->correlation_id(), kPartitions, &routes));
  }
  ASSERT_EQ(dials, kDials);
  // What stands: the connection to A and the latest to B, a few descriptors
  // each (the socket, the loop's epoll and its wakeup).
  const auto closed_by = std::chrono::steady_clock::now() + kWait;
  while (OpenFds() > before + 8 && std::chrono::steady_clock::now() < closed_by) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LE(OpenFds(), before + 8)
      << kDials << " connections to B, " << before << " descriptors before";
  EXPECT_EQ(result.wait_for(0s), std::future_status::timeout)
      << "the publish waits for B or another leader";
}

}  // namespace
}  // namespace hermod
