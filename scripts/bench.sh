#!/usr/bin/env bash
# renkei against OpenSSH's sshd (internal-sftp) on this machine, in the
# same run, alternating the two servers.
#
#   scripts/bench.sh                      all three below, default sizes
#   scripts/bench.sh throughput [MIB] [RUNS]   1 GiB put -f and get (3 runs)
#   scripts/bench.sh small [FILES] [RUNS]      1000 x 4 KiB put -f, one session
#   scripts/bench.sh audit [RECORDS]           audit verify over 1M records
#   scripts/bench.sh handoff [FILES]            upload OK -> file in the spool
#   scripts/bench.sh push [MIB] [RUNS]          route push to sshd vs sftp put
#   scripts/bench.sh scan [FILES] [KIB]         upload OK -> delivered with the
#                                              checks stage vs clamd alone
#   scripts/bench.sh web [MIB] [RUNS]           1 GiB browser-path upload (curl,
#                                              HTTPS multipart) vs sftp put -f
#   scripts/bench.sh ftps [MIB] [RUNS]          1 GiB FTPS upload and download
#                                              (curl --ssl-reqd) vs sftp on
#                                              renkei and on OpenSSH
#   scripts/bench.sh engines [FILES] [MIB] [RUNS]  small files and a big
#                                              file on redb + local against
#                                              PostgreSQL + local and
#                                              PostgreSQL + S3 (Garage):
#                                              scripts/bench-engines.sh
#
# throughput: for each cipher (aes128-gcm, chacha20-poly1305) and each run,
# both servers get the same `put -f` (upload, fsync) and `get` of the same
# file with the OpenSSH sftp client and the same client key; the order of
# the two servers flips every run. Prints the median MB/s and the ratio
# renkei/OpenSSH. renkei also encrypts every byte at rest, hashes it, fsyncs
# its journal and audits each file durably; OpenSSH writes plaintext.
#
# small: FILES files of 4 KiB in one session with `put -f` (aes128-gcm),
# median of RUNS; prints milliseconds per file and the ratio.
#
# handoff: FILES files (default 1000) uploaded one after another with
# paramiko through a route to a spool directory; for each, the time from
# the upload's OK (close answered) to the file's trigger file appearing.
# Prints median and p99.
#
# push: a 1 GiB file committed to an inbox is pushed by a route to the
# OpenSSH sshd above (renkei as SFTP client: decrypt, hash check, upload,
# rename, trigger file), timed from the commit to the trigger file on the
# server; against `sftp put` of the same file to the same server.
# Alternating, median of RUNS (3).
#
# scan: a private clamd (its own configuration and a one-signature
# database written here: nothing is downloaded) and two renkei daemons, one
# with [scan] and one without, each routing to a spool. For FILES files of
# KIB KiB (default 200 x 1024), in turn: an upload to each daemon and a
# direct INSTREAM of the same bytes to the same clamd (the scanner's own
# time). The hand-off latency is measured on the daemons' clock, from each
# file's upload_committed record (when OK is sent) to its
# handoff_delivered record: a Python client's own wake-up after its OK
# takes longer than a small file's whole hand-off. Prints medians, p99 and
# MB/s, and the time the stage adds (with - without) against clamd's own.
#
# web: the same file uploaded to renkei through the HTTPS front door the
# way a browser's form sends it (curl -F: multipart, TLS 1.3, the page's
# CSRF token, a logged-in session) and with `sftp put -f` (aes128-gcm) to
# renkei and to OpenSSH's sshd; alternating, median of RUNS (3). Each
# upload is timed to its answer, which renkei gives once the file is
# encrypted, fsynced and committed.
#
# ftps: the same file uploaded (curl -T, explicit FTPS, TLS 1.3, PROT P,
# the data connection resuming the control connection's session) and
# downloaded (curl -o) through renkei's FTPS front door, and with `sftp
# put -f` / `get` (aes128-gcm) to renkei and to OpenSSH's sshd; the order
# flips every run, median of RUNS (3). The FTPS upload is timed to its 226,
# sent once the file is encrypted, fsynced and committed.
#
# RENKEI=/path/to/renkei runs another build of renkei instead of this tree's.
set -euo pipefail

