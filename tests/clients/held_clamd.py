#!/usr/bin/python3
"""A clamd whose first scan answer waits, for tests/door_kit.rs.

  held_clamd.py LISTEN_SOCKET CLAMD_SOCKET DIR [HANG_MARKER]

Listens on LISTEN_SOCKET and passes every connection through to the real
clamd at CLAMD_SOCKET. When clamd answers the first INSTREAM scan, the
answer is held: the script creates DIR/scanning and sends the answer
only once DIR/release exists. Every other command, and every later scan,
passes straight through. So a test can act while renkei is in the
middle of checking a file, without guessing at timing.

With HANG_MARKER, the first hold is skipped, and a scan whose bytes hold
HANG_MARKER is never answered (as a scanner stuck on one file): its
connection stays open and silent until the client gives up.
"""

import os
import socket
import sys
import threading
import time

listen, upstream, folder = sys.argv[1], sys.argv[2], sys.argv[3]
hang = sys.argv[4].encode() if len(sys.argv) > 4 else None
held = {"first": hang is None}
lock = threading.Lock()


def pump(src, dst, hold, stuck=None):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if stuck is not None:
                if hang and hang in b:
                    stuck["yes"] = True
                if stuck["yes"]:
                    continue
            if hold:
                with lock:
                    first = held["first"]
                    held["first"] = False
                if first:
                    open(os.path.join(folder, "scanning"), "w").close()
                    deadline = time.time() + 120
                    while not os.path.exists(os.path.join(folder, "release")):
                        if time.time() > deadline:
                            return
                        time.sleep(0.05)
                hold = False
            dst.sendall(b)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client):
    first = client.recv(65536)
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    up.connect(upstream)
    up.sendall(first)
    scan = b"INSTREAM" in first[:16]
    stuck = {"yes": bool(hang and hang in first)}
    if stuck["yes"]:
        up.close()
        while client.recv(65536):
            pass
        client.close()
        return
    t = threading.Thread(target=pump, args=(client, up, False, stuck), daemon=True)
    t.start()
    pump(up, client, scan, stuck)
    t.join(5)
    client.close()
    up.close()


def main():
    if os.path.exists(listen):
        os.unlink(listen)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(listen)
    s.listen(16)
    open(os.path.join(folder, "ready"), "w").close()
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
