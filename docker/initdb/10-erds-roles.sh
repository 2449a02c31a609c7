#!/bin/sh
# Runs once, when the postgres container initialises an empty volume: the same roles and database
# as scripts/pg.sh creates for ./erds up (owner for migrations, erds_app for the daemons).
set -eu
owner_pw=$(cat /run/secrets/db_owner_password)
app_pw=$(cat /run/secrets/db_app_password)
psql -v ON_ERROR_STOP=1 -X -q --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE erds_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$owner_pw';
CREATE ROLE erds_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$app_pw';
CREATE DATABASE erds OWNER erds_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE erds FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE erds TO erds_owner, erds_app;
SQL
