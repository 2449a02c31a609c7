// Browser end-to-end test of the erds portal (SCENARIOS.md 1 and 5), driven by run.sh.
// Sender sends with an attachment (hostile subject and file name; streamed by XHR with progress)
// and identifies herself by signing a challenge with an NCP signing certificate; the recipient is blocked by the identity gate, sees the policy table, books an in-person check
// (hostile note) at level high and uploads an ID scan (a generated PNG); the officer gives the
// first of two approvals for the booking (shown as awaiting a second, different officer), views
// the scan and approves it; she registers her client certificate and signs in with it alone on
// the certificate listener. The recipient accepts and downloads (all, and one file from the parts
// list), the sender sees ContentHandover and downloads its evidence, which `erdsctl evidence
// verify` accepts. axe-core runs on every page (WCAG 2.1 AA, zero violations); screenshots of each
// page (also at 360 px) go to artifacts/. Any failure exits non-zero.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { createHmac, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import path from 'node:path';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const BASE = process.env.ERDS_URL;
const ART = process.env.ERDS_ARTIFACTS;
const ERDSCTL = process.env.ERDSCTL;
const TRUST = process.env.ERDS_TRUST;
const CERT_URL = process.env.ERDS_CERT_URL;
assert.ok(BASE && ART && ERDSCTL && TRUST && CERT_URL && process.env.ERDS_OFFICER_TOTP && process.env.ERDS_OFFICER_CERT,
  'run through tests/browser/run.sh');

const HOSTILE_SUBJECT = '<script>alert(1)</script> Formal notice "><img src=x onerror=alert(2)>';
const HOSTILE_FILE = '"><img src=x onerror=alert(3)>.pdf';
const HOSTILE_NOTE = '<script>alert(4)</script> wheelchair access "><img src=x onerror=alert(5)>';
const ATTACHMENT = Buffer.from('%PDF-1.4\n% erds browser test attachment\n' + 'x'.repeat(200000) + '\n%%EOF\n');

// A small valid PNG (16x10, RGB), generated so no binary fixture is needed.
function crc32(buf) {
  let c = ~0;
  for (const b of buf) { c ^= b; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); }
  return (~c) >>> 0;
}
function pngChunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function makePng(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x++) { row[1 + x * 3] = 18 + x * 10; row[2 + x * 3] = 53 + y * 12; row[3 + x * 3] = 91; }
    rows.push(row);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.concat(rows))), pngChunk('IEND', Buffer.alloc(0))]);
}
const ID_SCAN = makePng(16, 10);

let checks = 0;
const pagesChecked = new Set();
function ok(cond, what) { assert.ok(cond, what); checks++; }

