// Client: what the core keeps for one client (a connection, to the server
// layer): its subscriptions, and the replies it is owed once their batches
// commit, in request order. Owned by the Broker from Connect() to
// Disconnect(). Loop thread only.
#ifndef HERMOD_BROKER_CORE_CLIENT_H_
#define HERMOD_BROKER_CORE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "queue.h"
#include "ring.h"
#include "service.h"

namespace hermod::core {

// A reply waiting for its batch to commit.
struct PendingReply {
  enum Kind : uint8_t { kPublish, kDuplicate, kConfigure, kGroup };
  BatchNo batch_no = 0;
  uint64_t correlation_id = 0;
  MsgId msg_id = 0;      // kPublish, kDuplicate
  Seq seq = 0;           // kPublish, kDuplicate (0 for a group publish)
  uint64_t changed = 0;  // kGroup: members (or groups) changed
  Kind kind = kPublish;
  bool failed = false;  // its batch failed: the reply is an error (Broker::batch_failure_)
};

class Client {
 public:
  explicit Client(ClientId client_id) : client_id_(client_id) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  ClientId client_id() const { return client_id_; }

  Ring<PendingReply>& replies() { return replies_; }
  // The newest batch holding one of this client's replies.
  BatchNo last_reply_batch = 0;

  Consumer* FindConsumer(SubscriptionId subscription_id) {
    for (auto& c : consumers_) {
      if (c->subscription_id == subscription_id) return c.get();
    }
    return nullptr;
  }
  std::vector<std::unique_ptr<Consumer>>& consumers() { return consumers_; }

 private:
  ClientId client_id_;
  Ring<PendingReply> replies_;
  std::vector<std::unique_ptr<Consumer>> consumers_;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_CLIENT_H_
