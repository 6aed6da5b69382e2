// PeerLinks over 127.0.0.1, all on one loop: links come up with a handshake
// both ways, frames flow both ways in order, a broken socket comes back by
// itself, a wrong cluster or a silent connection is refused, and Send()
// honours the bound on unwritten bytes. Every wait runs the loop until a condition holds or a
// deadline passes; nothing sleeps.
#include "peer_links.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "net/address.h"
#include "net/listener.h"
#include "net/tls_context.h"

namespace hermod::peer {
namespace {

constexpr uint64_t kDeadlineMs = 10000;

// What one PeerLinks saw through its callbacks.
struct Seen {
  std::vector<std::string> up;  // node ids, in order
  std::vector<uint64_t> up_incarnations;
  std::vector<std::string> down;
  std::vector<uint64_t> leader_commits;  // LeaderCommit.leader_commit, in order
  std::vector<std::string> records;      // Replicate.record, in order
  std::vector<uint64_t> corrupt_partitions;
  std::vector<ErrorCode> down_codes;
  int writable = 0;
};

class PeerLinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loop_.Init().ok());
    uv_timer_init(loop_.uv(), &wake_);
  }

  void TearDown() override {
    for (auto& links : links_) links->Close();
    EXPECT_TRUE(RunUntil([&] {
      for (auto& links : links_) {
        if (!links->closed()) return false;
      }
      return true;
    }));
    links_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    loop_.Close();
  }

  PeerLinks& Make(const std::string& node_id, Seen& seen, const std::string& cluster = "c1",
                  size_t max_unwritten_bytes = 8u << 20, uint64_t handshake_timeout_ms = 5000,
                  const std::function<void(PeerLinks::Options&)>& tweak = {}) {
    PeerLinks::Options options;
    options.cluster = cluster;
    options.node_id = node_id;
    options.incarnation = node_id.size() * 100 + static_cast<uint64_t>(node_id.back());
    options.max_unwritten_bytes = max_unwritten_bytes;
    options.reconnect_initial_ms = 10;
    options.reconnect_max_ms = 100;
    options.handshake_timeout_ms = handshake_timeout_ms;
    if (tweak) tweak(options);
    PeerLinks::Callbacks callbacks;
    callbacks.on_up = [&seen](const std::string& id, const proto::PeerIdentity& peer) {
      seen.up.push_back(id);
      seen.up_incarnations.push_back(peer.incarnation);
    };
    callbacks.on_down = [&seen](const std::string& id, const Status& why) {
      seen.down.push_back(id);
      seen.down_codes.push_back(why.code());
    };
    callbacks.on_leader_commit = [&seen](const std::string&, const proto::LeaderCommitFrame& c) {
      seen.leader_commits.push_back(c.leader_commit);
    };
    callbacks.on_replicate = [&seen](const std::string&, const proto::ReplicateFrame& part) {
      seen.records.emplace_back(part.record);
    };
    callbacks.on_corrupt_replicate = [&seen](const std::string&, uint32_t partition, uint64_t,
                                             const Status& why) {
      EXPECT_EQ(why.code(), ErrorCode::kCorruption);
      seen.corrupt_partitions.push_back(partition);
    };
    callbacks.on_writable = [&seen](const std::string&) { ++seen.writable; };
    links_.push_back(std::make_unique<PeerLinks>(loop_, options, callbacks));
    EXPECT_TRUE(links_.back()->Start().ok());
    return *links_.back();
  }

  // Runs the loop for ms milliseconds (by the loop's clock).
  void RunFor(uint64_t ms) {
    uv_update_time(loop_.uv());
    uint64_t until = loop_.now_ms() + ms;
    EXPECT_TRUE(RunUntil([&] { return loop_.now_ms() >= until; }));
  }

  // Runs the loop until pred() holds; false when the deadline passed first.
  bool RunUntil(const std::function<bool()>& pred) {
    uv_update_time(loop_.uv());
    uint64_t deadline = loop_.now_ms() + kDeadlineMs;
    // A repeating timer, so that a turn never waits beyond the deadline.
    uv_timer_start(
        &wake_, [](uv_timer_t*) noexcept {}, 5, 5);
    bool ok = true;
    while (!pred()) {
      if (loop_.now_ms() > deadline) {
        ok = false;
        break;
      }
      uv_run(loop_.uv(), UV_RUN_ONCE);
    }
    uv_timer_stop(&wake_);
    return ok;
  }

  // Sends LeaderCommit frames first..last from `from` to `to`.
  void SendCommits(PeerLinks& from, const std::string& to, uint64_t first, uint64_t last) {
    for (uint64_t i = first; i <= last; ++i) {
      ASSERT_TRUE(from.Send(to, proto::EncodeLeaderCommit(encoder_, {1, 1, i}))) << i;
    }
  }

  static std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
    std::vector<uint64_t> out;
    for (uint64_t i = first; i <= last; ++i) out.push_back(i);
    return out;
  }

  net::Loop loop_;
  uv_timer_t wake_;
  proto::FrameEncoder encoder_;
  std::vector<std::unique_ptr<PeerLinks>> links_;
};

