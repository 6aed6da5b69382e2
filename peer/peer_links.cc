#include "peer_links.h"

#include <algorithm>
#include <utility>

#include "check.h"
#include "net/address.h"

namespace hermod::peer {

struct PeerLinks::Link {
  std::string node_id;
  std::string address;
  net::Connection* conn = nullptr;  // the current connection, up or not
  Handler* handler = nullptr;       // conn's handler
  bool up = false;
  bool blocked = false;       // a Send() was refused for the bound
  uint64_t backoff_ms = 0;    // the last retry delay; 0 after a link was up
  uint64_t next_dial_ms = 0;  // when to dial again; 0: not scheduled
};

class PeerLinks::Handler : public net::Connection::Handler {
 public:
  Handler(PeerLinks* links, Link* link_or_null, net::Connection* connection, bool is_outbound)
      : links_(links), link(link_or_null), conn(connection), outbound(is_outbound) {}

  bool OnFrame(net::Connection& c, const wire::Frame& frame) override {
    return links_->OnFrame(*this, c, frame);
  }
  void OnBadInput(net::Connection& c, const Status& why) override {
    links_->SendError(c, why);
    c.Close(why);
  }
  void OnDrained(net::Connection& /*c*/) override { links_->OnDrained(*this); }
  void OnClosed(net::Connection& /*c*/, const Status& why) override {
    links_->OnClosed(*this, why);  // frees this handler
  }

 private:
  PeerLinks* links_;

