// Replicator: a cluster node's data path (docs/design.md, "Replication").
// It turns the control plane's map into roles of the core and carries the
// core's partition logs between nodes over the peer links:
//
// - Leader of p: promotes the partition in the core (Broker::Promote), and
//   once it serves, numbers each batch's part of p (ReplicationTracker),
//   ships committed parts to p's followers (Replicate), takes their acks,
//   and lets the core confirm a batch once every in-sync replica holds it
//   durable (Broker::OnReplicated). It takes a follower that lags more than
//   lag_max_ms out of the in-sync set, and puts a caught-up one back
//   (cluster::ChangeIsr, an etcd transaction fenced by the epoch).
// - Follower of p: first asks the leader where the log of its own last
//   epoch ends and truncates to it (EpochEndRequest, KIP-101), then stages
//   what the leader ships (Broker::TakeReplicated) and acks each part once
//   the batch it went into committed (ReplicaAck), so an ack always means
//   durable here.
//
// Where a follower's log ends travels in every ReplicaAck: the follower
// answers each LeaderCommit with one, so a new leader, or one whose link
// broke, learns where to ship from (kGap after a refused part or a
// truncation says the same). The leader ships again from there out of a
// window of recent parts kept in memory (window_bytes for the whole node;
// a follower that falls behind the window stays out of the in-sync set:
// catching up from the state itself is not built yet).
// A node keeps the parts it followed in the window too, so that once it
// leads, the other followers catch up from it.
//
// Loop thread only. Owned by the Server in cluster mode; Close() before
// the loop closes.
#ifndef HERMOD_BROKER_SERVER_REPLICATOR_H_
#define HERMOD_BROKER_SERVER_REPLICATOR_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker.h"
#include "cluster/cluster_member.h"
#include "cluster/control_plane.h"
#include "net/loop.h"
#include "net/timer.h"
#include "partition_rows.h"
#include "peer_links.h"
#include "replica_window.h"
#include "replication_tracker.h"

namespace hermod::server {

struct ReplicatorOptions {
  std::string cluster;      // the cluster's name (checked in the peer handshake)
  std::string node_id;      // this node
  std::string incarnation;  // this data directory's (hex)
  std::string peer_listen;  // HOST:PORT for the peer links
  // A follower whose oldest unacked part is older than this leaves the ISR.
  uint64_t lag_max_ms = 1000;
  // Shipped and followed parts kept in memory for followers catching up,
  // for the whole node.
  uint64_t window_bytes = 256ull << 20;
  // How often promotions, lag and the high watermark are looked at.
  uint64_t tick_ms = 20;
  // A failed ISR change (etcd unreachable, or the epoch moved on) is tried
  // again after this long at the earliest.
  uint64_t isr_retry_ms = 500;
  // A rebuild that has heard nothing from its leader for this long starts
  // over.
  uint64_t rebuild_silence_ms = 10000;
  // The rows one SnapshotChunk carries, at most (about).
  size_t snapshot_chunk_bytes = 1u << 20;
  // A forward of a group publish to another partition's leader that has
  // not been answered is sent again after this long.
  uint64_t forward_retry_ms = 1000;
  // TLS of the peer links (peer::PeerLinks::Options: connection.tls and
  // dial_tls); null: plaintext.
  std::shared_ptr<const net::TlsContext> peer_tls_accept;
  std::shared_ptr<const net::TlsContext> peer_tls_dial;
};

struct ReplicatorStats {
  uint64_t parts_shipped = 0;
  uint64_t parts_taken = 0;
  uint64_t isr_shrinks = 0;
  uint64_t isr_expands = 0;
  uint64_t truncations = 0;
  uint64_t stale_epoch_refusals = 0;
  uint64_t rebuilds_started = 0;  // followed partitions emptied for a rebuild
  uint64_t rebuilds_finished = 0;
  uint64_t snapshots_sent = 0;  // led partitions streamed whole to a follower
  uint64_t snapshot_bytes_sent = 0;
  uint64_t forwards_sent = 0;      // group publishes forwarded to other partitions' leaders
  uint64_t forwards_resent = 0;    // of those, sent again (no answer, or not stored yet)
  uint64_t forwards_answered = 0;  // stored there (or found there already)
};

class Replicator final : private core::InternalReplies {
 public:
  // `store` is the broker's (read for EpochEndRequest answers).
  Replicator(net::Loop& loop, core::Broker* broker, store::Store* store,
             cluster::ControlPlane* plane, ReplicatorOptions options);
  ~Replicator() override;
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // Listens for peers and hooks into the core (gate, submit and commit
  // listeners).
  Status Start();
  // A new view of the cluster (ClusterMember's callback).
  void OnView(const cluster::ClusterView& view);
  // Gives every led partition up (batches waiting for replicas fail:
  // their publishers resend to the next leader), closes the links and the
  // timer. Idempotent. The core's listeners stay until destruction.
  void Close();

