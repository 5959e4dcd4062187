#!/usr/bin/env bash
# Self-test helper: behaves like `ferrokeeper zoo.cfg` but runs Apache ZooKeeper.
#   FERROKEEPER_BIN=compat-tests/tools/zk-as-ferro.sh scripts/test.sh
# lets the "ferro" half of the suite (and the differential comparison machinery)
# be exercised before ferrokeeper exists: every test should then pass on both sides.
set -euo pipefail
cfg="$1"
interval=$(sed -n 's/^znode\.container\.checkIntervalMs=//p' "$cfg" | tail -1)
exec java -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dznode.container.checkIntervalMs="${interval:-60000}" \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-simple.jar \
  org.apache.zookeeper.server.ZooKeeperServerMain "$cfg"