function totp(base32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

async function axe(page, name) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const v = res.violations.map((x) => `${x.id}: ${x.help} (${x.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  assert.deepEqual(v, [], `axe violations on ${name}`);
  pagesChecked.add(name);
  checks++;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
}

// Checks a page: no script from content ran, axe passes, screenshot saved; also at 360 px wide.
async function visit(page, name) {
  await axe(page, name);
  await shot(page, name);
  const wide = page.viewportSize();
  await page.setViewportSize({ width: 360, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  ok(overflow <= 1, `${name}: no horizontal scrolling at 360 px (overflow ${overflow}px)`);
  await shot(page, `${name}-360`);
  await page.setViewportSize(wide);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
});
const dialogs = [];
const cspViolations = [];
async function newUser(options = {}) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1100, height: 900 }, ...options });
  const page = await ctx.newPage();
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  return { ctx, page };
}
async function signIn(page, user, password, code) {
  await page.goto(BASE + '/');
  await page.fill('#identifier', user);
  await page.fill('#password', password);
  if (code) await page.fill('#totp', code);
  await Promise.all([page.waitForURL(/\/inbox$/), page.click('main button[type=submit]')]);
}

try {
  // ---- anonymous pages and security headers ----
  const anon = await newUser();
  const resp = await anon.page.goto(BASE + '/');
  const h = resp.headers();
  ok(/default-src 'self'/.test(h['content-security-policy']) && /frame-ancestors 'none'/.test(h['content-security-policy']) &&
     !/unsafe-inline/.test(h['content-security-policy']), 'strict CSP on /');
  ok(/max-age=\d+/.test(h['strict-transport-security'] || ''), 'HSTS on /');
  const cookies = await anon.ctx.cookies();
  const csrf = cookies.find((c) => c.name === '__Host-erds_csrf');
  ok(csrf && csrf.secure && csrf.httpOnly && csrf.sameSite === 'Strict', 'CSRF cookie is Secure, HttpOnly, SameSite=Strict');
  await visit(anon.page, 'signin');
  await anon.page.goto(BASE + '/register');
  await visit(anon.page, 'register');
  await anon.page.goto(BASE + '/verify');
  await visit(anon.page, 'verify');
  // A forged POST (no CSRF token) is refused and signs nobody in.
  const forged = await anon.ctx.request.post(BASE + '/signin', {
    form: { identifier: 'sender@example.test', password: 'sender-demo-password' }, maxRedirects: 0 });
  ok(forged.status() === 403, `POST without CSRF token refused (got ${forged.status()})`);
  ok(!(await anon.ctx.cookies()).some((c) => c.name === 'erds_session'), 'no session from a forged POST');
  // Wrong password: same page, an error, no session.
  await anon.page.goto(BASE + '/');
  await anon.page.fill('#identifier', 'sender@example.test');
  await anon.page.fill('#password', 'wrong-password-123');
  await anon.page.click('main button[type=submit]');
  await anon.page.waitForSelector('.flash.error');
  await visit(anon.page, 'signin-failed');

  // ---- sender composes and sends (scenario 1) ----
  const sender = await newUser();
  await signIn(sender.page, 'sender@example.test', 'sender-demo-password');
  await visit(sender.page, 'sender-inbox');
  await sender.page.goto(BASE + '/compose');
  await visit(sender.page, 'compose');
  await sender.page.fill('#recipients', 'recipient@example.test');
  await sender.page.fill('#subject', HOSTILE_SUBJECT);
  await sender.page.fill('#body', 'Dear Bruno, please find the formal notice attached.');
  await sender.page.setInputFiles('#attachments', { name: HOSTILE_FILE, mimeType: 'application/pdf', buffer: ATTACHMENT });
  await sender.page.check('#mode-consent');
  await sender.page.selectOption('#level', 'substantial');
  await sender.page.fill('#expiry', '15');
  const composeRequests = [];
  sender.page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/compose')) composeRequests.push(r.resourceType()); });
  await Promise.all([sender.page.waitForURL(/\/messages\/[^/?]+\?done=sent$/, { timeout: 60000 }), sender.page.click('main button[type=submit]')]);
  const messageUrl = sender.page.url().replace(/\?.*$/, '');
  ok(composeRequests.length === 1 && composeRequests[0] === 'xhr', `compose sent by XHR with upload progress (${composeRequests.join(',')})`);
  ok(await sender.page.locator('ol.timeline .event', { hasText: 'SubmissionAcceptance' }).count() === 1, 'SubmissionAcceptance shown at once');
  ok((await sender.page.locator('h1').textContent()) === HOSTILE_SUBJECT, 'hostile subject shown as text');
  ok(await sender.page.locator('img[src=x]').count() === 0, 'no injected element');
  await visit(sender.page, 'message-sent');
  await sender.page.goto(BASE + '/sent');
  ok(await sender.page.getByText('recipient@example.test').count() >= 1, 'sent list shows the recipient');
  await visit(sender.page, 'sent');

  // ---- the sender identifies herself by signing a challenge with her (NCP) signing certificate ----
  await sender.page.goto(BASE + '/identity');
  ok(await sender.page.getByRole('link', { name: 'Sign a challenge with a certificate' }).count() === 1, 'identity page offers the certificate challenge');
  await sender.page.getByRole('link', { name: 'Sign a challenge with a certificate' }).click();
  await sender.page.waitForURL(/\/identity\/certificate$/);
  const challenge = (await sender.page.locator('#challenge').textContent()).trim();
  const signature = cryptoSign('sha256', Buffer.from(challenge, 'ascii'), createPrivateKey(readFileSync(process.env.ERDS_SENDER_SIGN_KEY)));
  await sender.page.setInputFiles('#certificate', process.env.ERDS_SENDER_SIGN_CERT);
  await sender.page.setInputFiles('#signature', { name: 'challenge.sig', mimeType: 'application/octet-stream', buffer: signature });
  await Promise.all([sender.page.waitForURL(/done=identified/),
    sender.page.getByRole('button', { name: 'Check the signature and identify me' }).click()]);
  ok(await sender.page.getByText('An advanced certificate (NCP) - level substantial').count() === 1, 'the certificate identification is recorded');
  await visit(sender.page, 'identity-identified');

  // ---- recipient: inbox, accept, gate blocks the download ----
  const recipient = await newUser();
  await signIn(recipient.page, 'recipient@example.test', 'recipient-demo-password');
  ok(await recipient.page.getByText('shown after you accept').count() >= 1, 'sender hidden before acceptance');
  await visit(recipient.page, 'inbox');
  await recipient.page.goto(messageUrl);
  for (let i = 0; i < 60 && (await recipient.page.getByRole('button', { name: 'Accept the message' }).count()) === 0; i++) {
    await recipient.page.waitForTimeout(500);
    await recipient.page.reload();
  }
  await visit(recipient.page, 'message-awaiting-acceptance');
  await Promise.all([recipient.page.waitForURL(/done=accepted/), recipient.page.getByRole('button', { name: 'Accept the message' }).click()]);
  for (let i = 0; i < 60 && (await recipient.page.getByRole('link', { name: 'Download the content' }).count()) === 0; i++) {
    await recipient.page.waitForTimeout(500);
    await recipient.page.reload();
  }
  await visit(recipient.page, 'message-accepted');
  const blocked = await recipient.page.goto(messageUrl + '/content');
  ok(blocked.status() === 403, `gate blocks the unidentified recipient (got ${blocked.status()})`);
  ok(await recipient.page.getByRole('link', { name: 'Request identity verification' }).count() === 1, 'gate page says how to get verified');
  await visit(recipient.page, 'gate-blocked');
  await recipient.page.goto(BASE + '/identity');
  ok(await recipient.page.locator('table.policy').count() === 1, 'identity page shows the policy table');
  ok(await recipient.page.locator('table.policy th[scope=row]').count() >= 3, 'policy table lists the methods');
  ok(await recipient.page.getByRole('columnheader', { name: 'Counts for receiving' }).count() === 1, 'policy table: receiving column');
  await visit(recipient.page, 'identity');
  // In-person booking (level high: two officers must approve), with a hostile note.
  await recipient.page.selectOption('#desk-level', 'high');
  await recipient.page.fill('#preferred_at', '2030-01-15T10:30');
  await recipient.page.fill('#note', HOSTILE_NOTE);
  await Promise.all([recipient.page.waitForURL(/done=booked/), recipient.page.getByRole('button', { name: 'Book an in-person check' }).click()]);
  ok(await recipient.page.locator('dd', { hasText: HOSTILE_NOTE }).count() === 1, 'appointment note shown as text');
  ok(await recipient.page.locator('img[src=x]').count() === 0, 'no injected element from the note');
  await visit(recipient.page, 'identity-booked');
  // ID document scan upload.
  await recipient.page.selectOption('#scan-level', 'substantial');
  await recipient.page.setInputFiles('#document', { name: 'id-card.png', mimeType: 'image/png', buffer: ID_SCAN });
  const scanRequests = [];
  recipient.page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/identity/requests/scan')) scanRequests.push(r.resourceType()); });
  await Promise.all([recipient.page.waitForURL(/done=uploaded/),
    recipient.page.getByRole('button', { name: 'Upload and request verification' }).click()]);
  ok(scanRequests.length === 1 && scanRequests[0] === 'xhr', `scan sent by XHR with upload progress (${scanRequests.join(',')})`);
  ok(await recipient.page.locator('dd', { hasText: 'image/png' }).count() >= 1, 'the uploaded scan is listed with the request');
  await visit(recipient.page, 'identity-scan-uploaded');
  // The signed-challenge page (openssl instructions and the upload form).
  await recipient.page.goto(BASE + '/identity/certificate');
  ok((await recipient.page.locator('#challenge').textContent()).length > 20, 'a challenge is shown');
  ok(/openssl dgst -sha256 -sign key\.pem/.test(await recipient.page.locator('main').textContent()), 'openssl instructions shown');
  await visit(recipient.page, 'identity-certificate');
  await recipient.page.goto(BASE + '/account');
  await visit(recipient.page, 'account');

  // ---- officer verifies the recipient (scenario 5) ----
  const officer = await newUser();
  await signIn(officer.page, 'officer@example.test', 'officer-demo-password', totp(process.env.ERDS_OFFICER_TOTP));
  await officer.page.goto(BASE + '/officer');
  ok(await officer.page.locator('section.notice').count() >= 2, 'officer queue lists the requests');
  await visit(officer.page, 'officer-queue');
  const policy = await (await officer.ctx.request.get(BASE + '/api/v1/identity/policy')).json();
  // The in-person booking at level high: first approval.
  const desk = officer.page.locator('section.notice', { hasText: 'wheelchair access' });
  ok(await desk.count() === 1, 'the booking is in the queue with its note');
  ok(/2030-01-15 10:30/.test(await desk.textContent()), 'the preferred time is shown');
  await desk.locator('select[name=method]').selectOption('physical_presence');
  await desk.locator('select[name=level]').selectOption('high');
  await desk.locator('input[name=issuing_country]').fill('IT');
  await desk.locator('input[name=document_number]').fill('CA12345XY');
  await desk.locator('input[name=document_expires_on]').fill('2031-05-31');
  await Promise.all([officer.page.waitForURL(/done=approved/), desk.getByRole('button', { name: /Approve/ }).click()]);
  if (policy.second_approval_for_high) {
    const waiting = officer.page.locator('section.notice.second');
    ok(await waiting.count() === 1, 'level high waits for a second approval');
    ok(/second, different officer/.test(await waiting.textContent()), 'the queue says a different officer must approve');
    await visit(officer.page, 'officer-second-approval');
  } else {
    console.log('browser tests: second approval for level high is disabled by the policy; not checked');
  }
  // The scan: view it, then approve.
  const section = officer.page.locator('section.notice', { has: officer.page.getByRole('link', { name: 'View document 1' }) });
  ok(await section.count() === 1, 'the scan request lists its document');
  const viewHref = await section.getByRole('link', { name: 'View document 1' }).getAttribute('href');
  const dl = await officer.ctx.request.get(BASE + viewHref.replace(/\?view=1$/, ''));
  ok(dl.status() === 200 && dl.headers()['content-type'].startsWith('image/png'), 'officer can download the scan');
  ok(Buffer.compare(await dl.body(), ID_SCAN) === 0, 'the scan is the uploaded bytes');
  ok(/sandbox/.test(dl.headers()['content-security-policy'] || ''), 'the scan is served sandboxed');
  ok(/^attachment/.test(dl.headers()['content-disposition'] || ''), 'the scan download is an attachment');
  await Promise.all([officer.page.waitForURL(/view=1$/), section.getByRole('link', { name: 'View document 1' }).click()]);
  const img = officer.page.locator('img.scan');
  await img.waitFor();
  ok(await img.evaluate((el) => el.complete && el.naturalWidth === 16 && el.naturalHeight === 10), 'the scan is shown on the view page');
  await visit(officer.page, 'officer-scan-view');
  await officer.page.goto(BASE + '/officer');
  await section.locator('select[name=method]').selectOption('remote_id_document_scan');
  await section.locator('select[name=level]').selectOption('substantial');
  await section.locator('select[name=document_type]').selectOption('id_card');
  await section.locator('input[name=issuing_country]').fill('IT');
  await section.locator('input[name=document_number]').fill('CA12345XY');
  await section.locator('input[name=document_expires_on]').fill('2031-05-31');
  await Promise.all([officer.page.waitForURL(/done=approved/), section.getByRole('button', { name: /Approve/ }).click()]);
  await visit(officer.page, 'officer-approved');

  // ---- application tokens for SMTP: only from a strong session, shown once, revocable ----
  await sender.page.goto(BASE + '/account/app-tokens');
  ok(await sender.page.getByText('Sign in with a second factor to create a token.').count() === 1,
    'a password-only session is told to sign in with a second factor');
  ok(await sender.page.locator('form[action="/account/app-tokens"]').count() === 0, 'no token form in a password-only session');
  await officer.page.goto(BASE + '/account');
  await Promise.all([officer.page.waitForURL(/\/account\/app-tokens$/),
    officer.page.getByRole('link', { name: 'Manage application tokens' }).click()]);
  await visit(officer.page, 'app-tokens');
  await officer.page.fill('#token-name', 'Thunderbird <laptop>');
  await officer.page.selectOption('#token-days', '30');
  await Promise.all([officer.page.waitForLoadState('load'), officer.page.getByRole('button', { name: 'Create token' }).click()]);
  const appToken = ((await officer.page.locator('#new-token').textContent()) || '').trim();
  ok(/^erds_at_[A-Za-z0-9_-]{43}$/.test(appToken), 'the new application token is shown');
  ok(await officer.page.getByText('STARTTLS (required)').count() === 1, 'the SMTP settings are shown with it');
  await visit(officer.page, 'app-token-created');
  await officer.page.goto(BASE + '/account/app-tokens');
  ok(!(await officer.page.content()).includes(appToken), 'the token is never shown again');
  const tokenRow = officer.page.locator('tr', { hasText: 'Thunderbird <laptop>' });
  ok(await tokenRow.count() === 1, 'the token is listed with its name as text');
  await Promise.all([officer.page.waitForURL(/done=token_revoked/), tokenRow.getByRole('button', { name: 'Revoke' }).click()]);
  ok(await officer.page.locator('tr', { hasText: 'Thunderbird <laptop>' }).locator('td', { hasText: /^revoked$/ }).count() === 1,
    'the revoked token is listed as revoked');

  // ---- the officer registers her client certificate, then signs in with it alone (scenario 5) ----
  const clientCertificates = [{ origin: CERT_URL, certPath: process.env.ERDS_OFFICER_CERT, keyPath: process.env.ERDS_OFFICER_KEY }];
  const carla = await newUser({ clientCertificates });
  await carla.ctx.addCookies(await officer.ctx.cookies());  // her password + TOTP session (cookies ignore the port)
  await carla.page.goto(CERT_URL + '/account');
  await Promise.all([carla.page.waitForURL(/done=certificate/), carla.page.getByRole('button', { name: 'Register this certificate' }).click()]);
  ok(await carla.page.locator('table', { hasText: 'DEVELOPMENT Carla Officer' }).count() === 1, 'the registered certificate is listed');
  await visit(carla.page, 'account-certificate');
  const card = await newUser({ clientCertificates });
  await card.page.goto(BASE + '/');
  const certLink = card.page.getByRole('link', { name: /Sign in with a certificate/ });
  ok((await certLink.getAttribute('href')) === CERT_URL + '/signin/certificate', 'sign-in page links to the certificate listener');
  await Promise.all([card.page.waitForURL(CERT_URL + '/signin/certificate'), certLink.click()]);
  await visit(card.page, 'signin-certificate');
  await Promise.all([card.page.waitForURL(/\/inbox$/), card.page.getByRole('button', { name: 'Sign in with this certificate' }).click()]);
  await card.page.goto(CERT_URL + '/officer');
  ok((await card.page.locator('h1').textContent()) === 'Officer queue', 'certificate sign-in opens the officer queue');
  const noCert = await newUser();
  const refused = await noCert.page.goto(CERT_URL + '/signin/certificate');
  ok(refused.status() === 401 && (await noCert.page.getByText('No certificate was presented').count()) === 1,
    'without a certificate the page says so');

  // ---- recipient downloads ----
  await recipient.page.goto(messageUrl);
  const [download] = await Promise.all([recipient.page.waitForEvent('download'),
    recipient.page.getByRole('link', { name: 'Download the content' }).click()]);
  const got = readFileSync(await download.path());
  ok(got.includes(ATTACHMENT), 'downloaded content contains the attachment');
  await recipient.page.goto(messageUrl);
  ok(await recipient.page.locator('ol.timeline .event', { hasText: 'ContentHandover' }).count() === 1, 'recipient sees ContentHandover');
  const status = await (await recipient.ctx.request.get(BASE + '/api/v1/messages/' + messageUrl.split('/').pop())).json();
  if (Array.isArray(status.parts)) {
    // Chromium sends '"' in a multipart file name as %22 (HTML form encoding); the rest arrives as typed.
    const sentName = HOSTILE_FILE.replace(/"/g, '%22');
    ok(await recipient.page.locator('tbody td:first-child', { hasText: sentName }).count() === 1, 'content part listed with its (hostile) name as text');
    ok(await recipient.page.locator('tbody td:first-child', { hasText: 'message.txt' }).count() === 1, 'the message text is a part');
    const [partDl] = await Promise.all([recipient.page.waitForEvent('download'),
      recipient.page.getByRole('link', { name: 'Download ' + sentName }).click()]);
    ok(readFileSync(await partDl.path()).equals(ATTACHMENT), 'per-part download is the attachment');
    await visit(recipient.page, 'message-parts');
  } else {
    console.log('browser tests: the message status JSON has no "parts" yet; the parts table was not checked');
  }

  // ---- sender sees the evidence and downloads it ----
  await sender.page.goto(messageUrl);
  for (const ev of ['SubmissionAcceptance', 'NotificationForAcceptance', 'ConsignmentAcceptance', 'ContentConsignment', 'ContentHandover'])
    ok(await sender.page.locator('ol.timeline .event', { hasText: ev }).count() >= 1, `sender timeline has ${ev}`);
  await visit(sender.page, 'message-handed-over');
  const [evDl] = await Promise.all([sender.page.waitForEvent('download'),
    sender.page.getByRole('link', { name: 'Download ContentHandover evidence (XML)' }).click()]);
  const evidenceFile = path.join(ART, 'ContentHandover.xml');
  await evDl.saveAs(evidenceFile);
  const out = execFileSync(ERDSCTL, ['evidence', 'verify', evidenceFile, '--trust', TRUST], { encoding: 'utf8' });
  ok(/valid/i.test(out), 'erdsctl evidence verify accepts the ContentHandover evidence');
  const [bundle] = await Promise.all([sender.page.waitForEvent('download'),
    sender.page.getByRole('link', { name: /evidence bundle/ }).click()]);
  const zipFile = path.join(ART, 'evidence-bundle.zip');
  await bundle.saveAs(zipFile);
  ok(readFileSync(zipFile).subarray(0, 2).toString() === 'PK', 'bundle is a ZIP');
  await sender.page.goto(messageUrl + '/receipt');
  ok(await sender.page.getByText('ContentHandover').count() >= 1, 'receipt lists ContentHandover');
  await visit(sender.page, 'receipt');
  await sender.page.emulateMedia({ media: 'print' });
  await shot(sender.page, 'receipt-print');
  await sender.page.emulateMedia({ media: 'screen' });

  // ---- public verify page with the downloaded evidence ----
  await anon.page.goto(BASE + '/verify');
  await anon.page.setInputFiles('#evidence', evidenceFile);
  await Promise.all([anon.page.waitForLoadState('load'), anon.page.getByRole('button', { name: 'Verify' }).click()]);
  await anon.page.waitForSelector('.flash');
  ok(/valid/.test(await anon.page.locator('.flash').textContent()) &&
     !(await anon.page.locator('.flash').getAttribute('class')).includes('error'), 'verify page reports valid');
  await visit(anon.page, 'verify-report');
  const tampered = readFileSync(evidenceFile, 'utf8').replace('ContentHandover', 'ContentHandoverX');
  await anon.page.setInputFiles('#evidence', { name: 'tampered.xml', mimeType: 'application/xml', buffer: Buffer.from(tampered) });
  await Promise.all([anon.page.waitForLoadState('load'), anon.page.getByRole('button', { name: 'Verify' }).click()]);
  ok((await anon.page.locator('.flash').getAttribute('class')).includes('error'), 'verify page rejects a tampered evidence');

  // ---- sign out ----
  await Promise.all([sender.page.waitForURL(/done=signedout/), sender.page.getByRole('button', { name: 'Sign out' }).click()]);
  await sender.page.goto(BASE + '/inbox');
  ok(sender.page.url() === BASE + '/', 'signed out: inbox redirects to sign-in');

  ok(dialogs.length === 0, `no script from content ran (dialogs: ${dialogs.join(', ')})`);
  ok(cspViolations.length === 0, `no CSP violations (${cspViolations.join('; ')})`);
  console.log(`browser tests: ${checks} checks passed; axe clean on ${pagesChecked.size} pages: ${[...pagesChecked].join(', ')}`);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error('browser tests: FAILED:', e && e.stack ? e.stack : e);
  try {
    for (const ctx of browser.contexts()) for (const p of ctx.pages()) await p.screenshot({ path: path.join(ART, `failure-${Date.now()}.png`), fullPage: true });
  } catch { /* ignore */ }
  await browser.close();
  process.exit(1);
}
