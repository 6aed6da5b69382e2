#include "cluster/controller.h"

#include <algorithm>
#include <memory>

namespace hermod::cluster {

std::optional<PartitionState> Failover(const PartitionState& state, const std::set<NodeId>& live) {
  if (!state.assigned()) return std::nullopt;
  if (!state.leader.empty() && live.count(state.leader) > 0) return std::nullopt;
  PartitionState next = state;
  auto candidate = std::find_if(state.isr.begin(), state.isr.end(),
                                [&](const NodeId& n) { return live.count(n) > 0; });
  if (candidate == state.isr.end()) {
    if (state.leader.empty()) return std::nullopt;  // already leaderless: wait
    next.leader.clear();
    next.epoch = state.epoch + 1;
    return next;
  }
  next.leader = *candidate;
  next.epoch = state.epoch + 1;
  std::erase_if(next.isr, [&](const NodeId& n) { return live.count(n) == 0; });
  return next;
}

Result<PartitionState> ShrinkIsr(const PartitionState& state, const NodeId& node, uint64_t epoch) {
  if (epoch != state.epoch) {
    return Status::InvalidArgument("epoch " + std::to_string(epoch) + " is not the partition's (" +
                                   std::to_string(state.epoch) + ")");
  }
  if (node == state.leader) return Status::InvalidArgument("the leader cannot leave the ISR");
  if (std::find(state.replicas.begin(), state.replicas.end(), node) == state.replicas.end()) {
    return Status::InvalidArgument(node + " is not a replica of the partition");
  }
  PartitionState next = state;
  std::erase(next.isr, node);
  return next;
}

Result<PartitionState> ExpandIsr(const PartitionState& state, const NodeId& node, uint64_t epoch) {
  if (epoch != state.epoch) {
    return Status::InvalidArgument("epoch " + std::to_string(epoch) + " is not the partition's (" +
                                   std::to_string(state.epoch) + ")");
  }
  if (std::find(state.replicas.begin(), state.replicas.end(), node) == state.replicas.end()) {
    return Status::InvalidArgument(node + " is not a replica of the partition");
  }
  PartitionState next = state;
  if (!next.InIsr(node)) next.isr.push_back(node);
  return next;
}

std::optional<PartitionState> DropIncarnation(const PartitionState& state, const NodeId& node,
                                              const std::set<NodeId>& live) {
  if (!state.InIsr(node)) return std::nullopt;
  PartitionState next = state;
  std::erase(next.isr, node);
  if (state.leader != node) return next;
  // It led: someone else in sync must, as if it had died.
  std::set<NodeId> others = live;
  others.erase(node);
  PartitionState failed = next;
  failed.leader = node;  // Failover replaces a leader that is not live
  std::optional<PartitionState> moved = Failover(failed, others);
  if (moved) return moved;
  next.leader.clear();
  next.epoch = state.epoch + 1;
  return next;
}

}  // namespace hermod::cluster

namespace hermod::cluster {

ControllerPlan PlanChanges(const ClusterView& view) {
  ControllerPlan plan;
  if (!view.config) return plan;  // not initialised: nothing to decide
  std::set<NodeId> eligible;
  std::set<NodeId> wiped;
  for (const auto& [node, info] : view.nodes) {
    auto known = view.incarnations.find(node);
    if (known == view.incarnations.end()) {
      plan.record_before[node] = info.incarnation;
      eligible.insert(node);
    } else if (known->second != info.incarnation) {
      wiped.insert(node);
      plan.record_after[node] = info.incarnation;
    } else {
      eligible.insert(node);
    }
  }
  std::optional<std::vector<PartitionState>> fresh;
  if (eligible.size() >= view.config->replicas) {
    Result<std::vector<PartitionState>> assigned =
        Assign(*view.config, std::vector<NodeId>(eligible.begin(), eligible.end()));
    if (assigned.ok()) fresh = std::move(*assigned);
  }
  for (uint32_t p = 0; p < view.partitions.size(); ++p) {
    const PartitionState& state = view.partitions[p];
    PartitionState next = state;
    if (!state.assigned()) {
      if (!fresh) continue;
      next = (*fresh)[p];
    } else {
      for (const NodeId& node : wiped) {
        if (auto dropped = DropIncarnation(next, node, eligible)) next = *dropped;
      }
      if (auto moved = Failover(next, eligible)) next = *moved;
      if (next == state) continue;
    }
    next.mod_revision = state.mod_revision;
    plan.writes[p] = std::move(next);
  }
  return plan;
}

namespace {

// Counts answers of writes issued together, and reports once, after the
// last: the first error, else whether every write landed.
struct Tally {
  size_t waiting = 0;
  bool all_landed = true;
  Status error;
  std::function<void(Result<bool>)> done;

