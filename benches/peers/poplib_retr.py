# RETR every message over one POP3 connection with poplib (the Python side of the bench's
# POP3 comparisons). Prints messages, octets and seconds. QUIT without DELE.
# usage: poplib_retr.py PORT USER PASSWORD
import poplib
import sys
import time

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.monotonic()
p = poplib.POP3("127.0.0.1", port, timeout=60)
p.user(user)
p.pass_(password)
count, _ = p.stat()
octets = 0
for i in range(1, count + 1):
    _, lines, n = p.retr(i)
    octets += n
p.quit()
secs = time.monotonic() - start
print(f"messages={count} octets={octets} seconds={secs:.4f}")
