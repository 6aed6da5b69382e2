#include "authenticator.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <optional>
#include <string>

#include "token_hash.h"

namespace hermod::server {
namespace {

const std::string kAliceToken = "alice-token-0123456789abcdef";
const std::string kOpsToken = "ops-token-0123456789abcdef012";

std::string CheapHash(const std::string& token) {
  Result<std::string> hash =
      HashToken(token, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
  EXPECT_TRUE(hash.ok());
  return hash.ok() ? *hash : "";
}

PrincipalSet Principals(const std::string& alice_hash, const std::string& ops_hash) {
  PrincipalSet set;
  auto alice = std::make_shared<Principal>();
  alice->name = "alice";
  alice->token_hash = alice_hash;
  auto ops = std::make_shared<Principal>();
  ops->name = "ops";
  ops->token_hash = ops_hash;
  ops->admin = true;
  set.by_name.emplace("alice", alice);
  set.by_name.emplace("ops", ops);
  return set;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitSodium().ok());
    ASSERT_TRUE(loop_.Init().ok());
    auth_.emplace(&loop_, options_);
  }
  void TearDown() override {
    auth_.reset();
    loop_.Close();
  }

  // The verdict of a check, running the loop until it comes (the thread
  // pool's work keeps the loop alive, so each turn waits for it).
  std::optional<AuthVerdict> Check(const std::string& principal, const std::string& token) {
    std::optional<AuthVerdict> verdict;
    auth_->Check(principal, token, "127.0.0.1", nullptr,
                 [&](const AuthVerdict& v) { verdict = v; });
    for (int turn = 0; turn < 100 && !verdict; ++turn) uv_run(loop_.uv(), UV_RUN_ONCE);
    return verdict;
  }
  std::optional<AuthVerdict> Bearer(const std::string& token) {
    std::optional<AuthVerdict> verdict;
    auth_->CheckBearer(token, [&](const AuthVerdict& v) { verdict = v; });
    for (int turn = 0; turn < 100 && !verdict; ++turn) uv_run(loop_.uv(), UV_RUN_ONCE);
    return verdict;
  }

  AuthOptions options_;
  net::Loop loop_;
  std::optional<Authenticator> auth_;
};

TEST_F(AuthenticatorTest, WithoutCredentialsEveryoneMayDoEverything) {
  std::optional<AuthVerdict> v = Check("", "");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->principal, nullptr);
  EXPECT_TRUE(Bearer("")->ok);
}

TEST_F(AuthenticatorTest, AGoodTokenIsCheckedOnceThenRemembered) {
  auth_->SetPrincipals(Principals(CheapHash(kAliceToken), CheapHash(kOpsToken)));
  std::optional<AuthVerdict> v = Check("alice", kAliceToken);
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->ok);
  EXPECT_EQ(v->principal->name, "alice");
  EXPECT_EQ(auth_->stats().verifications, 1u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Check("alice", kAliceToken)->ok);
  EXPECT_EQ(auth_->stats().verifications, 1u);
  EXPECT_EQ(auth_->stats().cache_hits, 3u);
  // The same token under another name is checked, and refused.
  EXPECT_FALSE(Check("ops", kAliceToken)->ok);
  EXPECT_EQ(auth_->stats().verifications, 2u);
}

TEST_F(AuthenticatorTest, UnknownNamesAndWrongTokensAreCheckedAllTheSame) {
  auth_->SetPrincipals(Principals(CheapHash(kAliceToken), CheapHash(kOpsToken)));
  EXPECT_FALSE(Check("alice", kOpsToken)->ok);
  EXPECT_FALSE(Check("mallory", kAliceToken)->ok);
  // Both ran argon2id: an unknown name costs what a wrong token does.
  EXPECT_EQ(auth_->stats().verifications, 2u);
  // Empty and oversized tokens are refused at once, whatever the name.
  EXPECT_FALSE(Check("alice", "")->ok);
  EXPECT_FALSE(Check("alice", std::string(2000, 'x'))->ok);
  EXPECT_EQ(auth_->stats().verifications, 2u);
  // A principal's token is not a token-file token.
  EXPECT_FALSE(Check("", kAliceToken)->ok);
}

TEST_F(AuthenticatorTest, AReloadThatChangesTheHashVoidsWhatWasRemembered) {
  auth_->SetPrincipals(Principals(CheapHash(kAliceToken), CheapHash(kOpsToken)));
  ASSERT_TRUE(Check("alice", kAliceToken)->ok);
  const std::string kNew = "alice-token-2-0123456789abcdef";
  auth_->SetPrincipals(Principals(CheapHash(kNew), CheapHash(kOpsToken)));
  EXPECT_FALSE(Check("alice", kAliceToken)->ok);
  EXPECT_TRUE(Check("alice", kNew)->ok);
  // Removed: refused even though a success was remembered.
  auth_->SetPrincipals(PrincipalSet{});
  auth_->SetTokens({"file-token-0123456789abcdef0"});
  EXPECT_FALSE(Check("alice", kNew)->ok);
}

TEST_F(AuthenticatorTest, TokenFileTokensAreComparedAndIdentified) {
  auth_->SetTokens({"file-token-0123456789abcdef0", "file-token-second-0123456789"});
  std::optional<AuthVerdict> v = Check("", "file-token-second-0123456789");
  ASSERT_TRUE(v->ok);
  EXPECT_EQ(v->principal, nullptr);
  EXPECT_NE(v->token_id, 0u);
  EXPECT_TRUE(auth_->HasTokenId(v->token_id));
  EXPECT_FALSE(Check("", "file-token-second-012345678")->ok);
  EXPECT_FALSE(Check("", "")->ok);
  auth_->SetTokens({"file-token-0123456789abcdef0"});
  EXPECT_FALSE(auth_->HasTokenId(v->token_id));
}

