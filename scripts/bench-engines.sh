#!/usr/bin/env bash
# The storage engines against each other (decision 0016, docs/storage.md):
# the same renkei twice on this machine, one with the journal in redb in
# its data directory (the default), one with the journal in a PostgreSQL
# 15 cluster made here (initdb, loopback, SCRAM password), alternating the
# two in the same run.
#
#   scripts/bench-engines.sh [FILES] [MIB] [RUNS]
#
# small: FILES (1000) files of 4 KiB, `put -f` in one session
#        (aes128-gcm); milliseconds per file, median of RUNS (3).
# big:   one MIB (1024) MiB file, `put -f` then `get`; MB/s, median of RUNS.
#
# Prints each engine's figure and the ratio postgres/redb (> 1: PostgreSQL
# faster). RENKEI=/path/to/renkei runs another build.
set -euo pipefail
FILES=${1:-1000}
SIZE_MIB=${2:-1024}
RUNS=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
PG=/usr/lib/postgresql/15/bin
[ -x "$PG/initdb" ] || { echo "bench-engines: PostgreSQL 15 is missing (apt-get install postgresql)" >&2; exit 1; }
if [ -z "${RENKEI:-}" ]; then
  cargo build --release --quiet
  RENKEI="$here/target/release/renkei"
fi

work=$(mktemp -d /var/tmp/renkei-bench-engines.XXXXXX)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in ${pids:-}; do kill "$p" 2>/dev/null || true; done
  as_pg "$PG/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The cluster: as a production one would be (fsync on, WAL flushed at
# each commit), on its own port and socket directory.
mkdir -p "$work/pgroot"
echo bench-password > "$work/pgroot/pw"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$work/pgroot"
as_pg "$PG/initdb" -D "$work/pgroot/data" -U renkei -A scram-sha-256 --pwfile="$work/pgroot/pw" -E UTF8 --locale=C.UTF-8 >/dev/null
mv "$work/pgroot/data" "$work/pg"
PGPORT=$(free_port)
as_pg "$PG/pg_ctl" -D "$work/pg" -l "$work/pgroot/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$work/pgroot" start >/dev/null
printf 'bench-password\n' > "$work/pg-password"
chmod 600 "$work/pg-password"

ssh-keygen -q -t ed25519 -N "" -f "$work/client" -C bench
declare -A PORT
for engine in redb postgres; do
  PORT[$engine]=$(free_port)
  {
    printf '[server]\nlisten = "127.0.0.1:%s"\ndata_dir = "%s/data-%s"\n[log]\nlevel = "warn"\n' "${PORT[$engine]}" "$work" "$engine"
    if [ "$engine" = postgres ]; then
      printf '[storage]\njournal = "postgresql://renkei@127.0.0.1:%s/postgres"\njournal_password_file = "%s/pg-password"\n' "$PGPORT" "$work"
    fi
    printf '[[tenant]]\ncode = "032018"\nname = "盛岡市"\nnetworks = ["127.0.0.0/8"]\n[[tenant.account]]\nuser = "bench"\nkeys = ["%s"]\n' "$(cat "$work/client.pub")"
  } > "$work/$engine.toml"
  "$RENKEI" --config "$work/$engine.toml" serve 2>"$work/$engine.log" &
  pids="${pids:-} $!"
  for _ in $(seq 100); do
    "$RENKEI" --config "$work/$engine.toml" ctl status >/dev/null 2>&1 && break
    sleep 0.1
  done
done

sftp_batch() { # ENGINE BATCH-FILE
  sftp -q -b "$2" -c aes128-gcm@openssh.com -i "$work/client" -P "${PORT[$1]}" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -o IdentitiesOnly=yes -o LogLevel=ERROR bench@127.0.0.1 >/dev/null
}
timed() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); python3 -c "print($t1 - $t0)"; }

mkdir -p "$work/small"
for i in $(seq "$FILES"); do head -c 4096 /dev/urandom > "$work/small/f$i.dat"; done
echo "bench-engines: writing a ${SIZE_MIB} MiB test file" >&2
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$work/big"
echo "mkdir /inbox/small" > "$work/mkdir"
for engine in redb postgres; do sftp_batch "$engine" "$work/mkdir"; done
echo "put -f $work/small/* /inbox/small/" > "$work/small.batch"
echo "put -f $work/big /inbox/big" > "$work/put.batch"
echo "get /inbox/big $work/got" > "$work/get.batch"

results="$work/results"
: > "$results"
for r in $(seq "$RUNS"); do
  if [ $((r % 2)) -eq 1 ]; then order="redb postgres"; else order="postgres redb"; fi
  for what in small put get; do
    for engine in $order; do
      rm -f "$work/got"
      s=$(timed sftp_batch "$engine" "$work/$what.batch")
      if [ "$what" = get ]; then cmp -s "$work/big" "$work/got" || { echo "bench-engines: $engine returned different bytes" >&2; exit 1; }; fi
      echo "$what $engine $s" >> "$results"
      echo "bench-engines: $what $engine run $r: ${s}s" >&2
    done
  done
done

python3 - "$results" "$FILES" "$SIZE_MIB" <<'PY'
import statistics, sys
from collections import defaultdict
times = defaultdict(list)
for line in open(sys.argv[1]):
    what, engine, secs = line.split()
    times[(what, engine)].append(float(secs))
n, mib = int(sys.argv[2]), int(sys.argv[3])
r = statistics.median(times[("small", "redb")]) / n * 1000
p = statistics.median(times[("small", "postgres")]) / n * 1000
print(f"{n} x 4 KiB put -f, one session: redb {r:.2f} ms/file, PostgreSQL {p:.2f} ms/file, postgres/redb throughput {r / p:.2f}")
mb = mib * 1048576 / 1e6
for what, label in (("put", "put -f"), ("get", "get")):
    r = mb / statistics.median(times[(what, "redb")])
    p = mb / statistics.median(times[(what, "postgres")])
    print(f"{mib} MiB {label}: redb {r:.0f} MB/s, PostgreSQL {p:.0f} MB/s, postgres/redb {p / r:.2f}")
PY
