// Sessions: the server layer between connections and the core. It accepts
// connections (connection limits, auth tokens, heartbeats), owns their
// Sessions, and implements core::Output by encoding what the core reports
// into frames for the right connection. It also runs the graceful stop:
// reading stops, the core drains its batches, then connections close once
// their output is written.
//
// Loop thread only.
#ifndef HERMOD_BROKER_SERVER_SESSIONS_H_
#define HERMOD_BROKER_SERVER_SESSIONS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "authenticator.h"
#include "broker.h"
#include "clock.h"
#include "frame_codec.h"
#include "net/connection.h"
#include "net/loop.h"
#include "net/timer.h"
#include "service.h"
#include "session.h"

namespace hermod::server {

// Connection-level settings (the rest of hermodd's are the core's).
struct SessionOptions {
  // Largest inbound frame (the length prefix's value); Welcome tells clients.
  uint32_t max_frame_bytes = proto::kDefaultMaxFrameBytes;
  // Connections open at once at most; one more gets a fatal
  // Error{kLimitExceeded} and is closed. 0: no limit but the process's
  // file descriptors.
  uint32_t max_connections = 0;
  // Connections open at once from one IP address at most. 0: no limit.
  uint32_t max_connections_per_ip = 0;
  // Clients send a frame at least this often (a Ping when idle; Welcome
  // tells them); a connection silent for twice as long is closed. 0: none.
  uint32_t heartbeat_ms = 30000;
  // Deliveries to a connection pause while this much of its output is
  // unwritten, and resume once it drains.
  uint64_t delivery_high_water = 4 << 20;
  // Tokens a Hello without a principal must carry one of (the token-file
  // principal, which may do everything).
  std::vector<std::string> auth_tokens;
  // Principals a Hello may name (docs/security.md). With neither tokens
  // nor principals: no authentication.
  PrincipalSet principals;
  // How credentials are checked and failures slowed down.
  AuthOptions auth;
};

// The partition map as a client sees it (MapReply), from the cluster layer
// in cluster mode. A plain struct, so that this layer does not depend on
// cluster/: the Server fills it (set_cluster_map).
struct ClusterMapInfo {
  struct Route {
    std::string leader_address;  // the leader's client address; empty: leaderless now
    uint64_t epoch = 0;
  };
  uint32_t partitions = 0;    // 0: not a cluster
  std::vector<Route> routes;  // `partitions` of them, indexed by partition
};

// Statistics of the connection layer.
struct SessionStatistics {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over a connection limit
  uint64_t heartbeat_timeouts = 0;   // closed for silence
  uint64_t auth_failures = 0;        // Hellos without valid credentials
  uint64_t denied = 0;               // operations a principal may not do
};

class Sessions final : public core::Output {
 public:
  Sessions(net::Loop* loop, const SessionOptions& options);
  ~Sessions() override;
  Sessions(const Sessions&) = delete;
  Sessions& operator=(const Sessions&) = delete;

  // REQUIRES: before Start(); the broker outlives this.
  void set_broker(core::Broker* broker) { broker_ = broker; }
  // Where MapRequest's answer comes from: the current map, or an error sent
  // back as an Error (kUnavailable: this cluster node has no map yet).
  // Unset (a single node): MapReply with partitions 0.
  void set_cluster_map(std::function<Result<ClusterMapInfo>()> source) {
    cluster_map_ = std::move(source);
  }
  // The answer to MapRequest (see set_cluster_map).
  Result<ClusterMapInfo> ClusterMap() const {
    return cluster_map_ ? cluster_map_() : Result<ClusterMapInfo>(ClusterMapInfo{});
  }
  // Starts the heartbeat check.
  void Start();

  // A new connection: returns its handler (a Session).
  net::Connection::Handler* Accept(net::Connection& conn);

  // Checks a Hello's credentials, then calls session.Admit() (now or
  // later), or answers a refusal with a fatal Error{kUnauthenticated}
  // after the delay of its address; counts and logs a refusal.
  void Authenticate(Session& session, std::string_view principal, std::string_view token);
  // Replaces the accepted tokens and principals (SIGHUP) and closes the
  // connections let in with a token no longer accepted, as a principal
  // that is gone or whose token_hash changed (kUnauthenticated), or as a
  // principal whose permissions changed (kPermissionDenied: the client
  // reconnects under the new ones). Returns how many it closed.
  size_t SetCredentials(std::vector<std::string> tokens, PrincipalSet principals);
  // Credentials, for /metrics' bearer token.
  Authenticator& authenticator() { return authenticator_; }
  // A Session refused an operation to its principal.
  void CountDenied() { ++stats_.denied; }
  // Counts a refusal of credentials (also /metrics').
  void CountAuthFailure() { ++stats_.auth_failures; }
  // Runs fn on the loop after delay_ms, unless the broker stops first
  // (then fn is destroyed without running). For refusals that wait.
  void RunLater(uint64_t delay_ms, std::function<void()> fn);

  // Graceful stop: stops reading from clients, lets the core commit what was
  // received and send the confirms, closes every connection once its output
  // is written (or after a deadline), closes the core's timers, then calls
  // done.
  void Shutdown(std::function<void()> done);
  // Closes the timers when Start() ran but Shutdown() never finished.
  void Close();

