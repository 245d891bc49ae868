#!/usr/bin/env bash
# `make bench`: installs the load generator and PgBouncer when missing (apt-get, as root, like .ci/run), then
# runs bench/run.py against a throwaway PostgreSQL tuned for a benchmark. `IMPORT=1` runs the console's people
# import instead (bench/import_people.py, IMPORT_ROWS people, default 100 000) on the same PostgreSQL.
#
# The cluster keeps production's durability (fsync, synchronous_commit and full_page_writes on), so every
# write path pays for its commit as it would in production; only bin/with-postgres's test cluster turns them
# off. Memory is sized for a dedicated 24 GiB node: shared_buffers 2 GB, effective_cache_size 8 GB.
set -euo pipefail
cd "$(dirname "$0")/.."

# STALLED=1: the stalled-provider figure instead (bench/stalled.py); it needs neither wrk nor PgBouncer.
stalled=0
case "${STALLED:-}" in "" | 0) ;; *) stalled=1 ;; esac

need=()
[ "$stalled" = 1 ] || [ "${IMPORT:-}" = 1 ] || command -v wrk >/dev/null || need+=(wrk)
[ "$stalled" = 1 ] || [ "${IMPORT:-}" = 1 ] || { command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ]; } || need+=(pgbouncer)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench: needs ${need[*]}: run as root, or: sudo apt-get install -y ${need[*]}" >&2
    exit 2
  fi
  echo "bench: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "$stalled" = 0 ] && [ "${SCALE:-50k}" = 1m ]; then
  free_gb=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR == 2 {print int($4 / 1048576)}')
  if [ "$free_gb" -lt 10 ]; then
    echo "bench: SCALE=1m needs about 8 GB in ${TMPDIR:-/tmp}; ${free_gb} GB free" >&2
    exit 2
  fi
fi

export WITH_POSTGRES_OPTIONS="-c fsync=on -c synchronous_commit=on -c full_page_writes=on \
-c shared_buffers=2GB -c effective_cache_size=8GB -c work_mem=16MB -c maintenance_work_mem=1GB \
-c wal_buffers=64MB -c max_wal_size=16GB -c checkpoint_timeout=30min -c random_page_cost=1.1"
if [ "$stalled" = 1 ]; then
  exec bin/with-postgres .venv/bin/python -m bench.stalled "$@"
fi
if [ "${IMPORT:-}" = 1 ]; then
  exec bin/with-postgres .venv/bin/python -m bench.import_people --rows "${IMPORT_ROWS:-100000}"
fi
exec bin/with-postgres .venv/bin/python -m bench.run "$@"
