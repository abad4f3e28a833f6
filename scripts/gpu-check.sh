#!/usr/bin/env bash
# GPU check of the resident ONNX Runtime decoder (runtime-onnx, package io.github.kvpolicy.runtime.ort).
#
#   scripts/gpu-check.sh prepare [KIT=.gpu/kit]
#       on the development machine: builds runtime-onnx and copies its jar and runtime dependencies into KIT
#       (ONNX Runtime's own jar only into KIT/cpu-only: on the GPU machine the bundle's classes and natives are used)
#   scripts/gpu-check.sh run [--device cuda|cpu] [--kit KIT] [--work DIR] [--limit-s 450] [--bench-preset P]
#                            [--bench-lengths 512,2048] [--bench-steps 24] [--out DIR]
#       runs io.github.kvpolicy.runtime.bench.GpuCheck (= ort.OrtGpuCheck plus one check): binding self-check, provider
#       check, the resident decoder against the Java-API path on a random preset and the testbed model, the fp16-kv
#       and fp16 resident decoders against the fp32 one on both (steps "fp16-kv tiny", "fp16-kv testbed", "fp16 tiny",
#       "fp16 testbed": greedy tokens equal, max |logit diff| / max |logit| <= 2e-2 / 1e-1), a
#       GenerationSession (the production path, with a compaction) on the device against the same request on the CPU,
#       the production benchmark grid with each row's bandwidth bound ("bench grid": small-100m fp16, prompts 2048/8192,
#       batch 1/8, kept 100/10%, on CUDA), then the decode benchmark on the fp32 and the fp16 build (tables
#       bench-DEVICE.md, bench-DEVICE-fp16.md; the grid's table is in the log).
#       --device cpu is the dry run of the same path on a machine without a GPU.
#
# On the GPU machine (see /work/shared/gpu/README.md): assemble the bundle, `. /opt/stage/env.sh` (sets JAVA_HOME,
# LD_LIBRARY_PATH, ORT_CLASSES and -Donnxruntime.native.path), then `scripts/gpu-check.sh run --device cuda`.
# Exit status: 0 all checks passed; 1 a check failed; 2 bad usage or missing prerequisites; 124 the time limit hit.
# Every failure ends with one line starting "gpu-check: FAILED".
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "gpu-check: FAILED: $1" >&2; exit "${2:-2}"; }

cmd=${1:-}
[ -n "$cmd" ] || die "usage: $0 prepare [KIT] | run [--device cuda|cpu] [--kit KIT] [--work DIR] [--limit-s S] [--bench-preset P] [--bench-lengths L] [--bench-steps N] [--out DIR]"
shift

case "$cmd" in
prepare)
  kit=${1:-$here/.gpu/kit}
  [ -n "${JAVA_HOME:-}" ] || die "set JAVA_HOME to a JDK 25 (e.g. /usr/lib/jvm/temurin-25-jdk-amd64)"
  cd "$here"
  marker=.kvpolicy-gpu-kit   # only folders carrying it (made here) are ever replaced
  for d in "$kit" "$kit.tmp"; do
    [ ! -e "$d" ] || [ -f "$d/$marker" ] || die "$d exists and was not made by this script; name another folder"
  done
  rm -rf "$kit.tmp" && mkdir -p "$kit.tmp/lib" "$kit.tmp/cpu-only" && touch "$kit.tmp/$marker"
  # the runtime class path of runtime-onnx resolved inside this reactor: this tree's modules as the jars just
  # packaged (never ~/.m2, which may hold another checkout's build), third-party jars from the local repository
  ./mvnw -B -o -q package dependency:build-classpath -pl runtime-onnx -am -DskipTests -DincludeScope=runtime \
    -Dmdep.outputFile=target/kit-classpath.txt
  tr ':' '\n' < runtime-onnx/target/kit-classpath.txt | while read -r f; do
    [ -f "$f" ] || die "class path entry $f is not a jar file"
    case "$(basename "$f")" in
      onnxruntime-*.jar) cp "$f" "$kit.tmp/cpu-only/" ;;   # the GPU machine uses the bundle's classes instead
      onnxruntime_gpu-*.jar) ;;
      *) cp "$f" "$kit.tmp/lib/" ;;
    esac
  done
  for j in runtime-onnx/target/kvpolicy-runtime-onnx-*.jar; do
    case "$j" in *-sources.jar|*-tests.jar|*-javadoc.jar) ;; *) cp "$j" "$kit.tmp/lib/" ;; esac
  done
  rm -rf "$kit" && mv "$kit.tmp" "$kit"
  echo "kit ready in $kit ($(du -sh "$kit/lib" | cut -f1) in lib/, which the GPU run needs; cpu-only/ is for the --device cpu dry run)"
  ;;
