#!/bin/sh
# First start of the postgres container (docker-entrypoint-initdb.d): the two roles of the EDC.
#   edc_owner  owns the database and every table; runs `migrate` (and backups)
#   edc_app    the runtime role of web, worker and beat: no superuser, owns nothing; its table
#              rights are granted by `migrate` (audit/dbroles.py): SELECT/INSERT only on audit tables
# The superuser ($POSTGRES_USER) is used for nothing else.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v owner_pw="$EDC_OWNER_DB_PASSWORD" -v app_pw="$EDC_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE edc_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'owner_pw';
CREATE ROLE edc_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'app_pw';
GRANT edc_app TO edc_owner;
CREATE DATABASE edc OWNER edc_owner;
SQL
