#!/bin/bash
# Initialise the cluster once, then run PostgreSQL in the foreground (as the official image does).
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    pwfile=$(mktemp)
    echo "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > "$pwfile"
    "$bin/initdb" --no-sync -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "listen_addresses = '${POSTGRES_LISTEN:-*}'" >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    "$bin/pg_ctl" -D "$PGDATA" -w start -o "-c listen_addresses=''" >/dev/null
    database=${POSTGRES_DB:-${POSTGRES_USER:-postgres}}
    if [ "$database" != postgres ]; then
        psql -U "${POSTGRES_USER:-postgres}" -d postgres -c "CREATE DATABASE \"$database\"" >/dev/null
    fi
    "$bin/pg_ctl" -D "$PGDATA" -w stop >/dev/null
fi
# CI only: durability is not worth the time of a throw-away database.
exec "$bin/postgres" -D "$PGDATA" -c fsync=off -c synchronous_commit=off
