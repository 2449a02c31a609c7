// The SMTP server state machine. Replies follow RFC 2034: an enhanced status code on every 2xx/4xx/
// 5xx reply except the greeting and the HELO/EHLO answers.
#include "erds/smtp/smtp_session.h"

#include <algorithm>
#include <cctype>

#include "base64.h"
#include "erds/base/log.h"
#include "erds/identity/app_token.h"
#include "erds/smtp/reply_codes.h"
#include "mime_raw.h"

namespace erds::smtp {

using internal::iequals;
using internal::toLower;

namespace {

enum class Phase { Command, Data, AuthPlain, AuthLoginUser, AuthLoginPassword, TlsPending, Closed };

enum class DataProblem { None, TooBig, LineTooLong, BareLineEnd, EightBitHeader, Spool };

std::string reply(int code, std::string_view enhanced, std::string_view text) {
  return SmtpReply{code, std::string(enhanced), std::string(text)}.render();
}

bool isAsciiPrintable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 32 && u < 127;
  });
}

// Parses "<local@domain>" (source routes dropped). Returns nullopt on a syntax error; "" for <>.
std::optional<std::string> parsePath(std::string_view s, std::string_view* rest) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.empty() || s.front() != '<') return std::nullopt;
  std::size_t close = s.find('>');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view inner = s.substr(1, close - 1);
  *rest = s.substr(close + 1);
  if (!inner.empty() && inner.front() == '@') {  // A-d-l source route (RFC 5321 4.1.2): ignore
    std::size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    inner.remove_prefix(colon + 1);
  }
  if (inner.empty()) return std::string();
  if (inner.size() > 254 || !isAsciiPrintable(inner)) return std::nullopt;
  std::size_t at = inner.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == inner.size() || at > 64) return std::nullopt;
  std::string_view domain = inner.substr(at + 1);
  for (char c : domain) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '[' || c == ']' ||
          c == ':'))
      return std::nullopt;
  }
  for (char c : inner.substr(0, at)) {
    if (c == '<' || c == '>' || c == ',' || c == ';' || c == '(' || c == ')') return std::nullopt;
  }
  return std::string(inner);
}

struct Params {
  std::vector<std::pair<std::string, std::string>> list;
  bool ok = true;
};

Params parseParams(std::string_view rest) {
  Params p;
  std::size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ') ++pos;
    if (pos >= rest.size()) break;
    std::size_t end = rest.find(' ', pos);
    std::string_view tok = rest.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    std::size_t eq = tok.find('=');
    std::string key = toLower(tok.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : std::string(tok.substr(eq + 1));
    if (key.empty() || !isAsciiPrintable(tok)) p.ok = false;
    p.list.emplace_back(key, value);
    pos = end == std::string_view::npos ? rest.size() : end;
  }
  return p;
}

}  // namespace

struct SmtpSession::State {
  SessionConfig config;
  std::string client;
  Authenticator* authenticator = nullptr;
  SubmissionSink* sink = nullptr;

  Phase phase = Phase::Command;
  std::string in;
  bool discardingLongLine = false;

  std::optional<std::string> helo;
  bool esmtp = false;
  bool tls = false;
  TlsInfo tlsInfo;
  std::optional<AuthenticatedParty> certParty;
  std::optional<AuthenticatedParty> party;
  std::string authUser;

  // Transaction.
  std::optional<std::string> mailFrom;
  bool eightBit = false;
  std::vector<std::string> recipients;

  // DATA.
  std::unique_ptr<MessageData> data;
  DataProblem problem = DataProblem::None;
  bool inHeaders = true;

  std::size_t commands = 0;
  std::size_t errors = 0;
  std::size_t authFailures = 0;
  std::size_t messages = 0;

  void resetTransaction() {
    mailFrom.reset();
    eightBit = false;
    recipients.clear();
    data.reset();
    problem = DataProblem::None;
    inHeaders = true;
  }

  // A 5xx reply for a client mistake; counts towards maxErrors.
  std::string error(int code, std::string_view enh, std::string_view text, bool* close) {
    ++errors;
    if (errors > config.limits.maxErrors) {
      *close = true;
      phase = Phase::Closed;
      return reply(code, enh, text) + reply(421, "4.7.0", "Too many errors, closing connection");
    }
    return reply(code, enh, text);
  }

