"""An FTPS client for the tests, on Python's ftplib.FTP_TLS.

Usage: ftps.py HOST PORT USER PASSWORD CAFILE STEPS_JSON [CLIENT_CERT CLIENT_KEY]

Each step is a list: ["put", local, remote], ["get", remote, local],
["get_from", remote, local, offset],
["put_at", local, remote, offset] (REST offset, then STOR of the rest), ["list", dir], ["nlst", dir],
["mlsd", dir], ["size", name], ["mdtm", name], ["rename", a, b],
["delete", name], ["mkd", dir], ["rmd", dir], ["cwd", dir], ["pwd"], ["steal", remote, source_ip], ["no_reuse", remote],
["stall_get", remote] (never reads), ["no_connect", remote] (never connects),
["raw", "COMMAND LINE"], ["wait", GATE_FILE] (until it exists),
["flood_unread", "COMMAND LINE", count] (sends it count times from a
thread and reads no reply: the server's replies back up), ["raw_bytes", HEX], ["cut", local, remote, nbytes] (sends nbytes
and drops the data connection without TLS close_notify, as a killed
client would), ["resume", local, remote] (asks SIZE, then REST and
STOR of the rest), ["put_plain_data", local, remote] (PROT C first).

One JSON line per step on stdout: {"step": i, "ok": ..., "reply": ...,
"value": ...}. A refused step is reported, not raised, so a test can
check the reply; only a broken connection ends the script.

Data connections resume the control connection's TLS session, as
renkei requires (ftplib does not by default).
"""

import ftplib
import json
import os
import socket
import ssl
import sys


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control session."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session
            )
        return conn, size


