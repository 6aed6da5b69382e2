// PeerLinks: the framed TCP links between this node and the other nodes of
// a cluster (docs/protocol.md, "Peer protocol").
//
// One connection per node pair: the node whose id is smaller (byte-wise)
// dials, the other accepts. The dialer sends PeerHello, the acceptor checks
// the cluster and answers PeerWelcome; a wrong cluster, version or node is
// refused with a fatal Error frame, and so is a handshake that does not
// finish within handshake_timeout_ms. An up link pings every
// ping_interval_ms and is closed when it has read nothing for dead_after_ms.
// A link that goes down is dialed again with a doubling, jittered backoff
// by its dialer. Each link bounds the bytes it has
// not written yet: Send() past the bound returns false, and on_writable
// tells when the link has drained.
//
// Ownership: PeerLinks owns its listener, its timer, and a handler per
// connection; connections own themselves (net/connection.h) and are closed
// by Close(). Close() before the loop closes; destroy only when closed().
//
// Loop thread only; callbacks run on it and may call back into PeerLinks.
#ifndef HERMOD_PEER_PEER_LINKS_H_
#define HERMOD_PEER_PEER_LINKS_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>

#include "hermod/status.h"
#include "net/connection.h"
#include "net/listener.h"
#include "net/loop.h"
#include "peer_frames.h"

namespace hermod::peer {

class PeerLinks {
 public:
  struct Options {
    std::string cluster;
    std::string node_id;
    uint64_t incarnation = 0;
    std::string listen_address = "127.0.0.1:0";  // "HOST:PORT"; port 0: any
    // Bytes a link may hold unwritten; Send() refuses a frame beyond it.
    size_t max_unwritten_bytes = 8u << 20;
    uint64_t reconnect_initial_ms = 50;  // doubled per failure, up to max
    uint64_t reconnect_max_ms = 2000;
    // A connection whose handshake is not done by then is closed (the
    // acceptor sends a fatal Error{kTimeout} first); the dialer dials again.
    uint64_t handshake_timeout_ms = 5000;
    // An up link sends Ping this often; the other side answers Pong.
    uint64_t ping_interval_ms = 500;
    // An up link that has read nothing (not even a Pong) for this long is
    // closed with kTimeout, and redialed by its dialer.
    // REQUIRES: dead_after_ms > ping_interval_ms > 0.
    uint64_t dead_after_ms = 3000;
    // The largest frame either way; a larger one closes the link with
    // kFrameTooLarge. It overrides connection.max_frame_bytes.
    uint32_t max_frame_bytes = proto::kDefaultPeerMaxFrameBytes;
    // max_frame_bytes and max_pending_output are set from the fields above.
    // connection.tls, a server context, is the TLS of the links this node
    // accepts (it should require client certificates: peers verify each
    // other).
    net::Connection::Options connection;
    // The TLS of the links this node dials: a client context with this
    // node's certificate; the dialed peer's certificate must carry the host
    // of its address. Null: plaintext (then connection.tls must be too).
    std::shared_ptr<const net::TlsContext> dial_tls;
  };

  struct Callbacks {
    // The link to node_id completed its handshake; `peer` is what it said
    // (its views are valid only during the call).
    std::function<void(const std::string& node_id, const proto::PeerIdentity& peer)> on_up;
    // The link to node_id, which was up, is down.
    std::function<void(const std::string& node_id, const Status& why)> on_down;
    // Peer frames after the handshake, decoded; their views point into the
    // read buffer and are valid only during the call. A frame whose
    // callback is not set goes to on_frame instead.
    std::function<void(const std::string& node_id, const proto::ReplicateFrame& part)> on_replicate;
    // A Replicate whose checksum did not match (kCorruption): only its
    // partition and epoch, never its payload, so that the follower can
    // answer ReplicaAck{kChecksumMismatch}. The link stays up.
    std::function<void(const std::string& node_id, uint32_t partition, uint64_t epoch,
                       const Status& why)>
        on_corrupt_replicate;
    std::function<void(const std::string& node_id, const proto::ReplicaAckFrame& ack)>
        on_replica_ack;
    std::function<void(const std::string& node_id, const proto::LeaderCommitFrame& commit)>
        on_leader_commit;
    std::function<void(const std::string& node_id, const proto::EpochEndRequestFrame& request)>
        on_epoch_end_request;
    std::function<void(const std::string& node_id, const proto::EpochEndReplyFrame& reply)>
        on_epoch_end_reply;
    std::function<void(const std::string& node_id, const proto::SnapshotRequestFrame& request)>
        on_snapshot_request;
    // A chunk whose checksum did not match never arrives here: the link is
    // closed (the follower's rebuild starts again).
    std::function<void(const std::string& node_id, const proto::SnapshotChunkFrame& chunk)>
        on_snapshot_chunk;
    // A forward whose checksum did not match never arrives here: the link
    // is closed (the sender sends it again).
    std::function<void(const std::string& node_id, const proto::ForwardPublishFrame& forward)>
        on_forward_publish;
    std::function<void(const std::string& node_id, const proto::ForwardAckFrame& ack)>
        on_forward_ack;
    // Any other frame after the handshake (Ping and Pong excepted), or a
    // peer frame without its own callback; valid only during the call.
    // Unset: a frame of another type is refused with kUnknownFrame and the
    // link closes.
    std::function<void(const std::string& node_id, const wire::Frame& frame)> on_frame;
    // A Send() to node_id was refused for the bound, and the link has
    // drained since.
    std::function<void(const std::string& node_id)> on_writable;
  };

