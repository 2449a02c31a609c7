// The one ErrorCode -> SMTP reply table of the gateway.
#include "erds/smtp/reply_codes.h"

namespace erds::smtp {

std::string sanitizeReplyText(std::string_view text, std::size_t maxLen) {
  std::string out;
  out.reserve(std::min(text.size(), maxLen));
  for (char c : text) {
    if (out.size() >= maxLen) break;
    auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : ' ');
  }
  return out;
}

std::string SmtpReply::render() const {
  std::string line = std::to_string(code);
  line += ' ';
  if (!enhanced.empty()) {
    line += enhanced;
    line += ' ';
  }
  line += sanitizeReplyText(text, 400);
  line += "\r\n";
  return line;
}

SmtpReply replyForError(const Error& error) {
  switch (error.code) {
    case ErrorCode::InvalidInput:
      return {550, "5.6.0", "Message refused: " + sanitizeReplyText(error.message)};
    case ErrorCode::NotFound:
      return {550, "5.1.1", "Not found: " + sanitizeReplyText(error.message)};
    case ErrorCode::Conflict:
      return {554, "5.3.0", "Refused: " + sanitizeReplyText(error.message)};
    case ErrorCode::Unauthorized:
      return {550, "5.7.1", "Not authorised: " + sanitizeReplyText(error.message)};
    case ErrorCode::Unavailable:
      return {451, "4.3.0", "Temporary failure, try again later"};
    case ErrorCode::IntegrityFailure:
      return {554, "5.7.7", "Integrity check failed: " + sanitizeReplyText(error.message)};
    case ErrorCode::Internal:
      break;
  }
  return {451, "4.3.0", "Temporary failure, try again later"};
}

}  // namespace erds::smtp
