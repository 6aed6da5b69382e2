// Client::Router (router.h): routing by partition over one Impl per node,
// and the worker that refetches the map and moves publishes and
// subscriptions when leaders change.
#include "router.h"

#include <cinttypes>
#include <cstdio>
#include <random>
#include <utility>

#include "hermod/partition.h"

namespace hermod {

using client_internal::ClusterMap;
using client_internal::ImplMode;

namespace {

// Map rounds a publish may wait through without a leader to take it (when
// max_reconnect_attempts is 0, "never give up", which a publish should not
// inherit: its caller waits for an answer).
constexpr uint32_t kDefaultPublishRounds = 20;

Status ClosedStatus() { return Status(ErrorCode::kClosed, "client closed"); }

std::string RandomHex() {
  std::random_device device;
  const uint64_t value = (uint64_t{device()} << 32) | device();
  char digits[17];
  std::snprintf(digits, sizeof(digits), "%016" PRIx64, value);
  return digits;
}

}  // namespace

Client::Router::Router(const ClientOptions& options, std::vector<std::string> seeds)
    : options_(options),
      seeds_(std::move(seeds)),
      dedup_prefix_("~" + RandomHex() + "-"),
      backoff_(options.reconnect_initial_delay, options.reconnect_max_delay,
               std::random_device()()) {}

Client::Router::~Router() {
  Close();
  if (worker_.joinable()) worker_.join();
  // Impls join their loop threads; none calls back into the Router after.
  std::map<std::string, std::shared_ptr<Impl>> nodes;
  std::vector<std::shared_ptr<Impl>> retired;
  std::shared_ptr<Impl> seed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    nodes.swap(nodes_);
    retired.swap(retired_);
    seed.swap(seed_);
  }
  nodes.clear();
  retired.clear();
  seed.reset();
}

ImplMode Client::Router::SeedMode() {
  ImplMode mode;
  mode.fetch_map = true;
  mode.on_state = [this](ConnectionState state, const Status&) {
    if (state == ConnectionState::kReconnecting || state == ConnectionState::kDisconnected) {
      RequestRefresh();
    }
  };
  mode.on_not_leader = [this](const Status&) { RequestRefresh(); };
  return mode;
}

void Client::Router::Adopt(const std::string& address, std::unique_ptr<Impl> seed) {
  map_ = seed->cluster_map();
  partitions_ = map_.partitions;
  seed_ = std::move(seed);
  nodes_[address] = seed_;
  worker_ = std::thread([this] { WorkerMain(); });
}

uint32_t Client::Router::PartitionOfName(std::string_view name) const {
  return PartitionOf(name, partitions_);
}

std::shared_ptr<Client::Impl> Client::Router::FindLocked(const std::string& address) const {
  auto it = nodes_.find(address);
  return it == nodes_.end() ? nullptr : it->second;
}

std::shared_ptr<Client::Impl> Client::Router::NodeLocked(const std::string& address) {
  auto it = nodes_.find(address);
  if (it != nodes_.end() && !it->second->finished()) return it->second;
  const auto now = std::chrono::steady_clock::now();
  if (it != nodes_.end()) {
    // Failed moments ago: requests to it fail fast (kUnavailable) and are
    // retried on a fresher map, instead of a new connection per request.
    auto replaced = replaced_at_.find(address);
    if (replaced != replaced_at_.end() &&
        now - replaced->second < options_.reconnect_initial_delay) {
      return it->second;
    }
    // It gave up (max_reconnect_attempts, or its first failure without
    // reconnects) and is replaced by a fresh one. Threads may still be in a
    // call on it, so the worker destroys it once none is (Reap); the seed
    // stays, as Client's own connection.
    if (it->second != seed_) {
      retired_.push_back(std::move(it->second));
      RequestRefresh();
    }
    nodes_.erase(it);
  }
  ClientOptions options = options_;
  options.server = address;
  options.on_state_change = nullptr;  // the application hears the seed's states
  ImplMode mode;
  mode.detached = true;
  mode.on_state = [this](ConnectionState state, const Status&) {
    if (state == ConnectionState::kReconnecting || state == ConnectionState::kDisconnected) {
      RequestRefresh();
    }
  };
  mode.on_not_leader = [this](const Status&) { RequestRefresh(); };
  auto impl = std::make_shared<Impl>(options, std::move(mode));
  // Detached: returns at once; a bad address fails it for good, and the
  // publishes sent to it fail with kUnavailable.
  Status started = impl->Start();
  if (!started.ok()) impl->CloseSoon();
  nodes_[address] = impl;
  replaced_at_[address] = now;
  return impl;
}

