#!/usr/bin/env bash
# Fuzz every cargo-fuzz target for a bounded time each, keeping what was learnt.
#
#   fuzz/run.sh [fuzz]   fuzz each target (the default)
#   fuzz/run.sh list     print the targets, one a line
#   fuzz/run.sh cmin     minimise fuzz/work/<t> (with fuzz/corpus/<t>) into fuzz/corpus/<t>
#
#   SECONDS_PER_TARGET  seconds of fuzzing per target (default 20)
#   FUZZ_TARGETS        space-separated subset of targets (default: all)
#   FUZZ_SANITIZER      cargo-fuzz --sanitizer (default none: the library crates forbid
#                       unsafe code, so ASan only slows the run; set "address" to use it)
#   FUZZ_JOBS           parallel fuzzing processes per target (default 1; more uses
#                       libFuzzer's fork mode)
#   FUZZ_SCRATCH        1: start each target from a scratch copy of its committed seed
#                       corpus, kept nowhere (the CI smoke run)
#
# Corpora live between runs in fuzz/work/<target>/ (ignored by git): a target's first run
# starts from its committed seeds in fuzz/corpus/<target>/, which are read on every run
# too (new seeds count at once) but only written by `cmin`. Every target uses the shared
# dictionary fuzz/dict/mail.dict. After each target one line gives its executions,
# coverage (libFuzzer's cov: and ft: counters) and seconds; the same goes as a row into
# fuzz/work/campaign.tsv, and the target's libFuzzer output into fuzz/work/logs/. Crashing
# inputs are kept in fuzz/artifacts/<target>/. Exits non-zero if any target fails; the
# others still run. Replay a crash with
#   cargo +nightly fuzz run --sanitizer none <target> fuzz/artifacts/<target>/crash-...
set -euo pipefail

cd "$(dirname "$0")/.."
mode=${1:-fuzz}
seconds=${SECONDS_PER_TARGET:-20}
sanitizer=${FUZZ_SANITIZER:-none}
jobs=${FUZZ_JOBS:-1}
scratch_mode=${FUZZ_SCRATCH:-0}

case $mode in
  fuzz | list | cmin) ;;
  *)
    echo "usage: fuzz/run.sh [fuzz|list|cmin]" >&2
    exit 64
    ;;
esac

# cargo-fuzz wants nightly. A machine with only the stable toolchain (nightly cannot be
# fetched everywhere) builds with RUSTC_BOOTSTRAP=1, which works without a sanitizer.
if rustup run nightly rustc --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
elif [ "$sanitizer" = none ]; then
  echo "fuzz/run.sh: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
  fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
else
  echo "fuzz/run.sh: FUZZ_SANITIZER=$sanitizer needs the nightly toolchain" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz/run.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

all=$("${fuzz[@]}" list)
if [ "$mode" = list ]; then
  echo "$all"
  exit 0
fi
targets=${FUZZ_TARGETS:-$all}
flags=(--sanitizer "$sanitizer" --debug-assertions)
"${fuzz[@]}" build "${flags[@]}" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailproto-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ "$mode" = cmin ]; then
  # Minimise the union of the working and committed corpora; the result replaces the
  # committed one. Seeds that survive keep their names (seeds.sh makes the rest again).
  for target in $targets; do
    union="$tmp/$target"
    mkdir -p "$union" "fuzz/corpus/$target"
    for dir in "fuzz/work/$target" "fuzz/corpus/$target"; do
      if [ -d "$dir" ]; then
        find "$dir" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$union/" \;
      fi
    done
    before=$(find "$union" -type f | wc -l)
    "${fuzz[@]}" cmin "${flags[@]}" "$target" "$union" -- \
      -max_len=4096 -timeout=10 -dict=fuzz/dict/mail.dict >"$tmp/$target.log" 2>&1 || {
      echo "fuzz cmin: $target failed (see below)" >&2
      tail -20 "$tmp/$target.log" >&2
      exit 1
    }
    declare -A named=()
    for seed in "fuzz/corpus/$target"/*; do
      [ -f "$seed" ] && named[$(sha1sum <"$seed" | cut -d' ' -f1)]=$(basename "$seed")
    done
    find "fuzz/corpus/$target" -maxdepth 1 -type f ! -name '.*' -delete
    for unit in "$union"/*; do
      [ -f "$unit" ] || continue
      sum=$(sha1sum <"$unit" | cut -d' ' -f1)
      cp "$unit" "fuzz/corpus/$target/${named[$sum]:-$sum}"
    done
    unset named
    after=$(find "fuzz/corpus/$target" -type f | wc -l)
    echo "cmin $target: $before inputs -> $after in fuzz/corpus/$target"
  done
  exit 0
fi

mkdir -p fuzz/work/logs
tsv=fuzz/work/campaign.tsv
if [ ! -f "$tsv" ]; then
  printf 'date\ttarget\tseconds\texecutions\tcov\tft\tcorpus\tjobs\tmode\tresult\n' >"$tsv"
fi

failed=()
start=$SECONDS
for target in $targets; do
  dirs=()
  if [ "$scratch_mode" = 1 ]; then
    corpus="$tmp/$target"
    mkdir -p "$corpus"
    if [ -d "fuzz/corpus/$target" ]; then
      cp -R "fuzz/corpus/$target/." "$corpus/"
    fi
    dirs=("$corpus")
  else
    corpus="fuzz/work/$target"
    if [ ! -d "$corpus" ]; then
      mkdir -p "$corpus"
      if [ -d "fuzz/corpus/$target" ]; then
        cp -R "fuzz/corpus/$target/." "$corpus/"
      fi
    fi
    dirs=("$corpus")
    if [ -d "fuzz/corpus/$target" ]; then
      dirs+=("fuzz/corpus/$target")
    fi
  fi
  extra=()
  if [ "$jobs" -gt 1 ]; then
    extra=(-fork="$jobs")
  fi
  log="fuzz/work/logs/$target.log"
  echo "=== $target: ${seconds}s" >&2
  began=$SECONDS
  result=ok
  if ! "${fuzz[@]}" run "${flags[@]}" "$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -dict=fuzz/dict/mail.dict -print_final_stats=1 "${extra[@]}" 2>&1 | tee "$log" >&2; then
    failed+=("$target")
    result=failed
  fi
  took=$((SECONDS - began))
  # libFuzzer's figures: the final stats' executions, else the last status line's count;
  # cov: and ft: from the last status line.
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  if [ -z "$execs" ]; then
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  units=$(find "$corpus" -type f | wc -l)
  echo "fuzz: $target: ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}, corpus $units, ${took}s, $result"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$target" "$took" "${execs:-}" "${cov:-}" "${ft:-}" "$units" "$jobs" \
    "$([ "$scratch_mode" = 1 ] && echo scratch || echo work)" "$result" >>"$tsv"
done

n=$(wc -w <<<"$targets")
echo "fuzz: $((n - ${#failed[@]})) passed, ${#failed[@]} failed ($((SECONDS - start))s fuzzing)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
  exit 1
fi
