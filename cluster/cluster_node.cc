#include "cluster/cluster_node.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <optional>

#include "cluster/cluster_store.h"
#include "cluster/etcd_client.h"
#include "cluster/etcd_control_plane.h"
#include "cluster/incarnation.h"
#include "net/timer.h"

namespace hermod::cluster {

Status ClusterOptions::Validate() const {
  if (!enabled()) return Status::OK();
  Result<std::vector<std::string>> endpoints = EtcdClient::ParseEndpoints(etcd);
  if (!endpoints.ok())
    return Status::InvalidArgument("--cluster-etcd: " + endpoints.status().message());
  if (Status s = ClusterStore::ValidateName(name); !s.ok()) {
    return Status::InvalidArgument("--cluster-name: " + s.message());
  }
  if (node_id.empty()) return Status::InvalidArgument("--node-id is required with --cluster-etcd");
  if (Status s = ClusterStore::ValidateName(node_id); !s.ok()) {
    return Status::InvalidArgument("--node-id: " + s.message().substr(s.message().find(' ') + 1));
  }
  if (peer_listen.empty()) {
    return Status::InvalidArgument("--peer-listen is required with --cluster-etcd");
  }
  if (peer_listen.find(':') == std::string::npos) {
    return Status::InvalidArgument("--peer-listen: expected HOST:PORT");
  }
  if (!advertise.empty() && advertise.find(':') == std::string::npos) {
    return Status::InvalidArgument("--advertise: expected HOST:PORT");
  }
  if (lease_ttl_s < 1 || lease_ttl_s > 60) {
    return Status::InvalidArgument("--cluster-lease-ttl-s must be between 1 and 60");
  }
  if (etcd_timeout_ms < 100)
    return Status::InvalidArgument("--cluster-etcd-timeout-ms: at least 100");
  if (retry_ms < 10) return Status::InvalidArgument("--cluster-retry-ms: at least 10");
  if (replica_lag_ms < 50) return Status::InvalidArgument("--cluster-replica-lag-ms: at least 50");
  if (replica_window_mib < 1) {
    return Status::InvalidArgument("--cluster-replica-window-mib: at least 1");
  }
  return Status::OK();
}

ClusterNode::ClusterNode(net::Loop& loop) : loop_(loop) {}

ClusterNode::~ClusterNode() = default;

Status ClusterNode::Open(const ClusterOptions& options, const std::string& data_dir) {
  if (Status s = options.Validate(); !s.ok()) return s;
  options_ = options;
  Result<std::string> incarnation = LoadOrCreateIncarnation(data_dir);
  if (!incarnation.ok()) return incarnation.status();
  incarnation_ = *incarnation;
  EtcdClient::Options etcd_options;
  etcd_options.endpoints = *EtcdClient::ParseEndpoints(options.etcd);
  etcd_options.request_timeout = std::chrono::milliseconds(options.etcd_timeout_ms);
  etcd_ = std::make_unique<EtcdClient>(loop_, etcd_options);
  if (Status s = etcd_->Init(); !s.ok()) {
    etcd_.reset();
    return s;
  }
  plane_ = std::make_unique<EtcdControlPlane>(loop_, *etcd_, options.name);
  return Status::OK();
}

ControlPlane* ClusterNode::plane() { return plane_.get(); }

Result<JoinInfo> ClusterNode::Join() {
  ClusterStore store(etcd_.get(), options_.name);
  std::optional<Result<JoinInfo>> outcome;
  JoinInfo info;
  std::function<void()> read_config;
  net::Timer retry;
  retry.Init(loop_, [&] { read_config(); });
  uint64_t waits = 0;
  auto allocate = [&] {
    store.AllocateIdPrefix(incarnation_, [&](Result<uint32_t> prefix) {
      if (!prefix.ok()) {
        spdlog::warn("cluster: claiming an id prefix failed ({}); retrying",
                     prefix.status().ToString());
        return retry.Start(options_.retry_ms);
      }
      info.id_prefix = *prefix;
      outcome = info;
    });
  };
  read_config = [&] {
    store.Read([&](Result<ClusterView> view) {
      if (!view.ok() || !view->config) {
        if (waits++ % 20 == 0) {
          spdlog::info("cluster: waiting for cluster {} to be initialised in etcd ({})",
                       options_.name,
                       view.ok() ? "run hermod cluster init" : view.status().ToString());
        }
        return retry.Start(options_.retry_ms);
      }
      info.config = *view->config;
      allocate();
    });
  };
  read_config();
  while (!outcome) uv_run(loop_.uv(), UV_RUN_ONCE);
  retry.Close();
  uv_run(loop_.uv(), UV_RUN_NOWAIT);
  spdlog::info("cluster: {} partitions, {} replicas, min in-sync {}; id prefix {}",
               info.config.partitions, info.config.replicas, info.config.min_insync,
               info.id_prefix);
  return *outcome;
}

Status ClusterNode::Start(const std::string& client_address) {
  MemberOptions member_options;
  member_options.node_id = options_.node_id;
  member_options.client_address = options_.advertise.empty() ? client_address : options_.advertise;
  member_options.peer_address = options_.peer_listen;
  member_options.incarnation = incarnation_;
  member_options.lease_ttl_s = options_.lease_ttl_s;
  member_options.retry_ms = options_.retry_ms;
  member_ = std::make_unique<ClusterMember>(loop_, plane_.get(), member_options);
  spdlog::info("cluster: node {} joining cluster {} through etcd {} (client {}, peer {})",
               options_.node_id, options_.name, options_.etcd, member_options.client_address,
               member_options.peer_address);
  member_->Start();
  return Status::OK();
}

void ClusterNode::Close() {
  if (closed_) return;
  closed_ = true;
  if (member_) member_->Close();
  if (plane_) plane_->Close();
  if (etcd_) etcd_->Close();
}

}  // namespace hermod::cluster
