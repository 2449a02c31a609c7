#include "erds/smtp/reply_codes.h"

#include <gtest/gtest.h>

namespace erds::smtp {
namespace {

struct Case {
  ErrorCode code;
  std::string expected;
};

TEST(ReplyCodes, OneTableForEveryErrorCode) {
  const Case cases[] = {
      {ErrorCode::InvalidInput, "550 5.6.0 Message refused: why\r\n"},
      {ErrorCode::NotFound, "550 5.1.1 Not found: why\r\n"},
      {ErrorCode::Conflict, "554 5.3.0 Refused: why\r\n"},
      {ErrorCode::Unauthorized, "550 5.7.1 Not authorised: why\r\n"},
      {ErrorCode::Unavailable, "451 4.3.0 Temporary failure, try again later\r\n"},
      {ErrorCode::IntegrityFailure, "554 5.7.7 Integrity check failed: why\r\n"},
      {ErrorCode::Internal, "451 4.3.0 Temporary failure, try again later\r\n"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(replyForError(Error{c.code, "why"}).render(), c.expected);
  }
}

TEST(ReplyCodes, TextIsSanitisedToOneLine) {
  auto r = replyForError(Error::invalidInput("bad\r\n250 2.0.0 fake\x01\xff"));
  EXPECT_EQ(r.render(), "550 5.6.0 Message refused: bad  250 2.0.0 fake  \r\n");
  EXPECT_EQ(sanitizeReplyText(std::string(500, 'a')).size(), 200u);
}

}  // namespace
}  // namespace erds::smtp