  const std::string& peer_address() const { return links_->address(); }
  // Reloaded certificates for peer links made from now on (SIGHUP).
  void SetPeerTls(std::shared_ptr<const net::TlsContext> accept,
                  std::shared_ptr<const net::TlsContext> dial) {
    links_->SetTls(std::move(accept), std::move(dial));
  }
  const ReplicatorStats& stats() const { return stats_; }
  // For `hermod stats` and /metrics (names start with cluster_).
  std::vector<core::StatValue> Stats() const;
  // For the console: each follower of partition p, with the offset it holds
  // durably and how far behind this leader's end that is; empty unless
  // this node leads p.
  struct FollowerLag {
    cluster::NodeId node;
    uint64_t acked = 0;
    uint64_t lag = 0;
  };
  std::vector<FollowerLag> Followers(store::PartitionId p) const;

 private:
  using NodeId = cluster::NodeId;
  using PartitionId = store::PartitionId;

  struct FollowerProgress {
    bool known = false;  // `sent` is what the follower said it holds
    uint64_t sent = 0;   // shipped through here
    uint64_t acked = 0;  // durable there, this epoch
    uint64_t commit_sent = 0;
    uint64_t asked_ms = 0;         // when it was last asked where its log ends
    uint64_t silent_since_ms = 0;  // !known: since when
    bool behind_window = false;    // needs a part the window no longer holds
    bool isr_change_pending = false;
    bool in_sync_asked = false;  // what the pending change asked for
    // Asked into the ISR and not refused: a confirm needs its ack until
    // the map shows it in the ISR (Track).
    bool joining = false;
    uint64_t isr_retry_at_ms = 0;  // after a failed change
  };
  // A partition this node leads or is taking over.
  struct Led {
    uint64_t epoch = 0;
    bool promoted = false;       // Broker::Promote accepted it
    bool leading = false;        // the core serves it and the tracker numbers it
    uint64_t since_ms = 0;       // when it started leading
    uint64_t committed_end = 0;  // the newest part committed here (shippable)
    std::vector<NodeId> followers;
    std::vector<NodeId> in_sync;
    uint32_t min_insync = 1;
    std::map<NodeId, FollowerProgress> progress;
  };
  // Where a follower's rebuild of a partition stands.
  enum class Rebuild : uint8_t {
    kNone,
    kEmptying,    // Broker::PrepareRebuild has not emptied the copy yet
    kEmptied,     // waits for that batch, then asks (SnapshotRequest)
    kReceiving,   // rows and log records arrive, in seq order
    kFinishing,   // the end arrived: waits for the rows' batch
    kCommitting,  // waits for FinishRebuild's batch, then reports
  };
  // A partition this node follows.
  struct Followed {
    NodeId leader;
    uint64_t epoch = 0;
    bool asked = false;  // EpochEndRequest sent
    uint64_t asked_ms = 0;
    bool ready = false;  // truncated: takes parts
    Rebuild rebuild = Rebuild::kNone;
    core::BatchNo rebuild_batch = 0;  // the batch kEmptied / kFinishing / kCommitting wait for
    uint64_t snapshot_id = 0;
    uint64_t next_seq = 0;
    uint64_t heard_ms = 0;  // the last chunk (or the request)
    uint64_t snapshot_end = 0;
    std::vector<std::pair<uint64_t, uint64_t>> snapshot_epochs;
    std::vector<std::string> snapshot_records;
  };
  // A led partition being streamed whole to a follower.
  struct SnapshotJob {
    uint64_t id = 0;
    uint64_t epoch = 0;
    std::unique_ptr<store::PartitionSnapshot> snapshot;
    uint64_t seq = 0;  // of the last chunk sent
    bool rows_done = false;
    std::vector<std::string> records;  // the log tail, once the rows are sent
    size_t next_record = 0;
    bool ended = false;
    // The chunk that did not fit the link yet.
    bool has_pending = false;
    proto::SnapshotChunkKind pending_kind = proto::SnapshotChunkKind::kRows;
    std::string pending;
  };
  struct PendingAck {
    core::BatchNo into = 0;
    PartitionId partition = 0;
    uint64_t offset = 0;
  };

  // Core listeners.
  void OnSubmit(store::WriteBatch& batch);
  void OnCommitted(const store::WriteBatch& batch);
  void Settle();

  // Roles.
  void BecomeLeader(PartitionId p, const cluster::PartitionState& state, uint32_t min_insync);
  void BecomeFollower(PartitionId p, const cluster::PartitionState& state);
  void StopLeading(PartitionId p, const char* why);
  // Gives the tracker p's followers, ISR and joiners (Lead), `end` its
  // log's end.
  void Track(PartitionId p, const Led& led, uint64_t end);
  void Tick();
  void TryPromote(PartitionId p, Led& led);
  // A partition this node stopped leading: reads its log again once every
  // batch of that leadership is back. False while that has to wait.
  bool ReloadLedLog(PartitionId p);
  void StartLeading(PartitionId p, Led& led);
  void AskEpochEnd(PartitionId p, Followed& f);

