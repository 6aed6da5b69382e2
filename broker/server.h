// Server: hermodd's composition root. It creates the loop, the store, the
// storage thread, the broker core and the listener, wires them together,
// runs until SIGINT or SIGTERM, and stops them in order. It does nothing
// else; main.cc turns flags into ServerOptions.
//
// Main thread only (it becomes the loop thread).
#ifndef HERMOD_BROKER_SERVER_H_
#define HERMOD_BROKER_SERVER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "cluster/cluster_node.h"
#include "config.h"
#include "hermod/status.h"
#include "http_service.h"
#include "net/listener.h"
#include "net/tls_context.h"
#include "sessions.h"
#include "sync_mode.h"

namespace hermod {
namespace net {
class HttpServer;
}  // namespace net
namespace server {
class Replicator;
}  // namespace server

struct ServerOptions {
  std::string listen = "127.0.0.1:7400";
  std::string data_dir = "./hermod-data";
  // "lmdb" (durable) or "memory" (nothing survives; for measuring the
  // network path without a disk).
  std::string store = "lmdb";
  store::SyncMode sync = store::SyncMode::kAlways;
  uint32_t sync_interval_ms = 50;  // how often --sync batch flushes
  uint64_t initial_map_bytes = 1ull << 30;
  uint64_t max_store_bytes = 0;  // 0: the disk is the limit
  std::string http_listen;       // HOST:PORT for the console, /metrics and /healthz; empty: off
  server::HttpServiceOptions http;
  // Read again on SIGHUP (sessions.auth_tokens holds what was read at
  // start); empty: no authentication.
  std::string auth_token_file;
  // Where sessions.principals came from (its [[principal]] tables), read
  // again on SIGHUP: --principals-file, or the --config file; empty: none.
  std::string principals_file;
  // Listen for clients on an address other machines reach without any
  // authentication (refused otherwise: docs/operations.md, "Security").
  bool insecure = false;
  core::BrokerConfig broker;
  server::SessionOptions sessions;
  // How often the broker checks whether many queues went idle and, if so,
  // returns their memory to the system (server/memory_return.h); 0: never.
  uint32_t memory_return_interval_ms = 5000;
  // Tests only: every storage commit waits this long first.
  uint32_t test_commit_delay_ms = 0;
  // Cluster mode when cluster.etcd is set (docs/operations.md, "Running a
  // cluster"); single node otherwise.
  cluster::ClusterOptions cluster;
  // TLS for clients (docs/security.md, "TLS"): the PEM certificate chain
  // and key hermodd presents; with tls_client_ca, every client must present
  // a certificate signed by it (mutual TLS). Empty: plaintext. SIGHUP reads
  // all three again.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Cluster mode: peer links run TLS with the same certificate and key, and
  // each node must present a certificate signed by this CA (docs/security.md,
  // "Peer links"). Empty: plaintext peer links.
  std::string tls_peer_ca;
  bool tls() const { return !tls_cert.empty() || !tls_key.empty(); }
};

class Server {
 public:
  explicit Server(ServerOptions options) : options_(std::move(options)) {}

  // Runs the broker until a stop signal, then stops gracefully. Calls
  // on_listening with the bound "HOST:PORT" once connections are accepted
  // (and, before it, on_metrics with the metrics server's address when
  // there is one).
  // Returns the reason it could not start or run (OK after a clean stop).
  Status Run(const std::function<void(const std::string&)>& on_listening,
             const std::function<void(const std::string&)>& on_metrics = nullptr);

  // A client listener on a non-loopback address needs authentication (a
  // token file, or client certificates), or --insecure; it warns when that
  // leaves clients unauthenticated or the connection in plaintext.
  Status CheckListenSafety() const;

  // The cluster member (partition map, this node's roles) while Run() runs
  // in cluster mode; null otherwise. Loop thread only.
  cluster::ClusterMember* cluster_member() const { return cluster_member_; }

 private:
  // The TLS context of options_' files; null without TLS.
  Result<std::shared_ptr<const net::TlsContext>> LoadTls() const;
  // The peer links' contexts (accepting, dialing); both null without
  // --tls-peer-ca.
  using PeerTls =
      std::pair<std::shared_ptr<const net::TlsContext>, std::shared_ptr<const net::TlsContext>>;
  Result<PeerTls> LoadPeerTls() const;
  // SIGHUP: new connections to `listener` get the certificate as the files
  // now hold it; a file that cannot be used keeps the old one in force.
  void ReloadTls(net::Listener& listener, net::HttpServer& metrics) const;

  ServerOptions options_;
  cluster::ClusterMember* cluster_member_ = nullptr;
  server::Replicator* replicator_ = nullptr;  // while Run() runs in cluster mode
};

}  // namespace hermod

#endif  // HERMOD_BROKER_SERVER_H_
