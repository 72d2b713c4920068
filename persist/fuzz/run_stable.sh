#!/usr/bin/env bash
# Runs a fuzz target with libFuzzer on the stable toolchain (no cargo-fuzz,
# no sanitizer; coverage instrumentation only).
#   persist/fuzz/run_stable.sh decode_log [seconds]
# Crashes land in persist/fuzz/artifacts/, new inputs in corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?usage: run_stable.sh decode_log|decode_entry|decode_entry_ref [seconds]}"
secs="${2:-60}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares \
  --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros.
cargo build --release --target "$triple" --target-dir target/stable --bin "$target"
mkdir -p "corpus/$target" artifacts
exec "target/stable/$triple/release/$target" -max_total_time="$secs" \
  -artifact_prefix=artifacts/ "corpus/$target" "seeds/$target"
