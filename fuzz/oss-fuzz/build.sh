#!/usr/bin/env bash
# OSS-Fuzz build script for mailproto: builds every cargo-fuzz target of fuzz/ and puts
# each in $OUT with its seed corpus (<target>_seed_corpus.zip, from fuzz/corpus/<target>/)
# and the shared dictionary (<target>.dict, from fuzz/dict/mail.dict).
#
# Inside OSS-Fuzz's builder, $SRC, $OUT, $SANITIZER and the toolchain are set by the
# image. Outside it (to check the script), set OUT and SRC yourself, e.g.
#   OUT=/tmp/ossout SRC=/work/main bash fuzz/oss-fuzz/build.sh
# SRC may be the repository itself or a folder holding it as mailproto/.
set -euo pipefail

src=${SRC:?set SRC to the checkout, or the folder holding mailproto/}
out=${OUT:?set OUT to the output folder}
if [ -d "$src/mailproto/fuzz" ]; then
  root="$src/mailproto"
else
  root="$src"
fi
fuzz_dir="$root/fuzz"
mkdir -p "$out"

# OSS-Fuzz's SANITIZER is address, memory, undefined, coverage or introspector; cargo
# fuzz knows address and memory, and "none" builds without one (the local default).
case "${SANITIZER:-none}" in
  address | memory) sanitizer=$SANITIZER ;;
  *) sanitizer=none ;;
esac

# cargo-fuzz wants nightly: OSS-Fuzz's builder provides it; elsewhere use the nightly
# toolchain if installed, else stable with RUSTC_BOOTSTRAP=1 (only without a sanitizer).
if command -v rustup >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
elif [ "$sanitizer" = none ]; then
  fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
else
  fuzz=(cargo fuzz)
fi

cd "$fuzz_dir"
"${fuzz[@]}" build -O --debug-assertions --sanitizer "$sanitizer"

triple=$(rustc -vV | sed -n 's/^host: //p')
bin="$fuzz_dir/target/$triple/release"
count=0
for target in $("${fuzz[@]}" list); do
  cp "$bin/$target" "$out/$target"
  cp "$fuzz_dir/dict/mail.dict" "$out/$target.dict"
  rm -f "$out/${target}_seed_corpus.zip"
  if [ -d "$fuzz_dir/corpus/$target" ] && [ -n "$(ls -A "$fuzz_dir/corpus/$target")" ]; then
    (cd "$fuzz_dir/corpus/$target" && zip -q -j "$out/${target}_seed_corpus.zip" ./*)
  fi
  count=$((count + 1))
done
echo "build.sh: $count targets in $out"
