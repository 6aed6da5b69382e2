// HttpService: what hermodd answers on its HTTP listener (--http-listen):
// /metrics, /healthz, and the web console (docs/console.md): its pages,
// compiled into the binary (console_assets.h), and its JSON API.
//
// Each API question is answered by the code that answers the CLI's admin
// frames (the core's ListQueues, ShowQueue, PeekQueue, ListGroups,
// ShowGroup; Sessions::Stats), only encoded as JSON instead of frames. The
// operations (purge, delete, redrive, queue settings) go to the core as
// the requests of one local client (Sessions::AddLocalClient) and are
// answered when their batch commits, as a connection's would be.
//
// Access: the static pages are public; /metrics and /api/ need an admin's
// bearer token when the broker has credentials. Changes are POST with a
// JSON body from this listener's own origin only (no CSRF by link or form).
//
// Loop thread only. Close() before destruction.
#ifndef HERMOD_BROKER_SERVER_HTTP_SERVICE_H_
#define HERMOD_BROKER_SERVER_HTTP_SERVICE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http_query.h"
#include "http_server.h"
#include "net/timer.h"
#include "sessions.h"

namespace hermod::server {

struct HttpServiceOptions {
  // Serve the console's pages (off: only /metrics and /healthz).
  bool console = true;
  // Development: read the pages from this directory on every request
  // instead of the copy compiled in (files missing there still come from
  // the compiled copy). Empty: the compiled copy.
  std::string assets_dir;
};

// A cluster node's view, for /api/cluster. A plain struct so that this
// layer does not depend on cluster/: the Server fills it.
struct ClusterStatusInfo {
  struct Node {
    std::string id;
    std::string address;  // its client address
    bool alive = false;   // registered (its lease is held)
  };
  struct Follower {
    std::string node;
    uint64_t acked = 0;  // the offset it holds durably
    uint64_t lag = 0;    // offsets behind the leader's end
  };
  struct Partition {
    uint32_t id = 0;
    std::string leader;  // empty: leaderless
    uint64_t epoch = 0;
    std::vector<std::string> replicas;
    std::vector<std::string> isr;
    std::vector<Follower> followers;  // only for partitions led here
  };
  std::string node;
  std::string controller;
  std::vector<Node> nodes;
  std::vector<Partition> partitions;
};

class HttpService {
 public:
  HttpService(net::Loop* loop, Sessions* sessions, core::Broker* broker,
              HttpServiceOptions options);
  ~HttpService();
  HttpService(const HttpService&) = delete;
  HttpService& operator=(const HttpService&) = delete;

  // Connects the console's local client and starts sampling the rates
  // (once a second, the last five minutes).
  void Start();
  // Disconnects the local client (answers still owed are dropped with
  // their connections) and stops the sampling. Idempotent.
  void Close();

  // The HttpServer's handler.
  void Handle(const net::HttpServer::Request& request, net::HttpServer::Reply reply);

  // Cluster mode: where /api/cluster's answer comes from; unset: a single
  // node. `node`: this node's id.
  void set_cluster_status(std::string node, std::function<ClusterStatusInfo()> source) {
    node_ = std::move(node);
    cluster_status_ = std::move(source);
  }

  // Samples kept: one a second for five minutes.
  static constexpr size_t kHistorySamples = 300;

 private:
  using Request = net::HttpServer::Request;
  using Reply = net::HttpServer::Reply;
  using Response = net::HttpServer::Response;

  // Answers with the request's admin check passed, or refuses it.
  void Authorized(const Request& request, Reply reply, std::function<void()> then);
  void ServeAsset(std::string_view path, Reply& reply) const;
  void ServeApi(const Request& request, Reply reply);
  // The answers of the API, by path.
  Response Overview() const;
  Response Queues(const HttpQuery& query);
  Response QueueDetail(const HttpQuery& query);
  Response Peek(const HttpQuery& query);
  Response Groups(const HttpQuery& query);
  Response Group(const HttpQuery& query);
  Response Connections(const HttpQuery& query) const;
  Response Cluster() const;
  // An operation for the core; the reply waits for its answer.
  void Operate(std::string_view what, std::string_view body, Reply reply);
  void OnAnswer(uint64_t correlation_id, const Sessions::LocalAnswer& answer);
  void Sample();

  // The console's client never subscribes: nothing is delivered to it.
  class NoDeliveries final : public core::ClientPort {
   public:
    void Deliver(const core::Delivery&) override {}
    bool CanDeliver() override { return false; }
  };

  net::Loop* loop_;
  Sessions* sessions_;
  core::Broker* broker_;
  HttpServiceOptions options_;
  std::string node_;
  std::function<ClusterStatusInfo()> cluster_status_;

  NoDeliveries port_;
  core::ClientId client_id_ = 0;  // the local client; 0: not connected
  uint64_t next_correlation_ = 1;
  struct Pending {
    std::string what;  // purge, delete, redrive, configure
    Reply reply;
  };
  std::unordered_map<uint64_t, Pending> pending_;

  struct HistorySample {
    uint64_t time_ms = 0;
    uint64_t published = 0;
    uint64_t delivered = 0;
    uint64_t acked = 0;
  };
  std::vector<HistorySample> history_;  // a ring of kHistorySamples
  size_t history_next_ = 0;
  net::Timer sampler_;
  bool started_ = false;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_HTTP_SERVICE_H_
