// Session: one client connection's protocol state — the handshake, the
// frames it sends decoded into core requests, the permission checks of its
// principal, and what the connection layer needs to know of it (heartbeat,
// auth token, peer address).
//
// Owned by Sessions (sessions.h); freed when its Connection closes
// (OnClosed). Loop thread only.
#ifndef HERMOD_BROKER_SERVER_SESSION_H_
#define HERMOD_BROKER_SERVER_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>

#include "authenticator.h"
#include "net/connection.h"
#include "permission_cache.h"
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
  uint64_t opened_ms = 0;  // the loop's clock when accepted
  // Which token of --auth-token-file let it in (a hash, so no secret is
  // kept per connection); 0 otherwise.
  uint64_t token_id = 0;
  // The principal it acts as; null without authentication or for the
  // token-file principal, which may do everything.
  const PrincipalPtr& principal() const { return principal_; }
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

  // The Hello's credentials were accepted: the session starts (Welcome).
  void Admit(const AuthVerdict& verdict);
  // Whether a Hello waits for its credentials to be checked.
  bool authenticating() const { return authenticating_; }

 private:
  bool HandleHello(const wire::Hello& hello);
  void HandlePublish(const wire::Publish& publish);
  void HandleConfigure(const wire::ConfigureQueue& configure);
  void HandleGroupRequest(const wire::GroupRequest& request);
  void HandleQueueRequest(const wire::QueueRequest& request);
  void HandleStats(const wire::StatsRequest& request);
  void HandleMapRequest(const wire::MapRequest& request);
  // OK when the principal may do `op` with the queue or group `name`; else
  // the kPermissionDenied status to answer with, counted in denied_total.
  // `what` names the operation for that message ("publish to queue").
  Status Permit(Operation op, std::string_view what, std::string_view name);
  // The same for operations only admins may do.
  Status PermitAdmin(std::string_view what, std::string_view name);
  Status Denied(std::string_view what, std::string_view name);

  Sessions* sessions_;
  net::Connection* conn_;
  core::ClientId client_id_;
  bool greeted_ = false;
  bool authenticating_ = false;
  bool sent_before_welcome_ = false;  // frames came while authenticating_
  bool close_when_drained_ = false;
  PrincipalPtr principal_;
  std::unique_ptr<PermissionCache> permissions_;  // made on the first check
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_SESSION_H_
