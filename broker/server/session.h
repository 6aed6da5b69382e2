// Session: one client connection's protocol state — the handshake, the
// frames it sends decoded into core requests, and what the connection layer
// needs to know of it (heartbeat, auth token, peer address).
//
// Owned by Sessions (sessions.h); freed when its Connection closes
// (OnClosed). Loop thread only.
#ifndef HERMOD_BROKER_SERVER_SESSION_H_
#define HERMOD_BROKER_SERVER_SESSION_H_

#include <cstdint>
#include <string>

#include "net/connection.h"
#include "service.h"

namespace hermod::server {

class Sessions;

class Session final : public net::Connection::Handler, public core::ClientPort {
 public:
  Session(Sessions* sessions, net::Connection* conn, core::ClientId client_id)
      : sessions_(sessions), conn_(conn), client_id_(client_id) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  core::ClientId client_id() const { return client_id_; }
  // Loop time of the last frame from the client (or of the accept).
  uint64_t last_heard_ms = 0;
  // Which auth token let it in (a hash, so no secret is kept per
  // connection); 0 without authentication.
  uint64_t token_hash = 0;
  // Its place in Sessions' heartbeat list.
  size_t list_index = 0;
  // Whether the core knows this client (from a good Hello on).
  bool greeted() const { return greeted_; }
  net::Connection* connection() { return conn_; }
  bool closing() const { return conn_->closing(); }

  // core::ClientPort
  void Deliver(const core::Delivery& delivery) override;
  bool CanDeliver() override;

  // net::Connection::Handler
  bool OnFrame(net::Connection& conn, const wire::Frame& frame) override;
  void OnBadInput(net::Connection& conn, const Status& why) override;
  void OnDrained(net::Connection& conn) override;
  void OnClosed(net::Connection& conn, const Status& why) override;

  // Sends an Error frame; a fatal one also closes the connection.
  void SendError(const Status& status, uint64_t correlation_id, bool fatal);
  void Send(std::span<const uint8_t> frame) { conn_->Send(frame); }

  // Graceful shutdown: close once pending output is written.
  void CloseWhenDrained();

 private:
  bool HandleHello(const wire::Hello& hello);
  void HandlePublish(const wire::Publish& publish);
  void HandleConfigure(const wire::ConfigureQueue& configure);
  void HandleGroupRequest(const wire::GroupRequest& request);
  void HandleQueueRequest(const wire::QueueRequest& request);
  void HandleStats(const wire::StatsRequest& request);
  void HandleMapRequest(const wire::MapRequest& request);

  Sessions* sessions_;
  net::Connection* conn_;
  core::ClientId client_id_;
  bool greeted_ = false;
  bool close_when_drained_ = false;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_SESSION_H_