MODE=${1:-all}
case $MODE in
  throughput) SIZE_MIB=${2:-1024}; RUNS=${3:-3} ;;
  small) FILES=${2:-1000}; RUNS=${3:-3} ;;
  audit) RECORDS=${2:-1000000} ;;
  handoff) FILES=${2:-1000} ;;
  push) SIZE_MIB=${2:-1024}; RUNS=${3:-3} ;;
  scan) FILES=${2:-200}; SIZE_KIB=${3:-1024} ;;
  web) SIZE_MIB=${2:-1024}; RUNS=${3:-3} ;;
  ftps) SIZE_MIB=${2:-1024}; RUNS=${3:-3} ;;
  engines) exec "$(dirname "$0")/bench-engines.sh" "${@:2}" ;;
  all) SIZE_MIB=1024; RUNS=3; FILES=1000; RECORDS=1000000 ;;
  *) echo "usage: scripts/bench.sh [throughput [MIB] [RUNS] | small [FILES] [RUNS] | audit [RECORDS] | handoff [FILES] | push [MIB] [RUNS] | scan [FILES] [KIB] | web [MIB] [RUNS] | ftps [MIB] [RUNS] | engines [FILES] [MIB] [RUNS]]" >&2; exit 2 ;;
esac

if [ "$MODE" = audit ] || [ "$MODE" = all ]; then
  cargo run --quiet --release --example audit_verify_bench -- "${RECORDS}"
  [ "$MODE" = audit ] && exit 0
fi
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

for bin in sshd sftp ssh-keygen python3; do
  command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || { echo "bench: $bin is missing (apt-get install openssh-server openssh-client python3)" >&2; exit 1; }
done
SSHD=$(command -v sshd || echo /usr/sbin/sshd)

# RENKEI=/path/to/renkei compares another build instead of this tree's.
if [ -z "${RENKEI:-}" ]; then
  cargo build --release --quiet
  RENKEI="$here/target/release/renkei"
fi

