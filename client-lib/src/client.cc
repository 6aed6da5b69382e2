// hermod::Client: the public face of libhermod. Each method forwards to
// Client::Impl (client_impl.h), which owns the loop thread; see client.h for
// the contracts and the thread rules.
#include "hermod/client.h"

#include "client_impl.h"
#include "cluster_map.h"
#include "router.h"

namespace hermod {

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  Result<std::vector<std::string>> seeds = client_internal::SplitSeeds(options.server);
  if (!seeds.ok()) return seeds.status();
  // Made first so that the seed's hooks can name it; dropped again when the
  // seed turns out to be a single node.
  auto router = std::make_unique<Router>(options, *seeds);
  Status last;
  for (const std::string& seed : *seeds) {
    ClientOptions one = options;
    if (seeds->size() > 1) one.server = seed;
    auto impl = std::make_unique<Impl>(one, router->SeedMode());
    Status s = impl->Start();
    if (!s.ok()) {
      // Only an unreachable node is worth trying the next seed for.
      if (s.code() != ErrorCode::kUnavailable && s.code() != ErrorCode::kTimeout) return s;
      last = std::move(s);
      continue;  // ~Impl closes the loop and joins its thread
    }
    if (impl->cluster_map().partitions == 0) {
      // A single node: the Impl never calls its hooks (they name a router
      // about to go), and the Client is one connection, as ever.
      return std::unique_ptr<Client>(new Client(std::move(impl), nullptr));
    }
    router->Adopt(seed, std::move(impl));
    return std::unique_ptr<Client>(new Client(nullptr, std::move(router)));
  }
  return last;
}

namespace {

// A future for the confirm of the publish that `start` makes with the
// callback it is given.
template <typename Start>
std::future<PublishResult> ConfirmFuture(Start start) {
  auto promise = std::make_shared<std::promise<PublishResult>>();
  std::future<PublishResult> result = promise->get_future();
  start([promise](const PublishResult& r) { promise->set_value(r); });
  return result;
}

}  // namespace

Client::Client(std::unique_ptr<Impl> impl, std::unique_ptr<Router> router)
    : impl_(std::move(impl)), router_(std::move(router)) {}

Client::~Client() = default;  // ~Impl (~Router) closes and joins

void Client::PublishAsync(std::string_view queue, std::string_view payload,
                          const PublishOptions& options, ConfirmCallback done) {
  if (router_) return router_->PublishAsync(false, queue, payload, options, std::move(done));
  impl_->PublishAsync(queue, payload, options, std::move(done));
}

std::future<PublishResult> Client::Publish(std::string_view queue, std::string_view payload,
                                           const PublishOptions& options) {
  return ConfirmFuture(
      [&](ConfirmCallback done) { PublishAsync(queue, payload, options, std::move(done)); });
}

Result<SubscriptionId> Client::Subscribe(std::string_view queue, const SubscribeOptions& options,
                                         DeliveryHandler handler) {
  if (router_) return router_->Subscribe(queue, options, std::move(handler));
  return impl_->Subscribe(queue, options, std::move(handler));
}

Status Client::Ack(SubscriptionId subscription, uint64_t seq) {
  return AckRange(subscription, seq, seq);
}

Status Client::AckRange(SubscriptionId subscription, uint64_t first_seq, uint64_t last_seq) {
  if (router_) return router_->AckRange(subscription, first_seq, last_seq);
  return impl_->AckRange(subscription, first_seq, last_seq);
}

Status Client::Nack(SubscriptionId subscription, uint64_t seq, std::chrono::milliseconds delay) {
  if (router_) return router_->Nack(subscription, seq, delay);
  return impl_->Nack(subscription, seq, delay);
}

Status Client::SetCredit(SubscriptionId subscription, uint32_t credit) {
  if (router_) return router_->SetCredit(subscription, credit);
  return impl_->SetCredit(subscription, credit);
}

Status Client::ConfigureQueue(std::string_view queue, const QueueSettings& settings) {
  if (router_) {
    return router_->OnLeaderOf<Status>(
        queue, "ConfigureQueue", [&](Impl& impl) { return impl.ConfigureQueue(queue, settings); });
  }
  return impl_->ConfigureQueue(queue, settings);
}

Status Client::Unsubscribe(SubscriptionId subscription) {
  if (router_) return router_->Unsubscribe(subscription);
  return impl_->Unsubscribe(subscription);
}

void Client::PublishToGroupAsync(std::string_view group, std::string_view payload,
                                 const PublishOptions& options, ConfirmCallback done) {
  if (router_) return router_->PublishAsync(true, group, payload, options, std::move(done));
  impl_->PublishToGroupAsync(group, payload, options, std::move(done));
}