TEST_F(PeerLinksTest, LinksComeUpWithTheHandshake) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb);
  EXPECT_FALSE(a.Send("node-b", proto::EncodeLeaderCommit(encoder_, {1, 1, 1})));
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  EXPECT_EQ(sa.up, std::vector<std::string>{"node-b"});
  EXPECT_EQ(sb.up, std::vector<std::string>{"node-a"});
  // Each side learnt the other's incarnation from PeerHello / PeerWelcome.
  EXPECT_EQ(sa.up_incarnations, std::vector<uint64_t>{600 + 'b'});
  EXPECT_EQ(sb.up_incarnations, std::vector<uint64_t>{600 + 'a'});
  EXPECT_EQ(a.handshakes_refused() + b.handshakes_refused(), 0u);
}

TEST_F(PeerLinksTest, FramesFlowBothWaysInOrder) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb);
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  SendCommits(a, "node-b", 1, 500);
  SendCommits(b, "node-a", 1000, 1300);
  ASSERT_TRUE(RunUntil([&] { return sb.leader_commits.size() == 500; }));
  ASSERT_TRUE(RunUntil([&] { return sa.leader_commits.size() == 301; }));
  EXPECT_EQ(sb.leader_commits, Range(1, 500));
  EXPECT_EQ(sa.leader_commits, Range(1000, 1300));
}

TEST_F(PeerLinksTest, ABrokenLinkComesBackByItself) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb);
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));

  // Broken on the dialer's side, then on the acceptor's.
  for (PeerLinks* breaker : {&a, &b}) {
    size_t ups_a = sa.up.size(), ups_b = sb.up.size();
    breaker->TEST_BreakLink(breaker == &a ? "node-b" : "node-a");
    ASSERT_TRUE(RunUntil([&] { return sa.up.size() > ups_a && sb.up.size() > ups_b; }));
    ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  }
  EXPECT_EQ(sa.down.size(), 2u);
  EXPECT_EQ(sb.down.size(), 2u);
  // And the link carries frames again.
  SendCommits(a, "node-b", 7, 9);
  ASSERT_TRUE(RunUntil([&] { return sb.leader_commits.size() == 3; }));
  EXPECT_EQ(sb.leader_commits, Range(7, 9));
}

TEST_F(PeerLinksTest, ADialerStartedBeforeItsPeerKeepsTrying) {
  Seen sa, sb;
  PeerLinks& b = Make("node-b", sb);
  std::string b_address = b.address();
  PeerLinks& a = Make("node-a", sa);
  // node-a dials an address nobody listens on first, then the right one.
  a.SetPeers({{"node-b", "127.0.0.1:1"}});
  ASSERT_TRUE(RunUntil([&] { return a.dial_attempts() >= 3; }));  // refused, retried
  EXPECT_FALSE(a.up("node-b"));
  a.SetPeers({{"node-b", b_address}});
  b.SetPeers({{"node-a", a.address()}});
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
}