work=$(mktemp -d /var/tmp/renkei-bench.XXXXXX)
cleanup() {
  [ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null || true
  [ -n "${rpid2:-}" ] && kill "$rpid2" 2>/dev/null || true
  [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null || true
  [ -f "$work/sshd.pid" ] && kill "$(cat "$work/sshd.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
OPORT=$(free_port)
ME=$(id -un)

ssh-keygen -q -t ed25519 -N "" -f "$work/client" -C bench
ssh-keygen -q -t ed25519 -N "" -f "$work/ssh_host_ed25519_key"
cp "$work/client.pub" "$work/authorized_keys"
mkdir -p "$work/openssh-target" /run/sshd 2>/dev/null || mkdir -p "$work/openssh-target"

cat > "$work/renkei.toml" <<EOF
[server]
listen = "127.0.0.1:$RPORT"
data_dir = "$work/renkei-data"
[log]
level = "warn"
[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["127.0.0.0/8"]
[[tenant.account]]
user = "bench"
keys = ["$(cat "$work/client.pub")"]
[[route]]
name = "bench-handoff"
source = { box = "inbox", pattern = "handoff-*" }
destination = { dir = "$work/spool/{tenant}", trigger_suffix = ".end" }
[[route]]
name = "bench-push"
source = { box = "inbox", pattern = "push-*" }
destination = { sftp = "127.0.0.1:$OPORT", user = "$ME", key = "$work/client", host_key = "$(cat "$work/ssh_host_ed25519_key.pub")", path = "$work/openssh-target/push/{tenant}", trigger_suffix = ".end" }
EOF

cat > "$work/sshd_config" <<EOF
Port $OPORT
ListenAddress 127.0.0.1
HostKey $work/ssh_host_ed25519_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
LogLevel ERROR
EOF

if [ "$MODE" = scan ]; then
  [ -x /usr/sbin/clamd ] || { echo "bench: /usr/sbin/clamd is missing (apt-get install clamav-daemon)" >&2; exit 1; }
  mkdir -p "$work/clamd-db"
  marker=$(printf 'RENKEI-TEST-VIRUS-MARKER' | od -An -tx1 | tr -d ' \n')
  echo "Renkei.Test.Marker:0:*:$marker" > "$work/clamd-db/renkei-test.ndb"
  # Its own temporary directory: a killed clamd leaves its stream files there.
  printf 'Foreground yes\nLocalSocket %s\nDatabaseDirectory %s\nLogFile %s\nTemporaryDirectory %s\nStreamMaxLength 64M\nMaxThreads 4\n' \
    "$work/clamd.sock" "$work/clamd-db" "$work/clamd.log" "$work" > "$work/clamd.conf"
  /usr/sbin/clamd -c "$work/clamd.conf" >/dev/null 2>&1 &
  cpid=$!
  # The same daemon without [scan], for the time the stage adds.
  RPORT2=$(free_port)
  sed -e "s/:$RPORT\"/:$RPORT2\"/" -e "s#$work/renkei-data#$work/renkei-data2#" \
      -e "s#$work/spool/#$work/spool2/#" "$work/renkei.toml" > "$work/renkei2.toml"
  printf '[scan]\nclamd = "%s"\nmax_file_size = "64MiB"\n' "$work/clamd.sock" >> "$work/renkei.toml"
  # Both log their events (JSON, with times) for the daemon-side figures.
  sed -i 's/^level = "warn"/format = "json"\nlevel = "info"/' "$work/renkei.toml" "$work/renkei2.toml"
  "$RENKEI" --config "$work/renkei2.toml" serve 2>"$work/renkei2.log" &
  rpid2=$!
fi

# tls_door DOOR PORT [LINE]: a certificate for 127.0.0.1, the bench
# account's DOOR_password, and a [DOOR] table on PORT with LINE in it (the
# browser's and the FTPS door's setup differ only in these).
tls_door() {
  local door=$1 port=$2 extra=${3:-} hash flag=""
  [ "$door" = ftps ] && flag=--ftps
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/$door.key" -out "$work/$door.crt" 2>/dev/null
  hash=$(echo "bench-$door-password" | "$RENKEI" passwd $flag bench | sed -n "s/^${door}_password = //p")
  python3 - "$work/renkei.toml" "$door" "$hash" "$port" "$work" "$extra" <<'PY'
import sys
path, door, hash_, port, work, extra = sys.argv[1:]
text = open(path).read()
text = text.replace("[[route]]", f"{door}_password = {hash_}\n\n[[route]]", 1)
text += f'\n[{door}]\nlisten = ["127.0.0.1:{port}"]\ntls_cert = "{work}/{door}.crt"\ntls_key = "{work}/{door}.key"\nmax_upload_size = "64GiB"\n'
if extra:
    text += extra + "\n"
open(path, "w").write(text)
PY
}

if [ "$MODE" = web ]; then
  WPORT=$(free_port)
  tls_door web "$WPORT"
fi

if [ "$MODE" = ftps ]; then
  FPORT=$(free_port)
  tls_door ftps "$FPORT" 'passive_ports = "51000-51099"'
fi

"$RENKEI" --config "$work/renkei.toml" serve 2>"$work/renkei.log" &
rpid=$!
"$SSHD" -f "$work/sshd_config" -E "$work/sshd.log"
for _ in $(seq 100); do
  "$RENKEI" --config "$work/renkei.toml" ctl status >/dev/null 2>&1 && break
  sleep 0.1
done

if [ "$MODE" = scan ]; then
  for _ in $(seq 600); do
    [ -S "$work/clamd.sock" ] && "$RENKEI" --config "$work/renkei2.toml" ctl status >/dev/null 2>&1 && break
    sleep 0.1
  done
  /usr/bin/python3 - "$RPORT" "$RPORT2" "$work/client" "$work/spool/032018" "$work/spool2/032018" "$work/clamd.sock" "$FILES" "$SIZE_KIB" "$work/renkei.log" "$work/renkei2.log" <<'PY'
import os, socket, statistics, struct, sys, time
import paramiko
port, port2, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
spool, spool2, clamd = sys.argv[4], sys.argv[5], sys.argv[6]
n, kib = int(sys.argv[7]), int(sys.argv[8])

def session(p):
    sock = socket.create_connection(("127.0.0.1", p))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = paramiko.Transport(sock)
    t.connect(username="bench", pkey=paramiko.Ed25519Key.from_private_key_file(key))
    return paramiko.SFTPClient.from_transport(t)

def through(sftp, where, name, data):
    with sftp.open(f"/inbox/{name}", "wb") as f:
        f.set_pipelined(True)
        f.write(data)
    ok = time.perf_counter()
    end = os.path.join(where, name + ".end")
    while not os.path.exists(end):
        if time.perf_counter() - ok > 60:
            sys.exit(f"{name} did not reach the spool in 60 s")
        time.sleep(0.0002)

def instream(data):
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_UNIX)
    s.connect(clamd)
    s.sendall(b"zINSTREAM\0")
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        s.sendall(struct.pack(">I", len(chunk)) + chunk)
    s.sendall(struct.pack(">I", 0))
    reply = b""
    while not reply.endswith(b"\0"):
        part = s.recv(4096)
        if not part:
            break
        reply += part
    s.close()
    if reply != b"stream: OK\0":
        sys.exit(f"clamd said {reply!r}")
    return time.perf_counter() - t0

while True:
    try:
        instream(b"warm up")
        break
    except OSError:
        time.sleep(0.1)
scanned, plain = session(port), session(port2)
scanner = []
for i in range(n):
    data = os.urandom(kib * 1024)
    name = f"handoff-{i:05}.bin"
    # The order of the three flips every file.
    for what in ([0, 1, 2] if i % 2 == 0 else [2, 1, 0]):
        if what == 0:
            through(scanned, spool, name, data)
        elif what == 1:
            through(plain, spool2, name, data)
        else:
            scanner.append(instream(data))

def ms(xs):
    xs = sorted(xs)
    return statistics.median(xs) * 1000, xs[max(0, int(len(xs) * 0.99) - 1)] * 1000

mb = kib * 1024 / 1e6
own = statistics.median(scanner)
med, p99 = ms(scanner)
print(f"{n} files of {kib} KiB")
print(f"{'clamd INSTREAM alone':22} median {med:8.2f} ms  p99 {p99:8.2f} ms  {mb / own:8.1f} MB/s")

# The daemons' own clock: from each file's upload_committed record (the
# moment OK is sent) to its handoff_delivered record, from their logs.
import json, datetime
def server_side(log):
    committed, out = {}, []
    for line in open(log):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        ev, rec = v.get("event"), v.get("record")
        if ev not in ("upload_committed", "handoff_delivered") or not rec:
            continue
        path = json.loads(rec)["path"]
        t = datetime.datetime.fromisoformat(v["timestamp"].replace("Z", "+00:00")).timestamp()
        if ev == "upload_committed":
            committed[path] = t
        elif path in committed:
            out.append(t - committed[path])
    return out
s_scan, s_plain = server_side(sys.argv[9]), server_side(sys.argv[10])
if s_scan and s_plain:
    for label, xs in (("with [scan]", s_scan), ("without [scan]", s_plain)):
        med, p99 = ms(xs)
        print(f"{label:22} commit -> delivered median {med:8.2f} ms  p99 {p99:8.2f} ms  {mb / statistics.median(xs):8.1f} MB/s")
    added = statistics.median(s_scan) - statistics.median(s_plain)
    print(f"the checks stage adds {added * 1000:.2f} ms per file from OK to delivered; clamd's own time is {own * 1000:.2f} ms (added / own = {added / own:.2f})")
PY
  exit 0
fi

if [ "$MODE" = handoff ]; then
  /usr/bin/python3 - "$RPORT" "$work/client" "$work/spool/032018" "$FILES" <<'PY'
import os, statistics, sys, time
import paramiko
port, key, spool, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
t = paramiko.Transport(("127.0.0.1", port))
t.connect(username="bench", pkey=paramiko.Ed25519Key.from_private_key_file(key))
sftp = paramiko.SFTPClient.from_transport(t)
data = os.urandom(4096)
lat = []
for i in range(n):
    name = f"handoff-{i:05}.csv"
    with sftp.open(f"/inbox/{name}", "wb") as f:
        f.write(data)
    ok = time.perf_counter()  # close answered: the upload is committed
    end = os.path.join(spool, name + ".end")
    while not os.path.exists(end):
        if time.perf_counter() - ok > 30:
            sys.exit(f"{name} did not reach the spool in 30 s")
        time.sleep(0.0002)
    lat.append((time.perf_counter() - ok) * 1000)
lat.sort()
p99 = lat[max(0, int(len(lat) * 0.99) - 1)]
print(f"hand-off latency over {n} files (upload OK -> NAME.end in the spool): median {statistics.median(lat):.2f} ms, p99 {p99:.2f} ms, max {lat[-1]:.2f} ms")
PY
  exit 0
fi

if [ "$MODE" = push ]; then
  echo "bench: writing a ${SIZE_MIB} MiB test file" >&2
  head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$work/big"
  pushres="$work/push-results"
  : > "$pushres"
  mkdir -p "$work/openssh-target/put"
  for r in $(seq "$RUNS"); do
    if [ $((r % 2)) -eq 1 ]; then order="sftp renkei"; else order="renkei sftp"; fi
    for who in $order; do
      if [ "$who" = sftp ]; then
        rm -f "$work/openssh-target/put/big"
        t0=$(date +%s.%N)
        sftp -q -b - -i "$work/client" -P "$OPORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
          -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR "$ME@127.0.0.1" \
          <<<"put $work/big $work/openssh-target/put/big" >/dev/null
        t1=$(date +%s.%N)
      else
        cp "$work/big" "$work/push-$r.dat"
        "$RENKEI" --config "$work/renkei.toml" ctl put --tenant 032018 --box inbox "$work/push-$r.dat" >/dev/null
        t0=$(date +%s.%N)
        until [ -e "$work/openssh-target/push/032018/push-$r.dat.end" ]; do sleep 0.01; done
        t1=$(date +%s.%N)
        rm -f "$work/push-$r.dat" "$work/openssh-target/push/032018/push-$r.dat"*
      fi
      s=$(python3 -c "print($t1 - $t0)")
      echo "$who $s" >> "$pushres"
      echo "bench: push $who run $r: ${s}s" >&2
    done
  done
  python3 - "$pushres" "$SIZE_MIB" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    who, secs = line.split()
    times.setdefault(who, []).append(float(secs))
mb = int(sys.argv[2]) * 1048576 / 1e6
o = mb / statistics.median(times["sftp"])
r = mb / statistics.median(times["renkei"])
print(f"{sys.argv[2]} MiB to OpenSSH sshd: sftp put {o:.0f} MB/s, renkei route push {r:.0f} MB/s, ratio {r / o:.2f}")
PY
  exit 0
fi

if [ "$MODE" = web ]; then
  echo "bench: writing a ${SIZE_MIB} MiB test file" >&2
  head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$work/big"
  jar="$work/jar"
  c() { curl -sS --cacert "$work/web.crt" -c "$jar" -b "$jar" "$@"; }
  token=$(c "https://127.0.0.1:$WPORT/login" | sed -n 's/.*name="token" value="\([^"]*\)".*/\1/p')
  c -o /dev/null --data-urlencode "token=$token" --data-urlencode user=bench \
    --data-urlencode password=bench-web-password "https://127.0.0.1:$WPORT/login"
  csrf=$(c "https://127.0.0.1:$WPORT/box/inbox" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
  [ -n "$csrf" ] || { echo "bench: could not log in to the web front door" >&2; exit 1; }
  results="$work/web-results"
  : > "$results"
  for r in $(seq "$RUNS"); do
    if [ $((r % 2)) -eq 1 ]; then order="https sftp openssh"; else order="openssh sftp https"; fi
    for how in $order; do
      t0=$(date +%s.%N)
      case $how in
        https)
          code=$(c -o /dev/null -w '%{http_code}' -H "X-CSRF-Token: $csrf" -H "Accept: application/json" \
            -F "file=@$work/big;filename=web-$r.bin" "https://127.0.0.1:$WPORT/upload/inbox")
          [ "$code" = 200 ] || { echo "bench: the HTTPS upload answered $code" >&2; exit 1; } ;;
        sftp) echo "put -f $work/big /inbox/sftp-$r.bin" > "$work/batch"
          sftp -q -b "$work/batch" -c aes128-gcm@openssh.com -i "$work/client" -P "$RPORT" \
            -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
            -o IdentitiesOnly=yes -o LogLevel=ERROR bench@127.0.0.1 >/dev/null ;;
        openssh) echo "put -f $work/big $work/openssh-target/big" > "$work/batch"
          sftp -q -b "$work/batch" -c aes128-gcm@openssh.com -i "$work/client" -P "$OPORT" \
            -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
            -o IdentitiesOnly=yes -o LogLevel=ERROR "$ME@127.0.0.1" >/dev/null ;;
      esac
      t1=$(date +%s.%N)
      s=$(python3 -c "print($t1 - $t0)")
      echo "$how $s" >> "$results"
      echo "bench: web $how run $r: ${s}s" >&2
    done
  done
  python3 - "$results" "$SIZE_MIB" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    how, secs = line.split()
    times.setdefault(how, []).append(float(secs))
mb = int(sys.argv[2]) * 1048576 / 1e6
h = mb / statistics.median(times["https"])
s = mb / statistics.median(times["sftp"])
o = mb / statistics.median(times["openssh"])
print(f"{sys.argv[2]} MiB upload: renkei HTTPS (curl -F) {h:.0f} MB/s, renkei sftp put -f {s:.0f} MB/s, OpenSSH sshd sftp put -f {o:.0f} MB/s; HTTPS/SFTP on renkei {h / s:.2f}, HTTPS/OpenSSH {h / o:.2f}")
PY
  exit 0
fi

if [ "$MODE" = ftps ]; then
  echo "bench: writing a ${SIZE_MIB} MiB test file" >&2
  head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$work/big"
  f() { curl -sS --ssl-reqd --cacert "$work/ftps.crt" --user bench:bench-ftps-password "$@"; }
  s() { sftp -q -b "$work/batch" -c aes128-gcm@openssh.com -i "$work/client" -P "$1" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -o IdentitiesOnly=yes -o LogLevel=ERROR "$2@127.0.0.1" >/dev/null; }
  results="$work/ftps-results"
  : > "$results"
  for r in $(seq "$RUNS"); do
    if [ $((r % 2)) -eq 1 ]; then order="ftps sftp openssh"; else order="openssh sftp ftps"; fi
    for op in put get; do
      for how in $order; do
        rm -f "$work/got"
        t0=$(date +%s.%N)
        case $how-$op in
          ftps-put) f -T "$work/big" "ftp://127.0.0.1:$FPORT/inbox/ftps.bin" ;;
          ftps-get) f -o "$work/got" "ftp://127.0.0.1:$FPORT/inbox/ftps.bin" ;;
          sftp-put) echo "put -f $work/big /inbox/sftp.bin" > "$work/batch"; s "$RPORT" bench ;;
          sftp-get) echo "get /inbox/sftp.bin $work/got" > "$work/batch"; s "$RPORT" bench ;;
          openssh-put) echo "put -f $work/big $work/openssh-target/big" > "$work/batch"; s "$OPORT" "$ME" ;;
          openssh-get) echo "get $work/openssh-target/big $work/got" > "$work/batch"; s "$OPORT" "$ME" ;;
        esac
        t1=$(date +%s.%N)
        if [ "$op" = get ]; then cmp -s "$work/big" "$work/got" || { echo "bench: $how returned different bytes" >&2; exit 1; }; fi
        secs=$(python3 -c "print($t1 - $t0)")
        echo "$how $op $secs" >> "$results"
        echo "bench: ftps $how $op run $r: ${secs}s" >&2
      done
    done
  done
  python3 - "$results" "$SIZE_MIB" <<'PY'
