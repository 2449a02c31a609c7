// FileKeySigner: a Signer over PEM private keys read from files once at startup (mode 0600/0400),
// for development and for the erds-signer process when no HSM is configured.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "erds/evidence/signer.h"

namespace erds::evidence {

struct FileKeySpec {
  std::string
      keyFile;  // PEM private key (EC P-256 or RSA >= 2048); mode 0600/0400, owned by us/root
  std::string certFile;   // PEM: the key's certificate first, optionally followed by its chain
  std::string chainFile;  // optional PEM with more chain certificates ("" = none)
};

class FileKeySigner final : public Signer {
 public:
  // Loads every key and certificate now; the files are not read again. Checks that each key
  // matches its certificate. Errors: NotFound (missing file), InvalidInput (bad PEM, mode too open,
  // key/certificate mismatch, unsupported algorithm; the message names the label and the file).
  static Result<std::unique_ptr<FileKeySigner>> fromFiles(
      const std::map<std::string, FileKeySpec>& keys);

  // Convenience for a directory laid out like `erdsctl pki init`: for each label, <dir>/<label>.key
  // and <dir>/<label>.pem; <dir>/root-ca.pem, if present, is appended to every chain (unless the
  // certificate file already holds it).
  static Result<std::unique_ptr<FileKeySigner>> fromDirectory(
      const std::string& dir, const std::vector<std::string>& labels);

  ~FileKeySigner() override;

  // See Signer. Never logs key material. Thread-safe (keys are immutable after loading).
  Result<std::string> signDigest(std::string_view keyLabel, std::string_view digest) override;
  Result<SigningKeyInfo> keyInfo(std::string_view keyLabel) override;

  std::vector<std::string> labels() const;

 private:
  struct Key;
  FileKeySigner() = default;
  std::map<std::string, std::unique_ptr<Key>, std::less<>> keys_;
};

}  // namespace erds::evidence
