#!/usr/bin/python3
"""paramiko driver for renkei's end-to-end tests.

Usage: paramiko_client.py HOST PORT USER KEYFILE COMMAND [ARGS...]

Commands (each prints one JSON object per line on stdout):
  put LOCAL REMOTE            upload (paramiko's put: pipelined writes)
  get REMOTE LOCAL            download with prefetch (the read pattern that
                              freezes servers whose request loop blocks)
  stat REMOTE                 {"size": ...}
  listdir REMOTE              {"names": [...]}
  try OP ARGS...              run one operation, report {"ok": false,
                              "errno": ..., "message": ...} on failure
  load PREFIX THREADS COUNT SIZE
                              THREADS parallel sessions upload COUNT files
                              each; prints {"start": name, "sha256", "size"}
                              before and {"ok": name} after each close
  oversize BYTES              send one SFTP packet claiming BYTES bytes
  flood BYTES                 send BYTES of pipelined requests without
                              reading any reply
  writes LOCAL REMOTE OFF:LEN,...
                              writes of those pieces of LOCAL in that order
                              (out of order if so listed), each answered
                              before the next, then close; {"ok": ...} or
                              the first error, the close's included
  fuzz SEED N                 N random operations (hostile paths included);
                              {"ops": N, "ok": k, "refused": r}
  password PASSWORD           try to log in with a password (KEYFILE unused)
  sessions N                  open N logged-in sessions and hold them;
                              {"opened": k, "error": ...} at the first refusal
  crowd N                     open N logged-in connections, going on after
                              refusals; {"opened": k, "refused": r,
                              "errors": [...]}
  channels N                  open and close N SFTP sessions one after
                              another on one connection; {"opened": k}
  cut LOCAL REMOTE NBYTES     upload the first NBYTES of LOCAL, then drop
                              the connection without closing the file
  chdir PATH...               chdir to each PATH in turn (paramiko stats
                              "<cwd>/.." before it goes up); {"cwd": ...,
                              "names": [...]} of the last
  append REMOTE               open REMOTE with "a" (SFTP APPEND), write 23
                              bytes, seek to 11, write 11 more, close;
                              {"size": ...} of the file after
  hold_read REMOTE            open REMOTE, read its first MiB, print
                              {"read": n}, wait for a line on stdin, read
                              the rest; {"sha256": ..., "size": ...} or
                              {"error": ...}
  handles N REMOTE            open REMOTE N times without closing;
                              {"opened": k, "error": ...} when refused
"""
import hashlib
import os
import json
import socket
import struct
import sys
import threading
import time

import paramiko


