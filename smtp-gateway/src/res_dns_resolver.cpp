// DnsResolver over libresolv (res_nquery + ns_parserr), with a small TTL cache so that a burst of
// mail from one domain does not repeat its SPF/DKIM/DMARC lookups.
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <list>
#include <map>
#include <mutex>
#include <variant>

#include "erds/smtp/dns_resolver.h"

namespace erds::smtp {

namespace {

using Clock = std::chrono::steady_clock;

struct Answer {
  std::vector<std::string> texts;  // TXT/A/AAAA
  std::vector<MxRecord> mx;
};

class ResDnsResolver final : public DnsResolver {
 public:
  explicit ResDnsResolver(ResDnsOptions o) : o_(o) {}

  Result<std::vector<std::string>> txt(const std::string& name) override {
    auto r = query(name, ns_t_txt);
    if (!r) return std::move(r).error();
    return r->texts;
  }
  Result<std::vector<std::string>> a(const std::string& name) override {
    auto r = query(name, ns_t_a);
    if (!r) return std::move(r).error();
    return r->texts;
  }
  Result<std::vector<std::string>> aaaa(const std::string& name) override {
    auto r = query(name, ns_t_aaaa);
    if (!r) return std::move(r).error();
    return r->texts;
  }
  Result<std::vector<MxRecord>> mx(const std::string& name) override {
    auto r = query(name, ns_t_mx);
    if (!r) return std::move(r).error();
    return r->mx;
  }

 private:
  Result<Answer> query(const std::string& name, ns_type type) {
    if (name.empty() || name.size() > 253) return Answer{};
    const std::string key = std::to_string(static_cast<int>(type)) + ":" + name;
    if (o_.cacheTtl.count() > 0) {
      std::lock_guard<std::mutex> g(mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        if (Clock::now() < it->second.first) return it->second.second;
        cache_.erase(it);
      }
    }
    auto r = lookup(name, type);
    if (r && o_.cacheTtl.count() > 0) {
      std::lock_guard<std::mutex> g(mu_);
      if (cache_.size() >= o_.cacheEntries) cache_.clear();  // crude bound; refilled on demand
      cache_[key] = {Clock::now() + o_.cacheTtl, *r};
    }
    return r;
  }

  Result<Answer> lookup(const std::string& name, ns_type type) const {
    std::vector<unsigned char> buf(NS_PACKETSZ * 16);
    struct __res_state st {};
    if (res_ninit(&st) != 0) return Error::unavailable("resolver initialisation failed");
    st.retrans = static_cast<int>(o_.timeout.count());
    st.retry = o_.attempts;
    const int len = res_nquery(&st, name.c_str(), ns_c_in, type, buf.data(), static_cast<int>(buf.size()));
    const int herr = st.res_h_errno;
    res_nclose(&st);
    Answer out;
    if (len < 0) {
      if (herr == HOST_NOT_FOUND || herr == NO_DATA) return out;
      return Error::unavailable("DNS lookup failed");
    }
    ns_msg msg;
    if (ns_initparse(buf.data(), len, &msg) != 0) return Error::unavailable("malformed DNS answer");
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
      ns_rr rr;
      if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != type) continue;
      const unsigned char* rd = ns_rr_rdata(rr);
      const int rdlen = ns_rr_rdlen(rr);
      if (type == ns_t_txt) {
        std::string s;
        for (int p = 0; p < rdlen;) {
          const int l = rd[p];
          if (p + 1 + l > rdlen) break;
          s.append(reinterpret_cast<const char*>(rd + p + 1), static_cast<std::size_t>(l));
          p += 1 + l;
        }
        out.texts.push_back(std::move(s));
      } else if (type == ns_t_a && rdlen == 4) {
        char t[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, rd, t, sizeof t)) out.texts.emplace_back(t);
      } else if (type == ns_t_aaaa && rdlen == 16) {
        char t[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, rd, t, sizeof t)) out.texts.emplace_back(t);
      } else if (type == ns_t_mx && rdlen >= 3) {
        char host[NS_MAXDNAME];
        if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 2, host, sizeof host) < 0) continue;
        out.mx.push_back({(rd[0] << 8) | rd[1], host});
      }
    }
    return out;
  }

  ResDnsOptions o_;
  std::mutex mu_;
  std::map<std::string, std::pair<Clock::time_point, Answer>> cache_;
};

}  // namespace

std::unique_ptr<DnsResolver> makeResDnsResolver(ResDnsOptions options) {
  return std::make_unique<ResDnsResolver>(options);
}

}  // namespace erds::smtp
