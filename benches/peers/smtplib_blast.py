# Send COUNT messages of SIZE octets over one SMTP connection with smtplib (the Python
# side of the bench's SMTP client comparison). Prints messages, octets and seconds.
# usage: smtplib_blast.py PORT COUNT SIZE
import smtplib
import sys
import time

port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
header = (
    b"From: <bench@example.org>\r\nTo: <sink@example.org>\r\n"
    b"Subject: mailproto e2e bench\r\nMessage-ID: <bench@example.org>\r\n\r\n"
)
line = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmn\r\n"
body = (line * (size // len(line) + 1))[: max(size - len(header) - 2, 0)]
if body.endswith(b"\r"):
    body = body[:-1] + b"x"
msg = header + body + b"\r\n"
start = time.monotonic()
with smtplib.SMTP("127.0.0.1", port, local_hostname="localhost", timeout=60) as s:
    s.ehlo()
    for _ in range(count):
        s.sendmail("bench@example.org", ["sink@example.org"], msg)
secs = time.monotonic() - start
print(f"messages={count} octets={count * len(msg)} seconds={secs:.4f}")
