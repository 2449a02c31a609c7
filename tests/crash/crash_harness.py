#!/usr/bin/env python3
"""Crash-safety harness (issue 8 item 1, issue 5 "Bad input and failure"): runs erds-signer, erdsd and
erds-smtpd on a private DURABLE PostgreSQL under a mixed client load, SIGKILLs one daemon at random
moments N times (ERDS_CRASH_KILLS, default 50) and PostgreSQL once (pg_ctl -m immediate), then checks
in the database that nothing acknowledged was lost or doubled and no lifecycle step was skipped.

Exit 0 only if every check ran and passed; 1 on any failure or skipped check; 2 on usage errors.
Cleans up every process and the cluster (try/finally, atexit, signal handlers). See README.md.
"""

import argparse
import atexit
import base64
import ctypes
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict

PGBIN_ROOT = "/usr/lib/postgresql"
# Demo accounts (service.demo_accounts): identifiers; the passwords are read from erdsd's
# identity.demo_account log lines at set-up.
DEMO = {
    "sender": ("mailto:sender@example.test", None),
    "recipient": ("mailto:recipient@example.test", None),
}
RECIPIENT = "mailto:recipient@example.test"
BOUNDARY = "crash-harness-b0undary"

# Events a delivery must carry per (mode, state); "|" = one of. Checked after the drain.
STATE_REQUIRES = {
    ("basic", "consigned"): ["ContentConsignment"],
    ("basic", "notified"): ["ContentConsignment", "ConsignmentNotification"],
    ("basic", "notification_failed"): ["ContentConsignment", "ConsignmentNotificationFailure"],
    ("basic", "handed_over"): ["ContentConsignment", "ContentHandover"],
    ("consent", "awaiting_acceptance"): ["NotificationForAcceptance|NotificationForAcceptanceFailure"],
    ("consent", "accepted"): ["ConsignmentAcceptance"],
    ("consent", "consigned"): ["ConsignmentAcceptance", "ContentConsignment"],
    ("consent", "handed_over"): ["ConsignmentAcceptance", "ContentConsignment", "ContentHandover"],
    ("consent", "rejected"): ["ConsignmentRejection"],
}
# Evidence that implies an earlier step (per mode): event -> events that must exist for the same recipient.
IMPLIES = {
    "basic": {
        "ConsignmentNotification": ["ContentConsignment"],
        "ConsignmentNotificationFailure": ["ContentConsignment"],
        "ContentHandover": ["ContentConsignment"],
    },
    "consent": {
        "ContentConsignment": ["ConsignmentAcceptance"],
        "ContentHandover": ["ConsignmentAcceptance", "ContentConsignment"],
    },
}
# The state each recipient-level event leads to (evidence present but state behind = half-written).
TERMINAL_BY_EVENT = {
    "ContentHandover": "handed_over",
    "ConsignmentRejection": "rejected",
    "AcceptanceRejectionExpiry": "expired",
}


