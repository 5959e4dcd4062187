#!/usr/bin/env bash
# Install everything the test suite needs on a Debian bookworm machine (run as root).
# Idempotent: when every package is already present it returns without touching apt.
#
#   zookeeper, zookeeper-bin   reference Apache ZooKeeper 3.8 server, zkCli.sh and the C client cli_mt
#   python3-kazoo, python3-pytest, python3-pytest-timeout   Python client + test runner for /usr/bin/python3
#   python3-pure-sasl          kazoo's SASL (DIGEST-MD5) for test_sasl.py (kazoo depends on it already)
#   python3-pytest-xdist       runs the compat suite's test files in parallel workers (-n)
#   python3-prometheus-client  its text-format parser checks /metrics (test_prometheus.py)
#   libcurator-*-java          Apache Curator 5.4 for the Java client tests
#   default-jdk-headless       java + javac (skipped when a javac is already on the machine)
#   golang-go                  Go, only when no `go` is on the machine (/usr/local/go counts)
#   maven                      mvn, only when none is on the machine
#   nodejs, npm                Node + npm, only when no `npm` is on the machine
#
# Then builds target/lincheck (tools/lincheck, the porcupine linearizability checker the
# ensemble tests use) when it is missing or older than its sources; its one module comes
# from the Go module proxy (GOPROXY) the first time.
#
# And builds target/goclient (tools/goclient, the compat suite's go-zookeeper/zk client
# program, test_client_go.py) the same way; its module comes from the Go module proxy.
#
# And installs tools/nodeclient/node_modules (node-zookeeper-client for test_client_node.py)
# with `npm ci` from the npm registry, when missing or when package-lock.json changed.
#
# And fetches Apache ZooKeeper 3.9.5 from Maven Central into target/zk-3.9.5/lib/ (the
# "zk39" ensemble member kind, compat-tests/ensemble.py): org.apache.zookeeper:zookeeper
# and its runtime dependencies, plus slf4j-simple (the binding for its slf4j-api 2.0, as
# the 3.8 kind logs through Debian's slf4j-simple), with `mvn dependency:copy-dependencies`
# on a generated pom (+ metrics-core and snappy-java, "provided" in its pom, shipped in its
# server distribution, and Jetty + Jackson for its AdminServer); skipped when target/zk-3.9.5/lib/.complete is there.
# Likewise Kafka 3.9.1 (ZooKeeper mode) into target/kafka-3.9/lib/ for the Kafka broker tests.
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
  python3-pure-sasl
  python3-pytest
  python3-pytest-timeout
  python3-pytest-xdist
  python3-prometheus-client
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
# npm installs the Node client (below); any Node >= 18 will do.
if ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi
# Maven fetches ZooKeeper 3.9.5 (below); any mvn >= 3.6 will do.
if ! command -v mvn >/dev/null 2>&1; then
  PKGS+=(maven)
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
  /usr/bin/python3 -c 'import kazoo, pytest, xdist, prometheus_client' || { echo "install-deps: kazoo/pytest/xdist not importable by /usr/bin/python3" >&2; exit 1; }
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

# target/goclient (tools/goclient: github.com/go-zookeeper/zk, pinned in its go.sum),
# rebuilt only when a source is newer than the binary.
build_goclient() {
  local out=target/goclient
  if [[ -x "$out" ]] && [[ -z $(find tools/goclient -newer "$out" \( -name '*.go' -o -name go.mod -o -name go.sum \) -print -quit) ]]; then
    echo "install-deps: $out up to date"
    return
  fi
  mkdir -p target
  (cd tools/goclient && go build -o "../../$out.tmp" . && mv "../../$out.tmp" "../../$out")
  echo "install-deps: built $out"
}

# tools/nodeclient/node_modules by `npm ci` (exactly package-lock.json), again only when
# the lock's hash differs from the one recorded after the last install.
install_nodeclient() {
  local dir=tools/nodeclient stamp=tools/nodeclient/node_modules/.lock-sha256 sum
  sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$sum" ]]; then
    echo "install-deps: $dir/node_modules up to date"
    return
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$sum" >"$stamp"
  echo "install-deps: installed $dir/node_modules"
}

