#!/usr/bin/env bash
# Runs the kvpolicy conformance suite against plugin JARs, each in its own child JVM (same java, this class path):
#   conformance-tests/validate.sh plugin.jar [more.jar ...] [--seed N|random] [--report-dir DIR] [--policy NAME] [--contract-only]
#       [--skip-level LEVEL=REASON] [--memory MB] [--check-timeout S] [--jar-timeout S] [--shutdown-grace S]
# (the parent JVM only starts, watches and judges the children, so it needs little heap; -Xmx applies to it only)
# Needs the module built (./mvnw -B -o -q install -pl conformance-tests -DskipTests) and JAVA_HOME pointing at a JDK 25.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cp_file="$here/target/validate.classpath"
if [ ! -f "$cp_file" ] || [ "$here/pom.xml" -nt "$cp_file" ]; then
  "$root/mvnw" -B -o -q -f "$here/pom.xml" dependency:build-classpath -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=runtime >&2
fi
java="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
exec "$java" -Xmx256m --enable-native-access=ALL-UNNAMED -cp "$here/target/classes:$(cat "$cp_file")" \
  io.github.kvpolicy.conformance.cli.Validate "$@"
