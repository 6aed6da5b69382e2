// Client::Router: libhermod in a cluster (docs/client.md, "Clusters").
//
// A cluster splits names into P partitions, each led by one node
// (hermod::PartitionOf). The Router sits above one Client::Impl per node —
// the seed that Connect() reached, and the others made on first use
// (ImplMode::detached), each with its own loop thread, reconnects and
// resends — and sends every operation on a name to the Impl of the node
// that leads the name's partition, as the last map it fetched says. A
// Client of a single node has no Router: its methods go straight to its one
// Impl.
//
// When a node refuses with kNotLeader (a publish, a subscribe, or a fatal
// Error that ends a subscriber's connection) or a connection to a node
// breaks, the worker thread fetches the map again (from any node it can
// reach, with the reconnect backoff) and reconciles what it holds with it:
//   - publishes: the Router keeps each one until its confirm. One refused
//     with kNotLeader or kUnavailable, or waiting on a node whose connection
//     is down while the map names another leader, is sent to the leader
//     again with the same dedup id (the Router gives every publish one,
//     as ClientOptions::dedup_resends says); the older send's answer is then
//     ignored. A publish that finds no leader within its rounds fails.
//   - subscriptions: the caller's SubscriptionId is the Router's; it maps to
//     (node, that Impl's id). One whose partition moved is unsubscribed on
//     the old node and subscribed on the new leader with its latest credit.
// Blocking requests on a name (ConfigureQueue, group and queue requests)
// refused with kNotLeader wait for a fresher map and go again, a bounded
// number of times. Listing requests and Stats go to the seed node.
//
// Node Impls are shared: a thread that calls one holds a reference taken
// under mu_, so an Impl that gave up can be replaced while a call on it is
// still running. The replaced one waits in retired_ until nobody holds it,
// and the worker then destroys it (closing its connection and loop, and
// joining its thread), so that a node that keeps failing costs no
// descriptors or threads round after round.
//
// Thread rules: the public-facing methods from any thread, with the rules
// of client.h. mu_ guards the map, the nodes, publishes and subscriptions;
// wake_mu_ the worker's wakeups and the map generation. wake_mu_ may be
// taken while mu_ is held (RequestRefresh), never the other way round.
// Under mu_ the Router may start a node's Impl (NodeLocked), which may post
// to that Impl's new loop (its mailbox lock); no other Impl method and no
// application callback is called with mu_ held, and no Impl is destroyed
// with it held. Impls call back on their loop threads; the worker thread
// runs WorkerMain.
#ifndef HERMOD_CLIENT_LIB_SRC_ROUTER_H_
#define HERMOD_CLIENT_LIB_SRC_ROUTER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backoff.h"
#include "client_impl.h"
#include "cluster_map.h"
#include "hermod/client.h"

namespace hermod {

class [[gnu::visibility("hidden")]] Client::Router final {
 public:
  Router(const ClientOptions& options, std::vector<std::string> seeds);
  // Closes every node's Impl and joins the threads. REQUIRES: not on a
  // thread of this client.
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // The ImplMode of the seed Impl that Connect() starts, before it knows
  // whether the node is in a cluster: its hooks reach this Router only
  // when the map says it is (Impl::routed_).
  client_internal::ImplMode SeedMode();
  // Takes the seed, connected with a map of partitions > 0, and starts the
  // worker. Called once, before any other method.
  void Adopt(const std::string& address, std::unique_ptr<Impl> seed);

  void PublishAsync(bool to_group, std::string_view name, std::string_view payload,
                    const PublishOptions& options, ConfirmCallback done);
  Result<SubscriptionId> Subscribe(std::string_view queue, const SubscribeOptions& options,
                                   DeliveryHandler handler);
  Status AckRange(SubscriptionId subscription, uint64_t first_seq, uint64_t last_seq);
  Status Nack(SubscriptionId subscription, uint64_t seq, std::chrono::milliseconds delay);
  Status SetCredit(SubscriptionId subscription, uint32_t credit);
  Status Unsubscribe(SubscriptionId subscription);

  // Runs `call` on the Impl of the leader of `name`'s partition; on
  // kNotLeader (or no leader) waits for a fresher map and runs it again.
  template <typename R, typename Call>
  R OnLeaderOf(std::string_view name, const char* what, Call call);

  // The seed's Impl stays for the Router's lifetime, even once replaced.
  Impl& seed() { return *seed_; }
  void Close();

 private:
  using Clock = std::chrono::steady_clock;

  struct RoutedPublish {
    bool to_group = false;
    std::string name;
    std::string payload;
    PublishOptions options;  // with the dedup id every send carries
    ConfirmCallback done;
    uint32_t partition = 0;
    std::string node;       // where the current send went; empty: none yet
    uint64_t send = 0;      // numbers the sends: an older send's answer is ignored
    bool unplaced = false;  // refused or never sent: waits for a leader
    uint32_t rounds = 0;    // map rounds it waited through unplaced
    bool held = false;      // waited one round for the node that refused it
    Status last_error;
  };

  struct RoutedSubscription {
    std::string queue;
    SubscribeOptions options;  // credit: the latest SetCredit value
    std::shared_ptr<const DeliveryHandler> handler;
    std::string node;          // empty: on no node right now
    SubscriptionId inner = 0;  // the node Impl's id for it
    bool moving = false;       // a thread is (re)subscribing it; others keep off
    // Numbers its placements on nodes (Place) and its moves off them: a
    // delivery made under an older number binds nothing (Bind).
    uint64_t placement = 0;
  };

