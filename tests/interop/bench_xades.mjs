// xadesjs (PeculiarVentures) signing and verifying the same evidence the C++ benchmark seals, for
// the ratio in docs/PERFORMANCE.md. Inputs come from erds_evidence_bench with
// ERDS_BENCH_EXPORT_DIR=DIR (unsigned.xml, sealed.xml, seal.key, seal.pem); see bench_xades.sh.
// Signing: enveloped XMLDSig, exclusive C14N, SHA-256, ECDSA P-256, XAdES SigningTime and
// SigningCertificateV2 (XAdES-B-B; xadesjs has no RFC 3161 client, so no time stamp).
// Verifying: sealed.xml (our XAdES-B-T) with the KeyInfo certificate (signature only, no chain).
// Usage: node bench_xades.mjs DIR [SECONDS]. Prints one JSON line:
//   {"xadesjs_sign_per_s":..., "xadesjs_verify_per_s":..., "sign_n":..., "verify_n":...}
import { readFileSync } from "node:fs";

let xadesjs, Crypto, xmldom, xpath;
try {
  xadesjs = await import("xadesjs");
  ({ Crypto } = await import("@peculiar/webcrypto"));
  xmldom = await import("@xmldom/xmldom");
  xpath = await import("xpath");
} catch (e) {
  console.error(`bench_xades: node modules missing (run tests/interop/setup.sh): ${e.message}`);
  process.exit(2);
}

const dir = process.argv[2];
const seconds = Number(process.argv[3] ?? "3");
if (!dir || !(seconds > 0)) {
  console.error("usage: node bench_xades.mjs DIR [SECONDS]");
  process.exit(2);
}

const crypto = new Crypto();
xadesjs.Application.setEngine("NodeJS", crypto);
const nodeDeps = {
  DOMParser: xmldom.DOMParser,
  XMLSerializer: xmldom.XMLSerializer,
  DOMImplementation: xmldom.DOMImplementation,
  xpath: xpath.default ?? xpath,
};
if (typeof xadesjs.setNodeDependencies === "function") xadesjs.setNodeDependencies(nodeDeps);
// xmldsigjs (used by xadesjs to sign) may carry its own copy of xml-core, which needs them too.
try {
  const { createRequire } = await import("node:module");
  const require = createRequire(import.meta.url);
  const nested = require.resolve("xml-core", { paths: [require.resolve("xmldsigjs")] });
  const xmlCore = await import(nested.replace(/build[\\/]cjs[\\/]index\.js$/, "build/esm/index.js"));
  if (typeof xmlCore.setNodeDependencies === "function") xmlCore.setNodeDependencies(nodeDeps);
} catch {
  // a single shared xml-core: already set above
}

const pemBody = (pem, label) => {
  const m = pem.match(new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`));
  if (!m) throw new Error(`no ${label} PEM block`);
  return m[1].replace(/\s+/g, "");
};
const unsigned = readFileSync(`${dir}/unsigned.xml`, "utf8");
const sealed = readFileSync(`${dir}/sealed.xml`, "utf8");
const keyDer = Buffer.from(pemBody(readFileSync(`${dir}/seal.key`, "utf8"), "PRIVATE KEY"), "base64");
const certB64 = pemBody(readFileSync(`${dir}/seal.pem`, "utf8"), "CERTIFICATE");
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const key = await crypto.subtle.importKey("pkcs8", keyDer, alg, false, ["sign"]);

async function signOnce() {
  const doc = xadesjs.Parse(unsigned);
  const signed = new xadesjs.SignedXml();
  const sig = await signed.Sign(alg, key, doc, {
    references: [{ hash: "SHA-256", transforms: ["enveloped", "exc-c14n"] }],
    signingCertificateV2: certB64,
    signingTime: { value: new Date() },
    x509: [certB64],
  });
  doc.documentElement.appendChild(sig.GetXml());
  return new xmldom.XMLSerializer().serializeToString(doc);
}

async function verifyOnce(text) {
  const doc = xadesjs.Parse(text);
  const sigs = doc.getElementsByTagNameNS("http://www.w3.org/2000/09/xmldsig#", "Signature");
  if (sigs.length !== 1) throw new Error(`expected one ds:Signature, found ${sigs.length}`);
  const s = new xadesjs.SignedXml(doc);
  s.LoadXml(sigs[0]);
  return s.Verify();
}

async function rate(fn) {
  for (let i = 0; i < 20; i++) await fn();  // warm-up (JIT)
  let n = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < limit) {
    await fn();
    n++;
    elapsed = process.hrtime.bigint() - start;
  }
  return { n, perS: n / (Number(elapsed) / 1e9) };
}

// Both must really work before they are timed.
const ownSigned = await signOnce();
if (!(await verifyOnce(ownSigned))) {
  console.error("bench_xades: xadesjs cannot verify its own signature");
  process.exit(1);
}
if (!(await verifyOnce(sealed))) {
  console.error("bench_xades: xadesjs does not verify the erds-sealed evidence");
  process.exit(1);
}
const sign = await rate(signOnce);
const verify = await rate(() => verifyOnce(sealed));
console.log(JSON.stringify({
  xadesjs_sign_per_s: Math.round(sign.perS),
  xadesjs_verify_per_s: Math.round(verify.perS),
  sign_n: sign.n,
  verify_n: verify.n,
}));
