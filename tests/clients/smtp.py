#!/usr/bin/python3
"""A real SMTP server on loopback for the notification tests (aiosmtpd).

usage: smtp.py CERT KEY PORT_FILE OUT MODE
MODE "starttls": STARTTLS required before anything else, AUTH required
(user renkei, password from the environment SMTP_PASSWORD).
MODE "tls": TLS from the first byte, no AUTH.
Each message received is appended to OUT as one JSON line.
"""

import asyncio
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

cert, key, port_file, out, mode = sys.argv[1:6]
password = os.environ.get("SMTP_PASSWORD", "").encode()

ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
                "auth": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
                "subject": str(msg["subject"]),
                "body": msg.get_content(),
            }, ensure_ascii=False) + "\n")
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"renkei" and auth_data.password == password
    return AuthResult(success=ok, auth_data=auth_data)


def factory():
    if mode == "starttls":
        return SMTP(Handler(), tls_context=ctx, require_starttls=True,
                    auth_required=True, authenticator=authenticator, hostname="mail.test")
    return SMTP(Handler(), hostname="mail.test")


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=ctx if mode == "tls" else None)
    port = server.sockets[0].getsockname()[1]
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, port_file)
    await asyncio.Event().wait()


asyncio.run(main())
