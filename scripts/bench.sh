#!/usr/bin/env bash
# Benchmark ferrokeeper against Apache ZooKeeper 3.8 on this machine, one server at a time.
#
#   scripts/bench.sh [--quick] [--only zk|ferro] [--workloads REGEX] [--out DIR]
#
# --workloads runs only the workloads whose tag matches the (bash) regex, e.g.
# 'get@|fanout' or 'set [0-9]+ clients'; the memory/startup part has tags load(...),
# rss-after-gc(...) and startup(...).
#
# For each server: a fresh dataDir, a JIT/cache warmup run (discarded), then every
# workload of target/release/ferrokeeper-bench (get, set, mixed, create-delete, children,
# open-loop get, watch-fanout, idle), then RSS after loading N znodes of 100 B and of 1 KB
# and the startup time on that dataDir (process start → first successful read).
# Results: one JSON line per run in DIR/results.jsonl and a table in DIR/table.md
# (default DIR: target/bench/<timestamp>). --quick takes about two minutes, the full run
# about ten to fifteen. Every server it starts is stopped by PID on exit.
#
# Environment: FERROKEEPER_BIN (the server binary; default target/release/ferrokeeper,
# e.g. an older build to compare before/after), BENCH_PORT_ZK / BENCH_PORT_FERRO
# (default 22281 / 22282), JAVA_OPTS for
# ZooKeeper's JVM (default -Xmx4g).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
ONLY=""
FILTER=""
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY="$2"; shift ;;
    --workloads) FILTER="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $QUICK -eq 1 ]]; then
  DUR=2; WARM=1; JIT_WARM=3; LOAD_N=50000; IDLE_N=1000; FANOUT_N=200; RATE=20000
else
  DUR=10; WARM=2; JIT_WARM=15; LOAD_N=1000000; IDLE_N=10000; FANOUT_N=1000; RATE=40000
fi
SESSIONS=16
DEPTH=32
KEYS=1000
CHILDREN=10000
PORT_ZK=${BENCH_PORT_ZK:-22281}
PORT_FERRO=${BENCH_PORT_FERRO:-22282}
JAVA_OPTS=${JAVA_OPTS:--Xmx4g}
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-nop.jar

