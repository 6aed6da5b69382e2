#include "principals.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "permission_cache.h"
#include "token_hash.h"

namespace hermod::server {
namespace {

// A hash made at the lowest cost, so the tests stay fast.
std::string CheapHash(const std::string& token) {
  EXPECT_TRUE(InitSodium().ok());
  Result<std::string> hash =
      HashToken(token, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
  EXPECT_TRUE(hash.ok());
  return hash.ok() ? *hash : "";
}

class PrincipalsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hermod-principals-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    hash_ = CheapHash("token-0123456789abcdef");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<PrincipalSet> Read(const std::string& text) {
    const std::string path = dir_ + "/hermodd.toml";
    std::ofstream(path, std::ios::trunc) << text;
    return ReadPrincipals(path);
  }
  std::string Entry(const std::string& name, const std::string& rest = "") {
    return "[[principal]]\nname = \"" + name + "\"\ntoken_hash = \"" + hash_ + "\"\n" + rest;
  }

  std::string dir_;
  std::string hash_;
};

TEST(TokenHash, VerifiesItsTokenAndNothingElse) {
  const std::string hash = CheapHash("token-0123456789abcdef");
  EXPECT_TRUE(IsTokenHash(hash)) << hash;
  EXPECT_TRUE(VerifyToken(hash, "token-0123456789abcdef"));
  EXPECT_FALSE(VerifyToken(hash, "token-0123456789abcdeX"));
  EXPECT_FALSE(VerifyToken(hash, ""));
  EXPECT_FALSE(IsTokenHash("token-0123456789abcdef"));
  EXPECT_FALSE(IsTokenHash("$argon2i$v=19$m=4096,t=3,p=1$abc$def"));
}

TEST_F(PrincipalsFile, ReadsEveryKeyAndLeavesOtherKeysAlone) {
  Result<PrincipalSet> set =
      Read("listen = \"127.0.0.1:7400\"\nsync = \"always\"\n\n" +
           Entry("chat-frontend",
                 "publish = [\"user:*\", \"group:*\"]\nconsume = []\nmanage = [\"group:*\"]\n") +
           "\n" + Entry("alice", "consume = [\"user:{principal}\", \"user:{principal}/*\"]\n") +
           "\n" + Entry("ops", "admin = true\n"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->by_name.size(), 3u);
  PrincipalPtr frontend = set->Find("chat-frontend");
  ASSERT_NE(frontend, nullptr);
  EXPECT_EQ(frontend->token_hash, hash_);
  EXPECT_TRUE(frontend->publish.Matches("user:9"));
  EXPECT_TRUE(frontend->manage.Matches("group:9"));
  EXPECT_FALSE(frontend->consume.Matches("user:9"));
  EXPECT_FALSE(frontend->admin);
  PrincipalPtr alice = set->Find("alice");
  EXPECT_TRUE(alice->consume.Matches("user:alice/phone"));
  EXPECT_FALSE(alice->consume.Matches("user:bob"));
  EXPECT_TRUE(set->Find("ops")->admin);
  EXPECT_EQ(set->Find("nobody"), nullptr);
  EXPECT_NE(frontend->Rules(), alice->Rules());
}

TEST_F(PrincipalsFile, AFileWithoutPrincipalsIsAnEmptySet) {
  Result<PrincipalSet> set = Read("listen = \"127.0.0.1:7400\"\n");
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->empty());
}

TEST_F(PrincipalsFile, RefusesWhatCannotBeUsedNamingTheLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"[[principal]]\ntoken_hash = \"" + hash_ + "\"\n", "without a name"},
      {Entry("bad name"), "is not 1 to 64 bytes"},
      {Entry("a*"), "is not 1 to 64 bytes"},
      {Entry("x") + Entry("x"), "defined twice"},
      {"[[principal]]\nname = \"x\"\n", "has no token_hash"},
      {"[[principal]]\nname = \"x\"\ntoken_hash = \"token-0123456789abcdef\"\n",
       "not an argon2id hash"},
      {Entry("x", "publsh = [\"a\"]\n"), "unknown key publsh"},
      {Entry("x", "publish = \"a\"\n"), "must be an array of strings"},
      {Entry("x", "publish = [1]\n"), "must be an array of strings"},
      {Entry("x", "consume = [\"user:{user}\"]\n"), "{principal}"},
      {Entry("x", "admin = \"yes\"\n"), "admin must be true or false"},
      {"[principal]\nname = \"x\"\n", "[[principal]] tables"},
      {"name = = 1\n", ":1:"},
  };
  for (const Case& c : cases) {
    Result<PrincipalSet> set = Read(c.text);
    ASSERT_FALSE(set.ok()) << c.text;
    EXPECT_EQ(set.status().code(), ErrorCode::kInvalidArgument) << c.text;
    EXPECT_NE(set.status().message().find(c.expected), std::string::npos)
        << c.text << " -> " << set.status().message();
    EXPECT_NE(set.status().message().find("hermodd.toml"), std::string::npos);
  }
  Result<PrincipalSet> missing = ReadPrincipals(dir_ + "/nope.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kIoError);
}

TEST_F(PrincipalsFile, PermissionCacheAnswersAsThePatternsDo) {
  Result<PrincipalSet> set =
      Read(Entry("alice", "publish = [\"user:*\"]\nconsume = [\"user:{principal}\"]\n"));
  ASSERT_TRUE(set.ok());
  const Principal& alice = *set->Find("alice");
  PermissionCache cache;
  for (int round = 0; round < 2; ++round) {  // the second round is answered from the cache
    EXPECT_TRUE(cache.Allowed(alice, Operation::kPublish, "user:bob"));
    EXPECT_FALSE(cache.Allowed(alice, Operation::kConsume, "user:bob"));
    EXPECT_TRUE(cache.Allowed(alice, Operation::kConsume, "user:alice"));
    EXPECT_FALSE(cache.Allowed(alice, Operation::kManage, "user:alice"));
    EXPECT_FALSE(cache.Allowed(alice, Operation::kPublish, "group:1"));
  }
  // Past its bound it matches without remembering, and still answers right.
  for (size_t i = 0; i < PermissionCache::kMaxNames + 10; ++i) {
    EXPECT_TRUE(cache.Allowed(alice, Operation::kPublish, "user:" + std::to_string(i)));
  }
  EXPECT_FALSE(cache.Allowed(alice, Operation::kConsume, "user:bob"));
}

}  // namespace
}  // namespace hermod::server
