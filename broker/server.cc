#include "server.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "broker.h"
#include "hermod/partition.h"
#include "http_server.h"
#include "lmdb_env.h"
#include "loop_services.h"
#include "mem_env.h"
#include "memory_return.h"
#include "metrics_text.h"
#include "net/address.h"
#include "net/listener.h"
#include "net/loop.h"
#include "net/signals.h"
#include "net/tls_context.h"
#include "net/unix_listener.h"
#include "replicator.h"
#include "sessions.h"
#include "storage_thread.h"
#include "store.h"
#include "token_file.h"

namespace hermod {

namespace {

// Holds an exclusive flock on DIR/hermod.lock for the process's lifetime.
// LMDB's own lock file lets several processes share an environment (tools
// read it while the broker runs), so it cannot keep a second broker out.
class DataDirLock {
 public:
  ~DataDirLock() {
    if (fd_ >= 0) close(fd_);
  }
  Status Acquire(const std::string& dir) {
    std::string path = dir + "/hermod.lock";
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return Status::IoError("cannot open lock file " + path + ": " + std::strerror(errno));
    }
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      if (err == EWOULDBLOCK) {
        return Status(
            ErrorCode::kAlreadyExists,
            "data directory " + dir + " is in use by another hermodd (lock " + path + " is held)");
      }
      return Status::IoError("cannot lock " + path + ": " + std::strerror(err));
    }
    return Status::OK();
  }

 private:
  int fd_ = -1;
};

}  // namespace

Status Server::CheckListenSafety() const {
  // A Unix socket reaches only this host, and only its owner and group
  // (mode 0660).
  if (net::IsUnixAddress(options_.listen)) return Status::OK();
  Result<sockaddr_storage> addr = net::ParseHostPort(options_.listen);
  if (!addr.ok()) return addr.status();  // the listener would say the same
  if (net::IsLoopback(*addr)) return Status::OK();
  const bool authenticated =
      !options_.sessions.auth_tokens.empty() || !options_.sessions.principals.empty();
  // Mutual TLS authenticates every client by its certificate.
  const bool mutual_tls = options_.tls() && !options_.tls_client_ca.empty();
  if (!authenticated && !mutual_tls && !options_.insecure) {
    return Status::InvalidArgument(
        "refusing to listen on " + options_.listen +
        ", an address other machines reach, with no authentication: anyone there could read "
        "and delete every queue. Set --auth-token-file or principals (docs/security.md), listen "
        "on 127.0.0.1, or pass --insecure to accept the risk");
  }
  if (!authenticated && !mutual_tls) {
    spdlog::warn(
        "listening on {} with no authentication (--insecure): anyone who reaches it "
        "can read and delete every queue",
        options_.listen);
  } else if (!options_.tls()) {
    spdlog::warn(
        "listening on {} without TLS: tokens and messages cross the network in clear "
        "text",
        options_.listen);
  }
  return Status::OK();
}

