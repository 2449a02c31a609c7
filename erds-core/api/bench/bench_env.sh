#!/bin/sh
# Durable private PostgreSQL + PKI + erdsd (signer inprocess, builtin TSU) for the benchmarks.
set -eu
B=${B:-/work/main/build-api2}   # the build dir holding erdsctl (Release for benchmarks)
W=${W:-$(mktemp -d /tmp/erds-bench.XXXXXX)}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
mkdir -p $W/pg; chown postgres:postgres $W/pg; chmod 755 $W
AS="runuser -u postgres --"
$AS $PGBIN/initdb -D $W/pg/data -U postgres -A trust -E UTF8 --locale=C.UTF-8 >$W/initdb.log 2>&1
$AS $PGBIN/pg_ctl -D $W/pg/data -l $W/pg/server.log -w -t 30 -o "-k $W/pg -c listen_addresses='' -c max_connections=100 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" start >/dev/null
psql -h $W/pg -U postgres -d postgres -q -c "CREATE ROLE erds_owner LOGIN PASSWORD 'ownerpw'" -c "CREATE ROLE erds_app LOGIN PASSWORD 'apppw'" -c "CREATE DATABASE erds OWNER erds_owner"
psql -h $W/pg -U postgres -d postgres -tAc "SHOW synchronous_commit; SHOW fsync" 
$B/erdsctl pki init --dir $W/pki >/dev/null
printf 'apppw' > $W/app.pw; printf 'ownerpw' > $W/owner.pw; printf '%064d' 7 > $W/kek; chmod 600 $W/*.pw $W/kek
cat > $W/erds.ini <<INI
[service]
mode = development
demo_accounts = true
[log]
level = warn
[http]
address = 127.0.0.1
port = 0
max_body_bytes = 512MiB
# One demo account drives the whole load: lift the per-account limit (default 1000/s).
rate_per_account_per_second = 0
tls_certificate = $W/pki/tls.pem
tls_key = $W/pki/tls.key
[database]
conninfo = host=$W/pg dbname=erds user=erds_app
password_file = $W/app.pw
owner_conninfo = host=$W/pg dbname=erds user=erds_owner
owner_password_file = $W/owner.pw
pool_size = 16
[secrets]
kek_file = $W/kek
[signer]
mode = inprocess
key_dir = $W/pki
[tsa]
require_synced_clock = false
[identity]
argon2_t_cost = 1
argon2_m_cost_kib = 8192
INI
$B/erdsctl db migrate --config $W/erds.ini
# Statement counts per submission (see rt_count.sh).
psql -h $W/pg -U postgres -d erds -q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
echo "W=$W"