  // A send decided under mu_ and made after it is released.
  struct PendingSend {
    std::shared_ptr<Impl> impl;
    uint64_t id;
    std::shared_ptr<RoutedPublish> publish;
    uint64_t send;
  };

  // The Impl for a node's address, made (detached) on first use. Never
  // null; an Impl that gave up is replaced (and retired). REQUIRES: mu_ held.
  std::shared_ptr<Impl> NodeLocked(const std::string& address);
  // The node Impl, or null when none. REQUIRES: mu_ held.
  std::shared_ptr<Impl> FindLocked(const std::string& address) const;
  // Destroys the retired Impls nobody holds any more; false when some are
  // still held (the worker looks again later). Worker thread, without mu_.
  bool Reap();
  uint32_t PartitionOfName(std::string_view name) const;
  // Places a publish at its leader's node; false when it has none.
  // REQUIRES: mu_ held.
  bool PlaceLocked(uint64_t id, const std::shared_ptr<RoutedPublish>& publish,
                   std::vector<PendingSend>* sends);
  void Send(const PendingSend& send);
  void OnPublishResult(uint64_t id, const std::shared_ptr<RoutedPublish>& publish, uint64_t send,
                       const PublishResult& result);
  // The handler given to the node Impl for one placement of a
  // subscription at `node`: it binds the placement on its first delivery
  // (Bind) and hands the application the Router's SubscriptionId.
  DeliveryHandler Wrap(SubscriptionId subscription, uint64_t placement, const std::string& node,
                       std::shared_ptr<const DeliveryHandler> handler);
  // Records that `subscription` lives at `node` as that Impl's `inner`,
  // unless it was unsubscribed or placed anew since `placement`; false then.
  // Takes mu_.
  bool Bind(SubscriptionId subscription, uint64_t placement, const std::string& node,
            SubscriptionId inner);
  // Subscribes `subscription` at its partition's leader; kNotLeader
  // when the map names none, or the node refused.
  Status Place(SubscriptionId subscription);

  // Asks the worker for a fresh map. Any thread, with or without mu_.
  void RequestRefresh();
  // Asks for a fresh map and waits (bounded) until one came.
  void WaitForNewMap();
  void WorkerMain();
  // One round: fetch a map, reconcile. false: something still waits.
  bool RefreshOnce();
  Result<client_internal::ClusterMap> FetchAnyMap();
  bool Reconcile();
  // A blocking call from a thread of this client would wait for itself.
  bool OnOwnThread() const;
  std::chrono::milliseconds RequestWait() const {
    return 2 * options_.connect_timeout + options_.reconnect_max_delay;
  }

  const ClientOptions options_;
  const std::vector<std::string> seeds_;
  // "~<random hex>-": the start of the dedup ids the Router gives publishes.
  const std::string dedup_prefix_;
  std::atomic<uint64_t> next_dedup_{1};
  uint32_t partitions_ = 0;     // P, fixed by Adopt()
  std::shared_ptr<Impl> seed_;  // set by Adopt(); never retired, never reaped

  mutable std::mutex mu_;  // guards everything below, up to wake_mu_
  client_internal::ClusterMap map_;
  std::map<std::string, std::shared_ptr<Impl>> nodes_;
  // Replaced after they gave up, waiting for Reap (the seed never is here).
  std::vector<std::shared_ptr<Impl>> retired_;
  // When each address's node connection was last replaced: a node that
  // keeps failing (dead, while the map still names it) is dialed again at
  // most once per reconnect_initial_delay, not once per request.
  std::map<std::string, std::chrono::steady_clock::time_point> replaced_at_;
  std::map<uint64_t, std::shared_ptr<RoutedPublish>> publishes_;
  uint64_t next_publish_ = 1;
  std::map<SubscriptionId, RoutedSubscription> subscriptions_;
  SubscriptionId next_subscription_ = 1;
  bool closing_ = false;

  std::mutex wake_mu_;  // guards the three below
  std::condition_variable wake_;
  bool refresh_wanted_ = false;
  bool stopping_ = false;
  uint64_t map_generation_ = 0;

  client_internal::Backoff backoff_;  // worker thread only
  std::thread worker_;
};

namespace client_internal {
inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) {
  return result.status();
}
// How often a blocking request on a name goes again after kNotLeader.
inline constexpr int kMaxRequestReroutes = 5;
}  // namespace client_internal

template <typename R, typename Call>
R Client::Router::OnLeaderOf(std::string_view name, const char* what, Call call) {
  if (OnOwnThread()) {
    return Status::InvalidArgument(std::string(what) +
                                   " blocks, so it cannot run in a callback of its client");
  }
  const uint32_t partition = PartitionOfName(name);
  Status last = Status(ErrorCode::kNotLeader,
                       "no leader for partition " + std::to_string(partition) + " in the map");
  for (int attempt = 0; attempt <= client_internal::kMaxRequestReroutes; ++attempt) {
    std::shared_ptr<Impl> impl;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing_) return Status(ErrorCode::kClosed, "client closed");
      const std::string& leader = map_.routes[partition].leader_address;
      if (!leader.empty()) impl = NodeLocked(leader);
    }
    if (impl != nullptr) {
      R result = call(*impl);
      if (client_internal::StatusOf(result).code() != ErrorCode::kNotLeader) return result;
      last = client_internal::StatusOf(result);
    }
    WaitForNewMap();
  }
  return last;
}

}  // namespace hermod

#endif  // HERMOD_CLIENT_LIB_SRC_ROUTER_H_
