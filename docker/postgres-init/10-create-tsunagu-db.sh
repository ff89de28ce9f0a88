#!/usr/bin/env bash
# Creates the tsunagu warehouse database next to Airflow's metadata database.
#
# The postgres image runs /docker-entrypoint-initdb.d/* only when the data volume
# is empty (first start). On an existing volume create it by hand, e.g.:
#   docker compose exec postgres createdb -U airflow -E UTF8 -T template0 tsunagu
set -euo pipefail

db="${TSUNAGU_DB_NAME:-tsunagu}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     --set=db="$db" --set=owner="$POSTGRES_USER" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'db', :'owner', 'UTF8')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SQL
echo "tsunagu: warehouse database \"$db\" is ready"
