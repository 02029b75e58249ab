//! Extended requests: the OpenSSH extensions renkei answers.
//!
//! Each is announced in VERSION (see `sftp::EXTENSIONS`) and answered with the
//! same rules as the plain requests it resembles: `posix-rename` goes
//! through the namespace's rename, `fsync` checkpoints the upload,
//! `limits` tells clients the sizes that keep them under our limits.

use bytes::Bytes;

use super::codec::{self, ExtArgs, Status};
use super::handler::{Handler, Slot};
use super::worker::FileReq;

impl Handler {
    fn statvfs(&self, id: u32, cost: u64) {
        match rustix::fs::statvfs(&self.ctx.volume) {
            Ok(s) => {
                let pkt = codec::extended_reply(id)
                    .u64(s.f_bsize)
                    .u64(s.f_frsize)
                    .u64(s.f_blocks)
                    .u64(s.f_bfree)
                    .u64(s.f_bavail)
                    .u64(s.f_files)
                    .u64(s.f_ffree)
                    .u64(s.f_favail)
                    .u64(s.f_fsid)
                    .u64(0)
                    .u64(renkei_config::limits::MAX_NAME_BYTES as u64)
                    .finish();
                self.out.reply(pkt, cost);
            }
            Err(e) => self.status(id, cost, Status::Failure, &format!("statvfs failed: {e}")),
        }
    }

    // Long: one arm per extension (posix-rename, statvfs, hardlink, fsync,
    // limits, …); the match is the extension table.
    pub(super) async fn extended(
        &mut self,
        id: u32,
        cost: u64,
        name: &[u8],
        data: Bytes,
    ) -> Result<(), String> {
        let mut args = ExtArgs::new(data);
        let bad =
            |h: &Handler| h.status(id, cost, Status::BadMessage, "malformed extended request");
        match name {
            b"posix-rename@openssh.com" => match (args.string(), args.string()) {
                (Some(f), Some(t)) => self.rename(id, cost, &f, &t, true).await,
                _ => bad(self),
            },
            b"statvfs@openssh.com" => match args.string() {
                Some(p) => {
                    if let Some(p) = self.path(id, cost, "statvfs", &p) {
                        match self.ctx.ns.stat(&self.ctx.who, &p) {
                            Ok(_) => self.statvfs(id, cost),
                            Err(e) => self.fail(id, cost, &e),
                        }
                    }
                }
                None => bad(self),
            },
            b"fstatvfs@openssh.com" => match args.string() {
                Some(h) if self.handles.contains_key(&h) => self.statvfs(id, cost),
                Some(_) => self.status(id, cost, Status::Failure, "invalid handle"),
                None => bad(self),
            },
            b"fsync@openssh.com" => match args.string() {
                Some(h) => match self.handles.get(&h) {
                    Some(Slot::File { .. }) => {
                        self.forward(id, cost, &h, FileReq::Fsync { id, cost })
                    }
                    Some(Slot::Dir { .. }) => self.ok(id, cost),
                    None => self.status(id, cost, Status::Failure, "invalid handle"),
                },
                None => bad(self),
            },
            b"lsetstat@openssh.com" => match args.string() {
                Some(p) => {
                    if let Some(p) = self.path(id, cost, "setstat", &p) {
                        let a = args.attrs().unwrap_or_default();
                        self.setstat(id, cost, &p, &a).await;
                    }
                }
                None => bad(self),
            },
            b"limits@openssh.com" => {
                let l = &self.ctx.ns.limits();
                let pkt = codec::extended_reply(id)
                    .u64(l.max_packet)
                    .u64(u64::from(self.max_io))
                    .u64(u64::from(self.max_io))
                    .u64(l.max_open_handles as u64)
                    .finish();
                self.out.reply(pkt, cost);
            }
            b"expand-path@openssh.com" => match args.string() {
                Some(p) => {
                    let expanded: Vec<u8> = match &p[..] {
                        b"~" => b"/".to_vec(),
                        [b'~', b'/', rest @ ..] => [b"/", rest].concat(),
                        other => other.to_vec(),
                    };
                    self.realpath(id, cost, &expanded);
                }
                None => bad(self),
            },
            b"hardlink@openssh.com" => self.refuse(
                id,
                cost,
                ("hardlink", &args.string().unwrap_or_default()),
                Status::OpUnsupported,
                "hard links do not exist in this namespace",
            ),
            other => {
                let name = String::from_utf8_lossy(other);
                let msg = format!("the extension {name:?} is not supported");
                let op = format!("extension {name}");
                // Its arguments are the extension's own (a path, a handle or
                // binary data): not recorded.
                self.refuse(id, cost, (&op, b""), Status::OpUnsupported, &msg);
            }
        }
        Ok(())
    }
}
