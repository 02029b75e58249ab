#!/usr/bin/env python3
"""Writes the small seed corpora under fuzz/seeds/<target>/ from the
product's own files (the embedded configuration, the rule files), the
documentation's examples and the wire formats real clients send.
Run from the repository root; the output is checked in."""

import io
import json
import os
import struct
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def sftp_seeds():
    u32 = lambda v: struct.pack(">I", v)
    u64 = lambda v: struct.pack(">Q", v)
    put("sftp_packet", "init", bytes([1]) + u32(3))
    put("sftp_packet", "open", bytes([3]) + u32(1) + s("/inbox/住基.csv") + u32(0x1A) + u32(0x0D) + u64(4096) + u32(0o644) + u32(1) + u32(2))
    put("sftp_packet", "write", bytes([6]) + u32(2) + s(b"h1") + u64(0) + s(b"x" * 64))
    put("sftp_packet", "read", bytes([5]) + u32(3) + s(b"h1") + u64(32768) + u32(32768))
    put("sftp_packet", "rename", bytes([18]) + u32(4) + s("/inbox/a.filepart") + s("/inbox/a.csv"))
    put("sftp_packet", "posix_rename", bytes([200]) + u32(5) + s("posix-rename@openssh.com") + s("/inbox/a") + s("/inbox/b"))
    put("sftp_packet", "setstat_ext", bytes([9]) + u32(6) + s("/inbox/a") + u32(0x80000000) + u32(1) + s("k") + s("v"))
    put("sftp_packet", "statvfs", bytes([200]) + u32(7) + s("statvfs@openssh.com") + s("/"))


def ftp_seeds():
    for i, line in enumerate([
        "USER 011002-batch", "PASS secret", "AUTH TLS", "PBSZ 0", "PROT P",
        "OPTS UTF8 ON", "EPSV", "TYPE I", "REST 1048576", "STOR /inbox/住基.csv",
        "RETR outbox/result.csv", "MLSD /outbox", "RNFR a.tmp", "RNTO a.csv",
        "MFMT 20261201093000 a.csv", "CWD ../../etc", "SIZE ./inbox/../inbox/x",
    ]):
        put("ftp_command", f"line{i:02}", line)
    put("ftp_command", "sjis", b"STOR \x8f\x5a\x8a\xee.csv")


def path_seeds():
    for i, p in enumerate([
        "/inbox/a.csv", "inbox/dir/sub/file", "/outbox/../inbox/./x", "/",
        "/receipts/2026/r.txt", "//inbox//a", "/inbox/住民基本台帳_032018.DAT",
        "/send/down1/t.csv", "/receive/up1/t.csv", "/inbox/../../etc/passwd",
    ]):
        put("ns_path", f"path{i:02}", p)


def name_seeds():
    for i, n in enumerate([
        "JUKI_032018_20261201093000.DAT", "住民票.csv", "ガ.txt",
        "カ\u3099.txt", "a\u202eb.csv", "CON", "-rf", "a\\b", "ａ／ｂ", "x" * 255,
    ]):
        put("names", f"name{i:02}", n)


def format_seeds():
    fixed = b"H20261201\r\n" + b"D" + b"0" * 15 + b"\r\n" + b"T001\r\n"
    put("format", "fixed_crlf", bytes([0, 1, 3, 12]) + fixed)
    csv = "H,032018,20261201\nD,1,山田太郎\nT,1\n".encode("cp932")
    put("format", "csv_cp932", bytes([2, 2, 1, 3]) + csv)
    put("format", "lines_utf8", bytes([0, 0, 0, 20]) + "一行目\n二行目\n".encode())
    put("format", "quoted_csv", bytes([0, 0, 1, 2]) + b'"a,b","c""d"\n1,2\n')