 public:
  Link* link;  // nullptr: not identified yet (inbound), or its link was removed
  net::Connection* conn;
  bool outbound;
  bool handshaken = false;
  uint64_t handshake_deadline_ms = 0;
  uint64_t last_read_ms = 0;  // after the handshake: when a frame last arrived
  uint64_t last_ping_ms = 0;  // after the handshake: when a Ping last left
};

PeerLinks::PeerLinks(net::Loop& loop, Options options, Callbacks callbacks)
    : loop_(loop),
      options_(WithConnectionLimits(std::move(options))),
      callbacks_(std::move(callbacks)),
      listener_(loop, options_.connection,
                [this](net::Connection& conn) { return OnAccept(conn); }),
      // Seeded per node and per start, so that nodes that lost their links
      // together do not redial in step.
      rng_(static_cast<uint32_t>(std::hash<std::string>{}(options_.node_id) ^ uv_hrtime())) {}

PeerLinks::Options PeerLinks::WithConnectionLimits(Options options) {
  // A dead_after_ms within one ping interval would close healthy links.
  HERMOD_CHECK(options.ping_interval_ms > 0);
  HERMOD_CHECK(options.dead_after_ms > options.ping_interval_ms);
  HERMOD_CHECK(options.reconnect_initial_ms > 0);
  options.connection.max_frame_bytes = options.max_frame_bytes;
  // Send() keeps the unwritten bytes within max_unwritten_bytes, or one
  // frame on an empty link; the connection's own cap (which closes a slow
  // reader) sits above both, and above the Pings and Pongs that may follow.
  options.connection.max_pending_output =
      options.max_unwritten_bytes + options.max_frame_bytes + (1u << 20);
  return options;
}

PeerLinks::~PeerLinks() { HERMOD_CHECK(closed()); }

Status PeerLinks::Start() {
  HERMOD_CHECK(!started_);
  uv_timer_init(loop_.uv(), &timer_);
  timer_.data = this;
  timer_open_ = true;
  started_ = true;
  return listener_.Listen(options_.listen_address);
}

proto::PeerIdentity PeerLinks::Identity() const {
  return {options_.cluster, options_.node_id, options_.incarnation, proto::kPeerProtocolVersion};
}

// The smaller node id dials.
bool PeerLinks::IsDialer(const Link& link) const { return options_.node_id < link.node_id; }

PeerLinks::Link* PeerLinks::FindLink(const std::string& node_id) {
  auto it = links_.find(node_id);
  return it == links_.end() ? nullptr : it->second.get();
}

bool PeerLinks::up(const std::string& node_id) const {
  auto it = links_.find(node_id);
  return it != links_.end() && it->second->up;
}

void PeerLinks::SetPeers(const std::map<std::string, std::string>& peers) {
  HERMOD_CHECK(started_);
  if (closing_) return;
  for (auto it = links_.begin(); it != links_.end();) {
    if (peers.contains(it->first)) {
      ++it;
      continue;
    }
    Link& link = *it->second;
    if (link.handler != nullptr) link.handler->link = nullptr;
    if (link.conn != nullptr) link.conn->Close(Status(ErrorCode::kClosed, "peer removed"));
    it = links_.erase(it);
  }
  for (const auto& [node_id, address] : peers) {
    if (node_id == options_.node_id) continue;
    Link* link = FindLink(node_id);
    if (link == nullptr) {
      auto fresh = std::make_unique<Link>();
      fresh->node_id = node_id;
      fresh->address = address;
      link = fresh.get();
      links_.emplace(node_id, std::move(fresh));
      if (IsDialer(*link)) Dial(*link);
      continue;
    }
    if (link->address == address) continue;
    link->address = address;
    // The link closes; OnClosed dials the new address (dialer side).
    if (link->conn != nullptr) link->conn->Close(Status(ErrorCode::kClosed, "address changed"));
  }
  ArmTimer();
}

void PeerLinks::Dial(Link& link) {
  link.next_dial_ms = 0;
  ++dial_attempts_;
  Result<sockaddr_storage> addr = net::ParseHostPort(link.address);
  // A dialed link is the TLS client side (options_.connection.tls is the
  // accepting side's context).
  net::Connection::Options conn_options = options_.connection;
  conn_options.tls = options_.dial_tls;
  if (conn_options.tls != nullptr) conn_options.tls_server_name = net::HostOf(link.address);
  net::Connection* conn = addr.ok() ? net::Connection::Create(loop_, conn_options) : nullptr;
  if (conn == nullptr) {
    ScheduleDial(link);
    return;
  }
  auto handler = std::make_unique<Handler>(this, &link, conn, /*outbound=*/true);
  Handler* h = handler.get();
  h->handshake_deadline_ms = loop_.now_ms() + options_.handshake_timeout_ms;
  handlers_.emplace(h, std::move(handler));
  conn->set_handler(h);
  link.conn = conn;
  link.handler = h;
  ArmTimer();
  conn->Connect(reinterpret_cast<const sockaddr*>(&*addr), [this, conn](const Status& s) {
    // On failure the connection closes itself, and OnClosed dials again.
    if (!s.ok() || conn->closing()) return;
    conn->Send(proto::EncodePeerHello(encoder_, Identity()));
  });
}

void PeerLinks::SetTls(std::shared_ptr<const net::TlsContext> accept,
                       std::shared_ptr<const net::TlsContext> dial) {
  listener_.set_tls(accept);
  options_.connection.tls = std::move(accept);
  options_.dial_tls = std::move(dial);
}

void PeerLinks::ScheduleDial(Link& link) {
  link.backoff_ms = link.backoff_ms == 0 ? options_.reconnect_initial_ms
                                         : std::min(link.backoff_ms * 2, options_.reconnect_max_ms);
  // Jitter: wait between half the backoff and all of it.
  uint64_t half = link.backoff_ms / 2;
  uint64_t delay = link.backoff_ms - (half == 0 ? 0 : rng_() % (half + 1));
  link.next_dial_ms = loop_.now_ms() + std::max<uint64_t>(delay, 1);
  ArmTimer();
}

void PeerLinks::ArmTimer() {
  if (!timer_open_ || closing_) return;
  uint64_t due = 0;
  for (const auto& [node_id, link] : links_) {
    if (link->next_dial_ms != 0 && (due == 0 || link->next_dial_ms < due)) due = link->next_dial_ms;
  }
  for (const auto& [h, handler] : handlers_) {
    if (handler->conn->closing()) continue;
    uint64_t next = handler->handshake_deadline_ms;
    if (handler->handshaken) {
      next = std::min(handler->last_ping_ms + options_.ping_interval_ms,
                      handler->last_read_ms + options_.dead_after_ms);
    }
    if (due == 0 || next < due) due = next;
  }
  if (due == 0) {
    uv_timer_stop(&timer_);
    return;
  }
  uint64_t now = loop_.now_ms();
  uv_timer_start(&timer_, &PeerLinks::OnTimer, due > now ? due - now : 0, 0);
}

void PeerLinks::OnTimer(uv_timer_t* timer) noexcept {
  auto* self = static_cast<PeerLinks*>(timer->data);
  uint64_t now = self->loop_.now_ms();
  self->ExpireHandshakes(now);
  self->CheckHeartbeats(now);
  for (auto& [node_id, link] : self->links_) {
    if (link->next_dial_ms != 0 && link->next_dial_ms <= now && link->conn == nullptr) {
      self->Dial(*link);
    }
  }
  self->ArmTimer();
}

void PeerLinks::ExpireHandshakes(uint64_t now_ms) {
  // Closing frees no handler here (that waits for the close callback).
  for (auto& [h, handler] : handlers_) {
    if (handler->handshaken || handler->conn->closing()) continue;
    if (handler->handshake_deadline_ms > now_ms) continue;
    Status why(ErrorCode::kTimeout,
               "no peer handshake within " + std::to_string(options_.handshake_timeout_ms) + " ms");
    if (!handler->outbound) SendError(*handler->conn, why);
    handler->conn->Close(why);
  }
}

void PeerLinks::CheckHeartbeats(uint64_t now_ms) {
  for (auto& [h, handler] : handlers_) {
    if (!handler->handshaken || handler->conn->closing()) continue;
    if (now_ms >= handler->last_read_ms + options_.dead_after_ms) {
      // TCP keepalive would take minutes; a stalled or partitioned peer must
      // leave the ISR in seconds, so silence itself closes the link.
      ++links_timed_out_;
      handler->conn->Close(
          Status(ErrorCode::kTimeout,
                 "peer silent for " + std::to_string(now_ms - handler->last_read_ms) + " ms"));
      continue;
    }
    if (now_ms >= handler->last_ping_ms + options_.ping_interval_ms) {
      handler->last_ping_ms = now_ms;
      auto& fbb = encoder_.Start();
      handler->conn->Send(encoder_.Finish(wire::CreatePing(fbb, ++ping_nonce_)));
    }
  }
}

net::Connection::Handler* PeerLinks::OnAccept(net::Connection& conn) {
  if (closing_) return nullptr;
  auto handler = std::make_unique<Handler>(this, nullptr, &conn, /*outbound=*/false);
  Handler* h = handler.get();
  h->handshake_deadline_ms = loop_.now_ms() + options_.handshake_timeout_ms;
  handlers_.emplace(h, std::move(handler));
  ArmTimer();
  return h;
}

bool PeerLinks::Send(const std::string& node_id, std::span<const uint8_t> frame) {
  Link* link = FindLink(node_id);
  if (link == nullptr || !link->up || link->conn == nullptr || link->conn->closing()) return false;
  size_t pending = link->conn->pending_output();
  if (pending > 0 && pending + frame.size() > options_.max_unwritten_bytes) {
    link->blocked = true;
    return false;
  }
  link->conn->Send(frame);
  return true;
}

bool PeerLinks::OnFrame(Handler& h, net::Connection& conn, const wire::Frame& frame) {
  if (!h.handshaken) return OnHandshakeFrame(h, conn, frame);
  h.last_read_ms = loop_.now_ms();
  switch (frame.body_type()) {
    case wire::Body::Error: {
      const wire::Error* error = frame.body_as_Error();
      conn.Close(Status(static_cast<ErrorCode>(error->code()), proto::View(error->message())));
      return false;
    }
    case wire::Body::Ping: {
      auto& fbb = encoder_.Start();
      conn.Send(encoder_.Finish(wire::CreatePong(fbb, frame.body_as_Ping()->nonce())));
      return true;
    }
    case wire::Body::Pong:
      return true;  // its arrival (last_read_ms) is all that counts
    default:
      break;
  }
  if (h.link == nullptr || closing_) return !conn.closing();
  return Dispatch(h, conn, frame);
}

bool PeerLinks::Violation(net::Connection& conn, const Status& why) {
  SendError(conn, why);
  conn.Close(why);
  return false;
}

namespace {

// Decodes a frame with `decode` and hands it to `typed`, or to `fallback`
// when `typed` is not set. Returns the decode error, if any.
template <typename Decode, typename Typed, typename Fallback>
Status DecodeAndCall(const std::string& node_id, const wire::Frame& frame, Decode decode,
                     const Typed& typed, const Fallback& fallback) {
  if (!typed) {
    if (fallback) fallback(node_id, frame);
    return Status::OK();
  }
  auto decoded = decode(frame);
  if (!decoded.ok()) return decoded.status();
  typed(node_id, *decoded);
  return Status::OK();
}

}  // namespace

bool PeerLinks::Dispatch(Handler& h, net::Connection& conn, const wire::Frame& frame) {
  const std::string node_id = h.link->node_id;  // a callback may remove the link
  const Callbacks& cb = callbacks_;
  Status s;
  switch (frame.body_type()) {
    case wire::Body::Replicate: {
      Result<proto::ReplicateFrame> part = proto::DecodeReplicate(frame);
      if (part.ok()) {
        if (cb.on_replicate) {
          cb.on_replicate(node_id, *part);
        } else if (cb.on_frame) {
          cb.on_frame(node_id, frame);
        }
      } else if (proto::IsChecksumMismatch(part.status())) {
        // Corruption is the replica's to report (ReplicaAck, leave the
        // ISR), not a reason to drop a link that carries other partitions.
        ++corrupt_replicates_;
        const wire::Replicate* r = frame.body_as_Replicate();
        if (cb.on_corrupt_replicate) {
          cb.on_corrupt_replicate(node_id, r->partition(), r->epoch(), part.status());
        }
      } else {
        s = part.status();
      }
      break;
    }
    case wire::Body::ReplicaAck:
      s = DecodeAndCall(node_id, frame, proto::DecodeReplicaAck, cb.on_replica_ack, cb.on_frame);
      break;
    case wire::Body::LeaderCommit:
      s = DecodeAndCall(node_id, frame, proto::DecodeLeaderCommit, cb.on_leader_commit,
                        cb.on_frame);
      break;
    case wire::Body::EpochEndRequest:
      s = DecodeAndCall(node_id, frame, proto::DecodeEpochEndRequest, cb.on_epoch_end_request,
                        cb.on_frame);
      break;
    case wire::Body::EpochEndReply:
      s = DecodeAndCall(node_id, frame, proto::DecodeEpochEndReply, cb.on_epoch_end_reply,
                        cb.on_frame);
      break;
    case wire::Body::SnapshotRequest:
      s = DecodeAndCall(node_id, frame, proto::DecodeSnapshotRequest, cb.on_snapshot_request,
                        cb.on_frame);
      break;
    case wire::Body::SnapshotChunk:
      s = DecodeAndCall(node_id, frame, proto::DecodeSnapshotChunk, cb.on_snapshot_chunk,
                        cb.on_frame);
      break;
    case wire::Body::ForwardPublish:
      s = DecodeAndCall(node_id, frame, proto::DecodeForwardPublish, cb.on_forward_publish,
                        cb.on_frame);
      break;
    case wire::Body::ForwardAck:
      s = DecodeAndCall(node_id, frame, proto::DecodeForwardAck, cb.on_forward_ack, cb.on_frame);
      break;
    default:
      if (!cb.on_frame) {
        s = Status(ErrorCode::kUnknownFrame, std::string("frame type ") +
                                                 wire::EnumNameBody(frame.body_type()) +
                                                 " is not part of the peer protocol");
      } else {
        cb.on_frame(node_id, frame);
      }
      break;
  }
  if (!s.ok()) return Violation(conn, s);
  return !conn.closing();
}

bool PeerLinks::OnHandshakeFrame(Handler& h, net::Connection& conn, const wire::Frame& frame) {
  if (closing_) return false;
  if (frame.body_type() == wire::Body::Error) {  // the other side refused us
    ++handshakes_refused_;
    const wire::Error* error = frame.body_as_Error();
    conn.Close(Status(static_cast<ErrorCode>(error->code()), proto::View(error->message())));
    return false;
  }
  Result<proto::PeerIdentity> peer =
      h.outbound ? proto::DecodePeerWelcome(frame) : proto::DecodePeerHello(frame);
  if (!peer.ok()) {
    Refuse(conn, peer.status());
    return false;
  }
  if (peer->cluster != options_.cluster) {
    Refuse(conn,
           Status(ErrorCode::kInvalidArgument, "wrong cluster: " + std::string(peer->cluster) +
                                                   ", this node is in " + options_.cluster));
    return false;
  }
  if (peer->version != proto::kPeerProtocolVersion) {
    Refuse(conn, Status(ErrorCode::kUnsupportedVersion, "peer protocol version " +
                                                            std::to_string(peer->version) +
                                                            " is not spoken here"));
    return false;
  }
  std::string node_id(peer->node_id);
  Link* link = h.outbound ? h.link : FindLink(node_id);
  bool expected = link != nullptr && link->node_id == node_id &&
                  (h.outbound ? IsDialer(*link) : !IsDialer(*link));
  if (!expected) {
    Refuse(conn, Status(ErrorCode::kInvalidArgument,
                        "node " + node_id + " is not expected on this link"));
    return false;
  }
  if (!h.outbound) {
    if (link->handler != nullptr && link->handler != &h) {
      // The dialer dials only when it has lost the old link: the new one wins.
      Handler* old = link->handler;
      bool was_up = link->up;
      old->link = nullptr;
      link->conn = nullptr;
      link->handler = nullptr;
      link->up = false;
      old->conn->Close(Status(ErrorCode::kClosed, "replaced by a new link"));
      if (was_up && callbacks_.on_down) {
        callbacks_.on_down(node_id, Status(ErrorCode::kClosed, "replaced by a new link"));
      }
      link = FindLink(node_id);  // the callback may have removed it
      if (link == nullptr || conn.closing() || closing_) {
        conn.Close(Status(ErrorCode::kClosed, "peer removed"));
        return false;
      }
    }
    conn.Send(proto::EncodePeerWelcome(encoder_, Identity()));
  }
  LinkUp(*link, h, *peer);
  return !conn.closing();
}

void PeerLinks::LinkUp(Link& link, Handler& h, const proto::PeerIdentity& peer) {
  h.link = &link;
  h.handshaken = true;
  h.last_read_ms = loop_.now_ms();
  h.last_ping_ms = loop_.now_ms();
  ArmTimer();  // the heartbeat is due before any handshake deadline
  link.conn = h.conn;
  link.handler = &h;
  link.up = true;
  link.blocked = false;
  link.backoff_ms = 0;
  link.next_dial_ms = 0;
  std::string node_id = link.node_id;
  if (callbacks_.on_up) callbacks_.on_up(node_id, peer);
}

void PeerLinks::SendError(net::Connection& conn, const Status& why) {
  auto& fbb = encoder_.Start();
  conn.Send(encoder_.Finish(wire::CreateErrorDirect(fbb, static_cast<uint16_t>(why.code()),
                                                    why.message().c_str(), 0, /*fatal=*/true)));
}

void PeerLinks::Refuse(net::Connection& conn, const Status& why) {
  ++handshakes_refused_;
  SendError(conn, why);
  conn.Close(why);
}

void PeerLinks::OnDrained(Handler& h) {
  Link* link = h.link;
  if (closing_ || link == nullptr || link->handler != &h || !link->up || !link->blocked) return;
  link->blocked = false;
  std::string node_id = link->node_id;
  if (callbacks_.on_writable) callbacks_.on_writable(node_id);
}

void PeerLinks::OnClosed(Handler& h, const Status& why) {
  Link* link = h.link;
  if (link != nullptr && link->handler == &h) {
    bool was_up = link->up;
    link->conn = nullptr;
    link->handler = nullptr;
    link->up = false;
    link->blocked = false;
    std::string node_id = link->node_id;
    if (IsDialer(*link) && !closing_) ScheduleDial(*link);
    if (was_up && !closing_ && callbacks_.on_down) callbacks_.on_down(node_id, why);
  }
  handlers_.erase(&h);  // frees h: nothing may touch it after this
}

void PeerLinks::TEST_BreakLink(const std::string& node_id) {
  Link* link = FindLink(node_id);
  if (link != nullptr && link->conn != nullptr) {
    link->conn->Close(Status(ErrorCode::kIoError, "TEST_BreakLink"));
  }
}

void PeerLinks::Close() {
  if (closing_) return;
  closing_ = true;
  listener_.Close();
  if (timer_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), [](uv_handle_t* handle) noexcept {
      static_cast<PeerLinks*>(handle->data)->timer_open_ = false;
    });
  }
  for (auto& [h, handler] : handlers_) {
    handler->conn->Close(Status(ErrorCode::kClosed, "peer links closed"));
  }
}

bool PeerLinks::closed() const { return !timer_open_ && listener_.closed() && handlers_.empty(); }

}  // namespace hermod::peer
