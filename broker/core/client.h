// Client: what the core keeps for one client (a connection, to the server
// layer): its subscriptions, and the replies it is owed once their batches
// commit, in request order. Owned by the Broker from Connect() to
// Disconnect(). Loop thread only.
#ifndef HERMOD_BROKER_CORE_CLIENT_H_
#define HERMOD_BROKER_CORE_CLIENT_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "queue.h"
#include "ring.h"
#include "service.h"

namespace hermod::core {

// A reply waiting for its batch to commit.
struct PendingReply {
  enum Kind : uint8_t { kPublish, kDuplicate, kConfigure, kGroup, kRedrive };
  BatchNo batch_no = 0;
  uint64_t correlation_id = 0;
  MsgId msg_id = 0;        // kPublish, kDuplicate
  Seq seq = 0;             // kPublish, kDuplicate (0 for a group publish)
  uint64_t changed = 0;    // kGroup: members (or groups) changed; kRedrive: entries moved
  uint64_t remaining = 0;  // kRedrive: entries left in the dead-letter queue
  Kind kind = kPublish;
  bool failed = false;  // its batch failed: the reply is an error (Broker::batch_failure_)
};

class Client {
 public:
  Client(ClientId client_id, ClientPort* port) : client_id_(client_id), port_(port) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  ClientId client_id() const { return client_id_; }
  ClientPort* port() const { return port_; }
  // A client inside the node: its replies go here, not to Output.
  InternalReplies* internal = nullptr;

  Ring<PendingReply>& replies() { return replies_; }
  // The newest batch holding one of this client's replies.
  BatchNo last_reply_batch = 0;

  // Its subscriptions, sorted by id: every ack and credit looks one up, and
  // a client may hold thousands (binary search, no per-client map).
  Consumer* FindConsumer(SubscriptionId subscription_id) {
    auto it = LowerBound(subscription_id);
    return it != consumers_.end() && (*it)->subscription_id == subscription_id ? it->get()
                                                                               : nullptr;
  }
  // REQUIRES: no consumer of that id.
  void AddConsumer(std::unique_ptr<Consumer> consumer) {
    auto it = LowerBound(consumer->subscription_id);
    consumers_.insert(it, std::move(consumer));
  }
  // Removes and returns the consumer of that id (null if none).
  std::unique_ptr<Consumer> TakeConsumer(SubscriptionId subscription_id) {
    auto it = LowerBound(subscription_id);
    if (it == consumers_.end() || (*it)->subscription_id != subscription_id) return nullptr;
    std::unique_ptr<Consumer> c = std::move(*it);
    consumers_.erase(it);
    return c;
  }
  std::vector<std::unique_ptr<Consumer>>& consumers() { return consumers_; }
  const std::vector<std::unique_ptr<Consumer>>& consumers() const { return consumers_; }

 private:
  std::vector<std::unique_ptr<Consumer>>::iterator LowerBound(SubscriptionId subscription_id) {
    return std::lower_bound(consumers_.begin(), consumers_.end(), subscription_id,
                            [](const std::unique_ptr<Consumer>& c, SubscriptionId id) {
                              return c->subscription_id < id;
                            });
  }

  ClientId client_id_;
  ClientPort* port_;
  Ring<PendingReply> replies_;
  std::vector<std::unique_ptr<Consumer>> consumers_;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_CLIENT_H_
