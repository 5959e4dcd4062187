#!/usr/bin/env bash
# THE test command: dependencies, release build, unit tests, then the compat suite
# (pytest over compat-tests/, each scenario against Apache ZooKeeper 3.9.5 and 3.8.0 and
# ferrokeeper).
#
# Environment knobs:
#   FERROKEEPER_BIN         binary to test (default target/release/ferrokeeper)
#   COMPAT_SERVERS          server kinds: "zk,zk39,ferro" (default: ZooKeeper 3.8.0, 3.9.5
#                           -- differential files only -- and ferrokeeper), or a subset,
#                           e.g. "zk39,ferro"; ferrokeeper is compared with the Java kinds
#                           listed (3.9.5 when none is)
#   COMPAT_FLOOD_CONNS      idle connections opened by the flood test (default 2000)
#   COMPAT_WORKERS          parallel pytest-xdist workers (default 4; 0 = serial, no xdist)
#   PYTEST_ARGS             extra arguments for pytest (e.g. "-k watches -x")
#   FUZZ_SECONDS            seconds of fuzzing per fuzz/ target (default 20; 0 skips;
#                           skipped with a message when there is no nightly toolchain)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="$PATH:/usr/local/go/bin"
fi

cargo build --release
# The README's run command (`cargo run --release`) must pick the server binary.
cargo run --release --quiet -- --version
cargo test --release
# A short bout of every fuzz target (docs/fuzzing.md); a crash fails the run.
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
# The linearizability checker the ensemble tests use (built by install-deps.sh).
(cd tools/lincheck && go test ./...)

export FERROKEEPER_BIN="${FERROKEEPER_BIN:-$PWD/target/release/ferrokeeper}"
# Test files run in parallel (pytest-xdist), a file's tests together on one worker with that
# worker's own servers (groups: compat-tests/conftest.py, README there). On the quiet
# 2-core machine the suite took 280 s serially, 151 s with 2 workers, 112 s with 3, 86 s
# with 4, 83 s with 5, 71 s with 6 (under other load 5-6 gained nothing over 4): the
# servers under test mostly wait; beyond 4 the longest groups and Java start-ups decide.
workers="${COMPAT_WORKERS:-4}"
parallel=()
if [[ "$workers" != 0 ]]; then
  parallel=(-n "$workers" --dist loadgroup)
fi
log=$(mktemp /tmp/ferrokeeper-compat.XXXXXX.log)
set +e
# shellcheck disable=SC2086
/usr/bin/python3 -m pytest compat-tests -p no:cacheprovider -q -rfE --timeout=300 "${parallel[@]}" ${PYTEST_ARGS:-} 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo
echo "compat suite: $(grep -E '^(=+ )?[0-9]+ (passed|failed|error)|(passed|failed|error).* in [0-9.]+s' "$log" | tail -1)"
rm -f "$log"
exit "$rc"
