#!/bin/bash
# One-shot init of the stack: migrate the metadata database and set the admin password.
# The password comes from AIRFLOW_ADMIN_PASSWORD (.env) or is generated and printed once.
set -euo pipefail
# The database may still be starting; a wrong password or host fails here with the reason.
if ! airflow db check --retry 20 --retry-delay 3; then
    echo "airflow-init: cannot use the metadata database (${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN##*@})." \
        "Is another PostgreSQL listening on that port (set STT_DB_PORT)? Does POSTGRES_PASSWORD in .env" \
        "match the one the postgres-db volume was created with ('docker-compose down -v' starts afresh)?" >&2
    exit 1
fi
airflow db migrate
file=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?the passwords file must be configured}
mkdir -p "$(dirname "$file")"
if [ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]; then
    if [ "$AIRFLOW_ADMIN_PASSWORD" = "admin" ]; then
        echo "AIRFLOW_ADMIN_PASSWORD=admin is refused: choose another password in .env" >&2
        exit 2
    fi
    password=$AIRFLOW_ADMIN_PASSWORD
elif [ -s "$file" ]; then
    echo "admin password already set (in $file)"
    exit 0
else
    password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
    echo "Generated Airflow admin password (shown once, user admin): $password"
fi
umask 077
python3 -c 'import json, sys; print(json.dumps({"admin": sys.argv[1]}))' "$password" > "$file"
