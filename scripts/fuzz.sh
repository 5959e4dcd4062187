#!/usr/bin/env bash
# A short coverage-guided fuzzing bout of every target in fuzz/ (docs/fuzzing.md):
#   bash scripts/fuzz.sh [seconds-per-target]      (default 20; 0 skips)
# Needs a nightly toolchain (`rustup toolchain list`) and cargo-fuzz, which is installed
# (`cargo install --locked cargo-fuzz`, into ~/.cargo/bin) when missing. Without nightly,
# or when cargo-fuzz cannot be installed, it says so and exits 0: fuzzing is skipped, not
# failed. A crash, a panic, a timeout or an input over the memory limit fails (exit 1) and
# leaves the input under fuzz/artifacts/<target>/.
#
# Each bout starts from the committed corpus (fuzz/corpus/<target>/, read only) and writes
# what it finds to a scratch directory, so CI never changes the work tree.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-${FUZZ_SECONDS:-20}}"
if [[ "$secs" == 0 ]]; then
  echo "fuzz: skipped (0 seconds per target)"
  exit 0
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: no nightly toolchain (rustup toolchain install nightly to enable)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (cargo install --locked cargo-fuzz, a few minutes once)"
  if ! cargo install --locked cargo-fuzz; then
    echo "fuzz: SKIPPED: cargo-fuzz is not installed and could not be installed"
    exit 0
  fi
fi

# The limits every long run used too (docs/fuzzing.md). -s none: no ASan (safe Rust; the
# panics, overflow checks (-a) and the RSS limit are what is looked for), 2-3x the speed.
declare -A max_len=(
  [client_frame]=4096 [txn]=4096 [txlog]=16384 [snapshot]=16384
  [quorum_packet]=4096 [election]=2048 [snap_stream]=8192 [tls_store]=8192 [sasl]=4096
  [http_head]=4096
)
targets=(client_frame txn txlog snapshot quorum_packet election snap_stream tls_store sasl http_head)

cd fuzz
start=$(date +%s)
cargo +nightly fuzz build -s none -a
scratch=$(mktemp -d /tmp/ferrokeeper-fuzz.XXXXXX)
trap 'rm -rf "$scratch"; rm -f /dev/shm/ferrokeeper-fuzz-* 2>/dev/null || true' EXIT
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  log="$scratch/$t.log"
  if cargo +nightly fuzz run -s none -a "$t" "$scratch/$t" "corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
      -max_len="${max_len[$t]}" -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz: $t ok: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${secs} s"
  else
    echo "fuzz: $t FAILED:"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|Reproduce|artifact' "$log" | head -20 || tail -40 "$log"
    failed+=("$t")
  fi
done
echo "fuzz: ${#targets[@]} targets in $(( $(date +%s) - start )) s"
if (( ${#failed[@]} )); then
  echo "fuzz: FAILED targets: ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