std::future<PublishResult> Client::PublishToGroup(std::string_view group, std::string_view payload,
                                                  const PublishOptions& options) {
  return ConfirmFuture(
      [&](ConfirmCallback done) { PublishToGroupAsync(group, payload, options, std::move(done)); });
}

Status Client::CreateGroup(std::string_view group) {
  if (router_) {
    return router_->OnLeaderOf<Status>(group, "CreateGroup",
                                       [&](Impl& impl) { return impl.CreateGroup(group); });
  }
  return impl_->CreateGroup(group);
}

Result<uint64_t> Client::DeleteGroup(std::string_view group) {
  if (router_) {
    return router_->OnLeaderOf<Result<uint64_t>>(
        group, "DeleteGroup", [&](Impl& impl) { return impl.DeleteGroup(group); });
  }
  return impl_->DeleteGroup(group);
}

Result<uint64_t> Client::AddMembers(std::string_view group,
                                    const std::vector<std::string>& members) {
  if (router_) {
    return router_->OnLeaderOf<Result<uint64_t>>(group, "AddMembers", [&](Impl& impl) {
      return impl.ChangeMembers(/*add=*/true, group, members);
    });
  }
  return impl_->ChangeMembers(/*add=*/true, group, members);
}

Result<uint64_t> Client::RemoveMembers(std::string_view group,
                                       const std::vector<std::string>& members) {
  if (router_) {
    return router_->OnLeaderOf<Result<uint64_t>>(group, "RemoveMembers", [&](Impl& impl) {
      return impl.ChangeMembers(/*add=*/false, group, members);
    });
  }
  return impl_->ChangeMembers(/*add=*/false, group, members);
}

Result<GroupPage> Client::ListGroups(std::string_view prefix, std::string_view after,
                                     uint32_t limit) {
  // Per node in a cluster: the seed's groups.
  Impl& impl = router_ ? router_->seed() : *impl_;
  return impl.ListGroups(prefix, after, limit);
}

Result<MemberPage> Client::ShowGroup(std::string_view group, std::string_view after,
                                     uint32_t limit) {
  if (router_) {
    return router_->OnLeaderOf<Result<MemberPage>>(
        group, "ShowGroup", [&](Impl& impl) { return impl.ShowGroup(group, after, limit); });
  }
  return impl_->ShowGroup(group, after, limit);
}

Result<QueuePage> Client::ListQueues(const QueueListOptions& options) {
  // Per node in a cluster: the seed's queues.
  Impl& impl = router_ ? router_->seed() : *impl_;
  return impl.ListQueues(options);
}

Result<QueueInfo> Client::ShowQueue(std::string_view queue) {
  if (router_) {
    return router_->OnLeaderOf<Result<QueueInfo>>(
        queue, "ShowQueue", [&](Impl& impl) { return impl.ShowQueue(queue); });
  }
  return impl_->ShowQueue(queue);
}

Result<std::vector<PeekedEntry>> Client::PeekQueue(std::string_view queue, uint64_t from_seq,
                                                   uint32_t limit) {
  if (router_) {
    return router_->OnLeaderOf<Result<std::vector<PeekedEntry>>>(
        queue, "PeekQueue", [&](Impl& impl) { return impl.PeekQueue(queue, from_seq, limit); });
  }
  return impl_->PeekQueue(queue, from_seq, limit);
}

Result<uint64_t> Client::PurgeQueue(std::string_view queue) {
  if (router_) {
    return router_->OnLeaderOf<Result<uint64_t>>(
        queue, "PurgeQueue", [&](Impl& impl) { return impl.PurgeQueue(queue, /*forget=*/false); });
  }
  return impl_->PurgeQueue(queue, /*forget=*/false);
}

Result<uint64_t> Client::DeleteQueue(std::string_view queue) {
  if (router_) {
    return router_->OnLeaderOf<Result<uint64_t>>(
        queue, "DeleteQueue", [&](Impl& impl) { return impl.PurgeQueue(queue, /*forget=*/true); });
  }
  return impl_->PurgeQueue(queue, /*forget=*/true);
}

Result<RedriveResult> Client::Redrive(std::string_view dlq, std::string_view to, uint32_t limit) {
  if (router_) {
    return router_->OnLeaderOf<Result<RedriveResult>>(
        dlq, "Redrive", [&](Impl& impl) { return impl.Redrive(dlq, to, limit); });
  }
  return impl_->Redrive(dlq, to, limit);
}

Result<std::vector<ServerStat>> Client::Stats() {
  // Per node in a cluster: the seed's statistics.
  Impl& impl = router_ ? router_->seed() : *impl_;
  return impl.Stats();
}

const ServerInfo& Client::server_info() const {
  return router_ ? router_->seed().server_info() : impl_->server_info();
}

bool Client::connected() const {
  return router_ ? router_->seed().connected() : impl_->connected();
}

void Client::Close() {
  if (router_) return router_->Close();
  impl_->Close();
}

}  // namespace hermod
