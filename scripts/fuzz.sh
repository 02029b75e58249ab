#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, nightly toolchain, cargo-fuzz) and runs
# them: scripts/fuzz.sh [TARGET|all] [SECONDS]. CI runs every target for a
# short time (.ci/run); a long campaign is the same command with more
# seconds (docs/fuzzing.md). Exits non-zero when a target crashes, hangs
# (-timeout) or allocates past the limit (-malloc_limit_mb), leaving the
# input under fuzz/artifacts/TARGET/ to be minimised (cargo +nightly fuzz
# tmin) and kept as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-all}
seconds=${2:-20}
# One input may allocate at most this much, and a run hold at most this
# much in all: the archive and format targets prove their bounds with it.
malloc_limit_mb=${FUZZ_MALLOC_LIMIT_MB:-256}
rss_limit_mb=${FUZZ_RSS_LIMIT_MB:-1024}
per_input_timeout=${FUZZ_TIMEOUT:-10}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install --locked --quiet cargo-fuzz
fi

# No sanitizer: the product has no unsafe code, and without ASan a target
# runs several times faster; debug assertions catch overflows.
flags=(--sanitizer none --debug-assertions)
# FUZZ_CODEGEN_UNITS=16 builds faster and runs somewhat slower: right for
# CI's short runs, not for a campaign.
[ -n "${FUZZ_CODEGEN_UNITS:-}" ] && flags+=(--codegen-units "$FUZZ_CODEGEN_UNITS")
cargo +nightly fuzz build "${flags[@]}" >&2

if [ "$target" = all ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
else
  targets=("$target")
fi

summary=${FUZZ_SUMMARY:-target/fuzz-summary.txt}
mkdir -p target
printf '%-14s %12s %8s %8s %s\n' target executions exec/s cov result > "$summary"
failed=0
for t in "${targets[@]}"; do
  work=target/fuzz-corpus/$t
  mkdir -p "$work" "fuzz/artifacts/$t"
  log=target/fuzz-$t.log
  set +e
  cargo +nightly fuzz run "${flags[@]}" "$t" "$work" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -timeout="$per_input_timeout" \
    -malloc_limit_mb="$malloc_limit_mb" -rss_limit_mb="$rss_limit_mb" \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (rc $rc, see $log)"
    failed=1
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -5 >&2 || true
  fi
  printf '%-14s %12s %8s %8s %s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" "$result" | tee -a "$summary"
done
exit $failed
