#!/usr/bin/env bash
# The storage engines against each other (decision 0016, docs/storage.md):
# the same renkei three times on this machine, alternating in the same run:
#   redb      the journal in redb and the blobs in the data directory (the
#             default);
#   postgres  the journal in a PostgreSQL 15 cluster made here (initdb,
#             loopback, SCRAM password, fsync on), the blobs local;
#   s3        the journal in that PostgreSQL and the blobs in a Garage
#             bucket made here (single node, loopback).
#
#   scripts/bench-engines.sh [FILES] [MIB] [RUNS]
#
# small: FILES (1000) files of 4 KiB, `put -f` in one session
#        (aes128-gcm); milliseconds per file, median of RUNS (3).
# big:   one MIB (1024) MiB file, `put -f` then `get`; MB/s, median of RUNS.
#
# Prints each engine's figure and its ratio to redb (> 1: faster than
# redb). RENKEI=/path/to/renkei runs another build.
set -euo pipefail
FILES=${1:-1000}
SIZE_MIB=${2:-1024}
RUNS=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
PG=/usr/lib/postgresql/15/bin
[ -x "$PG/initdb" ] || { echo "bench-engines: PostgreSQL 15 is missing (apt-get install postgresql)" >&2; exit 1; }
GARAGE=${CARGO_HOME:-$HOME/.cargo}/bin/garage
[ -x "$GARAGE" ] || GARAGE=$(command -v garage) || { echo "bench-engines: garage is missing (cargo install --locked garage)" >&2; exit 1; }
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
for db in postgres s3; do
  PGPASSWORD=bench-password "$PG/psql" -h 127.0.0.1 -p "$PGPORT" -U renkei -d postgres -qc "CREATE DATABASE bench_$db" >/dev/null
done

# The bucket: a single-node Garage with a key that may read and write it.
S3PORT=$(free_port)
RPCPORT=$(free_port)
cat > "$work/garage.toml" <<EOF
metadata_dir = "$work/garage/meta"
data_dir = "$work/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPCPORT"
rpc_public_addr = "127.0.0.1:$RPCPORT"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3PORT"
root_domain = ".s3.garage.localhost"
EOF
"$GARAGE" -c "$work/garage.toml" server >"$work/garage.log" 2>&1 &
pids="${pids:-} $!"
g() { "$GARAGE" -c "$work/garage.toml" "$@"; }
node=""
for _ in $(seq 100); do node=$(g status 2>/dev/null | awk '/NO ROLE ASSIGNED/{print $1}' || true); [ -n "$node" ] && break; sleep 0.1; done
g layout assign -z dc1 -c 10G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create renkei >/dev/null
g key create bench-key >/dev/null
g bucket allow --read --write --owner renkei --key bench-key >/dev/null
info=$(g key info bench-key --show-secret)
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$(sed -n 's/^Key ID: *//p' <<<"$info")" "$(sed -n 's/^Secret key: *//p' <<<"$info")" > "$work/s3-credentials"
chmod 600 "$work/s3-credentials"

ssh-keygen -q -t ed25519 -N "" -f "$work/client" -C bench
declare -A PORT
ENGINES="redb postgres s3"
for engine in $ENGINES; do
  PORT[$engine]=$(free_port)
  {
    printf '[server]\nlisten = "127.0.0.1:%s"\ndata_dir = "%s/data-%s"\n[log]\nlevel = "warn"\n' "${PORT[$engine]}" "$work" "$engine"
    if [ "$engine" != redb ]; then
      # Each its own database in the one cluster (one writer per database).
      printf '[storage]\njournal = "postgresql://renkei@127.0.0.1:%s/bench_%s"\njournal_password_file = "%s/pg-password"\n' "$PGPORT" "$engine" "$work"
    fi
    if [ "$engine" = s3 ]; then
      printf 'blobs = "s3://renkei/vault"\ns3_endpoint = "http://127.0.0.1:%s"\ns3_region = "garage"\ns3_credentials_file = "%s/s3-credentials"\n' "$S3PORT" "$work"
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
for engine in $ENGINES; do sftp_batch "$engine" "$work/mkdir"; done
echo "put -f $work/small/* /inbox/small/" > "$work/small.batch"
echo "put -f $work/big /inbox/big" > "$work/put.batch"
echo "get /inbox/big $work/got" > "$work/get.batch"

results="$work/results"
: > "$results"
for r in $(seq "$RUNS"); do
  case $((r % 3)) in
    1) order="redb postgres s3" ;;
    2) order="s3 redb postgres" ;;
    0) order="postgres s3 redb" ;;
  esac
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
names = {"redb": "redb + local", "postgres": "PostgreSQL + local", "s3": "PostgreSQL + S3"}
base = statistics.median(times[("small", "redb")]) / n * 1000
print(f"{n} x 4 KiB put -f, one session (ms/file; ratio = redb's time / this one's):")
for e in ("redb", "postgres", "s3"):
    ms = statistics.median(times[("small", e)]) / n * 1000
    print(f"  {names[e]:20} {ms:7.2f} ms/file  {base / ms:5.2f}")
mb = mib * 1048576 / 1e6
for what, label in (("put", "put -f"), ("get", "get")):
    base = mb / statistics.median(times[(what, "redb")])
    print(f"{mib} MiB {label} (MB/s; ratio to redb):")
    for e in ("redb", "postgres", "s3"):
        rate = mb / statistics.median(times[(what, e)])
        print(f"  {names[e]:20} {rate:7.0f} MB/s  {rate / base:5.2f}")
PY
