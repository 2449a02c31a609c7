// erdsctl: the operator's command-line tool (PKI, schema migrations, configuration checks; later
// users, evidence and audit verification).
//
// SECURITY: erdsctl runs on demand as the operator, never as a daemon and never setuid. It talks
// only to PostgreSQL (as the owner role, for migrations) and to the local file system. It may read
// the owner database password and write development private keys; it keeps them in memory only
// for the duration of one command, wipes its copies and never prints them. It must never hold the
// production seal or time-stamping keys (those live in erds-signer / an HSM). Files it creates are
// private by default (umask 077 here; certificates are chmod-ed 0644 explicitly).
#include <sys/stat.h>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "erds/ctl/command.h"

int main(int argc, char** argv) {
  ::umask(077);
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    const int rc = erds::ctl::runCli(args, erds::ctl::builtinCommands(), std::cout, std::cerr);
    std::cout.flush();
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "erdsctl: internal error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "erdsctl: internal error\n";
  }
  return erds::ctl::kExitFailure;
}