def connect(host, port, user, password, cafile, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if cert:
        ctx.load_cert_chain(cert, key)
    ftp = ReusingFTP_TLS(context=ctx, encoding="utf-8", timeout=60)
    ftp.context_cafile = cafile
    ftp.connect(host, int(port))
    ftp.auth()
    ftp.login(user, password)
    ftp.prot_p()
    return ftp


def cut(ftp, local, remote, nbytes):
    """Sends the first nbytes of local, then closes the data socket
    without TLS close_notify."""
    with open(local, "rb") as f:
        data = f.read(nbytes)
    conn = ftp.transfercmd("STOR " + remote)
    conn.sendall(data)
    # Close the TCP socket under the TLS layer: no close_notify.
    raw = socket.socket(fileno=os.dup(conn.fileno()))
    raw.shutdown(socket.SHUT_RDWR)
    raw.close()
    conn.close()
    return ftp.getresp()


def resume(ftp, local, remote):
    try:
        have = ftp.size(remote) or 0
    except ftplib.error_perm:
        have = 0
    with open(local, "rb") as f:
        f.seek(have)
        reply = ftp.storbinary("STOR " + remote, f, rest=have)
    return reply, have


def passive(ftp):
    """PASV: the host and port the reply names."""
    host, port = ftplib.parse227(ftp.sendcmd("PASV"))
    return host, port


def steal(ftp, remote, source):
    """A stranger (connecting from `source`) reaches the passive port
    before the client; then the client fetches `remote` as usual."""
    host, port = passive(ftp)
    stranger = socket.create_connection((host, port), timeout=20, source_address=(source, 0))
    ftp.putcmd("RETR " + remote)
    # The stranger is dropped unanswered.
    try:
        got = stranger.recv(16)
    except OSError:
        got = b""
    stranger.close()
    conn = socket.create_connection((host, port), timeout=20)
    first = ftp.getresp()
    conn = ftp.context.wrap_socket(conn, server_hostname=ftp.host, session=ftp.sock.session)
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    conn.unwrap()
    conn.close()
    return ftp.voidresp(), {"first": first, "stranger_got": len(got), "client_got": len(data)}


def no_reuse(ftp, remote):
    """A data connection that does not resume the control session (a
    fresh TLS session, as a stranger with its own TLS client would make)."""
    host, port = passive(ftp)
    conn = socket.create_connection((host, port), timeout=20)
    ftp.putcmd("RETR " + remote)
    first = ftp.getresp()
    fresh = ssl.create_default_context(cafile=ftp.context_cafile)
    got = 0
    try:
        tls = fresh.wrap_socket(conn, server_hostname=ftp.host)
        got = len(tls.recv(65536))
        tls.close()
    except (OSError, ssl.SSLError):
        pass
    try:
        last = ftp.getresp()
    except ftplib.Error as e:
        last = str(e)
    return last, {"first": first, "got": got}


def stall_get(ftp, remote):
    """Starts a download and never reads it (a dead peer): the server's
    reply comes when it gives up."""
    conn = ftp.transfercmd("RETR " + remote)
    try:
        return ftp.getresp(), None
    finally:
        conn.close()


def no_connect(ftp, remote):
    """PASV and RETR, then never opens the data connection."""
    passive(ftp)
    ftp.putcmd("RETR " + remote)
    first = ftp.getresp()
    try:
        last = ftp.getresp()
    except ftplib.Error as e:
        last = str(e)
    return last, {"first": first}


def step(ftp, s):
    op = s[0]
    if op == "put":
        with open(s[1], "rb") as f:
            return ftp.storbinary("STOR " + s[2], f), None
    if op == "get":
        with open(s[2], "wb") as f:
            return ftp.retrbinary("RETR " + s[1], f.write), None
    if op == "put_at":
        with open(s[1], "rb") as f:
            f.seek(s[3])
            return ftp.storbinary("STOR " + s[2], f, rest=s[3]), None
    if op == "get_from":
        with open(s[2], "wb") as f:
            return ftp.retrbinary("RETR " + s[1], f.write, rest=s[3]), None
    if op == "list":
        lines = []
        return ftp.retrlines("LIST " + s[1], lines.append), lines
    if op == "nlst":
        return "226", ftp.nlst(s[1])
    if op == "mlsd":
        return "226", [[n, f] for n, f in ftp.mlsd(s[1])]
    if op == "size":
        return "213", ftp.size(s[1])
    if op == "mdtm":
        return ftp.sendcmd("MDTM " + s[1]), None
    if op == "rename":
        return ftp.rename(s[1], s[2]), None
    if op == "delete":
        return ftp.delete(s[1]), None
    if op == "mkd":
        return "257", ftp.mkd(s[1])
    if op == "rmd":
        return ftp.rmd(s[1]), None
    if op == "cwd":
        return ftp.cwd(s[1]), None
    if op == "pwd":
        return "257", ftp.pwd()
    if op == "wait":
        # Holds the session open until the file s[1] exists (the test has
        # changed something meanwhile).
        import time
        deadline = time.time() + 60
        while not os.path.exists(s[1]) and time.time() < deadline:
            time.sleep(0.05)
        return "wait", os.path.exists(s[1])
    if op == "raw_bytes":
        # A command line as bytes (hex), e.g. a Shift_JIS name.
        ftp.sock.sendall(bytes.fromhex(s[1]) + b"\r\n")
        try:
            return ftp.getresp(), None
        except ftplib.Error as e:
            return str(e), None
    if op == "raw":
        return ftp.sendcmd(s[1]), None
    if op == "flood_unread":
        import threading
        line = (s[1] + "\r\n").encode()
        count = s[2]

        def flood():
            try:
                for _ in range(count):
                    ftp.sock.sendall(line)
            except OSError:
                pass

        threading.Thread(target=flood, daemon=True).start()
        return "flooding", None
    if op == "cut":
        return cut(ftp, s[1], s[2], s[3]), None
    if op == "resume":
        reply, have = resume(ftp, s[1], s[2])
        return reply, have
    if op == "stall_get":
        return stall_get(ftp, s[1])
    if op == "no_connect":
        return no_connect(ftp, s[1])
    if op == "steal":
        return steal(ftp, s[1], s[2])
    if op == "no_reuse":
        return no_reuse(ftp, s[1])
    if op == "put_plain_data":
        ftp.prot_c()
        with open(s[1], "rb") as f:
            return ftp.storbinary("STOR " + s[2], f), None
    raise ValueError("unknown step " + op)


def main():
    host, port, user, password, cafile, steps = sys.argv[1:7]
    cert = sys.argv[7] if len(sys.argv) > 7 else None
    key = sys.argv[8] if len(sys.argv) > 8 else None
    try:
        ftp = connect(host, port, user, password, cafile, cert, key)
    except ftplib.Error as e:
        print(json.dumps({"step": "login", "ok": False, "reply": str(e)}))
        return
    for i, s in enumerate(json.loads(steps)):
        try:
            reply, value = step(ftp, s)
            out = {"step": i, "ok": True, "reply": reply, "value": value}
        except ftplib.Error as e:
            out = {"step": i, "ok": False, "reply": str(e)}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    try:
        ftp.quit()
    except (ftplib.Error, OSError):
        pass


if __name__ == "__main__":
    main()
