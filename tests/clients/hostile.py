#!/usr/bin/python3
"""Hostile SFTP clients for renkei's limit tests (paramiko transport).

Usage: hostile.py HOST PORT USER KEYFILE COMMAND [ARGS...]

Each command prints one JSON line when it has done its harm, then holds
its connections until its standard input closes (so the test can measure
the daemon meanwhile), unless said otherwise.

  dirflood BYTES        pipeline OPENDIR/READDIR/CLOSE of /inbox (small
                        requests, large replies) without reading a reply
  reorder CONNS SESSIONS FILES LEN
                        CONNS connections x SESSIONS sessions x FILES
                        uploads, each sent LEN bytes from offset 32 KiB
                        (never offset 0), without waiting for answers
  abandon REMOTE        start a prefetching download, read nothing, then
                        close the TCP connection; exits at once
  stall REMOTE          start a prefetching download and read nothing
"""
import json
import os
import socket
import struct
import sys
import time

import paramiko


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def connect(host, port, user, keyfile):
    key = paramiko.Ed25519Key.from_private_key_file(keyfile)
    t = paramiko.Transport((host, int(port)))
    t.connect(username=user, pkey=key)
    return t


def hold():
    sys.stdin.read()
    os._exit(0)


def packet(kind, rid, body):
    one = struct.pack(">BI", kind, rid) + body
    return struct.pack(">I", len(one)) + one


def string(b):
    return struct.pack(">I", len(b)) + b


def dirflood(t, limit):
    ch = t.open_session()
    ch.invoke_subsystem("sftp")
    ch.sendall(struct.pack(">IBI", 5, 1, 3))  # INIT v3
    sent, rid, handle = 0, 1, 1
    try:
        while sent < limit:
            chunk = b""
            for _ in range(256):
                h = str(handle).encode()
                chunk += packet(11, rid, string(b"/inbox"))  # OPENDIR
                chunk += packet(12, rid + 1, string(h))  # READDIR
                chunk += packet(4, rid + 2, string(h))  # CLOSE
                rid += 3
                handle += 1
            ch.sendall(chunk)
            sent += len(chunk)
        out({"sent": sent, "closed": False})
    except (socket.error, EOFError, paramiko.SSHException) as e:
        out({"sent": sent, "closed": True, "error": str(e)})


def reorder(host, port, user, keyfile, conns, sessions, files, length):
    held, sent, refused = [], 0, 0
    piece = b"r" * 32768
    for c in range(conns):
        try:
            t = connect(host, port, user, keyfile)
        except (paramiko.SSHException, socket.error, EOFError):
            refused += 1
            continue
        held.append(t)
        for s in range(sessions):
            try:
                sftp = paramiko.SFTPClient.from_transport(t)
            except (paramiko.SSHException, socket.error, EOFError):
                refused += 1
                continue
            opened = []
            held.append((sftp, opened))  # paramiko closes what is dropped
            for f in range(files):
                try:
                    fh = sftp.open(f"/inbox/ooo-{c}-{s}-{f}.dat", "wb")
                    fh.set_pipelined(True)
                    opened.append(fh)
                    off = 32768
                    while off < 32768 + length:
                        fh.seek(off)
                        fh.write(piece)
                        off += len(piece)
                        sent += len(piece)
                except (IOError, paramiko.SSHException, socket.error, EOFError) as e:
                    refused += 1
            # Wait for every write's answer, so that what the daemon holds
            # now is what it keeps holding.
            for fh in opened:
                try:
                    sftp._finish_responses(fh)
                except (IOError, paramiko.SSHException, socket.error, EOFError) as e:
                    refused += 1
    out({"sent": sent, "refused": refused})
    return held


def start_download(t, remote):
    sftp = paramiko.SFTPClient.from_transport(t)
    f = sftp.open(remote, "rb")
    f.prefetch()
    # Let prefetch fill the window: wait (bounded) for data to arrive.
    deadline = time.time() + 10
    while not sftp.sock.recv_ready() and time.time() < deadline:
        time.sleep(0.01)
    return sftp, f


def main():
    host, port, user, keyfile, cmd, *args = sys.argv[1:]
    if cmd == "reorder":
        kept = reorder(host, port, user, keyfile, *map(int, args[:4]))
        hold()
        del kept
    t = connect(host, port, user, keyfile)
    if cmd == "dirflood":
        dirflood(t, int(args[0]))
        hold()
    if cmd == "abandon":
        start_download(t, args[0])
        t.sock.shutdown(socket.SHUT_RDWR)
        t.sock.close()
        out({"abandoned": True})
        os._exit(0)
    if cmd == "stall":
        start_download(t, args[0])
        out({"stalled": True})
        hold()
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