TEST_F(PeerLinksTest, AWrongClusterIsRefused) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa, "cluster-x");
  PeerLinks& b = Make("node-b", sb, "cluster-y");
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  // b refuses each attempt with an Error frame; a counts the refusals and
  // keeps retrying with backoff.
  ASSERT_TRUE(RunUntil([&] { return b.handshakes_refused() >= 2 && a.handshakes_refused() >= 2; }));
  EXPECT_TRUE(sa.up.empty());
  EXPECT_TRUE(sb.up.empty());
  EXPECT_FALSE(a.up("node-b"));
}

TEST_F(PeerLinksTest, SendRefusesBeyondTheBoundThenSaysWritable) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa, "c1", /*max_unwritten_bytes=*/4096);
  PeerLinks& b = Make("node-b", sb);
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  // Within one loop turn nothing is written, so the bound is reached.
  uint64_t sent = 0;
  while (a.Send("node-b", proto::EncodeLeaderCommit(encoder_, {1, 1, sent + 1}))) ++sent;
  EXPECT_GT(sent, 0u);
  EXPECT_LT(sent, 4096u);
  ASSERT_TRUE(RunUntil([&] { return sa.writable == 1; }));
  ASSERT_TRUE(a.Send("node-b", proto::EncodeLeaderCommit(encoder_, {1, 1, sent + 1})));
  ASSERT_TRUE(RunUntil([&] { return sb.leader_commits.size() == sent + 1; }));
  EXPECT_EQ(sb.leader_commits, Range(1, sent + 1));
}

TEST_F(PeerLinksTest, APeerRemovedIsClosedAndAddedAgainComesBack) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb);
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  a.SetPeers({{"node-a", a.address()}});  // node-b leaves a's map
  EXPECT_FALSE(a.up("node-b"));
  EXPECT_FALSE(a.Send("node-b", proto::EncodeLeaderCommit(encoder_, {1, 1, 1})));
  ASSERT_TRUE(RunUntil([&] { return sb.down.size() == 1; }));
  EXPECT_TRUE(sa.down.empty());  // removed by its owner: no on_down
  a.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  EXPECT_EQ(sa.up.size(), 2u);
  EXPECT_EQ(sb.up.size(), 2u);
}

// A plain framed connection that records what it receives.
struct SilentClient : net::Connection::Handler {
  bool OnFrame(net::Connection&, const wire::Frame& frame) override {
    if (frame.body_type() == wire::Body::Error) {
      error_code = static_cast<ErrorCode>(frame.body_as_Error()->code());
    }
    return true;
  }
  void OnBadInput(net::Connection& conn, const Status& why) override { conn.Close(why); }
  void OnClosed(net::Connection&, const Status&) override { closed = true; }
  ErrorCode error_code = ErrorCode::kOk;
  bool closed = false;
};

TEST_F(PeerLinksTest, ASilentConnectionIsClosedAfterTheHandshakeTimeout) {
  Seen sb;
  PeerLinks& b = Make("node-b", sb, "c1", 8u << 20, /*handshake_timeout_ms=*/50);
  b.SetPeers({{"node-a", "127.0.0.1:1"}});
  SilentClient client;
  net::Connection* conn = net::Connection::Create(loop_, {});
  ASSERT_NE(conn, nullptr);
  conn->set_handler(&client);
  auto addr = net::ParseHostPort(b.address());
  ASSERT_TRUE(addr.ok());
  conn->Connect(reinterpret_cast<const sockaddr*>(&*addr), [](const Status&) {});
  ASSERT_TRUE(RunUntil([&] { return client.closed; }));  // says nothing: is closed by b
  EXPECT_EQ(client.error_code, ErrorCode::kTimeout);
  EXPECT_TRUE(sb.up.empty());
}

// Answers PeerHello with PeerWelcome as `node_id` would, then never says
// another word: a peer that has stalled after its handshake.
struct StalledPeer : net::Connection::Handler {
  bool OnFrame(net::Connection& conn, const wire::Frame& frame) override {
    ++frames;
    if (frame.body_type() == wire::Body::PeerHello && !welcomed) {
      welcomed = true;
      conn.Send(proto::EncodePeerWelcome(encoder, {"c1", node_id, 7, proto::kPeerProtocolVersion}));
    }
    return true;
  }
  void OnBadInput(net::Connection& conn, const Status& why) override { conn.Close(why); }
  void OnClosed(net::Connection&, const Status&) override { ++closed; }
  proto::FrameEncoder encoder;
  std::string node_id = "node-b";
  bool welcomed = false;
  int frames = 0;
  int closed = 0;
};

