// The replicator's rebuilds (docs/design.md, "Replication", "Rebuild from
// a snapshot"): a leader streams a partition whole to a follower whose copy
// cannot follow by the log, and the follower empties its copy, takes the
// snapshot in through its own batches, and reports where it ends. The rest
// of the replicator is in replicator.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "partition_rows.h"
#include "peer_frames.h"
#include "replicator.h"

namespace hermod::server {

// ---------------------------------------------------------------------------
// Rebuild: leader side

void Replicator::OnSnapshotRequest(const NodeId& from, const proto::SnapshotRequestFrame& request) {
  const PartitionId p = request.partition;
  auto it = led_.find(p);
  if (it == led_.end() || !it->second.leading || it->second.epoch != request.epoch) return;
  const std::vector<NodeId>& followers = it->second.followers;
  if (std::find(followers.begin(), followers.end(), from) == followers.end()) return;
  Result<std::unique_ptr<store::PartitionSnapshot>> snapshot =
      store::PartitionSnapshot::Begin(store_->env(), p, broker_->PartitionFilter(p));
  if (!snapshot.ok()) {
    spdlog::error("cluster: partition {}: cannot take a snapshot for {}: {}", p, from,
                  snapshot.status().ToString());
    return;  // the follower asks again after its silence bound
  }
  SnapshotJob job;
  job.id = request.snapshot_id;
  job.epoch = request.epoch;
  job.snapshot = std::move(*snapshot);
  spdlog::info("cluster: partition {}: sending {} a snapshot at offset {}", p, from,
               job.snapshot->log().end_offset);
  snapshots_[{p, from}] = std::move(job);
  ++stats_.snapshots_sent;
  PumpSnapshot(p, from);
}

void Replicator::PumpSnapshot(PartitionId p, const NodeId& follower) {
  auto it = snapshots_.find({p, follower});
  if (it == snapshots_.end()) return;
  SnapshotJob& job = it->second;
  auto led = led_.find(p);
  if (led == led_.end() || led->second.epoch != job.epoch) {
    snapshots_.erase(it);
    return;
  }
  for (;;) {
    if (!job.has_pending) {
      if (job.ended) {
        spdlog::info("cluster: partition {}: snapshot for {} sent ({} rows, {} log records)", p,
                     follower, job.snapshot->rows(), job.records.size());
        snapshots_.erase(it);
        return;
      }
      job.pending.clear();
      if (!job.rows_done) {
        Status s =
            job.snapshot->NextRows(options_.snapshot_chunk_bytes, &job.pending, &job.rows_done);
        if (s.ok() && job.rows_done) job.records = job.snapshot->TakeLogTail();
        if (!s.ok()) {
          spdlog::error("cluster: partition {}: snapshot for {} failed: {}", p, follower,
                        s.ToString());
          snapshots_.erase(it);
          return;  // the follower starts over after its silence bound
        }
        if (job.pending.empty()) continue;
        job.pending_kind = proto::SnapshotChunkKind::kRows;
      } else if (job.next_record < job.records.size()) {
        job.pending = std::move(job.records[job.next_record++]);
        job.pending_kind = proto::SnapshotChunkKind::kLogRecord;
      } else {
        job.pending = store::EncodeEpochs(job.snapshot->log().epochs);
        job.pending_kind = proto::SnapshotChunkKind::kEnd;
      }
      job.has_pending = true;
    }
    proto::SnapshotChunkFrame chunk;
    chunk.partition = p;
    chunk.epoch = job.epoch;
    chunk.snapshot_id = job.id;
    chunk.seq = job.seq + 1;
    chunk.kind = job.pending_kind;
    chunk.end_offset = job.snapshot->log().end_offset;
    chunk.data = job.pending;
    if (!links_->Send(follower, proto::EncodeSnapshotChunk(encoder_, chunk))) return;
    ++job.seq;
    stats_.snapshot_bytes_sent += job.pending.size();
    job.has_pending = false;
    if (job.pending_kind == proto::SnapshotChunkKind::kEnd) job.ended = true;
  }
}

// ---------------------------------------------------------------------------
// Rebuild: follower side

void Replicator::StartRebuild(PartitionId p, Followed& f, const char* why) {
  if (f.rebuild != Rebuild::kNone) return;
  spdlog::warn("cluster: partition {}: rebuilding this node's copy from leader {} ({})", p,
               f.leader, why);
  f.ready = false;
  f.rebuild = Rebuild::kEmptying;
  f.rebuild_batch = 0;
  ++stats_.rebuilds_started;
  AdvanceRebuild(p, f);
}

void Replicator::RestartRebuild(Followed& f) {
  f.rebuild = Rebuild::kEmptying;
  f.rebuild_batch = 0;  // the copy is emptied again: what came so far is partial
  f.snapshot_records.clear();
}

void Replicator::AdvanceRebuild(PartitionId p, Followed& f) {
  const uint64_t now = loop_.now_ms();
  switch (f.rebuild) {
    case Rebuild::kNone:
      return;
    case Rebuild::kEmptying: {
      Result<core::BatchNo> emptied = broker_->PrepareRebuild(p, &f.rebuild_batch);
      if (!emptied.ok()) {
        spdlog::error("cluster: partition {}: cannot empty it for a rebuild: {}", p,
                      emptied.status().ToString());
        return;
      }
      if (*emptied == 0) return;  // its log is still being applied
      // Whatever this node kept of the partition is not the leader's.
      window_.DropAfter(p, 0);
      pending_acks_.erase(std::remove_if(pending_acks_.begin(), pending_acks_.end(),
                                         [p](const PendingAck& a) { return a.partition == p; }),
                          pending_acks_.end());
      durable_end_[p] = 0;
      f.rebuild_batch = *emptied;
      f.rebuild = Rebuild::kEmptied;
      [[fallthrough]];
    }
    case Rebuild::kEmptied: {
      if (broker_->committed_through() < f.rebuild_batch) return;
      f.snapshot_id = ++next_snapshot_id_;
      f.next_seq = 1;
      f.snapshot_records.clear();
      f.rebuild_batch = 0;
      proto::SnapshotRequestFrame request{p, f.epoch, f.snapshot_id};
      if (!links_->Send(f.leader, proto::EncodeSnapshotRequest(encoder_, request))) return;
      f.heard_ms = now;
      f.rebuild = Rebuild::kReceiving;
      return;
    }
    case Rebuild::kReceiving:
      if (now - f.heard_ms > options_.rebuild_silence_ms) {
        spdlog::warn("cluster: partition {}: no snapshot from {} for {} ms; starting over", p,
                     f.leader, now - f.heard_ms);
        RestartRebuild(f);
      }
      return;
    case Rebuild::kFinishing: {
      if (broker_->committed_through() < f.rebuild_batch) return;
      Result<core::BatchNo> finished =
          broker_->FinishRebuild(p, f.epoch, f.snapshot_end, f.snapshot_epochs, f.snapshot_records);
      f.snapshot_records.clear();
      if (!finished.ok()) {
        spdlog::error(
            "cluster: partition {}: the snapshot's log records do not read ({}); "
            "starting over",
            p, finished.status().ToString());
        RestartRebuild(f);
        return;
      }
      f.rebuild_batch = *finished;
      f.rebuild = Rebuild::kCommitting;
      return;
    }
    case Rebuild::kCommitting:
      if (broker_->committed_through() < f.rebuild_batch) return;
      durable_end_[p] = f.snapshot_end;
      f.rebuild = Rebuild::kNone;
      f.ready = true;
      ++stats_.rebuilds_finished;
      spdlog::info("cluster: partition {}: rebuilt from {}'s snapshot at offset {}", p, f.leader,
                   f.snapshot_end);
      // Where its log ends now: the leader ships from there.
      return Report(p, f, proto::ReplicaAckResult::kGap);
  }
}

void Replicator::OnSnapshotChunk(const NodeId& from, const proto::SnapshotChunkFrame& chunk) {
  const PartitionId p = chunk.partition;
  Followed* f = FollowedFrom(from, p, chunk.epoch);
  if (f == nullptr) return;
  if (chunk.kind == proto::SnapshotChunkKind::kNeeded) {
    return StartRebuild(p, *f, "it is behind what the leader keeps of its log");
  }
  if (f->rebuild != Rebuild::kReceiving || chunk.snapshot_id != f->snapshot_id) return;
  if (chunk.seq != f->next_seq) {
    spdlog::warn("cluster: partition {}: snapshot chunk {} came where {} was due; starting over", p,
                 chunk.seq, f->next_seq);
    RestartRebuild(*f);
    return;
  }
  ++f->next_seq;
  f->heard_ms = loop_.now_ms();
  switch (chunk.kind) {
    case proto::SnapshotChunkKind::kRows: {
      Result<core::BatchNo> into = broker_->TakeSnapshotRows(p, chunk.data);
      if (!into.ok()) {
        spdlog::error(
            "cluster: partition {}: snapshot rows from {} do not read ({}); starting "
            "over",
            p, from, into.status().ToString());
        RestartRebuild(*f);
        return;
      }
      f->rebuild_batch = *into;
      return;
    }
    case proto::SnapshotChunkKind::kLogRecord:
      f->snapshot_records.emplace_back(chunk.data);
      return;
    case proto::SnapshotChunkKind::kEnd: {
      Result<std::vector<std::pair<uint64_t, uint64_t>>> epochs = store::DecodeEpochs(chunk.data);
      if (!epochs.ok()) {
        RestartRebuild(*f);
        return;
      }
      f->snapshot_end = chunk.end_offset;
      f->snapshot_epochs = std::move(*epochs);
      f->rebuild = Rebuild::kFinishing;
      return AdvanceRebuild(p, *f);
    }
    case proto::SnapshotChunkKind::kNeeded:
      return;
  }
}

}  // namespace hermod::server
