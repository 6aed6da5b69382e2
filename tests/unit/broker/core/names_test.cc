#include "names.h"

#include <gtest/gtest.h>

#include <string>

namespace hermod::core {
namespace {

TEST(Names, AcceptsOrdinaryQueueNames) {
  EXPECT_TRUE(ValidateQueueName("user:42").ok());
  EXPECT_TRUE(ValidateQueueName("user:42/phone").ok());
  EXPECT_TRUE(ValidateQueueName("Grüße-日本").ok());
  EXPECT_TRUE(ValidateQueueName(std::string(255, 'a')).ok());
}

TEST(Names, RefusesBadQueueNames) {
  EXPECT_EQ(ValidateQueueName("").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateQueueName(std::string(256, 'a')).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateQueueName("a\nb").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateQueueName(std::string("a\0b", 3)).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateQueueName("\xff\xfe").code(), ErrorCode::kInvalidArgument);
}

TEST(Names, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9"));           // é
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));   // emoji
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

}  // namespace
}  // namespace hermod::core
