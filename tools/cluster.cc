// `hermod cluster init|status`: a cluster's state in etcd (docs/cluster.md,
// "State in etcd"). These talk to etcd, not to a broker: `init` writes the
// cluster's fixed configuration once, `status` reads the nodes, the
// controller and every partition's leader, epoch, replicas and ISR. Main
// thread only (a net::Loop of its own for the calls).
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli.h"
#include "cluster/cluster_store.h"
#include "cluster/etcd_client.h"
#include "hermod/client.h"
#include "json.h"
#include "net/loop.h"

namespace hermod::cli {

namespace {

struct ClusterOptions {
  std::string etcd;
  std::string cluster = "default";
  cluster::ClusterConfig config;
  bool json = false;
};

// Runs `call` with a ClusterStore on a loop of its own, until `finished`.
template <typename Call, typename Finished>
Status WithClusterStore(const ClusterOptions& options, Call&& call, Finished&& finished) {
  if (Status s = cluster::ClusterStore::ValidateName(options.cluster); !s.ok()) return s;
  Result<std::vector<std::string>> endpoints = cluster::EtcdClient::ParseEndpoints(options.etcd);
  if (!endpoints.ok()) return endpoints.status();
  net::Loop loop;
  if (Status s = loop.Init(); !s.ok()) return s;
  cluster::EtcdClient::Options etcd_options;
  etcd_options.endpoints = *endpoints;
  cluster::EtcdClient etcd(loop, etcd_options);
  Status init = etcd.Init();
  if (init.ok()) {
    cluster::ClusterStore store(&etcd, options.cluster);
    call(store, [&loop] { loop.Stop(); });
    while (!finished()) loop.Run();
  }
  etcd.Close();
  loop.Close();
  return init;
}

int Init(const ClusterOptions& options) {
  std::optional<Status> result;
  Status s = WithClusterStore(
      options,
      [&](cluster::ClusterStore& store, auto stop) {
        store.Init(options.config, [&result, stop](Status r) {
          result = r;
          stop();
        });
      },
      [&] { return result.has_value(); });
  if (s.ok()) s = *result;
  if (!s.ok()) return Fail("cluster init: " + s.ToString());
  std::string out = "cluster " + options.cluster + ": " +
                    std::to_string(options.config.partitions) + " partitions, " +
                    std::to_string(options.config.replicas) + " replicas, " + "min in-sync " +
                    std::to_string(options.config.min_insync) + "\n";
  return WriteOut(out) ? kExitOk : Fail("cannot write to stdout");
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// What a node says of its replication (`hermod stats`): the most parts any
// follower of a partition it leads has not acked. nullopt: unreachable.
std::optional<double> ReplicaLag(const GlobalOptions& global, const std::string& client_address) {
  ClientOptions client_options;
  client_options.server = client_address;
  // The node's client port, with the flags any command uses there.
  ApplyTls(global, &client_options);
  Result<std::string> token = AuthToken(global);
  if (token.ok()) client_options.auth_token = std::move(*token);
  client_options.connect_timeout = std::chrono::milliseconds(1000);
  client_options.reconnect = false;
  client_options.client_name = "hermod cluster status";
  Result<std::unique_ptr<Client>> client = Client::Connect(client_options);
  if (!client.ok()) return std::nullopt;
  Result<std::vector<ServerStat>> stats = (*client)->Stats();
  (*client)->Close();
  if (!stats.ok()) return std::nullopt;
  for (const ServerStat& stat : *stats) {
    if (stat.name == "cluster_replica_lag_parts") return stat.value;
  }
  return std::nullopt;
}

int ShowStatus(const ClusterOptions& options, const GlobalOptions& global) {
  std::optional<Result<cluster::ClusterView>> result;
  Status s = WithClusterStore(
      options,
      [&](cluster::ClusterStore& store, auto stop) {
        store.Read([&result, stop](Result<cluster::ClusterView> r) {
          result = std::move(r);
          stop();
        });
      },
      [&] { return result.has_value(); });
  if (s.ok()) s = result->status();
  if (!s.ok()) return Fail("cluster status: " + s.ToString());
  const cluster::ClusterView& view = **result;
  if (!view.config) {
    return Fail("cluster status: cluster " + options.cluster +
                " is not initialised (hermod cluster init)");
  }
  std::map<std::string, int> leads;
  for (const cluster::PartitionState& p : view.partitions) {
    if (!p.leader.empty()) ++leads[p.leader];
  }
  std::map<std::string, std::optional<double>> lag;
  for (const auto& [id, n] : view.nodes) lag[id] = ReplicaLag(global, n.client_address);
  std::string out;
  if (options.json) {
    Json j = Json::object();
    j["cluster"] = options.cluster;
    j["revision"] = view.revision;
    j["config"] = {{"partitions", view.config->partitions},
                   {"replicas", view.config->replicas},
                   {"min_insync", view.config->min_insync}};
    j["controller"] = view.controller;
    Json nodes = Json::array();
    for (const auto& [id, n] : view.nodes) {
      nodes.push_back({{"id", id},
                       {"client_address", n.client_address},
                       {"peer_address", n.peer_address},
                       {"incarnation", n.incarnation},
                       {"leads", leads[id]},
                       {"replica_lag_parts", lag[id] ? Json(*lag[id]) : Json(nullptr)}});
    }
    j["nodes"] = nodes;
    Json parts = Json::array();
    for (size_t p = 0; p < view.partitions.size(); ++p) {
      const cluster::PartitionState& s = view.partitions[p];
      parts.push_back({{"partition", p},
                       {"assigned", s.assigned()},
                       {"leader", s.leader},
                       {"epoch", s.epoch},
                       {"replicas", s.replicas},
                       {"isr", s.isr}});
    }
    j["partitions"] = parts;
    out = DumpJson(j) + "\n";
  } else {
    out += "cluster " + options.cluster + ": " + std::to_string(view.config->partitions) +
           " partitions, " + std::to_string(view.config->replicas) + " replicas, min in-sync " +
           std::to_string(view.config->min_insync) + "; controller " +
           (view.controller.empty() ? std::string("(none)") : view.controller) + "\n\n";
    // LAG: the most parts a follower of the node's partitions has not
    // acked yet ("-": the node did not answer).
    Table nodes({"NODE", "CLIENT", "PEER", "LEADS", "LAG"}, {false, false, false, true, true});
    for (const auto& [id, n] : view.nodes) {
      nodes.AddRow({id, n.client_address, n.peer_address, std::to_string(leads[id]),
                    lag[id] ? std::to_string(static_cast<uint64_t>(*lag[id])) : "-"});
    }
    out += nodes.Format() + "\n";
    Table parts({"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR"},
                {true, false, true, false, false});
    for (size_t p = 0; p < view.partitions.size(); ++p) {
      const cluster::PartitionState& s = view.partitions[p];
      if (!s.assigned()) {
        parts.AddRow({std::to_string(p), "(unassigned)", "", "", ""});
        continue;
      }
      parts.AddRow({std::to_string(p), s.leader.empty() ? "(none)" : s.leader,
                    std::to_string(s.epoch), Join(s.replicas), Join(s.isr)});
    }
    out += parts.Format();
  }
  return WriteOut(out) ? kExitOk : Fail("cannot write to stdout");
}

}  // namespace

void AddClusterCommand(CLI::App& app, GlobalOptions& global) {
  auto options = std::make_shared<ClusterOptions>();
  CLI::App* cluster = app.add_subcommand("cluster", "A cluster's state in etcd");
  cluster->require_subcommand(1);
  auto common = [&](CLI::App* sub) {
    sub->add_option("--etcd", options->etcd, "etcd endpoints, http://HOST:PORT[,...]")->required();
    sub->add_option("--cluster", options->cluster, "The cluster's name")->capture_default_str();
  };
  CLI::App* init = cluster->add_subcommand("init", "Create a cluster: its partitions and replicas");
  common(init);
  init->add_option("--partitions", options->config.partitions, "Partitions, fixed from now on")
      ->capture_default_str();
  init->add_option("--replicas", options->config.replicas, "Replicas of every partition")
      ->capture_default_str();
  init->add_option("--min-insync", options->config.min_insync,
                   "In-sync replicas (leader included) a confirm needs")
      ->capture_default_str();
  init->callback([options, &global] { global.run = [options] { return Init(*options); }; });
  CLI::App* status =
      cluster->add_subcommand("status", "Nodes, controller, and each partition's leader and ISR");
  common(status);
  status->add_flag("--json", options->json, "Print one JSON object");
  status->callback([options, &global] {
    global.run = [options, &global] { return ShowStatus(*options, global); };
  });
}

}  // namespace hermod::cli
