#!/bin/sh
# Inbound MX benchmark with Postfix's smtp-source (20 sessions, 5 KiB messages) against erds-smtpd's
# MX listener, and against Postfix's smtp-sink (stores nothing) as the ceiling. Postfix is fetched
# at run time with `apt-get download` and unpacked under a temp dir; it is never committed.
#   usage: smtp-gateway/bench/mx_bench.sh MX_PORT [MESSAGES] [RCPT]
# MX_PORT: a running erds-smtpd's smtp.mx_port (with smtp.mx_rate_per_minute above N, or the rate
# limit answers 451); RCPT: an address of our domains. Every accepted message is stored with sealed
# ReceivedFromNonERDS evidence before its 250. With PSQL_CONNINFO set, the stored count is checked.
# MX_SESSIONS: smtp-source sessions (default 20, the issue's figure); MX_SOURCE_OPTS: more smtp-source
# options (e.g. -d: several messages per connection).
set -eu
MX_PORT=${1:?usage: mx_bench.sh MX_PORT [MESSAGES] [RCPT]}
N=${2:-2000}
RCPT=${3:-recipient@example.test}
WORK=$(mktemp -d /tmp/erds-mxbench.XXXXXX)
trap 'kill $SINK_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
SINK_PID=
(cd "$WORK" && apt-get download postfix >/dev/null && dpkg -x postfix_*.deb root)
SRC="$WORK/root/usr/sbin/smtp-source"
SINK="$WORK/root/usr/sbin/smtp-sink"
SINK_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export LD_LIBRARY_PATH="$WORK/root/usr/lib/postfix${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
AS_USER=; [ "$(id -u)" = 0 ] && AS_USER="-u nobody"
# shellcheck disable=SC2086
"$SINK" $AS_USER -c 127.0.0.1:"$SINK_PORT" 256 >/dev/null 2>&1 & SINK_PID=$!
sleep 0.5
run() {
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$SRC" ${MX_SOURCE_OPTS:-} -s "${MX_SESSIONS:-20}" -l 5120 -m "$N" -f outside@elsewhere.test -t "$RCPT" 127.0.0.1:"$1"
  end=$(date +%s.%N)
  echo "$2: $N messages in $(echo "$end - $start" | bc) s = $(echo "$N / ($end - $start)" | bc) msg/s"
}
run "$SINK_PORT" "smtp-sink (ceiling)"
count() {
  if [ -n "${PSQL_CONNINFO:-}" ]; then psql "$PSQL_CONNINFO" -Atc "SELECT count(*) FROM evidence WHERE event = 'ReceivedFromNonERDS'"; else echo 0; fi
}
BEFORE=$(count)
run "$MX_PORT" "erds-smtpd MX"
if [ -n "${PSQL_CONNINFO:-}" ]; then echo "stored with ReceivedFromNonERDS evidence: $(( $(count) - BEFORE )) of $N"; fi
