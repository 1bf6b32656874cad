# Fill a Maildir's new/ with COUNT messages of SIZE octets (CRLF lines as on the wire,
# the same layout as the Rust generator), for the bench's POP3 comparisons.
# usage: make_maildir.py DIR COUNT SIZE
import os
import sys

root, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(root, sub), exist_ok=True)
line = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmn\r\n"
for i in range(1, count + 1):
    header = (
        b"From: <bench@example.org>\r\nTo: <sink@example.org>\r\n"
        b"Subject: mailproto e2e bench %d\r\nMessage-ID: <%d@example.org>\r\n\r\n" % (i, i)
    )
    body = (line * (size // len(line) + 1))[: max(size - len(header) - 2, 0)]
    if body.endswith(b"\r"):
        body = body[:-1] + b"x"
    # Spread modification times so every server lists them in the same order.
    path = os.path.join(root, "new", "1700000000.M%06dP1Q%d.bench" % (i, i))
    with open(path, "wb") as f:
        f.write(header + body + b"\r\n")
    os.utime(path, (1700000000 + i, 1700000000 + i))