TEST_F(AuthenticatorTest, BearerTokensAreAdminsOrTheTokenFiles) {
  auth_->SetPrincipals(Principals(CheapHash(kAliceToken), CheapHash(kOpsToken)));
  auth_->SetTokens({"file-token-0123456789abcdef0"});
  EXPECT_FALSE(Bearer(kAliceToken)->ok);  // not an admin
  EXPECT_FALSE(Bearer("")->ok);
  std::optional<AuthVerdict> ops = Bearer(kOpsToken);
  ASSERT_TRUE(ops->ok);
  EXPECT_EQ(ops->principal->name, "ops");
  const uint64_t checks = auth_->stats().verifications;
  EXPECT_TRUE(Bearer(kOpsToken)->ok);  // remembered
  EXPECT_EQ(auth_->stats().verifications, checks);
  EXPECT_TRUE(Bearer("file-token-0123456789abcdef0")->ok);
}

TEST_F(AuthenticatorTest, FailureDelaysDoubleUpToTheCapPerAddress) {
  EXPECT_EQ(auth_->RecordFailure("10.0.0.1"), 100u);
  EXPECT_EQ(auth_->RecordFailure("10.0.0.1"), 200u);
  EXPECT_EQ(auth_->RecordFailure("10.0.0.1"), 400u);
  EXPECT_EQ(auth_->RecordFailure("10.0.0.2"), 100u);  // per address
  for (int i = 0; i < 40; ++i) auth_->RecordFailure("10.0.0.1");
  EXPECT_EQ(auth_->RecordFailure("10.0.0.1"), 2000u);  // the cap, and no overflow
}

TEST(AuthenticatorBoundsTest, OneAddressHasAtMostSoManyChecksUnderWay) {
  ASSERT_TRUE(InitSodium().ok());
  net::Loop loop;
  ASSERT_TRUE(loop.Init().ok());
  {
    AuthOptions options;
    options.max_pending_per_address = 2;
    options.max_verifications = 1;
    Authenticator auth(&loop, options);
    auth.SetPrincipals(Principals(CheapHash(kAliceToken), CheapHash(kOpsToken)));
    int answered = 0, busy = 0;
    auto done = [&](const AuthVerdict& v) {
      ++answered;
      busy += v.busy;
    };
    auth.Check("alice", "wrong-token-0123456789abcd", "10.0.0.1", nullptr, done);
    auth.Check("alice", "wrong-token-0123456789abcd", "10.0.0.1", nullptr, done);
    auth.Check("alice", "wrong-token-0123456789abcd", "10.0.0.1", nullptr, done);  // busy
    EXPECT_EQ(busy, 1);
    EXPECT_EQ(answered, 1);
    // Another address is not held back by this one's limit.
    auth.Check("alice", kAliceToken, "10.0.0.2", nullptr, done);
    for (int turn = 0; turn < 100 && answered < 4; ++turn) uv_run(loop.uv(), UV_RUN_ONCE);
    EXPECT_EQ(answered, 4);
    EXPECT_EQ(busy, 1);
    // Once they are done, the address may have checks again.
    std::optional<AuthVerdict> again;
    auth.Check("alice", kAliceToken, "10.0.0.1", nullptr, [&](const AuthVerdict& v) { again = v; });
    for (int turn = 0; turn < 100 && !again; ++turn) uv_run(loop.uv(), UV_RUN_ONCE);
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->ok);  // from the cache: 10.0.0.2's check remembered it
  }
  loop.Close();
}

TEST(AuthenticatorBoundsTest, TheAddressTableIsBoundedForgettingTheOldest) {
  net::Loop loop;
  ASSERT_TRUE(loop.Init().ok());
  {
    AuthOptions options;
    options.failure_addresses = 2;
    Authenticator auth(&loop, options);
    EXPECT_EQ(auth.RecordFailure("a"), 100u);
    EXPECT_EQ(auth.RecordFailure("b"), 100u);
    EXPECT_EQ(auth.RecordFailure("a"), 200u);  // a is now the most recent
    EXPECT_EQ(auth.RecordFailure("c"), 100u);  // b forgotten
    EXPECT_EQ(auth.RecordFailure("a"), 400u);  // a kept
    EXPECT_EQ(auth.RecordFailure("b"), 100u);  // b starts again
  }
  loop.Close();
}

TEST(AuthenticatorBoundsTest, AQuietWindowStartsTheCountAgain) {
  net::Loop loop;
  ASSERT_TRUE(loop.Init().ok());
  {
    AuthOptions options;
    options.failure_window_ms = 5;
    Authenticator auth(&loop, options);
    EXPECT_EQ(auth.RecordFailure("a"), 100u);
    EXPECT_EQ(auth.RecordFailure("a"), 200u);
    // Waits for the loop's clock to pass the window (bounded).
    const uint64_t start = uv_now(loop.uv());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (uv_now(loop.uv()) - start <= 5 && std::chrono::steady_clock::now() < deadline) {
      uv_update_time(loop.uv());
    }
    EXPECT_EQ(auth.RecordFailure("a"), 100u);
  }
  loop.Close();
}

}  // namespace
}  // namespace hermod::server
