#!/usr/bin/env bash
# Load-and-fault test of shared deployments (docs/deploy.md): N workers on one PostgreSQL store
# ingest a synthetic cohort while a driver kills a random worker with SIGKILL every few seconds
# (and restarts it, as Slurm or Kubernetes would), and once drops another worker's connection
# with pg_terminate_backend. At the end the store's samples, records and rejections (JSON) must
# equal, byte for byte, those of a single-process run on an SQLite store over the same inputs.
# Then the same cohort is ingested without faults by 1, 2 and 4 workers, each into a fresh
# database, and the throughput is printed.
#
# Needs: CYTOINGEST_TEST_POSTGRES_URL (a role that may create databases; its password in
# PGPASSWORD or ~/.pgpass), psql, and a cytoingest built with the PostgreSQL trait in BIN.
# Environment: FILES (default 1000), EVENTS per file (3000), WORKERS (4), LEASE seconds (5),
# KILL_EVERY: seconds between kills, drawn from 1..KILL_EVERY (default 3), SEED (18).
set -euo pipefail

BIN=${BIN:?set BIN to a cytoingest built with --traits PostgreSQL}
ADMIN_URL=${CYTOINGEST_TEST_POSTGRES_URL:?set CYTOINGEST_TEST_POSTGRES_URL}
FILES=${FILES:-1000}
EVENTS=${EVENTS:-3000}
WORKERS=${WORKERS:-4}
LEASE=${LEASE:-5}
KILL_EVERY=${KILL_EVERY:-3}
SEED=${SEED:-18}
DEADLINE=${DEADLINE:-900}
here=$(cd "$(dirname "$0")/../.." && pwd)

