#!/usr/bin/env bash
# Crash soak: the crash-round test of compat-tests/test_store_interop.py with many rounds.
# Each round kill -9s ferrokeeper at a random moment while writer sessions create/setData,
# restarts it on the same dataDir and checks every acknowledged write (and nothing never
# sent); at the end Apache ZooKeeper must serve the crashed dataDir identically.
#
#   scripts/crash-soak.sh [ROUNDS]     (default 200; STORE_CRASH_SEED=N to replay a seed)
#   FERROKEEPER_BIN                    binary to test (default target/release/ferrokeeper)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-200}"
cargo build --release
export FERROKEEPER_BIN="${FERROKEEPER_BIN:-$PWD/target/release/ferrokeeper}"
export STORE_CRASH_ROUNDS="$rounds"
export STORE_CRASH_SEED="${STORE_CRASH_SEED:-$(date +%s%N)}"
echo "crash soak: $rounds rounds, seed $STORE_CRASH_SEED"
# About 3 s per round; the per-test timeout scales with the rounds.
exec /usr/bin/python3 -m pytest compat-tests/test_store_interop.py -k test_crash_rounds \
    -p no:cacheprovider -q -rfE --timeout=$((120 + rounds * 10))