  // Every statistic, the connection layer's then the core's: `hermod stats`
  // and /metrics show this one list.
  std::vector<core::StatValue> Stats();
  // More statistics, appended to Stats() (the cluster's replicator).
  void set_extra_stats(std::function<std::vector<core::StatValue>()> extra) {
    extra_stats_ = std::move(extra);
  }

  // Clients of the core that are not connections (the web console's
  // operations, http_service.h): the core's answers to them go to their
  // function instead of a connection. The caller connects the returned id
  // to the core, and removes it after disconnecting it.
  struct LocalAnswer {
    Status status;           // not OK: the request failed
    uint64_t count = 0;      // removed (purge, delete), moved (redrive), changed (group)
    uint64_t remaining = 0;  // redrive: entries left
  };
  using LocalAnswerFn = std::function<void(uint64_t correlation_id, const LocalAnswer& answer)>;
  core::ClientId AddLocalClient(LocalAnswerFn answer);
  void RemoveLocalClient(core::ClientId client_id) { local_.erase(client_id); }

  // One open connection, for the console's connections page.
  struct ConnectionInfo {
    core::ClientId id = 0;
    std::string peer;
    std::string principal;  // empty: none (no authentication, or the token file's)
    bool tls = false;
    uint64_t age_ms = 0;
    uint64_t pending_output_bytes = 0;
    std::vector<core::SubscriptionInfo> subscriptions;
  };
  // Up to `limit` open connections with ids above `after`, by id.
  std::vector<ConnectionInfo> ListConnections(core::ClientId after, size_t limit) const;

  core::Broker& broker() { return *broker_; }
  proto::FrameEncoder& encoder() { return encoder_; }
  const SessionOptions& options() const { return options_; }
  uint64_t loop_ms() const { return loop_->now_ms(); }
  size_t size() const { return sessions_.size(); }

  // From Session.
  void Greeted(Session& session);
  void SessionClosed(Session& session, const Status& why);
  // The peer address of a client, for `queue show`.
  std::string PeerOf(core::ClientId client_id) const;
  // Scratch for decoding a publish's headers (no allocation per publish).
  std::vector<core::Header>& header_scratch() { return header_scratch_; }

  // core::Output
  void PublishConfirmed(core::ClientId client, uint64_t correlation_id, core::MsgId msg_id,
                        core::Seq seq, bool duplicate) override;
  void PublishFailed(core::ClientId client, uint64_t correlation_id, const Status& status) override;
  void Subscribed(core::ClientId client, uint64_t correlation_id,
                  core::SubscriptionId subscription_id) override;
  void QueueConfigured(core::ClientId client, uint64_t correlation_id) override;
  void GroupChanged(core::ClientId client, uint64_t correlation_id, uint64_t changed) override;
  void QueuePurged(core::ClientId client, uint64_t correlation_id, uint64_t removed) override;
  void QueueRedriven(core::ClientId client, uint64_t correlation_id, uint64_t moved,
                     uint64_t remaining) override;
  void Error(core::ClientId client, const Status& status, uint64_t correlation_id,
             bool fatal) override;
  void PauseReading(core::ClientId client) override;
  void ResumeReading(core::ClientId client) override;

 private:
  Session* Find(core::ClientId client_id) const;
  // Answers a local client; false when `client` is not one.
  bool AnswerLocal(core::ClientId client, uint64_t correlation_id, LocalAnswer answer);
  void OnHeartbeatTimer();
  void MaybeFinishShutdown();
  void Refuse(Session& session, bool no_token);
  PrincipalPtr CredentialPrincipal(Session& session, std::string_view named) const;
  void OnRefusalTimer();

  net::Loop* loop_;
  SessionOptions options_;
  core::Broker* broker_ = nullptr;
  std::function<Result<ClusterMapInfo>()> cluster_map_;
  proto::FrameEncoder encoder_;
  SessionStatistics stats_;
  std::vector<core::Header> header_scratch_;

  core::ClientId next_client_id_ = 1;
  std::unordered_map<core::ClientId, std::unique_ptr<Session>> sessions_;
  // The sessions again, in a vector the heartbeat walks in slices
  // (Session::list_index is each one's place).
  std::vector<Session*> session_list_;
  // Open sessions per peer IP address; only kept when that limit is set.
  std::unordered_map<std::string, uint32_t> per_ip_;

  Authenticator authenticator_;
  // Refusals waiting for their address's delay, soonest first.
  struct Refusal {
    uint64_t due_ms;
    std::function<void()> fn;
    bool operator>(const Refusal& other) const { return due_ms > other.due_ms; }
  };
  std::priority_queue<Refusal, std::vector<Refusal>, std::greater<>> refusals_;
  net::Timer refusal_timer_;

  net::Timer heartbeat_timer_;
  static constexpr uint32_t kHeartbeatSlices = 64;
  uint32_t heartbeat_slices_ = 1;  // ticks per heartbeat period
  size_t heartbeat_cursor_ = 0;    // where the next tick's slice starts

  bool shutting_down_ = false;
  bool drained_ = false;  // the core committed and confirmed everything
  bool closing_sessions_ = false;
  std::function<void()> shutdown_done_;
  net::Timer shutdown_timer_;
  std::function<std::vector<core::StatValue>()> extra_stats_;
  std::unordered_map<core::ClientId, LocalAnswerFn> local_;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_SESSIONS_H_