  void Add(Result<bool> r) {
    if (!r.ok() && error.ok()) error = r.status();
    if (r.ok() && !*r) all_landed = false;
    if (--waiting > 0) return;
    if (!error.ok()) return done(error);
    done(all_landed);
  }
};

void RecordAll(ControlPlane* plane, const std::map<NodeId, std::string>& records,
               std::function<void(Result<bool>)> done) {
  if (records.empty()) return done(true);
  auto tally = std::make_shared<Tally>();
  tally->waiting = records.size();
  tally->done = std::move(done);
  for (const auto& [node, incarnation] : records) {
    plane->RecordIncarnation(node, incarnation,
                             [tally](Status s) { tally->Add(s.ok() ? Result<bool>(true) : s); });
  }
}

}  // namespace

void Controller::Reconcile(const ClusterView& view, std::function<void(Result<bool>)> done) {
  auto plan = std::make_shared<ControllerPlan>(PlanChanges(view));
  if (plan->empty()) return done(true);
  ControlPlane* plane = plane_;
  RecordAll(plane, plan->record_before, [plane, plan, done](Result<bool> r) mutable {
    if (!r.ok()) return done(r.status());
    if (plan->writes.empty()) return RecordAll(plane, plan->record_after, std::move(done));
    auto tally = std::make_shared<Tally>();
    tally->waiting = plan->writes.size();
    tally->done = [plane, plan, done = std::move(done)](Result<bool> written) mutable {
      if (!written.ok() || !*written) return done(written);
      RecordAll(plane, plan->record_after, std::move(done));
    };
    for (const auto& [p, next] : plan->writes) {
      plane->CasPartition(p, next, [tally](Result<bool> w) { tally->Add(std::move(w)); });
    }
  });
}

namespace {

// Conflicts are retried this often: another writer of the same partition
// (the controller failing it over) makes the epoch stale soon enough.
constexpr int kIsrAttempts = 5;

void ChangeIsrAttempt(ControlPlane* plane, uint32_t partition, NodeId node, uint64_t epoch,
                      bool expand, int attempts_left,
                      std::function<void(Result<PartitionState>)> done) {
  plane->Read([=, done = std::move(done)](Result<ClusterView> view) mutable {
    if (!view.ok()) return done(view.status());
    if (partition >= view->partitions.size()) {
      return done(Status::InvalidArgument("no partition " + std::to_string(partition)));
    }
    const PartitionState& state = view->partitions[partition];
    Result<PartitionState> next =
        expand ? ExpandIsr(state, node, epoch) : ShrinkIsr(state, node, epoch);
    if (!next.ok() || *next == state) return done(next);
    next->mod_revision = state.mod_revision;
    PartitionState wanted = *next;
    plane->CasPartition(
        partition, wanted, [=, done = std::move(done)](Result<bool> written) mutable {
          if (!written.ok()) return done(written.status());
          if (*written) return done(wanted);
          if (attempts_left <= 1) {
            return done(Status::Unavailable("partition " + std::to_string(partition) +
                                            ": ISR change kept losing to other writes"));
          }
          ChangeIsrAttempt(plane, partition, node, epoch, expand, attempts_left - 1,
                           std::move(done));
        });
  });
}

}  // namespace

void ChangeIsr(ControlPlane* plane, uint32_t partition, const NodeId& node, uint64_t epoch,
               bool expand, std::function<void(Result<PartitionState>)> done) {
  ChangeIsrAttempt(plane, partition, node, epoch, expand, kIsrAttempts, std::move(done));
}

}  // namespace hermod::cluster
