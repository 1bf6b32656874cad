# An aiosmtpd SMTP server on loopback for the end-to-end bench (benches/e2e.sh).
#
# usage: aiosmtpd_sink.py PORT discard
#        aiosmtpd_sink.py PORT maildir DIR
# "discard" drops every message; "maildir" adds it to the Maildir DIR with the standard
# library's mailbox.Maildir (written under tmp/, renamed into new/, no fsync). Runs until
# killed (SIGTERM).
import asyncio
import mailbox
import signal
import sys

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


handler = Discard() if mode == "discard" else ToMaildir(sys.argv[3])


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
