#!/bin/sh
# Run init.sql inside the official postgres image on first start. The image runs
# this from /docker-entrypoint-initdb.d as the postgres user, after creating the
# database named by POSTGRES_DB; the role passwords come from mounted secret files.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$(cat /run/secrets/db_app_password)" \
  -v monitor_password="$(cat /run/secrets/db_monitor_password)" \
  -f /promlab/init.sql
