#!/usr/bin/env bash
# Smoke-fuzz every cargo-fuzz target for a bounded time each.
#
#   SECONDS_PER_TARGET  seconds of fuzzing per target (default 20)
#   FUZZ_TARGETS        space-separated subset of targets (default: all)
#   FUZZ_SANITIZER      cargo-fuzz --sanitizer (default none: mailproto-core forbids unsafe
#                       code, so ASan only slows the run; set "address" to use it)
#
# Each target starts from a scratch copy of its committed seed corpus (fuzz/corpus/<t>/),
# so the committed corpus does not grow, and uses the shared dictionary fuzz/dict/mail.dict.
# Crashing inputs are kept in fuzz/artifacts/<target>/. Exits non-zero if any target
# fails; the others still run. Replay a crash with
#   cargo +nightly fuzz run --sanitizer none <target> fuzz/artifacts/<target>/crash-...
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_TARGET:-20}
sanitizer=${FUZZ_SANITIZER:-none}

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

targets=${FUZZ_TARGETS:-$("${fuzz[@]}" list)}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailproto-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

flags=(--sanitizer "$sanitizer" --debug-assertions)
"${fuzz[@]}" build "${flags[@]}"

failed=()
start=$SECONDS
for target in $targets; do
  corpus="$scratch/$target"
  mkdir -p "$corpus"
  if [ -d "fuzz/corpus/$target" ]; then
    cp -R "fuzz/corpus/$target/." "$corpus/"
  fi
  echo "=== $target: ${seconds}s" >&2
  if ! "${fuzz[@]}" run "${flags[@]}" "$target" "$corpus" -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -dict=fuzz/dict/mail.dict -print_final_stats=1; then
    failed+=("$target")
  fi
done

n=$(wc -w <<<"$targets")
echo "fuzz: $((n - ${#failed[@]})) passed, ${#failed[@]} failed ($((SECONDS - start))s fuzzing)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
  exit 1
fi
