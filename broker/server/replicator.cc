#include "replicator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "cluster/controller.h"
#include "peer_frames.h"
#include "store.h"

namespace hermod::server {

namespace {

bool Contains(const std::vector<cluster::NodeId>& nodes, const cluster::NodeId& node) {
  return std::find(nodes.begin(), nodes.end(), node) != nodes.end();
}

std::vector<cluster::NodeId> Without(const std::vector<cluster::NodeId>& nodes,
                                     const cluster::NodeId& self) {
  std::vector<cluster::NodeId> out;
  for (const cluster::NodeId& n : nodes) {
    if (n != self) out.push_back(n);
  }
  return out;
}

// The first 16 hex digits of the incarnation: the peer handshake's number.
uint64_t IncarnationNumber(const std::string& incarnation) {
  return std::strtoull(incarnation.substr(0, 16).c_str(), nullptr, 16);
}

}  // namespace

Replicator::Replicator(net::Loop& loop, core::Broker* broker, store::Store* store,
                       cluster::ControlPlane* plane, ReplicatorOptions options)
    : loop_(loop),
      broker_(broker),
      store_(store),
      plane_(plane),
      options_(std::move(options)),
      window_(options_.window_bytes) {
  peer::PeerLinks::Options link_options;
  link_options.cluster = options_.cluster;
  link_options.node_id = options_.node_id;
  link_options.incarnation = IncarnationNumber(options_.incarnation);
  link_options.listen_address = options_.peer_listen;
  link_options.connection.tls = options_.peer_tls_accept;
  link_options.dial_tls = options_.peer_tls_dial;
  peer::PeerLinks::Callbacks callbacks;
  callbacks.on_up = [this](const std::string& node, const proto::PeerIdentity&) { OnLinkUp(node); };
  callbacks.on_down = [this](const std::string& node, const Status&) { OnLinkDown(node); };
  callbacks.on_replicate = [this](const std::string& node, const proto::ReplicateFrame& part) {
    OnReplicate(node, part);
  };
  callbacks.on_corrupt_replicate = [this](const std::string& node, uint32_t partition,
                                          uint64_t epoch, const Status&) {
    Followed* f = FollowedFrom(node, partition, epoch);
    if (f != nullptr) Report(partition, *f, proto::ReplicaAckResult::kChecksumMismatch);
  };
  callbacks.on_replica_ack = [this](const std::string& node, const proto::ReplicaAckFrame& ack) {
    OnReplicaAck(node, ack);
  };
  callbacks.on_leader_commit = [this](const std::string& node,
                                      const proto::LeaderCommitFrame& commit) {
    OnLeaderCommit(node, commit);
  };
  callbacks.on_epoch_end_request = [this](const std::string& node,
                                          const proto::EpochEndRequestFrame& request) {
    OnEpochEndRequest(node, request);
  };
  callbacks.on_epoch_end_reply = [this](const std::string& node,
                                        const proto::EpochEndReplyFrame& reply) {
    OnEpochEndReply(node, reply);
  };
  callbacks.on_snapshot_request = [this](const std::string& node,
                                         const proto::SnapshotRequestFrame& request) {
    OnSnapshotRequest(node, request);
  };
  callbacks.on_snapshot_chunk = [this](const std::string& node,
                                       const proto::SnapshotChunkFrame& chunk) {
    OnSnapshotChunk(node, chunk);
  };
  callbacks.on_forward_publish = [this](const std::string& node,
                                        const proto::ForwardPublishFrame& forward) {
    OnForwardPublish(node, forward);
  };
  callbacks.on_forward_ack = [this](const std::string& node, const proto::ForwardAckFrame& ack) {
    OnForwardAck(node, ack);
  };
  callbacks.on_writable = [this](const std::string& node) {
    std::vector<PartitionId> streaming;
    for (const auto& [key, job] : snapshots_) {
      if (key.second == node) streaming.push_back(key.first);
    }
    for (PartitionId p : streaming) PumpSnapshot(p, node);
    for (auto& [p, led] : led_) {
      if (led.leading && Contains(led.followers, node)) Ship(p, led, node);
    }
  };
  links_ = std::make_unique<peer::PeerLinks>(loop_, link_options, std::move(callbacks));
}

Replicator::~Replicator() {
  if (started_) {
    broker_->set_submit_listener(nullptr);
    broker_->set_commit_listener(nullptr);
    broker_->set_serve_listener(nullptr);
    broker_->set_forward_listener(nullptr);
    broker_->Disconnect(kForwardClient);
  }
}

Status Replicator::Start() {
  if (Status s = links_->Start(); !s.ok()) return s;
  started_ = true;
  broker_->set_replication_gate(true);
  broker_->set_submit_listener([this](store::WriteBatch& batch) { OnSubmit(batch); });
  broker_->set_commit_listener([this](const store::WriteBatch& batch) { OnCommitted(batch); });
  broker_->set_serve_listener([this](PartitionId p) {
    auto it = led_.find(p);
    if (it != led_.end() && it->second.promoted && !it->second.leading) {
      StartLeading(p, it->second);
    }
  });
  StartForwarding();
  // Snapshot ids only tell a rebuild's attempts apart; starting from the
  // clock keeps a restarted node from reusing a recent one.
  next_snapshot_id_ = loop_.now_ms() << 16;
  tick_.Init(loop_, [this] { Tick(); });
  tick_.Start(options_.tick_ms, options_.tick_ms);
  spdlog::info("cluster: peer links on {}", links_->address());
  return Status::OK();
}

void Replicator::Close() {
  if (closed_) return;
  // Leadership ends here: batches waiting for replicas fail now (their
  // publishers resend to the next leader), and those still at storage
  // when they come back (the listeners stay until destruction), so the
  // broker's drain can finish.
  std::vector<PartitionId> led;
  for (const auto& [p, l] : led_) led.push_back(p);
  for (PartitionId p : led) StopLeading(p, "stopping");
  closed_ = true;
  if (started_) tick_.Close();
  links_->Close();
}

// ---------------------------------------------------------------------------
// Roles

void Replicator::OnView(const cluster::ClusterView& view) {
  if (closed_ || !view.config) return;
  std::map<std::string, std::string> peers;
  for (const auto& [id, node] : view.nodes) {
    if (id != options_.node_id) peers[id] = node.peer_address;
  }
  // A node that left keeps its link address until it is back: its partitions
  // may still name it.
  for (const auto& [id, address] : peer_addresses_) {
    if (peers.count(id) == 0 && id != options_.node_id) peers[id] = address;
  }
  peer_addresses_ = peers;
  links_->SetPeers(peers);
  leaders_.resize(view.partitions.size());
  for (PartitionId p = 0; p < view.partitions.size(); ++p) {
    leaders_[p] = view.partitions[p].leader;
  }
  // Until the controller has recorded this data directory's incarnation,
  // the map's word about this node is about an earlier disk: a wiped node
  // restarted before its lease ran out must not lead what its old disk led
  // (its followers would cut their logs back to its empty one). The
  // controller takes it out of every ISR first, and it catches up from
  // there like any follower.
  auto recorded = view.incarnations.find(options_.node_id);
  const bool current =
      recorded != view.incarnations.end() && recorded->second == options_.incarnation;
  for (PartitionId p = 0; p < view.partitions.size(); ++p) {
    const cluster::PartitionState& state = view.partitions[p];
    if (!state.assigned()) continue;
    if (state.leader == options_.node_id && !current) {
      StopLeading(p, "this node's incarnation is not recorded yet");
      followed_.erase(p);
    } else if (state.leader == options_.node_id) {
      BecomeLeader(p, state, view.config->min_insync);
    } else if (Contains(state.replicas, options_.node_id)) {
      BecomeFollower(p, state);
    } else {
      StopLeading(p, "not a replica any more");
      followed_.erase(p);
    }
  }
}

std::vector<Replicator::FollowerLag> Replicator::Followers(PartitionId p) const {
  std::vector<FollowerLag> out;
  auto it = led_.find(p);
  if (it == led_.end() || !it->second.leading) return out;
  const uint64_t end = tracker_.end_offset(p);
  for (const NodeId& node : it->second.followers) {
    auto progress = it->second.progress.find(node);
    const uint64_t acked = progress == it->second.progress.end() ? 0 : progress->second.acked;
    out.push_back(FollowerLag{node, acked, end - std::min(end, acked)});
  }
  return out;
}

void Replicator::BecomeLeader(PartitionId p, const cluster::PartitionState& state,
                              uint32_t min_insync) {
  followed_.erase(p);
  Led& led = led_[p];
  const bool new_epoch = led.epoch != state.epoch;
  led.epoch = state.epoch;
  led.followers = Without(state.replicas, options_.node_id);
  led.in_sync = Without(state.isr, options_.node_id);
  led.min_insync = min_insync;
  if (new_epoch) {
    led.progress.clear();
    spdlog::info("cluster: partition {}: taking over as leader at epoch {}", p, state.epoch);
  }
  std::erase_if(led.progress, [&](const auto& e) { return !Contains(led.followers, e.first); });
  for (auto& [node, progress] : led.progress) {
    if (progress.isr_change_pending && Contains(led.in_sync, node) == progress.in_sync_asked) {
      progress.isr_change_pending = false;
    }
    if (Contains(led.in_sync, node)) progress.joining = false;  // joined
  }
  if (!led.leading) return TryPromote(p, led);
  Track(p, led, tracker_.end_offset(p));
  if (new_epoch) {
    led.since_ms = loop_.now_ms();
    for (const NodeId& f : led.followers) {
      led.progress[f].silent_since_ms = led.since_ms;
      SendCommit(p, led, f, /*always=*/true);
    }
  }
  Settle();
}

bool Replicator::ReloadLedLog(PartitionId p) {
  auto reload = reload_after_.find(p);
  if (reload == reload_after_.end()) return true;
  if (broker_->committed_through() < reload->second) return false;  // at a later tick
  if (Status s = broker_->follower_log().Reload(p); !s.ok()) {
    spdlog::error("cluster: partition {}: cannot read its log: {}", p, s.ToString());
    return false;
  }
  reload_after_.erase(reload);
  durable_end_.erase(p);
  return true;
}

void Replicator::TryPromote(PartitionId p, Led& led) {
  // Led here before: where its log ends is what those commits wrote, not
  // what the follower log held when that leadership began. Numbering from
  // the older end would reuse offsets the followers hold already.
  if (!led.promoted && !ReloadLedLog(p)) return;
  if (broker_->follower_log().state(p).rebuilding) {
    // A half-written copy never serves. The controller elects only in-sync
    // replicas, which this one is not; the map will move on.
    return;
  }
  if (!led.promoted) {
    Status s = broker_->Promote(p, led.epoch);
    if (s.code() == ErrorCode::kUnavailable) return;  // again at the next tick
    if (!s.ok()) {
      spdlog::error("cluster: partition {}: cannot take over: {}", p, s.ToString());
      return;
    }
    led.promoted = true;
  }
  // Served already (it led here before): lead at once; else the serve
  // listener starts it, before the core takes a request of it.
  if (broker_->serves(p) && !led.leading) StartLeading(p, led);
}

void Replicator::StartLeading(PartitionId p, Led& led) {
  led.leading = true;
  led.since_ms = loop_.now_ms();
  uint64_t end = broker_->follower_log().state(p).end_offset;
  led.committed_end = end;
  Track(p, led, end);
  spdlog::info("cluster: partition {}: leading at epoch {} from offset {}", p, led.epoch, end);
  // Asks each follower where its log ends.
  for (const NodeId& f : led.followers) {
    led.progress[f].silent_since_ms = led.since_ms;
    SendCommit(p, led, f, /*always=*/true);
  }
}

void Replicator::Track(PartitionId p, const Led& led, uint64_t end) {
  // Followers asked into the ISR and not yet in the map: a confirm waits
  // for them too (ReplicationTracker::Lead).
  std::vector<NodeId> joining;
  for (const auto& [node, progress] : led.progress) {
    if (progress.joining && !Contains(led.in_sync, node)) {
      joining.push_back(node);
    }
  }
  tracker_.Lead(p, led.epoch, led.followers, led.in_sync, led.min_insync, end, std::move(joining));
}

void Replicator::StopLeading(PartitionId p, const char* why) {
  auto it = led_.find(p);
  if (it == led_.end()) return;
  const bool promoted = it->second.promoted;
  if (tracker_.leads(p)) tracker_.StopLeading(p);
  led_.erase(it);
  std::erase_if(snapshots_, [p](const auto& e) { return e.first.first == p; });
  // Its forwards are the next leader's to send.
  std::erase_if(outbound_, [p](const auto& e) { return e.second.forward.from == p; });
  if (promoted) {
    spdlog::info("cluster: partition {}: no longer leading ({})", p, why);
    broker_->Demote(p);
    // Its log here was written by this node's commits: read it again once
    // every batch of the leadership is back from storage.
    reload_after_[p] = broker_->batch_no();
  }
  Settle();
}

void Replicator::BecomeFollower(PartitionId p, const cluster::PartitionState& state) {
  StopLeading(p, "another node leads it");
  broker_->Fence(p, state.epoch);
  Followed& f = followed_[p];
  if (f.leader == state.leader && f.epoch == state.epoch) return;
  f = Followed{};
  f.leader = state.leader;
  f.epoch = state.epoch;
  if (f.leader.empty()) return;  // leaderless: wait for the next view
  spdlog::info("cluster: partition {}: following {} at epoch {}", p, f.leader, f.epoch);
  AskEpochEnd(p, f);
}

void Replicator::AskEpochEnd(PartitionId p, Followed& f) {
  if (f.ready || f.rebuild != Rebuild::kNone || f.leader.empty()) return;
  if (!ReloadLedLog(p)) return;
  const store::PartitionLogState& log = broker_->follower_log().state(p);
  if (log.rebuilding) return StartRebuild(p, f, "an earlier rebuild did not finish");
  if (durable_end_.count(p) == 0) durable_end_[p] = log.end_offset;
  if (log.end_offset == 0) {
    // Nothing held: nothing to cut back.
    f.ready = true;
    return Report(p, f, proto::ReplicaAckResult::kGap);
  }
  proto::EpochEndRequestFrame request{p, log.epoch};
  f.asked = links_->Send(f.leader, proto::EncodeEpochEndRequest(encoder_, request));
  f.asked_ms = loop_.now_ms();
}

void Replicator::Tick() {
  const uint64_t now = loop_.now_ms();
  for (auto& [p, led] : led_) {
    if (!led.leading) {
      TryPromote(p, led);
      continue;
    }
    for (const NodeId& f : led.followers) {
      // A follower not heard from since the link or the leadership began
      // is asked again where its log ends.
      FollowerProgress& progress = led.progress[f];
      bool ask = !progress.known && now - progress.asked_ms >= 200;
      if (ask) progress.asked_ms = now;
      SendCommit(p, led, f, ask);
    }
    CheckIsr(p, led);
  }
  if (!outbound_.empty()) RetryForwards(now);
  for (auto& [p, f] : followed_) {
    if (f.rebuild != Rebuild::kNone) {
      AdvanceRebuild(p, f);
    } else if (!f.ready && (!f.asked || now - f.asked_ms > 200)) {
      AskEpochEnd(p, f);
    }
  }
  Settle();
}

// ---------------------------------------------------------------------------
// The core's batches

void Replicator::OnSubmit(store::WriteBatch& batch) { tracker_.OnSubmit(batch); }

void Replicator::OnCommitted(const store::WriteBatch& batch) {
  const uint64_t now = loop_.now_ms();
  Result<std::vector<core::ShippedPart>> parts = tracker_.OnBatch(batch);
  if (!parts.ok()) {
    spdlog::error("cluster: batch {} cannot be shipped: {}", batch.batch_no,
                  parts.status().ToString());
  } else {
    for (core::ShippedPart& part : *parts) {
      window_.Keep(part.partition,
                   {part.offset, now, std::move(part.record), std::move(part.commit_record)});
      auto led = led_.find(part.partition);
      if (led == led_.end()) continue;
      led->second.committed_end = std::max(led->second.committed_end, part.offset);
      for (const NodeId& f : led->second.followers) Ship(part.partition, led->second, f);
    }
  }
  // Follower: the parts this batch made durable are acked.
  std::set<PartitionId> acked;
  while (!pending_acks_.empty() && pending_acks_.front().into <= batch.batch_no) {
    PendingAck a = pending_acks_.front();
    pending_acks_.pop_front();
    if (!batch.status.ok()) continue;  // not durable; the store's failure is sticky
    if (a.offset > broker_->follower_log().state(a.partition).end_offset) continue;  // truncated
    uint64_t& durable = durable_end_[a.partition];
    durable = std::max(durable, a.offset);
    acked.insert(a.partition);
  }
  for (PartitionId p : acked) {
    auto f = followed_.find(p);
    if (f != followed_.end() && f->second.ready) {
      Report(p, f->second, proto::ReplicaAckResult::kStaged);
    }
  }
  for (auto& [p, f] : followed_) {
    if (f.rebuild != Rebuild::kNone) AdvanceRebuild(p, f);
  }
  Settle();
}

void Replicator::Settle() {
  for (core::BatchNo failed : tracker_.TakeFailed()) {
    broker_->FailReplication(failed,
                             Status::Unavailable("this node stopped leading a partition the "
                                                 "batch carries before it was replicated"));
  }
  broker_->OnReplicated(tracker_.replicated_through());
}

// ---------------------------------------------------------------------------
// Leader side

void Replicator::Ship(PartitionId p, Led& led, const NodeId& follower) {
  FollowerProgress& progress = led.progress[follower];
  if (!led.leading || !progress.known) return;
  while (progress.sent < led.committed_end) {
    const ReplicaWindow::Part* part = window_.Find(p, progress.sent + 1);
    if (part == nullptr) {
      if (!progress.behind_window) {
        spdlog::warn(
            "cluster: partition {}: follower {} needs offset {}, no longer held here; it is "
            "told to rebuild its copy",
            p, follower, progress.sent + 1);
        proto::SnapshotChunkFrame needed;
        needed.partition = p;
        needed.epoch = led.epoch;
        needed.kind = proto::SnapshotChunkKind::kNeeded;
        progress.behind_window =
            links_->Send(follower, proto::EncodeSnapshotChunk(encoder_, needed));
      }
      return;
    }
    proto::ReplicateFrame frame;
    frame.partition = p;
    frame.epoch = led.epoch;
    frame.prev_offset = progress.sent;
    frame.offset = part->offset;
    frame.leader_commit = tracker_.high_watermark(p);
    frame.record = part->record;
    frame.commit_record = part->commit_record;
    if (!links_->Send(follower, proto::EncodeReplicate(encoder_, frame))) return;
    progress.sent = part->offset;
    progress.commit_sent = frame.leader_commit;
    ++stats_.parts_shipped;
  }
}

void Replicator::SendCommit(PartitionId p, Led& led, const NodeId& follower, bool always) {
  FollowerProgress& progress = led.progress[follower];
  const uint64_t hw = tracker_.high_watermark(p);
  if (!always && hw == progress.commit_sent) return;
  proto::LeaderCommitFrame commit{p, led.epoch, hw};
  if (links_->Send(follower, proto::EncodeLeaderCommit(encoder_, commit))) {
    progress.commit_sent = hw;
  }
}

void Replicator::OnReplicaAck(const NodeId& from, const proto::ReplicaAckFrame& ack) {
  auto it = led_.find(ack.partition);
  if (it == led_.end() || !it->second.leading) return;
  Led& led = it->second;
  if (!Contains(led.followers, from)) return;
  if (ack.epoch != led.epoch) {
    if (ack.epoch > led.epoch) ++stats_.stale_epoch_refusals;
    return;
  }
  FollowerProgress& progress = led.progress[from];
  switch (ack.result) {
    case proto::ReplicaAckResult::kStaleEpoch:
      ++stats_.stale_epoch_refusals;
      return;
    case proto::ReplicaAckResult::kGap:
    case proto::ReplicaAckResult::kChecksumMismatch:
      // Where its log ends: ship from there. What it holds durably is what
      // it says now, even if less than before (a wiped or rebuilt copy): a
      // follower is never taken back into the ISR on an older word.
      progress.known = true;
      progress.behind_window = false;
      progress.sent = std::min(ack.end_offset, tracker_.end_offset(ack.partition));
      progress.acked = ack.durable_offset;
      break;
    case proto::ReplicaAckResult::kStaged:
    case proto::ReplicaAckResult::kDuplicate:
      // From a follower not heard since the link or the leadership began:
      // nothing was shipped to it since, so its end is where to ship from.
      if (!progress.known) {
        progress.known = true;
        progress.behind_window = false;
        progress.sent = std::min(ack.end_offset, tracker_.end_offset(ack.partition));
        progress.acked = ack.durable_offset;
      }
      break;
  }
  progress.acked = std::max(progress.acked, ack.durable_offset);
  tracker_.OnAck(from, ack.partition, ack.epoch, ack.durable_offset);
  Ship(ack.partition, led, from);
  Settle();
}

void Replicator::CheckIsr(PartitionId p, Led& led) {
  const uint64_t now = loop_.now_ms();
  const uint64_t end = led.committed_end;
  const uint64_t hw = tracker_.high_watermark(p);
  for (const NodeId& node : led.followers) {
    FollowerProgress& progress = led.progress[node];
    if (progress.isr_change_pending || now < progress.isr_retry_at_ms) continue;
    const bool in_sync = Contains(led.in_sync, node);
    // Its lag: how long ago the oldest part it has not acked was committed.
    // A follower not heard from since the link or the leadership began
    // lags by that long at least.
    uint64_t lag_ms = progress.known ? 0 : now - std::min(now, progress.silent_since_ms);
    if (progress.acked < end) {
      const ReplicaWindow::Part* oldest = window_.Find(p, progress.acked + 1);
      lag_ms =
          std::max(lag_ms, oldest == nullptr ? UINT64_MAX : now - std::min(now, oldest->at_ms));
    }
    bool expand = false;
    if (in_sync && lag_ms > options_.lag_max_ms) {
      expand = false;
    } else if (!in_sync && progress.known && progress.acked >= hw &&
               lag_ms < options_.lag_max_ms / 2) {
      expand = true;
    } else {
      continue;
    }
    progress.isr_change_pending = true;
    progress.in_sync_asked = expand;
    if (expand) {
      progress.joining = true;
      Track(p, led, tracker_.end_offset(p));
    }
    spdlog::info("cluster: partition {}: {} follower {} ({} ms behind, acked {} of {})", p,
                 expand ? "adding caught-up" : "removing lagging", node,
                 lag_ms == UINT64_MAX ? -1 : static_cast<int64_t>(lag_ms), progress.acked, end);
    const uint64_t epoch = led.epoch;
    cluster::ChangeIsr(plane_, p, node, epoch, expand,
                       [this, p, node, epoch, expand](Result<cluster::PartitionState> state) {
                         if (closed_) return;
                         auto it = led_.find(p);
                         if (it != led_.end() && it->second.epoch == epoch) {
                           FollowerProgress& progress = it->second.progress[node];
                           progress.isr_change_pending = false;
                           if (!state.ok()) {
                             progress.isr_retry_at_ms = loop_.now_ms() + options_.isr_retry_ms;
                           }
                           // Refused: not joining after all. (Joined: it
                           // stays needed as a joiner until the map, with
                           // it in the ISR, arrives.)
                           if (expand && !state.ok()) {
                             progress.joining = false;
                             if (it->second.leading) {
                               Track(p, it->second, tracker_.end_offset(p));
                               Settle();
                             }
                           }
                         }
                         if (!state.ok()) {
                           spdlog::warn("cluster: partition {}: ISR change for {} failed: {}", p,
                                        node, state.status().ToString());
                           return;
                         }
                         ++(expand ? stats_.isr_expands : stats_.isr_shrinks);
                       });
  }
}

void Replicator::OnEpochEndRequest(const NodeId& from, const proto::EpochEndRequestFrame& request) {
  auto it = led_.find(request.partition);
  if (it == led_.end() || !it->second.leading) return;  // it asks again
  if (!Contains(it->second.followers, from)) return;
  uint64_t end = 0;
  if (request.epoch >= it->second.epoch) {
    end = tracker_.end_offset(request.partition);
  } else {
    Result<store::PartitionLogState> log = store_->ReadPartitionLog(request.partition);
    if (!log.ok()) {
      spdlog::error("cluster: partition {}: cannot read its log: {}", request.partition,
                    log.status().ToString());
      return;
    }
    end = log->EndOfEpoch(request.epoch);
  }
  proto::EpochEndReplyFrame reply{request.partition, request.epoch, end};
  links_->Send(from, proto::EncodeEpochEndReply(encoder_, reply));
}

// ---------------------------------------------------------------------------
// Follower side

Replicator::Followed* Replicator::FollowedFrom(const NodeId& from, PartitionId p, uint64_t epoch) {
  auto it = followed_.find(p);
  if (it == followed_.end() || it->second.leader != from) return nullptr;
  if (epoch != it->second.epoch) {
    // An older leader's word: say so; a newer one's: the map will tell.
    if (epoch < it->second.epoch) {
      ++stats_.stale_epoch_refusals;
      proto::ReplicaAckFrame ack{p, it->second.epoch, 0, 0, proto::ReplicaAckResult::kStaleEpoch};
      links_->Send(from, proto::EncodeReplicaAck(encoder_, ack));
    }
    return nullptr;
  }
  return &it->second;
}

void Replicator::Report(PartitionId p, Followed& f, proto::ReplicaAckResult result) {
  proto::ReplicaAckFrame ack;
  ack.partition = p;
  ack.epoch = f.epoch;
  ack.durable_offset = durable_end_[p];
  ack.end_offset = broker_->follower_log().state(p).end_offset;
  ack.result = result;
  links_->Send(f.leader, proto::EncodeReplicaAck(encoder_, ack));
}

void Replicator::OnReplicate(const NodeId& from, const proto::ReplicateFrame& frame) {
  Followed* f = FollowedFrom(from, frame.partition, frame.epoch);
  if (f == nullptr || !f->ready) return;  // it learns where this log ends later
  core::ReplicatePart part;
  part.partition = frame.partition;
  part.epoch = frame.epoch;
  part.prev_offset = frame.prev_offset;
  part.offset = frame.offset;
  part.leader_commit = frame.leader_commit;
  part.record = frame.record;
  part.commit_record = frame.commit_record;
  const core::BatchNo into = broker_->batch_no();
  Result<core::ReplicateResult> taken = broker_->TakeReplicated(part);
  if (!taken.ok()) {
    spdlog::error("cluster: partition {}: cannot take offset {}: {}", frame.partition, frame.offset,
                  taken.status().ToString());
    return;
  }
  switch (*taken) {
    case core::ReplicateResult::kStaged:
      ++stats_.parts_taken;
      window_.Keep(frame.partition, {frame.offset, loop_.now_ms(), std::string(frame.record),
                                     std::string(frame.commit_record)});
      pending_acks_.push_back(PendingAck{into, frame.partition, frame.offset});
      return;
    case core::ReplicateResult::kDuplicate:
      return Report(frame.partition, *f, proto::ReplicaAckResult::kDuplicate);
    case core::ReplicateResult::kStaleEpoch:
      return Report(frame.partition, *f, proto::ReplicaAckResult::kStaleEpoch);
    case core::ReplicateResult::kGap:
      return Report(frame.partition, *f, proto::ReplicaAckResult::kGap);
  }
}

void Replicator::OnLeaderCommit(const NodeId& from, const proto::LeaderCommitFrame& commit) {
  Followed* f = FollowedFrom(from, commit.partition, commit.epoch);
  if (f == nullptr) return;
  // The leader leads now (it may not have answered a question asked while
  // it was taking over): ask where its epoch ends again.
  if (!f->ready) return AskEpochEnd(commit.partition, *f);
  if (Status s = broker_->LeaderCommitted(commit.partition, commit.epoch, commit.leader_commit);
      !s.ok()) {
    spdlog::error("cluster: partition {}: {}", commit.partition, s.ToString());
  }
  // Answered with where this log ends: how a leader learns it after a
  // takeover or a broken link, and sees parts lost on the way.
  Report(commit.partition, *f, proto::ReplicaAckResult::kStaged);
}

void Replicator::OnEpochEndReply(const NodeId& from, const proto::EpochEndReplyFrame& reply) {
  auto it = followed_.find(reply.partition);
  if (it == followed_.end() || it->second.leader != from) return;
  Followed& f = it->second;
  if (f.ready || f.rebuild != Rebuild::kNone) return;
  const PartitionId p = reply.partition;
  const store::PartitionLogState& log = broker_->follower_log().state(p);
  if (reply.epoch != log.epoch) return;  // an answer to an older question
  if (reply.end_offset < log.end_offset) {
    const uint64_t before = log.end_offset;
    if (Status s = broker_->TruncatePartition(p, reply.end_offset); !s.ok()) {
      spdlog::warn(
          "cluster: partition {}: this node holds offsets {}..{} that leader {} does not, in its "
          "state already ({})",
          p, reply.end_offset + 1, before, from, s.ToString());
      return StartRebuild(p, f, "its copy diverged from the leader's");
    }
    ++stats_.truncations;
    spdlog::info("cluster: partition {}: log cut back from {} to {} (leader {}'s end of epoch {})",
                 p, before, reply.end_offset, from, reply.epoch);
    window_.DropAfter(p, reply.end_offset);
    uint64_t& durable = durable_end_[p];
    durable = std::min(durable, reply.end_offset);
  }
  f.ready = true;
  Report(p, f, proto::ReplicaAckResult::kGap);
}

// ---------------------------------------------------------------------------
// Links

void Replicator::OnLinkUp(const NodeId& node) {
  spdlog::info("cluster: link to {} up", node);
  for (auto& [p, led] : led_) {
    if (!led.leading || !Contains(led.followers, node)) continue;
    FollowerProgress& progress = led.progress[node];
    if (progress.known) progress.silent_since_ms = loop_.now_ms();
    progress.known = false;
    SendCommit(p, led, node, /*always=*/true);  // it answers where its log ends
  }
  for (auto& [p, f] : followed_) {
    if (f.leader != node) continue;
    if (!f.ready) {
      AskEpochEnd(p, f);
    } else {
      Report(p, f, proto::ReplicaAckResult::kGap);
    }
  }
}

void Replicator::OnLinkDown(const NodeId& node) {
  spdlog::info("cluster: link to {} down", node);
  for (auto& [p, led] : led_) {
    auto progress = led.progress.find(node);
    if (progress != led.progress.end() && progress->second.known) {
      progress->second.known = false;
      progress->second.silent_since_ms = loop_.now_ms();
    }
  }
  for (auto& [p, f] : followed_) {
    if (f.leader != node) continue;
    f.asked = false;
    // Chunks may have been lost with the link: that rebuild starts over.
    if (f.rebuild == Rebuild::kReceiving) RestartRebuild(f);
  }
  std::erase_if(snapshots_, [&node](const auto& e) { return e.first.second == node; });
}

std::vector<core::StatValue> Replicator::Stats() const {
  auto n = [](uint64_t v) { return static_cast<double>(v); };
  uint64_t leading = 0, lag = 0, rebuilding = 0;
  for (const auto& [p, led] : led_) {
    if (!led.leading) continue;
    ++leading;
    for (const NodeId& f : led.followers) {
      auto it = led.progress.find(f);
      uint64_t acked = it == led.progress.end() ? 0 : it->second.acked;
      lag = std::max(lag, led.committed_end - std::min(led.committed_end, acked));
    }
  }
  for (const auto& [p, f] : followed_) rebuilding += f.rebuild != Rebuild::kNone ? 1 : 0;
  return {
      {"cluster_partitions_led", "gauge", "Partitions this node leads and serves.", n(leading), {}},
      {"cluster_partitions_followed",
       "gauge",
       "Partitions this node follows.",
       n(followed_.size()),
       {}},
      {"cluster_partitions_rebuilding",
       "gauge",
       "Followed partitions being rebuilt here from their leader's snapshot (a copy that "
       "diverged, or fell behind the leader's window).",
       n(rebuilding),
       {}},
      {"cluster_rebuilds_started_total",
       "counter",
       "Followed partitions emptied here for a rebuild.",
       n(stats_.rebuilds_started),
       {}},
      {"cluster_rebuilds_finished_total",
       "counter",
       "Followed partitions rebuilt here from a snapshot.",
       n(stats_.rebuilds_finished),
       {}},
      {"cluster_snapshots_sent_total",
       "counter",
       "Led partitions streamed whole to a follower.",
       n(stats_.snapshots_sent),
       {}},
      {"cluster_snapshot_bytes_sent_total",
       "counter",
       "Bytes of rows and log records in those snapshots.",
       n(stats_.snapshot_bytes_sent),
       {}},
      {"cluster_forwards_sent_total",
       "counter",
       "Group publishes forwarded to the leader of another partition's members (resends "
       "included).",
       n(stats_.forwards_sent),
       {}},
      {"cluster_forwards_resent_total",
       "counter",
       "Of those, sent again: unanswered after --cluster-retry-ms, or not stored there yet.",
       n(stats_.forwards_resent),
       {}},
      {"cluster_forwards_answered_total",
       "counter",
       "Forwards the members' leader has stored.",
       n(stats_.forwards_answered),
       {}},
      {"cluster_forwards_pending",
       "gauge",
       "Forwards of partitions led here waiting for their members' leader.",
       n(outbound_.size()),
       {}},
      {"cluster_replica_lag_parts",
       "gauge",
       "The most parts any follower of a partition led here has not acked yet.",
       n(lag),
       {}},
      {"cluster_window_bytes",
       "gauge",
       "Recent partition-log parts kept for followers.",
       n(window_.bytes()),
       {}},
      {"cluster_parts_shipped_total",
       "counter",
       "Partition-log parts sent to followers.",
       n(stats_.parts_shipped),
       {}},
      {"cluster_parts_taken_total",
       "counter",
       "Partition-log parts staged from leaders.",
       n(stats_.parts_taken),
       {}},
      {"cluster_isr_shrinks_total",
       "counter",
       "Followers this node took out of an ISR.",
       n(stats_.isr_shrinks),
       {}},
      {"cluster_isr_expands_total",
       "counter",
       "Followers this node put back into an ISR.",
       n(stats_.isr_expands),
       {}},
      {"cluster_truncations_total",
       "counter",
       "Followed logs cut back to a new leader's end of epoch.",
       n(stats_.truncations),
       {}},
      {"cluster_stale_epoch_total",
       "counter",
       "Frames refused or ignored for an older epoch (fencing).",
       n(stats_.stale_epoch_refusals),
       {}},
  };
}

}  // namespace hermod::server