  std::string ehloReply() const {
    std::vector<std::string> lines;
    lines.push_back(config.hostname);
    lines.push_back("SIZE " + std::to_string(config.limits.maxMessageBytes));
    lines.push_back("8BITMIME");
    lines.push_back("PIPELINING");
    lines.push_back("ENHANCEDSTATUSCODES");
    if (config.tlsAvailable && !tls) lines.push_back("STARTTLS");
    if (config.listener == ListenerKind::Submission && tls && !party) lines.push_back("AUTH PLAIN LOGIN");
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      out += "250";
      out += i + 1 == lines.size() ? ' ' : '-';
      out += lines[i];
      out += "\r\n";
    }
    return out;
  }

  std::string finishAuth(Result<AuthenticatedParty> r, bool* close) {
    phase = Phase::Command;
    if (!r) {
      if (r.error().is(ErrorCode::Unavailable) || r.error().is(ErrorCode::Internal)) {
        log::warn("smtp.auth_unavailable", {{"client", client}});
        return reply(454, "4.7.0", "Temporary authentication failure");
      }
      ++authFailures;
      log::info("smtp.auth_failed", {{"client", client}});
      if (authFailures >= config.limits.maxAuthFailures) {
        *close = true;
        phase = Phase::Closed;
        return reply(535, "5.7.8", "Authentication credentials invalid") +
               reply(421, "4.7.0", "Too many authentication failures, closing connection");
      }
      return reply(535, "5.7.8", "Authentication credentials invalid");
    }
    AuthenticatedParty p = std::move(r).value();
    if (config.requireClientCertificate) {
      // The certificate of the same party, or (policy permitting, see credentials()) an
      // application token without one; a token with another party's certificate is refused too.
      const bool viaToken = std::find(p.methods.begin(), p.methods.end(),
                                      identity::AuthenticationMethod::ApplicationToken) != p.methods.end();
      if (certParty ? certParty->partyId != p.partyId : !viaToken) {
        ++authFailures;
        log::info("smtp.auth_certificate_mismatch", {{"client", client}});
        return reply(535, "5.7.8", "Authentication credentials invalid");
      }
      if (certParty) {
        // Two factors (the credential and the certificate): the level is at least what the
        // certificate reaches on its own (substantial for a client certificate).
        for (auto m : certParty->methods) {
          if (std::find(p.methods.begin(), p.methods.end(), m) == p.methods.end()) p.methods.push_back(m);
          if (!identity::atLeast(p.level, identity::authenticationLevel(m))) p.level = identity::authenticationLevel(m);
        }
        if (!identity::atLeast(p.level, certParty->level)) p.level = certParty->level;
      }
    }
    log::info("smtp.auth_ok", {{"client", client}, {"party", p.partyId}});
    party = std::move(p);
    return reply(235, "2.7.0", "Authentication successful");
  }

  // The SASL credentials, to the authenticator. Where a certificate is required but none was
  // presented, only an application token can succeed: anything else is refused here, before any
  // password hashing or throttle update (the client gets the same 535 either way).
  std::string credentials(const std::string& username, const Secret& password, bool* close) {
    if (config.requireClientCertificate && !certParty &&
        !identity::AppTokenManager::looksLikeToken(password.reveal())) {
      return finishAuth(Error::unauthorized("a client certificate or an application token is required"), close);
    }
    // "ip:port" (IPv6 unbracketed): the address is everything before the last ':'.
    const std::string ip = client.substr(0, client.rfind(':'));
    return finishAuth(authenticator->authenticatePasswordFrom(username, password, ip), close);
  }

  std::string authPlain(std::string_view b64, bool* close) {
    auto decoded = internal::base64Decode(b64);
    if (!decoded) {
      phase = Phase::Command;
      return error(501, "5.5.2", "Invalid base64 data", close);
    }
    std::string_view d = *decoded;  // stays valid: *decoded is moved only after the last use of d
    std::size_t a = d.find('\0');
    std::size_t b = a == std::string_view::npos ? a : d.find('\0', a + 1);
    if (a == std::string_view::npos || b == std::string_view::npos) {
      phase = Phase::Command;
      return error(501, "5.5.2", "Malformed PLAIN response", close);
    }
    std::string_view authz = d.substr(0, a);
    std::string_view user = d.substr(a + 1, b - a - 1);
    Secret password{std::string(d.substr(b + 1))};
    if (!authz.empty() && authz != user) {
      return finishAuth(Error::unauthorized("authorization identity differs"), close);
    }
    std::string username(user);
    Secret wiped{std::move(*decoded)};  // the decoded response holds the password: wipe on scope exit
    return credentials(username, password, close);
  }

  std::string command(std::string_view line, Output* out) {
    bool close = false;
    std::string r = commandInner(line, &close, out);
    if (close) out->close = true;
    return r;
  }

  std::string commandInner(std::string_view line, bool* close, Output* out) {
    if (phase == Phase::AuthPlain || phase == Phase::AuthLoginUser || phase == Phase::AuthLoginPassword) {
      if (line == "*") {
        phase = Phase::Command;
        return error(501, "5.0.0", "Authentication cancelled", close);
      }
      if (phase == Phase::AuthPlain) return authPlain(line, close);
      auto decoded = internal::base64Decode(line);
      if (!decoded) {
        phase = Phase::Command;
        return error(501, "5.5.2", "Invalid base64 data", close);
      }
      if (phase == Phase::AuthLoginUser) {
        authUser = *decoded;
        phase = Phase::AuthLoginPassword;
        return "334 UGFzc3dvcmQ6\r\n";
      }
      Secret password{std::move(*decoded)};
      return credentials(authUser, password, close);
    }

    if (++commands > config.limits.maxCommands) {
      *close = true;
      phase = Phase::Closed;
      return reply(421, "4.7.0", "Too many commands, closing connection");
    }
    std::size_t sp = line.find(' ');
    std::string verb = toLower(line.substr(0, sp));
    std::string_view arg = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);

    if (verb == "ehlo" || verb == "helo") {
      while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
      if (arg.empty() || !isAsciiPrintable(arg.substr(0, arg.find(' '))))
        return error(501, "5.5.4", "Syntax: EHLO hostname", close);
      resetTransaction();
      helo = std::string(arg.substr(0, std::min<std::size_t>(arg.find(' '), 255)));
      esmtp = verb == "ehlo";
      if (!esmtp) return "250 " + config.hostname + "\r\n";
      return ehloReply();
    }
    if (verb == "noop") return reply(250, "2.0.0", "Ok");
    if (verb == "quit") {
      *close = true;
      phase = Phase::Closed;
      return reply(221, "2.0.0", "Bye");
    }
    if (verb == "rset") {
      if (!arg.empty()) return error(501, "5.5.4", "Syntax: RSET", close);
      resetTransaction();
      return reply(250, "2.0.0", "Ok");
    }
    if (verb == "vrfy") return reply(252, "2.5.0", "Cannot VRFY user, but will accept message for delivery");
    if (verb == "expn") return reply(502, "5.5.1", "EXPN not available");
    if (verb == "help") return reply(214, "2.0.0", "See RFC 5321");
    if (verb == "starttls") {
      if (!arg.empty()) return error(501, "5.5.4", "Syntax: STARTTLS", close);
      if (!config.tlsAvailable) return error(502, "5.5.1", "STARTTLS not available", close);
      if (tls) return error(503, "5.5.1", "TLS already active", close);
      phase = Phase::TlsPending;
      out->startTls = true;
      return reply(220, "2.0.0", "Ready to start TLS");
    }
    if (verb == "auth") {
      if (config.listener != ListenerKind::Submission || authenticator == nullptr)
        return error(502, "5.5.1", "AUTH not available", close);
      if (!helo || !esmtp) return error(503, "5.5.1", "Send EHLO first", close);
      if (!tls) return error(530, "5.7.0", "Must issue a STARTTLS command first", close);
      if (party) return error(503, "5.5.1", "Already authenticated", close);
      if (mailFrom) return error(503, "5.5.1", "AUTH not allowed during a mail transaction", close);
      if (config.requireClientCertificate && !certParty && !authenticator->acceptsApplicationTokens())
        return error(530, "5.7.0", "A client certificate bound to your account is required", close);
      std::size_t s2 = arg.find(' ');
      std::string mech = toLower(arg.substr(0, s2));
      std::string_view initial = s2 == std::string_view::npos ? std::string_view() : arg.substr(s2 + 1);
      if (mech == "plain") {
        if (initial.empty()) {
          phase = Phase::AuthPlain;
          return "334 \r\n";
        }
        if (initial == "=") return authPlain("", close);
        return authPlain(initial, close);
      }
      if (mech == "login") {
        if (initial.empty()) {
          phase = Phase::AuthLoginUser;
          return "334 VXNlcm5hbWU6\r\n";
        }
        auto decoded = internal::base64Decode(initial);
        if (!decoded) return error(501, "5.5.2", "Invalid base64 data", close);
        authUser = *decoded;
        phase = Phase::AuthLoginPassword;
        return "334 UGFzc3dvcmQ6\r\n";
      }
      return error(504, "5.5.4", "Unrecognized authentication mechanism", close);
    }
    if (verb == "mail") {
      if (!helo) return error(503, "5.5.1", "Send EHLO/HELO first", close);
      if (config.listener == ListenerKind::Submission && !party)
        return error(530, "5.7.0", "Authentication required", close);
      if (mailFrom) return error(503, "5.5.1", "Nested MAIL command", close);
      if (messages >= config.limits.maxMessages)
        return reply(452, "4.5.3", "Too many messages in this session");
      if (arg.size() < 5 || !iequals(arg.substr(0, 5), "from:"))
        return error(501, "5.5.4", "Syntax: MAIL FROM:<address>", close);
      std::string_view rest;
      auto path = parsePath(arg.substr(5), &rest);
      if (!path) return error(553, "5.1.7", "Malformed sender address", close);
      Params params = parseParams(rest);
      if (!params.ok) return error(501, "5.5.4", "Malformed MAIL parameters", close);
      bool eight = false;
      for (const auto& [k, v] : params.list) {
        if (k == "size") {
          if (v.empty() || v.size() > 19 || !std::all_of(v.begin(), v.end(), ::isdigit))
            return error(501, "5.5.4", "Malformed SIZE parameter", close);
          if (std::stoull(v) > config.limits.maxMessageBytes)
            return reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
        } else if (k == "body") {
          std::string b = toLower(v);
          if (b == "8bitmime") eight = true;
          else if (b != "7bit") return error(501, "5.5.4", "Unsupported BODY type", close);
        } else {
          return error(555, "5.5.4", "Unsupported MAIL parameter", close);
        }
      }
      if (config.listener == ListenerKind::Submission) {
        if (path->empty()) return error(553, "5.7.1", "Null sender not allowed on submission", close);
        if (authenticator == nullptr) return reply(451, "4.3.0", "Temporary failure, try again later");
        auto allowed = authenticator->authorizeSender(*party, *path);
        if (!allowed) {
          if (allowed.error().is(ErrorCode::Unavailable) || allowed.error().is(ErrorCode::Internal))
            return reply(451, "4.3.0", "Temporary failure, try again later");
          log::info("smtp.sender_not_bound", {{"client", client}, {"party", party->partyId}});
          return error(553, "5.7.1", "Sender address not owned by the authenticated user", close);
        }
      }
      mailFrom = *path;
      eightBit = eight;
      recipients.clear();
      return reply(250, "2.1.0", "Ok");
    }
    if (verb == "rcpt") {
      if (!mailFrom) return error(503, "5.5.1", "Need MAIL before RCPT", close);
      if (arg.size() < 3 || !iequals(arg.substr(0, 3), "to:"))
        return error(501, "5.5.4", "Syntax: RCPT TO:<address>", close);
      std::string_view rest;
      auto path = parsePath(arg.substr(3), &rest);
      if (!path || path->empty()) return error(501, "5.1.3", "Malformed recipient address", close);
      Params params = parseParams(rest);
      if (!params.ok || !params.list.empty()) return error(555, "5.5.4", "Unsupported RCPT parameter", close);
      if (recipients.size() >= config.limits.maxRecipients)
        return reply(452, "4.5.3", "Too many recipients");
      if (config.listener == ListenerKind::Mx) {
        std::string domain = toLower(path->substr(path->rfind('@') + 1));
        if (std::find(config.localDomains.begin(), config.localDomains.end(), domain) ==
            config.localDomains.end()) {
          log::info("smtp.relay_denied", {{"client", client}});
          return error(550, "5.7.1", "Relay access denied", close);
        }
      } else if (!party) {
        return error(530, "5.7.0", "Authentication required", close);
      }
      recipients.push_back(*path);
      return reply(250, "2.1.5", "Ok");
    }
    if (verb == "data") {
      if (!arg.empty()) return error(501, "5.5.4", "Syntax: DATA", close);
      if (!mailFrom) return error(503, "5.5.1", "Need MAIL command", close);
      if (recipients.empty()) return error(554, "5.5.1", "No valid recipients", close);
      phase = Phase::Data;
      data = std::make_unique<MessageData>(config.limits.memoryThreshold, config.spoolDir);
      problem = DataProblem::None;
      inHeaders = true;
      return "354 End data with <CR><LF>.<CR><LF>\r\n";
    }
    return error(500, "5.5.2", "Command not recognized", close);
  }

  void dataLine(std::string_view line) {
    // `line` includes its LF. Bare LF or bare CR anywhere: refused at the end (RFC 5321 2.3.8).
    bool crlf = line.size() >= 2 && line[line.size() - 2] == '\r';
    std::string_view content = line.substr(0, line.size() - (crlf ? 2 : 1));
    if (!crlf || content.find('\r') != std::string_view::npos) {
      if (problem == DataProblem::None) problem = DataProblem::BareLineEnd;
    }
    if (line.size() > config.limits.maxLineBytes && problem == DataProblem::None)
      problem = DataProblem::LineTooLong;
    if (!content.empty() && content.front() == '.') line.remove_prefix(1);  // dot-unstuffing
    if (inHeaders) {
      if (content.empty()) {
        inHeaders = false;
      } else if (!eightBit && problem == DataProblem::None) {
        for (char c : content) {
          if (static_cast<unsigned char>(c) >= 0x80) {
            problem = DataProblem::EightBitHeader;
            break;
          }
        }
      }
    }
    if (problem != DataProblem::None) return;
    if (data->size() + line.size() > config.limits.maxMessageBytes) {
      problem = DataProblem::TooBig;
      return;
    }
    if (!data->append(line)) problem = DataProblem::Spool;
  }

  std::string endOfData() {
    phase = Phase::Command;
    DataProblem p = problem;
    std::string r;
    if (p == DataProblem::None && !data->finish()) p = DataProblem::Spool;
    switch (p) {
      case DataProblem::TooBig:
        r = reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
        break;
      case DataProblem::LineTooLong:
        r = reply(500, "5.5.2", "Line too long (RFC 5321 4.5.3.1.6)");
        break;
      case DataProblem::BareLineEnd:
        r = reply(554, "5.6.0", "Bare LF or CR in message refused (RFC 5321 2.3.8)");
        break;
      case DataProblem::EightBitHeader:
        r = reply(554, "5.6.7", "8-bit header without BODY=8BITMIME refused");
        break;
      case DataProblem::Spool:
        r = reply(451, "4.3.0", "Temporary failure, try again later");
        break;
      case DataProblem::None:
        break;
    }
    if (r.empty() && config.checkMessageSyntax) {
      // Spooled messages beyond 16 MiB: check the header section only (memory stays bounded).
      constexpr std::size_t kFullCheck = 16 * 1024 * 1024;
      auto text = data->size() <= kFullCheck ? data->readAll(kFullCheck) : Result<std::string>(std::string());
      if (!text) {
        r = reply(451, "4.3.0", "Temporary failure, try again later");
      } else {
        auto ok = data->size() <= kFullCheck ? internal::checkMessageSyntax(*text) : Result<void>();
        if (!ok) r = reply(554, "5.6.0", "Malformed message: " + ok.error().message);
      }
    }
    if (r.empty()) {
      Envelope env;
      env.listener = config.listener;
      env.clientAddress = client;
      env.heloName = helo.value_or("");
      env.tls = tls;
      env.tlsProtocol = tlsInfo.protocol;
      env.party = party;
      env.mailFrom = *mailFrom;
      env.eightBitMime = eightBit;
      env.recipients = recipients;
      auto accepted = sink->accept(env, *data);
      if (accepted) {
        ++messages;
        log::info("smtp.accepted", {{"client", client}, {"id", *accepted},
                                    {"bytes", static_cast<int64_t>(data->size())}});
        r = reply(250, "2.0.0", "Ok: queued as " + *accepted);
      } else {
        log::warn("smtp.sink_refused", {{"client", client},
                                        {"code", std::string(errorCodeName(accepted.error().code))}});
        r = replyForError(accepted.error()).render();
      }
    } else {
      log::info("smtp.data_refused", {{"client", client}, {"reply", r.substr(0, 9)}});
    }
    resetTransaction();
    return r;
  }
};

