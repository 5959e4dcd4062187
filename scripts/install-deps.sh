#!/usr/bin/env bash
# Install everything the test suite needs on a Debian bookworm machine (run as root).
# Idempotent: when every package is already present it returns without touching apt.
#
#   zookeeper, zookeeper-bin   reference Apache ZooKeeper 3.8 server, zkCli.sh and the C client cli_mt
#   python3-kazoo, python3-pytest, python3-pytest-timeout   Python client + test runner for /usr/bin/python3
#   python3-pytest-xdist       runs the compat suite's test files in parallel workers (-n)
#   libcurator-*-java          Apache Curator 5.4 for the Java client tests
#   default-jdk-headless       java + javac (skipped when a javac is already on the machine)
#   golang-go                  Go, only when no `go` is on the machine (/usr/local/go counts)
#
# Then builds target/lincheck (tools/lincheck, the porcupine linearizability checker the
# ensemble tests use) when it is missing or older than its sources; its one module comes
# from the Go module proxy (GOPROXY) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's golang-go installs to /usr/bin; an upstream Go tarball to /usr/local/go.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="$PATH:/usr/local/go/bin"
fi

PKGS=(
  zookeeper
  zookeeper-bin
  python3-kazoo
  python3-pytest
  python3-pytest-timeout
  python3-pytest-xdist
  libcurator-framework-java
  libcurator-recipes-java
  libcurator-client-java
  libslf4j-java
)
# A JDK is needed for javac (Curator test program); any JDK >= 11 will do.
if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  PKGS+=(default-jdk-headless)
fi
if ! command -v go >/dev/null 2>&1; then
  PKGS+=(golang-go)
fi

missing=()
for p in "${PKGS[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$p")
  fi
done

install_packages() {
  echo "install-deps: installing ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y "${missing[@]}"

  # Sanity: the bits the tests rely on.
  for f in /usr/share/java/zookeeper.jar /usr/share/java/zookeeper-jute.jar /usr/share/java/slf4j-simple.jar \
           /usr/share/java/curator-framework.jar /usr/share/zookeeper/bin/zkCli.sh /usr/lib/zookeeper/bin/cli_mt; do
    [[ -e "$f" ]] || { echo "install-deps: expected $f after install" >&2; exit 1; }
  done
  /usr/bin/python3 -c 'import kazoo, pytest, xdist' || { echo "install-deps: kazoo/pytest/xdist not importable by /usr/bin/python3" >&2; exit 1; }
}

# target/lincheck, rebuilt only when a source is newer than the binary.
build_lincheck() {
  local out=target/lincheck
  if [[ -x "$out" ]] && [[ -z $(find tools/lincheck -newer "$out" \( -name '*.go' -o -name go.mod -o -name go.sum \) -print -quit) ]]; then
    echo "install-deps: $out up to date"
    return
  fi
  mkdir -p target
  (cd tools/lincheck && go build -o "../../$out" .)
  echo "install-deps: built $out"
}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all packages present"
else
  install_packages
fi
build_lincheck
echo "install-deps: done"
