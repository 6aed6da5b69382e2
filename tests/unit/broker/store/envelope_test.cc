#include "envelope.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace hermod::store {
namespace {

TEST(Envelope, RoundTripsHeadersAndPayload) {
  std::string out = "prefix";
  size_t start = out.size();
  EnvelopeWriter w(&out, 111, 222, 2);
  w.Header("a", "1");
  w.Header("content-type", std::string("bin\0ary", 7));
  w.Payload(std::string("\x00\x01payload", 9));
  size_t expected = EnvelopeWriter::FixedBytes() + EnvelopeWriter::HeaderBytes(1, 1) +
                    EnvelopeWriter::HeaderBytes(12, 7) + 9;
  ASSERT_EQ(out.size() - start, expected);

  EnvelopeView v;
  ASSERT_TRUE(v.Parse(std::string_view(out).substr(start)));
  EXPECT_EQ(v.publish_ms(), 111u);
  EXPECT_EQ(v.expires_ms(), 222u);
  EXPECT_EQ(v.payload(), std::string("\x00\x01payload", 9));
  std::vector<std::pair<std::string, std::string>> headers;
  v.ForEachHeader([&](std::string_view k, std::string_view val) {
    headers.emplace_back(std::string(k), std::string(val));
  });
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].first, "a");
  EXPECT_EQ(headers[1].second, std::string("bin\0ary", 7));
}

TEST(Envelope, RejectsEveryTruncation) {
  std::string out;
  EnvelopeWriter w(&out, 1, 0, 1);
  w.Header("key", "value");
  w.Payload("payload");
  for (size_t n = 0; n < out.size(); ++n) {
    EnvelopeView v;
    EXPECT_FALSE(v.Parse(std::string_view(out).substr(0, n))) << n;
  }
  EnvelopeView v;
  EXPECT_FALSE(v.Parse(out + "x"));  // trailing garbage
}

}  // namespace
}  // namespace hermod::store