SmtpSession::SmtpSession(SessionConfig config, std::string clientAddress, Authenticator* authenticator,
                         SubmissionSink* sink)
    : s_(std::make_unique<State>()) {
  s_->config = std::move(config);
  for (auto& d : s_->config.localDomains) d = toLower(d);
  s_->client = std::move(clientAddress);
  s_->authenticator = authenticator;
  s_->sink = sink;
}

SmtpSession::~SmtpSession() = default;

std::string SmtpSession::greeting() const { return "220 " + s_->config.hostname + " ESMTP erds\r\n"; }

SmtpSession::Output SmtpSession::receive(std::string_view bytes) {
  Output out;
  State& s = *s_;
  if (s.phase == Phase::Closed || s.phase == Phase::TlsPending) return out;
  s.in.append(bytes);
  std::size_t pos = 0;
  const std::size_t maxLine = s.config.limits.maxLineBytes;
  while (s.phase != Phase::Closed && s.phase != Phase::TlsPending) {
    std::size_t lf = s.in.find('\n', pos);
    if (lf == std::string::npos) {
      if (s.in.size() - pos > maxLine) {
        // An overlong line without its end yet: drop what we have, remember to drop the rest.
        if (s.phase == Phase::Data) {
          if (s.problem == DataProblem::None) s.problem = DataProblem::LineTooLong;
        } else if (!s.discardingLongLine) {
          bool close = false;
          out.replies += s.error(500, "5.5.2", "Line too long", &close);
          if (close) out.close = true;
        }
        s.discardingLongLine = true;
        pos = s.in.size();
      }
      break;
    }
    std::string_view line(s.in.data() + pos, lf + 1 - pos);
    pos = lf + 1;
    if (s.discardingLongLine) {
      s.discardingLongLine = false;
      continue;
    }
    if (s.phase == Phase::Data) {
      if (line == ".\r\n") {
        out.replies += s.endOfData();
      } else {
        s.dataLine(line);
      }
      continue;
    }
    bool crlf = line.size() >= 2 && line[line.size() - 2] == '\r';
    if (!crlf) {
      bool close = false;
      out.replies += s.error(500, "5.5.2", "Bare LF not allowed (RFC 5321 2.3.8)", &close);
      if (close) out.close = true;
      continue;
    }
    if (line.size() > maxLine) {
      bool close = false;
      out.replies += s.error(500, "5.5.2", "Line too long", &close);
      if (close) out.close = true;
      continue;
    }
    out.replies += s.command(line.substr(0, line.size() - 2), &out);
    if (out.close) s.phase = Phase::Closed;
  }
  if (s.phase == Phase::TlsPending) {
    s.in.clear();  // never carry plaintext pipelined after STARTTLS into the TLS session
  } else {
    s.in.erase(0, pos);
  }
  return out;
}

