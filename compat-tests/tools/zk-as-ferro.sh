#!/usr/bin/env bash
# Self-test helper: behaves like `ferrokeeper zoo.cfg` but runs Apache ZooKeeper.
#   FERROKEEPER_BIN=compat-tests/tools/zk-as-ferro.sh scripts/test.sh
# lets the "ferro" half of the suite (and the differential comparison machinery)
# be exercised before ferrokeeper exists: every test should then pass on both sides.
# A zoo.cfg with server.N lines (an ensemble member, compat-tests/ensemble.py) runs
# QuorumPeerMain, as the ensemble harness runs a Java member.
set -euo pipefail
cfg="$1"
interval=$(sed -n 's/^znode\.container\.checkIntervalMs=//p' "$cfg" | tail -1)
main=org.apache.zookeeper.server.ZooKeeperServerMain
if grep -q '^server\.[0-9]' "$cfg"; then
  main=org.apache.zookeeper.server.quorum.QuorumPeerMain
fi
exec java -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dznode.container.checkIntervalMs="${interval:-60000}" \
  -Dzookeeper.fastleader.maxNotificationInterval=2000 \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-simple.jar \
  "$main" "$cfg"