void FastHeartbeat(PeerLinks::Options& o) {
  o.ping_interval_ms = 20;
  o.dead_after_ms = 200;
}

TEST_F(PeerLinksTest, APeerThatStopsAnsweringIsDeclaredDownAfterDeadAfter) {
  StalledPeer stalled;
  net::Listener listener(loop_, {}, [&](net::Connection&) -> net::Connection::Handler* {
    stalled.welcomed = false;
    return &stalled;
  });
  ASSERT_TRUE(listener.Listen("127.0.0.1:0").ok());
  Seen sa;
  PeerLinks& a = Make("node-a", sa, "c1", 8u << 20, 5000, FastHeartbeat);
  a.SetPeers({{"node-b", listener.address()}});
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b"); }));
  uv_update_time(loop_.uv());
  uint64_t up_at = loop_.now_ms();
  ASSERT_TRUE(RunUntil([&] { return sa.down.size() == 1; }));
  EXPECT_GE(loop_.now_ms() - up_at, 190u);  // not before dead_after_ms
  EXPECT_EQ(sa.down_codes[0], ErrorCode::kTimeout);
  EXPECT_EQ(a.links_timed_out(), 1u);
  EXPECT_GT(stalled.frames, 2);  // Hello and Pings, never answered
  // The dialer dials again, and the stalled peer's next handshake brings it up.
  ASSERT_TRUE(RunUntil([&] { return sa.up.size() == 2; }));
  a.Close();
  listener.Close();
  ASSERT_TRUE(RunUntil([&] { return a.closed() && listener.closed(); }));
}

TEST_F(PeerLinksTest, PingsKeepAnIdleLinkUp) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa, "c1", 8u << 20, 5000, FastHeartbeat);
  PeerLinks& b = Make("node-b", sb, "c1", 8u << 20, 5000, FastHeartbeat);
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  RunFor(1000);  // five times dead_after_ms without a frame of our own
  EXPECT_TRUE(sa.down.empty());
  EXPECT_TRUE(sb.down.empty());
  EXPECT_EQ(a.links_timed_out() + b.links_timed_out(), 0u);
}

TEST_F(PeerLinksTest, ThreeNodesGetOneLinkPerPair) {
  Seen sa, sb, sc;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb);
  PeerLinks& c = Make("node-c", sc);
  std::map<std::string, std::string> peers{
      {"node-a", a.address()}, {"node-b", b.address()}, {"node-c", c.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  c.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] {
    return a.up("node-b") && a.up("node-c") && b.up("node-a") && b.up("node-c") && c.up("node-a") &&
           c.up("node-b");
  }));
  RunFor(100);  // time for any second connection to show up
  EXPECT_EQ(sa.up.size(), 2u);
  EXPECT_EQ(sb.up.size(), 2u);
  EXPECT_EQ(sc.up.size(), 2u);
  EXPECT_TRUE(sa.down.empty() && sb.down.empty() && sc.down.empty());
  // Only the smaller id of each pair dials: a twice, b once, c never.
  EXPECT_EQ(a.dial_attempts(), 2u);
  EXPECT_EQ(b.dial_attempts(), 1u);
  EXPECT_EQ(c.dial_attempts(), 0u);
}

// Speaks the peer protocol by hand, as `node_id`, on a plain connection.
struct HandClient : net::Connection::Handler {
  bool OnFrame(net::Connection&, const wire::Frame& frame) override {
    if (frame.body_type() == wire::Body::PeerWelcome) welcomed = true;
    if (frame.body_type() == wire::Body::Error) {
      error_code = static_cast<ErrorCode>(frame.body_as_Error()->code());
    }
    return true;
  }
  void OnBadInput(net::Connection& conn, const Status& why) override { conn.Close(why); }
  void OnClosed(net::Connection&, const Status&) override { closed = true; }
  bool welcomed = false;
  ErrorCode error_code = ErrorCode::kOk;
  bool closed = false;
};

