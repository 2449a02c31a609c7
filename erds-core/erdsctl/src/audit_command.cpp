// `erdsctl audit verify`: recomputes every writer's hash chain of the audit log
// (erds::AuditLog::verify) and names the first changed, deleted or reordered row; checks the
// time-stamped anchors over the chain heads (imprint always; token signature with --trust).
#include <memory>
#include <string>

#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/evidence/timestamp_verify.h"

#include "commands.h"

namespace erds::ctl::internal {
namespace {

int auditVerify(const Args& args, Io& io) {
  const std::string prefix = "erdsctl audit verify: ";
  auto config = loadConfigOrReport(args, io);
  if (!config) return kExitUsage;
  // The owner role when configured (it owns the table), else the daemon role (it has SELECT).
  int exitCode = kExitFailure;
  auto conn = connectOrReport(*config, ownerOrDaemonLogin(*config), "audit verify", io, exitCode);
  if (!conn) return exitCode;
  // Anchor tokens: the imprint must be the digest recomputed from the anchored heads (always);
  // with --trust, the token's signature must also chain to a TSA trust anchor.
  std::shared_ptr<const evidence::TimestampVerifier> tsaVerifier;
  const auto trust = args.getAll("--trust");
  if (!trust.empty()) {
    auto v = evidence::TimestampVerifier::fromPemFiles(trust);
    if (!v) {
      io.err << prefix << "--trust: " << oneLine(v.error().message) << "\n";
      return kExitUsage;
    }
    tsaVerifier = std::move(v).value();
  }
  AuditTokenChecker checker = [tsaVerifier](std::string_view token, std::string_view digest) -> Result<void> {
    if (tsaVerifier) {
      evidence::TimestampVerifyOptions o;
      o.asOfGenTime = true;  // anchors are archived: the TSA certificate may have expired since
      auto info = tsaVerifier->verify(token, digest, o);
      if (!info) return std::move(info).error();
      return ok();
    }
    auto info = evidence::TimestampVerifier::inspect(token);
    if (!info) return std::move(info).error();
    if (info->imprint != digest) return Error::integrityFailure("the token's message imprint is not the anchor digest");
    return ok();
  };
  auto report = AuditLog::verify(**conn, checker);
  if (!report) {
    io.err << prefix << oneLine(report.error().message) << "\n";
    return kExitFailure;
  }
  io.out << "audit log: " << report->rows << " rows, " << report->writers << " writers, "
         << report->anchors << " anchors";
  if (report->lastAnchorAt) io.out << " (last " << formatRfc3339(*report->lastAnchorAt, false) << ")";
  io.out << "\n";
  if (!report->ok) {
    for (const auto& p : report->problems) io.out << "PROBLEM: " << p << "\n";
    io.err << prefix << report->firstProblem << "\n";
    return kExitFailure;
  }
  io.out << "OK: every writer's hash chain is intact";
  if (report->anchors > 0) {
    io.out << "; every anchor matches its chain heads and its time-stamp token"
           << (tsaVerifier ? " (signature verified against --trust)" : " (imprint only; pass --trust to verify the TSA)");
  } else {
    io.out << "; no anchors yet (rows are not protected against the database owner)";
  }
  io.out << "\n";
  return kExitOk;
}

}  // namespace

Command auditVerifyCommand() {
  return Command{
      .path = "audit verify",
      .help = "check every writer's hash chain in the audit log; name the first bad row",
      .usage = "--config FILE [--trust TSA-CA.pem]...",
      .options = {{"--config", "FILE", true}, {"--trust", "TSA-CA.pem", false, true}},
      .positionalNames = {},
      .details =
          "Connects with database.owner_conninfo (+ owner_password_file) when set, else with\n"
          "database.conninfo (+ password_file). Also checks the anchors erdsd writes every\n"
          "audit.anchor_interval: each anchor's time-stamp token must cover the digest of the chain\n"
          "heads it lists, and each head must still be the row at that writer and seq, so a row\n"
          "rewritten before an anchor is found even if the whole chain was recomputed.\n"
          "--trust: PEM trust anchors of the time-stamping unit; without it only the token's\n"
          "imprint is checked, not who signed it.\n"
          "Exit 0 when every chain and anchor is intact, 1 when a row was changed, deleted or\n"
          "reordered (every problem is listed, the first also on stderr) or on a database error,\n"
          "2 on a configuration error.",
      .handler = auditVerify,
  };
}

}  // namespace erds::ctl::internal
