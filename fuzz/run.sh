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
# fails; the others still run.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_TARGET:-20}
sanitizer=${FUZZ_SANITIZER:-none}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: the nightly toolchain is required (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz/run.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailproto-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

flags=(--sanitizer "$sanitizer" --debug-assertions)
cargo +nightly fuzz build "${flags[@]}"

failed=()
start=$SECONDS
for target in $targets; do
  corpus="$scratch/$target"
  mkdir -p "$corpus"
  if [ -d "fuzz/corpus/$target" ]; then
    cp -R "fuzz/corpus/$target/." "$corpus/"
  fi
  echo "=== $target: ${seconds}s" >&2
  if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" -- \
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
