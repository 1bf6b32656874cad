#!/usr/bin/env bash
# End-to-end benchmarks of mailproto against the implementations people would otherwise
# use (Postfix's smtp-sink/smtp-source, aiosmtpd, smtplib, Dovecot's pop3d, poplib, curl),
# in the same run on the same machine. `just bench-e2e` runs it; docs/benchmarks.md
# explains the method and records results.
#
# usage: benches/e2e.sh [SECTION...]
#   sections: peers smtp-server smtp-maildir smtp-client smtp-pool pop3 fetch pop3-login memory
#   report (default: all, in that order; "report" writes the tables and the chart from what
#   was measured), and
#   profile (not in the default: strace -c and callgrind of reduced runs of the
#   comparisons that miss their targets, into $BENCH_OUT/profile.md)
# environment:
#   RUNS=5           runs per comparison (the median of the runs is reported)
#   BENCH_OUT=DIR    where raw results and the summary go (default target/bench-e2e)
#   SCALE=1          multiply every message count (0.1 for a quick smoke run)
#   CHART=FILE       the SVG written by "report" (default docs/bench-e2e.svg)
#
# Rules it keeps: all traffic is on 127.0.0.1; every load is bounded in count and in time
# (`timeout`) and stops by itself; one side runs at a time (the machine has 2 cores); in
# each run every side of a comparison runs once, in an order rotated from run to run, and
# the report gives medians of the per-run ratios. Peers it needs are installed if missing
# (Debian packages, aiosmtpd from PyPI). The Postfix daemon is never started: only its
# stand-alone test programs smtp-source and smtp-sink are used.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${BENCH_OUT:-$ROOT/target/bench-e2e}
RUNS=${RUNS:-5}
SCALE=${SCALE:-1}
CHART=${CHART:-$ROOT/docs/bench-e2e.svg}
BIN=$ROOT/target/release
PEERS=$ROOT/benches/peers
LIMIT=${LIMIT:-300} # seconds any one load may take
SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink

mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
SCENARIOS=$OUT/scenarios.tsv
MEMORY=$OUT/memory.md
WORK=$(mktemp -d /tmp/mailproto-bench.XXXXXX)
chmod 755 "$WORK"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
count() { python3 -c "import sys; print(max(1, int(float(sys.argv[1]) * float(sys.argv[2]))))" "$1" "$SCALE"; }

# --- processes -----------------------------------------------------------------------

STARTED=()
cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_bg VAR LOGFILE CMD...: run CMD in the background, its pid in VAR.
start_bg() {
  local var=$1 logfile=$2
  shift 2
  "$@" >"$logfile" 2>&1 &
  printf -v "$var" %s $!
  STARTED+=($!)
}