net::Connection* DialHand(net::Loop& loop, HandClient& client, const std::string& address,
                          std::function<void(net::Connection*)> then) {
  net::Connection* conn = net::Connection::Create(loop, {});
  if (conn == nullptr) return nullptr;
  conn->set_handler(&client);
  auto addr = net::ParseHostPort(address);
  if (!addr.ok()) return nullptr;
  conn->Connect(reinterpret_cast<const sockaddr*>(&*addr), [conn, then](const Status& s) {
    if (s.ok()) then(conn);
  });
  return conn;
}

TEST_F(PeerLinksTest, ADuplicateConnectionResolvesToOneLink) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb);
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  // A second connection that claims to be node-a (as after a race, or a
  // restart whose old socket b has not noticed): the newer one wins.
  HandClient dup;
  ASSERT_NE(DialHand(loop_, dup, b.address(),
                     [&](net::Connection* conn) {
                       conn->Send(proto::EncodePeerHello(
                           encoder_, {"c1", "node-a", 1, proto::kPeerProtocolVersion}));
                     }),
            nullptr);
  ASSERT_TRUE(RunUntil([&] { return dup.welcomed; }));
  // a's old link was closed by b; a dials again and replaces dup in turn.
  ASSERT_TRUE(RunUntil([&] { return dup.closed && a.up("node-b") && sa.up.size() == 2; }));
  ASSERT_TRUE(RunUntil([&] { return b.up("node-a"); }));
  SendCommits(a, "node-b", 1, 10);
  ASSERT_TRUE(RunUntil([&] { return sb.leader_commits.size() == 10; }));
  EXPECT_EQ(sb.leader_commits, Range(1, 10));
}

TEST_F(PeerLinksTest, AForeignFrameAfterTheHandshakeClosesTheLink) {
  Seen sb;
  PeerLinks& b = Make("node-b", sb);
  b.SetPeers({{"node-a", "127.0.0.1:1"}});
  HandClient hand;
  ASSERT_NE(DialHand(loop_, hand, b.address(),
                     [&](net::Connection* conn) {
                       conn->Send(proto::EncodePeerHello(
                           encoder_, {"c1", "node-a", 1, proto::kPeerProtocolVersion}));
                       auto& fbb = encoder_.Start();
                       conn->Send(encoder_.Finish(wire::CreateStatsRequest(fbb, 1)));
                     }),
            nullptr);
  ASSERT_TRUE(RunUntil([&] { return hand.closed; }));
  EXPECT_TRUE(hand.welcomed);
  EXPECT_EQ(hand.error_code, ErrorCode::kUnknownFrame);
  ASSERT_TRUE(RunUntil([&] { return sb.down.size() == 1; }));
}

TEST_F(PeerLinksTest, ReplicateArrivesAndACorruptOneIsReportedWithoutItsPayload) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb);
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  proto::ReplicateFrame part{7, 3, 10, 11, 9, "ops-11", "commit-11"};
  ASSERT_TRUE(a.Send("node-b", proto::EncodeReplicate(encoder_, part)));
  proto::ReplicateFrame bad{8, 3, 11, 12, 9, "ops-12", "commit-12"};
  ASSERT_TRUE(a.Send("node-b", proto::TEST_EncodeReplicateWithChecksum(
                                   encoder_, bad, proto::ReplicateChecksum(bad) ^ 1)));
  proto::ReplicateFrame next{7, 3, 11, 12, 9, "ops-13", ""};
  ASSERT_TRUE(a.Send("node-b", proto::EncodeReplicate(encoder_, next)));
  ASSERT_TRUE(RunUntil([&] { return sb.records.size() == 2; }));
  EXPECT_EQ(sb.records, (std::vector<std::string>{"ops-11", "ops-13"}));
  EXPECT_EQ(sb.corrupt_partitions, std::vector<uint64_t>{8});
  EXPECT_EQ(b.corrupt_replicates(), 1u);
  EXPECT_TRUE(sa.down.empty() && sb.down.empty());  // corruption keeps the link
}

