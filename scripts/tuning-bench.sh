#!/usr/bin/env bash
# The measurements behind docs/operations.md's tuning guide: ferrokeeper started with one
# setting changed at a time (everything else as zoo.cfg's defaults), the same write and
# read workloads against each, one server at a time on loopback.
#
#   scripts/tuning-bench.sh [--duration SECONDS] [--out DIR]
#
# Settings compared: the baseline; forceSync=no; snapCount=10000 (snapshots 10x as often
# as the default 100000); preAllocSize=1024 (1 MiB log preallocation instead of 64 MiB);
# globalOutstandingLimit=10 (instead of 1000). Workloads: set (16 sessions x 32 in flight,
# 100-byte values), create-delete, get. Results: DIR/results.jsonl (one line per run, the
# bench tool's JSON) and DIR/table.md. Ratios against the baseline are what to read: on a
# shared 2-core machine absolute numbers move with the load. Every server it starts is
# stopped by PID on exit; each run has its own temporary dataDir.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=5
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DUR="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "tuning-bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-target/tuning/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
cargo build --release --bins
BIN=${FERROKEEPER_BIN:-$PWD/target/release/ferrokeeper}
BENCH=$PWD/target/release/ferrokeeper-bench
PORT=${TUNING_PORT:-22291}

declare -a SETTINGS=(
  "baseline|"
  "forceSync=no|forceSync=no"
  "snapCount=10000|snapCount=10000"
  "preAllocSize=1024|preAllocSize=1024"
  "globalOutstandingLimit=10|globalOutstandingLimit=10"
)
WORKLOADS=(set create-delete get)

pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

: >"$OUT/results.jsonl"
for entry in "${SETTINGS[@]}"; do
  label=${entry%%|*}
  line=${entry#*|}
  for w in "${WORKLOADS[@]}"; do
    dir=$(mktemp -d /tmp/ferrokeeper-tuning.XXXXXX)
    {
      echo "tickTime=2000"; echo "dataDir=$dir/data"; echo "clientPort=$PORT"
      echo "clientPortAddress=127.0.0.1"; echo "admin.enableServer=false"
      [[ -n "$line" ]] && echo "$line"
    } >"$dir/zoo.cfg"
    FERROKEEPER_LOG=warn "$BIN" "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    pid=$!
    "$BENCH" --addr "127.0.0.1:$PORT" --workload probe --ready-timeout 60 >/dev/null 2>&1
    "$BENCH" --addr "127.0.0.1:$PORT" --workload "$w" --sessions 16 --depth 32 \
      --value-size 100 --keys 1000 --duration "$DUR" --warmup 1 --server-pid "$pid" \
      --label "$label" --tag "$w" >>"$OUT/results.jsonl" 2>/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    rm -rf "$dir"
  done
done

/usr/bin/python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(f"{out}/results.jsonl") if l.strip()]
base = {r["tag"]: r for r in rows if r["label"] == "baseline"}
lines = ["| setting | workload | ops/s | ratio to baseline | p99 ms |", "|---|---|---|---|---|"]
for r in rows:
    b = base.get(r["tag"])
    ratio = f"{r['ops_per_s'] / b['ops_per_s']:.2f}" if b and b["ops_per_s"] else "-"
    lines.append(f"| {r['label']} | {r['tag']} | {r['ops_per_s']:.0f} | {ratio} | {r['p99_us'] / 1000:.2f} |")
open(f"{out}/table.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