bool Client::Router::Reap() {
  std::vector<std::shared_ptr<Impl>> unused;
  bool all = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = retired_.begin(); it != retired_.end();) {
      // Held by retired_ alone: no call on it is running, and none can
      // start, since references are taken under mu_ from nodes_.
      if (it->use_count() == 1) {
        unused.push_back(std::move(*it));
        it = retired_.erase(it);
      } else {
        all = false;
        ++it;
      }
    }
  }
  // ~Impl closes it and joins its loop thread, whose last callbacks may
  // take mu_: destroyed after it is released.
  unused.clear();
  return all;
}

bool Client::Router::OnOwnThread() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [address, impl] : nodes_) {
    if (impl->on_loop_thread()) return true;
  }
  for (const auto& impl : retired_) {
    if (impl->on_loop_thread()) return true;
  }
  return std::this_thread::get_id() == worker_.get_id();
}

// ---------------------------------------------------------------------------
// Publishes.

void Client::Router::PublishAsync(bool to_group, std::string_view name, std::string_view payload,
                                  const PublishOptions& options, ConfirmCallback done) {
  auto publish = std::make_shared<RoutedPublish>();
  publish->to_group = to_group;
  publish->name.assign(name);
  publish->payload.assign(payload);
  publish->options = options;
  // Fixed before the first send: every node it goes to sees the same id.
  if (publish->options.dedup_id.empty() && options_.dedup_resends) {
    publish->options.dedup_id = dedup_prefix_ + std::to_string(next_dedup_.fetch_add(1));
  }
  publish->done = std::move(done);
  publish->partition = PartitionOfName(name);
  std::vector<PendingSend> sends;
  bool closed = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    closed = closing_;
    if (!closed) {
      const uint64_t id = next_publish_++;
      publishes_[id] = publish;
      if (!PlaceLocked(id, publish, &sends)) {
        publish->unplaced = true;
        publish->last_error = Status(
            ErrorCode::kNotLeader, "no leader for partition " + std::to_string(publish->partition));
      }
    }
  }
  if (!closed && sends.empty()) RequestRefresh();
  if (closed) {
    PublishResult result;
    result.status = ClosedStatus();
    if (publish->done) publish->done(result);
    return;
  }
  for (const PendingSend& send : sends) Send(send);
}

bool Client::Router::PlaceLocked(uint64_t id, const std::shared_ptr<RoutedPublish>& publish,
                                 std::vector<PendingSend>* sends) {
  const std::string& leader = map_.routes[publish->partition].leader_address;
  if (leader.empty()) return false;
  publish->node = leader;
  publish->unplaced = false;
  publish->held = false;
  sends->push_back(PendingSend{NodeLocked(leader), id, publish, ++publish->send});
  return true;
}

void Client::Router::Send(const PendingSend& send) {
  const RoutedPublish& p = *send.publish;
  ConfirmCallback done = [this, id = send.id, publish = send.publish,
                          number = send.send](const PublishResult& result) {
    OnPublishResult(id, publish, number, result);
  };
  if (p.to_group) {
    send.impl->PublishToGroupAsync(p.name, p.payload, p.options, std::move(done));
  } else {
    send.impl->PublishAsync(p.name, p.payload, p.options, std::move(done));
  }
}