# stop_pid PID: TERM, wait up to 5 s, then KILL; only the process this script started.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT, at most 15 s.
wait_port() {
  local i
  for i in $(seq 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "nothing listens on port $1"
  return 1
}

# --- timing --------------------------------------------------------------------------

# timed SCENARIO IMPL RUN MESSAGES OCTETS CMD...: run the bounded load, record wall time,
# the load's CPU time (user + system of the load and its children: the client's) and,
# when a server this script started is running, the server's CPU time over the load
# (server_cpu: its whole process tree).
timed() {
  local scenario=$1 impl=$2 run=$3 msgs=$4 octets=$5
  shift 5
  local t0 t1 s0="" s1=""
  [ -z "$SERVER_PID" ] || ! kill -0 "$SERVER_PID" 2>/dev/null || s0=$(server_cpu)
  t0=$(date +%s.%N)
  # Through bash so that the load may be one of this script's (exported) functions.
  if ! timeout "$LIMIT" /usr/bin/time -f '%U %S' -o "$WORK/load.cpu" \
    bash -c '"$@"' load "$@" >"$WORK/load.out" 2>&1; then
    log "FAILED: $scenario $impl run $run: $*"
    sed 's/^/    /' "$WORK/load.out" | tail -5 >&2
    return 0
  fi
  t1=$(date +%s.%N)
  [ -z "$s0" ] || s1=$(server_cpu)
  local secs server=""
  secs=$(python3 -c "print(f'{$t1 - $t0:.4f}')")
  [ -z "$s1" ] || server=$(python3 -c "print(f'{$s1 - $s0:.3f}')")
  local cpu
  cpu=$(awk 'NR == 1 { printf "%.3f", $1 + $2 }' "$WORK/load.cpu")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$impl" "$run" "$secs" "$msgs" "$octets" \
    "$cpu" "$server" >>"$RESULTS"
  log "$scenario $impl run $run: $msgs messages in ${secs}s"
}

# scenario NAME REFERENCES TITLE: declare a comparison (dropping older results of it).
scenario() {
  local f
  for f in "$RESULTS" "$SCENARIOS"; do
    touch "$f"
    grep -v "^$1	" "$f" >"$f.tmp" || true
    mv "$f.tmp" "$f"
  done
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$SCENARIOS"
}

# rotate RUN ITEMS...: the items rotated left by RUN (the order of the sides in that run).
rotate() {
  local run=$1
  shift
  local items=("$@") n=$# i
  for ((i = 0; i < n; i++)); do
    printf '%s\n' "${items[$(((i + run) % n))]}"
  done
}

# --- peers and builds ----------------------------------------------------------------

section_peers() {
  local apt=()
  [ -x "$SMTP_SOURCE" ] || apt+=(postfix)
  command -v dovecot >/dev/null || [ -x /usr/sbin/dovecot ] || apt+=(dovecot-pop3d)
  command -v curl >/dev/null || apt+=(curl)
  command -v python3 >/dev/null || apt+=(python3)
  [ -x /usr/bin/time ] || apt+=(time)
  command -v valgrind >/dev/null || apt+=(valgrind)
  command -v strace >/dev/null || apt+=(strace)
  command -v eatmydata >/dev/null || apt+=(eatmydata)
  if [ ${#apt[@]} -gt 0 ]; then
    log "installing ${apt[*]}"
    # Postfix: no configuration and no daemon; only smtp-source and smtp-sink are used.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local policy_added=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      policy_added=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt[@]}"
    [ -z "$policy_added" ] || rm -f /usr/sbin/policy-rc.d
  fi
  python3 -c "import aiosmtpd" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
  log "building the release binaries"
  (cd "$ROOT" && cargo build --release -q -p mailproto-cli -p mailproto-bench)
}

# --- servers -------------------------------------------------------------------------

SERVER_PID=
SERVER_PORT=

# smtp_server_start IMPL [MAILDIR_ROOT]: one of mailproto-std, mailproto-smol,
# mailproto-tokio, mailproto-smol1, mailproto-tokio1 (one thread), floor-epoll, floor-threads (smtp_floor: canned replies, no parsing),
# smtp-sink, aiosmtpd; into a Maildir: mailproto-serve (group commit),
# mailproto-serve-per-message, mailproto-serve-nofsync, aiosmtpd-maildir (no fsync),
# aiosmtpd-maildir-fsync (fsyncs like serve's per-message path).
smtp_server_start() {
  local impl=$1 maildir=${2:-}
  SERVER_PORT=$(free_port)
  local addr=127.0.0.1:$SERVER_PORT
  case $impl in
    mailproto-std) start_bg SERVER_PID "$WORK/server.log" "$BIN/smtp_discard" std "$addr" ;;
    mailproto-smol) start_bg SERVER_PID "$WORK/server.log" "$BIN/smtp_discard" smol "$addr" ;;
    mailproto-tokio) start_bg SERVER_PID "$WORK/server.log" "$BIN/smtp_discard" tokio "$addr" ;;
    mailproto-smol1) start_bg SERVER_PID "$WORK/server.log" "$BIN/smtp_discard" smol1 "$addr" ;;
    mailproto-tokio1) start_bg SERVER_PID "$WORK/server.log" "$BIN/smtp_discard" tokio1 "$addr" ;;
    floor-epoll) start_bg SERVER_PID "$WORK/server.log" "$BIN/smtp_floor" epoll "$addr" ;;
    floor-threads) start_bg SERVER_PID "$WORK/server.log" "$BIN/smtp_floor" threads "$addr" ;;
    smtp-sink) start_bg SERVER_PID "$WORK/server.log" "$SMTP_SINK" -u nobody "$addr" 1024 ;;
    aiosmtpd) start_bg SERVER_PID "$WORK/server.log" python3 "$PEERS/aiosmtpd_sink.py" "$SERVER_PORT" discard ;;
    mailproto-serve | mailproto-serve-per-message)
      local sync=group
      [ "$impl" = mailproto-serve ] || sync=per-message
      start_bg SERVER_PID "$WORK/server.log" "$BIN/mailproto" serve --quiet --smtp "$addr" \
        --pop3 "127.0.0.1:$(free_port)" --maildir "$maildir" --user sink:bench --maildir-sync "$sync" \
        --max-connections 1024 --max-per-address 1024 --connections-per-minute 0 --messages-per-minute 0 --login-failure-delay 0 --max-message-size 4294967296
      ;;
    mailproto-serve-nofsync) # diagnostic: fsync made a no-op by libeatmydata
      start_bg SERVER_PID "$WORK/server.log" eatmydata "$BIN/mailproto" serve --quiet --smtp "$addr" \
        --pop3 "127.0.0.1:$(free_port)" --maildir "$maildir" --user sink:bench \
        --max-connections 1024 --max-per-address 1024 --connections-per-minute 0 --messages-per-minute 0 --login-failure-delay 0
      ;;
    aiosmtpd-maildir)
      start_bg SERVER_PID "$WORK/server.log" python3 "$PEERS/aiosmtpd_sink.py" "$SERVER_PORT" \
        maildir "$maildir/sink"
      ;;
    aiosmtpd-maildir-fsync)
      start_bg SERVER_PID "$WORK/server.log" python3 "$PEERS/aiosmtpd_sink.py" "$SERVER_PORT" \
        maildir-fsync "$maildir/sink"
      ;;
    *) log "unknown server $impl" && return 1 ;;
  esac
  wait_port "$SERVER_PORT"
}