work=$(mktemp -d /tmp/cytoingest-load.XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
months=10
patients=$(((FILES + months - 1) / months))

echo "== cohort: $patients patients x $months months = $((patients * months)) FCS files of $EVENTS events (seed $SEED)"
"$BIN" synth "$work/cohort" --seed "$SEED" --patients "$patients" --months "$months" --events "$EVENTS" \
  --qc-faults $((patients / 5)) >/dev/null
# The repository's configuration, pointed at the cohort; its QC minimums lowered to suit small files
# (3,000 events hold about 650 lymphocytes and 600 beads).
sed -e 's#fixtures/cohort/##g' -e 's#"labs/hivrna-export.xml"#"labs"#' \
  -e 's/"minLymphocytes": [0-9]*/"minLymphocytes": 400/' -e 's/"minBeads": [0-9]*/"minBeads": 100/' \
  "$here/pipeline.json" >"$work/cohort/pipeline.json"
cfg="$work/cohort/pipeline.json"
files=$(find "$work/cohort/fcs" -type f | wc -l)
events_total=$((files * EVENTS))
mb=$(du -sm "$work/cohort/fcs" | cut -f1)

# A run ends 0 (all good) or 65 (rejections outstanding: the cohort has QC faults).
ok() { [ "$1" -eq 0 ] || [ "$1" -eq 65 ]; }

dump() { # store -> folder: samples, records and rejections as JSON
  mkdir -p "$2"
  for what in samples records rejections; do
    "$BIN" "$what" --config "$cfg" --database "$1" --format json >"$2/$what.json"
  done
}

db_url() { # database name -> URL on the admin URL's server
  python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN_URL" "$1"
}
fresh_db() {
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

echo "== reference: one process, SQLite"
start=$(date +%s.%N)
"$BIN" run --config "$cfg" --database "$work/reference.sqlite" --quiet 2>"$work/reference.log" || ok $? || {
  cat "$work/reference.log"
  exit 1
}
sqlite_seconds=$(echo "$(date +%s.%N) - $start" | bc)
echo "   $sqlite_seconds s"
dump "$work/reference.sqlite" "$work/reference"

# ---- Faults ------------------------------------------------------------------------------------
echo "== $WORKERS workers on PostgreSQL, SIGKILL every 1-$KILL_EVERY s, one pg_terminate_backend"
fresh_db cytoingest_load
url=$(db_url cytoingest_load)
declare -A pid
start_worker() {
  "$BIN" run --worker --worker-name "w$1" --lease-seconds "$LEASE" --config "$cfg" --database "$url" \
    --log-format json 2>>"$work/w$1.log" &
  pid[$1]=$!
}
for i in $(seq 1 "$WORKERS"); do start_worker "$i"; done
kills=0
terminated=0
restarts=0
dropped=0
begin=$(date +%s)
declare -A finished=([0]=1)
nfinished=0
while :; do
  # Reap workers that ended: 0/65 done; 75 (store failure: a dropped connection) restarted;
  # anything else fails the test.
  for i in $(seq 1 "$WORKERS"); do
    [ -n "${finished[$i]:-}" ] && continue
    if ! kill -0 "${pid[$i]}" 2>/dev/null; then
      set +e
      wait "${pid[$i]}"
      rc=$?
      set -e
      if ok "$rc"; then
        finished[$i]=1
        nfinished=$((nfinished + 1))
      elif [ "$rc" -eq 75 ] || [ "$rc" -eq 137 ]; then
        # 137: killed by the driver; 75: the store failed under it (its connection was dropped).
        if [ "$rc" -eq 75 ]; then
          dropped=$((dropped + 1))
          echo "   worker $i exited 75: $(grep -o '"message":"[^"]*"' "$work/w$i.log" | tail -1)"
        fi
        restarts=$((restarts + 1))
        start_worker "$i"
      else
        echo "worker $i exited $rc:"
        tail -5 "$work/w$i.log"
        exit 1
      fi
    fi
  done
  [ "$nfinished" -eq "$WORKERS" ] && break
  if [ $(($(date +%s) - begin)) -gt "$DEADLINE" ]; then
    echo "not finished after $DEADLINE s"
    exit 1
  fi
  sleep $((1 + RANDOM % KILL_EVERY))
  alive=()
  for i in $(seq 1 "$WORKERS"); do
    [ -z "${finished[$i]:-}" ] && kill -0 "${pid[$i]}" 2>/dev/null && alive+=("$i")
  done
  [ "${#alive[@]}" -eq 0 ] && continue
  victim=${alive[$((RANDOM % ${#alive[@]}))]}
  if [ "$terminated" -eq 0 ] && [ "$kills" -ge 1 ]; then
    # Once: drop the database connection of a worker (the server ends its session; the worker
    # fails with exit 75 at its next statement and is restarted). Sessions are named by worker.
    n=$(psql -qtA "$url" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'cytoingest w$victim' AND datname = 'cytoingest_load'")
    if [ "$n" -ge 1 ]; then
      terminated=$victim
      echo "   connection of worker $victim terminated"
    fi
    continue
  fi
  # The worker whose connection was dropped is left to notice it (not killed meanwhile).
  [ "$victim" = "$terminated" ] && [ "$dropped" -eq 0 ] && continue
  if kill -9 "${pid[$victim]}" 2>/dev/null; then
    kills=$((kills + 1))
    echo "   SIGKILL worker $victim"
  fi
done
fault_seconds=$(($(date +%s) - begin))
reclaimed=$(cat "$work"/w*.log | grep -c '"event":"reclaimed"' || true)
echo "   $kills workers killed, 1 connection terminated ($dropped worker(s) exited 75 on it), $restarts restarts; $reclaimed files re-claimed after a kill or a dropped connection; $fault_seconds s"
dump "$url" "$work/faults"
for what in samples records rejections; do
  if ! cmp -s "$work/reference/$what.json" "$work/faults/$what.json"; then
    echo "FAIL: $what differ from the single-process SQLite run"
    diff <(python3 -m json.tool "$work/reference/$what.json") <(python3 -m json.tool "$work/faults/$what.json") | head -20
    exit 1
  fi
  echo "   $what: equal ($(wc -c <"$work/faults/$what.json") bytes)"
done
[ "$kills" -ge 1 ] || {
  echo "FAIL: the run ended before any worker was killed (make the cohort larger)"
  exit 1
}
[ "$terminated" -ne 0 ] || {
  echo "FAIL: no connection was terminated"
  exit 1
}
[ "$dropped" -ge 1 ] || echo "   (the worker whose connection was dropped had finished its work before it noticed)"

# ---- Throughput --------------------------------------------------------------------------------
echo "== throughput ($files files, $events_total events, $mb MB; $(nproc) cores)"
printf '   %-28s %8s %10s %12s %8s\n' store seconds files/s "events/s" MB/s
printf '   %-28s %8.2f %10.1f %12.0f %8.1f\n' "SQLite, 1 process" "$sqlite_seconds" \
  "$(echo "$files / $sqlite_seconds" | bc -l)" "$(echo "$events_total / $sqlite_seconds" | bc -l)" \
  "$(echo "$mb / $sqlite_seconds" | bc -l)"
for n in 1 2 4; do
  fresh_db cytoingest_tp
  tp=$(db_url cytoingest_tp)
  start=$(date +%s.%N)
  pids=()
  for i in $(seq 1 "$n"); do
    "$BIN" run --worker --worker-name "t$i" --config "$cfg" --database "$tp" --log-format json 2>"$work/t$i.log" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || ok $? || {
    echo "a throughput worker failed"
    exit 1
  }; done
  s=$(echo "$(date +%s.%N) - $start" | bc)
  printf '   %-28s %8.2f %10.1f %12.0f %8.1f\n' "PostgreSQL, $n worker(s)" "$s" "$(echo "$files / $s" | bc -l)" \
    "$(echo "$events_total / $s" | bc -l)" "$(echo "$mb / $s" | bc -l)"
  dump "$tp" "$work/tp$n"
  cmp -s "$work/reference/records.json" "$work/tp$n/records.json" || {
    echo "FAIL: records of the $n-worker run differ"
    exit 1
  }
done
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS cytoingest_load WITH (FORCE)" -c "DROP DATABASE IF EXISTS cytoingest_tp WITH (FORCE)" >/dev/null
echo "load test passed"
