// erds_smtp_submit_bench: submission load client for erds-smtpd. N sessions in parallel, each:
// EHLO, STARTTLS, EHLO, AUTH PLAIN, then M messages of S bytes (MAIL/RCPT/DATA pipelined, RFC 2920),
// QUIT. Reports messages/s over the whole run and the p50/p99 latency of one message (MAIL sent
// -> 250 after the final dot). A benchmark tool, not a test: it trusts any server certificate.
//   erds_smtp_submit_bench --port 2525 --user sender@example.test --password PW
//       [--host 127.0.0.1] [--sessions 20] [--messages 50] [--size 5120]
//       [--from sender@example.test] [--to recipient@example.test]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 2525;
  int sessions = 20;
  int messages = 50;
  std::size_t size = 5120;
  std::string user, password, from, to = "recipient@example.test";
};

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += k[v >> 18], out += k[(v >> 12) & 63], out += k[(v >> 6) & 63], out += k[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += k[v >> 18], out += k[(v >> 12) & 63], out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += k[v >> 18], out += k[(v >> 12) & 63], out += k[(v >> 6) & 63], out += '=';
  }
  return out;
}

struct SslFree { void operator()(SSL* s) const { SSL_free(s); } };

// One SMTP connection; plain until startTls().
class Conn {
 public:
  Conn(const Options& o, SSL_CTX* ctx) : ctx_(ctx) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(o.port));
    inet_pton(AF_INET, o.host.c_str(), &a.sin_addr);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{60, 0};  // a stuck server ends the session instead of hanging the run
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Conn() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  bool send(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const int n = ssl_ ? SSL_write(ssl_.get(), s.data() + off, static_cast<int>(std::min<std::size_t>(s.size() - off, 1 << 20)))
                         : static_cast<int>(::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL));
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Reads one complete reply (multi-line aware); returns its code, 0 on EOF.
  int reply(std::string* text = nullptr) {
    while (true) {
      std::size_t start = 0;
      while (true) {
        const auto nl = buf_.find("\r\n", start);
        if (nl == std::string::npos) break;
        const std::string line = buf_.substr(start, nl - start);
        start = nl + 2;
        if (line.size() >= 4 && line[3] == ' ') {
          if (text) *text = buf_.substr(0, start);
          buf_.erase(0, start);
          return std::atoi(line.substr(0, 3).c_str());
        }
      }
      char tmp[16384];
      const int n = ssl_ ? SSL_read(ssl_.get(), tmp, sizeof tmp) : static_cast<int>(::recv(fd_, tmp, sizeof tmp, 0));
      if (n <= 0) return 0;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }
  bool startTls() {
    ssl_.reset(SSL_new(ctx_));
    SSL_set_fd(ssl_.get(), fd_);
    return SSL_connect(ssl_.get()) == 1;
  }

 private:
  SSL_CTX* ctx_;
  int fd_ = -1;
  bool ok_ = false;
  std::unique_ptr<SSL, SslFree> ssl_;
  std::string buf_;
};

std::string body(const Options& o, int session, int n) {
  const std::size_t size = o.size;
  std::string head = "From: <" + o.from + ">\r\nTo: <" + o.to + ">\r\nSubject: bench " + std::to_string(session) + "." + std::to_string(n) +
                     "\r\nMessage-ID: <bench." + std::to_string(session) + "." + std::to_string(n) +
                     "@bench.test>\r\n\r\n";
  std::string out = head;
  const std::string line = std::string(76, 'b') + "\r\n";
  while (out.size() + line.size() <= size) out += line;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = std::atoi(v.c_str());
    else if (k == "--sessions") o.sessions = std::atoi(v.c_str());
    else if (k == "--messages") o.messages = std::atoi(v.c_str());
    else if (k == "--size") o.size = static_cast<std::size_t>(std::atol(v.c_str()));
    else if (k == "--user") o.user = v;
    else if (k == "--password") o.password = v;
    else if (k == "--from") o.from = v;
    else if (k == "--to") o.to = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.user.empty() || o.password.empty() || o.sessions < 1 || o.messages < 1 || o.messages > 100000) {
    std::fprintf(stderr, "usage: %s --port P --user U --password PW [--host H] [--sessions 20] [--messages 50] "
                         "[--size 5120] [--from ADDR] [--to ADDR]\n(--messages <= smtp.max_messages_per_connection of the server)\n", argv[0]);
    return 2;
  }
  if (o.from.empty()) o.from = o.user;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);

  std::mutex mu;
  std::vector<double> latencies;  // ms
  std::atomic<int> failures{0}, sessionsFailed{0};
  std::map<int, int> codes;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < o.sessions; ++s) {
    threads.emplace_back([&, s] {
      Conn c(o, ctx.get());
      std::string text;
      auto fail = [&](const char* step) {
        std::lock_guard<std::mutex> g(mu);
        std::fprintf(stderr, "session %d: %s failed: %s", s, step, text.c_str());
        ++sessionsFailed;
      };
      if (!c.ok() || c.reply(&text) != 220) return fail("connect");
      c.send("EHLO bench.test\r\n");
      if (c.reply(&text) != 250) return fail("EHLO");
      c.send("STARTTLS\r\n");
      if (c.reply(&text) != 220 || !c.startTls()) return fail("STARTTLS");
      c.send("EHLO bench.test\r\n");
      if (c.reply(&text) != 250) return fail("EHLO after TLS");
      c.send("AUTH PLAIN " + base64(std::string(1, '\0') + o.user + std::string(1, '\0') + o.password) + "\r\n");
      if (c.reply(&text) != 235) return fail("AUTH");
      std::vector<double> mine;
      for (int n = 0; n < o.messages; ++n) {
        std::string data = body(o, s, n);
        const auto start = Clock::now();
        c.send("MAIL FROM:<" + o.from + "> SIZE=" + std::to_string(data.size()) + "\r\nRCPT TO:<" + o.to + ">\r\nDATA\r\n");
        const int m = c.reply(&text), r = c.reply(&text), d = c.reply(&text);
        if (m != 250 || r != 250 || d != 354) {
          // A refused transaction ends the session (e.g. 452 4.5.3 beyond smtp's messages per
          // connection: keep --messages at or below it).
          ++failures;
          {
            std::lock_guard<std::mutex> g(mu);  // released before fail() takes it
            ++codes[m == 250 ? (r == 250 ? d : r) : m];
          }
          return fail("transaction");
        }
        c.send(data + ".\r\n");
        const int done = c.reply(&text);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (done != 250) {
          ++failures;
          {
            std::lock_guard<std::mutex> g(mu);  // released before fail() takes it
            ++codes[done];
          }
          if (done == 0) return fail("DATA");
          continue;
        }
        mine.push_back(ms);
      }
      c.send("QUIT\r\n");
      c.reply();
      std::lock_guard<std::mutex> g(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    return latencies[std::min(latencies.size() - 1, static_cast<std::size_t>(p * static_cast<double>(latencies.size())))];
  };
  std::printf("sessions=%d messages/session=%d size=%zu: accepted %zu, failed %d, sessions failed %d in %.2f s\n",
              o.sessions, o.messages, o.size, latencies.size(), failures.load(), sessionsFailed.load(), secs);
  std::printf("throughput %.1f messages/s; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
              static_cast<double>(latencies.size()) / secs, pct(0.50), pct(0.99), latencies.empty() ? 0.0 : latencies.back());
  for (const auto& [code, n] : codes) std::printf("  reply %d: %d times\n", code, n);
  return failures.load() == 0 && sessionsFailed.load() == 0 ? 0 : 1;
}
