#include "authenticator.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "check.h"
#include "token_file.h"
#include "token_hash.h"

namespace hermod::server {

namespace {

// Compares in time that depends on the secret's length only, not on where
// the first difference is, so answers cannot be used to guess a token byte
// by byte.
bool SameSecret(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() != secret.size();
  for (size_t i = 0; i < secret.size(); ++i) {
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ secret[i]);
  }
  return diff == 0;
}

}  // namespace

// One argon2id check on the thread pool: the token against each candidate
// hash in turn. The worker reads only this struct (principals are
// immutable); the loop thread owns it before and after.
struct Authenticator::Work {
  uv_work_t req;
  Authenticator* self = nullptr;
  std::string token;
  std::vector<PrincipalPtr> candidates;
  // An unknown name: the check runs for its time only and refuses.
  bool decoy = false;
  CacheKey key;
  std::string address;   // a Hello's, counted in pending_ while waiting or running
  bool counted = false;  // whether it is
  std::function<bool()> wanted;
  Done done;
  PrincipalPtr matched;  // written by the worker
};

Authenticator::Authenticator(net::Loop* loop, const AuthOptions& options)
    : loop_(loop), options_(options) {
  randombytes_buf(cache_key_, sizeof cache_key_);
}

Authenticator::~Authenticator() { HERMOD_CHECK(running_ == 0); }

void Authenticator::SetTokens(std::vector<std::string> tokens) { tokens_ = std::move(tokens); }

void Authenticator::SetPrincipals(PrincipalSet principals) { principals_ = std::move(principals); }

uint64_t Authenticator::TokenId(std::string_view token) {
  // Not keyed: the id is compared, never shown; never 0 ("no token").
  return std::hash<std::string_view>{}(token) | 1;
}

bool Authenticator::HasTokenId(uint64_t token_id) const {
  for (const std::string& token : tokens_) {
    if (TokenId(token) == token_id) return true;
  }
  return false;
}

Authenticator::CacheKey Authenticator::KeyOf(std::string_view kind, std::string_view name,
                                             std::string_view token) const {
  crypto_generichash_state state;
  crypto_generichash_init(&state, cache_key_, sizeof cache_key_, 16);
  // Each part with its length first, so that no two different triples
  // hash the same bytes.
  for (std::string_view part : {kind, name, token}) {
    uint64_t size = part.size();
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(&size), sizeof size);
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size());
  }
  CacheKey key(16, '\0');
  crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(key.data()), key.size());
  return key;
}

PrincipalPtr Authenticator::Recall(const CacheKey& key) const {
  auto it = verified_.find(key);
  if (it == verified_.end()) return nullptr;
  PrincipalPtr principal = principals_.Find(it->second.principal);
  // A reload that changed the principal's token voids what was remembered.
  if (principal == nullptr || principal->token_hash != it->second.token_hash) return nullptr;
  return principal;
}

void Authenticator::Remember(const CacheKey& key, const Principal& principal) {
  if (verified_.size() >= options_.verified_cache) verified_.clear();
  verified_[key] = Remembered{principal.name, principal.token_hash};
}

void Authenticator::Check(std::string_view principal, std::string_view token,
                          const std::string& address, std::function<bool()> wanted, Done done) {
  if (!required()) return done(AuthVerdict{true, nullptr, 0});
  if (principal.empty()) {
    // The token-file principal. Every token is compared, so the time does
    // not tell which one (or whether any) was close.
    bool ok = false;
    for (const std::string& secret : tokens_) ok |= SameSecret(token, secret);
    return done(AuthVerdict{ok, nullptr, ok ? TokenId(token) : 0});
  }
  // Refused without a check: an empty or oversized token is wrong for any
  // name, so answering at once tells nothing about names.
  if (principals_.empty() || token.empty() || token.size() > kMaxTokenBytes) {
    return done(AuthVerdict{});
  }
  CacheKey key = KeyOf("hello", principal, token);
  if (PrincipalPtr remembered = Recall(key); remembered && remembered->name == principal) {
    ++stats_.cache_hits;
    return done(AuthVerdict{true, std::move(remembered), 0});
  }
  uint32_t& pending = pending_[address];
  if (pending >= std::max<uint32_t>(1, options_.max_pending_per_address)) {
    AuthVerdict busy;
    busy.busy = true;
    return done(busy);
  }
  ++pending;
  auto work = std::make_unique<Work>();
  work->address = address;
  work->counted = true;
  PrincipalPtr named = principals_.Find(principal);
  work->decoy = named == nullptr;
  // An unknown name is checked against a real hash, so its refusal takes
  // as long as a wrong token's.
  work->candidates.push_back(named ? named : principals_.by_name.begin()->second);
  work->token = std::string(token);
  work->key = std::move(key);
  work->wanted = std::move(wanted);
  work->done = std::move(done);
  Enqueue(std::move(work));
}

