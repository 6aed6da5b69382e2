#include "cluster/controller.h"

#include <algorithm>

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