void Client::Router::OnPublishResult(uint64_t id, const std::shared_ptr<RoutedPublish>& publish,
                                     uint64_t send, const PublishResult& result) {
  bool reroute = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = publishes_.find(id);
    // An older send's answer: the publish went to another node since.
    if (it == publishes_.end() || publish->send != send) return;
    const ErrorCode code = result.status.code();
    if (!closing_ && (code == ErrorCode::kNotLeader || code == ErrorCode::kUnavailable)) {
      // The node does not lead the partition (any more), or cannot be
      // reached: the worker places it again once a map names a leader.
      publish->unplaced = true;
      publish->last_error = result.status;
      reroute = true;
    } else {
      publishes_.erase(it);
    }
  }
  if (reroute) {
    RequestRefresh();
    return;
  }
  if (publish->done) publish->done(result);
}

// ---------------------------------------------------------------------------
// Subscriptions.

DeliveryHandler Client::Router::Wrap(SubscriptionId subscription, uint64_t placement,
                                     const std::string& node,
                                     std::shared_ptr<const DeliveryHandler> handler) {
  auto bound = std::make_shared<std::atomic<bool>>(false);
  return [this, subscription, placement, node, bound,
          handler = std::move(handler)](const Delivery& delivery) {
    // The node delivers as soon as it accepted the Subscribe, before
    // Impl::Subscribe has returned to Place: the handler's acks must reach
    // this node already, or each one is dropped and holds a credit slot
    // until the ack wait runs out. So the first delivery binds the
    // subscription here (the Impl's id is still in the Delivery).
    if (!bound->load(std::memory_order_acquire)) {
      (void)Bind(subscription, placement, node, delivery.subscription);
      bound->store(true, std::memory_order_release);
    }
    // The node Impl numbers its subscriptions itself; the application knows
    // the Router's id. The Delivery is the Impl's own reused object, passed
    // as const only to the application, so it is rewritten in place rather
    // than copied.
    const_cast<Delivery&>(delivery).subscription = subscription;
    (*handler)(delivery);
  };
}

bool Client::Router::Bind(SubscriptionId subscription, uint64_t placement, const std::string& node,
                          SubscriptionId inner) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subscriptions_.find(subscription);
  if (it == subscriptions_.end() || it->second.placement != placement) return false;
  it->second.node = node;
  it->second.inner = inner;
  return true;
}

Result<SubscriptionId> Client::Router::Subscribe(std::string_view queue,
                                                 const SubscribeOptions& options,
                                                 DeliveryHandler handler) {
  if (OnOwnThread()) {
    return Status::InvalidArgument(
        "Subscribe blocks, so it cannot run in a callback of its client");
  }
  SubscriptionId subscription = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return ClosedStatus();
    subscription = next_subscription_++;
    RoutedSubscription& sub = subscriptions_[subscription];
    sub.queue.assign(queue);
    sub.options = options;
    sub.handler = std::make_shared<const DeliveryHandler>(std::move(handler));
    sub.moving = true;  // the worker keeps off until it is placed
  }
  Status last;
  for (int attempt = 0; attempt <= client_internal::kMaxRequestReroutes; ++attempt) {
    last = Place(subscription);
    if (last.code() != ErrorCode::kNotLeader) break;
    WaitForNewMap();
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subscriptions_.find(subscription);
  if (it == subscriptions_.end()) return ClosedStatus();
  it->second.moving = false;
  if (!last.ok()) {
    subscriptions_.erase(it);
    return last;
  }
  return subscription;
}

Status Client::Router::Place(SubscriptionId subscription) {
  std::shared_ptr<Impl> impl;
  std::string leader;
  std::string queue;
  SubscribeOptions options;
  std::shared_ptr<const DeliveryHandler> handler;
  uint64_t placement = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end() || closing_) return ClosedStatus();
    leader = map_.routes[PartitionOfName(it->second.queue)].leader_address;
    if (leader.empty()) return Status(ErrorCode::kNotLeader, "no leader in the map");
    impl = NodeLocked(leader);
    queue = it->second.queue;
    options = it->second.options;
    handler = it->second.handler;
    placement = ++it->second.placement;
  }
  Result<SubscriptionId> inner =
      impl->Subscribe(queue, options, Wrap(subscription, placement, leader, std::move(handler)));
  if (!inner.ok()) return inner.status();
  // Unsubscribed meanwhile: what was made here goes too.
  if (!Bind(subscription, placement, leader, *inner)) (void)impl->Unsubscribe(*inner);
  return Status::OK();
}

