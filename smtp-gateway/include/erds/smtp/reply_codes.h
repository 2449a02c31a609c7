// The gateway's one table from erds::ErrorCode to an SMTP reply (RFC 5321 code + RFC 3463 enhanced
// status). Every refusal that comes from a Result goes through here.
#pragma once

#include <string>

#include "erds/base/result.h"

namespace erds::smtp {

struct SmtpReply {
  int code = 250;
  std::string enhanced;  // "2.0.0"
  std::string text;
  // "<code> <enhanced> <text>\r\n" (text sanitised to printable ASCII, one line).
  std::string render() const;
};

// InvalidInput -> 550 5.6.0, NotFound -> 550 5.1.1, Conflict -> 554 5.3.0,
// Unauthorized -> 550 5.7.1, Unavailable -> 451 4.3.0, IntegrityFailure -> 554 5.7.7,
// Internal -> 451 4.3.0. Permanent codes carry error.message (truncated, sanitised); temporary
// ones carry a generic text only, so no internal detail reaches the client.
SmtpReply replyForError(const Error& error);

// A single line of printable ASCII, at most `maxLen` characters.
std::string sanitizeReplyText(std::string_view text, std::size_t maxLen = 200);

}  // namespace erds::smtp
