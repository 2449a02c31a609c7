#include "erds/smtp/smtp_relay_transport.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <resolv.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "erds/base/log.h"
#include "mime_raw.h"

namespace erds::smtp {

namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

struct Reply {
  int code = 0;
  std::vector<std::string> lines;  // text after "NNN-" / "NNN "
  std::string first() const { return std::to_string(code) + " " + (lines.empty() ? "" : lines.front()); }
};

// One SMTP client connection (plain, then optionally TLS).
class Connection {
 public:
  ~Connection() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  Result<void> connect(const std::string& host, uint16_t port, std::chrono::seconds timeout) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string h = host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
    if (::getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr)
      return Error::unavailable("cannot resolve " + host);
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      timeval tv{static_cast<time_t>(timeout.count()), 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
        return {};
      }
      ::close(fd);
    }
    return Error::unavailable("cannot connect to " + host + ":" + std::to_string(port));
  }
  Result<void> startTls(const std::string& host) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) return Error::internal("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    // Opportunistic TLS (RFC 7435): encrypt, do not authenticate; MX certificates are rarely
    // verifiable (DANE/MTA-STS are future work).
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);
    ssl_.reset(SSL_new(ctx_.get()));
    if (!ssl_) return Error::internal("SSL_new failed");
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set_tlsext_host_name(ssl_.get(), host.c_str());
    if (SSL_connect(ssl_.get()) != 1) {
      ERR_clear_error();
      ssl_.reset();
      return Error::unavailable("TLS handshake with " + host + " failed");
    }
    buffer_.clear();
    return {};
  }
  bool tls() const { return ssl_ != nullptr; }
  std::string tlsProtocol() const { return ssl_ ? SSL_get_version(ssl_.get()) : ""; }

  Result<void> send(std::string_view bytes) {
    while (!bytes.empty()) {
      long n = ssl_ ? SSL_write(ssl_.get(), bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20)))
                    : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return Error::unavailable("connection lost while sending");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }
  Result<std::string> readLine() {
    while (true) {
      auto pos = buffer_.find("\r\n");
      if (pos != std::string::npos) {
        std::string line = buffer_.substr(0, pos);
        buffer_.erase(0, pos + 2);
        return line;
      }
      if (buffer_.size() > 4096) return Error::unavailable("overlong reply line");
      char buf[4096];
      long n = ssl_ ? SSL_read(ssl_.get(), buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return Error::unavailable("connection closed or timed out");
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }
  Result<Reply> reply() {
    Reply r;
    for (int i = 0; i < 100; ++i) {
      auto l = readLine();
      if (!l) return std::move(l).error();
      if (l->size() < 3 || !std::all_of(l->begin(), l->begin() + 3, ::isdigit))
        return Error::unavailable("malformed SMTP reply");
      r.code = std::stoi(l->substr(0, 3));
      r.lines.push_back(l->size() > 4 ? l->substr(4) : "");
      if (l->size() == 3 || (*l)[3] == ' ') return r;
    }
    return Error::unavailable("too many reply lines");
  }
  Result<Reply> command(const std::string& line) {
    ERDS_RETURN_IF_ERROR(send(line + "\r\n"));
    return reply();
  }

 private:
  int fd_ = -1;
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
  std::string buffer_;
};

bool offers(const Reply& ehlo, std::string_view keyword) {
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
    std::string k = internal::toLower(ehlo.lines[i].substr(0, ehlo.lines[i].find(' ')));
    if (k == internal::toLower(keyword)) return true;
  }
  return false;
}

// RFC 5321 4.5.2: a line starting with "." gets another ".". The message has CRLF line ends.
std::string dotStuff(std::string_view m) {
  std::string out;
  out.reserve(m.size() + m.size() / 64 + 5);
  bool lineStart = true;
  for (char c : m) {
    if (lineStart && c == '.') out += '.';
    out += c;
    lineStart = c == '\n';
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  out += ".\r\n";
  return out;
}

RecipientStatus statusOf(int code) {
  if (code >= 200 && code < 300) return RecipientStatus::Delivered;
  if (code >= 500) return RecipientStatus::PermanentFailure;
  return RecipientStatus::TemporaryFailure;
}

}  // namespace

Result<std::vector<std::string>> lookupMx(const std::string& domain) {
  unsigned char answer[NS_PACKETSZ * 4];
  struct __res_state st {};
  if (res_ninit(&st) != 0) return Error::unavailable("resolver initialisation failed");
  const int len = res_nquery(&st, domain.c_str(), ns_c_in, ns_t_mx, answer, sizeof answer);
  const int herr = st.res_h_errno;
  res_nclose(&st);
  if (len < 0) {
    if (herr == HOST_NOT_FOUND) return Error::notFound("domain " + domain + " does not exist");
    if (herr == NO_DATA) return std::vector<std::string>{domain};  // no MX: implicit MX (RFC 5321 5.1)
    return Error::unavailable("MX lookup of " + domain + " failed");
  }
  ns_msg msg;
  if (ns_initparse(answer, len, &msg) != 0) return Error::unavailable("malformed DNS answer for " + domain);
  std::vector<std::pair<int, std::string>> hosts;
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3) continue;
    const unsigned char* rd = ns_rr_rdata(rr);
    const int pref = (rd[0] << 8) | rd[1];
    char name[NS_MAXDNAME];
    if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 2, name, sizeof name) < 0) continue;
    hosts.emplace_back(pref, name);
  }
  if (hosts.empty()) return std::vector<std::string>{domain};
  std::stable_sort(hosts.begin(), hosts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // RFC 7505 null MX: the domain accepts no mail.
  if (hosts.size() == 1 && (hosts.front().second.empty() || hosts.front().second == "."))
    return Error::notFound("domain " + domain + " accepts no mail (null MX)");
  std::vector<std::string> out;
  for (auto& h : hosts) out.push_back(std::move(h.second));
  return out;
}

