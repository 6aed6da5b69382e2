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

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() = default;  // ~Impl closes and joins

void Client::PublishAsync(std::string_view queue, std::string_view payload,
                          const PublishOptions& options, ConfirmCallback done) {
  impl_->PublishAsync(queue, payload, options, std::move(done));
}

std::future<PublishResult> Client::Publish(std::string_view queue, std::string_view payload,
                                           const PublishOptions& options) {
  auto promise = std::make_shared<std::promise<PublishResult>>();
  std::future<PublishResult> result = promise->get_future();
  impl_->PublishAsync(queue, payload, options,
                      [promise](const PublishResult& r) { promise->set_value(r); });
  return result;
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

const ServerInfo& Client::server_info() const { return impl_->server_info(); }

bool Client::connected() const { return impl_->connected(); }

void Client::Close() { impl_->Close(); }

}  // namespace hermod
