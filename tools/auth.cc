// `hermod auth`: the credentials of principals (docs/security.md).
//
//   hermod auth token          a new random token, for a principal to use
//   hermod auth hash           the argon2id hash of the token on stdin
//   hermod auth verify HASH    exit 0 when the token on stdin matches HASH
//
// Tokens are read from stdin, never taken as arguments, so that they do
// not show in `ps` or the shell's history. Runs locally; no broker. Main
// thread only.
#include <sodium.h>

#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "cli.h"
#include "token_file.h"
#include "token_hash.h"

namespace hermod::cli {

namespace {

// The token on stdin: its first line, without surrounding whitespace, and
// checked as a token file's are (16 to 1024 bytes of printable ASCII
// without spaces).
Result<std::string> ReadToken() {
  std::string line;
  if (!std::getline(std::cin, line) || line.empty()) {
    return Status::InvalidArgument("no token on stdin (pipe one in: hermod auth token | ...)");
  }
  const char* kSpace = " \t\r\n\f\v";
  size_t first = line.find_first_not_of(kSpace);
  size_t last = line.find_last_not_of(kSpace);
  std::string token = first == std::string::npos ? "" : line.substr(first, last - first + 1);
  if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) {
    return Status::InvalidArgument("a token is " + std::to_string(kMinTokenBytes) + " to " +
                                   std::to_string(kMaxTokenBytes) + " bytes, this one " +
                                   std::to_string(token.size()));
  }
  for (char c : token) {
    if (c <= ' ' || c > '~') {
      return Status::InvalidArgument("a token is printable ASCII without spaces");
    }
  }
  return token;
}

int NewToken() {
  // 32 random bytes (256 bits), URL-safe base64 without padding: 43
  // characters any shell, TOML file or HTTP header takes as they are.
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  char text[sodium_base64_ENCODED_LEN(sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, bytes, sizeof bytes,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(bytes, sizeof bytes);
  return WriteOut(std::string(text) + "\n") ? kExitOk : Fail("cannot write to stdout");
}

int HashCommand() {
  Result<std::string> token = ReadToken();
  if (!token.ok()) return Fail(token.status().message());
  Result<std::string> hash = server::HashToken(*token);
  sodium_memzero(token->data(), token->size());
  if (!hash.ok()) return Fail(hash.status().message());
  return WriteOut(*hash + "\n") ? kExitOk : Fail("cannot write to stdout");
}

int VerifyCommand(const std::string& hash) {
  if (!server::IsTokenHash(hash)) return Fail("not an argon2id hash: " + hash);
  Result<std::string> token = ReadToken();
  if (!token.ok()) return Fail(token.status().message());
  bool ok = server::VerifyToken(hash, *token);
  sodium_memzero(token->data(), token->size());
  if (!ok) return Fail("the token does not match the hash");
  return WriteOut("ok\n") ? kExitOk : Fail("cannot write to stdout");
}

}  // namespace

void AddAuthCommand(CLI::App& app, GlobalOptions& global) {
  CLI::App* auth = app.add_subcommand("auth", "Make tokens and token hashes for principals");
  auth->require_subcommand(1);
  auto init = [] {
    if (!server::InitSodium().ok()) {
      Fail("libsodium cannot be initialized");
      return false;
    }
    return true;
  };
  auth->add_subcommand("token", "Print a new random token (256 bits, URL-safe base64)")
      ->callback(
          [&global, init] { global.run = [init] { return init() ? NewToken() : kExitError; }; });
  auth->add_subcommand("hash",
                       "Print the argon2id hash of the token on stdin, for a principal's "
                       "token_hash")
      ->callback(
          [&global, init] { global.run = [init] { return init() ? HashCommand() : kExitError; }; });
  auto hash = std::make_shared<std::string>();
  CLI::App* verify =
      auth->add_subcommand("verify", "Exit 0 when the token on stdin matches HASH, else 1");
  verify->add_option("HASH", *hash, "A token_hash")->required();
  verify->callback([&global, init, hash] {
    global.run = [init, hash] { return init() ? VerifyCommand(*hash) : kExitError; };
  });
}

}  // namespace hermod::cli
