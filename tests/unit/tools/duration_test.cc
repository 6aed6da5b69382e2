// ParseDuration (tools/duration.h): every accepted form, the rounding, and
// every kind of refusal with a message that names the text.
#include "duration.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace hermod::cli {
namespace {

using std::chrono::milliseconds;

milliseconds Ms(const std::string& text) {
  Result<milliseconds> parsed = ParseDuration(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().ToString();
  return parsed.ok() ? *parsed : milliseconds(-1);
}

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(Ms("250ms"), milliseconds(250));
  EXPECT_EQ(Ms("5s"), milliseconds(5000));
  EXPECT_EQ(Ms("2m"), milliseconds(120000));
  EXPECT_EQ(Ms("1h"), milliseconds(3600000));
}

TEST(ParseDuration, BareNumbersAreSeconds) {
  EXPECT_EQ(Ms("10"), milliseconds(10000));
  EXPECT_EQ(Ms("0"), milliseconds(0));
  EXPECT_EQ(Ms("0.3"), milliseconds(300));
  EXPECT_EQ(Ms(".5"), milliseconds(500));
  EXPECT_EQ(Ms("007"), milliseconds(7000));
}

TEST(ParseDuration, FractionsAreExactAndRoundDown) {
  EXPECT_EQ(Ms("0.1s"), milliseconds(100));  // no binary floating point error
  EXPECT_EQ(Ms("1.5m"), milliseconds(90000));
  EXPECT_EQ(Ms("0.25h"), milliseconds(900000));
  EXPECT_EQ(Ms("1.9ms"), milliseconds(1));
  EXPECT_EQ(Ms("0.0004s"), milliseconds(0));
  EXPECT_EQ(Ms("1.00000000000000000001s"), milliseconds(1000));  // digits past 9 ignored
  EXPECT_EQ(Ms("0ms"), milliseconds(0));
}

TEST(ParseDuration, AcceptsUpToTheMaximum) {
  EXPECT_EQ(Ms(std::to_string(kMaxDuration.count()) + "ms"), kMaxDuration);
  EXPECT_EQ(Ms("300000h"), milliseconds(int64_t{300000} * 3600 * 1000));
}

TEST(ParseDuration, RefusesMalformedText) {
  for (const char* bad :
       {"",    "s",  "ms",   ".",  ".s",  "1.",  "1.s",  "-1s",   "+1s",  " 1s", "1s ",
        "1 s", "1S", "1sec", "1d", "1us", "1e3", "1,5s", "1m30s", "0x10", "1..2"}) {
    Result<milliseconds> parsed = ParseDuration(bad);
    ASSERT_FALSE(parsed.ok()) << "'" << bad << "' parsed as " << parsed->count() << " ms";
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("'" + std::string(bad) + "'"), std::string::npos)
        << parsed.status().message();
  }
}

TEST(ParseDuration, RefusesTooLargeValuesWithoutOverflowing) {
  for (const std::string& big :
       {std::to_string(kMaxDuration.count() + 1) + "ms", std::string("100000000000000"),
        std::string("99999999999999999999999h"), std::string("9223372036854775807ms"),
        std::string("5124095576h"), std::to_string(kMaxDuration.count() / 1000) + ".999s"}) {
    Result<milliseconds> parsed = ParseDuration(big);
    EXPECT_FALSE(parsed.ok()) << big << " parsed as " << parsed->count() << " ms";
    if (!parsed.ok()) {
      EXPECT_NE(parsed.status().message().find("too large"), std::string::npos)
          << parsed.status().message();
    }
  }
}

TEST(CheckDuration, IsEmptyForGoodTextAndTheReasonOtherwise) {
  EXPECT_EQ(CheckDuration("5s"), "");
  EXPECT_NE(CheckDuration("5x").find("unknown unit 'x'"), std::string::npos) << CheckDuration("5x");
}

}  // namespace
}  // namespace hermod::cli
