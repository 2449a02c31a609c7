#include "fake_dns_resolver.h"

#include <cctype>

namespace erds::smtp::testing {

namespace {
std::string norm(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}
}  // namespace

void FakeDnsResolver::addTxt(const std::string& name, std::string value) {
  std::lock_guard<std::mutex> g(mu_);
  txt_[norm(name)].push_back(std::move(value));
}
void FakeDnsResolver::addA(const std::string& name, std::string address) {
  std::lock_guard<std::mutex> g(mu_);
  a_[norm(name)].push_back(std::move(address));
}
void FakeDnsResolver::addAaaa(const std::string& name, std::string address) {
  std::lock_guard<std::mutex> g(mu_);
  aaaa_[norm(name)].push_back(std::move(address));
}
void FakeDnsResolver::addMx(const std::string& name, int preference, std::string host) {
  std::lock_guard<std::mutex> g(mu_);
  mx_[norm(name)].push_back({preference, std::move(host)});
}
void FakeDnsResolver::failName(const std::string& name) {
  std::lock_guard<std::mutex> g(mu_);
  failing_.insert(norm(name));
}
std::size_t FakeDnsResolver::queries() const {
  std::lock_guard<std::mutex> g(mu_);
  return queries_;
}

Result<std::vector<std::string>> FakeDnsResolver::get(const std::map<std::string, std::vector<std::string>>& m,
                                                      const std::string& name) {
  std::lock_guard<std::mutex> g(mu_);
  ++queries_;
  const std::string n = norm(name);
  if (failing_.count(n)) return Error::unavailable("fake DNS failure for " + n);
  auto it = m.find(n);
  if (it == m.end()) return std::vector<std::string>{};
  return it->second;
}

Result<std::vector<std::string>> FakeDnsResolver::txt(const std::string& name) { return get(txt_, name); }
Result<std::vector<std::string>> FakeDnsResolver::a(const std::string& name) { return get(a_, name); }
Result<std::vector<std::string>> FakeDnsResolver::aaaa(const std::string& name) { return get(aaaa_, name); }
Result<std::vector<MxRecord>> FakeDnsResolver::mx(const std::string& name) {
  std::lock_guard<std::mutex> g(mu_);
  ++queries_;
  const std::string n = norm(name);
  if (failing_.count(n)) return Error::unavailable("fake DNS failure for " + n);
  auto it = mx_.find(n);
  if (it == mx_.end()) return std::vector<MxRecord>{};
  return it->second;
}

}  // namespace erds::smtp::testing