import statistics, sys
from collections import defaultdict
times = defaultdict(list)
for line in open(sys.argv[1]):
    how, op, secs = line.split()
    times[(how, op)].append(float(secs))
mb = int(sys.argv[2]) * 1048576 / 1e6
for op, label in (("put", "upload"), ("get", "download")):
    f, s, o = (mb / statistics.median(times[(h, op)]) for h in ("ftps", "sftp", "openssh"))
    print(f"{sys.argv[2]} MiB {label}: renkei FTPS (curl) {f:.0f} MB/s, renkei SFTP {s:.0f} MB/s, OpenSSH SFTP {o:.0f} MB/s; FTPS/SFTP on renkei {f / s:.2f}, FTPS/OpenSSH {f / o:.2f}")
PY
  exit 0
fi

# run SERVER OP CIPHER -> seconds
run() {
  local server=$1 op=$2 cipher=$3 user port remote
  case $server in
    renkei) user=bench; port=$RPORT; remote=/inbox/big ;;
    openssh) user=$ME; port=$OPORT; remote=$work/openssh-target/big ;;
  esac
  case $op in
    put) echo "put -f $work/big $remote" > "$work/batch" ;;
    get) rm -f "$work/got"; echo "get $remote $work/got" > "$work/batch" ;;
  esac
  local t0 t1
  t0=$(date +%s.%N)
  sftp -q -b "$work/batch" -c "$cipher" -i "$work/client" -P "$port" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
    -o IdentitiesOnly=yes -o LogLevel=ERROR "$user@127.0.0.1" >/dev/null
  t1=$(date +%s.%N)
  if [ "$op" = get ]; then cmp -s "$work/big" "$work/got" || { echo "bench: $server returned different bytes" >&2; exit 1; }; fi
  python3 -c "print($t1 - $t0)"
}

