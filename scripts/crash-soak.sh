#!/usr/bin/env bash
# Crash soak: runs the model-based crash test (tests/all/crash.rs,
# `model_based_crash_points`) over many crash points, each seed a fresh set
# of random workloads, faults and crashes.
#
#   scripts/crash-soak.sh [POINTS] [ROUNDS]
#
# POINTS crash points per round (default 5000), ROUNDS rounds (default 1),
# each with a new random seed (or INTERSTICE_CRASH_SEED for the first one).
# A failure prints the seed and the point; reproduce it with
#   INTERSTICE_CRASH_SEED=S INTERSTICE_CRASH_ONLY=N \
#     cargo test -p interstice-cli --test all crash::model_based_crash_points -- --nocapture
# Set PROFILE=release for a faster (optimised) build.
set -euo pipefail
cd "$(dirname "$0")/.."
points="${1:-5000}"
rounds="${2:-1}"
profile_args=()
if [[ "${PROFILE:-debug}" == "release" ]]; then
    profile_args=(--release)
fi
# Build once.
cargo test -p interstice-cli --test all "${profile_args[@]}" --no-run
for ((r = 1; r <= rounds; r++)); do
    if [[ $r -eq 1 && -n "${INTERSTICE_CRASH_SEED:-}" ]]; then
        seed="$INTERSTICE_CRASH_SEED"
    else
        seed=$(( (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM ))
    fi
    printf '=== round %d/%d: %d crash points, INTERSTICE_CRASH_SEED=%d\n' "$r" "$rounds" "$points" "$seed"
    INTERSTICE_CRASH_POINTS="$points" INTERSTICE_CRASH_SEED="$seed" \
        cargo test -p interstice-cli --test all "${profile_args[@]}" \
        crash::model_based_crash_points -- --exact --nocapture
done
