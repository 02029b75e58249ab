#!/usr/bin/python3
"""Clients that probe what every door decides alike, for tests/door_kit.rs.

  door_kit.py web-logins HOST PORT USER WRONG N RIGHT
      On ONE keep-alive TLS connection: N logins with the password
      WRONG, then one with RIGHT. Prints the statuses as a JSON list
      (a closed connection ends the list with "closed").

  door_kit.py web-short-body HOST PORT
      POST /login declaring 200 bytes and sending 9; prints the seconds
      until the server closed the connection (or "open" after 60 s).

  door_kit.py web-stalled-upload HOST PORT COOKIE CSRF
      POST /upload/inbox/ with the session COOKIE: the csrf part, the
      start of a file part, then nothing. Prints the seconds until the
      server closed the connection (or "open").

  door_kit.py web-bomb HOST PORT COOKIE CSRF KIND MIB
      POST /upload/inbox/, chunked, MIB MiB of KIND: "no-boundary" (a
      body without its boundary), "endless-headers" (a part whose
      headers never end) or "huge-csrf" (a csrf field of MIB MiB).
      Prints the status line's code, or "closed" when the server cut
      the body off before answering.

  door_kit.py ftps-drip HOST PORT SECONDS
      Connects to the FTPS door and sends one byte every SECONDS,
      never a whole command. Prints the seconds until the server closed
      the connection (or "open" after 120 s).
"""

import json
import socket
import ssl
import sys
import time
import urllib.parse

# The same TLS connection and wait-for-close as the other hostile client.
from web_hostile import tls, until_closed


def read_response(s):
    """One HTTP/1.1 response: (status, headers dict, body bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    body = rest
    if "content-length" in headers:
        n = int(headers["content-length"][0])
        while len(body) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    elif headers.get("transfer-encoding", [""])[0] == "chunked":
        while not body.endswith(b"0\r\n\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body


def login_token(headers):
    for c in headers.get("set-cookie", []):
        name, _, rest = c.partition("=")
        if name == "__Host-renkei-login":
            return rest.split(";")[0]
    raise ValueError("no login cookie")


def web_logins(host, port, user, wrong, n, right):
    s = tls(host, port)
    statuses = []
    s.sendall(b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n")
    try:
        _, headers, _ = read_response(s)
        token = login_token(headers)
        for i in range(n + 1):
            pw = right if i == n else wrong
            form = urllib.parse.urlencode(
                {"token": token, "user": user, "password": pw, "totp": ""}
            ).encode()
            req = (
                "POST /login HTTP/1.1\r\nHost: localhost\r\n"
                f"Cookie: __Host-renkei-login={token}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(form)}\r\n\r\n"
            ).encode() + form
            s.sendall(req)
            status, headers, _ = read_response(s)
            statuses.append(status)
            try:
                token = login_token(headers)
            except ValueError:
                pass
            if "close" in headers.get("connection", []):
                statuses.append("closed")
                break
    except (ConnectionError, ssl.SSLError, OSError):
        statuses.append("closed")
    print(json.dumps(statuses))


def web_short_body(host, port):
    s = tls(host, port)
    start = time.time()
    s.sendall(
        b"POST /login HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 200\r\n\r\nuser=abcd"
    )
    until_closed(s, start)


BOUNDARY = "renkeiDoorKitBoundary"


def upload_head(cookie, csrf, chunked, length=None):
    h = (
        "POST /upload/inbox/ HTTP/1.1\r\nHost: localhost\r\n"
        f"Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
    )
    if chunked:
        h += "Transfer-Encoding: chunked\r\n"
    else:
        h += f"Content-Length: {length}\r\n"
    return (h + "\r\n").encode()


def web_stalled_upload(host, port, cookie, csrf):
    s = tls(host, port)
    start = time.time()
    part = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stall.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\nfirst bytes"
    ).encode()
    s.sendall(upload_head(cookie, csrf, False, 10 * 1024 * 1024) + part)
    until_closed(s, start)


def chunk(b):
    return f"{len(b):x}\r\n".encode() + b + b"\r\n"


def web_bomb(host, port, cookie, csrf, kind, mib):
    s = tls(host, port)
    s.sendall(upload_head(cookie, csrf, True))
    if kind == "no-boundary":
        first = b""
        filler = b"x" * 65536
    elif kind == "endless-headers":
        first = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n".encode()
        filler = b"X-Filler: " + b"y" * 65000 + b"\r\n"
    elif kind == "huge-csrf":
        first = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n".encode()
        filler = b"z" * 65536
    else:
        raise SystemExit(f"unknown kind {kind}")
    sent = 0
    total = mib * 1024 * 1024
    try:
        if first:
            s.sendall(chunk(first))
        while sent < total:
            s.sendall(chunk(filler))
            sent += len(filler)
        s.sendall(b"0\r\n\r\n")
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    try:
        status, _, _ = read_response(s)
        print(status)
    except (ConnectionError, ssl.SSLError, OSError, ValueError, IndexError):
        print("closed")


def ftps_drip(host, port, every):
    s = socket.create_connection((host, port), timeout=120)
    start = time.time()
    s.settimeout(every)
    while time.time() - start < 120:
        try:
            b = s.recv(4096)
            if not b:
                print(f"{time.time() - start:.1f}")
                return
        except socket.timeout:
            pass
        except (ConnectionResetError, OSError):
            print(f"{time.time() - start:.1f}")
            return
        try:
            s.sendall(b"N")
        except (BrokenPipeError, ConnectionResetError, OSError):
            print(f"{time.time() - start:.1f}")
            return
    print("open")


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    a = sys.argv[4:]
    if mode == "web-logins":
        web_logins(host, port, a[0], a[1], int(a[2]), a[3])
    elif mode == "web-short-body":
        web_short_body(host, port)
    elif mode == "web-stalled-upload":
        web_stalled_upload(host, port, a[0], a[1])
    elif mode == "web-bomb":
        web_bomb(host, port, a[0], a[1], a[2], int(a[3]))
    elif mode == "ftps-drip":
        ftps_drip(host, port, float(a[0]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
