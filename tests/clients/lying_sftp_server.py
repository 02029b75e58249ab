#!/usr/bin/python3
"""An SFTP v3 server (run by sshd as its sftp subsystem, on stdin/stdout)
that lies about a file's size, for renkei's route tests.

Usage: lying_sftp_server.py DIR LISTED_SIZE SERVED_LOG

It lists DIR/endless.csv at LISTED_SIZE bytes, with its ready file
DIR/endless.csv.end, and when the file is read it sends bytes at every
offset (up to 256 MiB), as a broken or compromised server would. After
every read it writes the total number of bytes it has served to SERVED_LOG
(added to what earlier sessions served). Everything else is refused.
"""
import os
import struct
import sys
import time

DIR, LISTED, SERVED_LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
LIMIT = 256 << 20
MTIME = int(time.time()) - 3600
FILES = {"endless.csv": LISTED, "endless.csv.end": 0}

inp = sys.stdin.buffer
outp = sys.stdout.buffer


def read_exact(n):
    b = b""
    while len(b) < n:
        chunk = inp.read(n - len(b))
        if not chunk:
            sys.exit(0)
        b += chunk
    return b


def send(kind, body):
    outp.write(struct.pack(">IB", len(body) + 1, kind) + body)
    outp.flush()


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def attrs(size, is_dir=False):
    mode = (0o040755 if is_dir else 0o100644)
    return struct.pack(">IQIII", 0x1 | 0x4 | 0x8, size, mode, MTIME, MTIME)


def status(rid, code, msg=""):
    send(101, struct.pack(">II", rid, code) + s(msg) + s(""))


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def u32(self):
        v = struct.unpack_from(">I", self.b, self.i)[0]
        self.i += 4
        return v

    def u64(self):
        v = struct.unpack_from(">Q", self.b, self.i)[0]
        self.i += 8
        return v

    def string(self):
        n = self.u32()
        v = self.b[self.i:self.i + n]
        self.i += n
        return v


def served_add(n):
    try:
        before = int(open(SERVED_LOG).read())
    except (OSError, ValueError):
        before = 0
    with open(SERVED_LOG + ".tmp", "w") as f:
        f.write(str(before + n))
    os.replace(SERVED_LOG + ".tmp", SERVED_LOG)


def norm(p):
    return os.path.normpath("/" + p.decode(errors="replace").lstrip("/"))


def main():
    handles = {}
    next_h = 0
    while True:
        n = struct.unpack(">I", read_exact(4))[0]
        pkt = read_exact(n)
        kind, r = pkt[0], Reader(pkt[1:])
        if kind == 1:  # INIT
            send(2, struct.pack(">I", 3))
            continue
        rid = r.u32()
        if kind == 16:  # REALPATH
            p = norm(r.string())
            send(104, struct.pack(">II", rid, 1) + s(p) + s(p) + attrs(0, True))
        elif kind in (7, 17):  # LSTAT, STAT
            p = norm(r.string())
            if p == DIR or DIR.startswith(p.rstrip("/") + "/"):
                send(105, struct.pack(">I", rid) + attrs(0, True))
            elif os.path.dirname(p) == DIR and os.path.basename(p) in FILES:
                send(105, struct.pack(">I", rid) + attrs(FILES[os.path.basename(p)]))
            else:
                status(rid, 2, "No such file")
        elif kind == 11:  # OPENDIR
            p = norm(r.string())
            if p != DIR:
                status(rid, 2, "No such file")
                continue
            h = b"d%d" % next_h
            next_h += 1
            handles[h] = ("dir", False)
            send(102, struct.pack(">I", rid) + s(h))
        elif kind == 12:  # READDIR
            h = r.string()
            kind_, done = handles.get(h, (None, True))
            if kind_ != "dir" or done:
                status(rid, 1, "End of file")
                continue
            handles[h] = ("dir", True)
            body = struct.pack(">II", rid, len(FILES))
            for name, size in FILES.items():
                body += s(name) + s("-rw-r--r-- 1 x x %d Jan 1 00:00 %s" % (size, name)) + attrs(size)
            send(104, body)
        elif kind == 3:  # OPEN
            p = norm(r.string())
            name = os.path.basename(p)
            if os.path.dirname(p) != DIR or name not in FILES:
                status(rid, 2, "No such file")
                continue
            h = b"f%d" % next_h
            next_h += 1
            handles[h] = (name, False)
            send(102, struct.pack(">I", rid) + s(h))
        elif kind == 5:  # READ
            h, off, length = r.string(), r.u64(), r.u32()
            name = handles.get(h, (None,))[0]
            if name != "endless.csv" or off >= LIMIT:
                status(rid, 1, "End of file")
                continue
            length = min(length, LIMIT - off)
            served_add(length)
            send(103, struct.pack(">I", rid) + s(b"x" * length))
        elif kind == 8:  # FSTAT
            h = r.string()
            name = handles.get(h, (None,))[0]
            if name in FILES:
                send(105, struct.pack(">I", rid) + attrs(FILES[name]))
            else:
                status(rid, 4, "Failure")
        elif kind == 4:  # CLOSE
            handles.pop(r.string(), None)
            status(rid, 0, "Success")
        else:
            status(rid, 3, "Permission denied")


if __name__ == "__main__":
    main()