def out(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def connect(host, port, user, keyfile):
    key = paramiko.Ed25519Key.from_private_key_file(keyfile)
    bind = os.environ.get("RENKEI_BIND")
    if bind:
        # A segment's listener admits its own network only.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((bind, 0))
        s.connect((host, int(port)))
        t = paramiko.Transport(s)
    else:
        t = paramiko.Transport((host, int(port)))
    t.connect(username=user, pkey=key)
    return t, paramiko.SFTPClient.from_transport(t)



def close_checked(sftp, f):
    """Closes an upload and raises if the server did not answer OK.

    paramiko's own close() swallows the server's answer (and a connection
    lost while waiting for it), so an upload that was never committed would
    look acknowledged.
    """
    f.flush()
    if f.pipelined:
        sftp._finish_responses(f)
    f._closed = True
    sftp._request(paramiko.sftp.CMD_CLOSE, f.handle)


def content(name, size):
    seed = hashlib.sha256(name.encode()).digest()
    block = seed * (65536 // len(seed))
    data = (block * (size // len(block) + 1))[:size]
    return data


def main():
    host, port, user, keyfile, cmd, *args = sys.argv[1:]
    if cmd == "load":
        prefix, threads, count, size = args[0], int(args[1]), int(args[2]), int(args[3])
        lock = threading.Lock()

        def worker(n):
            try:
                t, sftp = connect(host, port, user, keyfile)
                for i in range(count):
                    name = f"{prefix}-{n}-{i}.dat"
                    data = content(name, size + i * 4099)
                    with lock:
                        out({"start": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
                    f = sftp.open(f"/inbox/{name}", "wb")
                    f.set_pipelined(True)
                    f.write(data)
                    close_checked(sftp, f)
                    with lock:
                        out({"ok": name})
            except Exception as e:  # the daemon being killed ends the run
                with lock:
                    out({"error": str(e), "thread": n})

        ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        return
    if cmd == "password":
        t = paramiko.Transport((host, int(port)))
        try:
            t.connect(username=user, password=args[0])
            out({"ok": True})
        except (paramiko.SSHException, EOFError, socket.error) as e:
            out({"ok": False, "error": str(e)})
        return
    if cmd == "sessions":
        held = []
        try:
            for _ in range(int(args[0])):
                t, sftp = connect(host, port, user, keyfile)
                sftp.listdir("/")  # a round trip: really in
                held.append(t)
            out({"opened": len(held)})
        except (paramiko.SSHException, EOFError, socket.error, IOError) as e:
            out({"opened": len(held), "error": str(e) or type(e).__name__})
        return
    if cmd == "crowd":
        held, errors = [], []
        for _ in range(int(args[0])):
            try:
                t, sftp = connect(host, port, user, keyfile)
                sftp.listdir("/")
                held.append(t)
            except (paramiko.SSHException, EOFError, socket.error, IOError) as e:
                errors.append(str(e) or type(e).__name__)
        out({"opened": len(held), "refused": len(errors), "errors": errors})
        return
    if cmd == "channels":
        t = connect(host, port, user, keyfile)[0]
        opened = 0
        try:
            for _ in range(int(args[0])):
                sftp = paramiko.SFTPClient.from_transport(t)
                sftp.listdir("/")
                sftp.close()
                opened += 1
            out({"opened": opened})
        except (paramiko.SSHException, EOFError, socket.error, IOError) as e:
            out({"opened": opened, "error": str(e) or type(e).__name__})
        return
    if cmd in ("oversize", "flood"):
        key = paramiko.Ed25519Key.from_private_key_file(keyfile)
        t = paramiko.Transport((host, int(port)))
        t.connect(username=user, pkey=key)
        ch = t.open_session()
        ch.invoke_subsystem("sftp")
        ch.sendall(struct.pack(">IBI", 5, 1, 3))  # INIT v3
        n = int(args[0])
        try:
            if cmd == "oversize":
                ch.sendall(struct.pack(">IBI", n, 3, 1) + b"x" * 64)
            else:
                # STAT requests, never reading a reply.
                path = b"/inbox/" + b"a" * 200
                one = struct.pack(">BI", 17, 0) + struct.pack(">I", len(path)) + path
                pkt = struct.pack(">I", len(one)) + one
                sent = 0
                while sent < n:
                    ch.sendall(pkt * 256)
                    sent += len(pkt) * 256
            # The server must close the connection.
            ch.settimeout(30)
            while True:
                data = ch.recv(65536)
                if not data:
                    break
            out({"closed": True, "transport_active": t.is_active() and not ch.closed})
        except (socket.error, EOFError, paramiko.SSHException) as e:
            out({"closed": True, "error": str(e)})
        return
    t, sftp = connect(host, port, user, keyfile)
    if cmd == "writes":
        data = open(args[0], "rb").read()
        pieces = [tuple(map(int, p.split(":"))) for p in args[2].split(",")]
        try:
            f = sftp.open(args[1], "wb")
            for off, length in pieces:
                f.seek(off)
                f.write(data[off : off + length])
                f.flush()
            close_checked(sftp, f)
            out({"ok": True})
        except IOError as e:
            out({"ok": False, "message": str(e)})
        return
    if cmd == "cut":
        data = open(args[0], "rb").read()[: int(args[2])]
        f = sftp.open(args[1], "wb")
        f.write(data)
        f.flush()
        sftp.stat(args[1])  # a round trip: every write has been answered
        t.sock.close()
        out({"sent": len(data)})
        return
    if cmd == "fuzz":
        import random
        rng = random.Random(int(args[0]))
        paths = ["/inbox/a.csv", "/inbox/b.csv", "/inbox/d", "/inbox/d/x.csv", "/outbox/b.csv",
                 "/011002/inbox/b.csv", "../011002/inbox/b.csv", "/inbox/../../011002/inbox/b.csv",
                 "/inbox/../outbox/b.csv", "/", "/inbox", "/outbox", "/inbox/a\nb", "/etc/passwd",
                 "/inbox/d/../../011002/outbox/b.csv", "011002", "/inbox/\u202ecsv.exe"]
        ok = refused = 0
        for _ in range(int(args[1])):
            p, q = rng.choice(paths), rng.choice(paths)
            op = rng.choice(["stat", "listdir", "read", "write", "remove", "rename", "posix_rename",
                             "mkdir", "rmdir", "symlink", "chmod", "utime"])
            try:
                if op == "stat": sftp.stat(p)
                elif op == "listdir": sftp.listdir(p)
                elif op == "read":
                    data = sftp.open(p, "rb").read()
                    assert b"SAPPORO" not in data, p
                elif op == "write":
                    f = sftp.open(p, "wb"); f.write(b"z" * rng.randint(0, 5000)); f.close()
                elif op == "remove": sftp.remove(p)
                elif op == "rename": sftp.rename(p, q)
                elif op == "posix_rename": sftp.posix_rename(p, q)
                elif op == "mkdir": sftp.mkdir(p)
                elif op == "rmdir": sftp.rmdir(p)
                elif op == "symlink": sftp.symlink(p, q)
                elif op == "chmod": sftp.chmod(p, 0o600)
                elif op == "utime": sftp.utime(p, (1, 1))
                ok += 1
            except IOError:
                refused += 1
        out({"ops": ok + refused, "ok": ok, "refused": refused})
        return
    if cmd == "handles":
        files = []
        try:
            for _ in range(int(args[0])):
                files.append(sftp.open(args[1], "rb"))
            out({"opened": len(files)})
        except (IOError, EOFError, socket.error, paramiko.SSHException) as e:
            out({"opened": len(files), "error": str(e) or type(e).__name__, "active": t.is_active()})
        return
    if cmd == "put":
        attrs = sftp.put(args[0], args[1])
        out({"size": attrs.st_size})
    elif cmd == "get":
        sftp.get(args[0], args[1])
        out({"ok": True})
    elif cmd == "stat":
        out({"size": sftp.stat(args[0]).st_size})
    elif cmd == "listdir":
        out({"names": sorted(sftp.listdir(args[0]))})
    elif cmd == "append":
        f = sftp.open(args[0], "a")
        f.write(b"A" * 23)
        f.seek(11)
        f.write(b"B" * 11)
        close_checked(sftp, f)
        out({"size": sftp.stat(args[0]).st_size})
    elif cmd == "gated":
        # Lists PATH, says so, waits for the file GATE, lists again.
        path, gate = args
        out({"before": sorted(sftp.listdir(path))})
        deadline = time.time() + 60
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.05)
        try:
            out({"after_ok": True, "names": sorted(sftp.listdir(path))})
        except IOError as e:
            out({"after_ok": False, "message": str(e)})
    elif cmd == "open_uploads":
        # Opens COUNT files /inbox/open-<i>.bin for writing, writes SIZE
        # bytes into each, closes none, says how the writes went and waits
        # until the file GATE exists (or it is killed).
        count, size, gate = int(args[0]), int(args[1]), args[2]
        files, written, refused, message = [], 0, 0, ""
        for i in range(count):
            f = sftp.open("/inbox/open-%d.bin" % i, "wb")
            files.append(f)
            try:
                f.write(content("open-%d" % i, size))
                written += 1
            except IOError as e:
                refused += 1
                message = str(e)
        out({"written": written, "refused": refused, "message": message})
        deadline = time.time() + 120
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.05)
    elif cmd == "hold_write":
        # Opens REMOTE, writes LOCAL into it, says so, and closes it only
        # once the file GATE exists: the close (the commit) then meets
        # whatever happened meanwhile.
        local, remote, gate = args
        f = sftp.open(remote, "wb")
        with open(local, "rb") as src:
            f.write(src.read())
        f.flush()
        out({"open": True})
        deadline = time.time() + 60
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.05)
        try:
            close_checked(sftp, f)
            out({"ok": True})
        except IOError as e:
            out({"ok": False, "message": str(e)})
    elif cmd == "hold_read":
        f = sftp.open(args[0], "rb")
        h = hashlib.sha256()
        first = f.read(1 << 20)
        h.update(first)
        out({"read": len(first)})
        sys.stdin.readline()
        size = len(first)
        try:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                size += len(chunk)
            f.close()
            out({"sha256": h.hexdigest(), "size": size})
        except IOError as e:
            out({"error": str(e)})
    elif cmd == "chdir":
        for p in args:
            sftp.chdir(p)
        out({"cwd": sftp.getcwd(), "names": sorted(sftp.listdir("."))})
    elif cmd == "try":
        op, rest = args[0], args[1:]
        try:
            if op == "open_read":
                sftp.open(rest[0], "rb").read()
            elif op == "open_write":
                f = sftp.open(rest[0], "wb")
                f.write(b"x")
                close_checked(sftp, f)
            elif op == "listdir":
                sftp.listdir(rest[0])
            elif op == "stat":
                sftp.stat(rest[0])
            elif op == "remove":
                sftp.remove(rest[0])
            elif op == "rename":
                sftp.rename(rest[0], rest[1])
            elif op == "posix_rename":
                sftp.posix_rename(rest[0], rest[1])
            elif op == "mkdir":
                sftp.mkdir(rest[0])
            elif op == "rmdir":
                sftp.rmdir(rest[0])
            elif op == "symlink":
                sftp.symlink(rest[0], rest[1])
            elif op == "readlink":
                sftp.readlink(rest[0])
            elif op == "open_rw":
                sftp.open(rest[0], "r+")
            elif op == "open_append_rw":
                sftp.open(rest[0], "a+")
            elif op == "hardlink":
                sftp._request(paramiko.sftp.CMD_EXTENDED, "hardlink@openssh.com", rest[0], rest[1])
            elif op == "check_file":
                sftp.open(rest[0], "rb").check("sha1")
            elif op == "append":
                f = sftp.open(rest[0], "a")
                f.write(b"more")
                close_checked(sftp, f)
            elif op == "chmod":
                sftp.chmod(rest[0], 0o777)
            elif op == "truncate":
                sftp.truncate(rest[0], 1)
            elif op == "utime":
                sftp.utime(rest[0], (1700000000, 1700000000))
            else:
                raise SystemExit(f"unknown op {op}")
            out({"ok": True})
        except IOError as e:
            out({"ok": False, "errno": e.errno, "message": str(e)})
    else:
        raise SystemExit(f"unknown command {cmd}")
    sftp.close()
    t.close()


if __name__ == "__main__":
    main()
