#include "erds/base/result.h"

#include <gtest/gtest.h>

#include "erds/base/clock.h"
#include "erds/base/secret.h"
#include "fake_clock.h"

#include <sstream>

namespace erds {
namespace {

TEST(ResultTest, ErrorCodeNamesAreStable) {
  const std::pair<ErrorCode, const char*> kCases[] = {
      {ErrorCode::InvalidInput, "invalid_input"}, {ErrorCode::NotFound, "not_found"},
      {ErrorCode::Conflict, "conflict"},          {ErrorCode::Unauthorized, "unauthorized"},
      {ErrorCode::Unavailable, "unavailable"},    {ErrorCode::IntegrityFailure, "integrity_failure"},
      {ErrorCode::Internal, "internal"},
  };
  for (const auto& [code, name] : kCases) EXPECT_EQ(errorCodeName(code), name);
}

TEST(ResultTest, ToStringJoinsNameAndMessage) {
  EXPECT_EQ(Error::conflict("sqlstate 23505: dup").toString(), "conflict: sqlstate 23505: dup");
}

Result<int> half(int x) {
  if (x % 2 != 0) return Error::invalidInput("odd");
  return x / 2;
}

Result<int> quarter(int x) {
  auto h = half(x);
  ERDS_RETURN_IF_ERROR(h);
  return half(*h);
}

Result<void> checkPositive(int x) {
  if (x <= 0) return Error::invalidInput("not positive");
  return ok();
}

Result<int> positiveQuarter(int x) {
  ERDS_RETURN_IF_ERROR(checkPositive(x));
  return quarter(x);
}

TEST(ResultTest, ReturnIfErrorPropagates) {
  EXPECT_EQ(quarter(8).value(), 2);
  auto r = quarter(6);  // 6/2 = 3, odd
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().is(ErrorCode::InvalidInput));
  EXPECT_EQ(r.error().message, "odd");
  EXPECT_EQ(positiveQuarter(-4).error().message, "not positive");
  EXPECT_EQ(positiveQuarter(4).value(), 1);
  EXPECT_EQ(quarter(3).value_or(-1), -1);
}

TEST(ResultDeathTest, CheckFailedAbortsWithReason) {
  EXPECT_DEATH(ERDS_CHECK(1 + 1 == 3, "arithmetic is broken"), "arithmetic is broken");
}

TEST(ResultDeathTest, ValueOnErrorAborts) {
  Result<int> r = Error::internal("x");
  EXPECT_DEATH((void)r.value(), "");
}

// ---- Clock -----------------------------------------------------------------------------------

TimePoint at(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

TEST(ClockTest, FormatRfc3339) {
  struct Case {
    int64_t us;
    bool fraction;
    const char* want;
  };
  const Case kCases[] = {
      {0, true, "1970-01-01T00:00:00.000000Z"},
      {0, false, "1970-01-01T00:00:00Z"},
      {1795773600123456, true, "2026-11-27T10:00:00.123456Z"},
      {1795773600000000, false, "2026-11-27T10:00:00Z"},
      {1795773600000001, false, "2026-11-27T10:00:00.000001Z"},  // non-zero fraction is kept
      {951782400000000, true, "2000-02-29T00:00:00.000000Z"},
      {-1, true, "1969-12-31T23:59:59.999999Z"},
  };
  for (const auto& c : kCases) EXPECT_EQ(formatRfc3339(at(c.us), c.fraction), c.want) << c.us;
}

TEST(ClockTest, SystemClockIsCloseToSystemTime) {
  auto before = std::chrono::system_clock::now();
  TimePoint now = SystemClock::instance().now();
  auto after = std::chrono::system_clock::now();
  EXPECT_GE(now, std::chrono::time_point_cast<std::chrono::microseconds>(before));
  EXPECT_LE(now, std::chrono::time_point_cast<std::chrono::microseconds>(after) + std::chrono::microseconds(1));
  auto s1 = SystemClock::instance().steadyNow();
  auto s2 = SystemClock::instance().steadyNow();
  EXPECT_LE(s1, s2);
}

TEST(ClockTest, FakeClockAdvances) {
  testing::FakeClock clock(at(1000));
  const Clock& c = clock;
  EXPECT_EQ(c.now(), at(1000));
  clock.advance(std::chrono::seconds(2));
  EXPECT_EQ(c.now(), at(2001000));
  clock.set(at(5));
  EXPECT_EQ(c.now(), at(5));
}

// ---- Secret ----------------------------------------------------------------------------------

TEST(SecretTest, StreamsRedacted) {
  Secret s("hunter2-very-secret");
  std::ostringstream os;
  os << "password=" << s;
  EXPECT_EQ(os.str(), "password=[redacted]");
  EXPECT_EQ(s.reveal(), "hunter2-very-secret");
  EXPECT_EQ(s.size(), 19u);
}

TEST(SecretTest, MoveEmptiesTheSource) {
  Secret a("0123456789abcdef0123456789abcdef");
  Secret b(std::move(a));
  EXPECT_EQ(b.reveal(), "0123456789abcdef0123456789abcdef");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  Secret c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.size(), 32u);
  Secret d = c;  // copies are allowed and independent
  EXPECT_EQ(d.reveal(), c.reveal());
}

}  // namespace
}  // namespace erds