bash scripts/install-deps.sh >/dev/null
for f in /usr/share/java/zookeeper.jar /usr/share/java/zookeeper-jute.jar /usr/share/java/slf4j-nop.jar; do
  [[ -e "$f" ]] || { echo "bench.sh: $f missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
cargo build --release --bins
BENCH=$PWD/target/release/ferrokeeper-bench
FERRO=${FERROKEEPER_BIN:-$PWD/target/release/ferrokeeper}

OUT=${OUT:-$PWD/target/bench/$(date +%Y%m%d-%H%M%S)$(if [[ $QUICK -eq 1 ]]; then echo -quick; fi)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
WORK=$(mktemp -d /tmp/ferrokeeper-bench.XXXXXX)

SERVER_PID=""
cleanup() {
  stop_server
  rm -rf "$WORK"
}
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# write_cfg KIND DATADIR PORT: the same zoo.cfg keys for both servers.
write_cfg() {
  local kind=$1 dir=$2 port=$3
  mkdir -p "$dir/data"
  cat > "$dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
snapCount=100000
forceSync=yes
4lw.commands.whitelist=srvr
EOF
}

# start_server KIND DIR PORT TAG: start, then time until the first successful read.
start_server() {
  local kind=$1 dir=$2 port=$3 tag=$4
  if [[ $kind == zk ]]; then
    # shellcheck disable=SC2086
    java $JAVA_OPTS -cp "$ZK_CP" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
      >>"$dir/server.log" 2>&1 &
  else
    FERROKEEPER_LOG=warn "$FERRO" "$dir/zoo.cfg" >>"$dir/server.log" 2>&1 &
  fi
  SERVER_PID=$!
  "$BENCH" --addr "127.0.0.1:$port" --workload probe --ready-timeout 300 \
    --label "$(label "$kind")" --tag "$tag" --keys "${5:-1}" --value-size "${6:-0}" \
    >>"$RESULTS" 2>/dev/null \
    || { echo "bench.sh: $kind did not start; log tail:" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
}

# record_rss_after_gc KIND TAG N: RSS once Java has run a full GC (jcmd GC.run, so garbage
# left by the load does not count); ferrokeeper has no GC and is just read again.
record_rss_after_gc() {
  local kind=$1 tag=$2 n=$3 rss
  if [[ $kind == zk ]] && command -v jcmd >/dev/null; then
    jcmd "$SERVER_PID" GC.run >/dev/null 2>&1 || true
    sleep 1
  fi
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")
  echo "{\"label\":\"$(label "$kind")\",\"tag\":\"$tag\",\"workload\":\"rss\",\"keys\":$n,\"server_rss_kb\":$rss}" >>"$RESULTS"
}

# wanted TAG: whether --workloads selects this tag.
wanted() { [[ -z $FILTER || $1 =~ $FILTER ]]; }

label() { [[ $1 == zk ]] && echo zookeeper || echo ferrokeeper; }

# bench KIND PORT TAG ARGS...: one recorded run.
bench() {
  local kind=$1 port=$2 tag=$3
  shift 3
  wanted "$tag" || return 0
  "$BENCH" --addr "127.0.0.1:$port" --server-pid "$SERVER_PID" --label "$(label "$kind")" \
    --tag "$tag" "$@" >>"$RESULTS" 2> >(sed "s/^/  /" >&2)
  sleep 0.5
}

run_server() {
  local kind=$1 port=$2 dir
  echo "== $(label "$kind") =="

  dir=$WORK/$kind-load
  write_cfg "$kind" "$dir" "$port"
  start_server "$kind" "$dir" "$port" startup-empty
  # Warm the JIT (Java) and caches (both); not recorded.
  "$BENCH" --addr "127.0.0.1:$port" --workload mixed --sessions $SESSIONS --depth $DEPTH \
    --duration $JIT_WARM --warmup 0 >/dev/null 2>&1
  local common=(--sessions $SESSIONS --depth $DEPTH --duration $DUR --warmup $WARM)
  bench "$kind" "$port" get --workload get "${common[@]}" --keys $KEYS --value-size 100
  bench "$kind" "$port" set --workload set "${common[@]}" --keys $KEYS --value-size 100
  # Write throughput with fsync by number of clients, each with one write outstanding
  # (what group commit has to turn into few fsyncs).
  for n in 1 8 32 128; do
    bench "$kind" "$port" "set ${n} clients" --workload set --sessions $n --depth 1 --duration $DUR \
      --warmup $WARM --keys $KEYS --value-size 100
  done
  bench "$kind" "$port" mixed --workload mixed "${common[@]}" --keys $KEYS --value-size 100
  bench "$kind" "$port" create-delete --workload create-delete "${common[@]}" --value-size 100
  bench "$kind" "$port" children --workload children "${common[@]}" --children $CHILDREN
  bench "$kind" "$port" "get@${RATE}/s" --workload get "${common[@]}" --keys $KEYS --value-size 100 --rate $RATE
  bench "$kind" "$port" "watch-fanout(${FANOUT_N})" --workload watch-fanout --sessions $FANOUT_N \
    --duration $DUR --warmup $WARM
  bench "$kind" "$port" "idle(${IDLE_N})" --workload idle --sessions $IDLE_N --duration $DUR \
    --warmup 0 --ping-ms 1000
  stop_server
  rm -rf "$dir"

  local size
  for size in 100 1024; do
    wanted "load(${LOAD_N}x${size}B)" || wanted "startup(${LOAD_N}x${size}B)" \
      || wanted "rss-after-gc(${LOAD_N}x${size}B)" || continue
    dir=$WORK/$kind-rss$size
    write_cfg "$kind" "$dir" "$port"
    start_server "$kind" "$dir" "$port" startup-empty
    bench "$kind" "$port" "load(${LOAD_N}x${size}B)" --workload load --keys $LOAD_N --value-size $size \
      --sessions 8 --depth 256
    record_rss_after_gc "$kind" "rss-after-gc(${LOAD_N}x${size}B)" $LOAD_N
    stop_server
    start_server "$kind" "$dir" "$port" "startup(${LOAD_N}x${size}B)" $LOAD_N $size
    stop_server
    rm -rf "$dir"
  done
}

echo "bench.sh: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench.sh: results in $OUT"
[[ -z "$ONLY" || "$ONLY" == zk ]] && run_server zk "$PORT_ZK"
[[ -z "$ONLY" || "$ONLY" == ferro ]] && run_server ferro "$PORT_FERRO"

python3 - "$RESULTS" "$OUT/table.md" "$QUICK" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
quick = sys.argv[3] == "1"
by = {}
order = []
for r in rows:
    key = r["tag"]
    if key not in order:
        order.append(key)
    by.setdefault(key, {})[r["label"]] = r

def f(v, nd=0):
    if v is None:
        return "-"
    return f"{v:,.{nd}f}"

def ms(us):
    return "-" if us is None else (f"{us/1000:.2f}" if us < 100000 else f"{us/1000:.0f}")

def ratio(a, b, nd=2):
    if a is None or b in (None, 0):
        return "-"
    return f"{a/b:.{nd}f}"

out = []
out.append(f"Mode: {'--quick' if quick else 'full'}. Ratio = ferrokeeper / ZooKeeper "
           "(throughput: >1 is better for ferrokeeper; CPU/op: <1 is better).\n")
out.append("| workload | ZK ops/s | FK ops/s | ratio | ZK p50/p99/p999 ms | FK p50/p99/p999 ms | ZK CPU µs/op | FK CPU µs/op | CPU ratio | other procs CPU % (ZK/FK) |")
out.append("|---|---:|---:|---:|---|---|---:|---:|---:|---|")
for key in order:
    d = by[key]
    if next(iter(d.values()))["workload"] in ("probe", "load", "rss"):
        continue
    z, fk = d.get("zookeeper"), d.get("ferrokeeper")
    g = lambda r, k: None if r is None else r.get(k)
    lat = lambda r: "-" if r is None else f"{ms(r['p50_us'])} / {ms(r['p99_us'])} / {ms(r['p999_us'])}"
    out.append(f"| {key} | {f(g(z,'ops_per_s'))} | {f(g(fk,'ops_per_s'))} | {ratio(g(fk,'ops_per_s'), g(z,'ops_per_s'))} "
               f"| {lat(z)} | {lat(fk)} | {f(g(z,'server_cpu_us_per_op'),1)} | {f(g(fk,'server_cpu_us_per_op'),1)} "
               f"| {ratio(g(fk,'server_cpu_us_per_op'), g(z,'server_cpu_us_per_op'))} "
               f"| {f(g(z,'other_cpu_pct'))} / {f(g(fk,'other_cpu_pct'))} |")
out.append("")
out.append("| memory / startup | ZooKeeper | ferrokeeper | ratio |")
out.append("|---|---:|---:|---:|")
for key in order:
    d = by[key]
    z, fk = d.get("zookeeper"), d.get("ferrokeeper")
    wl = next(iter(d.values()))["workload"]
    g = lambda r, k: None if r is None else r.get(k)
    if wl == "load":
        zr = g(z, "server_rss_kb"); fr = g(fk, "server_rss_kb")
        out.append(f"| RSS after {key}, MiB | {f(zr and zr/1024)} | {f(fr and fr/1024)} | {ratio(fr, zr)} |")
        out.append(f"| bytes of RSS per znode, {key} | {f(g(z,'rss_per_znode_bytes'))} | {f(g(fk,'rss_per_znode_bytes'))} | {ratio(g(fk,'rss_per_znode_bytes'), g(z,'rss_per_znode_bytes'))} |")
        out.append(f"| create throughput {key}, ops/s | {f(g(z,'ops_per_s'))} | {f(g(fk,'ops_per_s'))} | {ratio(g(fk,'ops_per_s'), g(z,'ops_per_s'))} |")
    elif wl == "rss":
        zr = g(z, "server_rss_kb"); fr = g(fk, "server_rss_kb")
        out.append(f"| {key} (Java: after jcmd GC.run), MiB | {f(zr and zr/1024)} | {f(fr and fr/1024)} | {ratio(fr, zr)} |")
    elif wl == "probe":
        out.append(f"| {key}: start → first read, ms | {f(g(z,'ready_ms'))} | {f(g(fk,'ready_ms'))} | {ratio(g(fk,'ready_ms'), g(z,'ready_ms'))} |")
    elif wl == "idle":
        zr = g(z, "server_rss_kb"); fr = g(fk, "server_rss_kb")
        out.append(f"| RSS with {key} sessions, MiB | {f(zr and zr/1024)} | {f(fr and fr/1024)} | {ratio(fr, zr)} |")
        out.append(f"| RSS per idle session, bytes | {f(g(z,'rss_per_session_bytes'))} | {f(g(fk,'rss_per_session_bytes'))} | {ratio(g(fk,'rss_per_session_bytes'), g(z,'rss_per_session_bytes'))} |")
    elif wl == "watch-fanout":
        out.append(f"| {key}: per-watcher notify p50 / p99, ms | {ms(g(z,'notify_p50_us'))} / {ms(g(z,'notify_p99_us'))} | {ms(g(fk,'notify_p50_us'))} / {ms(g(fk,'notify_p99_us'))} | |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
echo "bench.sh: table in $OUT/table.md, raw results in $RESULTS"
