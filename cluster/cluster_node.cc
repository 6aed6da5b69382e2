#include "cluster/cluster_node.h"

#include <spdlog/spdlog.h>

#include "cluster/cluster_store.h"
#include "cluster/etcd_client.h"
#include "cluster/etcd_control_plane.h"
#include "cluster/incarnation.h"

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
  return Status::OK();
}

ClusterNode::ClusterNode(net::Loop& loop) : loop_(loop) {}

ClusterNode::~ClusterNode() = default;

Status ClusterNode::Start(const ClusterOptions& options, const std::string& client_address,
                          const std::string& data_dir) {
  if (Status s = options.Validate(); !s.ok()) return s;
  Result<std::string> incarnation = LoadOrCreateIncarnation(data_dir);
  if (!incarnation.ok()) return incarnation.status();
  EtcdClient::Options etcd_options;
  etcd_options.endpoints = *EtcdClient::ParseEndpoints(options.etcd);
  etcd_options.request_timeout = std::chrono::milliseconds(options.etcd_timeout_ms);
  etcd_ = std::make_unique<EtcdClient>(loop_, etcd_options);
  if (Status s = etcd_->Init(); !s.ok()) {
    etcd_.reset();
    return s;
  }
  plane_ = std::make_unique<EtcdControlPlane>(loop_, *etcd_, options.name);
  MemberOptions member_options;
  member_options.node_id = options.node_id;
  member_options.client_address = options.advertise.empty() ? client_address : options.advertise;
  member_options.peer_address = options.peer_listen;
  member_options.incarnation = *incarnation;
  member_options.lease_ttl_s = options.lease_ttl_s;
  member_options.retry_ms = options.retry_ms;
  member_ = std::make_unique<ClusterMember>(loop_, plane_.get(), member_options);
  spdlog::info("cluster: node {} joining cluster {} through etcd {} (client {}, peer {})",
               options.node_id, options.name, options.etcd, member_options.client_address,
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
