#!/usr/bin/env bash
# Install and start a local PostgreSQL for the PostgreSQL test run (loopback only).
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib
fi
version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
    pg_createcluster "$version" main
fi
pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -q && break
    sleep 1
done
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='callrobot'\" | grep -q 1 \
    || psql -q -c \"CREATE ROLE callrobot LOGIN PASSWORD 'callrobot' CREATEDB\""
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='callrobot_test'\" | grep -q 1 \
    || createdb -O callrobot callrobot_test"
