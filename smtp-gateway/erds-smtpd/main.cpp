// erds-smtpd: the registered e-mail gateway daemon (submission listener + inbound MX listener).
//
// SECURITY: the most exposed erds process. It talks SMTP to anyone on the MX port and to
// authenticated users on the submission port. It runs as its own uid (erds-smtp), reads its config
// file, the TLS certificate and TLS key (the only private key it may hold; never a sealing or
// time-stamping key: seals come from erds-signer), and writes through its SubmissionSink (the core
// library with its own database role; for now only the development sink, refused outside
// service.mode=development). It never trusts the client's HELO, headers or addresses: relaying is
// refused on MX and submission requires STARTTLS + AUTH with a sender bound to the party.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "erds/base/config.h"
#include "erds/base/log.h"
#include "erds/smtp/smtp_server.h"
#include "fake_ports.h"

namespace {

constexpr const char* kUsage =
    "Usage: erds-smtpd --config FILE [options]\n"
    "  --help, --version, --check-config\n"
    "  --address ADDR               listen address (127.0.0.1)\n"
    "  --submission-port N          submission listener (2525; 0 = any)\n"
    "  --mx-port N                  inbound MX listener (2526; 0 = any; -1 = off)\n"
    "  --hostname NAME              name in greeting/EHLO (first of service.domains)\n"
    "  --domains a,b                MX recipient domains (service.domains)\n"
    "  --tls-certificate FILE       PEM certificate chain for STARTTLS\n"
    "  --tls-key FILE               PEM key for STARTTLS (mode 0600/0400)\n"
    "  --max-message-bytes N        SIZE limit (67108864)\n"
    "  --max-connections N          (200)\n"
    "  --idle-timeout-seconds N     (300)\n"
    "  --spool-dir DIR              temp files for large messages ($TMPDIR)\n"
    "  --port-file FILE             write the bound ports (\"submission=N\\nmx=N\\n\")\n"
    "DEVELOPMENT ONLY (refused unless service.mode=development):\n"
    "  --development-sink DIR       store accepted messages as DIR/<id>.eml + .json\n"
    "  --development-users FILE     users: 'username password party addr1,addr2' per line\n";

int usageError(const std::string& msg) {
  std::cerr << "erds-smtpd: " << msg << "\n";
  return 2;
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  bool checkOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--version") {
      std::cout << "erds-smtpd 0.1.0\n";
      return 0;
    }
    if (a == "--check-config") {
      checkOnly = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) return usageError("bad argument '" + a + "' (see --help)");
    opt[a.substr(2)] = argv[++i];
  }
  static const std::string kKnown[] = {"config", "address", "submission-port", "mx-port", "hostname", "domains",
                                 "tls-certificate", "tls-key", "max-message-bytes", "max-connections",
                                 "idle-timeout-seconds", "spool-dir", "port-file", "development-sink",
                                 "development-users"};
  for (const auto& [k, v] : opt) {
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown))
      return usageError("unknown option --" + k + " (see --help)");
  }
  auto config = erds::Config::load(opt.count("config") ? opt["config"] : "", erds::Config::processEnvironment());
  if (!config) return usageError(config.error().message);
  erds::log::init("erds-smtpd", erds::log::parseLevel(config->getString("log.level")));

  auto intOpt = [&](const std::string& k, long long def, long long lo, long long hi) -> std::optional<long long> {
    if (!opt.count(k)) return def;
    try {
      std::size_t used = 0;
      long long v = std::stoll(opt[k], &used);
      if (used != opt[k].size() || v < lo || v > hi) return std::nullopt;
      return v;
    } catch (...) {
      return std::nullopt;
    }
  };
  auto subPort = intOpt("submission-port", 2525, 0, 65535);
  auto mxPort = intOpt("mx-port", 2526, -1, 65535);
  auto maxBytes = intOpt("max-message-bytes", 64LL * 1024 * 1024, 1024, 1LL << 34);
  auto maxConn = intOpt("max-connections", 200, 1, 100000);
  auto idle = intOpt("idle-timeout-seconds", 300, 1, 3600);
  if (!subPort) return usageError("--submission-port: expected 0..65535");
  if (!mxPort) return usageError("--mx-port: expected -1..65535");
  if (!maxBytes) return usageError("--max-message-bytes: out of range");
  if (!maxConn) return usageError("--max-connections: out of range");
  if (!idle) return usageError("--idle-timeout-seconds: expected 1..3600");

  std::vector<std::string> domains = splitList(opt.count("domains") ? opt["domains"] : config->getString("service.domains"));
  if (domains.empty()) return usageError("no mail domains (service.domains or --domains)");
  bool development = config->mode() == erds::ServiceMode::Development;
  if ((opt.count("development-sink") || opt.count("development-users")) && !development)
    return usageError("--development-sink/--development-users need service.mode=development (in " +
                      config->sourceOf("service.mode") + ")");
  if (!opt.count("development-sink"))
    return usageError("no submission sink: the core-library sink is not wired yet; use --development-sink DIR "
                      "under service.mode=development");
  if (opt.count("tls-certificate") != opt.count("tls-key"))
    return usageError("--tls-certificate and --tls-key go together");

  erds::smtp::ServerConfig sc;
  sc.tlsCertificateFile = opt.count("tls-certificate") ? opt["tls-certificate"] : "";
  sc.tlsKeyFile = opt.count("tls-key") ? opt["tls-key"] : "";
  sc.maxConnections = static_cast<std::size_t>(*maxConn);
  sc.idleTimeout = std::chrono::seconds(*idle);
  erds::smtp::SessionConfig base;
  base.hostname = opt.count("hostname") ? opt["hostname"] : domains.front();
  base.localDomains = domains;
  base.spoolDir = opt.count("spool-dir") ? opt["spool-dir"] : "";
  base.limits.maxMessageBytes = static_cast<std::size_t>(*maxBytes);
  base.requireClientCertificate = config->mode() == erds::ServiceMode::Qualified;
  std::string address = opt.count("address") ? opt["address"] : "127.0.0.1";
  {
    erds::smtp::ListenerConfig l;
    l.address = address;
    l.port = static_cast<uint16_t>(*subPort);
    l.session = base;
    l.session.listener = erds::smtp::ListenerKind::Submission;
    sc.listeners.push_back(l);
  }
  if (*mxPort >= 0) {
    erds::smtp::ListenerConfig l;
    l.address = address;
    l.port = static_cast<uint16_t>(*mxPort);
    l.session = base;
    l.session.listener = erds::smtp::ListenerKind::Mx;
    sc.listeners.push_back(l);
  }

  erds::smtp::testing::InMemoryAuthenticator auth;
  if (opt.count("development-users")) {
    auto r = auth.loadFile(opt["development-users"]);
    if (!r) return usageError(r.error().message);
  }
  erds::smtp::testing::DirectorySubmissionSink sink(opt["development-sink"]);
  if (checkOnly) {
    std::cout << "configuration ok\n";
    return 0;
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = erds::smtp::SmtpServer::start(sc, &auth, &sink);
  if (!server) {
    std::cerr << "erds-smtpd: " << server.error().message << "\n";
    return 1;
  }
  erds::log::warn("smtpd.development_mode", {{"sink", opt["development-sink"]}});
  if (opt.count("port-file")) {
    std::ofstream pf(opt["port-file"] + ".tmp");
    pf << "submission=" << (*server)->port(0) << "\n";
    if (sc.listeners.size() > 1) pf << "mx=" << (*server)->port(1) << "\n";
    pf.close();
    std::rename((opt["port-file"] + ".tmp").c_str(), opt["port-file"].c_str());
  }
  int sig = 0;
  sigwait(&set, &sig);
  erds::log::info("smtpd.stopping", {{"signal", static_cast<int64_t>(sig)}});
  (*server)->stop();
  return 0;
}