# server_cpu: seconds of CPU (user + system) used so far by the server this script
# started and every process under it, the exited children it has reaped included
# (Dovecot's login and pop3 processes).
server_cpu() {
  python3 - "$SERVER_PID" <<'EOF'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
kids, stat = {}, {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stat[p] = sum(int(x) for x in f[11:15])  # utime stime cutime cstime
        kids.setdefault(f[1], []).append(p)
todo, total = [sys.argv[1]], 0
while todo:
    p = todo.pop()
    total += stat.get(p, 0)
    todo += kids.get(p, [])
print(f"{total / tick:.3f}")
EOF
}

server_stop() {
  [ -z "$SERVER_PID" ] || stop_pid "$SERVER_PID"
  SERVER_PID=
}

# dovecot_start MAILROOT: Dovecot's pop3d on a free port over MAILROOT/%u, user bench
# (password bench), a temporary configuration as in mailproto-testkit's Dovecot::start,
# without TLS.
dovecot_start() {
  local mailroot=$1 d=$WORK/dovecot
  rm -rf "$d"
  mkdir -p "$d/run"
  chmod 755 "$d"
  SERVER_PORT=$(free_port)
  echo "bench:{PLAIN}bench" >"$d/passwd"
  chmod 644 "$d/passwd"
  cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/run
instance_name = mailproto-bench-$SERVER_PORT
protocols = pop3
listen = 127.0.0.1
log_path = $d/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$mailroot/%u
first_valid_uid = 1
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
pop3_uidl_format = %f
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$mailroot/%u
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = $SERVER_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
}
EOF
  start_bg SERVER_PID "$WORK/server.log" "$(command -v dovecot || echo /usr/sbin/dovecot)" -F -c "$d/dovecot.conf"
  wait_port "$SERVER_PORT"
}

# pop3_serve_start MAILROOT: mailproto serve's POP3 side over MAILROOT, user bench.
pop3_serve_start() {
  SERVER_PORT=$(free_port)
  start_bg SERVER_PID "$WORK/server.log" "$BIN/mailproto" serve --quiet \
    --smtp "127.0.0.1:$(free_port)" --pop3 "127.0.0.1:$SERVER_PORT" --maildir "$1" \
    --user bench:bench
  wait_port "$SERVER_PORT"
}

# --- 1. SMTP server ------------------------------------------------------------------

smtp_source() { # PORT SESSIONS MESSAGES SIZE [new]: "new" opens a connection per message
  local keep=-d
  [ "${5:-}" != new ] || keep=
  # shellcheck disable=SC2086 # keep is empty or one flag
  "$SMTP_SOURCE" $keep -s "$2" -m "$3" -l "$4" -f bench@example.org -t sink@example.org \
    "127.0.0.1:$1"
}

export SMTP_SOURCE BIN PEERS
export -f smtp_source

# The servers beside the two floors (smtp_floor: what a server costs with this client
# before it does any work), whose server CPU per message is the figure to read.
# SMTP_SERVERS overrides the list, SMTP_LOADS the loads (names as below).
section_smtp_server() {
  local loads=(
    "smtp-server-20x4k 20 $(count 20000) 4096 kept"
    "smtp-server-1x4k 1 $(count 10000) 4096 kept"
    "smtp-server-20x100k 20 $(count 3000) 102400 kept"
    "smtp-server-conn-4k 1 $(count 5000) 4096 new"
  )
  local servers
  read -r -a servers <<<"${SMTP_SERVERS:-mailproto-std mailproto-smol mailproto-tokio floor-epoll floor-threads smtp-sink aiosmtpd}"
  local load name sessions msgs size conn run impl
  for load in "${loads[@]}"; do
    read -r name sessions msgs size conn <<<"$load"
    [ -z "${SMTP_LOADS:-}" ] || [[ " $SMTP_LOADS " == *" $name "* ]] || continue
    local title="smtp-source -d -s $sessions -m $msgs -l $size"
    [ "$conn" = kept ] || title="smtp-source -s $sessions -m $msgs -l $size (a new connection per message)"
    scenario "$name" floor-epoll,smtp-sink,aiosmtpd "SMTP server, discarding: $title"
    for run in $(seq 0 "$RUNS"); do
      for impl in $(rotate "$run" "${servers[@]}"); do
        smtp_server_start "$impl"
        if [ "$run" = 0 ]; then # warm-up, not recorded
          smtp_source "$SERVER_PORT" "$sessions" "$(((msgs + 9) / 10))" "$size" "$conn" >/dev/null 2>&1 || true
        else
          timed "$name" "$impl" "$run" "$msgs" "$((msgs * size))" \
            smtp_source "$SERVER_PORT" "$sessions" "$msgs" "$size" "$conn"
        fi
        server_stop
      done
    done
  done
}

section_smtp_maildir() {
  local name=smtp-maildir-20x4k sessions=20 msgs size=4096 run impl
  msgs=$(count 5000)
  scenario "$name" mailproto-serve-per-message,aiosmtpd-maildir-fsync \
    "SMTP server into a fresh Maildir per run: smtp-source -d -s $sessions -m $msgs -l $size"
  for run in $(seq 0 "$RUNS"); do
    for impl in $(rotate "$run" mailproto-serve mailproto-serve-per-message mailproto-serve-nofsync aiosmtpd-maildir-fsync aiosmtpd-maildir); do
      rm -rf "$WORK/maildir"
      mkdir -p "$WORK/maildir"
      smtp_server_start "$impl" "$WORK/maildir"
      if [ "$run" = 0 ]; then
        smtp_source "$SERVER_PORT" "$sessions" "$(((msgs + 9) / 10))" "$size" >/dev/null 2>&1 || true
      else
        timed "$name" "$impl" "$run" "$msgs" "$((msgs * size))" \
          smtp_source "$SERVER_PORT" "$sessions" "$msgs" "$size"
        local got
        got=$(find "$WORK/maildir/sink/new" -type f | wc -l)
        [ "$got" = "$msgs" ] || log "WARNING: $impl stored $got of $msgs messages"
      fi
      server_stop
    done
  done
  rm -rf "$WORK/maildir"
}

# --- 2. SMTP client ------------------------------------------------------------------

