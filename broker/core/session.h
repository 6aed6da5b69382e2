// Session: one client connection's protocol state — the handshake, its
// subscriptions, and the confirms it is owed — and the dispatch of its
// frames to the Broker.
//
// Owned by the Broker's session registry; freed when its Connection closes
// (OnClosed). Loop thread only.
#ifndef HERMOD_BROKER_CORE_SESSION_H_
#define HERMOD_BROKER_CORE_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "connection.h"
#include "pipeline.h"
#include "queue.h"
#include "ring.h"

namespace hermod::core {

class Broker;

class Session final : public net::Connection::Handler {
 public:
  Session(Broker* broker, net::Connection* conn, ConnId conn_id)
      : broker_(broker), conn_(conn), conn_id_(conn_id) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  ConnId conn_id() const { return conn_id_; }
  // Loop time of the last frame from the client (or of the accept).
  uint64_t last_heard_ms = 0;
  // Which auth token let it in (a hash, so no secret is kept per
  // connection); 0 without authentication.
  uint64_t token_hash = 0;
  // Its place in Broker::session_list_.
  size_t list_index = 0;
  // The peer's IP address ("HOST" of peer()), counted in Broker::per_ip_.
  std::string ip;
  net::Connection* connection() { return conn_; }
  bool closing() const { return conn_->closing(); }

  // net::Connection::Handler
  bool OnFrame(net::Connection& conn, const wire::Frame& frame) override;
  void OnBadInput(net::Connection& conn, const Status& why) override;
  void OnDrained(net::Connection& conn) override;
  void OnClosed(net::Connection& conn, const Status& why) override;

  // Sends an Error frame; a fatal one also closes the connection.
  void SendError(const Status& status, uint64_t correlation_id, bool fatal);
  void Send(std::span<const uint8_t> frame) { conn_->Send(frame); }

  // A reply waiting for its batch to commit: a publish confirm (or its
  // duplicate), a ConfigureQueueOk, or a GroupReply (msg_id holds its
  // `changed` count).
  struct PendingConfirm {
    enum Kind : uint8_t { kPublish, kDuplicate, kConfigure, kGroup };
    BatchNo batch_no = 0;
    uint64_t correlation_id = 0;
    MsgId msg_id = 0;
    Seq seq = 0;
    Kind kind = kPublish;
    bool failed = false;  // its batch failed: the reply is an error (Broker::batch_failure_)
  };
  Ring<PendingConfirm>& confirms() { return confirms_; }
  // The newest batch holding one of this session's confirms.
  BatchNo last_confirm_batch = 0;

  Consumer* FindConsumer(SubscriptionId subscription_id);
  std::vector<std::unique_ptr<Consumer>>& consumers() { return consumers_; }

  // Graceful shutdown: close once pending output is written.
  void CloseWhenDrained();

 private:
  bool HandleHello(const wire::Hello& hello);

  Broker* broker_;
  net::Connection* conn_;
  ConnId conn_id_;
  bool greeted_ = false;
  bool close_when_drained_ = false;
  std::string client_name_;
  Ring<PendingConfirm> confirms_;
  std::vector<std::unique_ptr<Consumer>> consumers_;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_SESSION_H_
