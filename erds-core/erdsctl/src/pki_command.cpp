// `erdsctl pki init`: writes the development PKI (see erds/ctl/pki.h) and prints what it made.
#include "erds/ctl/pki.h"

#include "commands.h"

namespace erds::ctl::internal {
namespace {

int pkiInit(const Args& args, Io& io) {
  PkiOptions options;
  options.dir = args.get("--dir");
  options.force = args.has("--force");
  if (args.has("--algorithm")) {
    auto algorithm = parseKeyAlgorithm(args.get("--algorithm"));
    if (!algorithm) {
      io.err << "erdsctl pki init: " << algorithm.error().message << "\n";
      return kExitUsage;
    }
    options.algorithm = *algorithm;
  }
  auto report = initDevelopmentPki(options);
  if (!report) {
    io.err << "erdsctl pki init: " << report.error().message << "\n";
    return report.error().is(ErrorCode::InvalidInput) ? kExitUsage : kExitFailure;
  }
  io.out << "development PKI written to " << options.dir << " ("
         << keyAlgorithmLabel(options.algorithm)
         << "); DEVELOPMENT ONLY: refused by service.mode = qualified\n";
  for (const auto& c : report->certificates) {
    io.out << "  " << c.certPath << "\n"
           << "    subject:  " << c.subject << "\n"
           << "    key:      " << c.keyPath << " (" << c.algorithm << ", mode 0600)\n"
           << "    validity: " << c.notBefore << " .. " << c.notAfter << "\n";
  }
  io.out << "  " << options.dir << "/root-ca.crl.pem (root CRL, revokes nothing)\n";
  return kExitOk;
}

}  // namespace

Command pkiInitCommand() {
  return Command{
      .path = "pki init",
      .help = "create a DEVELOPMENT PKI (root CA, seal, time-stamping unit, TLS server)",
      .usage = "--dir DIR [--algorithm p256|rsa3072] [--force]",
      .options = {{"--dir", "DIR", true},
                  {"--algorithm", "p256|rsa3072", false},
                  {"--force", "", false}},
      .positionalNames = {},
      .details =
          "Writes root-ca.pem/.key, seal.pem/.key, tsu.pem/.key and tls.pem/.key into DIR "
          "(created\n"
          "0700 if missing). Keys are PKCS#8 PEM, mode 0600; tls.pem holds the server certificate\n"
          "then the root. Existing files are never overwritten without --force (exit 1).",
      .handler = pkiInit,
  };
}

}  // namespace erds::ctl::internal