# fetch_maven DIR WHAT POM JAR...: DIR/lib/*.jar from Maven Central, once: the runtime
# dependencies of the generated POM, by `mvn dependency:copy-dependencies`. The
# DIR/lib/.complete stamp is written last, so a failed or interrupted fetch leaves no lib/
# behind and is retried next time; DIR/pom.xml records the POM it came from, so a machine
# with an older lib fetches again when the POM below changes. Each JAR (a glob) must be
# among the fetched jars. WHAT names the fetch in messages. With ONE_ZOOKEEPER_JAR=1,
# exactly one zookeeper-<version>.jar must be among them.
fetch_maven() {
  local dir=$1 what=$2 pom=$3 j
  shift 3
  if [[ -f "$dir/lib/.complete" ]] && [[ "$(cat "$dir/pom.xml" 2>/dev/null)" == "$pom" ]]; then
    echo "install-deps: $dir/lib present"
    return
  fi
  command -v mvn >/dev/null 2>&1 || { echo "install-deps: mvn not found (needed for $what)" >&2; exit 1; }
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '%s\n' "$pom" >"$dir/pom.xml"
  # (sed: maven's -q output is otherwise a few bare colour resets; pipefail keeps its status)
  if ! mvn -B -q -Dstyle.color=never -f "$dir/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
         -DincludeScope=runtime -DoutputDirectory="$PWD/$dir/lib.tmp" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'; then
    rm -rf "$dir/lib.tmp"
    echo "install-deps: could not fetch $what from Maven Central (mvn failed)" >&2
    exit 1
  fi
  for j in "$@"; do
    compgen -G "$dir/lib.tmp/$j" >/dev/null || { echo "install-deps: $j missing after the Maven fetch" >&2; exit 1; }
  done
  if [[ ${ONE_ZOOKEEPER_JAR:-0} == 1 ]] && [[ $(compgen -G "$dir/lib.tmp/zookeeper-[0-9]*.jar" | wc -l) -ne 1 ]]; then
    echo "install-deps: more than one zookeeper jar in $dir/lib.tmp" >&2
    exit 1
  fi
  mv "$dir/lib.tmp" "$dir/lib"
  touch "$dir/lib/.complete"
  echo "install-deps: fetched $what into $dir/lib ($(ls "$dir/lib" | wc -l) jars)"
}

# target/zk-3.9.5/lib/*.jar: ZooKeeper 3.9.5 for the "zk39" ensemble kind, plus
# PrometheusMetricsProvider (zookeeper-prometheus-metrics; 3.9.5's is not on the Maven
# mirror this project uses, 3.9.4's is, and the provider is the same in both) with the
# io.prometheus simpleclient jars, for compat-tests/test_prometheus.py. Only the
# provider's own jar and simpleclient*: its zookeeper 3.9.4 dependency is excluded, so
# there is one zookeeper jar.
ZK39_VERSION=3.9.5
ZK39_SLF4J=2.0.13  # = the slf4j-api version zookeeper 3.9.5 depends on
ZK39_PROMETHEUS=3.9.4
fetch_zk39() {
  local pom
  pom=$(cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- generated by scripts/install-deps.sh: the jars of ZooKeeper $ZK39_VERSION for the "zk39" ensemble kind -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ferrokeeper</groupId>
  <artifactId>zk39-deps</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <!-- versions of what zookeeper's pom has as "provided" (its server distribution ships
       them) from ZooKeeper's own parent pom -->
  <dependencyManagement>
    <dependencies>
      <dependency><groupId>org.apache.zookeeper</groupId><artifactId>parent</artifactId><version>$ZK39_VERSION</version>
        <type>pom</type><scope>import</scope></dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>$ZK39_VERSION</version></dependency>
    <!-- provided there: the server's metrics (needed at start) and snappy snapshot compression -->
    <dependency><groupId>io.dropwizard.metrics</groupId><artifactId>metrics-core</artifactId></dependency>
    <dependency><groupId>org.xerial.snappy</groupId><artifactId>snappy-java</artifactId></dependency>
    <!-- provided there too: the AdminServer (Jetty + Jackson), for the AdminServer comparison -->
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-server</artifactId></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-servlet</artifactId></dependency>
    <dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-databind</artifactId></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>$ZK39_SLF4J</version></dependency>
    <!-- /metrics (PrometheusMetricsProvider, served through the Jetty above) and the
         simpleclient jars it uses; not its zookeeper, Jetty or slf4j -->
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper-prometheus-metrics</artifactId><version>$ZK39_PROMETHEUS</version>
      <exclusions>
        <exclusion><groupId>org.apache.zookeeper</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.eclipse.jetty</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>org.slf4j</groupId><artifactId>*</artifactId></exclusion>
      </exclusions></dependency>
  </dependencies>
</project>
EOF
)
  ONE_ZOOKEEPER_JAR=1 fetch_maven target/zk-$ZK39_VERSION "ZooKeeper $ZK39_VERSION" "$pom" \
    zookeeper-$ZK39_VERSION.jar zookeeper-jute-$ZK39_VERSION.jar metrics-core-*.jar jetty-server-*.jar \
    jackson-databind-*.jar slf4j-api-$ZK39_SLF4J.jar slf4j-simple-$ZK39_SLF4J.jar \
    zookeeper-prometheus-metrics-$ZK39_PROMETHEUS.jar simpleclient-*.jar simpleclient_common-*.jar \
    simpleclient_hotspot-*.jar simpleclient_servlet-*.jar
}

