// PortalRoutes: the server-rendered web portal of erdsd (sign-in, registration, TOTP enrolment,
// compose/sent/inbox/message pages with the evidence timeline, identity verification, officer
// queue, public evidence verification), an erds::http::RouteProvider on the API's origin.
//
// The portal holds no business logic: every action is dispatched IN-PROCESS to the handler the
// identity and message components registered on the same Router (no network, no HTTP
// serialisation; same authentication, identity gate, evidence and audit). It adds HTML rendering
// with one escape function, CSRF protection on every POST and a strict Content-Security-Policy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "erds/base/config.h"
#include "erds/base/result.h"
#include "erds/http/router.h"
#include "erds/identity/gate.h"

namespace erds::evidence {
class EvidenceVerifier;
}

namespace erds::portal {

struct PortalOptions {
  std::string serviceName = "erds";
  identity::GatePolicy gatePolicy;  // shown on the identity page (the same table the API enforces)
  // Consent mode: show the sender to the recipient before acceptance? (EN 319 522: the policy
  // decides; default no).
  bool showSenderBeforeAcceptance = false;
  // Trust anchors of the public "verify evidence" page; null = the page says it is not configured.
  std::shared_ptr<const evidence::EvidenceVerifier> verifier;
  // The client-certificate listener (http.client_cert_port) when certificate sign-in is enabled
  // (identity.client_ca_file set); 0 = the sign-in page offers no certificate sign-in.
  int clientCertPort = 0;
  // http.max_body_bytes: shown on the compose page as the upload limit.
  int64_t maxUploadBytes = 64LL * 1024 * 1024;
  // The SMTP submission settings shown with application tokens: smtp.hostname (else the first of
  // service.domains) and smtp.submission_port.
  std::string smtpHost = "localhost";
  int smtpPort = 2525;

  // service.mode (policy table), http.client_cert_port + identity.client_ca_file,
  // http.max_body_bytes, smtp.hostname / service.domains + smtp.submission_port, portal.verify_trust_file (PEM; when unset, signer.key_dir's
  // root-ca.pem if that file exists). InvalidInput naming the key and file for an unreadable or
  // certificate-less trust file.
  static Result<PortalOptions> fromConfig(const Config& config);
};

class PortalRoutes final : public http::RouteProvider {
 public:
  // `api` is the router the identity and message routes are (or will be) registered on; usually
  // the same router passed to registerRoutes. It must outlive this object; only its const (thread-
  // safe) members are used while serving.
  PortalRoutes(const http::Router& api, PortalOptions options);
  ~PortalRoutes() override;
  PortalRoutes(const PortalRoutes&) = delete;
  PortalRoutes& operator=(const PortalRoutes&) = delete;

  // Adds GET / and the portal pages, their POST actions and /static/portal.css|js. Call once,
  // after (or before) the API routes; dispatch happens at request time. Handlers are thread-safe.
  Result<void> registerRoutes(http::Router& router) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace erds::portal
