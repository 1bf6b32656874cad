#!/usr/bin/env bash
# Regenerates the seed corpus fuzz/corpus/<target>/<name>: a few header bytes (policy,
# line limit, chunk-size seeds or split list, configuration bits, the scripted
# application's decision bytes; see each target's doc comment) followed by a payload:
# RFC 5321 / RFC 1939 examples, the SMTP smuggling vectors, over-long lines, SMTP and
# POP3 sessions and the server answers a client meets.
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

# The SMTP and POP3 targets: one seed per line below, `target name header payload`, both
# printf formats. Headers: machine targets take configuration bytes, a count (mod 16) and
# that many decision bytes (see mailproto_fuzz::split_input); codec targets one flag byte.
seed() {
  mkdir -p "corpus/$1"
  printf "$3$4" >"corpus/$1/$2"
}

# Client sessions, for the SMTP server targets (config a, config b, split seed).
smtp_sessions=(
  rfc5321-d1 '\x09\x00\x07\x04\x05\x05\x03\x05' 'EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\nRCPT TO:<Green@foo.com>\r\nRCPT TO:<Brown@foo.com>\r\nDATA\r\nBlah blah blah...\r\n....etc. etc. etc.\r\n.\r\nQUIT\r\n'
  pipelined-bdat '\x0b\x12\x05\x03\x07\x00\x04' 'EHLO c.example\r\nMAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME RET=HDRS ENVID=QQ314159\r\nRCPT TO:<x@y.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y.example\r\nRCPT TO:<Postmaster>\r\nBDAT 5\r\nhelloBDAT 7 LAST\r\n world\r\nBDAT 100 LAST\r\nQUIT\r\n'
  lmtp '\x0d\x10\x06\x04\x07\x04\x00\x02' 'LHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\nDATA\r\nSubject: t\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<a@x.example>\r\nBDAT 70\r\n0123456789012345678901234567890123456789012345678901234567890123456789BDAT 0 LAST\r\nQUIT\r\n'
  auth '\x29\x08\x03\x04\x07\x00\x01\x02' 'EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\nAUTH CRAM-MD5\r\n*\r\nAUTH XOAUTH2 dXNlcj11c2VyAWF1dGg9QmVhcmVyIHRva2VuAQE=\r\n\r\nAUTH PLAIN\r\n=\r\nQUIT\r\n'
  starttls '\x18\x00\x02\x01\x07' 'EHLO c.example\r\nSTARTTLS\r\nMAIL FROM:<evil@x.example>\r\nEHLO c.example\r\nSTARTTLS\r\nQUIT\r\n'
  smuggling '\x89\x00\x04\x01\x07' 'EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nSubject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@x.example>\r\n\r.\r\n.\r\nQUIT\r\n'
  vrfy-help '\x48\x00\x01\x02\x00\x01' 'HELO c.example\r\nVRFY postmaster\r\nEXPN "staff list"\r\nHELP DATA\r\nNOOP\r\nRSET\r\nVRFY\r\nQUIT\r\n'
  errors '\x03\x10\x05\x00' "MAIL FROM:<a@b>\r\nEHLO\r\nXYZZY\r\nRCPT TO:<x>\r\nDATA\r\nBDAT 3 LAST\r\nabcEHLO c.example\r\nMAIL FROM: <a@b.example> FOO=BAR\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n$long\r\n\r\n.\r\n$long\r\nQUIT\r\n"
)
for ((i = 0; i < ${#smtp_sessions[@]}; i += 3)); do
  for t in smtp_server_input smtp_split_equivalence; do
    seed "$t" "${smtp_sessions[i]}" "${smtp_sessions[i + 1]}" "${smtp_sessions[i + 2]}"
  done
done

# Server answers, for the SMTP client target (config, split seed).
smtp_answers=(
  esmtp '\x00\x05\x04\x00\x01\x04\x07' '220 foo.com ESMTP\r\n250-foo.com\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n354 go ahead\r\n250 2.0.0 Ok: queued\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n'
  refusals '\x00\x03\x03\x00\x05\x07' '220 x\r\n250 x\r\n550 no\r\n250 ok\r\n550 no\r\n503 bad sequence\r\n250 reset\r\n250 ok\r\n221 bye\r\n'
  helo-fallback '\x00\x01\x02\x04\x07' '220 old.example\r\n502 what\r\n250 old.example\r\n250 ok\r\n250 ok\r\n354 go\r\n554 no\r\n221 bye\r\n'
  lmtp '\x01\x02\x02\x00\x00' '220 lmtp ready\r\n250-lmtp\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 delivered\r\n452 full\r\n221 bye\r\n'
  starttls '\x00\x01\x01\x03' '220 x\r\n250-x\r\n250 STARTTLS\r\n220 go ahead\r\n250-injected\r\n250 x\r\n250-x\r\n250 AUTH PLAIN\r\n'
  auth '\x48\x01\x01\x02' '220 x\r\n250-x\r\n250 AUTH LOGIN PLAIN\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 ok\r\n334 not base64!\r\n501 cancelled\r\n'
  closing '\x00\x07\x01\x00' '220 x\r\n250 x\r\n421 4.3.2 shutting down\r\n'
  malformed '\x00\x00\x00' '220-x\r\n221 mixed\r\n2\r\n250\nbare LF\r\n\r\n'
)
for ((i = 0; i < ${#smtp_answers[@]}; i += 3)); do
  seed smtp_client_input "${smtp_answers[i]}" "${smtp_answers[i + 1]}" "${smtp_answers[i + 2]}"
done

seed smtp_command_roundtrip envelope '\x00' 'MAIL FROM:<Smith@bar.com> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2B314159\r\nRCPT TO:<"john doe"@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Jones+40foo.com\r\nRCPT TO:<Postmaster>\r\nMAIL FROM:<>\r\nMAIL FROM:<@a.example,@b.example:x@c.example>\r\n'
seed smtp_command_roundtrip session '\x00' 'EHLO [192.0.2.1]\r\nHELO bar.com\r\nLHLO [IPv6:2001:db8::1]\r\nBDAT 1000 LAST\r\nBDAT 0\r\nAUTH PLAIN =\r\nAUTH LOGIN dXNlcg==\r\nDATA\r\nRSET\r\nQUIT\r\nSTARTTLS\r\nNOOP\r\nHELP\r\n'
seed smtp_command_roundtrip strings '\x01' 'VRFY "Mark Crispin"\r\nEXPN Example-People\r\nVRFY ""\r\nVRFY "a\\"b\r\nHELP "x y"\r\nVRFY j\xc3\xb8rn@example.org\r\nMAIL FROM:<j\xc3\xb8rn@b\xc3\xa6r.example> SMTPUTF8\r\n'
seed smtp_command_roundtrip lenient '\x02' 'MAIL FROM: <a@b.example>\r\nRCPT TO: <a@b.example> X-FOO=bar\r\nmail from:<A@B.EXAMPLE> body=binarymime\r\n'

seed smtp_reply_roundtrip ehlo '' '250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-SIZE 1000\r\n250-DSN\r\n250-AUTH=LOGIN PLAIN\r\n250-AUTH LOGIN PLAIN CRAM-MD5\r\n250-X-EXT a b\r\n250 HELP\r\n'
seed smtp_reply_roundtrip replies '' '550 5.1.1 No such user\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n250-2.0.0 a\r\n250-2.1.0 b\r\n250 2.0.0\r\n421\r\n220 \r\n552-5.3.4 too\r\n552 big\r\n'
seed smtp_reply_roundtrip broken '' '250-a\r\n251 b\r\n25x\r\n250_x\r\n\r\n2500 x\r\n'

# Client sessions, for the POP3 server targets (config a, config b, split seed).
pop3_sessions=(
  rfc1939-s10 '\x08\x00\x04\x03\x03\x02\x00' 'APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n'
  user-pass '\x05\x00\x06\x04\x04\x03\x02\x01' 'CAPA\r\nUSER alice\r\nPASS open sesame\r\nCAPA\r\nSTAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 9\r\nTOP 1 0\r\nTOP 4 1\r\nRETR 2\r\nDELE 1\r\nDELE 1\r\nRSET\r\nNOOP\r\nQUIT\r\n'
  sasl '\x24\x00\x01\x02\x03\x04' 'AUTH\r\nAUTH PLAIN AGFsaWNlAG9wZW4gc2VzYW1l\r\nAUTH LOGIN\r\nYWxpY2U=\r\nb3BlbiBzZXNhbWU=\r\nAUTH CRAM-MD5\r\n*\r\nQUIT\r\n'
  stls '\x03\x00\x03\x01\x05' 'CAPA\r\nSTLS\r\nUSER injected\r\nCAPA\r\nUSER alice\r\nPASS x\r\nQUIT\r\n'
  utf8 '\x14\x01\x02\x01\x03' 'UTF8\r\nUSER j\xc3\xb8rn\r\nPASS p\xc3\xa6ss\r\nLIST\r\nRETR 1\r\nQUIT\r\n'
  errors '\x40\x04\x05\x00' "RETR 1\r\nXYZZY\r\nUSER\r\nPASS x\r\nAPOP a b\r\nTOP 1\r\n$long\r\nQUIT\r\n"
)
for ((i = 0; i < ${#pop3_sessions[@]}; i += 3)); do
  for t in pop3_server_input pop3_split_equivalence; do
    seed "$t" "${pop3_sessions[i]}" "${pop3_sessions[i + 1]}" "${pop3_sessions[i + 2]}"
  done
done

# Server responses, for the POP3 client target (config, split seed). Decision bytes pick
# commands (mod 16): 0 CAPA, 1 USER, 2 PASS, 5 STAT, 6 LIST, 8 RETR, 9 TOP, 12 NOOP, 15 QUIT.
pop3_answers=(
  rfc1939-s10 '\x00\x03\x08\x01\x02\x05\x06\x18\x1a\x28\x0f' '+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n+OK alice\r\n+OK maildrop has 2 messages (320 octets)\r\n+OK 2 320\r\n+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n+OK 120 octets\r\nSubject: hi\r\n\r\n..hidden\r\n.\r\n+OK message 1 deleted\r\n+OK 200 octets\r\nx\r\n.\r\n+OK bye\r\n'
  capa '\x08\x01\x03\x00\x01\x02' '+OK hi\r\n+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\nRESP-CODES\r\nPIPELINING\r\nUIDL\r\nSTLS\r\nEXPIRE 30 USER\r\nLOGIN-DELAY 900\r\nIMPLEMENTATION x\r\n.\r\n+OK\r\n-ERR [AUTH] bad password\r\n'
  errors '\x00\x02\x04\x05\x07\x09\x0f' '+OK ready\r\n-ERR [SYS/TEMP] busy\r\n-ERR [IN-USE] locked\r\n-ERR [LOGIN-DELAY] wait\r\n+OK 2\r\n+OK x y\r\n1\r\n.\r\n-ERR no\r\n'
  sasl '\x00\x01\x02\x04\x14' '+OK ready\r\n+ \r\n+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n+OK logged in\r\n'
  stls '\x04\x01\x02\x0d\x00' '+OK ready\r\n+OK begin TLS\r\n+OK injected\r\n+OK Capability list follows\r\nUSER\r\n.\r\n'
  broken '\x00\x00\x01\x0c' '+OK ready\r\n+OK 1\r\n+OK unsolicited\r\n* nonsense\r\n'
)
for ((i = 0; i < ${#pop3_answers[@]}; i += 3)); do
  seed pop3_client_input "${pop3_answers[i]}" "${pop3_answers[i + 1]}" "${pop3_answers[i + 2]}"
done

seed pop3_response_parse statuses '\x00' '+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n-ERR [IN-USE] maildrop locked\r\n-ERR [SYS/TEMP/EXTRA] later\r\n+OK [Foo/Bar] text\r\n+OK\r\n-ERR\r\n+OK 2 320\r\n+OK 1 120\r\n+OK 2 QhdPYR:00WBw1Ph7x7\r\n+ VXNlcm5hbWU6\r\n+ \r\n'
seed pop3_response_parse listings '\x01' '1 120\r\n2 200\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n0 1\r\n1 \r\n'
seed pop3_response_parse capa '\x00' 'TOP\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\nSTLS\r\nUTF8 USER\r\nEXPIRE 30 USER\r\nEXPIRE NEVER\r\nLOGIN-DELAY 900\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\nX-OTHER a b\r\n'

# PROXY protocol headers (the proxy target takes the bytes as they are): v1 TCP4, TCP6,
# UNKNOWN, and HAProxy's v2 send-proxy-v2-ssl shape (TCP over IPv4 with an SSL TLV).
seed proxy v1-tcp4 '' 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nEHLO x\r\n'
seed proxy v1-tcp6 '' 'PROXY TCP6 2001:db8::1 ::1 4000 25\r\n'
seed proxy v1-unknown '' 'PROXY UNKNOWN ffff::1 ::1 1 2\r\n'
seed proxy v2-ssl '' '\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x1e\x7f\x00\x00\x02\x7f\x00\x00\x01\x9c\x40\x01\xbb\x20\x00\x0f\x01\x00\x00\x00\x00\x21\x00\x07TLSv1.3'
seed proxy v2-local '' '\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00'

# The engine's server sessions (engine_smtp_session, engine_pop3_session): the sessions
# above with a mode byte after the split seed: 0x00 the blocking glue on a still clock,
# 0x01 the async server and driver, 0x02 the glue on a moving clock (deadlines fire),
# 0x0d the async server with partial writes; and "-yes" seeds whose handler or backend
# accepts nearly everything (fifteen decision bytes 0x0f).
yes=$(printf '\\x0f%.0s' $(seq 16))
engine_seed() {
  local target=$1 name=$2 header=$3 payload=$4 mode
  for mode in '\x00' '\x01' '\x02' '\x0d'; do
    seed "$target" "$name-${mode:2}" "${header:0:12}$mode${header:12}" "$payload"
  done
  seed "$target" "$name-yes" "${header:0:12}\x01$yes" "$payload"
}
for ((i = 0; i < ${#smtp_sessions[@]}; i += 3)); do
  engine_seed engine_smtp_session "${smtp_sessions[i]}" "${smtp_sessions[i + 1]}" "${smtp_sessions[i + 2]}"
done
for ((i = 0; i < ${#pop3_sessions[@]}; i += 3)); do
  engine_seed engine_pop3_session "${pop3_sessions[i]}" "${pop3_sessions[i + 1]}" "${pop3_sessions[i + 2]}"
done

# Server answers for the engine's SMTP client flow (engine_smtp_client): options byte
# (bit 5 prefers BDAT, bits 6-7 the TLS mode), read split seed, write sizes, then the
# decision bytes: the number of steps (mod 6, plus one), then per step a byte (mod 8:
# 0 AUTH, 1-4 a message, 5 RSET, 6 usability, 7 QUIT; bit 4 a null sender, bit 5 SIZE,
# bit 6 BODY=8BITMIME, bit 7 a forced AUTH mechanism) and its own choices (recipients,
# body; mechanism).
engine_smtp_answers=(
  pipelined '\x00\x05\x00\x05\x01\x01\x01\x01\x05' '220 foo.com ESMTP\r\n250-foo.com\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n354 go ahead\r\n250 2.0.0 Ok: queued\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n'
  bdat '\x20\x03\x02\x04\x00\x01\x00\x04' '220 x\r\n250-x\r\n250-CHUNKING\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n250 2.0.0 chunk\r\n250 2.0.0 queued\r\n221 bye\r\n'
  auth '\x08\x01\x00\x04\x01\x80\x01\x01' '220 x\r\n250-x\r\n250 AUTH LOGIN PLAIN\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n'
  refused '\x00\x04\x00\x04\x01\x02\x02\x03' '220 x\r\n250 x\r\n250 ok\r\n550 no\r\n450 later\r\n250 reset\r\n221 bye\r\n'
  helo '\x00\x02\x03\x03\x00\x11\x00' '220 old.example\r\n502 what\r\n250 old.example\r\n250 ok\r\n250 ok\r\n354 go\r\n554 no\r\n250 ok\r\n221 bye\r\n'
  starttls '\x40\x01\x00\x01\x00' '220 x\r\n250-x\r\n250 STARTTLS\r\n220 go ahead\r\n250-injected\r\n250 x\r\n'
  closing '\x00\x07\x00\x02\x01\x01' '220 x\r\n250 x\r\n421 4.3.2 shutting down\r\n'
  malformed '\x00\x00\x00\x00' '220-x\r\n221 mixed\r\n2\r\n250\nbare LF\r\n\r\n'
)
for ((i = 0; i < ${#engine_smtp_answers[@]}; i += 3)); do
  seed engine_smtp_client "${engine_smtp_answers[i]}" "${engine_smtp_answers[i + 1]}" "${engine_smtp_answers[i + 2]}"
done

# Server responses for the engine's POP3 client flow (engine_pop3_client): machine
# configuration byte (bits 6-7 also the STLS mode), read split seed, write sizes, then the
# decision bytes: the number of steps (mod 10, plus one), then per step a byte (mod 16:
# 0 CAPA, 1-2 USER/PASS, 3 APOP, 4 AUTH, 5 STAT, 6 LIST, 7 UIDL, 8-9 RETR, 10 RETR
# pipelined, 11 TOP, 12 DELE, 13 RSET, 14 NOOP, 15 QUIT; the high nibble the message).
engine_pop3_answers=(
  rfc1939-s10 '\x00\x03\x00\x07\x05\x01\x05\x06\x08\x0c\x18' '+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n+OK alice\r\n+OK maildrop has 2 messages (320 octets)\r\n+OK 2 320\r\n+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n+OK 120 octets\r\nSubject: hi\r\n\r\n..hidden\r\n.\r\n+OK message 1 deleted\r\n+OK 200 octets\r\nx\r\n.\r\n+OK bye\r\n'
  pipelined '\x00\x02\x03\x03\x01\x01\x1a' '+OK ready\r\n+OK\r\n+OK in\r\n+OK 1\r\nfirst\r\n.\r\n+OK 2\r\n..second\r\n\r\n.\r\n+OK bye\r\n'
  capa-auth '\x00\x01\x00\x04\x02\x00\x14\x0b' '+OK hi\r\n+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\nRESP-CODES\r\nPIPELINING\r\nUIDL\r\n.\r\n+ \r\n+OK logged in\r\n+OK top\r\nSubject: t\r\n\r\n.\r\n+OK bye\r\n'
  errors '\x00\x02\x04\x05\x07\x03\x09\x1c\x07' '+OK ready\r\n-ERR [SYS/TEMP] busy\r\n-ERR [IN-USE] locked\r\n-ERR [LOGIN-DELAY] wait\r\n+OK 2\r\n+OK x y\r\n1\r\n.\r\n-ERR no\r\n'
  cut-short '\x00\x00\x02\x03\x02\x01\x08' '+OK ready\r\n+OK\r\n+OK in\r\n+OK 100 octets\r\npartial line\r\n.. more\r\n'
  smuggled '\x00\x05\x00\x03\x02\x01\x18' '+OK ready\r\n+OK\r\n+OK in\r\n+OK 9 octets\r\nbody\n.\nfake\r.\r\n+OK end\r\n.\r\n+OK bye\r\n'
  stls '\x40\x01\x00\x01\x00' '+OK ready\r\n+OK Capability list follows\r\nSTLS\r\n.\r\n+OK begin TLS\r\n+OK injected\r\n'
)
for ((i = 0; i < ${#engine_pop3_answers[@]}; i += 3)); do
  seed engine_pop3_client "${engine_pop3_answers[i]}" "${engine_pop3_answers[i + 1]}" "${engine_pop3_answers[i + 2]}"
done