if [ "$MODE" = small ] || [ "$MODE" = all ]; then
  mkdir -p "$work/small" "$work/openssh-target/small"
  for i in $(seq "$FILES"); do head -c 4096 /dev/urandom > "$work/small/f$i.dat"; done
  sftp -q -b - -i "$work/client" -P "$RPORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR bench@127.0.0.1 <<<"mkdir /inbox/small" >/dev/null
  small="$work/small-results"
  : > "$small"
  for r in $(seq "$RUNS"); do
    if [ $((r % 2)) -eq 1 ]; then order="openssh renkei"; else order="renkei openssh"; fi
    for server in $order; do
      case $server in
        renkei) user=bench; port=$RPORT; remote=/inbox/small/ ;;
        openssh) user=$ME; port=$OPORT; remote=$work/openssh-target/small/ ;;
      esac
      echo "put -f $work/small/* $remote" > "$work/batch"
      t0=$(date +%s.%N)
      sftp -q -b "$work/batch" -c aes128-gcm@openssh.com -i "$work/client" -P "$port" \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
        -o IdentitiesOnly=yes -o LogLevel=ERROR "$user@127.0.0.1" >/dev/null
      t1=$(date +%s.%N)
      s=$(python3 -c "print($t1 - $t0)")
      echo "$server $s" >> "$small"
      echo "bench: small files $server run $r: ${s}s" >&2
    done
  done
  python3 - "$small" "$FILES" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    server, secs = line.split()
    times.setdefault(server, []).append(float(secs))
