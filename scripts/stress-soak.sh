#!/usr/bin/env bash
# Stress soak (docs/TESTING.md, "Stress tests"): the stress tests
# (tests/all/stress.rs) at full size, then the economy application's load
# generator (`interstice app-load`) for a while with periodic SIGKILLs,
# checking after each kill that every acknowledged action survived
# (`app-load --verify-only`), and at the end `check-log` and
# `replay-check` of every data directory used.
#
#   scripts/stress-soak.sh [SECONDS]
#
# SECONDS of load (default 3600). Settings (environment):
#   PROFILE=release|debug   build profile (default release)
#   SKIP_TESTS=1            skip the stress tests, only the load soak
#   BIN=PATH                the interstice binary to soak (default: the one
#                           the build below makes; with BIN nothing is built)
#   PLAYERS=N               simulated players per run (default 32)
#   KILL_MIN=S KILL_MAX=S   a run is killed after S seconds, uniformly in
#                           [KILL_MIN, KILL_MAX] (default 5 and 25)
#   RUNS_PER_DIR=N          runs per data directory (default 40, at most
#                           254): each run first replays the directory's
#                           whole log, which grows, so the soak moves on to
#                           a fresh directory now and then
#   WORK=DIR                where the data directories go (default a new
#                           temporary directory, kept on failure)
#   INTERSTICE_STRESS_*     the test sizes (defaults below: full size)
# Each run plays under its own --phase (1..255: the names and nonces of one
# data directory's runs must differ), hence at most 254 killed runs per
# directory. Prints one line per run and a summary; exits 1 at the first
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3600}"
profile="${PROFILE:-release}"
players="${PLAYERS:-32}"
kill_min="${KILL_MIN:-5}"
kill_max="${KILL_MAX:-25}"
runs_per_dir="${RUNS_PER_DIR:-40}"
(( runs_per_dir >= 1 && runs_per_dir <= 254 )) || { echo "RUNS_PER_DIR is 1 to 254"; exit 2; }
profile_args=()
if [[ "$profile" == "release" ]]; then
    profile_args=(--release)
fi
bin="${BIN:-target/$profile/interstice}"

work="${WORK:-$(mktemp -d -t interstice-soak.XXXXXX)}"
mkdir -p "$work"
fail() {
    echo "FAIL: $*"
    echo "kept $work"
    exit 1
}

if [[ -z "${SKIP_TESTS:-}" ]]; then
    export INTERSTICE_STRESS_COMMITS="${INTERSTICE_STRESS_COMMITS:-10000000}"
    export INTERSTICE_STRESS_ROWS="${INTERSTICE_STRESS_ROWS:-10000000}"
    export INTERSTICE_STRESS_EVENTS="${INTERSTICE_STRESS_EVENTS:-10000}"
    export INTERSTICE_STRESS_PAIRS="${INTERSTICE_STRESS_PAIRS:-32}"
    export INTERSTICE_STRESS_ROUNDS="${INTERSTICE_STRESS_ROUNDS:-5000}"
    export INTERSTICE_STRESS_CYCLES="${INTERSTICE_STRESS_CYCLES:-1000}"
    echo "=== stress tests ($profile): commits=$INTERSTICE_STRESS_COMMITS rows=$INTERSTICE_STRESS_ROWS" \
        "events=$INTERSTICE_STRESS_EVENTS pairs=$INTERSTICE_STRESS_PAIRS rounds=$INTERSTICE_STRESS_ROUNDS cycles=$INTERSTICE_STRESS_CYCLES"
    start=$(date +%s)
    # One test at a time, so that the memory figures are the test's own.
    if ! cargo test -p interstice-cli "${profile_args[@]}" --test all stress:: -- \
        --nocapture --test-threads=1 >"$work/stress-tests.log" 2>&1; then
        tail -n 60 "$work/stress-tests.log"
        fail "the stress tests failed (whole output in $work/stress-tests.log)"
    fi
    grep -E '^(stress |test stress|test result|ok$)' "$work/stress-tests.log"
    echo "=== stress tests passed in $(( $(date +%s) - start )) s"
fi

# The binary the tests use (built with the test build's features, so that
# it is not rebuilt after the tests ran).
if [[ -z "${BIN:-}" ]]; then
    cargo test -p interstice-cli "${profile_args[@]}" --test all --no-run
fi
echo "=== load soak: ${seconds} s of app-load ($players players), SIGKILL every ${kill_min}-${kill_max} s, in $work"

dir_no=1
phase=0
runs=0
kills=0
dirs=()
# A fresh data directory, the economy installed by a first short run
# (phase 1) that is not killed.
new_dir() {
    data="$work/data$dir_no"
    acks="$work/acks$dir_no.jsonl"
    dirs+=("$data")
    "$bin" app-load -d "$data" --players "$players" --seconds 1 --phase 1 --acks "$acks" \
        >"$work/run.out" 2>&1 || { cat "$work/run.out"; fail "installing the economy in $data"; }
    phase=1
}
new_dir
end=$(( $(date +%s) + seconds ))
while (( $(date +%s) < end )); do
    if (( phase > runs_per_dir )); then
        dir_no=$((dir_no + 1))
        new_dir
    fi
    phase=$((phase + 1))
    runs=$((runs + 1))
    before=$(wc -l <"$acks")
    left=$(( end - $(date +%s) ))
    after=$(( kill_min + RANDOM % (kill_max - kill_min + 1) ))
    (( after > left )) && after=$(( left > 1 ? left : 1 ))
    # Play longer than the kill comes, so every run is killed mid-play.
    "$bin" app-load -d "$data" --players "$players" --seconds $((after + 60)) \
        --phase "$phase" --acks "$acks" >"$work/run.out" 2>"$work/run.err" &
    pid=$!
    sleep "$after"
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
        kills=$((kills + 1))
        how="SIGKILL after ${after} s"
    else
        how="exited by itself"
    fi
    wait "$pid" 2>/dev/null || true
    if [[ "$how" == "exited by itself" ]] && ! grep -q "actions acknowledged" "$work/run.out"; then
        cat "$work/run.err"
        fail "run $runs (phase $phase) exited without playing"
    fi
    out=$("$bin" app-load -d "$data" --acks "$acks" --verify-only 2>&1) ||
        fail "run $runs (phase $phase), $how: $out"
    now=$(wc -l <"$acks")
    echo "run $runs: dir $dir_no phase $phase, $how, +$((now - before)) acks; $out"
    before=$now
done

echo "=== final checks"
for d in "${dirs[@]}"; do
    "$bin" check-log "$d" >/dev/null || fail "check-log $d"
    rc=$("$bin" replay-check "$d" 2>&1) || fail "replay-check $d: $rc"
    rc=$(head -n 1 <<<"$rc")
    echo "$d: check-log clean; replay-check: $rc"
done
acked=0
for f in "$work"/acks*.jsonl; do
    acked=$(( acked + $(wc -l <"$f") ))
done
echo "=== soak passed: $runs runs, $kills SIGKILLs, $acked acknowledged actions checked, ${#dirs[@]} data directories"
if [[ -z "${WORK:-}" ]]; then
    rm -rf "$work"
fi