SmtpSession::Output SmtpSession::tlsEstablished(const TlsInfo& info) {
  State& s = *s_;
  s.tls = true;
  s.tlsInfo = info;
  s.helo.reset();
  s.esmtp = false;
  s.resetTransaction();
  s.in.clear();
  s.phase = Phase::Command;
  if (!info.peerCertificateDer.empty() && s.authenticator != nullptr) {
    auto p = s.authenticator->authenticateCertificate(info.peerCertificateDer, info.peerChainDer);
    if (p) {
      s.certParty = std::move(p).value();
      log::info("smtp.client_certificate", {{"client", s.client}, {"party", s.certParty->partyId}});
    } else {
      log::info("smtp.client_certificate_refused", {{"client", s.client}});
    }
  }
  return {};
}

void SmtpSession::tlsFailed() { s_->phase = Phase::Closed; }

std::string SmtpSession::timeoutReply() {
  s_->phase = Phase::Closed;
  s_->resetTransaction();
  return reply(421, "4.4.2", "Timeout, closing connection");
}

void SmtpSession::connectionLost() {
  s_->resetTransaction();  // a partial message is dropped: it never reached the sink
  s_->phase = Phase::Closed;
}

bool SmtpSession::closed() const { return s_->phase == Phase::Closed; }
bool SmtpSession::tlsActive() const { return s_->tls; }
std::size_t SmtpSession::acceptedMessages() const { return s_->messages; }

}  // namespace erds::smtp
