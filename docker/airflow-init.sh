#!/bin/bash
# One-shot init of the stack: migrate the metadata database and set the admin password.
# The password comes from AIRFLOW_ADMIN_PASSWORD (.env) or is generated and printed once.
set -euo pipefail

# A stack started from a copied .env.example must not run with guessable secrets: refuse empty ones,
# the example's old placeholders and anything short, before the database is touched.
refuse_weak_secret() {  # name value
    local name=$1 value=$2 reason=
    case "$value" in
        "") reason="is empty" ;;
        change-me | change-me-too) reason="is the example's placeholder" ;;
        *) if [ "${#value}" -lt 16 ]; then reason="is shorter than 16 characters"; fi ;;
    esac
    if [ -n "$reason" ]; then
        echo "airflow-init: $name $reason: run 'make env' to write .env with generated secrets" \
            "(or set a random string of 16+ characters, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))')." >&2
        exit 2
    fi
}
# The database password reaches this container only inside the connection URL (airflow:<password>@host).
credentials=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}
credentials=${credentials#*://}
credentials=${credentials%@*}
refuse_weak_secret POSTGRES_PASSWORD "${credentials#*:}"
refuse_weak_secret AIRFLOW_JWT_SECRET "${AIRFLOW__API_AUTH__JWT_SECRET:-}"

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
