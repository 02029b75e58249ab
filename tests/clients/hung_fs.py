#!/usr/bin/python3
"""A FUSE file system that hangs, for renkei's time-limit tests.

Usage: hung_fs.py MOUNTPOINT

An empty directory in which reading and listing work, and every attempt
to create or write a file blocks for ever, as on a hung network mount.
Runs in the foreground until unmounted or killed.
"""
import errno
import stat
import sys
import threading
import time

from fusepy import FUSE, FuseOSError, Operations


class Hung(Operations):
    def __init__(self):
        self.forever = threading.Event()

    def getattr(self, path, fh=None):
        if path == "/":
            now = time.time()
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2,
                    "st_ctime": now, "st_mtime": now, "st_atime": now}
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", ".."]

    def _hang(self, *args, **kwargs):
        self.forever.wait()
        raise FuseOSError(errno.EIO)

    create = _hang
    mknod = _hang
    mkdir = _hang
    write = _hang
    link = _hang
    rename = _hang
    unlink = _hang


if __name__ == "__main__":
    FUSE(Hung(), sys.argv[1], foreground=True, nothreads=False)
