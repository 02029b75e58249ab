//! Decodes and answers requests; owns the session's handle table.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::attrs;
use super::codec::{self, Attrs, NameEntry, Request, Status};
use super::session::{self, Inbound, Out};
use super::worker::{self, FileReq};
use super::{Context, End};
use renkei_core::namespace::{EntryInfo, NsError, NsPath, path};
use renkei_core::transfer::{Download, OpenMode, Upload};

/// Entries per READDIR reply.
const READDIR_BATCH: usize = 100;

pub(super) enum Slot {
    File {
        tx: mpsc::UnboundedSender<FileReq>,
        path: NsPath,
        upload: bool,
    },
    Dir {
        entries: Vec<EntryInfo>,
        pos: usize,
    },
}

pub(super) struct Handler {
    pub(super) ctx: Context,
    pub(super) out: Out,
    pub(super) handles: HashMap<Bytes, Slot>,
    next_handle: u64,
    workers: Vec<JoinHandle<()>>,
    initialized: bool,
    /// Largest read or write payload announced in `limits@openssh.com`.
    pub(super) max_io: u32,
}

fn not_utf8_or(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

impl Handler {
    pub(super) fn new(ctx: Context, out: Out) -> Handler {
        let max_io =
            (ctx.ns.limits().max_packet.saturating_sub(1024)).min(u64::from(u32::MAX)) as u32;
        Handler {
            ctx,
            out,
            handles: HashMap::new(),
            next_handle: 1,
            workers: Vec::new(),
            initialized: false,
            max_io,
        }
    }

    /// Answers requests until the client closes, breaks a limit or goes
    /// away, then ends the workers and the writer. Every path out is
    /// bounded in time: a worker waiting for reply room is woken when the
    /// session closes, and the writer gives up on a client that takes
    /// nothing for `limits.send_timeout`.
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Inbound>,
        mut writer: JoinHandle<End>,
    ) -> End {
        let mut written = None;
        let end = loop {
            // Room for replies first: a client that does not read stops
            // being served here, and its requests pile up against
            // `max_queued_requests` instead of replies against memory.
            let room = tokio::select! {
                ok = self.out.room() => ok,
                w = session::writer_end(&mut writer) => { written = Some(w); false }
            };
            if !room {
                // Only the writer closes the session's memory while the
                // handler runs: it has failed, and says why.
                let w = match written.clone() {
                    Some(w) => w,
                    None => session::writer_end(&mut writer).await,
                };
                written = Some(w.clone());
                break w;
            }
            let msg = tokio::select! {
                m = rx.recv() => m,
                w = session::writer_end(&mut writer) => {
                    written = Some(w.clone());
                    break w;
                }
            };
            match msg {
                Some(Inbound::Packet(p, cost)) => {
                    if let Err(reason) = self.dispatch(p, cost).await {
                        break End::Violation(reason);
                    }
                }
                Some(Inbound::Violation(reason)) => break End::Violation(reason),
                Some(Inbound::Overloaded(reason)) => break End::Lost(reason),
                Some(Inbound::Eof) | None => break End::Closed,
            }
        };
        if let End::Violation(reason) = &end {
            self.ctx
                .tally
                .violation(self.ctx.ns.events(), Some(&self.ctx.who), reason);
        }
        if end != End::Closed {
            self.out.mem.close();
        }
        // Closing the handle table ends the workers: uploads not closed by
        // the client are kept as partials before the session is reported.
        self.handles.clear();
        for w in self.workers.drain(..) {
            let _ = w.await;
        }
        let Handler { out, .. } = self;
        drop(out);
        if let Some(w) = written {
            return if end == End::Closed { w } else { end };
        }
        if end == End::Closed {
            // Every sender is gone: the writer sends what is left, then
            // closes the channel.
            session::writer_end(&mut writer).await
        } else {
            writer.abort();
            let _ = writer.await;
            end
        }
    }

    pub(super) fn status(&self, id: u32, cost: u64, code: Status, msg: &str) {
        self.out.reply(codec::status(id, code, msg), cost);
    }

    /// Answers a refusal the namespace did not make (the protocol cannot
    /// express the request here) and records it, like every refusal, as
    /// `operation_refused` with its reason.
    pub(super) fn refuse(
        &self,
        id: u32,
        cost: u64,
        (op, raw): (&str, &[u8]),
        code: Status,
        reason: &str,
    ) {
        let (ns, who) = (&self.ctx.ns, &self.ctx.who);
        let shown = not_utf8_or(raw);
        ns.refuse(who, op, &shown, NsError::Unsupported(reason.to_string()));
        self.status(id, cost, code, reason);
    }

    pub(super) fn ok(&self, id: u32, cost: u64) {
        self.status(id, cost, Status::Ok, "ok");
    }

    pub(super) fn fail(&self, id: u32, cost: u64, e: &NsError) {
        let (code, msg) = attrs::status_of(e);
        self.status(id, cost, code, &msg);
    }

    /// Parses a client path; a refusal is answered and recorded.
    pub(super) fn path(&self, id: u32, cost: u64, op: &str, raw: &[u8]) -> Option<NsPath> {
        match self.ctx.ns.parse(raw) {
            Ok(p) => Some(p),
            Err(e) => {
                let err =
                    self.ctx
                        .ns
                        .refuse(&self.ctx.who, op, &not_utf8_or(raw), NsError::BadPath(e));
                self.fail(id, cost, &err);
                None
            }
        }
    }

    fn new_handle(&mut self, slot: Slot) -> Result<Bytes, String> {
        let max = self.ctx.ns.limits().max_open_handles;
        if self.handles.len() >= max {
            return Err(format!(
                "opened more than {max} files and directories at once (limits.max_open_handles)"
            ));
        }
        let h = Bytes::from(self.next_handle.to_string());
        self.next_handle += 1;
        self.handles.insert(h.clone(), slot);
        Ok(h)
    }

    /// Sends a request to the worker of a file handle.
    pub(super) fn forward(&mut self, id: u32, cost: u64, handle: &Bytes, req: FileReq) {
        match self.handles.get(handle) {
            Some(Slot::File { tx, .. }) => {
                if tx.send(req).is_err() {
                    self.status(id, cost, Status::Failure, "the file's worker has stopped");
                }
            }
            Some(Slot::Dir { .. }) => {
                self.status(id, cost, Status::Failure, "this is a directory handle")
            }
            None => self.status(id, cost, Status::Failure, "invalid handle"),
        }
    }

    /// A packet as a request, once the session is initialised; `None`
    /// when it was answered here (the `INIT`, a malformed request).
    fn decode(&mut self, packet: Bytes, cost: u64) -> Result<Option<Request>, String> {
        let req = match codec::decode(packet) {
            Ok(r) => r,
            Err(e) => {
                return match e.id {
                    Some(id) if self.initialized => {
                        let msg = format!("malformed request (type {}): {}", e.kind, e.reason);
                        self.status(id, cost, Status::BadMessage, &msg);
                        Ok(None)
                    }
                    _ => Err(format!(
                        "sent an undecodable SFTP packet (type {}): {}",
                        e.kind, e.reason
                    )),
                };
            }
        };
        if self.initialized {
            return Ok(Some(req));
        }
        match req {
            Request::Init { .. } => {
                self.initialized = true;
                self.out.reply(codec::version(super::EXTENSIONS), cost);
                Ok(None)
            }
            _ => Err("sent an SFTP request before INIT".into()),
        }
    }

    // One arm per SFTP request type, each a call into the core and a
    // reply: the match is the protocol's request table.
    async fn dispatch(&mut self, packet: Bytes, cost: u64) -> Result<(), String> {
        let Some(req) = self.decode(packet, cost)? else {
            return Ok(());
        };
        let ns = self.ctx.ns.clone();
        let who = self.ctx.who.clone();
        match req {
            Request::Init { .. } => return Err("sent INIT twice".into()),
            Request::Open {
                id,
                path,
                pflags,
                attrs,
            } => self.open(id, cost, &path, pflags, attrs).await?,
            Request::Close { id, handle } => self.close(id, cost, &handle),
            Request::Read {
                id,
                handle,
                offset,
                len,
            } => {
                let len = len.min(self.max_io);
                self.forward(
                    id,
                    cost,
                    &handle,
                    FileReq::Read {
                        id,
                        offset,
                        len,
                        cost,
                    },
                );
            }
            Request::Write {
                id,
                handle,
                offset,
                data,
            } => {
                self.forward(
                    id,
                    cost,
                    &handle,
                    FileReq::Write {
                        id,
                        offset,
                        data,
                        cost,
                    },
                );
            }
            Request::Fstat { id, handle } => match self.handles.get(&handle) {
                Some(Slot::Dir { .. }) => {
                    let a = attrs::of(&EntryInfo::dir("", ns.started()));
                    self.out.reply(codec::attrs(id, &a), cost);
                }
                _ => self.forward(id, cost, &handle, FileReq::Fstat { id, cost }),
            },
            Request::Lstat { id, path } | Request::Stat { id, path } => {
                if let Some(p) = self.path(id, cost, "stat", &path) {
                    match ns.stat(&who, &p) {
                        Ok(info) => self.out.reply(codec::attrs(id, &attrs::of(&info)), cost),
                        Err(e) => self.fail(id, cost, &e),
                    }
                }
            }
            Request::Setstat { id, path, attrs } => {
                if let Some(p) = self.path(id, cost, "setstat", &path) {
                    self.setstat(id, cost, &p, &attrs).await;
                }
            }
            Request::Fsetstat { id, handle, attrs } => {
                self.fsetstat(id, cost, &handle, attrs).await
            }
            Request::Opendir { id, path } => {
                if let Some(p) = self.path(id, cost, "opendir", &path) {
                    match ns.list(&who, &p) {
                        Ok(entries) => {
                            let h = self.new_handle(Slot::Dir { entries, pos: 0 })?;
                            self.out.reply(codec::handle(id, &h), cost);
                        }
                        Err(e) => self.fail(id, cost, &e),
                    }
                }
            }
            Request::Readdir { id, handle } => self.readdir(id, cost, &handle),
            Request::Remove { id, path } => {
                if let Some(p) = self.path(id, cost, "remove", &path) {
                    let r = ns.remove(&who, &p).await;
                    self.done(id, cost, r);
                }
            }
            Request::Mkdir { id, path, .. } => {
                if let Some(p) = self.path(id, cost, "mkdir", &path) {
                    let r = ns.mkdir(&who, &p).await;
                    self.done(id, cost, r);
                }
            }
            Request::Rmdir { id, path } => {
                if let Some(p) = self.path(id, cost, "rmdir", &path) {
                    let r = ns.rmdir(&who, &p).await;
                    self.done(id, cost, r);
                }
            }
            Request::Rename { id, from, to } => self.rename(id, cost, &from, &to, false).await,
            Request::Realpath { id, path } => self.realpath(id, cost, &path),
            Request::Readlink { id, path } => self.refuse(
                id,
                cost,
                ("readlink", &path),
                Status::OpUnsupported,
                "symbolic links do not exist in this namespace",
            ),
            Request::Symlink { id, path } => self.refuse(
                id,
                cost,
                ("symlink", &path),
                Status::OpUnsupported,
                "symbolic links do not exist in this namespace",
            ),
            Request::Extended { id, name, data } => self.extended(id, cost, &name, data).await?,
        }
        Ok(())
    }

    fn close(&mut self, id: u32, cost: u64, handle: &Bytes) {
        match self.handles.remove(handle) {
            Some(Slot::File { tx, .. }) => {
                if tx.send(FileReq::Close { id, cost }).is_err() {
                    self.status(id, cost, Status::Failure, "the file's worker has stopped");
                }
            }
            Some(Slot::Dir { .. }) => self.ok(id, cost),
            None => self.status(id, cost, Status::Failure, "invalid handle"),
        }
    }

    /// A file being uploaded takes its times from its worker (at commit);
    /// any other handle's path is changed as `setstat` would.
    async fn fsetstat(&mut self, id: u32, cost: u64, handle: &Bytes, attrs: codec::Attrs) {
        match self.handles.get(handle) {
            Some(Slot::File { upload: true, .. }) => {
                self.forward(id, cost, handle, FileReq::Fsetstat { id, attrs, cost });
            }
            Some(Slot::File { path, .. }) => {
                let p = path.clone();
                self.setstat(id, cost, &p, &attrs).await;
            }
            Some(Slot::Dir { .. }) => self.ok(id, cost),
            None => self.status(id, cost, Status::Failure, "invalid handle"),
        }
    }

    fn done(&self, id: u32, cost: u64, r: Result<(), NsError>) {
        match r {
            Ok(()) => self.ok(id, cost),
            Err(e) => self.fail(id, cost, &e),
        }
    }

    // Long: OPEN's flag combinations (read, write, create, exclusive,
    // truncate, append) mapped to the core's open modes with their refusals.
    async fn open(
        &mut self,
        id: u32,
        cost: u64,
        raw: &[u8],
        pflags: u32,
        attrs: Attrs,
    ) -> Result<(), String> {
        let Some(p) = self.path(id, cost, "open", raw) else {
            return Ok(());
        };
        let write = pflags & codec::FXF_WRITE != 0;
        let read = pflags & codec::FXF_READ != 0;
        if write && read {
            self.refuse(
                id,
                cost,
                ("open", raw),
                Status::OpUnsupported,
                "a file can be opened for reading or for writing, not both",
            );
            return Ok(());
        }
        if !write && !read {
            self.status(
                id,
                cost,
                Status::BadMessage,
                "open needs the READ or WRITE flag",
            );
            return Ok(());
        }
        if write && pflags & codec::FXF_CREAT == 0 {
            // Without CREAT the name must already exist (as a file or as
            // this account's partial).
            if let Err(e) = self.ctx.ns.stat(&self.ctx.who, &p) {
                self.fail(id, cost, &e);
                return Ok(());
            }
        }
        let (ns, who, target) = (self.ctx.ns.clone(), self.ctx.who.clone(), p.clone());
        let state = if write {
            let mode = if pflags & codec::FXF_EXCL != 0 {
                OpenMode::Exclusive
            } else if pflags & codec::FXF_TRUNC != 0 {
                OpenMode::Truncate
            } else if pflags & codec::FXF_APPEND != 0 {
                OpenMode::Append
            } else {
                OpenMode::Continue
            };
            let opened =
                tokio::task::spawn_blocking(move || Upload::begin(&ns, &who, &target, mode)).await;
            match opened {
                Ok(Ok(mut up)) => {
                    if let Some((_, mtime)) = attrs.times {
                        up.set_mtime(i64::from(mtime));
                    }
                    worker::State::Up(Box::new(up))
                }
                Ok(Err(e)) => {
                    self.fail(id, cost, &e);
                    return Ok(());
                }
                Err(_) => {
                    self.status(id, cost, Status::Failure, "internal error opening the file");
                    return Ok(());
                }
            }
        } else {
            match tokio::task::spawn_blocking(move || Download::open(&ns, &who, &target)).await {
                Ok(Ok(mut d)) => {
                    if let Err(e) = d.charge_to(&self.out.mem) {
                        self.fail(id, cost, &e);
                        return Ok(());
                    }
                    worker::State::Down(Box::new(d))
                }
                Ok(Err(e)) => {
                    self.fail(id, cost, &e);
                    return Ok(());
                }
                Err(_) => {
                    self.status(id, cost, Status::Failure, "internal error opening the file");
                    return Ok(());
                }
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let h = self.new_handle(Slot::File {
            tx,
            path: p,
            upload: write,
        })?;
        // The handle goes out first: the worker's first job (preparing an
        // upload's segment) then overlaps the client's next request.
        self.out.reply(codec::handle(id, &h), cost);
        let out = self.out.clone();
        self.workers.push(tokio::task::spawn_blocking(move || {
            worker::run(state, rx, out)
        }));
        Ok(())
    }

    pub(super) async fn setstat(&self, id: u32, cost: u64, p: &NsPath, a: &Attrs) {
        let (ns, who) = (&self.ctx.ns, &self.ctx.who);
        let size = match a.size {
            Some(_) => match ns.stat(who, p) {
                Ok(info) => Some(info.size),
                Err(e) => return self.fail(id, cost, &e),
            },
            None => None,
        };
        if let Some((op, code, reason)) = attrs::setstat_refusal(a, size) {
            let shown = p.to_string();
            return self.refuse(id, cost, (op, shown.as_bytes()), code, reason);
        }
        if let Some((_, mtime)) = a.times {
            if let Err(e) = ns.set_mtime(who, p, i64::from(mtime)).await {
                return self.fail(id, cost, &e);
            }
        } else if let Err(e) = ns.stat(who, p) {
            // Permission bits alone are accepted and ignored, for a name that exists.
            return self.fail(id, cost, &e);
        }
        self.ok(id, cost);
    }

    fn readdir(&mut self, id: u32, cost: u64, handle: &Bytes) {
        let owner = self.ctx.who.owner();
        let reply = match self.handles.get_mut(handle) {
            Some(Slot::Dir { entries, pos }) => {
                if *pos >= entries.len() {
                    codec::status(id, Status::Eof, "end of directory")
                } else {
                    let end = (*pos + READDIR_BATCH).min(entries.len());
                    let longnames: Vec<String> = entries[*pos..end]
                        .iter()
                        .map(|e| renkei_core::door::listing::longname(e, &owner))
                        .collect();
                    let list: Vec<NameEntry<'_>> = entries[*pos..end]
                        .iter()
                        .zip(&longnames)
                        .map(|(e, l)| NameEntry {
                            name: e.name.as_bytes(),
                            longname: l.as_bytes(),
                            attrs: attrs::of(e),
                        })
                        .collect();
                    let pkt = codec::name(id, &list);
                    *pos = end;
                    pkt
                }
            }
            Some(Slot::File { .. }) => codec::status(id, Status::Failure, "this is a file handle"),
            None => codec::status(id, Status::Failure, "invalid handle"),
        };
        self.out.reply(reply, cost);
    }

    pub(super) async fn rename(&self, id: u32, cost: u64, from: &[u8], to: &[u8], overwrite: bool) {
        let Some(f) = self.path(id, cost, "rename", from) else {
            return;
        };
        let Some(t) = self.path(id, cost, "rename", to) else {
            return;
        };
        let r = self.ctx.ns.rename(&self.ctx.who, &f, &t, overwrite).await;
        self.done(id, cost, r);
    }

    pub(super) fn realpath(&self, id: u32, cost: u64, raw: &[u8]) {
        let raw = if raw.is_empty() { b"." as &[u8] } else { raw };
        match path::normalize(raw) {
            Ok(p) => {
                let entry = NameEntry {
                    name: p.as_bytes(),
                    longname: p.as_bytes(),
                    attrs: Attrs::default(),
                };
                self.out.reply(codec::name(id, &[entry]), cost);
            }
            Err(e) => {
                let err = self.ctx.ns.refuse(
                    &self.ctx.who,
                    "realpath",
                    &not_utf8_or(raw),
                    NsError::BadPath(e),
                );
                self.fail(id, cost, &err);
            }
        }
    }
}
