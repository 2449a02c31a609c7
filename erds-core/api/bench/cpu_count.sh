#!/bin/sh
# CPU time and database round trips per submission, to compare builds on a loaded machine where
# wall-clock rates are not meaningful. Runs erds_submit_bench (all arguments are passed to it) and
# prints: acknowledged submissions, CPU ms per submission of erdsd, of PostgreSQL (every process
# of the cluster in $W/pg) and of the load client, and the statements / commits the database saw
# per submission (pg_stat_statements, which bench_env.sh enables; includes the lifecycle workers'
# statements for the messages, listed separately below the totals).
# Usage: W=/tmp/erds-bench ERDSD_PID=$(cat $W/erdsd.pid) BENCH=build-rel/erds_submit_bench sh cpu_count.sh --port P --ca CA --threads 16 --seconds 20
set -eu
: "${W:?W=bench dir}" "${BENCH:?BENCH=path of erds_submit_bench}"
PSQL="psql -h $W/pg -U postgres -d erds -tAq"
ERDSD=${ERDSD_PID:?ERDSD_PID=pid of the erdsd under test}
POSTMASTER=$(head -n 1 $W/pg/data/postmaster.pid)
ticks() {  # utime+stime of the given pids, in clock ticks
  for p in "$@"; do awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || true; done | awk '{s += $1} END {print s + 0}'
}
pgpids() { echo $POSTMASTER; ps -o pid= --ppid $POSTMASTER; }
HZ=$(getconf CLK_TCK)
$PSQL -c "SELECT pg_stat_statements_reset()" >/dev/null
C0=$($PSQL -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'erds'")
M0=$($PSQL -c "SELECT count(*) FROM messages")
E0=$(ticks $ERDSD); P0=$(ticks $(pgpids))
OUT=$(/usr/bin/time -f 'client_cpu_s %U %S' "$BENCH" "$@" 2>&1) || true
E1=$(ticks $ERDSD); P1=$(ticks $(pgpids))
echo "$OUT"
M1=$($PSQL -c "SELECT count(*) FROM messages")
C1=$($PSQL -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'erds'")
N=$((M1 - M0))
CL=$(echo "$OUT" | awk '/client_cpu_s/ {print $2 + $3}')
awk -v n=$N -v e=$((E1 - E0)) -v p=$((P1 - P0)) -v hz=$HZ -v cl="$CL" -v c=$((C1 - C0)) 'BEGIN {
  printf "messages stored: %d\n", n
  if (n == 0) exit
  printf "CPU ms per submission: erdsd %.3f, postgres %.3f, client %.3f, total %.3f (=> %.0f submissions/s on 2 idle cores)\n",
    1000 * e / hz / n, 1000 * p / hz / n, 1000 * cl / n, 1000 * (e / hz + p / hz + cl) / n, 2 * n / (e / hz + p / hz + cl)
  printf "commits per submission: %.2f\n", c / n
}'
echo "statements per submission (calls / messages), most frequent first:"
$PSQL -c "SELECT round(calls::numeric / greatest($N, 1), 2) || E'\t' || left(regexp_replace(query, '\s+', ' ', 'g'), 110)
          FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'erds')
          ORDER BY calls DESC LIMIT 40"
$PSQL -c "SELECT 'total: ' || round(sum(calls)::numeric / greatest($N, 1), 2) FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'erds')"