  PeerLinks(net::Loop& loop, Options options, Callbacks callbacks);
  ~PeerLinks();  // REQUIRES: Start() failed or was never called, or closed()
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  // Starts listening on options.listen_address. Call before SetPeers.
  Status Start();
  // "HOST:PORT" bound, with the real port.
  const std::string& address() const { return listener_.address(); }

  // New TLS contexts (certificate reload) for links accepted and dialed
  // from now on; links up keep theirs.
  void SetTls(std::shared_ptr<const net::TlsContext> accept,
              std::shared_ptr<const net::TlsContext> dial);

  // The other nodes, node id -> "HOST:PORT" (this node's own id is
  // ignored). Links to nodes no longer named are closed, without on_down;
  // new ones are dialed (by the smaller id) at once. A changed address
  // closes the link (on_down if it was up) and dials the new one.
  void SetPeers(const std::map<std::string, std::string>& peers);

  // Queues a frame (from a FrameEncoder) on the link to node_id. Returns
  // false when the link is not up, or when its unwritten bytes would exceed
  // max_unwritten_bytes (on_writable follows once it drains). A link with
  // nothing unwritten takes any frame up to max_frame_bytes, so a frame
  // larger than the bound is slow, never stuck.
  bool Send(const std::string& node_id, std::span<const uint8_t> frame);
  bool up(const std::string& node_id) const;

  // Closes the listener, every link and the timer. Idempotent.
  void Close();
  // Every handle of this object has been closed.
  bool closed() const;

  // Handshakes refused, by either side, since Start().
  uint64_t handshakes_refused() const { return handshakes_refused_; }
  // Connections dialed since Start(), successful or not.
  uint64_t dial_attempts() const { return dial_attempts_; }
  // Up links closed because they were silent for dead_after_ms.
  uint64_t links_timed_out() const { return links_timed_out_; }
  // Replicate frames refused for their checksum.
  uint64_t corrupt_replicates() const { return corrupt_replicates_; }

  // Test only: closes the link's socket as a broken network would.
  void TEST_BreakLink(const std::string& node_id);

 private:
  struct Link;
  class Handler;

  Link* FindLink(const std::string& node_id);
  bool IsDialer(const Link& link) const;
  void Dial(Link& link);
  void ScheduleDial(Link& link);
  void ArmTimer();
  static void OnTimer(uv_timer_t* timer) noexcept;
  // Closes connections whose handshake is overdue.
  void ExpireHandshakes(uint64_t now_ms);
  // Pings up links that are due, and closes those silent for dead_after_ms.
  void CheckHeartbeats(uint64_t now_ms);
  static Options WithConnectionLimits(Options options);
  // Decodes a peer frame after the handshake and calls its callback.
  // Returns false when the connection is closing.
  bool Dispatch(Handler& h, net::Connection& conn, const wire::Frame& frame);
  // Closes the link for a frame it may not send: fatal Error, then close.
  bool Violation(net::Connection& conn, const Status& why);
  net::Connection::Handler* OnAccept(net::Connection& conn);
  // Handler events.
  bool OnFrame(Handler& h, net::Connection& conn, const wire::Frame& frame);
  bool OnHandshakeFrame(Handler& h, net::Connection& conn, const wire::Frame& frame);
  void OnClosed(Handler& h, const Status& why);
  void OnDrained(Handler& h);
  // Refuses a handshake: fatal Error frame, then close.
  void Refuse(net::Connection& conn, const Status& why);
  void SendError(net::Connection& conn, const Status& why);
  void LinkUp(Link& link, Handler& h, const proto::PeerIdentity& peer);
  proto::PeerIdentity Identity() const;

  net::Loop& loop_;
  Options options_;
  Callbacks callbacks_;
  net::Listener listener_;
  uv_timer_t timer_;         // the next dial that is due
  bool timer_open_ = false;  // initialized, and its close callback has not run
  proto::FrameEncoder encoder_;
  std::map<std::string, std::unique_ptr<Link>> links_;
  std::map<Handler*, std::unique_ptr<Handler>> handlers_;  // one per open connection
  bool started_ = false;
  bool closing_ = false;
  uint64_t handshakes_refused_ = 0;
  uint64_t dial_attempts_ = 0;
  uint64_t links_timed_out_ = 0;
  uint64_t corrupt_replicates_ = 0;
  uint64_t ping_nonce_ = 0;
  std::minstd_rand rng_;  // backoff jitter
};

}  // namespace hermod::peer

#endif  // HERMOD_PEER_PEER_LINKS_H_