void Authenticator::CheckBearer(std::string_view token, Done done) {
  if (!required()) return done(AuthVerdict{true, nullptr, 0});
  bool ok = false;
  for (const std::string& secret : tokens_) ok |= SameSecret(token, secret);
  if (ok) return done(AuthVerdict{true, nullptr, TokenId(token)});
  if (token.empty() || token.size() > kMaxTokenBytes) return done(AuthVerdict{});
  CacheKey key = KeyOf("bearer", "", token);
  if (PrincipalPtr remembered = Recall(key); remembered && remembered->admin) {
    ++stats_.cache_hits;
    return done(AuthVerdict{true, std::move(remembered), 0});
  }
  auto work = std::make_unique<Work>();
  for (const auto& [name, principal] : principals_.by_name) {
    if (principal->admin) work->candidates.push_back(principal);
  }
  if (work->candidates.empty()) return done(AuthVerdict{});
  work->token = std::string(token);
  work->key = std::move(key);
  work->done = std::move(done);
  Enqueue(std::move(work));
}

void Authenticator::Enqueue(std::unique_ptr<Work> work) {
  work->self = this;
  work->req.data = work.get();
  waiting_.push_back(std::move(work));
  StartWaiting();
}

void Authenticator::StartWaiting() {
  while (running_ < std::max<uint32_t>(1, options_.max_verifications) && !waiting_.empty()) {
    std::unique_ptr<Work> work = std::move(waiting_.front());
    waiting_.pop_front();
    if (work->wanted && !work->wanted()) {
      Settle(*work);
      continue;
    }
    int rc = uv_queue_work(loop_->uv(), &work->req, &RunWork, &AfterWork);
    if (rc != 0) {
      // libuv refused the work (it never does for a valid loop): refuse.
      Settle(*work);
      work->done(AuthVerdict{});
      continue;
    }
    ++running_;
    work.release();  // owned by AfterWork
  }
}

void Authenticator::RunWork(uv_work_t* req) noexcept {
  auto* work = static_cast<Work*>(req->data);
  for (const PrincipalPtr& candidate : work->candidates) {
    if (VerifyToken(candidate->token_hash, work->token)) {
      work->matched = candidate;
      break;
    }
  }
  sodium_memzero(work->token.data(), work->token.size());
}

void Authenticator::AfterWork(uv_work_t* req, int /*status*/) noexcept {
  std::unique_ptr<Work> work(static_cast<Work*>(req->data));
  Authenticator* self = work->self;
  --self->running_;
  ++self->stats_.verifications;
  self->Settle(*work);
  AuthVerdict verdict;
  if (work->matched != nullptr && !work->decoy) {
    // The principal as it is now: a reload while the check ran may have
    // changed its token or removed it.
    PrincipalPtr current = self->principals_.Find(work->matched->name);
    if (current != nullptr && current->token_hash == work->matched->token_hash) {
      self->Remember(work->key, *current);
      verdict = AuthVerdict{true, std::move(current), 0};
    }
  }
  work->done(verdict);
  self->StartWaiting();
}

void Authenticator::Settle(const Work& work) {
  if (!work.counted) return;
  auto it = pending_.find(work.address);
  if (it != pending_.end() && --it->second == 0) pending_.erase(it);
}

uint64_t Authenticator::RecordFailure(const std::string& address) {
  const uint64_t now = loop_->now_ms();
  auto it = failures_.find(address);
  if (it == failures_.end()) {
    if (failures_.size() >= std::max<uint32_t>(1, options_.failure_addresses)) {
      failures_.erase(failure_order_.front());
      failure_order_.pop_front();
    }
    it = failures_.emplace(address, Failures{}).first;
    it->second.order = failure_order_.insert(failure_order_.end(), address);
  } else {
    failure_order_.splice(failure_order_.end(), failure_order_, it->second.order);
  }
  Failures& f = it->second;
  if (f.count != 0 && now - f.last_ms > options_.failure_window_ms) f.count = 0;
  ++f.count;
  f.last_ms = now;
  uint64_t delay = uint64_t{options_.failure_delay_ms} << std::min<uint32_t>(f.count - 1, 20);
  return std::min<uint64_t>(delay, options_.failure_max_delay_ms);
}

}  // namespace hermod::server
