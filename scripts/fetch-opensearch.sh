#!/usr/bin/env bash
# Resolves OpenSearch 2.19.6 (+ netty4 transport, analysis-common, log4j-core) from Maven Central into ~/.m2,
# compiles the LocalNode launcher into tools/opensearch-local/target/classes and writes the runtime classpath to
# tools/opensearch-local/target/classpath.txt. Idempotent: returns at once when everything is already in place.
# Needs: java (17) and mvn on PATH. Used by .ci/run and by src/stack/opensearch-node.ts when the classpath is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOL="$ROOT/tools/opensearch-local"
TARGET="$TOOL/target"
CP_FILE="$TARGET/classpath.txt"
CLASS_FILE="$TARGET/classes/dev/ingestbridge/opensearch/LocalNode.class"
SRC_FILE="$TOOL/src/main/java/dev/ingestbridge/opensearch/LocalNode.java"
POM="$TOOL/pom.xml"

up_to_date() {
  [[ -s "$CP_FILE" && -f "$CLASS_FILE" ]] || return 1
  [[ "$CP_FILE" -nt "$POM" && "$CLASS_FILE" -nt "$SRC_FILE" && "$CLASS_FILE" -nt "$POM" ]] || return 1
  local jar
  local IFS=':'
  for jar in $(cat "$CP_FILE"); do
    [[ -f "$jar" ]] || return 1
  done
  return 0
}

if [[ "${1:-}" != "--force" ]] && up_to_date; then
  echo "fetch-opensearch: up to date ($CP_FILE)" >&2
  exit 0
fi

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch-opensearch: '$tool' not found on PATH (Java 17 and Maven are needed: apt-get install -y openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
done

mkdir -p "$TARGET"
# Several processes may ask at once (parallel test files): one builds, the others wait and then find it done.
exec 9>"$TARGET/.fetch.lock"
flock 9
if [[ "${1:-}" != "--force" ]] && up_to_date; then
  echo "fetch-opensearch: up to date ($CP_FILE)" >&2
  exit 0
fi

echo "fetch-opensearch: resolving OpenSearch jars from Maven Central and compiling the launcher (first run only) ..." >&2
start=$SECONDS
log="$TARGET/fetch.log"
if ! mvn -B -q -Dstyle.color=never -f "$POM" compile dependency:build-classpath \
      -Dmdep.outputFile="$CP_FILE.tmp" >"$log" 2>&1; then
  echo "fetch-opensearch: mvn failed; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
mv -f "$CP_FILE.tmp" "$CP_FILE"
touch "$CLASS_FILE"
echo "fetch-opensearch: done in $((SECONDS - start))s ($(tr ':' '\n' <"$CP_FILE" | wc -l) jars)" >&2
