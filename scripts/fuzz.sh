#!/usr/bin/env bash
# Fuzzes the code that reads untrusted input, with cargo fuzz (libFuzzer,
# AddressSanitizer): the request decoder, the TSIG verifier, the UPDATE
# evaluator and the zone-file parser (fuzz/fuzz_targets/). Each target runs
# for SECONDS from its committed seeds (fuzz/corpus/TARGET/) and every
# earlier crash (fuzz/regressions/TARGET/); what it learns goes to a
# temporary corpus, so the tree stays as committed.
#
# Usage: scripts/fuzz.sh [-t SECONDS] [TARGET...]   (default: 60 s, all four)
#
# Bounds, per input: no panic, at most 10 s, no single allocation over
# 512 MiB (-malloc_limit_mb) and at most 2048 MiB resident (-rss_limit_mb).
# A run that finds a crash (or a timeout or an allocation over the bound)
# fails; its input is copied to fuzz/regressions/TARGET/ to be committed
# with the fix, and is replayed by every later run.
#
# Stable Rust only: cargo fuzz passes flags the stable compiler keeps for
# nightly (-Zsanitizer=address and friends); RUSTC_BOOTSTRAP=1 lets it take
# them. cargo-fuzz is installed from crates.io when missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

usage() { sed -n '9p' "$0" | sed 's/^# //' >&2; }

seconds=60
while getopts "t:h" opt; do
    case $opt in
        t) seconds=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz.sh: -t wants a whole number of seconds, not '$seconds'" >&2
    exit 2
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(request tsig_verify update_eval zonefile)
fi

start=$SECONDS
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    if [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-fuzz" ]]; then
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    else
        echo "fuzz.sh: installing cargo-fuzz (cargo install --locked cargo-fuzz)"
        cargo install --locked cargo-fuzz
    fi
fi

# The fuzz crate builds from its committed Cargo.lock, as the main one does.
(cd fuzz && cargo metadata --locked --format-version 1 >/dev/null)

built=$SECONDS
cargo fuzz build
echo "fuzz.sh: built in $((SECONDS - built)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    rm -rf "fuzz/artifacts/$t"
    dirs=("$work/$t" "$root/fuzz/corpus/$t")
    [[ -d fuzz/regressions/$t ]] && dirs+=("$root/fuzz/regressions/$t")
    echo "fuzz.sh: $t for ${seconds} s"
    log="$work/$t.log"
    status=0
    cargo fuzz run "$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    if [[ $status -eq 0 ]]; then
        grep -E '^(INFO: Seed|Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
        continue
    fi
    tail -n 150 "$log"
    failed+=("$t")
    mkdir -p "fuzz/regressions/$t"
    for f in "fuzz/artifacts/$t"/*; do
        [[ -f $f ]] && cp "$f" "fuzz/regressions/$t/"
    done
    echo "fuzz.sh: $t failed (exit $status); its inputs are in fuzz/regressions/$t/: fix the bug, commit them" >&2
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each, no crash (in $((SECONDS - start)) s, install and build included)"
