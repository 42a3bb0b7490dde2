#!/usr/bin/env bash
# Builds the fuzzer and runs one target (see Fuzz/README.md).
#
#   Fuzz/run.sh KIND [SECONDS]      fuzz KIND for SECONDS (default 300), then merge the inputs
#                                   that reach new code into Fuzz/Corpus/KIND
#   Fuzz/run.sh KIND --minimize     rewrite Fuzz/Corpus/KIND as the smallest set of its inputs
#                                   that reaches the same code (seed-*, regression-* and finding-* kept)
#   Fuzz/run.sh KIND --replay FILE  run one input (a crash, say) with a Swift backtrace
#
# KIND: header, description, writer, readers, records, registry, layout. ASAN=1 adds
# AddressSanitizer (its own build, .build-fuzz-asan). FUZZ_FLAGS adds libFuzzer flags.
# Crashes, hangs and timeouts are saved under .build-fuzz*/findings/KIND/.
set -euo pipefail

kinds="header description writer readers records registry layout"
kind=${1:-}
if [[ -z $kind || " $kinds " != *" $kind "* ]]; then
    echo "usage: Fuzz/run.sh KIND [SECONDS | --minimize | --replay FILE]; KIND is one of: $kinds" >&2
    exit 64
fi
mode=${2:-300}

cd "$(dirname "$0")/.."
corpus=Fuzz/Corpus/$kind
mkdir -p "$corpus"

# libFuzzer's runtime without its `main` (SwiftPM gives the fuzzer a main of its own).
swiftc=$(readlink -f "$(command -v swiftc)")
runtime=$(ls "$(dirname "$swiftc")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)
if [[ -z $runtime ]]; then
    echo "run.sh: this toolchain has no libclang_rt.fuzzer_no_main-x86_64.a (next to $swiftc)" >&2
    exit 1
fi
runtime=$(readlink -f "$runtime")

scratch=.build-fuzz
if [[ ${ASAN:-0} == 1 ]]; then scratch=.build-fuzz-asan; fi
CBUFF_FUZZ=1 CBUFF_FUZZ_ASAN=${ASAN:-0} CBUFF_FUZZ_RUNTIME=$runtime \
    swift build -c release --scratch-path "$scratch" --product cbuff-fuzz >&2
fuzzer=$scratch/release/cbuff-fuzz

# The largest input worth making: the selector byte and the part of the file the kind covers.
case $kind in
    header) max_len=1025 ;;
    description) max_len=633 ;;
    writer) max_len=257 ;;
    readers) max_len=3073 ;;
    records) max_len=4097 ;;
    registry) max_len=600 ;;
    layout) max_len=4096 ;;
esac

# The workspaces (a data directory each) live here, and go at the end. The fuzzer's own
# corpus (every input that reached a new feature: thousands) stays in the build folder from run
# to run; only those that reach new code (edges, not hit counts) join the checked-in corpus.
# In memory when it can (/dev/shm): the registry's commits are then no disk writes, 4x the rate.
scratch_parent=${TMPDIR:-/tmp}
if [[ -d /dev/shm && -w /dev/shm ]]; then scratch_parent=/dev/shm; fi
work=$(mktemp -d "$scratch_parent/cbuff-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
findings=$scratch/findings/$kind
working=$scratch/corpus/$kind
mkdir -p "$findings" "$working"

run() {
    # The Swift runtime's backtracer would catch a trap before libFuzzer saves the input.
    SWIFT_BACKTRACE=enable=no CBUFF_FUZZ_KIND=$kind CBUFF_FUZZ_WORKDIR=$work "$fuzzer" "$@"
}

# Merging checks every promise, known findings included (CBUFF_FUZZ_IGNORE is for fuzzing
# only): an input that breaks one never joins the corpus (libFuzzer's merge skips a crash).
merge() {
    CBUFF_FUZZ_IGNORE= run -merge=1 -use_counters=0 -max_len=$max_len -artifact_prefix="$findings/" "$@"
}

case $mode in
    --replay)
        file=${3:?usage: Fuzz/run.sh KIND --replay FILE}
        CBUFF_FUZZ_KIND=$kind CBUFF_FUZZ_WORKDIR=$work "$fuzzer" -runs=1 "$file"
        ;;
    --minimize)
        mkdir -p "$work/minimal"
        cp "$corpus"/seed-* "$corpus"/regression-* "$corpus"/finding-* "$work/minimal/" 2>/dev/null || true
        merge "$work/minimal" "$corpus" 2>"$work/merge.log" || { tail -20 "$work/merge.log" >&2; exit 1; }
        before=$(ls "$corpus" | wc -l)
        rm -f "$corpus"/*
        cp "$work/minimal"/* "$corpus/"
        echo "run.sh: $kind corpus minimized from $before to $(ls "$corpus" | wc -l) inputs"
        ;;
    *)
        seconds=$mode
        status=0
        run -max_total_time="$seconds" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$findings/" ${FUZZ_FLAGS:-} "$working" "$corpus" 2>"$work/fuzz.log" || status=$?
        grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added)|ERROR|VIOLATION|Fatal error|artifact" "$work/fuzz.log" || true
        grep -E "^#[0-9]+" "$work/fuzz.log" | tail -1 || true
        if [[ $status != 0 ]]; then
            tail -40 "$work/fuzz.log" >&2
            echo "run.sh: the fuzzer stopped with status $status; the input is in $findings/ (replay it with: Fuzz/run.sh $kind --replay FILE)" >&2
        fi
        before=$(ls "$corpus" | wc -l)
        merge "$corpus" "$working" 2>"$work/merge.log" || { tail -20 "$work/merge.log" >&2; exit 1; }
        echo "run.sh: $kind: $(( $(ls "$corpus" | wc -l) - before )) new inputs merged into $corpus ($(ls "$corpus" | wc -l) in all)"
        exit $status
        ;;
esac
