// hermod::Client: the public face of libhermod. Each method forwards to
// Client::Impl (client_impl.h), which owns the loop thread; see client.h for
// the contracts and the thread rules.
#include "hermod/client.h"

#include "client_impl.h"

namespace hermod {

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  Status s = impl->Start();
  if (!s.ok()) return s;  // ~Impl closes the loop and joins its thread
  return std::unique_ptr<Client>(new Client(std::move(impl)));
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

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() = default;  // ~Impl closes and joins

void Client::PublishAsync(std::string_view queue, std::string_view payload,
                          const PublishOptions& options, ConfirmCallback done) {
  impl_->PublishAsync(queue, payload, options, std::move(done));
}

std::future<PublishResult> Client::Publish(std::string_view queue, std::string_view payload,
                                           const PublishOptions& options) {
  return ConfirmFuture(
      [&](ConfirmCallback done) { impl_->PublishAsync(queue, payload, options, std::move(done)); });
}

Result<SubscriptionId> Client::Subscribe(std::string_view queue, const SubscribeOptions& options,
                                         DeliveryHandler handler) {
  return impl_->Subscribe(queue, options, std::move(handler));
}

Status Client::Ack(SubscriptionId subscription, uint64_t seq) {
  return impl_->AckRange(subscription, seq, seq);
}

Status Client::AckRange(SubscriptionId subscription, uint64_t first_seq, uint64_t last_seq) {
  return impl_->AckRange(subscription, first_seq, last_seq);
}

Status Client::Nack(SubscriptionId subscription, uint64_t seq, std::chrono::milliseconds delay) {
  return impl_->Nack(subscription, seq, delay);
}

Status Client::SetCredit(SubscriptionId subscription, uint32_t credit) {
  return impl_->SetCredit(subscription, credit);
}

Status Client::ConfigureQueue(std::string_view queue, const QueueSettings& settings) {
  return impl_->ConfigureQueue(queue, settings);
}

Status Client::Unsubscribe(SubscriptionId subscription) { return impl_->Unsubscribe(subscription); }

void Client::PublishToGroupAsync(std::string_view group, std::string_view payload,
                                 const PublishOptions& options, ConfirmCallback done) {
  impl_->PublishToGroupAsync(group, payload, options, std::move(done));
}

std::future<PublishResult> Client::PublishToGroup(std::string_view group, std::string_view payload,
                                                  const PublishOptions& options) {
  return ConfirmFuture([&](ConfirmCallback done) {
    impl_->PublishToGroupAsync(group, payload, options, std::move(done));
  });
}

Status Client::CreateGroup(std::string_view group) { return impl_->CreateGroup(group); }

Result<uint64_t> Client::DeleteGroup(std::string_view group) { return impl_->DeleteGroup(group); }

Result<uint64_t> Client::AddMembers(std::string_view group,
                                    const std::vector<std::string>& members) {
  return impl_->ChangeMembers(/*add=*/true, group, members);
}

Result<uint64_t> Client::RemoveMembers(std::string_view group,
                                       const std::vector<std::string>& members) {
  return impl_->ChangeMembers(/*add=*/false, group, members);
}

Result<GroupPage> Client::ListGroups(std::string_view prefix, std::string_view after,
                                     uint32_t limit) {
  return impl_->ListGroups(prefix, after, limit);
}

Result<MemberPage> Client::ShowGroup(std::string_view group, std::string_view after,
                                     uint32_t limit) {
  return impl_->ShowGroup(group, after, limit);
}

Result<QueuePage> Client::ListQueues(const QueueListOptions& options) {
  return impl_->ListQueues(options);
}

Result<QueueInfo> Client::ShowQueue(std::string_view queue) { return impl_->ShowQueue(queue); }

Result<std::vector<PeekedEntry>> Client::PeekQueue(std::string_view queue, uint64_t from_seq,
                                                   uint32_t limit) {
  return impl_->PeekQueue(queue, from_seq, limit);
}

Result<uint64_t> Client::PurgeQueue(std::string_view queue) {
  return impl_->PurgeQueue(queue, /*forget=*/false);
}

Result<uint64_t> Client::DeleteQueue(std::string_view queue) {
  return impl_->PurgeQueue(queue, /*forget=*/true);
}

Result<std::vector<ServerStat>> Client::Stats() { return impl_->Stats(); }

const ServerInfo& Client::server_info() const { return impl_->server_info(); }

bool Client::connected() const { return impl_->connected(); }

void Client::Close() { impl_->Close(); }

}  // namespace hermod