n = int(sys.argv[2])
o = statistics.median(times["openssh"]) / n * 1000
r = statistics.median(times["renkei"]) / n * 1000
print(f"{n} x 4 KiB put -f, one session (aes128-gcm): OpenSSH {o:.2f} ms/file, renkei {r:.2f} ms/file, renkei/OpenSSH throughput ratio {o / r:.2f}")
PY
  [ "$MODE" = small ] && exit 0
fi

echo "bench: writing a ${SIZE_MIB} MiB test file" >&2
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$work/big"
cat "$work/big" > /dev/null

results="$work/results"
: > "$results"
for cipher in aes128-gcm@openssh.com chacha20-poly1305@openssh.com; do
  for r in $(seq "$RUNS"); do
    if [ $((r % 2)) -eq 1 ]; then order="openssh renkei"; else order="renkei openssh"; fi
    for op in put get; do
      for server in $order; do
        s=$(run "$server" "$op" "$cipher")
        echo "$cipher $op $server $s" >> "$results"
        echo "bench: $cipher $op $server run $r: ${s}s" >&2
      done
    done
  done
done

python3 - "$results" "$SIZE_MIB" <<'EOF'
import statistics, sys
from collections import defaultdict
path, size = sys.argv[1], int(sys.argv[2])
times = defaultdict(list)
for line in open(path):
    cipher, op, server, secs = line.split()
    times[(cipher, op, server)].append(float(secs))
mb = size * 1048576 / 1e6
print(f"{'cipher':32} {'op':6} {'OpenSSH MB/s':>13} {'renkei MB/s':>12} {'ratio':>6}")
for cipher in ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"):
    for op, label in (("put", "put -f"), ("get", "get")):
        o = mb / statistics.median(times[(cipher, op, "openssh")])
        r = mb / statistics.median(times[(cipher, op, "renkei")])
        print(f"{cipher:32} {label:6} {o:13.0f} {r:12.0f} {r / o:6.2f}")
EOF
