// Independent XAdES check with xadesjs (PeculiarVentures) under Node: verifies the one ds:Signature
// of an evidence file with the certificate in its KeyInfo. Exit 0 valid, 1 invalid, 2 usage/setup.
// Usage: node verify_xades.mjs FILE...
import { readFileSync } from "node:fs";

let xadesjs, Crypto, xmldom, xpath;
try {
  xadesjs = await import("xadesjs");
  ({ Crypto } = await import("@peculiar/webcrypto"));
  xmldom = await import("@xmldom/xmldom");
  xpath = await import("xpath");
} catch (e) {
  console.error(`verify_xades: node modules missing (run tests/interop/setup.sh): ${e.message}`);
  process.exit(2);
}

xadesjs.Application.setEngine("NodeJS", new Crypto());
if (typeof xadesjs.setNodeDependencies === "function") {
  xadesjs.setNodeDependencies({
    DOMParser: xmldom.DOMParser,
    XMLSerializer: xmldom.XMLSerializer,
    DOMImplementation: xmldom.DOMImplementation,
    xpath: xpath.default ?? xpath,
  });
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node verify_xades.mjs FILE...");
  process.exit(2);
}
let failed = 0;
for (const file of files) {
  try {
    const doc = xadesjs.Parse(readFileSync(file, "utf8"));
    const sigs = doc.getElementsByTagNameNS("http://www.w3.org/2000/09/xmldsig#", "Signature");
    if (sigs.length !== 1) throw new Error(`expected one ds:Signature, found ${sigs.length}`);
    const signed = new xadesjs.SignedXml(doc);
    signed.LoadXml(sigs[0]);
    const ok = await signed.Verify();
    const props = signed.SignedProperties?.SignedSignatureProperties;
    const signingTime = props?.SigningTime?.Value?.toISOString?.() ?? "?";
    console.log(`${file}: ${ok ? "OK" : "FAIL"} (xadesjs, SigningTime ${signingTime})`);
    if (!ok) failed++;
  } catch (e) {
    console.log(`${file}: FAIL (${e.message})`);
    failed++;
  }
}
process.exit(failed === 0 ? 0 : 1);
