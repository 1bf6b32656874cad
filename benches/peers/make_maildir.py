# Fill a Maildir's new/ with COUNT messages of SIZE octets (CRLF lines as on the wire,
# the same layout as the Rust generator), for the bench's POP3 comparisons.
# usage: make_maildir.py DIR COUNT SIZE [sized]
#   sized: names carry the Maildir++ size fields ,S=<octets>,W=<wire octets> (the files
#   already hold CRLF lines, so both are the file's length), which let a server list the
#   maildrop from readdir alone.
import os
import sys

root, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sized = len(sys.argv) > 4 and sys.argv[4] == "sized"
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
    data = header + body + b"\r\n"
    name = "1700000000.M%06dP1Q%d.bench" % (i, i)
    if sized:
        name += ",S=%d,W=%d" % (len(data), len(data))
    path = os.path.join(root, "new", name)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (1700000000 + i, 1700000000 + i))
