#include "sessions.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "hermod/version.h"
#include "wire_envelope.h"

namespace hermod::server {

namespace {

// A connection's IP address: peer() is "HOST:PORT" ("[v6]:PORT" for IPv6),
// so what precedes the last colon. Counted per address when
// --max-connections-per-ip is set.
std::string_view PeerHost(const net::Connection& conn) {
  std::string_view peer = conn.peer();
  return peer.substr(0, peer.rfind(':'));
}

// How long a graceful stop waits for clients to read their last confirms.
constexpr uint64_t kShutdownDrainMs = 5000;

uint64_t OwnRssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long pages_total = 0, pages_resident = 0;
  int n = std::fscanf(f, "%lu %lu", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace

Sessions::Sessions(net::Loop* loop, const SessionOptions& options)
    : loop_(loop), options_(options), authenticator_(loop, options.auth) {
  authenticator_.SetTokens(options_.auth_tokens);
  authenticator_.SetPrincipals(options_.principals);
}

Sessions::~Sessions() = default;

void Sessions::Start() {
  heartbeat_timer_.Init(*loop_, [this] { OnHeartbeatTimer(); });
  refusal_timer_.Init(*loop_, [this] { OnRefusalTimer(); });
  if (options_.heartbeat_ms != 0) {
    // The sessions are checked in slices, one per tick, a full pass per
    // period: one pass at once over a million connections stalls the loop
    // for tens of milliseconds (measured ~40 ns a session).
    heartbeat_slices_ = std::clamp<uint32_t>(options_.heartbeat_ms / 10, 1, kHeartbeatSlices);
    uint64_t tick = options_.heartbeat_ms / heartbeat_slices_;
    heartbeat_timer_.Start(tick, tick);
    heartbeat_timer_.Unref();
  }
}

void Sessions::Close() {
  heartbeat_timer_.Close();
  refusal_timer_.Close();
  shutdown_timer_.Close();
  broker_->Close();
}

Session* Sessions::Find(core::ClientId client_id) const {
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

core::ClientId Sessions::AddLocalClient(LocalAnswerFn answer) {
  core::ClientId client_id = next_client_id_++;
  local_.emplace(client_id, std::move(answer));
  return client_id;
}

bool Sessions::AnswerLocal(core::ClientId client, uint64_t correlation_id, LocalAnswer answer) {
  auto it = local_.find(client);
  if (it == local_.end()) return false;
  it->second(correlation_id, answer);
  return true;
}

std::vector<Sessions::ConnectionInfo> Sessions::ListConnections(core::ClientId after,
                                                                size_t limit) const {
  std::vector<core::ClientId> ids;
  for (const auto& [id, session] : sessions_) {
    if (id > after) ids.push_back(id);
  }
  const size_t n = std::min(limit, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end());
  std::vector<ConnectionInfo> out;
  out.reserve(n);
  const uint64_t now = loop_->now_ms();
  for (size_t i = 0; i < n; ++i) {
    Session& session = *sessions_.at(ids[i]);
    const net::Connection& conn = *session.connection();
    ConnectionInfo info;
    info.id = ids[i];
    info.peer = conn.peer();
    if (session.principal() != nullptr) info.principal = session.principal()->name;
    info.tls = conn.tls();
    info.age_ms = now - std::min(now, session.opened_ms);
    info.pending_output_bytes = conn.pending_output();
    if (session.greeted()) info.subscriptions = broker_->ClientSubscriptions(info.id);
    out.push_back(std::move(info));
  }
  return out;
}

std::string Sessions::PeerOf(core::ClientId client_id) const {
  Session* s = Find(client_id);
  return s != nullptr ? s->connection()->peer() : std::string();
}

// ---------------------------------------------------------------------------
// Connections

net::Connection::Handler* Sessions::Accept(net::Connection& conn) {
  if (shutting_down_) return nullptr;
  core::ClientId client_id = next_client_id_++;
  // Over the limit, the connection still gets a session, only to be told
  // why it is closed.
  bool over = options_.max_connections != 0 && sessions_.size() >= options_.max_connections;
  auto session = std::make_unique<Session>(this, &conn, client_id);
  bool over_ip = false;
  if (options_.max_connections_per_ip != 0) {
    over_ip = ++per_ip_[std::string(PeerHost(conn))] > options_.max_connections_per_ip;
  }
  session->last_heard_ms = loop_->now_ms();
  session->opened_ms = session->last_heard_ms;
  Session* raw = session.get();
  sessions_.emplace(client_id, std::move(session));
  raw->list_index = session_list_.size();
  session_list_.push_back(raw);
  ++stats_.connections_accepted;
  spdlog::info("connection {} from {} opened", client_id, conn.peer());
  if (over) {
    ++stats_.connections_refused;
    raw->SendError(Status(ErrorCode::kLimitExceeded, "too many connections: this broker takes " +
                                                         std::to_string(options_.max_connections) +
                                                         " at once (--max-connections)"),
                   0, /*fatal=*/true);
  } else if (over_ip) {
    ++stats_.connections_refused;
    raw->SendError(
        Status(ErrorCode::kLimitExceeded, "too many connections from " +
                                              std::string(PeerHost(conn)) + ": this broker takes " +
                                              std::to_string(options_.max_connections_per_ip) +
                                              " per address (--max-connections-per-ip)"),
        0, /*fatal=*/true);
  }
  return raw;
}

void Sessions::Greeted(Session& session) { broker_->Connect(session.client_id(), &session); }

// A principal that lets this connection in without a token: by the
// subject CN of its verified client certificate, or by the uid of its Unix
// socket peer. `named`: the Hello's principal (empty: any that fits).
PrincipalPtr Sessions::CredentialPrincipal(Session& session, std::string_view named) const {
  const PrincipalSet& principals = authenticator_.principals();
  const net::Connection& conn = *session.connection();
  if (const std::string& subject = conn.peer_subject(); !subject.empty()) {
    PrincipalPtr p = principals.Find(subject);
    if (p != nullptr && p->certificate && (named.empty() || named == subject)) return p;
  }
  if (const auto& creds = conn.peer_credentials(); creds.has_value()) {
    PrincipalPtr p = named.empty() ? principals.FindByUid(creds->uid) : principals.Find(named);
    if (p != nullptr && p->unix_uid == creds->uid) return p;
  }
  return nullptr;
}

void Sessions::Authenticate(Session& session, std::string_view principal, std::string_view token) {
  const core::ClientId client_id = session.client_id();
  const bool no_token = token.empty();
  if (no_token) {
    if (PrincipalPtr p = CredentialPrincipal(session, principal); p != nullptr) {
      spdlog::info("connection {} from {}: principal {} by its {}", client_id,
                   session.connection()->peer(), p->name,
                   session.connection()->peer_subject().empty() ? "uid" : "certificate");
      AuthVerdict verdict;
      verdict.ok = true;
      verdict.principal = std::move(p);
      session.Admit(verdict);
      return;
    }
  }
  authenticator_.Check(
      principal, token, std::string(PeerHost(*session.connection())),
      [this, client_id] {
        Session* s = Find(client_id);
        return s != nullptr && !s->closing() && !shutting_down_;
      },
      [this, client_id, no_token](const AuthVerdict& verdict) {
        Session* s = Find(client_id);
        // Gone, or the broker is stopping (and closes it).
        if (s == nullptr || s->closing() || shutting_down_) return;
        if (verdict.ok) {
          s->Admit(verdict);
        } else if (verdict.busy) {
          ++stats_.connections_refused;
          s->SendError(
              Status(ErrorCode::kLimitExceeded,
                     "too many credential checks from " + std::string(PeerHost(*s->connection())) +
                         " at once (--auth-max-pending-per-ip); try again"),
              0, /*fatal=*/true);
        } else {
          Refuse(*s, no_token);
        }
      });
}

void Sessions::Refuse(Session& session, bool no_token) {
  ++stats_.auth_failures;
  const std::string address(PeerHost(*session.connection()));
  const uint64_t delay = authenticator_.RecordFailure(address);
  spdlog::warn("connection {} from {}: {}; refused in {} ms", session.client_id(),
               session.connection()->peer(),
               no_token ? "no auth token" : "unknown principal or wrong token", delay);
  // Nothing more is read from it; the answer waits for the delay, so that
  // guessing costs time even over many connections from one address.
  session.connection()->PauseReading();
  RunLater(delay, [this, client_id = session.client_id(), no_token] {
    Session* s = Find(client_id);
    if (s == nullptr || s->closing()) return;
    // One message whatever was wrong: the name, the token, or both.
    s->SendError(
        Status(ErrorCode::kUnauthenticated, no_token ? "this broker requires an auth token"
                                                     : "the principal or auth token is not valid"),
        0, /*fatal=*/true);
  });
}

void Sessions::RunLater(uint64_t delay_ms, std::function<void()> fn) {
  const uint64_t due = loop_->now_ms() + delay_ms;
  const bool sooner = refusals_.empty() || due < refusals_.top().due_ms;
  refusals_.push(Refusal{due, std::move(fn)});
  if (sooner) refusal_timer_.Start(delay_ms);
}

void Sessions::OnRefusalTimer() {
  const uint64_t now = loop_->now_ms();
  while (!refusals_.empty() && refusals_.top().due_ms <= now) {
    // Moved out before it runs: fn may add refusals of its own.
    std::function<void()> fn = std::move(const_cast<Refusal&>(refusals_.top()).fn);
    refusals_.pop();
    fn();
  }
  if (!refusals_.empty()) refusal_timer_.Start(refusals_.top().due_ms - now);
}

size_t Sessions::SetCredentials(std::vector<std::string> tokens, PrincipalSet principals) {
  options_.auth_tokens = tokens;
  authenticator_.SetTokens(std::move(tokens));
  authenticator_.SetPrincipals(std::move(principals));
  const PrincipalSet& now = authenticator_.principals();
  // Collected first: closing a connection must not change the map walked.
  std::vector<std::pair<Session*, Status>> closed;
  for (auto& [client_id, session] : sessions_) {
    if (session->closing() || !session->greeted()) continue;
    if (session->token_id != 0) {
      if (!authenticator_.HasTokenId(session->token_id)) {
        closed.emplace_back(session.get(),
                            Status(ErrorCode::kUnauthenticated, "the auth token was revoked"));
      }
      continue;
    }
    const PrincipalPtr& had = session->principal();
    if (had == nullptr) continue;
    PrincipalPtr current = now.Find(had->name);
    if (current == nullptr || current->token_hash != had->token_hash) {
      closed.emplace_back(session.get(),
                          Status(ErrorCode::kUnauthenticated,
                                 "the auth token of principal " + had->name + " was revoked"));
    } else if (current->Rules() != had->Rules()) {
      closed.emplace_back(session.get(),
                          Status(ErrorCode::kPermissionDenied,
                                 "the permissions of principal " + had->name +
                                     " changed: reconnect to act under the new ones"));
    }
  }
  for (auto& [s, why] : closed) {
    spdlog::warn("connection {} from {}: {}", s->client_id(), s->connection()->peer(),
                 why.message());
    s->SendError(why, 0, /*fatal=*/true);
  }
  return closed.size();
}

void Sessions::OnHeartbeatTimer() {
  // One slice of the connections per tick, a full pass per period: a client
  // that heard nothing to answer still sends its Ping each period, so twice
  // that without a frame means it is gone (or stuck); it is found within
  // one more period. A session moved into the part already passed (by a
  // removal) waits for the next pass.
  uint64_t now = loop_->now_ms();
  uint64_t limit = 2 * uint64_t{options_.heartbeat_ms};
  std::vector<Session*> silent;
  const size_t n = session_list_.size();
  const size_t slice = (n + heartbeat_slices_ - 1) / heartbeat_slices_;
  if (heartbeat_cursor_ >= n) heartbeat_cursor_ = 0;
  const size_t end = std::min(n, heartbeat_cursor_ + slice);
  for (; heartbeat_cursor_ < end; ++heartbeat_cursor_) {
    Session* session = session_list_[heartbeat_cursor_];
    // A publisher the broker itself stopped reading (the next batch is
    // full) is not silent: its frames wait in the socket.
    if (session->connection()->reading_paused()) {
      session->last_heard_ms = now;
      continue;
    }
    if (now - session->last_heard_ms > limit && !session->closing()) {
      silent.push_back(session);
    }
  }
  for (Session* s : silent) {
    ++stats_.heartbeat_timeouts;
    s->SendError(
        Status::Timeout("no frame from the client in " + std::to_string(limit) +
                        " ms (heartbeat every " + std::to_string(options_.heartbeat_ms) + " ms)"),
        0, /*fatal=*/true);
  }
}

void Sessions::SessionClosed(Session& session, const Status& why) {
  spdlog::info("connection {} from {} closed: {}", session.client_id(),
               session.connection()->peer(), why.ToString());
  if (session.greeted()) broker_->Disconnect(session.client_id());
  if (options_.max_connections_per_ip != 0) {
    auto it = per_ip_.find(std::string(PeerHost(*session.connection())));
    if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  }
  // Out of the heartbeat's list by moving the last one into its place.
  Session* last = session_list_.back();
  session_list_[session.list_index] = last;
  last->list_index = session.list_index;
  session_list_.pop_back();
  sessions_.erase(session.client_id());  // frees the session
  MaybeFinishShutdown();
}

// ---------------------------------------------------------------------------
// Shutdown

void Sessions::Shutdown(std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  for (auto& [client_id, session] : sessions_) session->connection()->PauseReading();
  shutdown_timer_.Init(*loop_, [this] {
    // Clients that do not read their last confirms in time are cut off.
    std::vector<Session*> open;
    for (auto& [client_id, session] : sessions_) open.push_back(session.get());
    for (Session* s : open) {
      s->connection()->Close(Status(ErrorCode::kShuttingDown, "broker stopping"));
    }
  });
  shutdown_timer_.Start(kShutdownDrainMs);
  broker_->Drain([this] {
    drained_ = true;
    MaybeFinishShutdown();
  });
}

void Sessions::MaybeFinishShutdown() {
  if (!shutting_down_ || !drained_ || !shutdown_done_) return;
  if (!closing_sessions_) {
    closing_sessions_ = true;
    std::vector<Session*> open;
    for (auto& [client_id, session] : sessions_) open.push_back(session.get());
    for (Session* s : open) s->CloseWhenDrained();
  }
  if (!sessions_.empty()) return;
  Close();
  std::function<void()> done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

// ---------------------------------------------------------------------------
// Statistics

std::vector<core::StatValue> Sessions::Stats() {
  auto n = [](uint64_t v) { return static_cast<double>(v); };
  std::vector<core::StatValue> out;
  out.push_back(core::StatValue{"version", "gauge", "The broker's version.", 0, HERMOD_VERSION});
  out.push_back(core::StatValue{
      "rss_bytes", "gauge", "Resident memory of the broker process.", n(OwnRssBytes()), {}});
  out.push_back(
      core::StatValue{"connections", "gauge", "Open client connections.", n(sessions_.size()), {}});
  out.push_back(core::StatValue{"connections_accepted_total",
                                "counter",
                                "Connections accepted.",
                                n(stats_.connections_accepted),
                                {}});
  out.push_back(
      core::StatValue{"connections_refused_total",
                      "counter",
                      "Connections refused by --max-connections or --max-connections-per-ip.",
                      n(stats_.connections_refused),
                      {}});
  out.push_back(core::StatValue{
      "auth_failures_total",
      "counter",
      "Connections refused because their Hello carried no valid credentials, and /metrics "
      "requests without a valid bearer token.",
      n(stats_.auth_failures),
      {}});
  out.push_back(core::StatValue{"denied_total",
                                "counter",
                                "Operations refused because the principal may not do them.",
                                n(stats_.denied),
                                {}});
  out.push_back(core::StatValue{"auth_verifications_total",
                                "counter",
                                "argon2id token checks run (reconnects hit the cache instead).",
                                n(authenticator_.stats().verifications),
                                {}});
  out.push_back(core::StatValue{"auth_cache_hits_total",
                                "counter",
                                "Credential checks answered from the cache of verified tokens.",
                                n(authenticator_.stats().cache_hits),
                                {}});
  out.push_back(
      core::StatValue{"heartbeat_timeouts_total",
                      "counter",
                      "Connections closed because the client went silent past the heartbeat.",
                      n(stats_.heartbeat_timeouts),
                      {}});
  std::vector<core::StatValue> core = broker_->Stats();
  out.insert(out.end(), std::make_move_iterator(core.begin()), std::make_move_iterator(core.end()));
  if (extra_stats_) {
    std::vector<core::StatValue> extra = extra_stats_();
    out.insert(out.end(), std::make_move_iterator(extra.begin()),
               std::make_move_iterator(extra.end()));
  }
  return out;
}

// ---------------------------------------------------------------------------
// core::Output: frames for the clients

void Sessions::PublishConfirmed(core::ClientId client, uint64_t correlation_id, core::MsgId msg_id,
                                core::Seq seq, bool duplicate) {
  Session* s = Find(client);
  if (s == nullptr) {
    AnswerLocal(client, correlation_id, {});
    return;
  }
  auto& fbb = encoder_.Start();
  s->Send(encoder_.Finish(wire::CreatePublishOk(fbb, correlation_id, msg_id, seq, duplicate)));
}

void Sessions::PublishFailed(core::ClientId client, uint64_t correlation_id, const Status& status) {
  Session* s = Find(client);
  if (s == nullptr) {
    AnswerLocal(client, correlation_id, {status});
    return;
  }
  auto& fbb = encoder_.Start();
  auto message = fbb.CreateString(status.message());
  s->Send(encoder_.Finish(wire::CreatePublishError(fbb, correlation_id,
                                                   static_cast<uint16_t>(status.code()), message)));
}

void Sessions::Subscribed(core::ClientId client, uint64_t correlation_id,
                          core::SubscriptionId subscription_id) {
  Session* s = Find(client);
  if (s == nullptr) return;
  auto& fbb = encoder_.Start();
  s->Send(encoder_.Finish(wire::CreateSubscribeOk(fbb, correlation_id, subscription_id)));
}

void Sessions::QueueConfigured(core::ClientId client, uint64_t correlation_id) {
  Session* s = Find(client);
  if (s == nullptr) {
    AnswerLocal(client, correlation_id, {});
    return;
  }
  auto& fbb = encoder_.Start();
  s->Send(encoder_.Finish(wire::CreateConfigureQueueOk(fbb, correlation_id)));
}

void Sessions::GroupChanged(core::ClientId client, uint64_t correlation_id, uint64_t changed) {
  Session* s = Find(client);
  if (s == nullptr) {
    AnswerLocal(client, correlation_id, {Status::OK(), changed});
    return;
  }
  auto& fbb = encoder_.Start();
  wire::GroupReplyBuilder reply(fbb);
  reply.add_correlation_id(correlation_id);
  reply.add_changed(changed);
  s->Send(encoder_.Finish(reply.Finish()));
}

void Sessions::QueuePurged(core::ClientId client, uint64_t correlation_id, uint64_t removed) {
  Session* s = Find(client);
  if (s == nullptr) {
    AnswerLocal(client, correlation_id, {Status::OK(), removed});
    return;
  }
  auto& fbb = encoder_.Start();
  s->Send(encoder_.Finish(wire::CreateQueueReply(fbb, correlation_id, 0, 0, 0, removed)));
}

void Sessions::QueueRedriven(core::ClientId client, uint64_t correlation_id, uint64_t moved,
                             uint64_t remaining) {
  Session* s = Find(client);
  if (s == nullptr) {
    AnswerLocal(client, correlation_id, {Status::OK(), moved, remaining});
    return;
  }
  auto& fbb = encoder_.Start();
  wire::QueueReplyBuilder reply(fbb);
  reply.add_correlation_id(correlation_id);
  reply.add_moved(moved);
  reply.add_remaining(remaining);
  s->Send(encoder_.Finish(reply.Finish()));
}

void Sessions::Error(core::ClientId client, const Status& status, uint64_t correlation_id,
                     bool fatal) {
  Session* s = Find(client);
  if (s != nullptr) {
    s->SendError(status, correlation_id, fatal);
  } else {
    AnswerLocal(client, correlation_id, {status});
  }
}

void Sessions::PauseReading(core::ClientId client) {
  if (Session* s = Find(client)) s->connection()->PauseReading();
}

void Sessions::ResumeReading(core::ClientId client) {
  if (Session* s = Find(client)) s->connection()->ResumeReading();
}

}  // namespace hermod::server