section_smtp_client() {
  local name=smtp-client-1x4k msgs size=4096 run impl
  msgs=$(count 5000)
  scenario "$name" smtp-source \
    "SMTP client, $msgs × $size octets over one connection to smtp-sink"
  smtp_server_start smtp-sink
  local port=$SERVER_PORT
  for run in $(seq 0 "$RUNS"); do
    for impl in $(rotate "$run" mailproto-std mailproto-smol smtp-source smtplib); do
      local n=$msgs
      [ "$run" != 0 ] || n=$(((msgs + 9) / 10))
      local cmd
      case $impl in
        mailproto-std) cmd=("$BIN/smtp_blast" std 127.0.0.1 "$port" "$n" "$size") ;;
        mailproto-smol) cmd=("$BIN/smtp_blast" smol 127.0.0.1 "$port" "$n" "$size") ;;
        smtp-source) cmd=(smtp_source "$port" 1 "$n" "$size") ;;
        smtplib) cmd=(python3 "$PEERS/smtplib_blast.py" "$port" "$n" "$size") ;;
      esac
      if [ "$run" = 0 ]; then
        "${cmd[@]}" >/dev/null 2>&1 || true
      else
        timed "$name" "$impl" "$run" "$n" "$((n * size))" "${cmd[@]}"
      fi
    done
  done
  server_stop
}

# The pooled transport as applications use it: 5,000 × 4 KB through one shared
# transport with 4 senders (threads or tasks) and at most 4 sessions, against smtp-sink,
# beside smtp-source with 4 sessions; the client's CPU per message is recorded with the
# rate.
section_smtp_pool() {
  local name=smtp-client-pool-4x4k msgs size=4096 run impl
  msgs=$(count 5000)
  scenario "$name" smtp-source \
    "SMTP client, $msgs × $size octets through the pooled transport over 4 connections to smtp-sink"
  smtp_server_start smtp-sink
  local port=$SERVER_PORT
  for run in $(seq 0 "$RUNS"); do
    for impl in $(rotate "$run" mailproto-std mailproto-smol mailproto-tokio smtp-source); do
      local n=$msgs
      [ "$run" != 0 ] || n=$(((msgs + 9) / 10))
      local cmd
      case $impl in
        mailproto-*) cmd=("$BIN/smtp_pool" "${impl#mailproto-}" 127.0.0.1 "$port" "$n" "$size" 4) ;;
        smtp-source) cmd=(smtp_source "$port" 4 "$n" "$size") ;;
      esac
      if [ "$run" = 0 ]; then
        "${cmd[@]}" >/dev/null 2>&1 || true
      else
        timed "$name" "$impl" "$run" "$n" "$((n * size))" "${cmd[@]}"
      fi
    done
  done
  server_stop
}

# --- 3. POP3 -------------------------------------------------------------------------

pop3_client() { # IMPL PORT
  case $1 in
    mailproto-std) "$BIN/pop3_retr" std 127.0.0.1 "$2" bench bench ;;
    mailproto-smol) "$BIN/pop3_retr" smol 127.0.0.1 "$2" bench bench ;;
    poplib) python3 "$PEERS/poplib_retr.py" "$2" bench bench ;;
    curl) curl -sS --fail -u bench:bench "pop3://127.0.0.1:$2/[1-$POP3_MSGS]" >/dev/null ;;
  esac
}

export -f pop3_client

section_pop3() {
  # 10,000 messages: enough server CPU per run (0.1-0.5 s) for /proc's 10 ms ticks.
  POP3_MSGS=$(count 10000)
  export POP3_MSGS
  local size=10240 run impl client mailroot=$WORK/pop3
  rm -rf "$mailroot"
  python3 "$PEERS/make_maildir.py" "$mailroot/bench" "$POP3_MSGS" "$size"
  chmod -R a+rX "$mailroot"
  chown -R nobody:nogroup "$mailroot"
  local octets=$((POP3_MSGS * size))
  # The server side: the same Maildir served by mailproto serve and by Dovecot.
  for client in curl poplib mailproto-std; do
    local name=pop3-server-$client
    scenario "$name" dovecot \
      "POP3 server: RETR all $POP3_MSGS × $size octets over one connection, client $client"
    for run in $(seq 0 "$RUNS"); do
      for impl in $(rotate "$run" mailproto-serve dovecot); do
        if [ "$impl" = dovecot ]; then dovecot_start "$mailroot"; else pop3_serve_start "$mailroot"; fi
        if [ "$run" = 0 ]; then
          pop3_client "$client" "$SERVER_PORT" >/dev/null 2>&1 || true
        else
          timed "$name" "$impl" "$run" "$POP3_MSGS" "$octets" pop3_client "$client" "$SERVER_PORT"
        fi
        server_stop
      done
    done
  done
  # The client side: every client against Dovecot.
  local name=pop3-client-dovecot
  scenario "$name" poplib,curl \
    "POP3 client: RETR all $POP3_MSGS × $size octets from Dovecot over one connection"
  dovecot_start "$mailroot"
  local port=$SERVER_PORT
  for run in $(seq 0 "$RUNS"); do
    for impl in $(rotate "$run" mailproto-std mailproto-smol poplib curl); do
      if [ "$run" = 0 ]; then
        pop3_client "$impl" "$port" >/dev/null 2>&1 || true
      else
        timed "$name" "$impl" "$run" "$POP3_MSGS" "$octets" pop3_client "$impl" "$port"
      fi
    done
  done
  server_stop
  rm -rf "$mailroot"
}

# --- 3b. fetch into a Maildir, and logins on a large maildrop --------------------------