def log(msg):
    sys.stderr.write("[crash %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class HarnessError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # Children die with the harness even if it is SIGKILLed (all Popen calls are on the main thread).
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def clean_env():
    """The daemons reject unknown ERDS_* variables and must not pick up ctest's PG* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERDS_") and not k.startswith("PG")}
    return env


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One daemon: started, SIGKILLed and restarted by the main thread; its log appends across runs."""

    def __init__(self, name, argv, logfile, ready):
        self.name, self.argv, self.logfile, self.ready = name, argv, logfile, ready
        self.proc = None
        self.starts = 0
        self.kills = 0

    def log_text(self, since=0):
        try:
            with open(self.logfile, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout):
        offset = os.path.getsize(self.logfile) if os.path.exists(self.logfile) else 0
        with open(self.logfile, "ab") as out:
            out.write(("\n=== harness: start #%d of %s ===\n" % (self.starts + 1, self.name)).encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=clean_env(), start_new_session=True, preexec_fn=_die_with_parent)
        self.starts += 1
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise HarnessError("%s exited with status %s during start-up; log tail:\n%s"
                                   % (self.name, self.proc.returncode, self.log_text(offset)[-3000:]))
            if self.ready(self.log_text(offset)):
                return
            time.sleep(0.1)
        raise HarnessError("%s not ready within %ds; log tail:\n%s" % (self.name, timeout, self.log_text(offset)[-3000:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sigkill(self):
        if not self.alive():
            raise HarnessError("%s is not running when it should be killed (exit %s)"
                               % (self.name, self.proc.returncode if self.proc else None))
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.kills += 1

    def stop(self, timeout=30):
        """SIGTERM then wait; returns the exit status (None if it had to be SIGKILLed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            return None
        except ProcessLookupError:
            return self.proc.wait(5)

    def force_kill(self):
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


class Postgres:
    """A private durable cluster (fsync, synchronous_commit and full_page_writes on), Unix socket only."""

    def __init__(self, root):
        versions = sorted((d for d in os.listdir(PGBIN_ROOT) if os.path.exists(os.path.join(PGBIN_ROOT, d, "bin", "pg_ctl"))),
                          key=lambda v: int(v) if v.isdigit() else 0)
        if not versions:
            raise HarnessError("PostgreSQL server binaries not found under %s" % PGBIN_ROOT)
        self.bin = os.path.join(PGBIN_ROOT, versions[-1], "bin")
        self.dir = root
        self.data = os.path.join(root, "data")
        self.port = 5432
        self.running = False
        self.as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        os.chmod(root, 0o755)

    def _run(self, args, check=True):
        r = subprocess.run(self.as_server + args, cwd="/tmp", stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, env=clean_env())
        if check and r.returncode != 0:
            raise HarnessError("%s failed (%d): %s%s" % (" ".join(args[:2]), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def init(self):
        self._run([self.bin + "/initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust", "--auth-host=reject",
                   "-E", "UTF8", "--locale=C.UTF-8"])
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all postgres trust\nlocal all all scram-sha-256\n")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# crash harness: durable on purpose\nfsync = on\nsynchronous_commit = on\n"
                    "full_page_writes = on\nmax_connections = 200\nlisten_addresses = ''\n"
                    "unix_socket_directories = '%s'\nport = %d\n" % (self.dir, self.port))

    def start(self):
        self._run([self.bin + "/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "120",
                   "start"])
        self.running = True

    def stop(self, mode):
        self._run([self.bin + "/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "120", "stop"])
        self.running = False

    def psql(self, sql, db="erds", check=True):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p",
                            str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                           capture_output=True, text=True, env=clean_env(), stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise HarnessError("psql failed: %s\n%s" % (sql[:300], r.stderr))
        return [line.split("\t") for line in r.stdout.splitlines() if line != ""]

    def scalar(self, sql):
        rows = self.psql(sql)
        return int(rows[0][0])


# ------------------------------------------------------------------------------------------------
# A do-nothing SMTP relay sink: erds-smtpd sends its REM receipts there (smtp.relay_host).
# ------------------------------------------------------------------------------------------------

class _SinkHandler(socketserver.StreamRequestHandler):
    def handle(self):
        w = self.wfile.write
        w(b"220 sink ESMTP\r\n")
        data = False
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            if data:
                if line in (b".\r\n", b".\n"):
                    data = False
                    self.server.count += 1
                    w(b"250 2.0.0 ok\r\n")
                continue
            cmd = line[:4].upper()
            if cmd in (b"EHLO", b"HELO"):
                w(b"250 sink\r\n")
            elif cmd == b"DATA":
                data = True
                w(b"354 go\r\n")
            elif cmd == b"QUIT":
                w(b"221 bye\r\n")
                return
            else:
                w(b"250 ok\r\n")


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.count = 0


# ------------------------------------------------------------------------------------------------
# Clients
# ------------------------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.api_acks = {}          # idempotency key -> (message_id, sha256 hex, mode)
        self.api_key_ids = defaultdict(set)  # idempotency key -> every message id a 201 named
        self.smtp_acks = []         # (message_id, sha256 hex)
        self.accepts = []           # (message_id, recipient index)
        self.downloads = []         # message ids whose content came back whole and right
        self.statuses = Counter()   # "api 201", "api 503", "smtp 250", "smtp 451", "api conn", ...
        self.unexpected = []        # statuses that must never happen (5xx other than 503, content mismatch)
        self.outage_statuses = Counter()
        self.in_outage = False
        self.consignable = []       # message ids the recipient should accept / download (FIFO)
        self.gave_up = 0
        self.conn_samples = []
        self.replays = 0            # 201 answers to a replayed request (same key, same bytes)
        self.accept_conflicts = []  # accepts answered 409: the message must have been accepted before

    def status(self, what):
        with self.lock:
            self.statuses[what] += 1
            if self.in_outage:
                self.outage_statuses[what] += 1

    def conn_error(self, proto, e):
        self.status(proto.split("(")[0] + " conn-error")
        with self.lock:
            if len(self.conn_samples) < 20:
                self.conn_samples.append("%s %s: %s" % (time.strftime("%H:%M:%S"), proto, repr(e)[:200]))

    def bad(self, what):
        with self.lock:
            self.unexpected.append(what)
        log("UNEXPECTED: " + what)


class Api:
    def __init__(self, port, cafile):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=cafile)

    def call(self, method, path, body=b"", token=None, ctype=None, headers=None, timeout=30):
        """(status, headers dict, body bytes); raises OSError/HTTPException on transport errors."""
        conn = http.client.HTTPSConnection("localhost", self.port, context=self.ctx, timeout=timeout)
        try:
            h = {"Content-Length": str(len(body))}
            if token:
                h["Authorization"] = "Bearer " + token
            if ctype:
                h["Content-Type"] = ctype
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()


TRANSPORT_ERRORS = (OSError, http.client.HTTPException, ssl.SSLError, smtplib.SMTPException)


class Load:
    """The client threads. Each records only what the server acknowledged."""

    def __init__(self, h):
        self.h = h
        self.stop = threading.Event()
        self.api = Api(h.http_port, h.cafile)
        self.stats = h.stats
        self.tokens = {}
        self.token_lock = threading.Lock()
        self.errors = []
        self.accepted = set()  # consent messages the recipient has accepted (recipient thread only)

    def token(self, who, renew=False):
        with self.token_lock:
            if renew or who not in self.tokens:
                ident, pw = DEMO[who]
                body = json.dumps({"identifier": ident, "password": pw}).encode()
                end = time.monotonic() + 120
                while True:
                    try:
                        st, _, data = self.api.call("POST", "/api/v1/sessions", body, ctype="application/json")
                        if st in (200, 201):
                            self.tokens[who] = json.loads(data)["token"]
                            break
                        if st not in (429, 503):
                            raise HarnessError("sign-in of %s answered %d: %s" % (who, st, data[:300]))
                    except TRANSPORT_ERRORS:
                        pass
                    if time.monotonic() > end or self.stop.is_set():
                        raise HarnessError("cannot sign in as %s" % who)
                    time.sleep(0.5)
            return self.tokens[who]

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except Exception:  # a client thread must not die silently: the run fails
            self.errors.append(traceback.format_exc())
            log("client thread failed:\n" + traceback.format_exc())

    def start(self, api_threads, smtp_threads, pace):
        self.pace = pace
        self.threads = [threading.Thread(target=self._guard, args=(self.api_submitter, i), daemon=True)
                        for i in range(api_threads)]
        self.threads += [threading.Thread(target=self._guard, args=(self.smtp_submitter, i), daemon=True)
                         for i in range(smtp_threads)]
        self.threads.append(threading.Thread(target=self._guard, args=(self.recipient,), daemon=True))
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(180)
            if t.is_alive():
                self.errors.append("a client thread did not stop within 180 s")

    # -- API submissions: multipart with an attachment and an Idempotency-Key, retried with the same
    #    key and the same bytes on connection errors, 503 and 429.
    def api_submitter(self, n):
        rnd = random.Random(self.h.seed * 1000 + n)
        i = 0
        while not self.stop.is_set():
            i += 1
            mode = rnd.choice(["basic", "consent"])
            data = rnd.randbytes(rnd.randint(200, 48 * 1024))
            digest = hashlib.sha256(data).hexdigest()
            key = "crash-%d-%d-%s" % (n, i, uuid.uuid4().hex[:12])
            meta = json.dumps({"subject": "crash api %d/%d" % (n, i), "recipients": [RECIPIENT],
                               "consignment_mode": mode, "required_recipient_level": "low"})
            body = ("--%s\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n%s"
                    "\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a%d.bin\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n" % (BOUNDARY, meta, BOUNDARY, i)).encode() \
                + data + ("\r\n--%s--\r\n" % BOUNDARY).encode()
            end = time.monotonic() + 90
            renewed = False
            while True:
                try:
                    st, hd, resp = self.api.call("POST", "/api/v1/messages", body, token=self.token("sender"),
                                                 ctype="multipart/form-data; boundary=" + BOUNDARY,
                                                 headers={"Idempotency-Key": key})
                except TRANSPORT_ERRORS as e:
                    self.stats.conn_error("api", e)
                    st = None
                if st is not None:
                    self.stats.status("api %d" % st)
                if st == 201:
                    mid = json.loads(resp)["message_id"]
                    with self.stats.lock:
                        self.stats.api_acks[key] = (mid, digest, mode)
                        self.stats.api_key_ids[key].add(mid)
                        self.stats.consignable.append((mid, mode, digest, time.monotonic()))
                    if rnd.random() < 0.1:
                        self._replay(key, body)  # the same request again: must name the same message
                    break
                if st == 401 and not renewed:
                    self.token("sender", renew=True)
                    renewed = True
                    continue
                if st is not None and st not in (429, 503):
                    self.stats.bad("API submission answered %d: %s" % (st, resp[:300]))
                    break
                if time.monotonic() > end:
                    with self.stats.lock:
                        self.stats.gave_up += 1
                    break  # never acknowledged: nothing to check
                if self.stop.is_set():
                    break  # the run is over: an unacknowledged submission needs no retry
                time.sleep(float(hd.get("retry-after", "0.3")) if st == 429 else 0.3)
            time.sleep(self.pace)

    def _replay(self, key, body):
        time.sleep(0.05)
        try:
            st, _, resp = self.api.call("POST", "/api/v1/messages", body, token=self.token("sender"),
                                        ctype="multipart/form-data; boundary=" + BOUNDARY,
                                        headers={"Idempotency-Key": key})
        except TRANSPORT_ERRORS as e:
            self.stats.conn_error("api", e)
            return
        self.stats.status("api %d (replay)" % st)
        if st == 201:
            with self.stats.lock:
                self.stats.api_key_ids[key].add(json.loads(resp)["message_id"])
                self.stats.replays += 1
        elif st not in (401, 429, 503):
            self.stats.bad("replay of Idempotency-Key %s answered %d: %s" % (key, st, resp[:300]))

    # -- SMTP submissions: STARTTLS + AUTH PLAIN, one message per session; 4xx / errors retried.
    def smtp_submitter(self, n):
        rnd = random.Random(self.h.seed * 2000 + n)
        i = 0
        while not self.stop.is_set():
            i += 1
            lines = ["%s" % rnd.randbytes(rnd.randint(10, 60)).hex() for _ in range(rnd.randint(3, 200))]
            raw = ("From: sender@example.test\r\nTo: recipient@example.test\r\nSubject: crash smtp %d/%d\r\n"
                   "Message-ID: <%s@crash.example.test>\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
                   % (n, i, uuid.uuid4().hex, "\r\n".join(lines))).encode()
            digest = hashlib.sha256(raw).hexdigest()
            end = time.monotonic() + 90
            while True:
                code, stage, text = self._smtp_once(raw)
                if code != "conn-error":
                    self.stats.status("smtp %s" % code if stage == "data" else "smtp %s %s" % (stage, code))
                if code == 250:
                    m = re.search(r"queued as ([0-9a-fA-F-]{36})", text)
                    if not m:
                        self.stats.bad("SMTP 250 without a message id: %r" % text)
                        break
                    with self.stats.lock:
                        self.stats.smtp_acks.append((m.group(1), digest))
                        self.stats.consignable.append((m.group(1), "smtp", digest, time.monotonic()))
                    break
                if isinstance(code, int) and code >= 500:
                    self.stats.bad("SMTP %s answered %d %s" % (stage, code, text))
                    break
                if time.monotonic() > end or self.stop.is_set():
                    with self.stats.lock:
                        self.stats.gave_up += 1
                    break
                time.sleep(0.3)
            time.sleep(self.pace)

    def _smtp_once(self, raw):
        """(code, stage, text) of the final reply: stage is the command that got it ("data" for the
        answer to the message itself); ("conn-error", stage, detail) on transport errors."""
        ctx = ssl.create_default_context(cafile=self.h.cafile)
        stage = "connect"
        try:
            with smtplib.SMTP("127.0.0.1", self.h.sub_port, local_hostname="crash.example.test", timeout=30) as s:
                stage = "ehlo"
                code, msg = s.ehlo()
                if code != 250:
                    return code, stage, msg.decode("utf-8", "replace")
                stage = "starttls"
                s.starttls(context=ctx)
                s.ehlo()
                stage = "auth"
                code, msg = s.docmd("AUTH", "PLAIN " + base64.b64encode(
                    ("\0sender@example.test\0" + DEMO["sender"][1]).encode()).decode())
                if code != 235:
                    return code, stage, msg.decode("utf-8", "replace")
                stage = "mail"
                code, msg = s.mail("sender@example.test")
                if code != 250:
                    return code, stage, msg.decode("utf-8", "replace")
                stage = "rcpt"
                code, msg = s.rcpt("recipient@example.test")
                if code not in (250, 251):
                    return code, stage, msg.decode("utf-8", "replace")
                stage = "data"
                code, msg = s.data(raw)
                return code, stage, msg.decode("utf-8", "replace")
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, stage, str(e.smtp_error)
        except TRANSPORT_ERRORS as e:
            self.stats.conn_error("smtp(%s)" % stage, e)
            return "conn-error", stage, str(e)

    # -- The recipient: accepts consent messages, downloads content (and checks its SHA-256).
    def recipient(self):
        rnd = random.Random(self.h.seed * 3000)
        while not self.stop.is_set():
            with self.stats.lock:
                item = self.stats.consignable.pop(0) if self.stats.consignable else None
            if item is None:
                time.sleep(0.2)
                continue
            mid, mode, digest, since = item
            if time.monotonic() - since > 120:
                continue  # not consigned in time (e.g. jobs in backoff): the end checks cover it
            try:
                done = self._recipient_step(mid, mode, digest, rnd)
            except TRANSPORT_ERRORS as e:
                self.stats.conn_error("api", e)
                done = False
            if not done:
                with self.stats.lock:
                    self.stats.consignable.append(item)
                time.sleep(0.05)
            time.sleep(self.pace)

    def _recipient_step(self, mid, mode, digest, rnd):
        t = self.token("recipient")
        if mode == "consent" and mid not in self.accepted:
            st, _, resp = self.api.call("POST", "/api/v1/messages/%s/accept" % mid, token=t)
            self.stats.status("api %d" % st)
            if st == 401:
                self.token("recipient", renew=True)
                return False
            if st == 200:
                self.accepted.add(mid)
                with self.stats.lock:
                    for r in json.loads(resp)["recipients"]:
                        self.stats.accepts.append((mid, int(r["index"])))
                mode = "consent-accepted"
            elif st in (429, 503, 404):
                return False  # 404: the acknowledged message is read back through the pool... retried
            elif st == 409:
                self.accepted.add(mid)  # accepted before (its answer was lost): go on to the download
                with self.stats.lock:
                    self.stats.accept_conflicts.append(mid)
            else:
                self.stats.bad("accept of %s answered %d: %s" % (mid, st, resp[:300]))
                return True
            return False if mode == "consent-accepted" and rnd.random() < 0.5 else self._download(mid, digest, t, rnd)
        return self._download(mid, digest, t, rnd)

    def _download(self, mid, digest, t, rnd):
        if rnd.random() < 0.3:
            return True  # leave some deliveries consigned but never handed over
        st, hd, body = self.api.call("GET", "/api/v1/messages/%s/content" % mid, token=t, timeout=60)
        self.stats.status("api %d" % st)
        if st == 200:
            got = hashlib.sha256(body).hexdigest()
            if got != digest:
                self.stats.bad("download of %s: SHA-256 %s, submitted %s (%d bytes)" % (mid, got, digest, len(body)))
            elif hd.get("x-content-sha256", "") != digest:
                self.stats.bad("download of %s: X-Content-SHA256 %s, submitted %s" % (mid, hd.get("x-content-sha256"), digest))
            else:
                with self.stats.lock:
                    self.stats.downloads.append(mid)
            return True
        if st == 401:
            self.token("recipient", renew=True)
            return False
        if st in (409, 429, 503, 404):
            return False  # not consigned yet / the database or signer is down: try again later
        self.stats.bad("download of %s answered %d: %s" % (mid, st, body[:300]))
        return True


# ------------------------------------------------------------------------------------------------
# The harness
# ------------------------------------------------------------------------------------------------

class Harness:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        self.seed = args.seed if args.seed is not None else random.randrange(1 << 30)
        self.rnd = random.Random(self.seed)
        self.stats = Stats()
        self.checks = []       # (name, ok, detail)
        self.daemons = {}
        self.pg = None
        self.sink = None
        self.tmp = None
        self.deadline = time.monotonic() + args.max_seconds
        self.load = None
        self.in_self_test = False
        self.pg_kills = 0

    # -- checks -------------------------------------------------------------------------------
    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))
        verdict = ("PASS" if ok else "FAIL") if not self.in_self_test else ("self-test: passes" if ok else "self-test: detects")
        log("%s %s%s" % (verdict, name, (": " + detail) if detail and not ok else ""))

    # -- set-up -------------------------------------------------------------------------------
    def binaries(self):
        paths = {}
        for b in ("erdsd", "erdsctl", "erds-signer", "erds-smtpd"):
            p = os.path.join(self.build, b)
            if not (os.path.isfile(p) and os.access(p, os.X_OK)):
                raise HarnessError("binary %s is missing: build the targets erdsd erdsctl erds-signer erds-smtpd" % p)
            paths[b] = p
        return paths

    def write(self, name, text, mode=0o644):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def setup(self):
        bins = self.binaries()
        self.bins = bins
        self.tmp = tempfile.mkdtemp(prefix="erds-crash.")
        os.chmod(self.tmp, 0o755)
        log("work dir %s, seed %d, build %s" % (self.tmp, self.seed, self.build))
        pgdir = os.path.join(self.tmp, "pg")
        os.mkdir(pgdir)
        self.pg = Postgres(pgdir)
        self.pg.init()
        self.pg.start()
        owner_pw, app_pw = uuid.uuid4().hex, uuid.uuid4().hex
        self.pg.psql("CREATE ROLE erds_owner LOGIN PASSWORD '%s'; CREATE ROLE erds_app LOGIN PASSWORD '%s';"
                     % (owner_pw, app_pw), db="postgres")
        self.pg.psql("CREATE DATABASE erds OWNER erds_owner ENCODING 'UTF8' TEMPLATE template0", db="postgres")
        self.pg.psql("REVOKE ALL ON DATABASE erds FROM PUBLIC; GRANT CONNECT, TEMPORARY ON DATABASE erds TO erds_owner, erds_app",
                     db="postgres")
        fsync = self.pg.psql("SHOW fsync")[0][0] + "/" + self.pg.psql("SHOW synchronous_commit")[0][0]
        if fsync != "on/on":
            raise HarnessError("the cluster is not durable (fsync/synchronous_commit = %s)" % fsync)

        self.write("owner.pw", owner_pw + "\n", 0o600)
        self.write("app.pw", app_pw + "\n", 0o600)
        self.write("kek", os.urandom(32).hex() + "\n", 0o600)
        pki = os.path.join(self.tmp, "pki")
        r = subprocess.run([bins["erdsctl"], "pki", "init", "--dir", pki], capture_output=True, text=True, env=clean_env())
        if r.returncode != 0:
            raise HarnessError("erdsctl pki init failed: %s %s" % (r.stdout, r.stderr))
        self.cafile = os.path.join(pki, "root-ca.pem")
        run = os.path.join(self.tmp, "run")
        os.mkdir(run, 0o700)
        spool = os.path.join(self.tmp, "spool")
        os.mkdir(spool, 0o700)
        self.sink = SmtpSink()
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()
        self.http_port, self.sub_port, self.mx_port = free_port(), free_port(), free_port()
        sock = os.path.join(run, "signer.sock")
        db_app = "host=%s port=%d dbname=erds user=erds_app" % (self.pg.dir, self.pg.port)
        db_owner = "host=%s port=%d dbname=erds user=erds_owner" % (self.pg.dir, self.pg.port)
        signer_conf = self.write("erds-signer.conf", f"""# crash harness: erds-signer only
[service]
mode = development
[log]
level = info
[signer]
backend = file
key_dir = {pki}
socket = {sock}
[database]
conninfo = {db_app}
password_file = {self.tmp}/app.pw
""", 0o600)
        conf = self.write("erds.conf", f"""# crash harness: erdsd + erds-smtpd (signer.mode = socket)
[service]
mode = development
name = erds
domains = example.test
demo_accounts = true
[log]
level = info
[http]
address = 127.0.0.1
port = {self.http_port}
tls_certificate = {pki}/tls.pem
tls_key = {pki}/tls.key
[database]
conninfo = {db_app}
password_file = {self.tmp}/app.pw
app_role = erds_app
owner_conninfo = {db_owner}
owner_password_file = {self.tmp}/owner.pw
[secrets]
kek_file = {self.tmp}/kek
[signer]
mode = socket
socket = {sock}
[tsa]
source = builtin
require_synced_clock = false
[identity]
argon2_t_cost = 1
argon2_m_cost_kib = 8192
[smtp]
address = 127.0.0.1
submission_port = {self.sub_port}
mx_port = {self.mx_port}
hostname = localhost
tls_certificate = {pki}/tls.pem
tls_key = {pki}/tls.key
spool_dir = {spool}
relay_host = 127.0.0.1
relay_port = {self.sink.server_address[1]}
[audit]
anchor_interval = 20s
[metrics]
enabled = true
""")
        self.ctl_conf = self.write("erdsctl.conf", f"""[database]
conninfo = {db_owner}
password_file = {self.tmp}/owner.pw
owner_conninfo = {db_owner}
owner_password_file = {self.tmp}/owner.pw
""", 0o600)
        r = subprocess.run([bins["erdsctl"], "db", "migrate", "--config", conf], capture_output=True, text=True,
                           env=clean_env())
        if r.returncode != 0:
            raise HarnessError("erdsctl db migrate failed: %s %s" % (r.stdout, r.stderr))
        logs = os.path.join(self.tmp, "log")
        os.mkdir(logs)
        self.logs = logs
        ports_file = os.path.join(run, "smtpd.ports")

        def smtpd_ready(_text):
            return os.path.exists(ports_file) and os.path.getsize(ports_file) > 0

        d = self.daemons
        d["erds-signer"] = Daemon("erds-signer", [bins["erds-signer"], "--config", signer_conf],
                                  os.path.join(logs, "erds-signer.log"), lambda t: '"signer.started"' in t)
        d["erdsd"] = Daemon("erdsd", [bins["erdsd"], "--config", conf], os.path.join(logs, "erdsd.log"),
                            lambda t: '"http.listening"' in t)
        d["erds-smtpd"] = Daemon("erds-smtpd", [bins["erds-smtpd"], "--config", conf, "--port-file", ports_file],
                                 os.path.join(logs, "erds-smtpd.log"), smtpd_ready)
        self.ports_file = ports_file
        for name in ("erds-signer", "erdsd", "erds-smtpd"):
            self.start_daemon(name)
        # The demo accounts are seeded by erdsd at start-up; it logs one identity.demo_account JSON
        # line each, with the credentials the clients use.
        end = time.monotonic() + 60
        while True:
            creds = {}
            for line in d["erdsd"].log_text().splitlines():
                if '"identity.demo_account"' in line:
                    try:
                        j = json.loads(line)
                        creds[j["identifier"]] = j["password"]
                    except (ValueError, KeyError):
                        pass
            if all(DEMO[w][0] in creds for w in DEMO):
                break
            if time.monotonic() > end:
                raise HarnessError("erdsd logged no identity.demo_account lines for %s" % [DEMO[w][0] for w in DEMO])
            time.sleep(0.2)
        for w in DEMO:
            DEMO[w] = (DEMO[w][0], creds[DEMO[w][0]])
        # Test fixture: the demo recipient is not identified; give it an identification so that the
        # handover gate lets it download (development mode: the message's required level applies).
        self.pg.psql("INSERT INTO identifications (id, party_id, method, level, at) "
                     "VALUES ('idn_crash_recipient', 'demo-recipient', 'physical_presence', 'substantial', now()) "
                     "ON CONFLICT DO NOTHING")

    def start_daemon(self, name):
        if name == "erds-smtpd" and os.path.exists(self.ports_file):
            os.unlink(self.ports_file)
        self.daemons[name].start(self.args.start_timeout)

    # -- the run ------------------------------------------------------------------------------
    def readyz(self, timeout):
        api = Api(self.http_port, self.cafile)
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                last = api.call("GET", "/readyz", timeout=5)[0]
                if last == 200:
                    return True
            except TRANSPORT_ERRORS as e:
                last = str(e)
            time.sleep(0.5)
        log("/readyz last answer: %s" % last)
        return False

    def check_time(self, what):
        if time.monotonic() > self.deadline:
            raise HarnessError("internal deadline (--max-seconds %d) passed during %s" % (self.args.max_seconds, what))

    def pg_outage(self):
        log("PostgreSQL: pg_ctl stop -m immediate under load")
        before = Counter(self.stats.statuses)
        with self.stats.lock:
            self.stats.in_outage = True
        self.pg.stop("immediate")
        time.sleep(self.args.pg_down_seconds)
        with self.stats.lock:
            self.stats.in_outage = False
        self.pg.start()
        self.pg_kills += 1
        during = Counter(self.stats.outage_statuses)
        log("PostgreSQL restarted; answers during the outages so far: %s" % dict(during))
        ok = self.readyz(120)
        self.check("erdsd /readyz back to 200 after PostgreSQL restart #%d (no operator action)" % self.pg_kills, ok)
        for name, dmn in self.daemons.items():
            self.check("%s survived the PostgreSQL outage #%d" % (name, self.pg_kills), dmn.alive(),
                       "exit status %s" % (dmn.proc.returncode if dmn.proc else None))
            if not dmn.alive():
                self.start_daemon(name)
        return before

    def run(self):
        a = self.args
        asan = a.asan
        api_threads = a.api_threads or (1 if asan else 2)
        smtp_threads = a.smtp_threads or 1
        pace = a.pace if a.pace is not None else (0.2 if asan else 0.02)
        self.load = Load(self)
        self.load.start(api_threads, smtp_threads, pace)
        log("load: %d API thread(s), %d SMTP thread(s), 1 recipient thread; %d kills, %d PostgreSQL kill(s)"
            % (api_threads, smtp_threads, a.kills, a.pg_kills))
        weights = {"erdsd": 0.45, "erds-smtpd": 0.3, "erds-signer": 0.25}
        names = list(weights)
        pg_at = sorted({max(1, (a.kills * (k + 1)) // (a.pg_kills + 1)) for k in range(a.pg_kills)})
        time.sleep(2.0)
        for k in range(1, a.kills + 1):
            self.check_time("kill %d" % k)
            time.sleep(self.rnd.uniform(0.2, 2 * a.gap))
            if self.load.errors:
                raise HarnessError("a client thread failed")
            # Make sure every name is hit at least once in short runs.
            name = names[k - 1] if k <= len(names) else self.rnd.choices(names, [weights[n] for n in names])[0]
            dmn = self.daemons[name]
            dmn.sigkill()
            if k % 10 == 0 or k <= 3:
                log("kill %d/%d: %s (acks api %d smtp %d)" % (k, a.kills, name, len(self.stats.api_acks),
                                                               len(self.stats.smtp_acks)))
            # Sometimes leave it down a little (clients see connection errors / 503 / 451).
            if self.rnd.random() < 0.3:
                time.sleep(self.rnd.uniform(0.1, 1.5))
            self.start_daemon(name)
            while self.pg_kills < len(pg_at) and k >= pg_at[self.pg_kills]:
                self.pg_outage()
        # A little load after the last restart, so the recovered daemons serve acknowledged work.
        acks = len(self.stats.api_acks) + len(self.stats.smtp_acks)
        end = time.monotonic() + 60
        while len(self.stats.api_acks) + len(self.stats.smtp_acks) < acks + 3 and time.monotonic() < end:
            time.sleep(0.5)
        smtp_before = len(self.stats.smtp_acks)
        end = time.monotonic() + 60
        while len(self.stats.smtp_acks) == smtp_before and time.monotonic() < end:
            time.sleep(0.5)
        self.check("erds-smtpd acknowledges again after the last restarts", len(self.stats.smtp_acks) > smtp_before)
        self.load.join()
        for e in self.load.errors:
            self.check("client thread ran to the end", False, e[-1500:])

    # -- after the run -------------------------------------------------------------------------
    def drain(self):
        end = time.monotonic() + self.args.drain_timeout
        q = ("SELECT count(*) FROM jobs WHERE state = 'pending' AND kind <> 'delivery.expire'")
        n = None
        while time.monotonic() < end:
            n = self.pg.scalar(q)
            if n == 0:
                break
            time.sleep(1)
        detail = ""
        if n:
            rows = self.pg.psql("SELECT kind, attempts, run_at, locked_until, coalesce(last_error, '') FROM jobs "
                                "WHERE state = 'pending' AND kind <> 'delivery.expire' ORDER BY id LIMIT 10")
            detail = "%d job(s) still pending after %ds: %s" % (n, self.args.drain_timeout, rows)
        self.check("job queue drains (no pending job but the scheduled expiries)", n == 0, detail)
        dead = self.pg.psql("SELECT kind, attempts, coalesce(last_error, '') FROM jobs WHERE state = 'dead' LIMIT 10")
        self.check("no dead job", not dead, str(dead))
        # The scheduled expiry jobs: exactly one per accepted message.
        bad = self.pg.psql("SELECT m.id, count(j.id) FROM messages m LEFT JOIN jobs j ON j.kind = 'delivery.expire' "
                           "AND j.payload->>'message_id' = m.id::text WHERE m.status = 'accepted' "
                           "GROUP BY m.id HAVING count(j.id) <> 1 LIMIT 10")
        self.check("one pending expiry job per accepted message", not bad, str(bad))

    def verify(self):
        pg = self.pg
        s = self.stats
        # Acknowledged API messages: exist, accepted, one linked part with the client's digest.
        rows = pg.psql("SELECT m.id, m.status, m.consignment_mode, coalesce(m.idempotency_key, ''), m.part_count, "
                       "coalesce(string_agg(encode(p.sha256, 'hex'), ',' ORDER BY p.position), '') "
                       "FROM messages m LEFT JOIN content_parts p ON p.message_id = m.id AND p.state = 'linked' "
                       "GROUP BY m.id")
        db = {r[0]: r for r in rows}
        lost, wrong = [], []
        for key, (mid, digest, mode) in s.api_acks.items():
            r = db.get(mid)
            if r is None:
                lost.append(mid)
            elif r[1] != "accepted" or r[2] != mode or r[3] != key or r[4] != "1" or r[5] != digest:
                wrong.append((mid, r[1:], digest))
        for mid, digest in s.smtp_acks:
            r = db.get(mid)
            if r is None:
                lost.append(mid)
            elif r[1] != "accepted" or r[4] != "1" or r[5] != digest:
                wrong.append((mid, r[1:], digest))
        n_acks = len(s.api_acks) + len(s.smtp_acks)
        self.check("every acknowledged message exists (%d API + %d SMTP)" % (len(s.api_acks), len(s.smtp_acks)),
                   n_acks > 0 and not lost, "lost: %s" % lost[:10] if lost else "no acknowledgement at all")
        self.check("every acknowledged message has the client's content digest", n_acks > 0 and not wrong, str(wrong[:5]))
        doubled = {k: v for k, v in s.api_key_ids.items() if len(v) > 1}
        self.check("a replayed Idempotency-Key (%d replays answered 201) never named two messages" % s.replays,
                   s.replays > 0 and not doubled,
                   str(list(doubled.items())[:5]) if doubled else "no replay was answered")
        keys = pg.psql("SELECT sender_party_id, idempotency_key, count(*) FROM messages WHERE idempotency_key IS NOT NULL "
                       "GROUP BY 1, 2 HAVING count(*) > 1")
        self.check("no message stored twice for one Idempotency-Key", not keys, str(keys))

        # Evidence exactly once.
        dup = pg.psql("SELECT message_id, coalesce(recipient_index, -1), event, count(*) FROM evidence "
                      "GROUP BY 1, 2, 3 HAVING count(*) > 1 LIMIT 10")
        self.check("each evidence exists once per (message, recipient, event)", not dup, str(dup))
        sa = pg.psql("SELECT m.id, m.status, count(e.id) FILTER (WHERE e.event = 'SubmissionAcceptance'), "
                     "count(e.id) FILTER (WHERE e.event = 'SubmissionRejection') FROM messages m "
                     "LEFT JOIN evidence e ON e.message_id = m.id AND e.recipient_index IS NULL GROUP BY m.id")
        bad = [r for r in sa if (r[1] == "accepted" and (r[2], r[3]) != ("1", "0")) or
               (r[1] == "rejected" and (r[2], r[3]) != ("0", "1"))]
        self.check("every message has exactly one SubmissionAcceptance (accepted) or SubmissionRejection (rejected)",
                   len(sa) > 0 and not bad, str(bad[:10]))

        # Half-written messages / content.
        nodel = pg.psql("SELECT m.id FROM messages m WHERE m.status = 'accepted' AND NOT EXISTS "
                        "(SELECT 1 FROM deliveries d WHERE d.message_id = m.id) LIMIT 10")
        self.check("every accepted message has its deliveries", not nodel, str(nodel))
        parts = pg.psql("SELECT m.id FROM messages m WHERE m.status = 'accepted' AND m.part_count <> "
                        "(SELECT count(*) FROM content_parts p WHERE p.message_id = m.id AND p.state = 'linked') LIMIT 10")
        self.check("every accepted message has all its parts linked", not parts, str(parts))
        chunks = pg.psql("SELECT p.id, p.chunk_count, count(c.*), count(c.*) FILTER (WHERE c.final), "
                         "max(c.chunk_index) FROM content_parts p LEFT JOIN content_chunks c ON c.part_id = p.id "
                         "WHERE p.state = 'linked' GROUP BY p.id, p.chunk_count HAVING count(c.*) <> p.chunk_count "
                         "OR count(c.*) FILTER (WHERE c.final) <> 1 OR max(c.chunk_index) <> p.chunk_count - 1 LIMIT 10")
        self.check("every linked part has all its chunks and one final chunk", not chunks, str(chunks))
        orphans = pg.psql("SELECT p.id FROM content_parts p WHERE p.state = 'linked' AND NOT EXISTS "
                          "(SELECT 1 FROM messages m WHERE m.id = p.message_id) LIMIT 10")
        self.check("no linked part without its message", not orphans, str(orphans))

        # Lifecycle: per delivery, the evidence its state needs, and no evidence ahead of its state.
        dels = pg.psql("SELECT d.message_id, d.recipient_index, d.state, d.last_event, m.consignment_mode, "
                       "coalesce(string_agg(e.event, ','), '') FROM deliveries d JOIN messages m ON m.id = d.message_id "
                       "LEFT JOIN evidence e ON e.message_id = d.message_id AND e.recipient_index = d.recipient_index "
                       "GROUP BY 1, 2, 3, 4, 5")
        skipped, ahead, stuck, unknown = [], [], [], []
        states = Counter()
        for mid, idx, state, last, mode, evs in dels:
            have = set(e for e in evs.split(",") if e)
            states["%s/%s" % (mode, state)] += 1
            if state == "submitted":
                stuck.append((mid, idx, mode))
                continue
            req = STATE_REQUIRES.get((mode, state))
            if req is None:
                unknown.append((mid, idx, mode, state))
                continue
            for need in req:
                if not any(alt in have for alt in need.split("|")):
                    skipped.append((mid, idx, mode, state, "missing " + need))
            for ev in have:
                for need in IMPLIES[mode].get(ev, []):
                    if need not in have:
                        skipped.append((mid, idx, mode, state, "%s without %s" % (ev, need)))
                if TERMINAL_BY_EVENT.get(ev) and TERMINAL_BY_EVENT[ev] != state:
                    ahead.append((mid, idx, state, ev))
            if last not in have:
                ahead.append((mid, idx, state, "last_event %s has no evidence" % last))
        log("delivery states: %s" % dict(states))
        self.check("deliveries checked against the lifecycle (%d)" % len(dels), len(dels) >= n_acks > 0)
        self.check("no lifecycle step skipped", not skipped, str(skipped[:10]))
        self.check("no delivery state behind or beside its evidence (half-written)", not ahead, str(ahead[:10]))
        self.check("no delivery left in 'submitted' after the drain", not stuck, str(stuck[:10]))
        self.check("no delivery in a state the harness does not expect", not unknown, str(unknown[:10]))
        # Each transition audited once, in the same transaction as its evidence.
        ev_audit = pg.psql("SELECT e.id, e.event, count(a.id) FROM evidence e LEFT JOIN audit_log a "
                           "ON a.action = 'delivery.' || e.event AND a.object = 'message:' || e.message_id "
                           "AND a.details->>'evidence_id' = e.id WHERE e.recipient_index IS NOT NULL "
                           "GROUP BY e.id, e.event HAVING count(a.id) <> 1 LIMIT 10")
        self.check("every recipient evidence has exactly one delivery.<event> audit row", not ev_audit, str(ev_audit))
        orphan_audit = pg.psql("SELECT a.id, a.action, a.object FROM audit_log a WHERE a.action LIKE 'delivery.%' "
                               "AND a.details ? 'evidence_id' AND NOT EXISTS "
                               "(SELECT 1 FROM evidence e WHERE e.id = a.details->>'evidence_id') LIMIT 10")
        self.check("no delivery.<event> audit row without its evidence", not orphan_audit, str(orphan_audit))
        sub_audit = pg.psql("SELECT m.id, count(a.id) FROM messages m LEFT JOIN audit_log a ON "
                            "a.action = 'message.submitted' AND a.object = 'message:' || m.id "
                            "WHERE m.status = 'accepted' GROUP BY m.id HAVING count(a.id) <> 1 LIMIT 10")
        self.check("every accepted message has exactly one message.submitted audit row", not sub_audit, str(sub_audit))
        # Recipient-side acknowledgements.
        acc = set((r[0], int(r[1])) for r in pg.psql(
            "SELECT message_id, recipient_index FROM evidence WHERE event = 'ConsignmentAcceptance'"))
        missing = [a for a in s.accepts if a not in acc]
        self.check("every acknowledged accept (%d) has its ConsignmentAcceptance" % len(s.accepts),
                   len(s.accepts) > 0 and not missing, str(missing[:10]) if missing else "no accept was acknowledged")
        acc_msgs = set(m for m, _ in acc)
        wrong409 = [m for m in s.accept_conflicts if m not in acc_msgs]
        self.check("every accept answered 409 (%d) had been accepted before" % len(s.accept_conflicts),
                   not wrong409, str(wrong409[:10]))
        ho = set(r[0] for r in pg.psql("SELECT message_id FROM evidence WHERE event = 'ContentHandover'"))
        missing = [m for m in s.downloads if m not in ho]
        self.check("every completed download (%d) has its ContentHandover" % len(s.downloads),
                   len(s.downloads) > 0 and not missing, str(missing[:10]) if missing else "no download completed")

        # Client-visible answers.
        self.check("clients never got an unexpected answer (5xx other than 503, wrong content, 4xx)",
                   not s.unexpected, "; ".join(s.unexpected[:10]))
        out = s.outage_statuses
        # What a client may see while PostgreSQL is down: 503 (API), 451 / 421 (SMTP), 454 to AUTH
        # (RFC 4954 "temporary authentication failure": the account store is unreachable), or a
        # connection error; successes of work committed just before the kill are fine.
        # A retried request (same Idempotency-Key) is answered like any other: 503 while the database
        # is down, 201 if its first attempt had committed.
        temporary = ("api 503", "api 503 (replay)", "api conn-error", "smtp 451", "smtp 421", "smtp conn-error",
                     "smtp auth 454", "smtp auth 421", "smtp mail 451", "smtp rcpt 451", "smtp mail 421", "smtp rcpt 421")
        felt = sum(v for k, v in out.items() if k in temporary)
        bad_out = {k: v for k, v in out.items()
                   if k not in temporary + ("api 201", "api 201 (replay)", "smtp 250", "api 200", "api 409")}
        self.check("clients felt the PostgreSQL outage as 503 / 451 / 421 / 454 (AUTH) / connection errors",
                   self.pg_kills == 0 or felt > 0, "answers during the outage: %s" % dict(out))
        self.check("no other answer during the PostgreSQL outage", not bad_out, str(bad_out))

        # The audit trail.
        r = subprocess.run([self.bins["erdsctl"], "audit", "verify", "--config", self.ctl_conf, "--trust", self.cafile],
                           capture_output=True, text=True, env=clean_env())
        self.check("erdsctl audit verify passes", r.returncode == 0, (r.stdout + r.stderr)[-2000:])

    def self_test(self):
        """Proves the checks can fail: tampers with the database as the superuser (a part's digest, a
        ContentConsignment evidence, a chunk) and expects the matching checks to report it."""
        pg = self.pg
        mid = next(iter(self.stats.api_acks.values()))[0]
        pg.psql("UPDATE content_parts SET sha256 = sha256('tampered'::bytea) WHERE message_id = '%s' "
                "AND state = 'linked'" % mid)
        gone = pg.psql("DELETE FROM evidence WHERE id = (SELECT e.id FROM evidence e JOIN deliveries d ON "
                       "d.message_id = e.message_id AND d.recipient_index = e.recipient_index WHERE "
                       "e.event = 'ContentConsignment' AND d.state = 'handed_over' LIMIT 1) RETURNING id")
        chunk = pg.psql("DELETE FROM content_chunks WHERE (part_id, chunk_index) = (SELECT c.part_id, c.chunk_index "
                        "FROM content_chunks c JOIN content_parts p ON p.id = c.part_id WHERE p.state = 'linked' "
                        "AND c.final LIMIT 1) RETURNING part_id")
        real, self.checks = self.checks, []
        self.in_self_test = True
        log("self-test: tampered with message %s, evidence %s, a final chunk of part %s; the checks below must detect it"
            % (mid, gone, chunk))
        try:
            self.verify()
        finally:
            failed, self.checks = set(n for n, ok, _ in self.checks if not ok), real
            self.in_self_test = False
        expected = {"every acknowledged message has the client's content digest", "no lifecycle step skipped",
                    "every linked part has all its chunks and one final chunk",
                    "no delivery.<event> audit row without its evidence"}
        self.check("self-test: the checks detect a changed digest, a deleted evidence and a deleted chunk",
                   bool(gone) and bool(chunk) and expected <= failed,
                   "tampered: evidence %s, chunk %s; checks that failed: %s" % (gone, chunk, sorted(failed)))

    def sanitizer_reports(self):
        if not any(d.starts for d in self.daemons.values()):
            return
        found = []
        for name, d in self.daemons.items():
            t = d.log_text()
            for pat in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if pat in t:
                    i = t.index(pat)
                    found.append("%s: %s" % (name, t[i:i + 400]))
        self.check("no sanitizer report in any daemon log", not found, "\n".join(found))

    def teardown(self, graceful):
        for name in ("erds-smtpd", "erdsd", "erds-signer"):
            d = self.daemons.get(name)
            if d is None:
                continue
            if graceful and d.alive():
                rc = d.stop()
                self.check("%s stops cleanly on SIGTERM (exit 0)" % name, rc == 0, "exit status %s" % rc)
            d.force_kill()
        if self.sink:
            self.sink.shutdown()
            self.sink.server_close()
            self.sink = None
        if self.pg and self.pg.running:
            try:
                self.pg.stop("immediate")
            except HarnessError as e:
                log(str(e))
        self.pg = None

    def summary(self):
        s = self.stats
        print("==== crash harness summary (seed %d) ====" % self.seed)
        print("kills: " + ", ".join("%s %d" % (n, d.kills) for n, d in self.daemons.items()) +
              ", postgresql %d" % self.pg_kills)
        print("acks: API 201 %d (+%d replays), SMTP 250 %d, accepts %d, downloads verified %d, not acknowledged %d"
              % (len(s.api_acks), s.replays, len(s.smtp_acks), len(s.accepts), len(s.downloads), s.gave_up))
        print("answers: " + ", ".join("%s=%d" % kv for kv in sorted(s.statuses.items())))
        print("answers during PostgreSQL outages: " + ", ".join("%s=%d" % kv for kv in sorted(s.outage_statuses.items())))
        print("first connection errors: " + "; ".join(s.conn_samples[:8]))
        fails = [c for c in self.checks if not c[1]]
        print("checks: %d passed, %d failed" % (len(self.checks) - len(fails), len(fails)))
        for name, ok, detail in self.checks:
            print("  %s %s%s" % ("ok  " if ok else "FAIL", name, ("\n       " + detail) if (not ok and detail) else ""))
        return not fails and len(self.checks) > 0


def env_int(name, default):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    if not v.isdigit():
        sys.stderr.write("crash_harness: %s must be a non-negative integer (got %r)\n" % (name, v))
        sys.exit(2)
    return int(v)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", required=True, help="build tree holding erdsd, erdsctl, erds-signer, erds-smtpd")
    p.add_argument("--kills", type=int, default=env_int("ERDS_CRASH_KILLS", 50),
                   help="daemon SIGKILLs (default ERDS_CRASH_KILLS or 50; long mode >= 1000)")
    p.add_argument("--pg-kills", type=int, default=env_int("ERDS_CRASH_PG_KILLS", 1),
                   help="PostgreSQL kills (pg_ctl stop -m immediate; default 1)")
    p.add_argument("--pg-down-seconds", type=float, default=4.0)
    p.add_argument("--gap", type=float, default=1.0, help="mean pause between restarts and the next kill (s)")
    p.add_argument("--asan", action="store_true", help="sanitizer build: lighter load, longer start-up timeouts")
    p.add_argument("--api-threads", type=int, default=0)
    p.add_argument("--smtp-threads", type=int, default=0)
    p.add_argument("--pace", type=float, default=None, help="pause between a client's requests (s)")
    p.add_argument("--seed", type=int, default=env_int("ERDS_CRASH_SEED", None) if os.environ.get("ERDS_CRASH_SEED") else None)
    p.add_argument("--start-timeout", type=int, default=0)
    p.add_argument("--drain-timeout", type=int, default=300)
    p.add_argument("--max-seconds", type=int, default=0,
                   help="internal deadline; default scales with --kills (keep it below the ctest TIMEOUT)")
    p.add_argument("--no-self-test", action="store_true",
                   help="skip the final tampering self-test (which proves the checks can fail)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, configs) for inspection")
    args = p.parse_args()
    if args.kills < 1 or args.pg_kills < 0:
        p.error("--kills must be >= 1 and --pg-kills >= 0")
    if not args.start_timeout:
        args.start_timeout = 120 if args.asan else 60
    if not args.max_seconds:
        args.max_seconds = 600 + args.kills * (10 if args.asan else 5)

    h = Harness(args)
    done = {"v": False}

    def cleanup():
        if done["v"]:
            return
        done["v"] = True
        h.teardown(graceful=False)

    def abort():
        # Signal or deadline: stop everything, keep the logs, drop the cluster's data, exit 1.
        cleanup()
        if h.tmp and os.path.isdir(h.tmp):
            shutil.rmtree(os.path.join(h.tmp, "pg", "data"), ignore_errors=True)
            log("work dir kept for inspection: %s" % h.tmp)
        os._exit(1)

    atexit.register(cleanup)

    def on_signal(sig, _frame):
        log("signal %d: cleaning up" % sig)
        abort()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    def watchdog():
        # The internal deadline: whatever hangs, clean up and fail before the ctest TIMEOUT.
        time.sleep(args.max_seconds)
        log("internal deadline (--max-seconds %d) reached: cleaning up and failing" % args.max_seconds)
        try:
            h.summary()
        except Exception:
            pass
        abort()

    threading.Thread(target=watchdog, daemon=True).start()
    ok = False
    t0 = time.monotonic()
    try:
        h.setup()
        h.run()
        h.drain()
        h.verify()
        h.check("erdsd /readyz is 200 at the end", h.readyz(30))
        if not args.no_self_test:
            h.self_test()
        h.teardown(graceful=True)
        h.sanitizer_reports()
        done["v"] = True
        ok = h.summary()
    except Exception as e:  # any harness error is a failure, never a skip
        log("HARNESS ERROR: %s\n%s" % (e, traceback.format_exc()))
        try:
            if h.load:
                h.load.stop.set()
            cleanup()
            h.sanitizer_reports()
            h.summary()
        except Exception:
            log(traceback.format_exc())
        ok = False
    finally:
        cleanup()
        if h.tmp and os.path.isdir(h.tmp):
            if not ok and not args.keep:
                shutil.rmtree(os.path.join(h.tmp, "pg", "data"), ignore_errors=True)
            if args.keep or not ok:
                log("work dir kept for inspection: %s (logs in log/, PostgreSQL log in pg/server.log)" % h.tmp)
            else:
                shutil.rmtree(h.tmp, ignore_errors=True)
    log("%s in %.0f s" % ("PASSED" if ok else "FAILED", time.monotonic() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
