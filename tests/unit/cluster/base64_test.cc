#include "cluster/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace hermod::cluster {
namespace {

// RFC 4648, section 10.
TEST(Base64, EncodesTheRfcVectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, RoundTripsEveryByteAtEveryLength) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  for (size_t n = 0; n <= all.size(); ++n) {
    const std::string bytes = all.substr(all.size() - n);
    std::optional<std::string> back = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(back.has_value()) << n;
    EXPECT_EQ(*back, bytes) << n;
  }
}

TEST(Base64, RefusesWhatIsNotPaddedStandardBase64) {
  for (const char* bad :
       {"Zm9", "Zm9v=", "QQ==QUJD", "Z===", "====", "Zm!v", "Zm9v\n", " Zm9v", "Zm-_"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace hermod::cluster