Result<std::shared_ptr<const net::TlsContext>> Server::LoadTls() const {
  if (!options_.tls()) {
    if (!options_.tls_client_ca.empty()) {
      return Status::InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return std::shared_ptr<const net::TlsContext>();
  }
  return net::TlsContext::ForServer(options_.tls_cert, options_.tls_key, options_.tls_client_ca);
}

Status Server::Run(const std::function<void(const std::string&)>& on_listening,
                   const std::function<void(const std::string&)>& on_metrics) {
  if (Status s = CheckListenSafety(); !s.ok()) return s;
  // Certificates first: a file that cannot be used stops the start at once.
  Result<std::shared_ptr<const net::TlsContext>> tls = LoadTls();
  if (!tls.ok()) return tls.status();
  auto peer_tls = LoadPeerTls();
  if (!peer_tls.ok()) return peer_tls.status();
  if (options_.cluster.enabled() && net::IsUnixAddress(options_.listen) &&
      options_.cluster.advertise.empty()) {
    return Status::InvalidArgument(
        "a cluster node's clients need an address other nodes can name: --listen " +
        options_.listen + " needs --advertise HOST:PORT");
  }
  // Store.
  DataDirLock lock;
  std::unique_ptr<store::KvEnv> env;
  store::LmdbEnv* lmdb_env = nullptr;
  if (options_.store == "memory") {
    env = std::make_unique<store::MemEnv>();
  } else if (options_.store == "lmdb") {
    std::error_code ec;
    std::filesystem::create_directories(options_.data_dir, ec);
    if (ec) {
      return Status::IoError("cannot create data directory " + options_.data_dir + ": " +
                             ec.message());
    }
    if (Status s = lock.Acquire(options_.data_dir); !s.ok()) return s;
    store::LmdbOptions lmdb;
    lmdb.sync = options_.sync;
    lmdb.map_bytes = options_.initial_map_bytes;
    lmdb.max_map_bytes = options_.max_store_bytes;
    Result<std::unique_ptr<store::LmdbEnv>> opened = store::LmdbEnv::Open(options_.data_dir, lmdb);
    if (!opened.ok()) return opened.status();
    lmdb_env = opened->get();
    env = std::move(*opened);
  } else {
    return Status::InvalidArgument("store must be lmdb or memory, not " + options_.store);
  }
  store::Store store(env.get());
  if (Status s = store.Open(); !s.ok()) return s;

  // Loop, storage thread, core.
  net::Loop loop;
  if (Status s = loop.Init(); !s.ok()) return s;
  // Cluster mode: the cluster's partitions and this data directory's id
  // prefix come from etcd before the store recovers.
  std::unique_ptr<cluster::ClusterNode> cluster_node;
  core::BrokerConfig config = options_.broker;
  if (options_.cluster.enabled()) {
    cluster_node = std::make_unique<cluster::ClusterNode>(loop);
    Status s = cluster_node->Open(options_.cluster, options_.data_dir);
    Result<cluster::JoinInfo> joined = s.ok() ? cluster_node->Join() : Result<cluster::JoinInfo>(s);
    if (!joined.ok()) {
      cluster_node->Close();
      uv_run(loop.uv(), UV_RUN_NOWAIT);
      loop.Close();
      return joined.status();
    }
    config.cluster = true;
    config.partitions = joined->config.partitions;
    config.id_prefix = joined->id_prefix;
    // A rebuild empties a partition's rows by their names' partition.
    store.set_partition_of([partitions = config.partitions](std::string_view name) {
      return PartitionOf(name, partitions);
    });
  }
  store::StorageThread storage(&store, options_.sync, options_.sync_interval_ms);
  if (options_.max_store_bytes != 0) {
    config.store_reserve_bytes = std::min(config.store_reserve_bytes, options_.max_store_bytes / 4);
  }
  storage.set_headroom_exact_below(2 * config.store_reserve_bytes);
  storage.TEST_DelayCommits(options_.test_commit_delay_ms);
  config.sync_mode = store::SyncModeName(options_.sync);
  config.max_peek_bytes = options_.sessions.max_frame_bytes / 2;
  Status result;
  {
    server::LoopClock clock(&loop);
    server::LoopScheduler scheduler(&loop);
    server::Sessions sessions(&loop, options_.sessions);
    // Lives as long as the broker: its timer's close callback runs in the
    // last turn of the loop below.
    server::MemoryReturn memory(&loop, nullptr, [lmdb_env] {
      if (lmdb_env != nullptr) lmdb_env->ReleaseMappedPages();
    });
    core::Broker broker(&clock, &scheduler, &store, &storage, &sessions, config);
    sessions.set_broker(&broker);
    memory.set_broker(&broker);
    Result<store::Recovery> recovery = store.Recover(
        [&broker](const store::LogOp& op) { broker.ApplyCommitted(op); }, config.id_prefix);
    result = recovery.ok() ? broker.Recover(*recovery) : recovery.status();
    // What recovery read and built is not needed any more: give it back to
    // the system, so a restart on a large store does not start fat.
    if (recovery.ok()) *recovery = store::Recovery();
    malloc_trim(0);
    // Open and recovery commit without flushing their meta pages (two-stage
    // durability): flush now, before anything is built on them.
    if (result.ok()) result = env->Sync();
    if (lmdb_env != nullptr) lmdb_env->ReleaseMappedPages();
    if (result.ok()) {
      storage.Start([&loop, &broker] { loop.Post([&broker] { broker.OnStorageWake(); }); });
      broker.Start();
      sessions.Start();
      // One storage batch per loop turn: everything read in a turn goes together.
      loop.AddTurnHook([&broker] { broker.EndOfTurn(); });
      memory.Start(options_.memory_return_interval_ms);

      net::Connection::Options conn_options;
      conn_options.max_frame_bytes = options_.sessions.max_frame_bytes;
      conn_options.max_pending_output = config.max_pending_output;
      conn_options.tls = *tls;
      net::Listener listener(loop, conn_options,
                             [&sessions](net::Connection& conn) { return sessions.Accept(conn); });
      result = listener.Listen(options_.listen);
      server::HttpService http(&loop, &sessions, &broker, options_.http);
      net::HttpServer metrics(
          loop, [&http](const net::HttpServer::Request& request, net::HttpServer::Reply reply) {
            http.Handle(request, std::move(reply));
          });
      if (result.ok() && !options_.http_listen.empty()) {
        // HTTPS with the client port's certificate (and its client CA).
        metrics.set_tls(*tls);
        result = metrics.Listen(options_.http_listen);
        if (result.ok()) {
          http.Start();
          const char* scheme = *tls != nullptr ? "https" : "http";
          if (options_.http.console) {
            spdlog::info("console on {}://{}/ (metrics at /metrics)", scheme, metrics.address());
          } else {
            spdlog::info("metrics on {}://{}/metrics", scheme, metrics.address());
          }
          if (on_metrics) on_metrics(metrics.address());
        }
      }
      if (result.ok()) {
        // SIGHUP reads --auth-token-file and the principals again: new
        // Hellos are checked against them, and connections whose
        // credentials went or whose permissions changed are closed. When
        // either file cannot be used, both stay as they were.
        net::Signals reload;
        reload.Init(loop, {SIGHUP}, [&](int) {
          ReloadTls(listener, metrics);
          if (options_.auth_token_file.empty() && options_.principals_file.empty()) {
            spdlog::info("received SIGHUP: no --auth-token-file or principals to read again");
            return;
          }
          std::vector<std::string> tokens;
          if (!options_.auth_token_file.empty()) {
            Result<std::vector<std::string>> read = ReadTokenFile(options_.auth_token_file);
            if (!read.ok()) {
              spdlog::error("received SIGHUP: keeping the auth tokens in force: {}",
                            read.status().message());
              return;
            }
            tokens = std::move(*read);
          }
          server::PrincipalSet principals;
          if (!options_.principals_file.empty()) {
            Result<server::PrincipalSet> read = server::ReadPrincipals(options_.principals_file);
            if (!read.ok()) {
              spdlog::error("received SIGHUP: keeping the principals in force: {}",
                            read.status().message());
              return;
            }
            principals = std::move(*read);
          }
          size_t token_count = tokens.size();
          size_t principal_count = principals.by_name.size();
          size_t closed = sessions.SetCredentials(std::move(tokens), std::move(principals));
          spdlog::info(
              "received SIGHUP: {} auth tokens read from {}, {} principals from {}; {} "
              "connections closed",
              token_count, options_.auth_token_file.empty() ? "-" : options_.auth_token_file,
              principal_count, options_.principals_file.empty() ? "-" : options_.principals_file,
              closed);
        });
        // Cluster mode: join once the listen address is known (it is the
        // advertised client address unless --advertise says otherwise).
        std::unique_ptr<server::Replicator> replicator;
        if (cluster_node) {
          server::ReplicatorOptions replication;
          replication.cluster = options_.cluster.name;
          replication.node_id = options_.cluster.node_id;
          replication.incarnation = cluster_node->incarnation();
          replication.peer_listen = options_.cluster.peer_listen;
          replication.lag_max_ms = options_.cluster.replica_lag_ms;
          replication.window_bytes = options_.cluster.replica_window_mib << 20;
          replication.isr_retry_ms = options_.cluster.retry_ms;
          replication.forward_retry_ms = options_.cluster.retry_ms;
          replication.peer_tls_accept = peer_tls->first;
          replication.peer_tls_dial = peer_tls->second;
          replicator = std::make_unique<server::Replicator>(loop, &broker, &store,
                                                            cluster_node->plane(), replication);
          replicator_ = replicator.get();
          result = replicator->Start();
          sessions.set_extra_stats([&replicator] { return replicator->Stats(); });
          if (result.ok()) result = cluster_node->Start(listener.address());
          if (result.ok()) {
            cluster_member_ = cluster_node->member();
            broker.set_leader_hint([member = cluster_member_](store::PartitionId p) {
              std::optional<cluster::PartitionRoute> route = member->Route(p);
              if (!route || route->leader.empty()) return std::string();
              return route->leader + " at " + route->leader_address;
            });
            cluster_member_->SetOnChange([&replicator](const cluster::ClusterView& view,
                                                       const std::vector<cluster::RoleChange>&) {
              replicator->OnView(view);
            });
            http.set_cluster_status(options_.cluster.node_id, [this, &replicator] {
              server::ClusterStatusInfo info;
              const cluster::ClusterMember* member = cluster_member_;
              info.node = options_.cluster.node_id;
              if (member == nullptr) return info;
              const cluster::ClusterView& view = member->view();
              info.controller = view.controller;
              std::set<std::string> known;
              for (const auto& [id, node] : view.nodes) {
                info.nodes.push_back({id, node.client_address, true});
                known.insert(id);
              }
              for (uint32_t p = 0; p < view.partitions.size(); ++p) {
                const cluster::PartitionState& state = view.partitions[p];
                server::ClusterStatusInfo::Partition partition;
                partition.id = p;
                partition.leader = state.leader;
                partition.epoch = state.epoch;
                partition.replicas = state.replicas;
                partition.isr = state.isr;
                for (const auto& f : replicator->Followers(p)) {
                  partition.followers.push_back({f.node, f.acked, f.lag});
                }
                for (const std::string& r : state.replicas) {
                  if (known.insert(r).second) info.nodes.push_back({r, "", false});
                }
                info.partitions.push_back(std::move(partition));
              }
              return info;
            });
            sessions.set_cluster_map([this]() -> Result<server::ClusterMapInfo> {
              const cluster::ClusterMember* member = cluster_member_;
              if (member == nullptr || !member->view().config) {
                return Status::Unavailable("this node has not read the partition map yet");
              }
              server::ClusterMapInfo map;
              map.partitions = member->view().config->partitions;
              for (uint32_t p = 0; p < map.partitions; ++p) {
                std::optional<cluster::PartitionRoute> route = member->Route(p);
                map.routes.push_back(
                    {route ? route->leader_address : "", route ? route->epoch : 0});
              }
              return map;
            });
          }
        }
        auto close_cluster = [&] {
          broker.set_leader_hint(nullptr);
          sessions.set_extra_stats(nullptr);
          http.set_cluster_status("", nullptr);
          if (cluster_node) cluster_node->Close();
          if (replicator) replicator->Close();
        };
        net::Signals signals;
        signals.Init(loop, {SIGINT, SIGTERM}, [&](int signum) {
          spdlog::info("received signal {}: stopping", signum);
          close_cluster();
          listener.Close();
          metrics.Close();
          http.Close();
          signals.Close();
          reload.Close();
          sessions.Shutdown([] {});
        });
        if (*tls != nullptr) {
          spdlog::info("TLS on {}: certificate {}{}", listener.address(), (*tls)->subject(),
                       (*tls)->verifies_clients() ? ", client certificates required" : "");
        }
        spdlog::info(
            "hermodd on {} with data in {} (store {}, sync {}, {})", listener.address(),
            options_.data_dir, options_.store, config.sync_mode,
            options_.sessions.auth_tokens.empty() && options_.sessions.principals.empty()
                ? std::string("no auth")
                : "auth: " + std::to_string(options_.sessions.auth_tokens.size()) + " tokens, " +
                      std::to_string(options_.sessions.principals.by_name.size()) + " principals");
        if (!result.ok()) {
          // Could not join: stop as a stop signal would.
          close_cluster();
          listener.Close();
          metrics.Close();
          http.Close();
          signals.Close();
          reload.Close();
          sessions.Shutdown([] {});
        } else {
          on_listening(listener.address());
        }
        // Runs until the listener, the connections and the broker's timers
        // are all closed: that is, until a stop signal's shutdown completes.
        loop.Run();
        signals.Close();
        reload.Close();
        close_cluster();
        cluster_member_ = nullptr;
        replicator_ = nullptr;
      } else {
        sessions.Close();
      }
      listener.Close();
      metrics.Close();
      http.Close();
      memory.Close();
      storage.Stop();  // commits anything still queued, then joins
      // A listener that could not start (a port in use) never ran the loop:
      // its close callbacks run now, before the listeners are destroyed.
      uv_run(loop.uv(), UV_RUN_NOWAIT);
    } else {
      broker.Close();
    }
    if (cluster_node) cluster_node->Close();
    // Run the loop once more so that close callbacks (listener, timers) run
    // while their owners are still alive.
    uv_run(loop.uv(), UV_RUN_NOWAIT);
    loop.Close();
  }
  return result;
}

Result<Server::PeerTls> Server::LoadPeerTls() const {
  if (options_.tls_peer_ca.empty()) return PeerTls();
  if (!options_.tls())
    return Status::InvalidArgument("--tls-peer-ca needs --tls-cert and --tls-key");
  // One certificate both ways: a node is the TLS server of the links it
  // accepts and the client of those it dials, and each side checks the
  // other's certificate against the peer CA.
  Result<std::shared_ptr<const net::TlsContext>> accept =
      net::TlsContext::ForServer(options_.tls_cert, options_.tls_key, options_.tls_peer_ca);
  if (!accept.ok()) return accept.status();
  Result<std::shared_ptr<const net::TlsContext>> dial =
      net::TlsContext::ForClient(options_.tls_peer_ca, options_.tls_cert, options_.tls_key);
  if (!dial.ok()) return dial.status();
  return std::make_pair(std::move(*accept), std::move(*dial));
}

void Server::ReloadTls(net::Listener& listener, net::HttpServer& metrics) const {
  if (!options_.tls()) return;
  if (replicator_ != nullptr && !options_.tls_peer_ca.empty()) {
    auto peer_tls = LoadPeerTls();
    if (peer_tls.ok()) {
      replicator_->SetPeerTls(peer_tls->first, peer_tls->second);
    } else {
      spdlog::error("received SIGHUP: keeping the peer links' TLS certificate in force: {}",
                    peer_tls.status().message());
    }
  }
  Result<std::shared_ptr<const net::TlsContext>> tls = LoadTls();
  if (!tls.ok()) {
    spdlog::error("received SIGHUP: keeping the TLS certificate in force: {}",
                  tls.status().message());
    return;
  }
  spdlog::info("received SIGHUP: TLS certificate {} read from {}; new connections use it",
               (*tls)->subject(), options_.tls_cert);
  listener.set_tls(*tls);
  metrics.set_tls(std::move(*tls));
}

}  // namespace hermod