Status Client::Router::AckRange(SubscriptionId subscription, uint64_t first_seq,
                                uint64_t last_seq) {
  std::shared_ptr<Impl> impl;
  SubscriptionId inner = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subscriptions_.find(subscription);
    // Unknown: dropped, as a single node's client drops it.
    if (it == subscriptions_.end()) return Status::OK();
    impl = FindLocked(it->second.node);
    inner = it->second.inner;
  }
  // Moving: its deliveries were given back and come again.
  if (impl == nullptr) return Status::Unavailable("subscription is moving to a new leader");
  return impl->AckRange(inner, first_seq, last_seq);
}

Status Client::Router::Nack(SubscriptionId subscription, uint64_t seq,
                            std::chrono::milliseconds delay) {
  std::shared_ptr<Impl> impl;
  SubscriptionId inner = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end()) return Status::OK();
    impl = FindLocked(it->second.node);
    inner = it->second.inner;
  }
  if (impl == nullptr) return Status::Unavailable("subscription is moving to a new leader");
  return impl->Nack(inner, seq, delay);
}

Status Client::Router::SetCredit(SubscriptionId subscription, uint32_t credit) {
  std::shared_ptr<Impl> impl;
  SubscriptionId inner = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return ClosedStatus();
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end()) return Status::OK();
    it->second.options.credit = credit;  // kept for its next node
    impl = FindLocked(it->second.node);
    inner = it->second.inner;
  }
  if (impl == nullptr) return Status::OK();
  return impl->SetCredit(inner, credit);
}

Status Client::Router::Unsubscribe(SubscriptionId subscription) {
  std::shared_ptr<Impl> impl;
  SubscriptionId inner = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end()) {
      return Status::NotFound("no subscription " + std::to_string(subscription));
    }
    impl = FindLocked(it->second.node);
    inner = it->second.inner;
    // A move in progress sees it gone and unsubscribes what it made.
    subscriptions_.erase(it);
  }
  if (impl == nullptr) return Status::OK();
  return impl->Unsubscribe(inner);
}

// ---------------------------------------------------------------------------
// The map: refetching it, and reconciling with it.

void Client::Router::RequestRefresh() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    refresh_wanted_ = true;
  }
  wake_.notify_all();
}

void Client::Router::WaitForNewMap() {
  std::unique_lock<std::mutex> lock(wake_mu_);
  const uint64_t generation = map_generation_;
  refresh_wanted_ = true;
  wake_.notify_all();
  wake_.wait_for(lock, RequestWait(), [&] { return stopping_ || map_generation_ != generation; });
}

void Client::Router::WorkerMain() {
  uint32_t failed_rounds = 0;
  std::unique_lock<std::mutex> lock(wake_mu_);
  for (;;) {
    // While something waits (a publish without a leader, a node that is
    // down), look again now and then even without a new trigger: the map
    // changes when the cluster fails over, which no frame announces here.
    const bool waiting = failed_rounds > 0;
    const auto woken = [&] { return stopping_ || refresh_wanted_; };
    if (waiting) {
      wake_.wait_for(lock, backoff_.Next(), woken);
    } else {
      wake_.wait(lock, woken);
    }
    if (stopping_) return;
    refresh_wanted_ = false;
    lock.unlock();
    // Reaped before the round too: the map fetch may wait for a while.
    (void)Reap();
    bool settled = RefreshOnce();
    // Impls still held come back with the next round.
    settled = Reap() && settled;
    lock.lock();
    if (settled) {
      failed_rounds = 0;
      backoff_.Reset();
    } else {
      ++failed_rounds;
      refresh_wanted_ = false;  // the backoff delay comes first
    }
  }
}

