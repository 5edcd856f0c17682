#!/usr/bin/env bash
# Starts and stops the project's own Apache Kafka 3.9 broker: single-node KRaft, from Maven
# Central jars (tools/stack/kafka/pom.xml), run with java.
set -euo pipefail
source "$(dirname "$0")/common.sh"

KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$(dirname "$0")/kafka/pom.xml")"
jars="${KAFKA_JAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/order-service/kafka-$KAFKA_VERSION}"
data="$STACK_DIR/kafka"
pidfile="$data/broker.pid"
bootstrap="127.0.0.1:${KAFKA_PORT}"
# A second listener that asks for a user name and password (SASL PLAIN), as a managed cluster
# does: what the tests of KAFKA_CONFIG_FILE connect to.
sasl_bootstrap="127.0.0.1:$((KAFKA_PORT + 2))"
SASL_USER=orders
SASL_PASSWORD=orders-secret

usage() {
  cat <<USAGE
usage: tools/stack/kafka.sh start|stop|status|bootstrap|sasl
  start      fetch the Kafka ${KAFKA_VERSION} jars once (cached in ${jars}), format the KRaft
             storage on first use, start the broker on ${bootstrap}, wait until it answers, and
             make sure the topic 'orders' exists
  stop       stop it (SIGTERM, then SIGKILL after 30 s); fine when it is not running
  status     say whether it runs
  bootstrap  print ${bootstrap}
  sasl       print the listener that takes SASL PLAIN, its user and password:
             ${sasl_bootstrap} ${SASL_USER} ${SASL_PASSWORD}
Data lives in ${data} (STACK_DIR, KAFKA_PORT and KAFKA_JAR_CACHE change where).
USAGE
}

running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

fetch_jars() {
  if [[ -f "$jars/.complete" ]]; then return; fi
  say "resolving Kafka $KAFKA_VERSION from Maven Central into $jars"
  mkdir -p "$jars"
  mvn -q -B -f "$(dirname "$0")/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$jars" >&2
  touch "$jars/.complete"
}

kafka_java() { java -Xms256m -Xmx512m -Dlog4j.configuration="file:$data/log4j.properties" -cp "$jars/*" "$@"; }

configure() {
  mkdir -p "$data/logs"
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((KAFKA_PORT + 1))
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:$((KAFKA_PORT + 1)),SASL_PLAINTEXT://${sasl_bootstrap}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},SASL_PLAINTEXT://${sasl_bootstrap}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${SASL_USER}="${SASL_PASSWORD}";
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/logs
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
PROPS
  cat >"$data/log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.logger.kafka=INFO
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$data/broker.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
}

answers() { kcat -b "$bootstrap" -L -m 3 >/dev/null 2>&1; }

start() {
  require java mvn kcat
  fetch_jars
  configure
  if running; then
    say "already running at $bootstrap"
  else
    if [[ ! -f "$data/logs/meta.properties" ]]; then
      say "formatting KRaft storage in $data/logs"
      kafka_java kafka.tools.StorageTool format -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
        -c "$data/server.properties" >/dev/null
    fi
    say "starting Kafka $KAFKA_VERSION on $bootstrap"
    nohup java -Xms256m -Xmx512m -XX:+UseG1GC -Dlog4j.configuration="file:$data/log4j.properties" \
      -cp "$jars/*" kafka.Kafka "$data/server.properties" >"$data/stdout.log" 2>&1 &
    echo $! >"$pidfile"
  fi
  if ! wait_for 90 answers; then
    say "not answering after 90 s:"; tail -n 30 "$data/broker.log" "$data/stdout.log" >&2 || true
    stop; exit 1
  fi
  ensure_topic orders
  say "ready: $bootstrap"
  echo "$bootstrap"
}

ensure_topic() {
  if ! kcat -b "$bootstrap" -L -t "$1" -m 5 2>/dev/null | grep -q "topic \"$1\" with 3 partitions"; then
    kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create \
      --if-not-exists --topic "$1" --partitions 3 --replication-factor 1 >/dev/null
  fi
}

stop() {
  if running; then
    local pid
    pid="$(cat "$pidfile")"
    say "stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.3; done
    kill -0 "$pid" 2>/dev/null && { say "still running: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running at $bootstrap"; else echo "stopped"; exit 1; fi ;;
  bootstrap) echo "$bootstrap" ;;
  sasl) echo "$sasl_bootstrap $SASL_USER $SASL_PASSWORD" ;;
  --help|-h|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
