# An aiosmtpd SMTP server on loopback for the end-to-end bench (benches/e2e.sh).
#
# usage: aiosmtpd_sink.py PORT discard
#        aiosmtpd_sink.py PORT maildir DIR
#        aiosmtpd_sink.py PORT maildir-fsync DIR
# "discard" drops every message; "maildir" adds it to the Maildir DIR with the standard
# library's mailbox.Maildir (written under tmp/, renamed into new/, no fsync);
# "maildir-fsync" stores as mailproto serve's per-message path does before its 250: the
# file written under tmp/ and fdatasync'd, renamed into new/, new/ fsync'd, the blocking
# part in the default thread pool so other sessions go on meanwhile. Runs until killed
# (SIGTERM).
import asyncio
import itertools
import mailbox
import os
import signal
import socket
import sys
import time

from aiosmtpd.smtp import SMTP

port = int(sys.argv[1])
mode = sys.argv[2]


class Discard:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK"


class ToMaildir:
    def __init__(self, path):
        self.box = mailbox.Maildir(path, create=True)

    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.original_content)
        return "250 2.0.0 OK"


class ToMaildirFsync:
    def __init__(self, path):
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        self.path = path
        self.new = os.open(os.path.join(path, "new"), os.O_RDONLY | os.O_DIRECTORY)
        self.seq = itertools.count()
        self.host = socket.gethostname()

    def store(self, data):
        name = f"{time.time_ns() // 10**9}.M{next(self.seq)}P{os.getpid()}.{self.host}"
        tmp = os.path.join(self.path, "tmp", name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fdatasync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.path, "new", name))
        os.fsync(self.new)

    async def handle_DATA(self, server, session, envelope):
        await asyncio.get_running_loop().run_in_executor(
            None, self.store, envelope.original_content
        )
        return "250 2.0.0 OK"


handler = {"discard": Discard, "maildir": ToMaildir, "maildir-fsync": ToMaildirFsync}[mode]
handler = handler() if mode == "discard" else handler(sys.argv[3])


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", data_size_limit=0), "127.0.0.1", port
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


asyncio.run(main())