# target/curator-5.9/lib/*.jar: Apache Curator 5.9.0 (recipes, framework, client,
# x-discovery, x-async) with the ZooKeeper 3.9.5 Java client pinned (a direct dependency
# wins over the 3.9.3 Curator's own pom asks for) and slf4j-simple, for
# compat-tests/test_client_curator59.py. The pinned client is the only zookeeper jar.
CURATOR59_VERSION=5.9.0
fetch_curator59() {
  local pom a deps=""
  for a in curator-recipes curator-framework curator-client curator-x-discovery curator-x-async; do
    deps+="    <dependency><groupId>org.apache.curator</groupId><artifactId>$a</artifactId><version>$CURATOR59_VERSION</version></dependency>"$'\n'
  done
  pom=$(cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- generated by scripts/install-deps.sh: Curator $CURATOR59_VERSION with the ZooKeeper $ZK39_VERSION client -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ferrokeeper</groupId>
  <artifactId>curator59-deps</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
$deps    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>$ZK39_VERSION</version></dependency>
    <!-- Curator's pom asks for slf4j-api 1.7.25, zookeeper's for 2.0: the latter, to match slf4j-simple 2.0 -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$ZK39_SLF4J</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>$ZK39_SLF4J</version></dependency>
  </dependencies>
</project>
EOF
)
  ONE_ZOOKEEPER_JAR=1 fetch_maven target/curator-5.9 "Curator $CURATOR59_VERSION" "$pom" \
    curator-recipes-$CURATOR59_VERSION.jar curator-framework-$CURATOR59_VERSION.jar \
    curator-client-$CURATOR59_VERSION.jar curator-x-discovery-$CURATOR59_VERSION.jar \
    curator-x-async-$CURATOR59_VERSION.jar zookeeper-$ZK39_VERSION.jar zookeeper-jute-$ZK39_VERSION.jar \
    slf4j-api-$ZK39_SLF4J.jar slf4j-simple-$ZK39_SLF4J.jar
}

# target/kafka-3.9/lib/*.jar: Kafka 3.9 -- the last Kafka line that runs on ZooKeeper --
# for the Kafka broker tests (compat-tests/test_client_kafka.py): org.apache.kafka:kafka_2.13
# (the broker, kafka.Kafka, and through it kafka-clients: AdminClient, producer, consumer)
# with its runtime dependencies (its own ZooKeeper client among them), plus reload4j and
# slf4j-reload4j, the logging its distribution ships (its slf4j-api is 1.7).
KAFKA39_VERSION=3.9.1
KAFKA39_SLF4J=1.7.36  # = the slf4j-api version kafka_2.13 3.9.1 depends on
KAFKA39_RELOAD4J=1.2.25
fetch_kafka39() {
  local pom
  pom=$(cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- generated by scripts/install-deps.sh: the jars of Kafka $KAFKA39_VERSION (ZooKeeper mode) for compat-tests/test_client_kafka.py -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ferrokeeper</groupId>
  <artifactId>kafka39-deps</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA39_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$KAFKA39_SLF4J</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>$KAFKA39_RELOAD4J</version></dependency>
  </dependencies>
</project>
EOF
)
  fetch_maven target/kafka-3.9 "Kafka $KAFKA39_VERSION" "$pom" \
    kafka_2.13-$KAFKA39_VERSION.jar kafka-clients-$KAFKA39_VERSION.jar kafka-server-common-$KAFKA39_VERSION.jar \
    zookeeper-*.jar scala-library-*.jar slf4j-api-$KAFKA39_SLF4J.jar slf4j-reload4j-$KAFKA39_SLF4J.jar \
    reload4j-$KAFKA39_RELOAD4J.jar
}

# target/promtool: `promtool` from Debian's prometheus package (compat-tests/
# test_alert_rules.py runs `promtool check rules` / `promtool test rules` on
# monitoring/prometheus/). Only the binary is extracted (`apt-get download` + dpkg-deb):
# installing the package would start a Prometheus service on the machine.
fetch_promtool() {
  local out=target/promtool tmp
  if [[ -x "$out" ]]; then
    echo "install-deps: $out present"
    return
  fi
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    local sudo=()
    [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    "${sudo[@]}" apt-get update >/dev/null
    (cd "$tmp" && apt-get download prometheus)
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  mkdir -p target
  cp "$tmp/x/usr/bin/promtool" "$out.tmp" && mv "$out.tmp" "$out"
  rm -rf "$tmp"
  "$out" --version >/dev/null || { echo "install-deps: $out does not run" >&2; exit 1; }
  echo "install-deps: extracted $out"
}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all packages present"
else
  install_packages
fi
build_lincheck
build_goclient
install_nodeclient
fetch_zk39
fetch_curator59
fetch_kafka39
fetch_promtool
echo "install-deps: done"
