// Well-formed frames with random contents, sent straight over sockets: every
// client frame type, field values at and past their edges (seq ranges
// backwards, ids never given out, zero and huge credits and limits, names
// valid and not, group and queue operations in any order), several
// connections at once, some closed mid-stream. The broker must answer or
// refuse each, never crash, and afterwards still serve a normal client and
// pass `hermod db check`. Seeded (printed), so a failure replays.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "raw_socket.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using std::chrono::milliseconds;

class FrameMaker {
 public:
  explicit FrameMaker(uint64_t seed) : rng_(seed) {}

  std::string Hello() {
    auto& fbb = encoder_.Start();
    auto name = fbb.CreateString("random");
    return Bytes(wire::CreateHello(fbb, proto::kProtocolVersion, name));
  }

  // One client frame of a random type with random contents.
  std::string Any() {
    // A second Hello is fatal (a protocol violation): rare, so that most
    // connections live long enough to mix many frames.
    if (Pick(100) == 0) return Hello();
    auto& fbb = encoder_.Start();
    switch (Pick(12)) {
      case 0: {
        auto queue = fbb.CreateString(Name());
        auto group = Pick(4) == 0 ? fbb.CreateString(Name()) : 0;
        std::string body(Pick(3) == 0 ? Pick(5000) : Pick(40), 'p');
        auto payload = fbb.CreateVector(reinterpret_cast<const uint8_t*>(body.data()), body.size());
        std::vector<flatbuffers::Offset<wire::Header>> headers;
        for (uint32_t i = Pick(4); i > 0; --i) {
          headers.push_back(wire::CreateHeaderDirect(fbb, Name().c_str(), Name().c_str()));
        }
        auto header_vec = fbb.CreateVector(headers);
        auto dedup = Pick(3) == 0 ? fbb.CreateString(Name()) : 0;
        return Bytes(wire::CreatePublish(fbb, Number(), Pick(8) == 0 ? 0 : queue, payload,
                                         header_vec, Pick(2) ? 0 : Number(), dedup, group));
      }
      case 1: {
        auto queue = fbb.CreateString(Name());
        return Bytes(wire::CreateSubscribe(fbb, Number(), SmallId(), queue,
                                           static_cast<uint32_t>(Number()),
                                           static_cast<uint32_t>(Number())));
      }
      case 2:
        return Bytes(wire::CreateCredit(fbb, SmallId(), static_cast<uint32_t>(Number())));
      case 3:
        return Bytes(wire::CreateAck(fbb, SmallId(), Number(), Number()));
      case 4:
        return Bytes(wire::CreateNack(fbb, SmallId(), Number(), static_cast<uint32_t>(Number())));
      case 5:
        return Bytes(wire::CreateUnsubscribe(fbb, Number(), SmallId()));
      case 6: {
        auto queue = fbb.CreateString(Name());
        auto overflow = fbb.CreateString(Pick(2) ? "drop-oldest" : Name());
        auto dlq = Pick(2) ? fbb.CreateString(Name()) : 0;
        wire::ConfigureQueueBuilder b(fbb);
        b.add_correlation_id(Number());
        b.add_queue(queue);
        b.add_reset(Pick(4) == 0);
        if (Pick(2)) b.add_max_messages(Number() % 5);
        if (Pick(2)) b.add_max_bytes(Number());
        if (Pick(2)) b.add_overflow(overflow);
        if (Pick(2)) b.add_max_age_ms(Number());
        if (Pick(2)) b.add_max_deliveries(static_cast<uint32_t>(Number() % 4));
        if (dlq.o != 0) b.add_dead_letter_queue(dlq);
        if (Pick(2)) b.add_ack_wait_ms(static_cast<uint32_t>(Number()));
        return Bytes(b.Finish());
      }
      case 7: {
        auto group = fbb.CreateString(Name());
        std::vector<flatbuffers::Offset<flatbuffers::String>> members;
        for (uint32_t i = Pick(5); i > 0; --i) members.push_back(fbb.CreateString(Name()));
        auto member_vec = fbb.CreateVector(members);
        auto prefix = fbb.CreateString(Name().substr(0, Pick(3)));
        auto after = fbb.CreateString(Pick(2) ? "" : Name());
        return Bytes(wire::CreateGroupRequest(fbb, Number(), static_cast<wire::GroupOp>(Pick(7)),
                                              group, member_vec, prefix, after,
                                              static_cast<uint32_t>(Number())));
      }
      case 8: {
        auto queue = fbb.CreateString(Name());
        auto prefix = fbb.CreateString(Name().substr(0, Pick(3)));
        auto after = fbb.CreateString(Pick(2) ? "" : Name());
        const char* sorts[] = {"name", "depth", "bytes", "age", "size", ""};
        auto sort = fbb.CreateString(sorts[Pick(6)]);
        return Bytes(wire::CreateQueueRequest(fbb, Number(), static_cast<wire::QueueOp>(Pick(6)),
                                              queue, prefix, after, static_cast<uint32_t>(Number()),
                                              sort, Number()));
      }
      case 9:
        return Bytes(wire::CreateStatsRequest(fbb, Number()));
      case 10:
        return Bytes(wire::CreatePing(fbb, Number()));
      default:
        return Bytes(wire::CreatePong(fbb, Number()));
    }
  }

