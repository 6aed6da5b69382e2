// ParseTimestamp (tools/timestamp.h): RFC 3339 times with zones and
// fractions, epoch milliseconds, and refusals that name the text.
#include "timestamp.h"

#include <gtest/gtest.h>

#include <string>

namespace hermod::cli {
namespace {

uint64_t Ms(const std::string& text) {
  Result<uint64_t> parsed = ParseTimestamp(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().ToString();
  return parsed.ok() ? *parsed : 0;
}

TEST(ParseTimestamp, ReadsRfc3339InUtc) {
  EXPECT_EQ(Ms("1970-01-01T00:00:00Z"), 0u);
  EXPECT_EQ(Ms("2026-12-06T10:00:00Z"), 1796551200000u);
  EXPECT_EQ(Ms("2000-02-29T23:59:59Z"), 951868799000u);  // a leap day
  EXPECT_EQ(Ms("2026-12-06t10:00:00z"), 1796551200000u);
  EXPECT_EQ(Ms("2026-12-06 10:00:00Z"), 1796551200000u);
}

TEST(ParseTimestamp, ReadsFractionsAndOffsets) {
  EXPECT_EQ(Ms("2026-12-06T10:00:00.25Z"), 1796551200250u);
  EXPECT_EQ(Ms("2026-12-06T10:00:00.123456Z"), 1796551200123u);  // rounded down
  EXPECT_EQ(Ms("2026-12-06T11:00:00+01:00"), 1796551200000u);
  EXPECT_EQ(Ms("2026-12-06T05:30:00-04:30"), 1796551200000u);
}

TEST(ParseTimestamp, ReadsEpochMilliseconds) {
  EXPECT_EQ(Ms("1796551200000"), 1796551200000u);
  EXPECT_EQ(Ms("0"), 0u);
}

TEST(ParseTimestamp, RefusesAnythingElseNamingTheText) {
  for (const char* text :
       {"", "tomorrow", "2026-12-06", "2026-12-06T10:00:00", "2026-12-06T10:00Z",
        "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-12-06T24:00:00Z",
        "2026-12-06T10:00:00.Z", "2026-12-06T10:00:00+0100", "2026-12-06T10:00:00Zjunk",
        "1969-12-31T23:59:59Z", "-5", "99999999999999999999999"}) {
    Result<uint64_t> parsed = ParseTimestamp(text);
    EXPECT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(parsed.status().message().find("'" + std::string(text) + "'"), std::string::npos)
        << parsed.status().message();
  }
}

}  // namespace
}  // namespace hermod::cli
