#!/usr/bin/python3
"""A real browser for the tests: headless Chromium driven over WebDriver
(chromium-driver), with nothing but the standard library.

Usage: browser.py STEPS.json OUT_DIR

STEPS.json is a list of steps, each a one-key object:
  {"go": URL}                      load a page
  {"type": [CSS, TEXT]}            type into a field
  {"click": CSS}                   click an element
  {"click_text": [CSS, TEXT]}      click the first CSS element whose text contains TEXT
  {"upload": [CSS, PATH]}          choose a file in a file input
  {"wait_text": TEXT}              wait until the page shows TEXT
  {"wait_file": NAME}              wait until OUT_DIR/downloads/NAME is complete
                                   (PREFIX* for a name the server chooses)
  {"shot": NAME}                   screenshot to OUT_DIR/NAME.png, checked
                                   to render (not blank, CJK font present)
Prints one JSON object: {"ok": true, "shots": {...}} or {"ok": false,
"error": ..., "page": <the page's text>}. Every wait has a deadline.
"""

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib

DEADLINE = 30.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Driver:
    def __init__(self, downloads):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        end = time.time() + DEADLINE
        while True:
            try:
                if self.call("GET", "/status")["value"]["ready"]:
                    break
            except Exception:
                pass
            if time.time() > end:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    # The test's certificate is its own, not a public CA's.
                    "acceptInsecureCerts": True,
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-dev-shm-usage",
                            "--disable-gpu",
                            "--window-size=1280,900",
                            "--lang=ja-JP",
                        ],
                        "prefs": {
                            "download.default_directory": downloads,
                            "download.prompt_for_download": False,
                        },
                    },
                }
            }
        }
        self.session = self.call("POST", "/session", caps)["value"]["sessionId"]
        self.s(
            "POST",
            "/goog/cdp/execute",
            {
                "cmd": "Browser.setDownloadBehavior",
                "params": {"behavior": "allow", "downloadPath": downloads},
            },
        )

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=DEADLINE + 30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.read().decode(errors='replace')}")

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def find(self, css):
        end = time.time() + DEADLINE
        while True:
            try:
                v = self.s("POST", "/element", {"using": "css selector", "value": css})["value"]
                return list(v.values())[0]
            except RuntimeError:
                if time.time() > end:
                    raise RuntimeError(f"no element {css!r}")
                time.sleep(0.1)

    def text(self):
        return self.s(
            "POST", "/execute/sync", {"script": "return document.body ? document.body.innerText : ''", "args": []}
        )["value"]

    def js(self, script):
        return self.s("POST", "/execute/sync", {"script": script, "args": []})["value"]

    def close(self):
        try:
            self.s("DELETE", "")
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def png_pixels(data):
    """Decodes an 8-bit RGB/RGBA PNG (what Chromium writes) to rows."""
    pos = 8
    width = height = 0
    channels = 4
    idat = b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            channels = {2: 3, 6: 4}[color]
            assert depth == 8
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows = []
    prev = bytearray(stride)
    i = 0
    for _ in range(height):
        f = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append((line, channels))
        prev = line
    return width, height, rows


def inked(png):
    """The share of pixels that are not the page's background."""
    width, height, rows = png_pixels(png)
    bg = tuple(rows[0][0][0:3])
    inked = total = 0
    for line, ch in rows[::4]:
        for x in range(0, width * ch, ch * 4):
            total += 1
            if tuple(line[x : x + 3]) != bg:
                inked += 1
    return inked / max(total, 1)


def run(steps, out):
    downloads = os.path.join(out, "downloads")
    os.makedirs(downloads, exist_ok=True)
    d = Driver(downloads)
    shots = {}
    try:
        for step in steps:
            (op, arg), = step.items()
            if op == "go":
                d.s("POST", "/url", {"url": arg})
            elif op == "type":
                el = d.find(arg[0])
                d.s("POST", f"/element/{el}/value", {"text": arg[1]})
            elif op == "click":
                el = d.find(arg)
                d.s("POST", f"/element/{el}/click", {})
            elif op == "click_text":
                css, text = arg
                end = time.time() + DEADLINE
                while True:
                    els = d.s("POST", "/elements", {"using": "css selector", "value": css})["value"]
                    hit = None
                    for e in els:
                        eid = list(e.values())[0]
                        if text in d.s("GET", f"/element/{eid}/text")["value"]:
                            hit = eid
                            break
                    if hit:
                        d.s("POST", f"/element/{hit}/click", {})
                        break
                    if time.time() > end:
                        raise RuntimeError(f"no {css} with text {text!r}")
                    time.sleep(0.1)
            elif op == "upload":
                el = d.find(arg[0])
                d.s("POST", f"/element/{el}/value", {"text": arg[1]})
            elif op == "wait_text":
                end = time.time() + DEADLINE
                while arg not in d.text():
                    if time.time() > end:
                        raise RuntimeError(f"the page never showed {arg!r}")
                    time.sleep(0.1)
            elif op == "wait_file":
                # NAME, or PREFIX* for a name the server chooses.
                def present():
                    names = os.listdir(downloads)
                    if any(n.endswith(".crdownload") for n in names):
                        return False
                    if arg.endswith("*"):
                        return any(n.startswith(arg[:-1]) for n in names)
                    return arg in names
                end = time.time() + DEADLINE
                while not present():
                    if time.time() > end:
                        raise RuntimeError(f"{arg} was not downloaded: {os.listdir(downloads)}")
                    time.sleep(0.1)
            elif op == "shot":
                png = base64.b64decode(d.s("GET", "/screenshot")["value"])
                path = os.path.join(out, f"{arg}.png")
                with open(path, "wb") as f:
                    f.write(png)
                cjk = d.js("return document.fonts.check('16px \"Noto Sans CJK JP\"')")
                shots[arg] = {
                    "path": path,
                    "inked": inked(png),
                    "cjk_font": bool(cjk),
                    "text": d.text(),
                }
            else:
                raise RuntimeError(f"unknown step {op}")
        return {"ok": True, "shots": shots}
    except Exception as e:  # reported to the test, with the page
        try:
            page = d.text()
        except Exception:
            page = ""
        return {"ok": False, "error": str(e), "page": page, "shots": shots}
    finally:
        d.close()


if __name__ == "__main__":
    steps = json.load(open(sys.argv[1]))
    print(json.dumps(run(steps, sys.argv[2]), ensure_ascii=False))
