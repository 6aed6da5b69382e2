#include "token_hash.h"

#include <sodium.h>

namespace hermod::server {

Status InitSodium() {
  if (sodium_init() < 0) return Status::Internal("libsodium cannot be initialized");
  return Status::OK();
}

Result<std::string> HashToken(std::string_view token, unsigned long long ops_limit,
                              size_t mem_limit) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, token.data(), token.size(), ops_limit, mem_limit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::Internal("argon2id hashing failed (out of memory?)");
  }
  return std::string(out);
}

bool VerifyToken(const std::string& hash, std::string_view token) {
  return crypto_pwhash_str_verify(hash.c_str(), token.data(), token.size()) == 0;
}

bool IsTokenHash(std::string_view text) {
  // "$argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash>": the prefix and the
  // five '$'-separated fields; libsodium checks the rest when verifying.
  constexpr std::string_view kPrefix = "$argon2id$v=19$m=";
  if (text.substr(0, kPrefix.size()) != kPrefix) return false;
  if (text.size() >= crypto_pwhash_STRBYTES) return false;
  size_t dollars = 0;
  for (char c : text) dollars += c == '$';
  return dollars == 5;
}

}  // namespace hermod::server
