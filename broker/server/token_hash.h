// Token hashes of principals (docs/security.md, "Token hashes"): argon2id
// strings made by libsodium's crypto_pwhash_str, as `hermod auth hash`
// prints them and the broker's config holds them.
//
// Pure functions; any thread. Hashing and verifying take tens of
// milliseconds and tens of MiB of memory each: never call them on the loop
// thread (the broker verifies on libuv's thread pool, authenticator.h).
#ifndef HERMOD_BROKER_SERVER_TOKEN_HASH_H_
#define HERMOD_BROKER_SERVER_TOKEN_HASH_H_

#include <string>
#include <string_view>

#include "hermod/status.h"

namespace hermod::server {

// libsodium's "interactive" cost, the one it recommends for online
// logins: 2 passes over 64 MiB.
inline constexpr unsigned long long kTokenHashOpsLimit = 2;
inline constexpr size_t kTokenHashMemLimit = 64u << 20;

// Initializes libsodium; call once at start. Fails only when the system
// cannot give it randomness.
Status InitSodium();

// The argon2id hash of token with a fresh random salt ("$argon2id$v=19$...").
// Fails (kInternal) when the memory limit cannot be allocated.
Result<std::string> HashToken(std::string_view token,
                              unsigned long long ops_limit = kTokenHashOpsLimit,
                              size_t mem_limit = kTokenHashMemLimit);

// Whether token is the one hash was made from. Constant-time in the
// token's bytes (libsodium compares the derived keys with sodium_memcmp).
bool VerifyToken(const std::string& hash, std::string_view token);

// Whether text has the form of an argon2id hash string: a config check,
// so that a token pasted where its hash belongs is refused at load.
bool IsTokenHash(std::string_view text);

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_TOKEN_HASH_H_
