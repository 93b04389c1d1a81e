#!/usr/bin/env bash
# docker compose only: the official postgres image runs this once, when it initialises an
# empty data directory. It creates what the native platform's ensure_database() creates:
# role `hive` (password LAKEHOUSE_METASTORE_DB_PASSWORD) owning database `metastore`, where
# the metastore's schema tool then creates its tables.
#
# The password is read by psql from the environment (\getenv) and quoted by psql (:'pw'):
# never spliced into SQL, never on a command line.
# Changing it in .env later does not change the role: that needs ALTER ROLE (or a fresh volume).
set -e
: "${LAKEHOUSE_METASTORE_DB_PASSWORD:?must be set for the postgres service}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv pw LAKEHOUSE_METASTORE_DB_PASSWORD
CREATE ROLE hive LOGIN PASSWORD :'pw';
CREATE DATABASE metastore OWNER hive;
SQL
