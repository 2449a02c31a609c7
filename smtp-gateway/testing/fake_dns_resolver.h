// FakeDnsResolver: an in-memory DnsResolver for tests (records set by the test, names compared
// case-insensitively, a name can be made to fail with a temporary error). Counts queries.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "erds/smtp/dns_resolver.h"

namespace erds::smtp::testing {

class FakeDnsResolver final : public DnsResolver {
 public:
  void addTxt(const std::string& name, std::string value);
  void addA(const std::string& name, std::string address);
  void addAaaa(const std::string& name, std::string address);
  void addMx(const std::string& name, int preference, std::string host);
  // Every query of `name` (any type) fails with Unavailable.
  void failName(const std::string& name);
  // Queries made so far (each "TYPE name").
  std::size_t queries() const;

  Result<std::vector<std::string>> txt(const std::string& name) override;
  Result<std::vector<std::string>> a(const std::string& name) override;
  Result<std::vector<std::string>> aaaa(const std::string& name) override;
  Result<std::vector<MxRecord>> mx(const std::string& name) override;

 private:
  Result<std::vector<std::string>> get(const std::map<std::string, std::vector<std::string>>& m, const std::string& name);
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::string>> txt_, a_, aaaa_;
  std::map<std::string, std::vector<MxRecord>> mx_;
  std::set<std::string> failing_;
  std::size_t queries_ = 0;
};

}  // namespace erds::smtp::testing