# fetch_load IMPL PORT DIR: download every message of user bench from Dovecot on
# 127.0.0.1:PORT into the fresh Maildir DIR/out, set up by benches/peers/fetch_setup.sh.
fetch_load() {
  case $1 in
    mailproto)
      # shellcheck disable=SC2086 # FETCH_PLAIN is empty or one flag
      MAILPROTO_PASSWORD=bench "$BIN/mailproto" fetch $FETCH_PLAIN --server "127.0.0.1:$2" \
        --user bench --out "$3/out"
      ;;
    fetchmail) FETCHMAILHOME=$3 fetchmail -f "$3/fetchmailrc" -i "$3/fetchids" --nodetach --silent ;;
    getmail)
      if [ "$(id -u)" = 0 ]; then # getmail does not deliver as root (fetch_setup.sh)
        setpriv --reuid nobody --regid nogroup --clear-groups \
          getmail --getmaildir "$3/getmail" --rcfile "$3/getmailrc"
      else
        getmail --getmaildir "$3/getmail" --rcfile "$3/getmailrc"
      fi
      ;;
  esac
}

export -f fetch_load

# N × 10 KB from Dovecot into a fresh Maildir per run, every message made durable by
# each client before it counts as fetched (mailproto: batched fsync of the files, of
# new/ and of its journal; fetchmail's MDA procmail and getmail: an fsync per message
# file). The load's CPU (the client's, and for fetchmail its procmail children's) per
# message is recorded beside the rate.
section_fetch() {
  local apt=()
  command -v fetchmail >/dev/null || apt+=(fetchmail)
  [ -x /usr/bin/procmail ] || apt+=(procmail)
  command -v getmail >/dev/null || apt+=(getmail6)
  if [ ${#apt[@]} -gt 0 ]; then
    log "installing ${apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt[@]}"
  fi
  FETCH_PLAIN=
  if "$BIN/mailproto" fetch --help | grep -q -- '--plain'; then FETCH_PLAIN=--plain; fi
  export FETCH_PLAIN
  local msgs size=10240 run impl mailroot=$WORK/fetch-src dir=$WORK/fetch-dst
  msgs=$(count 2000)
  rm -rf "$mailroot"
  python3 "$PEERS/make_maildir.py" "$mailroot/bench" "$msgs" "$size"
  chmod -R a+rX "$mailroot"
  chown -R nobody:nogroup "$mailroot"
  local name=fetch-dovecot-10k
  scenario "$name" fetchmail,getmail \
    "fetch into a Maildir (fsync kept): $msgs × $size octets from Dovecot over POP3"
  dovecot_start "$mailroot"
  local port=$SERVER_PORT
  for run in $(seq 0 "$RUNS"); do
    for impl in $(rotate "$run" mailproto fetchmail getmail); do
      bash "$PEERS/fetch_setup.sh" "$impl" "$port" "$dir"
      if [ "$run" = 0 ]; then # warm-up (Dovecot's index, the page cache), not recorded
        timeout "$LIMIT" bash -c '"$@"' load fetch_load "$impl" "$port" "$dir" >/dev/null 2>&1 || true
      else
        timed "$name" "$impl" "$run" "$msgs" "$((msgs * size))" fetch_load "$impl" "$port" "$dir"
        local got
        got=$(find "$dir/out/new" "$dir/out/cur" -type f | wc -l)
        [ "$got" = "$msgs" ] || log "WARNING: $impl stored $got of $msgs messages"
      fi
    done
  done
  server_stop
  rm -rf "$mailroot" "$dir"
  fetch_scaling
}

# fetch_scaling: mailproto fetch alone on maildrops of 2,500, 10,000 and 40,000 10 KB
# messages from Dovecot (RUNS runs each, into a fresh Maildir), to show its cost per
# message does not grow with the number of messages. Written to $OUT/fetch-scaling.md.
fetch_scaling() {
  local n run size=10240 mailroot=$WORK/fetch-src dir=$WORK/fetch-dst raw=$WORK/scaling.tsv
  : >"$raw"
  for n in $(count 2500) $(count 10000) $(count 40000); do
    rm -rf "$mailroot"
    python3 "$PEERS/make_maildir.py" "$mailroot/bench" "$n" "$size"
    chmod -R a+rX "$mailroot"
    chown -R nobody:nogroup "$mailroot"
    dovecot_start "$mailroot"
    for run in $(seq 0 "$RUNS"); do
      bash "$PEERS/fetch_setup.sh" mailproto "$SERVER_PORT" "$dir"
      local t0 t1
      t0=$(date +%s.%N)
      timeout "$LIMIT" /usr/bin/time -f '%U %S' -o "$WORK/load.cpu" \
        bash -c '"$@"' load fetch_load mailproto "$SERVER_PORT" "$dir" >/dev/null 2>&1 ||
        log "FAILED: fetch of $n run $run"
      t1=$(date +%s.%N)
      local got
      got=$(find "$dir/out/new" "$dir/out/cur" -type f | wc -l)
      [ "$got" = "$n" ] || log "WARNING: fetch stored $got of $n messages"
      # Run 0 warms Dovecot's index and the page cache; it is not recorded.
      [ "$run" = 0 ] || printf '%s\t%s\t%s\n' "$n" "$(python3 -c "print($t1 - $t0)")" \
        "$(awk 'NR == 1 { print $1 + $2 }' "$WORK/load.cpu")" >>"$raw"
    done
    server_stop
  done
  python3 - "$raw" >"$OUT/fetch-scaling.md" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, secs, cpu = line.split()
    rows.setdefault(int(n), []).append((float(secs), float(cpu)))
print("#### mailproto fetch: cost per message against the number of messages\n")
print("| messages | runs | seconds (median) | messages/s | wall µs/msg | client CPU µs/msg |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
for n, rs in sorted(rows.items()):
    secs = statistics.median(r[0] for r in rs)
    cpu = statistics.median(r[1] for r in rs)
    print(f"| {n:,} | {len(rs)} | {secs:.2f} | {n / secs:,.0f} | {secs / n * 1e6:,.0f} | {cpu / n * 1e6:,.0f} |")
print()
EOF
  log "wrote $OUT/fetch-scaling.md"
  cat "$OUT/fetch-scaling.md" >&2
  rm -rf "$mailroot" "$dir"
}

# A POP3 login on a maildrop of N (50,000 by default) 1 KB messages, mailproto serve
# beside Dovecot: the round trips of PASS (the server locks and lists the maildrop) and
# of STAT, for the first login after the server starts (Dovecot without its index files,
# which that login writes; serve without its cache of measured sizes) and the median of
# RUNS logins after it, with the server's CPU time over all the logins. Twice: names as
# other programs write them (every file must be measured once), and names with the
# Maildir++ size fields ,S= and ,W= (both servers list from readdir alone). Written to
# $OUT/pop3-login.md.
section_pop3_login() {
  local msgs run impl layout mailroot=$WORK/login
  msgs=$(count 50000)
  local raw=$WORK/login.tsv
  : >"$raw"
  for layout in plain sized; do
    rm -rf "$mailroot"
    log "making a maildrop of $msgs messages ($layout names)"
    python3 "$PEERS/make_maildir.py" "$mailroot/bench" "$msgs" 1024 "$layout"
    chmod -R a+rX "$mailroot"
    chown -R nobody:nogroup "$mailroot"
    for impl in mailproto-serve dovecot; do
      find "$mailroot/bench" -maxdepth 1 -name 'dovecot*' -exec rm -rf {} +
      # The page cache holds the maildrop for both servers: cold disks are not measured.
      if [ "$impl" = dovecot ]; then dovecot_start "$mailroot"; else pop3_serve_start "$mailroot"; fi
      local cpu0 cpu1
      cpu0=$(server_cpu)
      for run in $(seq 0 "$RUNS"); do
        local line
        line=$(timeout "$LIMIT" python3 "$PEERS/pop3_login.py" "$SERVER_PORT" bench bench) ||
          log "FAILED: login $impl run $run"
        log "login $impl ($layout) run $run: $line"
        printf '%s\t%s\t%s\t%s\n' "$impl" "$layout" "$run" "$line" >>"$raw"
      done
      cpu1=$(server_cpu)
      printf '%s\t%s\tcpu\tserver_cpu_s=%s\n' "$impl" "$layout" \
        "$(python3 -c "print(f'{$cpu1 - $cpu0:.3f}')")" >>"$raw"
      server_stop
    done
  done
  python3 - "$raw" "$msgs" "$RUNS" >"$OUT/pop3-login.md" <<'EOF'
import statistics, sys
rows, cpu, n, runs = {}, {}, int(sys.argv[2]), int(sys.argv[3])
for line in open(sys.argv[1]):
    impl, layout, run, rest = line.rstrip("\n").split("\t")
    if not rest:
        continue
    f = dict(kv.split("=") for kv in rest.split())
    if run == "cpu":
        cpu[impl, layout] = float(f["server_cpu_s"])
        continue
    rows.setdefault((impl, layout), []).append(
        (int(run), float(f["pass_ms"]), float(f["stat_ms"]), int(f["messages"]))
    )
print(f"#### POP3 login on a maildrop of {n:,} messages (1 KB each)\n")
print(
    "| server | names | first login: PASS ms | first: STAT ms "
    f"| later logins (median of {runs}): PASS ms | later: STAT ms "
    f"| server CPU, all {runs + 1} logins | messages listed |"
)
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
names = {"plain": "no size fields", "sized": "`,S=` `,W=`"}
for (impl, layout), rs in rows.items():
    first = min(rs)
    later = [r for r in rs if r[0] > 0]
    med = lambda i: statistics.median(r[i] for r in later) if later else float("nan")
    c = cpu.get((impl, layout))
    c = f"{c * 1000:,.0f} ms" if c is not None else "n/a"
    print(
        f"| {impl} | {names[layout]} | {first[1]:,.1f} | {first[2]:,.1f} "
        f"| {med(1):,.1f} | {med(2):,.1f} | {c} | {first[3]:,} |"
    )
print()
EOF
  log "wrote $OUT/pop3-login.md"
  cat "$OUT/pop3-login.md" >&2
  rm -rf "$mailroot"
}

# --- 4. Memory -----------------------------------------------------------------------

status_kib() { # PID FIELD: VmRSS / VmHWM in KiB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# idle_row RUNTIME N: N idle SMTP sessions on smtp_discard RUNTIME, one row of $MEMORY.
idle_row() {
  local runtime=$1 sessions=$2 hold=5 addr_port idle_base client_pid peak=0 opened=0 threads=0 i
  addr_port=$(free_port)
  start_bg SERVER_PID "$WORK/server.log" "$BIN/smtp_discard" "$runtime" "127.0.0.1:$addr_port" $((sessions + 100))
  wait_port "$addr_port"
  idle_base=$(status_kib "$SERVER_PID" VmRSS)
  start_bg client_pid "$WORK/idle.out" timeout 180 "$BIN/idle_sessions" 127.0.0.1 "$addr_port" "$sessions" "$hold"
  for i in $(seq 1200); do
    if grep -q '^open=' "$WORK/idle.out" 2>/dev/null; then
      opened=$(sed -n 's/^open=//p' "$WORK/idle.out")
      sleep 1
      peak=$(status_kib "$SERVER_PID" VmRSS)
      threads=$(status_kib "$SERVER_PID" Threads)
      break
    fi
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$client_pid" 2>/dev/null || true
  server_stop
  python3 - "$runtime" "$opened" "$idle_base" "$peak" "$threads" >>"$MEMORY" <<'EOF'
import sys
runtime = sys.argv[1]
n, base, peak, threads = (int(x or 0) for x in sys.argv[2:6])
per = (peak - base) * 1024 / n if n else 0
print(f"| {runtime} | {n:,} | {base:,} | {peak:,} | {per:,.0f} | {threads:,} |")
EOF
}

section_memory() {
  {
    echo "#### Core state per idle session"
    echo
    echo '```'
    "$BIN/state_size"
    echo '```'
    echo
  } >"$MEMORY"

  # One large message through SMTP into mailproto serve's Maildir and back out via POP3.
  local big
  big=$(count 1073741824)
  local mailroot=$WORK/big smtp pop3
  rm -rf "$mailroot"
  mkdir -p "$mailroot"
  smtp=$(free_port)
  pop3=$(free_port)
  start_bg SERVER_PID "$WORK/server.log" "$BIN/mailproto" serve --quiet \
    --smtp "127.0.0.1:$smtp" --pop3 "127.0.0.1:$pop3" --maildir "$mailroot" \
    --user sink:bench --max-message-size 4294967296
  wait_port "$smtp"
  wait_port "$pop3"
  local base after_smtp after_pop3 t0 t1 t2
  base=$(status_kib "$SERVER_PID" VmHWM)
  t0=$(date +%s.%N)
  timeout "$LIMIT" "$BIN/smtp_blast" std 127.0.0.1 "$smtp" 1 "$big" >"$WORK/load.out" 2>&1 ||
    log "FAILED: large message over SMTP: $(cat "$WORK/load.out")"
  t1=$(date +%s.%N)
  after_smtp=$(status_kib "$SERVER_PID" VmHWM)
  /usr/bin/time -f '%M' -o "$WORK/client.kib" timeout "$LIMIT" "$BIN/pop3_retr" std 127.0.0.1 \
    "$pop3" sink bench >"$WORK/load.out" 2>&1 ||
    log "FAILED: large message over POP3: $(cat "$WORK/load.out")"
  t2=$(date +%s.%N)
  after_pop3=$(status_kib "$SERVER_PID" VmHWM)
  local retrieved
  retrieved=$(grep -o 'octets=[0-9]*' "$WORK/load.out" || echo "octets=?")
  server_stop
  rm -rf "$mailroot"
  python3 - "$big" "$base" "$after_smtp" "$after_pop3" "$t0" "$t1" "$t2" "$retrieved" \
    "$(cat "$WORK/client.kib" 2>/dev/null || echo 0)" >>"$MEMORY" <<'EOF'
import sys
big, base, smtp, pop3 = (int(x) for x in sys.argv[1:5])
t0, t1, t2 = (float(x) for x in sys.argv[5:8])
retrieved, client = sys.argv[8], int(sys.argv[9].strip() or 0)
print(f"#### One {big / 2**20:,.0f} MiB message through mailproto serve\n")
print("| step | server VmHWM (KiB) | growth over start (KiB) | seconds |")
print("| --- | ---: | ---: | ---: |")
print(f"| after start | {base:,} | — | — |")
print(f"| after SMTP in (smtp_blast std) | {smtp:,} | {smtp - base:,} | {t1 - t0:.1f} |")
print(f"| after POP3 out (pop3_retr std, {retrieved}) | {pop3:,} | {pop3 - base:,} | {t2 - t1:.1f} |")
print(f"\nThe POP3 client's own peak RSS (/usr/bin/time %M): {client:,} KiB.\n")
EOF

  # Idle plaintext SMTP sessions, opened by a separate client process (idle_sessions),
  # on every runtime: RSS growth of the server per session. std runs a thread per
  # session, so it gets fewer (threads count against the machine's process limit).
  {
    echo "#### Idle plaintext SMTP sessions (smtp_discard, opened by idle_sessions)"
    echo
    echo "| server | sessions | idle server VmRSS (KiB) | with the sessions open (KiB) | per session (bytes) | threads |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  } >>"$MEMORY"
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  local runtime sessions
  for runtime in smol smol1 tokio tokio1 std; do
    sessions=$(count 15000)
    [ "$runtime" != std ] || sessions=$(count 5000)
    idle_row "$runtime" "$sessions"
  done
  echo >>"$MEMORY"
  log "memory: $(tr '\n' ' ' <"$MEMORY" | tail -c 400)"
}

# --- profiles of the comparisons that miss their target ----------------------------------

# Reduced runs under strace -c (system calls) and valgrind --tool=callgrind (instructions),
# written to $OUT/profile.md. Not part of the default sections.
section_profile() {
  local p=$OUT/profile n=2000
  rm -rf "$p"
  mkdir -p "$p"
  top_callgrind() { (callgrind_annotate "$1" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -"${2:-12}") || true; }
  top_strace() { head -"${2:-9}" "$1" || true; }
  {
    echo "#### SMTP client: $n × 4096 octets to smtp-sink over one connection"
    smtp_server_start smtp-sink
    strace -c -o "$p/smtp-blast-std.strace" "$BIN/smtp_blast" std 127.0.0.1 "$SERVER_PORT" "$n" 4096 >/dev/null
    strace -f -c -o "$p/smtp-blast-smol.strace" "$BIN/smtp_blast" smol 127.0.0.1 "$SERVER_PORT" "$n" 4096 >/dev/null
    strace -c -o "$p/smtp-source.strace" "$SMTP_SOURCE" -d -s 1 -m "$n" -l 4096 \
      -f bench@example.org -t sink@example.org "127.0.0.1:$SERVER_PORT"
    valgrind --tool=callgrind --callgrind-out-file="$p/smtp-blast-std.callgrind" \
      "$BIN/smtp_blast" std 127.0.0.1 "$SERVER_PORT" "$n" 4096 >/dev/null 2>&1
    valgrind --tool=callgrind --callgrind-out-file="$p/smtp-blast-smol.callgrind" \
      "$BIN/smtp_blast" smol 127.0.0.1 "$SERVER_PORT" "$n" 4096 >/dev/null 2>&1
    server_stop
    for f in smtp-blast-std smtp-blast-smol smtp-source; do
      printf '\n%s, system calls (strace -c):\n\n```\n' "$f"
      top_strace "$p/$f.strace"
      echo '```'
    done
    for f in smtp-blast-std smtp-blast-smol; do
      printf '\n%s, instructions (callgrind_annotate, top entries):\n\n```\n' "$f"
      top_callgrind "$p/$f.callgrind"
      echo '```'
    done

    echo
    echo "#### POP3 client: RETR all $n × 10240 octets from Dovecot"
    local mailroot=$WORK/profile-pop3
    rm -rf "$mailroot"
    python3 "$PEERS/make_maildir.py" "$mailroot/bench" "$n" 10240
    chown -R nobody:nogroup "$mailroot"
    dovecot_start "$mailroot"
    "$BIN/pop3_retr" std 127.0.0.1 "$SERVER_PORT" bench bench >/dev/null # index warm-up
    strace -c -o "$p/pop3-retr-std.strace" "$BIN/pop3_retr" std 127.0.0.1 "$SERVER_PORT" bench bench >/dev/null
    strace -c -o "$p/curl.strace" curl -sS -u bench:bench "pop3://127.0.0.1:$SERVER_PORT/[1-$n]" >/dev/null
    valgrind --tool=callgrind --callgrind-out-file="$p/pop3-retr-std.callgrind" \
      "$BIN/pop3_retr" std 127.0.0.1 "$SERVER_PORT" bench bench >/dev/null 2>&1
    server_stop
    rm -rf "$mailroot"
    for f in pop3-retr-std curl; do
      printf '\n%s, system calls (strace -c):\n\n```\n' "$f"
      top_strace "$p/$f.strace"
      echo '```'
    done
    printf '\npop3-retr-std, instructions (callgrind_annotate, top entries):\n\n```\n'
    top_callgrind "$p/pop3-retr-std.callgrind"
    echo '```'

    echo
    echo "#### mailproto serve delivering $n × 4096 octets into a Maildir (smtp-source -s 20)"
    mkdir -p "$WORK/maildir"
    local port serve_pid strace_pid
    port=$(free_port)
    start_bg serve_pid "$WORK/server.log" "$BIN/mailproto" serve --quiet \
      --smtp "127.0.0.1:$port" --pop3 "127.0.0.1:$(free_port)" --maildir "$WORK/maildir" \
      --user sink:bench
    wait_port "$port"
    start_bg strace_pid "$WORK/strace.log" strace -f -c -o "$p/serve-maildir.strace" -p "$serve_pid"
    sleep 1
    smtp_source "$port" 20 "$n" 4096
    kill -INT "$strace_pid" # detaches and writes the summary
    wait "$strace_pid" 2>/dev/null || true
    stop_pid "$serve_pid"
    rm -rf "$WORK/maildir"
    printf '\nmailproto serve, system calls (strace -f -c):\n\n```\n'
    top_strace "$p/serve-maildir.strace" 12
    echo '```'
  } >"$p/../profile.md"
  log "wrote $OUT/profile.md"
}

# --- report --------------------------------------------------------------------------

section_report() {
  [ -s "$RESULTS" ] || { log "no results yet in $RESULTS"; return 0; }
  {
    echo "### Results ($(date -u +%Y-%m-%d), RUNS=$RUNS, SCALE=$SCALE)"
    echo
    python3 "$ROOT/benches/stats.py" "$RESULTS" "$SCENARIOS"
    [ ! -s "$MEMORY" ] || cat "$MEMORY"
  } >"$OUT/summary.md"
  python3 "$ROOT/benches/chart.py" "$OUT/summary.tsv" "$CHART"
  log "wrote $OUT/summary.md and $CHART"
  cat "$OUT/summary.md"
}

# --- main ----------------------------------------------------------------------------

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(peers smtp-server smtp-maildir smtp-client smtp-pool pop3 fetch pop3-login memory report)
for s in "${sections[@]}"; do
  case $s in
    peers) section_peers ;;
    smtp-server) section_smtp_server ;;
    smtp-maildir) section_smtp_maildir ;;
    smtp-client) section_smtp_client ;;
    smtp-pool) section_smtp_pool ;;
    pop3) section_pop3 ;;
    fetch) section_fetch ;;
    pop3-login) section_pop3_login ;;
    memory) section_memory ;;
    report) section_report ;;
    profile) section_profile ;;
    *) echo "unknown section $s (peers smtp-server smtp-maildir smtp-client smtp-pool pop3 fetch pop3-login memory report profile)" >&2 && exit 2 ;;
  esac
done
