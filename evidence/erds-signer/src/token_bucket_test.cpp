#include "token_bucket.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

namespace erds::signer {
namespace {

TEST(TokenBucketTest, BurstOfOneSecondThenRefillAtRate) {
  erds::testing::FakeClock clock(TimePoint(std::chrono::seconds(1'000'000)));
  TokenBucket bucket(10, clock);
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(bucket.tryAcquire()) << i;
  EXPECT_FALSE(bucket.tryAcquire());
  clock.advance(std::chrono::milliseconds(100));  // one token
  EXPECT_TRUE(bucket.tryAcquire());
  EXPECT_FALSE(bucket.tryAcquire());
  clock.advance(std::chrono::milliseconds(250));  // 2.5 tokens
  EXPECT_TRUE(bucket.tryAcquire());
  EXPECT_TRUE(bucket.tryAcquire());
  EXPECT_FALSE(bucket.tryAcquire());
  clock.advance(std::chrono::hours(1));  // capped at one second's worth
  int granted = 0;
  while (bucket.tryAcquire())
    ++granted;
  EXPECT_EQ(granted, 10);
}

TEST(TokenBucketTest, FractionalRate) {
  erds::testing::FakeClock clock(TimePoint(std::chrono::seconds(5)));
  TokenBucket bucket(2.5, clock);
  EXPECT_TRUE(bucket.tryAcquire());
  EXPECT_TRUE(bucket.tryAcquire());
  EXPECT_FALSE(bucket.tryAcquire());
  clock.advance(std::chrono::milliseconds(199));  // 0.5 left + 0.4975
  EXPECT_FALSE(bucket.tryAcquire());
  clock.advance(std::chrono::milliseconds(2));
  EXPECT_TRUE(bucket.tryAcquire());
}

}  // namespace
}  // namespace erds::signer