bool Client::Router::RefreshOnce() {
  Result<ClusterMap> map = FetchAnyMap();
  if (map.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      map_ = std::move(*map);
    }
    {
      std::lock_guard<std::mutex> lock(wake_mu_);
      ++map_generation_;
    }
    wake_.notify_all();
  }
  // Reconciled even without a new map: publishes count their rounds.
  return Reconcile() && map.ok();
}

Result<ClusterMap> Client::Router::FetchAnyMap() {
  // Connected nodes first, then addresses without a connection yet (seeds,
  // leaders of the last map), then the nodes being reconnected to.
  std::vector<std::shared_ptr<Impl>> connected;
  std::vector<std::string> fresh;
  std::vector<std::shared_ptr<Impl>> reconnecting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return ClosedStatus();
    // The seed first: the node the application named, and whose connection
    // is the Client's own.
    if (seed_->connected()) connected.push_back(seed_);
    for (const auto& [address, impl] : nodes_) {
      if (impl->finished()) {
        fresh.push_back(address);
      } else if (impl->connected()) {
        if (impl != seed_) connected.push_back(impl);
      } else {
        reconnecting.push_back(impl);
      }
    }
    auto add = [&](const std::string& address) {
      if (address.empty() || FindLocked(address) != nullptr) return;
      for (const std::string& known : fresh) {
        if (known == address) return;
      }
      fresh.push_back(address);
    };
    for (const std::string& seed : seeds_) add(seed);
    for (const ClusterMap::Route& route : map_.routes) add(route.leader_address);
  }
  Status last = Status::Unavailable("no node of the cluster answered with the partition map");
  auto ask = [&](const std::shared_ptr<Impl>& impl) -> bool {
    Result<ClusterMap> map = impl->FetchMap(options_.connect_timeout);
    if (!map.ok()) {
      last = map.status();
      return false;
    }
    if (map->partitions != partitions_) {
      last = Status::Unavailable("a node sent a map of " + std::to_string(map->partitions) +
                                 " partitions, not " + std::to_string(partitions_));
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    map_ = std::move(*map);
    return true;
  };
  auto done = [&]() -> Result<ClusterMap> {
    std::lock_guard<std::mutex> lock(mu_);
    return map_;
  };
  for (const std::shared_ptr<Impl>& impl : connected) {
    if (ask(impl)) return done();
  }
  for (const std::string& address : fresh) {
    std::shared_ptr<Impl> impl;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing_) return ClosedStatus();
      impl = NodeLocked(address);
    }
    if (ask(impl)) return done();
  }
  for (const std::shared_ptr<Impl>& impl : reconnecting) {
    if (ask(impl)) return done();
  }
  return last;
}

