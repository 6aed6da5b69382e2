#include "cluster/partition_map.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace hermod::cluster {

using nlohmann::json;

namespace {

// Parses `text` as a JSON object; kInvalidArgument naming `what` if not.
Result<json> ParseObject(std::string_view text, std::string_view what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument(std::string(what) + ": not a JSON object");
  }
  return j;
}

Status Uint(const json& j, const char* key, std::string_view what, uint64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) {
    return Status::InvalidArgument(std::string(what) + ": \"" + key +
                                   "\" is missing or not a non-negative integer");
  }
  *out = it->get<uint64_t>();
  return Status::OK();
}

Status String(const json& j, const char* key, std::string_view what, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return Status::InvalidArgument(std::string(what) + ": \"" + key +
                                   "\" is missing or not a string");
  }
  *out = it->get<std::string>();
  return Status::OK();
}

Status Strings(const json& j, const char* key, std::string_view what,
               std::vector<std::string>* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    return Status::InvalidArgument(std::string(what) + ": \"" + key +
                                   "\" is missing or not an array");
  }
  out->clear();
  for (const json& e : *it) {
    if (!e.is_string() || e.get<std::string>().empty()) {
      return Status::InvalidArgument(std::string(what) + ": \"" + key +
                                     "\" holds something that is not a node id");
    }
    out->push_back(e.get<std::string>());
  }
  return Status::OK();
}

}  // namespace

Status ClusterConfig::Validate() const {
  if (partitions < 1) return Status::InvalidArgument("partitions must be at least 1");
  if (partitions > 65536) return Status::InvalidArgument("partitions must be at most 65536");
  if (replicas < 1) return Status::InvalidArgument("replicas must be at least 1");
  if (min_insync < 1 || min_insync > replicas) {
    return Status::InvalidArgument("min-insync must be between 1 and replicas (" +
                                   std::to_string(replicas) + ")");
  }
  return Status::OK();
}

std::string ClusterConfig::ToJson() const {
  return json{{"partitions", partitions}, {"replicas", replicas}, {"min_insync", min_insync}}
      .dump();
}

Result<ClusterConfig> ClusterConfig::FromJson(std::string_view text) {
  constexpr std::string_view kWhat = "cluster config";
  Result<json> j = ParseObject(text, kWhat);
  if (!j.ok()) return j.status();
  uint64_t p = 0, r = 0, m = 0;
  for (auto [key, out] : {std::pair{"partitions", &p}, {"replicas", &r}, {"min_insync", &m}}) {
    if (Status s = Uint(*j, key, kWhat, out); !s.ok()) return s;
  }
  if (p > UINT32_MAX || r > UINT32_MAX || m > UINT32_MAX) {
    return Status::InvalidArgument("cluster config: a number is out of range");
  }
  ClusterConfig config{static_cast<uint32_t>(p), static_cast<uint32_t>(r),
                       static_cast<uint32_t>(m)};
  if (Status s = config.Validate(); !s.ok()) return s;
  return config;
}

std::string NodeInfo::ToJson() const {
  return json{{"id", id},
              {"client_address", client_address},
              {"peer_address", peer_address},
              {"incarnation", incarnation}}
      .dump();
}

Result<NodeInfo> NodeInfo::FromJson(std::string_view text) {
  constexpr std::string_view kWhat = "node";
  Result<json> j = ParseObject(text, kWhat);
  if (!j.ok()) return j.status();
  NodeInfo node;
  for (auto [key, out] : {std::pair{"id", &node.id},
                          {"client_address", &node.client_address},
                          {"peer_address", &node.peer_address},
                          {"incarnation", &node.incarnation}}) {
    if (Status s = String(*j, key, kWhat, out); !s.ok()) return s;
  }
  if (node.id.empty()) return Status::InvalidArgument("node: empty id");
  return node;
}

bool PartitionState::InIsr(std::string_view node) const {
  return std::find(isr.begin(), isr.end(), node) != isr.end();
}

std::string PartitionState::ToJson() const {
  return json{{"replicas", replicas}, {"leader", leader}, {"epoch", epoch}, {"isr", isr}}.dump();
}

Result<PartitionState> PartitionState::FromJson(std::string_view text) {
  constexpr std::string_view kWhat = "partition state";
  Result<json> j = ParseObject(text, kWhat);
  if (!j.ok()) return j.status();
  PartitionState state;
  if (Status s = Strings(*j, "replicas", kWhat, &state.replicas); !s.ok()) return s;
  if (Status s = String(*j, "leader", kWhat, &state.leader); !s.ok()) return s;
  if (Status s = Uint(*j, "epoch", kWhat, &state.epoch); !s.ok()) return s;
  if (Status s = Strings(*j, "isr", kWhat, &state.isr); !s.ok()) return s;
  std::set<NodeId> replicas(state.replicas.begin(), state.replicas.end());
  if (replicas.size() != state.replicas.size()) {
    return Status::InvalidArgument("partition state: a node is a replica twice");
  }
  for (const NodeId& n : state.isr) {
    if (replicas.count(n) == 0) {
      return Status::InvalidArgument("partition state: in-sync node " + n + " is not a replica");
    }
  }
  if (!state.leader.empty() && !state.InIsr(state.leader)) {
    return Status::InvalidArgument("partition state: leader " + state.leader + " is not in sync");
  }
  return state;
}

Result<std::vector<PartitionState>> Assign(const ClusterConfig& config,
                                           const std::vector<NodeId>& nodes) {
  if (Status s = config.Validate(); !s.ok()) return s;
  if (nodes.size() < config.replicas) {
    return Status::InvalidArgument("assigning " + std::to_string(config.replicas) +
                                   " replicas needs as many nodes; " +
                                   std::to_string(nodes.size()) + " are registered");
  }
  // Partition p's replicas are the R nodes from p mod N on, in ring order:
  // each node is the first (the leader) of P/N partitions (give or take
  // one), and holds R*P/N replicas.
  std::vector<PartitionState> out(config.partitions);
  size_t n = nodes.size();
  for (uint32_t p = 0; p < config.partitions; ++p) {
    PartitionState& state = out[p];
    for (uint32_t r = 0; r < config.replicas; ++r) state.replicas.push_back(nodes[(p + r) % n]);
    state.leader = state.replicas.front();
    state.epoch = 1;
    state.isr = state.replicas;
  }
  return out;
}

}  // namespace hermod::cluster
