#!/usr/bin/env bash
# Starts PostgreSQL and Redis on this machine where they are not already running.
# Services elsewhere (DATABASE_URL or REDIS_URL naming another host) are left alone.
set -euo pipefail

db_url=${DATABASE_URL:-postgis://postgres@127.0.0.1:5432/streetsafe}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379/0}

is_local() { [[ "$1" =~ @(127\.0\.0\.1|localhost)[:/] || "$1" =~ ://(127\.0\.0\.1|localhost)[:/] ]]; }

if is_local "$db_url" && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "Starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -n | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

if is_local "$db_url" && ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  # A fresh Debian cluster asks for a password on TCP; the local default has none.
  version=$(ls /etc/postgresql | sort -n | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  echo "Allowing local TCP connections for user postgres without a password in $hba"
  sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi

if is_local "$redis_url" && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/streetsafe.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