bool Client::Router::Reconcile() {
  bool settled = true;
  std::vector<PendingSend> sends;
  std::vector<PublishResult> failed_results;
  std::vector<ConfirmCallback> failed;
  std::vector<SubscriptionId> moves;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return true;
    const uint32_t max_rounds = options_.max_reconnect_attempts != 0
                                    ? options_.max_reconnect_attempts
                                    : kDefaultPublishRounds;
    for (auto it = publishes_.begin(); it != publishes_.end();) {
      const uint64_t id = it->first;
      std::shared_ptr<RoutedPublish>& publish = it->second;
      const std::string& leader = map_.routes[publish->partition].leader_address;
      std::shared_ptr<Impl> current = FindLocked(publish->node);
      const bool lost = current == nullptr || !current->connected();
      // A publish on a node that stands is left to it: it confirms, or
      // refuses with kNotLeader. One on a node that is down moves as soon
      // as the map names another leader.
      const bool move = publish->unplaced || (lost && !leader.empty() && leader != publish->node);
      if (!move) {
        if (lost) settled = false;  // look again later
        ++it;
        continue;
      }
      // The map still names the node that just refused: the map lags the
      // failover, or the node is still taking the partition over. Either
      // way it is sent again only after a backoff delay (one round held).
      const bool stale = publish->unplaced && leader == publish->node &&
                         publish->last_error.code() == ErrorCode::kNotLeader && !publish->held;
      if (leader.empty() || stale) {
        publish->unplaced = true;
        publish->held = stale;
        if (++publish->rounds >= max_rounds) {
          PublishResult result;
          result.status = publish->last_error.ok()
                              ? Status::Unavailable("no leader for partition " +
                                                    std::to_string(publish->partition))
                              : publish->last_error;
          failed_results.push_back(std::move(result));
          failed.push_back(std::move(publish->done));
          it = publishes_.erase(it);
          continue;
        }
        settled = false;
        ++it;
        continue;
      }
      PlaceLocked(id, publish, &sends);
      ++it;
    }
    for (auto& [subscription, sub] : subscriptions_) {
      if (sub.moving) continue;
      const std::string& leader = map_.routes[PartitionOfName(sub.queue)].leader_address;
      if (leader.empty()) {
        settled = false;
        continue;
      }
      if (leader == sub.node) {
        // On a node that is down while the map still names it (the map
        // lags the failover): look again later, as for publishes, or the
        // subscription would stay with the dead node until some other
        // event fetched the map again.
        std::shared_ptr<Impl> current = FindLocked(sub.node);
        if (current == nullptr || !current->connected()) settled = false;
        continue;
      }
      sub.moving = true;
      moves.push_back(subscription);
    }
  }
  for (size_t i = 0; i < failed.size(); ++i) {
    if (failed[i]) failed[i](failed_results[i]);
  }
  for (const PendingSend& send : sends) Send(send);
  for (SubscriptionId subscription : moves) {
    // Off the old node first (it no longer leads the partition, or is
    // down: either way its deliveries go back to the queue), then on.
    std::shared_ptr<Impl> old;
    SubscriptionId inner = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = subscriptions_.find(subscription);
      if (it == subscriptions_.end()) continue;
      old = FindLocked(it->second.node);
      inner = it->second.inner;
      it->second.node.clear();
      it->second.inner = 0;
      // Deliveries the old node still makes before it hears the
      // Unsubscribe go back to the queue: they must not bind it there again.
      ++it->second.placement;
    }
    if (old != nullptr) (void)old->Unsubscribe(inner);
    Status placed = Place(subscription);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subscriptions_.find(subscription);
    if (it != subscriptions_.end()) it->second.moving = false;
    if (!placed.ok()) settled = false;  // tried again on the next round
  }
  return settled;
}

// ---------------------------------------------------------------------------
// Closing.

void Client::Router::Close() {
  std::vector<std::shared_ptr<Impl>> impls;
  std::vector<ConfirmCallback> unplaced;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closing_) {
      closing_ = true;
      for (auto it = publishes_.begin(); it != publishes_.end();) {
        if (it->second->unplaced) {
          unplaced.push_back(std::move(it->second->done));
          it = publishes_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& [address, impl] : nodes_) impls.push_back(impl);
    for (const auto& impl : retired_) impls.push_back(impl);
  }
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  bool on_own_thread = false;
  for (const std::shared_ptr<Impl>& impl : impls) {
    on_own_thread = on_own_thread || impl->on_loop_thread();
  }
  for (const std::shared_ptr<Impl>& impl : impls) {
    // From a callback, joining another node's loop thread could wait for a
    // thread that waits for this one: those close without waiting.
    if (on_own_thread) {
      impl->CloseSoon();
    } else {
      impl->Close();
    }
  }
  PublishResult closed;
  closed.status = ClosedStatus();
  for (ConfirmCallback& done : unplaced) {
    if (done) done(closed);
  }
  if (!on_own_thread && worker_.joinable() && std::this_thread::get_id() != worker_.get_id()) {
    worker_.join();
  }
}

}  // namespace hermod
