// What libhermod knows of a cluster: the partition map a node sent in
// MapReply (docs/protocol.md, "MapRequest"), the seed list of
// ClientOptions::server, and how a Client::Impl serves the routing layer
// (ImplMode). Plain data; no thread rules of its own.
#ifndef HERMOD_CLIENT_LIB_SRC_CLUSTER_MAP_H_
#define HERMOD_CLIENT_LIB_SRC_CLUSTER_MAP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "frame_codec.h"
#include "hermod/client.h"
#include "hermod/status.h"

namespace hermod::client_internal {

struct ClusterMap {
  struct Route {
    std::string leader_address;  // HOST:PORT; empty: leaderless now
    uint64_t epoch = 0;
  };
  uint32_t partitions = 0;    // 0: not a cluster (one node serves every name)
  std::vector<Route> routes;  // `partitions` of them, indexed by partition
};

// How a Client::Impl is used. The default is a Client of one node, as
// before clusters: nothing here costs it anything.
struct ImplMode {
  // Ask for the partition map after the first handshake; Start() returns
  // once it came (Connect()'s seed connection).
  bool fetch_map = false;
  // A node of a cluster, connected on first use: Start() returns at once,
  // and a failed first attempt is retried like a reconnect, with requests
  // and publishes waiting for the connection.
  bool detached = false;
  // Called on the loop thread, only in a cluster (detached, or the map said
  // partitions > 0): every state change, and a resubscribe the node refused
  // with kNotLeader. The routing layer refetches the map on them.
  std::function<void(ConnectionState, const Status&)> on_state;
  std::function<void(const Status&)> on_not_leader;
};

// Reads a MapReply; kProtocolViolation unless it has one route per partition.
inline Status ReadClusterMap(const wire::MapReply& reply, ClusterMap* map) {
  const auto* routes = reply.routes();
  const size_t count = routes == nullptr ? 0 : routes->size();
  if (count != reply.partitions()) {
    return Status(ErrorCode::kProtocolViolation, "map of " + std::to_string(reply.partitions()) +
                                                     " partitions with " + std::to_string(count) +
                                                     " routes");
  }
  map->partitions = reply.partitions();
  map->routes.clear();
  map->routes.reserve(count);
  for (flatbuffers::uoffset_t p = 0; p < count; ++p) {
    const wire::PartitionRoute* route = routes->Get(p);
    map->routes.push_back(
        ClusterMap::Route{std::string(proto::View(route->leader_address())), route->epoch()});
  }
  return Status::OK();
}

// Splits "a:1,b:2" into its addresses (spaces around them are dropped);
// kInvalidArgument when none is left or one is empty.
inline Result<std::vector<std::string>> SplitSeeds(std::string_view servers) {
  std::vector<std::string> seeds;
  size_t begin = 0;
  for (;;) {
    size_t end = servers.find(',', begin);
    std::string_view part =
        servers.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part.empty()) {
      return Status::InvalidArgument("empty address in server list \"" + std::string(servers) +
                                     "\"");
    }
    seeds.emplace_back(part);
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return seeds;
}

}  // namespace hermod::client_internal

#endif  // HERMOD_CLIENT_LIB_SRC_CLUSTER_MAP_H_
