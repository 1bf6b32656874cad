# An aiosmtpd server for mailproto's interoperability tests, on loopback only.
#
# usage: aiosmtpd_server.py PORT OUTDIR CERT KEY USERS_JSON
#   CERT/KEY: PEM paths, or "-" for no TLS (then no STARTTLS is offered)
#   USERS_JSON: {"name": "password", ...}; when not empty, AUTH PLAIN/LOGIN is required
# Each message is written to OUTDIR/NNNNNN.eml (the bytes received, unstuffed) with its
# envelope in OUTDIR/NNNNNN.json. The server stops when its standard input closes.
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port = int(sys.argv[1])
outdir = sys.argv[2]
cert, key = sys.argv[3], sys.argv[4]
users = json.loads(sys.argv[5])


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(outdir, "%06d" % self.count)
        with open(base + ".json", "w") as f:
            json.dump(
                {"from": envelope.mail_from, "to": envelope.rcpt_tos, "tls": session.ssl is not None},
                f,
            )
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        name = auth_data.login.decode()
        if name in users and users[name] == auth_data.password.decode():
            return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


context = None
if cert != "-":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=port,
    tls_context=context,
    require_starttls=False,
    authenticator=authenticate,
    auth_require_tls=context is not None,
    auth_required=bool(users),
    decode_data=False,
)
controller.start()
print("READY", flush=True)
sys.stdin.read()
controller.stop()
