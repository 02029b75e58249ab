#!/usr/bin/python3
"""Hostile clients of the HTTPS front door, for tests/web_hostile.rs.

  web_hostile.py silent-tcp HOST PORT     connect, send nothing
  web_hostile.py silent-tls HOST PORT     finish TLS, send nothing
  web_hostile.py idle-after HOST PORT     one request, then keep the
                                          connection open and silent
Each prints the seconds until the server closed the connection (or
"open" after 60 s).

  web_hostile.py stall HOST PORT COOKIE PATH N
      N connections each ask for PATH with the session COOKIE and never
      read the answer; prints "ready" and holds them until killed.
"""

import socket
import ssl
import sys
import time


def tls(host, port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((host, port), timeout=30)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def until_closed(s, start):
    s.settimeout(60)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
    except (ConnectionResetError, ssl.SSLError, OSError):
        pass
    except socket.timeout:
        print("open")
        return
    print(f"{time.time() - start:.1f}")


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "silent-tcp":
        s = socket.create_connection((host, port), timeout=30)
        until_closed(s, time.time())
    elif mode == "silent-tls":
        start = time.time()
        s = tls(host, port)
        until_closed(s, start)
    elif mode == "idle-after":
        s = tls(host, port)
        s.sendall(b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.settimeout(30)
        data = b""
        while b"</html>" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        start = time.time()
        until_closed(s, start)
    elif mode == "stall":
        cookie, path, n = sys.argv[4], sys.argv[5], int(sys.argv[6])
        conns = []
        for _ in range(n):
            s = tls(host, port)
            # A tiny receive buffer: the server's writes stall sooner.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            req = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\r\n"
            s.sendall(req.encode())
            conns.append(s)
        print("ready", flush=True)
        while True:
            time.sleep(3600)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
