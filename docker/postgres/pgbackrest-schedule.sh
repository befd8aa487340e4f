#!/bin/sh
# Base backups for point-in-time recovery: a full backup on Sundays, a differential every other
# day, at PGBACKREST_HOUR_UTC (default 01). WAL between them is archived by PostgreSQL itself.
set -eu
until pg_isready -q -h /var/run/postgresql -U postgres -d edc; do sleep 2; done
pgbackrest --stanza=edc stanza-create
pgbackrest --stanza=edc check
if ! pgbackrest --stanza=edc info --output=json | grep -q '"label"'; then
  pgbackrest --stanza=edc --type=full backup   # the first base backup: PITR starts here
fi
hour="${PGBACKREST_HOUR_UTC:-01}"
while true; do
  now=$(date -u +%s)
  next=$(date -u -d "$(date -u +%F) ${hour}:00" +%s)
  [ "$next" -le "$now" ] && next=$((next + 86400))
  sleep $((next - now))
  if [ "$(date -u +%u)" = "7" ]; then type=full; else type=diff; fi
  pgbackrest --stanza=edc --type="$type" backup || echo "pgbackrest $type backup FAILED" >&2
  pgbackrest --stanza=edc expire || true
done
