# Time one POP3 login on a large maildrop: connect, USER, then the round trips of PASS
# (the server opens and lists the maildrop) and of STAT, in milliseconds. QUIT without
# DELE.
# usage: pop3_login.py PORT USER PASSWORD   prints: messages=N pass_ms=X stat_ms=Y total_ms=Z
import poplib
import sys
import time

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t0 = time.monotonic()
p = poplib.POP3("127.0.0.1", port, timeout=120)
p.user(user)
t1 = time.monotonic()
p.pass_(password)
t2 = time.monotonic()
count, _ = p.stat()
t3 = time.monotonic()
p.quit()
ms = lambda a, b: (b - a) * 1000
print(f"messages={count} pass_ms={ms(t1, t2):.1f} stat_ms={ms(t2, t3):.1f} total_ms={ms(t0, t3):.1f}")
