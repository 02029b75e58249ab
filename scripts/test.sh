#!/usr/bin/env bash
# The test command (README): installs what the end-to-end tests drive on a
# fresh Debian machine, then runs every test.
#
# The tests start the real daemon and use real clients: OpenSSH sftp/scp/ssh
# and ssh-keygen, paramiko (Debian's python3-paramiko), lftp, curl with SFTP
# support and rclone; `age` checks that stored blobs are plain age files.
# OpenSSH sshd (openssh-server) is the remote SFTP peer of the route tests
# (and the baseline of scripts/bench.sh). python3-fusepy and fuse give the
# route tests a file system that hangs, as a hung network mount does.
# clamav-daemon gives the checks tests a real clamd (started by each test
# with its own socket and a signature the test writes; nothing downloaded).
# postgresql (15) is the journal's second engine: the tests make their own
# clusters from it (tests/common/pg.rs), never the packaged service's.
# chromium and chromium-driver (WebDriver) drive the HTTPS front door as a
# browser does; fonts-noto-cjk makes its Japanese pages render; openssl
# makes test certificates and tries old TLS versions against it.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sftp >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v lftp >/dev/null 2>&1 || need+=(lftp)
command -v curl >/dev/null 2>&1 || need+=(curl)
/usr/bin/python3 -c 'import paramiko' >/dev/null 2>&1 || need+=(python3-paramiko)
command -v pkill >/dev/null 2>&1 || need+=(procps)
command -v rclone >/dev/null 2>&1 || need+=(rclone)
command -v age >/dev/null 2>&1 || need+=(age)
/usr/bin/python3 -c 'import fusepy' >/dev/null 2>&1 || need+=(python3-fusepy)
command -v fusermount >/dev/null 2>&1 || need+=(fuse)
command -v mountpoint >/dev/null 2>&1 || need+=(util-linux)
[ -x /usr/sbin/clamd ] || need+=(clamav-daemon)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)

if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
curl -V | grep -qw sftp || { echo "test.sh: this curl has no SFTP support (Debian's curl has it)" >&2; exit 1; }

# ssh-audit from PyPI (Debian 12's 2.5 does not know ML-KEM), pinned, in a
# virtual environment under target/ that tests/hostkeys.rs runs.
audit_venv=target/tools/ssh-audit
if ! "$audit_venv/bin/ssh-audit" -h >/dev/null 2>&1; then
  echo "test.sh: installing ssh-audit" >&2
  /usr/bin/python3 -m venv "$audit_venv"
  "$audit_venv/bin/pip" install --quiet --disable-pip-version-check ssh-audit==3.9.0
fi

# Garage, a real S3-compatible server (tests/common/garage.rs), from
# crates.io: not a Debian package. Built once into the cargo bin (~9 min on
# two cores), like cargo-deny below.
if ! { [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/garage" ] || command -v garage >/dev/null 2>&1; }; then
  echo "test.sh: installing garage (S3 server for the storage tests)" >&2
  cargo install --locked --quiet garage
fi

# The supply chain: licenses, banned crates and sources (deny.toml). Built
# from crates.io the first time (a few minutes); advisories need GitHub,
# which deny.toml explains.
if ! cargo deny --version >/dev/null 2>&1; then
  echo "test.sh: installing cargo-deny" >&2
  cargo install --locked --quiet cargo-deny
fi
cargo deny --log-level error check licenses bans sources

# The tests of everything that touches storage run a second time with the
# journal in PostgreSQL and the files in S3 (Garage), decision 0016: the
# same tests, one harness (tests/common: pg.rs, garage.rs, blobs.rs).
pg_suites=(storage openssh routes remote lanes checks audit notes defender)
pg_filter=()
for t in "${pg_suites[@]}"; do pg_filter+=(--test "$t"); done
if cargo nextest --version >/dev/null 2>&1; then
  run=(cargo nextest run)
else
  run=(cargo test)
fi
"${run[@]}" --workspace --no-fail-fast "$@"
# nextest does not run doctests.
[ "${run[1]}" = nextest ] && cargo test --workspace --doc --quiet
if [ $# -eq 0 ]; then
  echo "test.sh: the storage tests again, on PostgreSQL and S3" >&2
  # --workspace: the same feature set as the first run, so nothing is
  # built again.
  RENKEI_TEST_JOURNAL=postgres RENKEI_TEST_BLOBS=s3 "${run[@]}" --workspace --no-fail-fast "${pg_filter[@]}"
fi
