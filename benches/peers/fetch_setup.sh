#!/usr/bin/env bash
# Prepare one run of the bench's fetch comparison: a fresh directory DIR with an empty
# Maildir DIR/out and the configuration of IMPL to download every message of user bench
# (password bench) from 127.0.0.1:PORT into it, keeping every message on the server.
#   fetchmail: DIR/fetchmailrc (keep, fetchall), delivering through procmail as its MDA
#              (`procmail -m DIR/procmailrc`, DEFAULT=DIR/out/), which fsyncs each message
#              file before linking it into new/ (maildrop does the same, about 1 ms a
#              message slower here).
#   getmail:   DIR/getmailrc (SimplePOP3Retriever, read_all, no delete) with a Maildir
#              destination, which fsyncs each message file; getmail refuses to deliver as
#              root, so as root the bench runs getmail itself as nobody (DIR owned by it;
#              getmail's own `user =` option forks per message and can hang, seen here).
#   mailproto: nothing but the empty directory (mailproto fetch makes the Maildir).
# usage: fetch_setup.sh IMPL PORT DIR
set -euo pipefail
impl=$1 port=$2 dir=$3
rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"
case $impl in
  mailproto) ;;
  fetchmail)
    mkdir -p "$dir/out/tmp" "$dir/out/new" "$dir/out/cur"
    printf 'DEFAULT=%s/out/\nLOGFILE=/dev/null\n' "$dir" >"$dir/procmailrc"
    chmod 600 "$dir/procmailrc"
    cat >"$dir/fetchmailrc" <<RC
set no syslog
poll 127.0.0.1 with proto POP3 port $port
  user bench there with password bench is $(id -un) here
  keep fetchall no rewrite
  sslproto ''
  mda "/usr/bin/procmail -m $dir/procmailrc"
RC
    chmod 600 "$dir/fetchmailrc"
    ;;
  getmail)
    mkdir -p "$dir/out/tmp" "$dir/out/new" "$dir/out/cur" "$dir/getmail"
    cat >"$dir/getmailrc" <<RC
[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = $port
username = bench
password = bench

[destination]
type = Maildir
path = $dir/out/

[options]
read_all = true
delete = false
verbose = 0
message_log_syslog = false
RC
    [ "$(id -u)" != 0 ] || chown -R nobody:nogroup "$dir"
    ;;
  *) echo "unknown fetch client $impl" >&2 && exit 2 ;;
esac