  // Leader side.
  void Ship(PartitionId p, Led& led, const NodeId& follower);
  void SendCommit(PartitionId p, Led& led, const NodeId& follower, bool always);
  void CheckIsr(PartitionId p, Led& led);
  void OnReplicaAck(const NodeId& from, const proto::ReplicaAckFrame& ack);
  void OnEpochEndRequest(const NodeId& from, const proto::EpochEndRequestFrame& request);
  void OnSnapshotRequest(const NodeId& from, const proto::SnapshotRequestFrame& request);
  // Sends what the link takes of a snapshot; drops the job once it ended.
  void PumpSnapshot(PartitionId p, const NodeId& follower);

  // Follower side.
  void OnReplicate(const NodeId& from, const proto::ReplicateFrame& part);
  void OnLeaderCommit(const NodeId& from, const proto::LeaderCommitFrame& commit);
  void OnEpochEndReply(const NodeId& from, const proto::EpochEndReplyFrame& reply);
  void Report(PartitionId p, Followed& f, proto::ReplicaAckResult result);
  Followed* FollowedFrom(const NodeId& from, PartitionId p, uint64_t epoch);
  void OnSnapshotChunk(const NodeId& from, const proto::SnapshotChunkFrame& chunk);
  void StartRebuild(PartitionId p, Followed& f, const char* why);
  void AdvanceRebuild(PartitionId p, Followed& f);
  void RestartRebuild(Followed& f);

  // Links.
  void OnLinkUp(const NodeId& node);
  void OnLinkDown(const NodeId& node);

  // The core's client for forwarded publishes (never a connection's id:
  // those count up from 1).
  static constexpr core::ClientId kForwardClient = core::ClientId{1} << 62;
  void StartForwarding();
  // Group fan-out across partitions (replicator_forward.cc): forwards of
  // led partitions' group publishes go to the members' leader until it
  // answers (ForwardPublish, ForwardAck); forwards to partitions led here
  // go to the core directly.
  struct ForwardKey {
    uint64_t job_id = 0;
    PartitionId to = 0;
    uint32_t chunk = 0;
    auto operator<=>(const ForwardKey&) const = default;
  };
  struct Outbound {
    core::OutboundForward forward;
    uint64_t sent_ms = 0;  // 0: not sent yet
    bool resend = false;   // sent before: the next send counts as a resend
  };
  struct Inbound {
    NodeId from;  // empty: this node's own forward
    ForwardKey key;
  };
  void OnForwardReady(core::OutboundForward forward);
  void SendForward(Outbound& out, uint64_t now);
  void RetryForwards(uint64_t now);
  // A forward for a partition led here, from `from` (empty: this node).
  void OnForwardPublish(const NodeId& from, const proto::ForwardPublishFrame& forward);
  void OnForwardAck(const NodeId& from, const proto::ForwardAckFrame& ack);
  // The core's answer to a forward it was handed (core::InternalReplies).
  void Replied(uint64_t correlation_id, const Status& status) override;
  // A forward sent from here was answered.
  void ForwardAnswered(const ForwardKey& key, const Status& status);

  net::Loop& loop_;
  core::Broker* broker_;
  store::Store* store_;
  cluster::ControlPlane* plane_;
  ReplicatorOptions options_;
  std::unique_ptr<peer::PeerLinks> links_;
  proto::FrameEncoder encoder_;
  net::Timer tick_;
  core::ReplicationTracker tracker_;
  std::map<PartitionId, Led> led_;
  std::map<PartitionId, Followed> followed_;
  ReplicaWindow window_;
  std::deque<PendingAck> pending_acks_;
  std::map<PartitionId, uint64_t> durable_end_;  // followed partitions: durable here
  // Partitions led here until batch N: their log is read again once N is back.
  std::map<PartitionId, core::BatchNo> reload_after_;
  std::map<std::string, std::string> peer_addresses_;  // node -> peer HOST:PORT
  std::map<std::pair<PartitionId, NodeId>, SnapshotJob> snapshots_;
  uint64_t next_snapshot_id_ = 0;
  std::vector<NodeId> leaders_;  // by partition, as the last view says
  std::map<ForwardKey, Outbound> outbound_;
  std::map<uint64_t, Inbound> inbound_;  // by the core's correlation id
  uint64_t next_forward_correlation_ = 0;

  ReplicatorStats stats_;
  bool started_ = false;
  bool closed_ = false;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_REPLICATOR_H_