run)
  device=cuda kit=$here/.gpu/kit work=${TMPDIR:-/tmp}/kvpolicy-gpu-check limit=450 out=$here/.gpu/out
  bench_preset=small-100m bench_lengths=512,2048 bench_steps=24
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "flag $1 needs a value"
    case "$1" in
      --device) device=$2 ;;
      --kit) kit=$2 ;;
      --work) work=$2 ;;
      --limit-s) limit=$2 ;;
      --bench-preset) bench_preset=$2 ;;
      --bench-lengths) bench_lengths=$2 ;;
      --bench-steps) bench_steps=$2 ;;
      --out) out=$2 ;;
      *) die "unknown flag $1 (known: --device --kit --work --limit-s --bench-preset --bench-lengths --bench-steps --out)" ;;
    esac
    shift 2
  done
  case "$device" in cuda|cpu) ;; *) die "--device must be cuda or cpu, got '$device'" ;; esac
  [ -d "$kit/lib" ] || die "no kit at $kit: run '$0 prepare' on the development machine and carry the kit along"
  java=${JAVA_HOME:+$JAVA_HOME/bin/}java
  command -v "$java" >/dev/null || die "no java (JAVA_HOME=${JAVA_HOME:-unset}); on the GPU machine: . /opt/stage/env.sh"
  jv=$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [ "${jv%%.*}" -ge 25 ] 2>/dev/null || die "java $jv found, 25 needed"
  if [ "$device" = cuda ]; then
    [ -n "${ORT_CLASSES:-}" ] && [ -f "$ORT_CLASSES" ] || die "ORT_CLASSES does not name ONNX Runtime's GPU classes jar: . /opt/stage/env.sh first"
    case "${JAVA_TOOL_OPTIONS:-}" in *onnxruntime.native.path*) ;; *) die "JAVA_TOOL_OPTIONS lacks -Donnxruntime.native.path (the GPU natives): . /opt/stage/env.sh first" ;; esac
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "gpu-check: nvidia-smi not found (continuing)"
    ort=$ORT_CLASSES
  else
    ort=$(ls "$kit"/cpu-only/onnxruntime-*.jar 2>/dev/null | head -1)
    [ -n "$ort" ] || die "no ONNX Runtime CPU jar in $kit/cpu-only"
  fi
  testbed=$here/testbed/model
  tb_args=()
  [ -f "$testbed/config.json" ] && tb_args=(--testbed "$testbed")
  mkdir -p "$out" "$work"
  cp="$ort:$(ls "$kit"/lib/*.jar | tr '\n' ':')"
  echo "gpu-check: device $device, limit ${limit}s, work $work, results $out"
  set +e
  timeout --kill-after=10 "$limit" "$java" -Xmx8g --enable-native-access=ALL-UNNAMED -XX:ErrorFile="$out/hs_err_pid%p.log" -cp "$cp" io.github.kvpolicy.runtime.bench.GpuCheck \
    --device "$device" --work "$work" "${tb_args[@]}" --bench-preset "$bench_preset" --bench-lengths "$bench_lengths" \
    --bench-steps "$bench_steps" --bench-out "$out/bench-$device.md" 2>&1 | tee "$out/gpu-check-$device.log"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then die "time limit of ${limit}s reached (log: $out/gpu-check-$device.log)" 124; fi
  [ "$rc" -eq 0 ] || die "OrtGpuCheck exited with $rc (log: $out/gpu-check-$device.log)" "$rc"
  grep -q '^gpu-check: ALL PASSED' "$out/gpu-check-$device.log" || die "OrtGpuCheck exited 0 without its ALL PASSED line" 1
  echo "gpu-check: OK ($device); benchmark table in $out/bench-$device.md"
  ;;
*) die "unknown command '$cmd' (prepare or run)" ;;
esac
