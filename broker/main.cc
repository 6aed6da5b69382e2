// hermodd: the hermod broker. Parses flags (and the same keys from a TOML
// file given with --config) into ServerOptions and runs the Server.
#include <signal.h>
#include <sys/resource.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "hermod/version.h"
#include "principals.h"
#include "server.h"
#include "token_file.h"
#include "token_hash.h"

namespace {

// CLI11's TOML reader, without the [[principal]] tables: CLI11 cannot read
// arrays of tables (it would take their keys for unknown options), so
// principals.cc reads them with toml++ and CLI11 the rest.
class ConfigWithoutPrincipals : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input);
    std::erase_if(items, [](const CLI::ConfigItem& item) {
      return !item.parents.empty() && item.parents.front() == "principal";
    });
    return items;
  }
};

// Many idle connections need many descriptors: take the hard limit.
void RaiseFileLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  hermod::ServerOptions options;
  std::string sync = "always";
  std::string log_level = "info";
  hermod::core::BrokerConfig& broker = options.broker;
  hermod::server::SessionOptions& sessions = options.sessions;

  CLI::App app("hermodd: the hermod durable mailbox broker", "hermodd");
  app.set_version_flag("--version", std::string("hermodd ") + HERMOD_VERSION);
  CLI::Option* config_option = app.set_config(
      "--config", "",
      "Read options from a TOML file (keys as the long flags), and principals from its "
      "[[principal]] tables unless --principals-file is given");
  app.config_formatter(std::make_shared<ConfigWithoutPrincipals>());
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_option(
         "--listen", options.listen,
         "Address to listen on, HOST:PORT (port 0: any), or unix:PATH (a Unix socket, mode 0660)")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "Directory of the LMDB store")
      ->capture_default_str();
  app.add_option("--sync", sync,
                 "When commits reach the disk: always (before every confirm), batch (on a "
                 "timer; survives a process crash), none (tests only)")
      ->check(CLI::IsMember({"always", "batch", "none"}))
      ->capture_default_str();
  app.add_option("--sync-interval-ms", options.sync_interval_ms,
                 "How often --sync batch flushes committed batches")
      ->capture_default_str();
  app.add_option("--store", options.store, "lmdb, or memory (nothing survives a restart)")
      ->check(CLI::IsMember({"lmdb", "memory"}))
      ->capture_default_str();
  app.add_option("--max-frame-bytes", sessions.max_frame_bytes,
                 "Largest frame a client may send (bytes after the length prefix)")
      ->check(CLI::Range(64u, 1u << 30))
      ->capture_default_str();
  app.add_option("--max-batch-messages", broker.max_batch_messages,
                 "Publishes per storage batch at most")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--max-batch-bytes", broker.max_batch_bytes, "Bytes per storage batch at most")
      ->capture_default_str();
  app.add_option("--apply-lag-ms", broker.apply.lag_ms,
                 "How long a log record waits before it is applied to the index")
      ->capture_default_str();
  app.add_option("--max-unapplied-bytes", broker.apply.max_unapplied_bytes,
                 "Log bytes not yet applied beyond which apply starts early")
      ->capture_default_str();
  app.add_option("--max-pending-output-bytes", broker.max_pending_output,
                 "Unread output after which a client is disconnected as too slow")
      ->capture_default_str();
  app.add_flag("--deliver-after-commit", broker.deliver_after_commit,
               "Deliver a message only once it is durable (default: at once; the confirm "
               "waits for durability either way)")
      ->capture_default_str();
  app.add_option("--delivery-high-water-bytes", sessions.delivery_high_water,
                 "Unwritten output at which deliveries to a connection pause until it drains")
      ->capture_default_str();
  hermod::core::QueueDefaults& queues = broker.queue_defaults;
  std::string overflow = "reject";
  app.add_option("--max-messages", queues.max_messages,
                 "Default limit on a queue's entries (0: unlimited)")
      ->capture_default_str();
  app.add_option("--max-bytes", queues.max_bytes,
                 "Default limit on a queue's stored bytes (0: unlimited)")
      ->capture_default_str();
  app.add_option("--overflow", overflow,
                 "What a full queue does with a new publish: reject it, or drop-oldest entries")
      ->check(CLI::IsMember({"reject", "drop-oldest"}))
      ->capture_default_str();
  app.add_option("--max-age-ms", queues.max_age_ms,
                 "Default age after which entries expire (0: never)")
      ->capture_default_str();
  app.add_option("--max-deliveries", queues.max_deliveries,
                 "Deliveries after which an entry moves to the dead-letter queue (0: unlimited)")
      ->capture_default_str();
  app.add_option("--dead-letter-suffix", queues.dead_letter_suffix,
                 "A queue's default dead-letter queue is its name plus this")
      ->capture_default_str();
  app.add_option("--ack-wait-ms", queues.ack_wait_ms,
                 "Default time a delivery may stay unacked before it is delivered again "
                 "(0: forever)")
      ->capture_default_str();
  std::string redelivery_backoff;
  app.add_option("--redelivery-backoff", redelivery_backoff,
                 "Default wait before redelivery after a nack without a delay or an ack-wait "
                 "expiry: a list of delays (1s,5s,30s) or exp:BASE:CAP (empty: at once)")
      ->check([](const std::string& text) {
        hermod::Result<hermod::core::RedeliveryBackoff> parsed = hermod::core::ParseBackoff(text);
        return parsed.ok() ? std::string() : parsed.status().message();
      })
      ->capture_default_str();
  app.add_option("--dedup-window-ms", broker.dedup_window_ms,
                 "How long a dedup id keeps a repeated publish from being stored again")
      ->capture_default_str();
  app.add_option("--max-client-dedup-ids", broker.max_client_dedup_ids,
                 "Client-generated dedup ids kept in memory per client at most")
      ->capture_default_str();
  app.add_option("--sweep-interval-ms", broker.sweep_interval_ms,
                 "How often expired entries and old dedup records are swept")
      ->check(CLI::Range(10u, 3600000u))
      ->capture_default_str();
  app.add_option("--sweep-batch", broker.sweep_batch, "Expired entries removed per sweep at most")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  app.add_option("--fanout-chunk", broker.fanout_chunk,
                 "Group fan-out: member entries written per storage batch at most")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--max-schedule-ms", broker.max_schedule_ms,
                 "Scheduled delivery: how far ahead a publish may be scheduled at most")
      ->capture_default_str();
  app.add_option("--redrive-batch", broker.redrive_batch,
                 "Redrive: dead letters moved per request (and storage batch) at most")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_option("--initial-map-bytes", options.initial_map_bytes,
                 "Initial LMDB map size; it doubles when full")
      ->capture_default_str();
  app.add_option("--max-store-bytes", options.max_store_bytes,
                 "Largest the store may grow (0: until the disk is full)")
      ->capture_default_str();
  app.add_option("--max-connections", sessions.max_connections,
                 "Connections open at once at most; more are refused (0: no limit)")
      ->capture_default_str();
  app.add_option("--max-connections-per-ip", sessions.max_connections_per_ip,
                 "Connections open at once from one IP address at most (0: no limit)")
      ->capture_default_str();
  app.add_option("--heartbeat-ms", sessions.heartbeat_ms,
                 "Clients send a frame at least this often; a connection silent for twice "
                 "as long is closed (0: no heartbeat)")
      ->check([](const std::string& text) -> std::string {
        unsigned long ms = std::strtoul(text.c_str(), nullptr, 10);
        return ms == 0 || (ms >= 100 && ms <= 3600000) ? "" : "must be 0 or from 100 to 3600000";
      })
      ->capture_default_str();
  app.add_option("--store-reserve-bytes", broker.store_reserve_bytes,
                 "Refuse publishes while the store or disk has less room than this "
                 "(at most a quarter of --max-store-bytes; 0: never)")
      ->capture_default_str();
  std::string auth_token_file;
  app.add_option("--auth-token-file", auth_token_file,
                 "Clients must send one of the tokens in this file (one per line); "
                 "empty: no authentication")
      ->capture_default_str();
  std::string principals_file;
  app.add_option("--principals-file", principals_file,
                 "Read the principals from the [[principal]] tables of this TOML file (read "
                 "again on SIGHUP) instead of from --config's")
      ->capture_default_str();
  hermod::server::AuthOptions& auth = sessions.auth;
  app.add_option("--auth-failure-delay-ms", auth.failure_delay_ms,
                 "A refused Hello is answered after this long; each further refusal to the same "
                 "address waits twice as long")
      ->capture_default_str();
  app.add_option("--auth-failure-max-delay-ms", auth.failure_max_delay_ms,
                 "Longest wait before answering a refused Hello")
      ->capture_default_str();
  app.add_option("--auth-failure-window-ms", auth.failure_window_ms,
                 "An address's count of refusals starts again after this long without one")
      ->check(CLI::Range(1u, 86400000u))
      ->capture_default_str();
  app.add_option("--auth-failure-addresses", auth.failure_addresses,
                 "Addresses whose refusals are remembered at most (the oldest is forgotten)")
      ->check(CLI::Range(1u, 10000000u))
      ->capture_default_str();
  app.add_option("--auth-max-verifications", auth.max_verifications,
                 "argon2id token checks running at once at most (each takes 64 MiB)")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  app.add_option("--auth-max-pending-per-ip", auth.max_pending_per_address,
                 "argon2id token checks waiting or running for one IP address at most; more "
                 "Hellos from it are refused as busy (kLimitExceeded) without a check")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  app.add_option("--auth-verified-cache", auth.verified_cache,
                 "Successful token checks remembered at most, so reconnects skip argon2id")
      ->check(CLI::Range(1u, 10000000u))
      ->capture_default_str();
  app.add_flag("--insecure", options.insecure,
               "Allow --listen on an address other machines reach without --auth-token-file "
               "or principals");
  app.add_option("--http-listen,--metrics-listen", options.http_listen,
                 "Serve the web console, its /api, /metrics (Prometheus) and /healthz on "
                 "HOST:PORT; empty: off (--metrics-listen: its name before the console)")
      ->capture_default_str();
  app.add_option("--console", options.http.console,
                 "Serve the web console and its /api on the HTTP listener (false: only /metrics "
                 "and /healthz)")
      ->capture_default_str();
  app.add_option("--console-assets", options.http.assets_dir,
                 "Development: serve the console's files from this directory instead of the "
                 "copy compiled in");
  app.add_option("--metrics-top-queues", broker.metrics_top_queues,
                 "Per-queue series in /metrics for this many of the deepest queues")
      ->capture_default_str();
  app.add_option("--memory-return-interval-ms", options.memory_return_interval_ms,
                 "How often to check whether many queues went idle and give their memory back "
                 "to the system (0: never)")
      ->capture_default_str();
  app.add_option("--test-commit-delay-ms", options.test_commit_delay_ms,
                 "Tests only: every storage commit waits this long first")
      ->group("");  // hidden: not for operators
  hermod::cluster::ClusterOptions& cluster = options.cluster;
  app.add_option("--cluster-etcd", cluster.etcd,
                 "Join a cluster: etcd client URLs, comma-separated (http://HOST:PORT,...); "
                 "empty: single node")
      ->capture_default_str();
  app.add_option("--cluster-name", cluster.name,
                 "The cluster to join (its state is under /hermod/NAME/ in etcd)")
      ->capture_default_str();
  app.add_option("--node-id", cluster.node_id,
                 "This node's id in the cluster (A-Z a-z 0-9 _ . -); required with "
                 "--cluster-etcd")
      ->capture_default_str();
  app.add_option("--advertise", cluster.advertise,
                 "Client address other nodes and clients reach, HOST:PORT (default: the "
                 "bound --listen address)")
      ->capture_default_str();
  app.add_option("--peer-listen", cluster.peer_listen,
                 "Address for replication from other nodes, HOST:PORT; required with "
                 "--cluster-etcd")
      ->capture_default_str();
  app.add_option("--cluster-lease-ttl-s", cluster.lease_ttl_s,
                 "TTL of the node's etcd lease: a dead node is noticed after about this long")
      ->capture_default_str();
  app.add_option("--cluster-etcd-timeout-ms", cluster.etcd_timeout_ms, "One etcd request at most")
      ->capture_default_str();
  app.add_option("--cluster-retry-ms", cluster.retry_ms,
                 "Pause before retrying after an etcd call failed")
      ->capture_default_str();
  app.add_option("--cluster-replica-lag-ms", cluster.replica_lag_ms,
                 "A follower whose oldest unacked part is older than this leaves the in-sync "
                 "set (confirms stop waiting for it)")
      ->capture_default_str();
  app.add_option("--cluster-replica-window-mib", cluster.replica_window_mib,
                 "Recent partition-log parts kept in memory for followers catching up, MiB per "
                 "node")
      ->capture_default_str();
  app.add_option("--tls-cert", options.tls_cert,
                 "TLS for clients: this PEM certificate chain (read again on SIGHUP); empty: "
                 "plaintext")
      ->capture_default_str();
  app.add_option("--tls-key", options.tls_key, "TLS: the PEM private key of --tls-cert")
      ->capture_default_str();
  app.add_option("--tls-client-ca", options.tls_client_ca,
                 "Mutual TLS: clients must present a certificate signed by this PEM CA")
      ->capture_default_str();
  app.add_option("--tls-peer-ca", options.tls_peer_ca,
                 "Cluster: peer links run TLS with --tls-cert; peers must present a certificate "
                 "signed by this PEM CA")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("hermodd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  if (hermod::Status s = cluster.Validate(); !s.ok()) {
    std::fprintf(stderr, "hermodd: %s\n", s.message().c_str());
    return 1;
  }
  if (hermod::Status s = hermod::server::InitSodium(); !s.ok()) {
    std::fprintf(stderr, "hermodd: %s\n", s.message().c_str());
    return 1;
  }
  // Principals: from --principals-file, else from the --config file.
  const std::string config_file =
      config_option->count() > 0 ? config_option->as<std::string>() : "";
  const std::string principals_source = !principals_file.empty() ? principals_file : config_file;
  if (!principals_source.empty()) {
    hermod::Result<hermod::server::PrincipalSet> principals =
        hermod::server::ReadPrincipals(principals_source);
    if (!principals.ok()) {
      std::fprintf(stderr, "hermodd: %s: %s\n",
                   principals_file.empty() ? "--config" : "--principals-file",
                   principals.status().message().c_str());
      return 1;
    }
    sessions.principals = std::move(*principals);
    options.principals_file = principals_source;
  }
  if (!auth_token_file.empty()) {
    hermod::Result<std::vector<std::string>> tokens = hermod::ReadTokenFile(auth_token_file);
    if (!tokens.ok()) {
      std::fprintf(stderr, "hermodd: --auth-token-file: %s\n", tokens.status().message().c_str());
      return 1;
    }
    sessions.auth_tokens = std::move(*tokens);
    options.auth_token_file = auth_token_file;
  }
  options.sync = *hermod::store::ParseSyncMode(sync);
  queues.overflow = *hermod::core::ParseOverflow(overflow);
  queues.backoff = *hermod::core::ParseBackoff(redelivery_backoff);
  // libuv writes with writev(2) without MSG_NOSIGNAL: a peer that resets
  // would otherwise kill the process with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  RaiseFileLimit();

  hermod::Server server(options);
  hermod::Status s = server.Run(
      [](const std::string& address) {
        std::printf("listening on %s\n", address.c_str());
        std::fflush(stdout);
      },
      [](const std::string& address) { std::printf("metrics on %s\n", address.c_str()); });
  if (!s.ok()) {
    std::fprintf(stderr, "hermodd: %s\n", s.ToString().c_str());
    return 1;
  }
  spdlog::info("stopped");
  return 0;
}
