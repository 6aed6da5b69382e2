#include "name_pattern.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hermod::server {
namespace {

bool Matches(std::string_view pattern, std::string_view name, std::string_view principal = "p") {
  Result<NamePattern> compiled = NamePattern::Compile(pattern, principal);
  EXPECT_TRUE(compiled.ok()) << pattern << ": " << compiled.status().ToString();
  return compiled.ok() && compiled->Matches(name);
}

TEST(NamePattern, WithoutAStarMatchesOnlyItself) {
  EXPECT_TRUE(Matches("user:42", "user:42"));
  EXPECT_FALSE(Matches("user:42", "user:420"));
  EXPECT_FALSE(Matches("user:42", "user:4"));
  EXPECT_FALSE(Matches("user:42", ""));
}

TEST(NamePattern, AStarMatchesAnyRunIncludingNoneAndSlashes) {
  EXPECT_TRUE(Matches("user:*", "user:"));
  EXPECT_TRUE(Matches("user:*", "user:42"));
  EXPECT_TRUE(Matches("user:*", "user:42/phone"));
  EXPECT_FALSE(Matches("user:*", "user"));
  EXPECT_FALSE(Matches("user:*", "group:1"));
  EXPECT_TRUE(Matches("*", "anything/at:all"));
  EXPECT_TRUE(Matches("*.dlq", "user:1.dlq"));
  EXPECT_FALSE(Matches("*.dlq", "user:1.dlq2"));
}

TEST(NamePattern, StarsInTheMiddleMatchInOrderWithoutOverlap) {
  EXPECT_TRUE(Matches("a*b*c", "abc"));
  EXPECT_TRUE(Matches("a*b*c", "a-b-b-c"));
  EXPECT_FALSE(Matches("a*b*c", "acb"));
  // The prefix and suffix may not share bytes.
  EXPECT_FALSE(Matches("ab*ba", "aba"));
  EXPECT_TRUE(Matches("ab*ba", "abba"));
  EXPECT_TRUE(Matches("a**b", "ab"));
  // The leftmost place of a middle part never hides a later match.
  EXPECT_TRUE(Matches("*x*xy", "xxxy"));
}

TEST(NamePattern, PrincipalIsReplacedByTheName) {
  EXPECT_TRUE(Matches("user:{principal}", "user:alice", "alice"));
  EXPECT_FALSE(Matches("user:{principal}", "user:bob", "alice"));
  EXPECT_FALSE(Matches("user:{principal}", "user:alice2", "alice"));
  EXPECT_TRUE(Matches("user:{principal}/*", "user:alice/phone", "alice"));
  EXPECT_FALSE(Matches("user:{principal}/*", "user:alicex/phone", "alice"));
  EXPECT_TRUE(Matches("{principal}.{principal}", "a.a", "a"));
  EXPECT_EQ(NamePattern::Compile("inbox:{principal}", "bob")->text(), "inbox:bob");
}

TEST(NamePattern, RefusesEmptyPatternsUnknownPlaceholdersAndLongOnes) {
  EXPECT_FALSE(NamePattern::Compile("", "p").ok());
  for (std::string bad : {"user:{user}", "user:{principal", "user:}", "{}"}) {
    Result<NamePattern> compiled = NamePattern::Compile(bad, "p");
    ASSERT_FALSE(compiled.ok()) << bad;
    EXPECT_EQ(compiled.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(compiled.status().message().find("{principal}"), std::string::npos);
  }
  EXPECT_TRUE(NamePattern::Compile(std::string(255, 'q'), "p").ok());
  EXPECT_FALSE(NamePattern::Compile(std::string(256, 'q'), "p").ok());
  // Long once expanded.
  EXPECT_FALSE(NamePattern::Compile(std::string(250, 'q') + "{principal}", "abcdef").ok());
}

TEST(NamePatterns, MatchesWhenAnyPatternDoes) {
  Result<NamePatterns> list =
      NamePatterns::Compile({"user:{principal}", "user:{principal}/*", "room:*"}, "carol");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->Matches("user:carol"));
  EXPECT_TRUE(list->Matches("user:carol/tablet"));
  EXPECT_TRUE(list->Matches("room:7"));
  EXPECT_FALSE(list->Matches("user:dave"));
  EXPECT_EQ(list->ToString(), "user:carol,user:carol/*,room:*");

  Result<NamePatterns> none = NamePatterns::Compile({}, "carol");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(none->Matches("user:carol"));
  EXPECT_TRUE(NamePatterns::Everything().Matches("any:thing"));

  EXPECT_FALSE(NamePatterns::Compile({"ok:*", "bad:{x}"}, "carol").ok());
}

}  // namespace
}  // namespace hermod::server