TEST_F(PeerLinksTest, AFrameAboveMaxFrameBytesClosesTheLink) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb, "c1", 8u << 20, 5000,
                      [](PeerLinks::Options& o) { o.max_frame_bytes = 64u << 10; });
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  std::string big(100u << 10, 'x');
  ASSERT_TRUE(a.Send("node-b", proto::EncodeReplicate(encoder_, {1, 1, 0, 1, 0, big, ""})));
  ASSERT_TRUE(RunUntil([&] { return !sb.down.empty() && !sa.down.empty(); }));
  EXPECT_EQ(sb.down_codes[0], ErrorCode::kFrameTooLarge);
  EXPECT_TRUE(sb.records.empty());
  // The link comes back; frames within the bound flow.
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  ASSERT_TRUE(a.Send("node-b", proto::EncodeReplicate(encoder_, {1, 1, 0, 1, 0, "small", ""})));
  ASSERT_TRUE(RunUntil([&] { return sb.records.size() == 1; }));
}

TEST_F(PeerLinksTest, AnEmptyLinkTakesAFrameAboveTheUnwrittenBound) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa, "c1", /*max_unwritten_bytes=*/4096);
  PeerLinks& b = Make("node-b", sb);
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  std::string big(1u << 20, 'y');
  ASSERT_TRUE(a.Send("node-b", proto::EncodeReplicate(encoder_, {1, 1, 0, 1, 0, big, ""})));
  EXPECT_FALSE(a.Send("node-b", proto::EncodeReplicate(encoder_, {1, 1, 1, 2, 0, "z", ""})));
  ASSERT_TRUE(RunUntil([&] { return sb.records.size() == 1 && sa.writable == 1; }));
  EXPECT_EQ(sb.records[0].size(), big.size());
}

TEST_F(PeerLinksTest, AnUnknownPeerProtocolVersionIsRefused) {
  Seen sb;
  PeerLinks& b = Make("node-b", sb);
  b.SetPeers({{"node-a", "127.0.0.1:1"}});
  HandClient hand;
  ASSERT_NE(DialHand(loop_, hand, b.address(),
                     [&](net::Connection* conn) {
                       conn->Send(proto::EncodePeerHello(encoder_, {"c1", "node-a", 1, 99}));
                     }),
            nullptr);
  ASSERT_TRUE(RunUntil([&] { return hand.closed; }));
  EXPECT_FALSE(hand.welcomed);
  EXPECT_EQ(hand.error_code, ErrorCode::kUnsupportedVersion);
  EXPECT_EQ(b.handshakes_refused(), 1u);
  EXPECT_TRUE(sb.up.empty());
}

TEST_F(PeerLinksTest, ANodeThatShouldNotDialIsRefused) {
  Seen sb;
  PeerLinks& b = Make("node-b", sb);
  b.SetPeers({{"node-a", "127.0.0.1:1"}, {"node-c", "127.0.0.1:1"}});
  // node-c's id is larger than b's: b dials it, so c may not dial b. And
  // node-x is not a member at all.
  for (const char* who : {"node-c", "node-x"}) {
    HandClient hand;
    ASSERT_NE(DialHand(loop_, hand, b.address(),
                       [&, who](net::Connection* conn) {
                         conn->Send(proto::EncodePeerHello(
                             encoder_, {"c1", who, 1, proto::kPeerProtocolVersion}));
                       }),
              nullptr);
    ASSERT_TRUE(RunUntil([&] { return hand.closed; })) << who;
    EXPECT_FALSE(hand.welcomed) << who;
    EXPECT_EQ(hand.error_code, ErrorCode::kInvalidArgument) << who;
  }
  EXPECT_TRUE(sb.up.empty());
}

// TLS on the links (issue 13): a CA and a node certificate for 127.0.0.1
// (both key usages: a node is the server of links it accepts and the
// client of those it dials), made with the openssl CLI in a temporary
// directory.
struct NodePki {
  std::string ca, cert, key;
};