  uint32_t Pick(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }

 private:
  template <typename T>
  std::string Bytes(flatbuffers::Offset<T> body) {
    std::span<const uint8_t> frame = encoder_.Finish(body);
    return std::string(reinterpret_cast<const char*>(frame.data()), frame.size());
  }
  // Small, so that frames meet the same few queues, groups and seqs.
  std::string Name() {
    static const char* names[] = {"q1", "q2", "q3", "q1.dlq", "g1", "g2", "", "bad name", "x:y"};
    uint32_t i = Pick(10);
    if (i == 9) return std::string(300, 'n');  // longer than a name may be
    return names[i];
  }
  uint64_t Number() {
    switch (Pick(6)) {
      case 0:
        return 0;
      case 1:
        return UINT64_MAX;
      case 2:
        return UINT32_MAX;
      case 3:
        return rng_();
      default:
        return Pick(20);
    }
  }
  uint32_t SmallId() { return Pick(4); }

  std::mt19937_64 rng_;
  proto::FrameEncoder encoder_;
};

TEST(RandomFramesTest, TheBrokerAnswersOrRefusesEveryFrameAndKeepsServing) {
  TempDir dir;
  BrokerProcess broker(
      {.data_dir = dir.Join("data"),
       .extra_args = {"--sync", "batch", "--apply-lag-ms", "20", "--log-level", "error"}});
  ASSERT_TRUE(broker.Start().ok());
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  FrameMaker maker(seed);

  constexpr int kRounds = 100;
  constexpr int kConnections = 4;
  constexpr int kFrames = 60;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<RawSocket>> sockets;
    for (int c = 0; c < kConnections; ++c) {
      Result<std::unique_ptr<RawSocket>> s = RawSocket::Connect(broker.address());
      ASSERT_TRUE(s.ok()) << "round " << round << " (seed " << seed
                          << "): " << s.status().ToString();
      sockets.push_back(std::move(*s));
    }
    for (int f = 0; f < kFrames; ++f) {
      for (auto& s : sockets) {
        // Mostly greeted connections; sometimes frames before any Hello.
        std::string bytes = f == 0 && maker.Pick(8) != 0 ? maker.Hello() : maker.Any();
        (void)s->Write(bytes);  // the broker may have closed it (fatal error)
      }
    }
    // Read what came back, without waiting for connections kept open.
    for (auto& s : sockets) (void)s->Read(milliseconds(5));
    if (maker.Pick(2) == 0) sockets.pop_back();  // one closes first

    // Still serving: a normal client publishes, consumes and gets stats.
    std::unique_ptr<Client> client = ConnectClient(broker.address());
    ASSERT_NE(client, nullptr) << "round " << round << " (seed " << seed << ")";
    const std::string queue = "check." + std::to_string(round);
    ASSERT_TRUE(client->Publish(queue, "still here").get().status.ok()) << "seed " << seed;
    ASSERT_TRUE(client->ShowQueue(queue).ok()) << "seed " << seed;
    ASSERT_TRUE(broker.running()) << "seed " << seed;
  }
  ExitStatus stopped = broker.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString() << " (seed " << seed << ")";

  // Whatever the frames did, the store is consistent.
  SCOPED_TRACE("seed " + std::to_string(seed));
  ExpectStoreChecksClean(dir.Join("data"));
}

}  // namespace
}  // namespace hermod::test
