#include "cluster/cluster_store.h"

#include <charconv>
#include <set>

namespace hermod::cluster {

ClusterStore::ClusterStore(EtcdClient* etcd, std::string cluster)
    : etcd_(etcd), prefix_("/hermod/" + cluster + "/") {}

Status ClusterStore::ValidateName(std::string_view cluster) {
  if (cluster.empty() || cluster.size() > 64) {
    return Status::InvalidArgument("a cluster name has 1 to 64 characters");
  }
  for (char c : cluster) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return Status::InvalidArgument("a cluster name is made of A-Z a-z 0-9 _ . -");
  }
  return Status::OK();
}

std::string ClusterStore::PartitionKey(uint32_t partition) const {
  return prefix_ + "parts/" + std::to_string(partition);
}

std::string ClusterStore::NodeKey(std::string_view node) const {
  return prefix_ + "nodes/" + std::string(node);
}

void ClusterStore::Init(const ClusterConfig& config, std::function<void(Status)> done) {
  if (Status s = config.Validate(); !s.ok()) return done(s);
  std::string key = prefix_ + "config";
  etcd_->Txn({Compare::CreateRevision(key, Compare::Result::kEqual, 0)},
             {TxnOp::Put(key, config.ToJson())}, {TxnOp::Get(key)},
             [done = std::move(done), key](Result<TxnResult> r) {
               if (!r.ok()) return done(r.status());
               if (!r->succeeded) {
                 return done(Status::AlreadyExists("the cluster is initialised already (" + key +
                                                   " exists)"));
               }
               done(Status::OK());
             });
}

void ClusterStore::Read(std::function<void(Result<ClusterView>)> done) {
  etcd_->GetPrefix(prefix_, [this, done = std::move(done)](Result<RangeResult> r) {
    if (!r.ok()) return done(r.status());
    ClusterView view;
    view.revision = r->revision;
    std::map<uint32_t, PartitionState> parts;
    for (const KeyValue& kv : r->kvs) {
      std::string_view name = std::string_view(kv.key).substr(prefix_.size());
      if (name == "config") {
        Result<ClusterConfig> config = ClusterConfig::FromJson(kv.value);
        if (!config.ok()) return done(config.status());
        view.config = *config;
      } else if (name == "controller") {
        view.controller = kv.value;
      } else if (name.starts_with("nodes/")) {
        Result<NodeInfo> node = NodeInfo::FromJson(kv.value);
        if (!node.ok()) return done(node.status());
        view.nodes[node->id] = *node;
      } else if (name.starts_with("incarnations/")) {
        view.incarnations[std::string(name.substr(13))] = kv.value;
      } else if (name.starts_with("parts/")) {
        std::string_view digits = name.substr(6);
        uint32_t p = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
        if (ec != std::errc() || end != digits.data() + digits.size()) {
          return done(Status::InvalidArgument("unexpected key " + kv.key));
        }
        Result<PartitionState> state = PartitionState::FromJson(kv.value);
        if (!state.ok()) {
          return done(Status::InvalidArgument(kv.key + ": " + state.status().message()));
        }
        state->mod_revision = kv.mod_revision;
        parts[p] = std::move(*state);
      }
    }
    if (view.config) {
      view.partitions.resize(view.config->partitions);
      for (auto& [p, state] : parts) {
        if (p < view.partitions.size()) view.partitions[p] = std::move(state);
      }
    }
    done(std::move(view));
  });
}

void ClusterStore::CasPartition(uint32_t partition, const PartitionState& next,
                                std::function<void(Result<bool>)> done) {
  std::string key = PartitionKey(partition);
  Compare held = next.mod_revision == 0
                     ? Compare::CreateRevision(key, Compare::Result::kEqual, 0)
                     : Compare::ModRevision(key, Compare::Result::kEqual, next.mod_revision);
  etcd_->Txn({held}, {TxnOp::Put(key, next.ToJson())}, {},
             [done = std::move(done)](Result<TxnResult> r) {
               if (!r.ok()) return done(r.status());
               done(r->succeeded);
             });
}

void ClusterStore::AllocateIdPrefix(const std::string& incarnation,
                                    std::function<void(Result<uint32_t>)> done) {
  constexpr uint32_t kMaxIdPrefix = (1u << 15) - 1;  // store/keys.h
  const std::string dir = prefix_ + "idprefixes/";
  etcd_->GetPrefix(
      dir, [this, dir, incarnation, done = std::move(done)](Result<RangeResult> r) mutable {
        if (!r.ok()) return done(r.status());
        std::set<uint32_t> taken;
        for (const KeyValue& kv : r->kvs) {
          std::string_view digits = std::string_view(kv.key).substr(dir.size());
          uint32_t n = 0;
          auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
          if (ec != std::errc() || end != digits.data() + digits.size()) continue;
          if (kv.value == incarnation) return done(n);
          taken.insert(n);
        }
        uint32_t n = 1;
        while (taken.count(n) > 0) ++n;
        if (n > kMaxIdPrefix) {
          return done(Status(ErrorCode::kLimitExceeded, "every message-id prefix is taken"));
        }
        std::string key = dir + std::to_string(n);
        etcd_->Txn({Compare::CreateRevision(key, Compare::Result::kEqual, 0)},
                   {TxnOp::Put(key, incarnation)}, {},
                   [this, n, incarnation, done = std::move(done)](Result<TxnResult> t) mutable {
                     if (!t.ok()) return done(t.status());
                     if (t->succeeded) return done(n);
                     // Another node claimed it first: look again.
                     AllocateIdPrefix(incarnation, std::move(done));
                   });
      });
}

}  // namespace hermod::cluster