NodePki MakeNodePki(const std::string& dir, const std::string& name) {
  const std::string p = dir + "/" + name;
  NodePki pki{p + "-ca.pem", p + "-node.pem", p + "-node.key"};
  std::ofstream(p + ".ext") << "subjectAltName=IP:127.0.0.1\n";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  const std::string script = "set -e; exec 2>/dev/null; openssl req -x509" + ec + "-keyout " + p +
                             "-ca.key -out " + pki.ca + " -days 2 -subj '/CN=peer CA " + name +
                             "'; openssl req" + ec + "-keyout " + pki.key + " -out " + p +
                             ".csr -subj /CN=node; openssl x509 -req -in " + p + ".csr -CA " +
                             pki.ca + " -CAkey " + p + "-ca.key -set_serial 2 -days 2 -extfile " +
                             p + ".ext -out " + pki.cert;
  EXPECT_EQ(std::system(script.c_str()), 0) << script;
  return pki;
}

class PeerLinksTlsTest : public PeerLinksTest {
 protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/hermod-peer-tls.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    a_ = MakeNodePki(dir_, "a");
    b_ = MakeNodePki(dir_, "b");
  }
  static void TearDownTestSuite() { EXPECT_EQ(std::system(("rm -rf " + dir_).c_str()), 0); }

  // Options for a node presenting `own`'s certificate and trusting `trust`.
  static std::function<void(PeerLinks::Options&)> Tls(const NodePki& own, const NodePki& trust) {
    return [own, trust](PeerLinks::Options& options) {
      auto accept = net::TlsContext::ForServer(own.cert, own.key, trust.ca);
      auto dial = net::TlsContext::ForClient(trust.ca, own.cert, own.key);
      ASSERT_TRUE(accept.ok()) << accept.status().ToString();
      ASSERT_TRUE(dial.ok()) << dial.status().ToString();
      options.connection.tls = *accept;
      options.dial_tls = *dial;
    };
  }

  static std::string dir_;
  static NodePki a_, b_;
};

std::string PeerLinksTlsTest::dir_;
NodePki PeerLinksTlsTest::a_;
NodePki PeerLinksTlsTest::b_;

TEST_F(PeerLinksTlsTest, LinksComeUpOverTlsAndCarryFramesBothWays) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa, "c1", 8u << 20, 5000, Tls(a_, a_));
  PeerLinks& b = Make("node-b", sb, "c1", 8u << 20, 5000, Tls(a_, a_));
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.up("node-b") && b.up("node-a"); }));
  SendCommits(a, "node-b", 1, 500);
  SendCommits(b, "node-a", 1000, 1300);
  ASSERT_TRUE(RunUntil([&] { return sb.leader_commits.size() == 500; }));
  ASSERT_TRUE(RunUntil([&] { return sa.leader_commits.size() == 301; }));
  EXPECT_EQ(sb.leader_commits, Range(1, 500));
  EXPECT_EQ(sa.leader_commits, Range(1000, 1300));
}

TEST_F(PeerLinksTlsTest, APeerWhoseCertificateAnotherCaSignedNeverComesUp) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa, "c1", 8u << 20, 5000, Tls(a_, a_));
  PeerLinks& b = Make("node-b", sb, "c1", 8u << 20, 5000, Tls(b_, a_));
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  // node-a dials and refuses node-b's certificate, again and again.
  ASSERT_TRUE(RunUntil([&] { return a.dial_attempts() >= 3; }));
  EXPECT_TRUE(sa.up.empty());
  EXPECT_TRUE(sb.up.empty());
}

TEST_F(PeerLinksTlsTest, APlaintextPeerNeverComesUp) {
  Seen sa, sb;
  PeerLinks& a = Make("node-a", sa);
  PeerLinks& b = Make("node-b", sb, "c1", 8u << 20, 5000, Tls(a_, a_));
  std::map<std::string, std::string> peers{{"node-a", a.address()}, {"node-b", b.address()}};
  a.SetPeers(peers);
  b.SetPeers(peers);
  ASSERT_TRUE(RunUntil([&] { return a.dial_attempts() >= 3; }));
  EXPECT_TRUE(sa.up.empty());
  EXPECT_TRUE(sb.up.empty());
}

}  // namespace
}  // namespace hermod::peer
