// Authenticator: decides whether a Hello's credentials are good, and slows
// down addresses that keep failing (docs/security.md).
//
// Two kinds of credential: a principal's name and token, checked against
// the argon2id hash in the principal's entry, and a bare token from
// --auth-token-file, compared in constant time with every token of the
// file (that "token-file principal" may do everything).
//
// An argon2id check costs tens of milliseconds and tens of MiB, so it runs
// on libuv's thread pool (uv_queue_work), at most `max_verifications` at
// once, the rest waiting in arrival order. A successful check is
// remembered under a keyed BLAKE2b hash of (name, token), with a key drawn
// at random per process, so a reconnect storm costs one argon2id check per
// principal, and the memory never holds a token. Unknown names are checked
// against an existing principal's hash all the same (and refused), so the
// time of a refusal does not tell whether the name exists.
//
// Loop thread only. The owner keeps it alive until the loop has run every
// thread-pool callback (Server::Run's loop runs until they are done).
#ifndef HERMOD_BROKER_SERVER_AUTHENTICATOR_H_
#define HERMOD_BROKER_SERVER_AUTHENTICATOR_H_

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/loop.h"
#include "principals.h"

namespace hermod::server {

struct AuthOptions {
  // The first refusal to an address is answered after this long; each
  // further one within failure_window_ms waits twice as long, up to
  // failure_max_delay_ms.
  uint32_t failure_delay_ms = 100;
  uint32_t failure_max_delay_ms = 2000;
  // An address's count of failures starts again after this long without one.
  uint32_t failure_window_ms = 60000;
  // Addresses whose failures are remembered at most; past it the one that
  // failed longest ago is forgotten.
  uint32_t failure_addresses = 10000;
  // argon2id checks running at once at most (each holds 64 MiB for tens of
  // milliseconds on a thread-pool thread).
  uint32_t max_verifications = 2;
  // Successful checks remembered at most; the memory is emptied when full.
  uint32_t verified_cache = 4096;
  // argon2id checks waiting or running for one address at most; one more
  // is answered "busy" (kLimitExceeded) without a check, so one host cannot
  // fill the queue that every other client's first Hello waits in.
  uint32_t max_pending_per_address = 8;
};

// What a check decided.
struct AuthVerdict {
  bool ok = false;
  // The principal let in; null for the token-file principal or without
  // authentication (both may do everything).
  PrincipalPtr principal;
  // For the token-file principal: a hash of the token that let it in, so
  // a reload can tell whether it is still in the file (never 0 then).
  uint64_t token_id = 0;
  // Not checked: the address has max_pending_per_address checks under way.
  // Says nothing of the credentials; the client may try again.
  bool busy = false;
};

// Counters for /metrics and `hermod stats`.
struct AuthStatistics {
  uint64_t verifications = 0;  // argon2id checks run
  uint64_t cache_hits = 0;     // checks answered from the verified cache
};

class Authenticator {
 public:
  Authenticator(net::Loop* loop, const AuthOptions& options);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // What the broker accepts. Either may be empty; both empty: no
  // authentication. SetPrincipals keeps what is remembered of successful
  // checks: a hit counts only while the principal's token_hash is the one
  // it was checked against.
  void SetTokens(std::vector<std::string> tokens);
  void SetPrincipals(PrincipalSet principals);
  const PrincipalSet& principals() const { return principals_; }
  bool has_tokens() const { return !tokens_.empty(); }
  bool required() const { return !tokens_.empty() || !principals_.empty(); }
  // The id (AuthVerdict::token_id) of a token, whether or not accepted.
  static uint64_t TokenId(std::string_view token);
  bool HasTokenId(uint64_t token_id) const;

  using Done = std::function<void(const AuthVerdict&)>;
  // Checks a Hello's credentials, from `address` (an IP address): with a
  // principal name against that principal, without one against the token
  // file. Calls done at once when no slow check is needed, else later from
  // the loop. `wanted` is asked before a waiting check starts; false (the
  // connection closed) skips it.
  void Check(std::string_view principal, std::string_view token, const std::string& address,
             std::function<bool()> wanted, Done done);
  // Checks an HTTP bearer token for /metrics: a token of the token file,
  // or the token of a principal with admin.
  void CheckBearer(std::string_view token, Done done);

  // Records a refusal to `address` (an IP address) and returns how long
  // to wait before answering it.
  uint64_t RecordFailure(const std::string& address);

  const AuthStatistics& stats() const { return stats_; }

 private:
  struct Work;
  using CacheKey = std::string;  // 16 bytes of keyed BLAKE2b
  struct Remembered {
    std::string principal;
    std::string token_hash;
  };
  CacheKey KeyOf(std::string_view kind, std::string_view name, std::string_view token) const;
  // The principal a remembered check let in, if it still counts.
  PrincipalPtr Recall(const CacheKey& key) const;
  void Remember(const CacheKey& key, const Principal& principal);
  void Enqueue(std::unique_ptr<Work> work);
  // A Hello's check is over (run or skipped): its address has one fewer.
  void Settle(const Work& work);
  void StartWaiting();
  static void RunWork(uv_work_t* req) noexcept;
  static void AfterWork(uv_work_t* req, int status) noexcept;

  net::Loop* loop_;
  AuthOptions options_;
  std::vector<std::string> tokens_;
  PrincipalSet principals_;
  unsigned char cache_key_[32];
  std::unordered_map<CacheKey, Remembered> verified_;
  std::deque<std::unique_ptr<Work>> waiting_;
  // Checks waiting or running per address (only addresses with some).
  std::unordered_map<std::string, uint32_t> pending_;
  uint32_t running_ = 0;
  AuthStatistics stats_;

  struct Failures {
    uint32_t count = 0;
    uint64_t last_ms = 0;
    std::list<std::string>::iterator order;  // in failure_order_
  };
  std::unordered_map<std::string, Failures> failures_;
  std::list<std::string> failure_order_;  // least recent failure first
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_AUTHENTICATOR_H_
