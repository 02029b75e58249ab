#!/usr/bin/python3
"""A webhook receiver for tests/notify.rs: HTTPS on loopback with the
test's certificate, each POST saved as one JSON line (headers, body).

  webhook.py CERT KEY PORT_FILE OUT_FILE ok     answer 200
  webhook.py CERT KEY PORT_FILE OUT_FILE hang   accept TCP, never answer
"""

import http.server
import json
import socket
import ssl
import sys
import time

cert, key, port_file, out_file, mode = sys.argv[1:6]

if mode == "hang":
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    open(port_file, "w").write(str(s.getsockname()[1]))
    while True:
        time.sleep(3600)


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with open(out_file, "a") as f:
            f.write(json.dumps({"headers": dict(self.headers), "body": body.decode()}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
open(port_file, "w").write(str(server.server_address[1]))
server.serve_forever()
