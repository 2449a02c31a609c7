// Pkcs11Signer: a Signer whose keys stay in a PKCS#11 token (an HSM; SoftHSM2 in tests), used
// through the libp11 OpenSSL engine (pkcs11-provider is not in Debian 12). For erds-signer only.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "erds/evidence/signer.h"

namespace erds::evidence {

struct Pkcs11KeySpec {
  std::string
      keyUri;  // RFC 7512 URI without the PIN, e.g. "pkcs11:token=erds;object=seal;type=private"
  std::string certFile;   // PEM: the key's certificate first, optionally its chain
  std::string chainFile;  // optional extra chain PEM ("" = none)
};

struct Pkcs11SignerOptions {
  std::string modulePath = "/usr/lib/softhsm/libsofthsm2.so";
  std::string enginePath = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so";
  std::string pinFile;  // user PIN, a secret file (mode 0600/0400); never in the URI or environment
  std::map<std::string, Pkcs11KeySpec> keys;  // label -> key
};

class Pkcs11Signer final : public Signer {
 public:
  // Loads the engine and the module, logs in, finds each key and checks it against its
  // certificate. The engine and module are loaded once per process (one module per process).
  // Errors: NotFound (module, engine or file missing), InvalidInput (bad PIN file,
  // certificate/key mismatch), Unavailable (token not reachable or login refused).
  static Result<std::unique_ptr<Pkcs11Signer>> create(const Pkcs11SignerOptions& options);
  ~Pkcs11Signer() override;

  // See Signer. Signing is serialised per key (PKCS#11 sessions are not shared across threads
  // safely by every module). Unavailable when the token fails.
  Result<std::string> signDigest(std::string_view keyLabel, std::string_view digest) override;
  Result<SigningKeyInfo> keyInfo(std::string_view keyLabel) override;

  struct State;  // opaque

 private:
  explicit Pkcs11Signer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace erds::evidence
