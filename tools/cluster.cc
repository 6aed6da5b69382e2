// `hermod cluster init|status`: a cluster's state in etcd (docs/cluster.md).
// Talks to etcd directly (not to a broker), through the same control plane
// as hermodd, on a loop of its own that runs until the one call answered.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli.h"
#include "cluster/cluster_store.h"
#include "cluster/etcd_client.h"
#include "cluster/etcd_control_plane.h"
#include "net/loop.h"

namespace hermod::cli {

namespace {

struct ClusterArgs {
  std::string etcd;
  std::string cluster = "default";
  uint32_t timeout_ms = 5000;
  cluster::ClusterConfig config;
  bool json = false;
};

// Runs `call` against the cluster's control plane and the loop until it
// answered; the answer is whatever `call` stored.
Status WithControlPlane(
    const ClusterArgs& args,
    const std::function<void(cluster::ControlPlane&, std::function<void()>)>& call) {
  if (Status s = cluster::ClusterStore::ValidateName(args.cluster); !s.ok()) {
    return Status::InvalidArgument("--cluster: " + s.message());
  }
  Result<std::vector<std::string>> endpoints = cluster::EtcdClient::ParseEndpoints(args.etcd);
  if (!endpoints.ok()) return Status::InvalidArgument("--etcd: " + endpoints.status().message());
  net::Loop loop;
  if (Status s = loop.Init(); !s.ok()) return s;
  cluster::EtcdClient::Options options;
  options.endpoints = *endpoints;
  options.request_timeout = std::chrono::milliseconds(args.timeout_ms);
  cluster::EtcdClient etcd(loop, options);
  Status result = etcd.Init();
  if (result.ok()) {
    cluster::EtcdControlPlane plane(loop, etcd, args.cluster);
    call(plane, [&] {
      plane.Close();
      etcd.Close();
    });
    loop.Run();  // until the answer closed every handle
    plane.Close();
  }
  etcd.Close();
  loop.Close();
  return result;
}

int RunInit(const ClusterArgs& args) {
  if (Status s = args.config.Validate(); !s.ok()) return Fail(s.message());
  std::optional<Status> answer;
  Status s = WithControlPlane(args, [&](cluster::ControlPlane& plane, std::function<void()> end) {
    plane.InitConfig(args.config, [&answer, end](Status r) {
      answer = r;
      end();
    });
  });
  if (!s.ok()) return Fail(s.message());
  if (!answer) return Fail("etcd did not answer");
  if (!answer->ok()) return Fail(answer->message());
  std::printf("cluster %s initialised: %u partitions, %u replicas, min in-sync %u\n",
              args.cluster.c_str(), args.config.partitions, args.config.replicas,
              args.config.min_insync);
  return kExitOk;
}

nlohmann::json ViewJson(const std::string& name, const cluster::ClusterView& view) {
  using nlohmann::json;
  json out;
  out["cluster"] = name;
  out["revision"] = view.revision;
  out["initialised"] = view.config.has_value();
  if (view.config) {
    out["config"] = {{"partitions", view.config->partitions},
                     {"replicas", view.config->replicas},
                     {"min_insync", view.config->min_insync}};
  }
  out["controller"] = view.controller;
  json nodes = json::array();
  std::map<std::string, int> leads;
  for (const auto& [id, node] : view.nodes) {
    leads[id] = 0;
    nodes.push_back({{"id", id},
                     {"client_address", node.client_address},
                     {"peer_address", node.peer_address},
                     {"incarnation", node.incarnation}});
  }
  out["nodes"] = nodes;
  json parts = json::array();
  int leaderless = 0;
  for (size_t p = 0; p < view.partitions.size(); ++p) {
    const cluster::PartitionState& s = view.partitions[p];
    if (s.leader.empty()) {
      ++leaderless;
    } else {
      ++leads[s.leader];
    }
    parts.push_back({{"partition", p},
                     {"leader", s.leader},
                     {"epoch", s.epoch},
                     {"replicas", s.replicas},
                     {"isr", s.isr}});
  }
  out["partitions"] = parts;
  out["leaders_per_node"] = leads;
  out["leaderless"] = leaderless;
  return out;
}

void PrintText(const nlohmann::json& j) {
  std::printf("cluster %s (etcd revision %lld)\n", j["cluster"].get<std::string>().c_str(),
              static_cast<long long>(j["revision"].get<int64_t>()));
  if (!j["initialised"].get<bool>()) {
    std::printf("not initialised (run `hermod cluster init`)\n");
  } else {
    std::printf("config: %u partitions, %u replicas, min in-sync %u\n",
                j["config"]["partitions"].get<uint32_t>(), j["config"]["replicas"].get<uint32_t>(),
                j["config"]["min_insync"].get<uint32_t>());
  }
  const std::string controller = j["controller"].get<std::string>();
  std::printf("controller: %s\n", controller.empty() ? "(none)" : controller.c_str());
  std::printf("nodes:\n");
  for (const auto& n : j["nodes"]) {
    const std::string id = n["id"].get<std::string>();
    std::printf("  %-12s client %-21s peer %-21s incarnation %s  leads %d\n", id.c_str(),
                n["client_address"].get<std::string>().c_str(),
                n["peer_address"].get<std::string>().c_str(),
                n["incarnation"].get<std::string>().c_str(), j["leaders_per_node"][id].get<int>());
  }
  std::printf("partitions (leaderless: %d):\n", j["leaderless"].get<int>());
  for (const auto& p : j["partitions"]) {
    auto list = [](const nlohmann::json& a) {
      std::string s;
      for (const auto& e : a) s += (s.empty() ? "" : ",") + e.get<std::string>();
      return s;
    };
    const std::string leader = p["leader"].get<std::string>();
    std::printf("  %4zu leader %-12s epoch %-6llu replicas %-24s isr %s\n",
                p["partition"].get<size_t>(), leader.empty() ? "-" : leader.c_str(),
                static_cast<unsigned long long>(p["epoch"].get<uint64_t>()),
                list(p["replicas"]).c_str(), list(p["isr"]).c_str());
  }
}

int RunStatus(const ClusterArgs& args) {
  std::optional<Result<cluster::ClusterView>> answer;
  Status s = WithControlPlane(args, [&](cluster::ControlPlane& plane, std::function<void()> end) {
    plane.Read([&answer, end](Result<cluster::ClusterView> r) {
      answer.emplace(std::move(r));
      end();
    });
  });
  if (!s.ok()) return Fail(s.message());
  if (!answer) return Fail("etcd did not answer");
  if (!answer->ok()) return Fail(answer->status().message());
  nlohmann::json j = ViewJson(args.cluster, **answer);
  if (args.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    PrintText(j);
  }
  return kExitOk;
}

void AddCommon(CLI::App* cmd, ClusterArgs& args) {
  cmd->add_option("--etcd", args.etcd, "etcd client URLs, comma-separated")->required();
  cmd->add_option("--cluster", args.cluster, "The cluster's name")->capture_default_str();
  cmd->add_option("--timeout-ms", args.timeout_ms, "One etcd request at most")
      ->check(CLI::Range(100u, 600000u))
      ->capture_default_str();
}

}  // namespace

void AddClusterCommand(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<ClusterArgs>();
  CLI::App* cluster = app.add_subcommand("cluster", "A cluster's state in etcd: init, status");
  cluster->require_subcommand(1);

  CLI::App* init = cluster->add_subcommand("init", "Create a cluster (refused if it exists)");
  AddCommon(init, *args);
  init->add_option("--partitions", args->config.partitions, "P: fixed for the cluster's life")
      ->capture_default_str();
  init->add_option("--replicas", args->config.replicas, "R: replicas of each partition")
      ->capture_default_str();
  init->add_option("--min-insync", args->config.min_insync,
                   "In-sync replicas a confirm needs at least")
      ->capture_default_str();
  init->callback([args, &global] { global.run = [args] { return RunInit(*args); }; });

  CLI::App* status = cluster->add_subcommand(
      "status", "Config, nodes, controller, and each partition's leader, epoch, replicas, ISR");
  AddCommon(status, *args);
  status->add_flag("--json", args->json, "One JSON object");
  status->callback([args, &global] { global.run = [args] { return RunStatus(*args); }; });
}

}  // namespace hermod::cli
