#!/usr/bin/env bash
# Regenerates the seed corpus fuzz/corpus/<target>/<name>: a few header bytes (policy,
# line limit, chunk-size seeds or split list; see each target's doc comment) followed by a
# payload: RFC 5321 / RFC 1939 examples, the SMTP smuggling vectors, over-long lines.
# Run it after changing a target's input layout, then commit the result.
set -euo pipefail
cd "$(dirname "$0")"

long=$(printf 'A%.0s' $(seq 600))
tail='MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n\r\n.\r\nQUIT\r\n'
# name and printf format of each payload (printf formats, so NUL can be written).
payloads=(
  rfc5321-data          'Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\nQUIT\r\n'
  rfc5321-session       'EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\nDATA\r\nFrom: a\r\n\r\nhi\r\n.\r\nQUIT\r\n'
  rfc1939-retr          'From: a\r\n\r\n...\r\n..\r\n.\r\n+OK\r\n'
  empty-body            '.\r\nRSET\r\n'
  bare-endings          'a\nb\rc\r\n\n..d\r\n.\r\n'
  smuggle-lf-dot-lf     "Subject: x\\r\\n\\r\\nbody\\n.\\n$tail"
  smuggle-lf-dot-crlf   "Subject: x\\r\\n\\r\\nbody\\n.\\r\\n$tail"
  smuggle-cr-dot-crlf   "Subject: x\\r\\n\\r\\nbody\\r.\\r\\n$tail"
  smuggle-crlf-dot-cr   "Subject: x\\r\\n\\r\\nbody\\r\\n.\\r$tail"
  smuggle-crlf-dot-cr-crlf  "Subject: x\\r\\n\\r\\nbody\\r\\n.\\r\\r\\n$tail"
  smuggle-crlf-nul-dot-crlf "Subject: x\\r\\n\\r\\nbody\\r\\n\\x00.\\r\\n$tail"
  over-long-line        "$long\\r\\nQUIT\\r\\n$long\\r$long\\n.\\r\\n"
)

# Header formats per target, used in turn.
declare -A headers=(
  [line_framer]='\x12\x05 \x13\x00 \x14\x06 \x0c\x03'
  [dot_decode]='\x05 \x00 \x06 \x2c'
  [dot_encode_roundtrip]='\x05\x03 \x00\x07 \x06\x00'
  [dot_split_equivalence]='\x03\x00\x04\x10 \x01\x02 \x02\x00\x01'
)

for target in "${!headers[@]}"; do
  read -r -a hs <<<"${headers[$target]}"
  mkdir -p "corpus/$target"
  for ((i = 0; i < ${#payloads[@]}; i += 2)); do
    h=${hs[$((i / 2 % ${#hs[@]}))]}
    printf "$h${payloads[i + 1]}" >"corpus/$target/${payloads[i]}"
  done
done