SmtpRelayTransport::SmtpRelayTransport(SmtpRelayOptions options) : opt_(std::move(options)) {}

Result<std::vector<RecipientResult>> SmtpRelayTransport::relay(const RelayRequest& request) {
  if (request.recipients.empty()) return Error::invalidInput("no recipients");
  std::string domain;
  for (const auto& r : request.recipients) {
    auto at = r.rfind('@');
    if (at == std::string::npos) return Error::invalidInput("recipient without a domain");
    std::string d = internal::toLower(r.substr(at + 1));
    if (!domain.empty() && d != domain) return Error::invalidInput("recipients at different domains");
    domain = d;
  }
  std::vector<RecipientResult> results;
  for (const auto& r : request.recipients) results.push_back({r, RecipientStatus::TemporaryFailure, "", ""});
  auto fail = [&](RecipientStatus s, const std::string& host, const std::string& why) {
    for (auto& r : results) {
      r.status = s;
      r.remoteHost = host;
      r.reply = why;
    }
    return results;
  };

  std::vector<std::string> hosts;
  if (!opt_.relayHost.empty()) {
    hosts.push_back(opt_.relayHost);
  } else {
    auto mx = lookupMx(domain);
    if (!mx) {
      return fail(mx.error().is(ErrorCode::NotFound) ? RecipientStatus::PermanentFailure : RecipientStatus::TemporaryFailure,
                  "", mx.error().message);
    }
    hosts = std::move(*mx);
  }

  std::string lastError = "no mail host reachable";
  for (const auto& host : hosts) {
    Connection c;
    if (auto r = c.connect(host, opt_.port, opt_.timeout); !r) {
      lastError = r.error().message;
      continue;
    }
    auto greet = c.reply();
    if (!greet || greet->code != 220) {
      lastError = greet ? "greeting: " + greet->first() : greet.error().message;
      continue;
    }
    auto ehlo = c.command("EHLO " + opt_.heloName);
    if (!ehlo) {
      lastError = ehlo.error().message;
      continue;
    }
    if (ehlo->code != 250) {
      ehlo = c.command("HELO " + opt_.heloName);
      if (!ehlo || ehlo->code != 250) {
        lastError = "HELO refused";
        continue;
      }
    } else if (offers(*ehlo, "STARTTLS")) {
      auto st = c.command("STARTTLS");
      if (st && st->code == 220) {
        if (auto t = c.startTls(host); !t) {
          lastError = t.error().message;
          continue;
        }
        ehlo = c.command("EHLO " + opt_.heloName);
        if (!ehlo || ehlo->code != 250) {
          lastError = "EHLO after STARTTLS refused";
          continue;
        }
      }
    }
    if (opt_.requireTls && !c.tls()) {
      lastError = host + " does not offer STARTTLS";
      continue;
    }
    auto mail = c.command("MAIL FROM:<" + request.mailFrom + ">");
    if (!mail) {
      lastError = mail.error().message;
      continue;
    }
    if (mail->code != 250) {
      (void)c.command("QUIT");
      return fail(statusOf(mail->code), host, mail->first());
    }
    int accepted = 0;
    for (auto& r : results) {
      auto rc = c.command("RCPT TO:<" + r.recipient + ">");
      if (!rc) return fail(RecipientStatus::TemporaryFailure, host, rc.error().message);
      r.remoteHost = host;
      r.reply = rc->first();
      r.status = statusOf(rc->code);
      if (r.status == RecipientStatus::Delivered) {
        ++accepted;
        r.status = RecipientStatus::TemporaryFailure;  // until the DATA reply
      }
    }
    if (accepted == 0) {
      (void)c.command("QUIT");
      return results;
    }
    auto data = c.command("DATA");
    if (!data || data->code != 354) {
      const std::string why = data ? data->first() : data.error().message;
      for (auto& r : results)
        if (r.reply.rfind("25", 0) == 0) r.reply = why, r.status = data ? statusOf(data->code) : RecipientStatus::TemporaryFailure;
      return results;
    }
    auto end = c.send(dotStuff(request.message));
    auto fin = end ? c.reply() : Result<Reply>(std::move(end).error());
    const std::string why = fin ? fin->first() : fin.error().message;
    const RecipientStatus s = fin ? statusOf(fin->code) : RecipientStatus::TemporaryFailure;
    for (auto& r : results) {
      if (r.reply.rfind("25", 0) == 0) {
        r.status = s;
        r.reply = why;
      }
    }
    (void)c.command("QUIT");
    log::info("smtp.relayed", {{"host", host}, {"tls", c.tls()}, {"reply", why}});
    return results;
  }
  return fail(RecipientStatus::TemporaryFailure, "", lastError);
}

}  // namespace erds::smtp