def filetype_seeds():
    put("filetype", "pdf", bytes([2]) + b"%PDF-1.7\n" + b"\0" * 32)
    put("filetype", "png", bytes([3]) + b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    put("filetype", "elf_in_pdf", bytes([2]) + b"%PDF-1.4\n" + b"A" * 40 + b"\x7fELF\x02\x01\x01")
    put("filetype", "csv", bytes([0]) + "a,b\n1,2\n".encode())
    put("filetype", "zip", bytes([4]) + b"PK\x03\x04" + b"\0" * 26)


def zip_bytes(entries, nested=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        # A fixed time, so that the seeds are the same bytes every run.
        when = (2026, 12, 1, 9, 0, 0)
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, when), data, zipfile.ZIP_DEFLATED)
        if nested:
            z.writestr(zipfile.ZipInfo("inner.zip", when), nested, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def archive_seeds():
    put("archive", "plain", zip_bytes([("a.csv", "1,2\n"), ("b.txt", "x")]))
    put("archive", "nested", zip_bytes([("a.csv", "1")], zip_bytes([("deep.csv", "2")])))
    put("archive", "ratio", zip_bytes([("zeros.bin", b"\0" * 100000)]))


def clamd_seeds():
    for i, r in enumerate([
        b"stream: OK\0", b"stream: Eicar-Signature FOUND\0",
        b"INSTREAM size limit exceeded. ERROR\0", b"garbage", b"stream: OK",
    ]):
        put("clamd_reply", f"reply{i}", r)


def ctl_seeds():
    for i, req in enumerate([
        {"cmd": "status"}, {"cmd": "reload"}, {"cmd": "unban", "ip": "192.0.2.1"},
        {"cmd": "retry", "route": "juki-up", "item": None},
        {"cmd": "release", "id": "ab12", "reason": "誤検知"},
        {"cmd": "put", "tenant": "032018", "box": "inbox", "name": "a.csv"},
    ]):
        b = json.dumps(req, ensure_ascii=False).encode()
        put("ctl_frame", f"req{i}", struct.pack(">I", len(b)) + b)


def audit_seeds():
    with open(os.path.join(ROOT, "docs", "audit.md"), encoding="utf-8") as f:
        lines = [l for l in f if l.startswith('{"seq"')]
    for i, l in enumerate(lines[:6]):
        put("audit_record", f"line{i}", l)


def config_seeds():
    for name in ["default.toml", "renkei.toml"]:
        with open(os.path.join(ROOT, "config", name), "rb") as f:
            put("config", name, f.read())


def rules_seeds():
    d = os.path.join(ROOT, "policies")
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            put("rules", name, f.read())


def small_seeds():
    for i, w in enumerate(["Mon-Fri 06:00-22:00", "08:30-17:15", "Sat,Sun", "Mon-Fri 22:00-06:00", "24:00-24:00"]):
        put("window", f"w{i}", w)
    for i, c in enumerate(["0 2 * * MON-FRI", "*/15 * * * *", "30 8 1 * *", "0 0 29 2 *", "59 23 31 12 SUN"]):
        put("cron", f"c{i}", c)
    for i, p in enumerate(["*.csv\nJUKI_032018.csv", "JUKI_{tenant}_*.DAT\nJUKI_032018_1.DAT", "[!.]*", "**/*.csv\na/b/c.csv", "?.txt\na.txt"]):
        put("pattern", f"p{i}", p)
    put("calendar", "cabinet_office", "国民の祝日・休日月日,国民の祝日・休日名称\r\n2026/1/1,元日\r\n2026/11/23,勤労感謝の日\r\n".encode("shift_jis"))
    put("calendar", "utf8", "\ufeff# closed\n2026-12-29\n2026-12-30,年末\n".encode())


def secrets_seeds():
    put("secrets", "aws", b"[default]\naws_access_key_id = GK31c2f218a2e44f485b94239e\naws_secret_access_key = b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f524d9fe3ebc41a11\n")
    put("secrets", "crlf", b"[default]\r\naws_access_key_id=AKIA\r\naws_secret_access_key= s = x \r\n")
    put("secrets", "password", b"correct horse battery staple\r\nsecond line\n")


def proxy_seeds():
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    v4 = bytes([203, 0, 113, 7, 127, 0, 0, 11]) + (50123).to_bytes(2, "big") + (2222).to_bytes(2, "big")
    put("proxy_header", "tcp4", sig + bytes([0x21, 0x11]) + len(v4).to_bytes(2, "big") + v4 + b"SSH-2.0-OpenSSH_9.2\r\n")
    v6 = bytes(range(16)) + bytes(range(16, 32)) + (443).to_bytes(2, "big") + (8443).to_bytes(2, "big")
    tlv = bytes([0x04, 0, 3]) + b"abc"
    put("proxy_header", "tcp6_tlv", sig + bytes([0x21, 0x21]) + (len(v6) + len(tlv)).to_bytes(2, "big") + v6 + tlv)
    put("proxy_header", "local", sig + bytes([0x20, 0x00, 0, 0]))


def web_form_seeds():
    def part(name, value, filename=None):
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        return f"--XyZ\r\nContent-Disposition: {disp}\r\n\r\n".encode() + value + b"\r\n"
    body = part("csrf", b"0123456789abcdef") + part("file", b"a,b\r\n1,2\r\n", "住基.csv") + b"--XyZ--\r\n"
    put("web_form", "upload", bytes([64]) + body)
    put("web_form", "two_files", bytes([7]) + part("csrf", b"t") + part("file", b"x" * 300, "C:\\Users\\a\\b.txt") + part("file", b"", "") + b"--XyZ--\r\n")
    put("web_form", "no_boundary", bytes([255]) + b"x" * 512)
    put("web_form", "endless_headers", bytes([32]) + b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\nX: " + b"y" * 400)


def audit_verify_seeds():
    put("audit_verify", "unchanged", b"")
    put("audit_verify", "one_byte", bytes([0x40, 0x01, ord("7")]))
    put("audit_verify", "header", bytes([0x05, 0x00, ord("x")]))


if __name__ == "__main__":
    web_form_seeds(); audit_verify_seeds(); secrets_seeds(); proxy_seeds()
    sftp_seeds(); ftp_seeds(); path_seeds(); name_seeds(); format_seeds()
    filetype_seeds(); archive_seeds(); clamd_seeds(); ctl_seeds(); audit_seeds()
    config_seeds(); rules_seeds(); small_seeds()
