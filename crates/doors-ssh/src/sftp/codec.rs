//! SFTP version 3 wire format (draft-ietf-secsh-filexfer-02, plus the
//! OpenSSH extensions renkei answers).
//!
//! Our own codec rather than russh-sftp's (see
//! `docs/decisions/0002-own-sftp-loop.md`): file names stay byte strings
//! until the namespace validates them, so a name that is not UTF-8 gets a
//! precise error instead of failing the whole packet; write payloads are
//! zero-copy slices of the received buffer; and a malformed packet is
//! reported against its request id.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const FXP_INIT: u8 = 1;
pub const FXP_VERSION: u8 = 2;
pub const FXP_OPEN: u8 = 3;
pub const FXP_CLOSE: u8 = 4;
pub const FXP_READ: u8 = 5;
pub const FXP_WRITE: u8 = 6;
pub const FXP_LSTAT: u8 = 7;
pub const FXP_FSTAT: u8 = 8;
pub const FXP_SETSTAT: u8 = 9;
pub const FXP_FSETSTAT: u8 = 10;
pub const FXP_OPENDIR: u8 = 11;
pub const FXP_READDIR: u8 = 12;
pub const FXP_REMOVE: u8 = 13;
pub const FXP_MKDIR: u8 = 14;
pub const FXP_RMDIR: u8 = 15;
pub const FXP_REALPATH: u8 = 16;
pub const FXP_STAT: u8 = 17;
pub const FXP_RENAME: u8 = 18;
pub const FXP_READLINK: u8 = 19;
pub const FXP_SYMLINK: u8 = 20;
pub const FXP_STATUS: u8 = 101;
pub const FXP_HANDLE: u8 = 102;
pub const FXP_DATA: u8 = 103;
pub const FXP_NAME: u8 = 104;
pub const FXP_ATTRS: u8 = 105;
pub const FXP_EXTENDED: u8 = 200;
pub const FXP_EXTENDED_REPLY: u8 = 201;

pub const FXF_READ: u32 = 0x01;
pub const FXF_WRITE: u32 = 0x02;
pub const FXF_APPEND: u32 = 0x04;
pub const FXF_CREAT: u32 = 0x08;
pub const FXF_TRUNC: u32 = 0x10;
pub const FXF_EXCL: u32 = 0x20;

const ATTR_SIZE: u32 = 0x01;
const ATTR_UIDGID: u32 = 0x02;
const ATTR_PERMISSIONS: u32 = 0x04;
const ATTR_ACMODTIME: u32 = 0x08;
const ATTR_EXTENDED: u32 = 0x8000_0000;

/// SFTP v3 status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    Eof = 1,
    NoSuchFile = 2,
    PermissionDenied = 3,
    Failure = 4,
    BadMessage = 5,
    OpUnsupported = 8,
}

impl Status {
    /// OpenSSH's text for the code (sftp-server's `status_to_message`).
    pub fn text(self) -> &'static str {
        match self {
            Status::Ok => "Success",
            Status::Eof => "End of file",
            Status::NoSuchFile => "No such file",
            Status::PermissionDenied => "Permission denied",
            Status::Failure => "Failure",
            Status::BadMessage => "Bad message",
            Status::OpUnsupported => "Operation unsupported",
        }
    }
}

/// File attributes (the subset v3 defines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    pub size: Option<u64>,
    pub uid_gid: Option<(u32, u32)>,
    pub permissions: Option<u32>,
    /// (atime, mtime), Unix seconds.
    pub times: Option<(u32, u32)>,
}

/// A decoded client request. Paths and handles are raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Init {
        version: u32,
    },
    Open {
        id: u32,
        path: Bytes,
        pflags: u32,
        attrs: Attrs,
    },
    Close {
        id: u32,
        handle: Bytes,
    },
    Read {
        id: u32,
        handle: Bytes,
        offset: u64,
        len: u32,
    },
    Write {
        id: u32,
        handle: Bytes,
        offset: u64,
        data: Bytes,
    },
    Lstat {
        id: u32,
        path: Bytes,
    },
    Fstat {
        id: u32,
        handle: Bytes,
    },
    Setstat {
        id: u32,
        path: Bytes,
        attrs: Attrs,
    },
    Fsetstat {
        id: u32,
        handle: Bytes,
        attrs: Attrs,
    },
    Opendir {
        id: u32,
        path: Bytes,
    },
    Readdir {
        id: u32,
        handle: Bytes,
    },
    Remove {
        id: u32,
        path: Bytes,
    },
    Mkdir {
        id: u32,
        path: Bytes,
        attrs: Attrs,
    },
    Rmdir {
        id: u32,
        path: Bytes,
    },
    Realpath {
        id: u32,
        path: Bytes,
    },
    Stat {
        id: u32,
        path: Bytes,
    },
    Rename {
        id: u32,
        from: Bytes,
        to: Bytes,
    },
    Readlink {
        id: u32,
        path: Bytes,
    },
    /// Only the first path is kept (which one is the link differs
    /// between OpenSSH and the draft); it is refused either way.
    Symlink {
        id: u32,
        path: Bytes,
    },
    Extended {
        id: u32,
        name: Bytes,
        data: Bytes,
    },
}

/// A packet that could not be decoded. `id` is known when the packet got
/// that far, so the client can be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: u8,
    pub id: Option<u32>,
    pub reason: &'static str,
}

struct Reader {
    buf: Bytes,
}

impl Reader {
    fn u8(&mut self) -> Option<u8> {
        (self.buf.remaining() >= 1).then(|| self.buf.get_u8())
    }
    fn u32(&mut self) -> Option<u32> {
        (self.buf.remaining() >= 4).then(|| self.buf.get_u32())
    }
    fn u64(&mut self) -> Option<u64> {
        (self.buf.remaining() >= 8).then(|| self.buf.get_u64())
    }
    fn string(&mut self) -> Option<Bytes> {
        let len = self.u32()? as usize;
        (self.buf.remaining() >= len).then(|| self.buf.split_to(len))
    }
    fn attrs(&mut self) -> Option<Attrs> {
        let flags = self.u32()?;
        let mut a = Attrs::default();
        if flags & ATTR_SIZE != 0 {
            a.size = Some(self.u64()?);
        }
        if flags & ATTR_UIDGID != 0 {
            a.uid_gid = Some((self.u32()?, self.u32()?));
        }
        if flags & ATTR_PERMISSIONS != 0 {
            a.permissions = Some(self.u32()?);
        }
        if flags & ATTR_ACMODTIME != 0 {
            a.times = Some((self.u32()?, self.u32()?));
        }
        if flags & ATTR_EXTENDED != 0 {
            let n = self.u32()?;
            for _ in 0..n {
                self.string()?;
                self.string()?;
            }
        }
        Some(a)
    }
}

/// Decodes one packet body (type byte onwards, length already removed).
// Long: one arm per SFTP packet type; the match is the wire format.
pub fn decode(packet: Bytes) -> Result<Request, DecodeError> {
    let mut r = Reader { buf: packet };
    let kind = r.u8().ok_or(DecodeError {
        kind: 0,
        id: None,
        reason: "empty packet",
    })?;
    if kind == FXP_INIT {
        let version = r.u32().ok_or(DecodeError {
            kind,
            id: None,
            reason: "INIT without a version",
        })?;
        return Ok(Request::Init { version });
    }
    let id = r.u32().ok_or(DecodeError {
        kind,
        id: None,
        reason: "packet too short for a request id",
    })?;
    let bad = |reason| DecodeError {
        kind,
        id: Some(id),
        reason,
    };
    let short = || bad("packet ends before its last field");
    let req = match kind {
        FXP_OPEN => Request::Open {
            id,
            path: r.string().ok_or_else(short)?,
            pflags: r.u32().ok_or_else(short)?,
            attrs: r.attrs().ok_or_else(short)?,
        },
        FXP_CLOSE => Request::Close {
            id,
            handle: r.string().ok_or_else(short)?,
        },
        FXP_READ => Request::Read {
            id,
            handle: r.string().ok_or_else(short)?,
            offset: r.u64().ok_or_else(short)?,
            len: r.u32().ok_or_else(short)?,
        },
        FXP_WRITE => Request::Write {
            id,
            handle: r.string().ok_or_else(short)?,
            offset: r.u64().ok_or_else(short)?,
            data: r.string().ok_or_else(short)?,
        },
        FXP_LSTAT => Request::Lstat {
            id,
            path: r.string().ok_or_else(short)?,
        },
        FXP_FSTAT => Request::Fstat {
            id,
            handle: r.string().ok_or_else(short)?,
        },
        FXP_SETSTAT => Request::Setstat {
            id,
            path: r.string().ok_or_else(short)?,
            attrs: r.attrs().ok_or_else(short)?,
        },
        FXP_FSETSTAT => Request::Fsetstat {
            id,
            handle: r.string().ok_or_else(short)?,
            attrs: r.attrs().ok_or_else(short)?,
        },
        FXP_OPENDIR => Request::Opendir {
            id,
            path: r.string().ok_or_else(short)?,
        },
        FXP_READDIR => Request::Readdir {
            id,
            handle: r.string().ok_or_else(short)?,
        },
        FXP_REMOVE => Request::Remove {
            id,
            path: r.string().ok_or_else(short)?,
        },
        FXP_MKDIR => Request::Mkdir {
            id,
            path: r.string().ok_or_else(short)?,
            attrs: r.attrs().ok_or_else(short)?,
        },
        FXP_RMDIR => Request::Rmdir {
            id,
            path: r.string().ok_or_else(short)?,
        },
        FXP_REALPATH => Request::Realpath {
            id,
            path: r.string().ok_or_else(short)?,
        },
        FXP_STAT => Request::Stat {
            id,
            path: r.string().ok_or_else(short)?,
        },
        FXP_RENAME => Request::Rename {
            id,
            from: r.string().ok_or_else(short)?,
            to: r.string().ok_or_else(short)?,
        },
        FXP_READLINK => Request::Readlink {
            id,
            path: r.string().ok_or_else(short)?,
        },
        FXP_SYMLINK => Request::Symlink {
            id,
            path: r.string().unwrap_or_default(),
        },
        FXP_EXTENDED => {
            let name = r.string().ok_or_else(short)?;
            Request::Extended {
                id,
                name,
                data: r.buf.split_off(0),
            }
        }
        _ => return Err(bad("unknown request type")),
    };
    Ok(req)
}

/// Reads the fields of an extended request's payload.
pub struct ExtArgs(Reader);

impl ExtArgs {
    pub fn new(data: Bytes) -> Self {
        ExtArgs(Reader { buf: data })
    }
    pub fn string(&mut self) -> Option<Bytes> {
        self.0.string()
    }
    pub fn attrs(&mut self) -> Option<Attrs> {
        self.0.attrs()
    }
}

/// Builds one outgoing packet: length prefix, type, fields.
pub struct Packet(BytesMut);

impl Packet {
    pub fn new(kind: u8, capacity: usize) -> Packet {
        let mut b = BytesMut::with_capacity(capacity + 5);
        b.put_u32(0);
        b.put_u8(kind);
        Packet(b)
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.put_u32(v);
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.put_u64(v);
        self
    }
    pub fn string(mut self, s: &[u8]) -> Self {
        self.0.put_u32(s.len() as u32);
        self.0.put_slice(s);
        self
    }
    pub fn attrs(mut self, a: &Attrs) -> Self {
        let mut flags = 0;
        if a.size.is_some() {
            flags |= ATTR_SIZE;
        }
        if a.uid_gid.is_some() {
            flags |= ATTR_UIDGID;
        }
        if a.permissions.is_some() {
            flags |= ATTR_PERMISSIONS;
        }
        if a.times.is_some() {
            flags |= ATTR_ACMODTIME;
        }
        self.0.put_u32(flags);
        if let Some(s) = a.size {
            self.0.put_u64(s);
        }
        if let Some((u, g)) = a.uid_gid {
            self.0.put_u32(u);
            self.0.put_u32(g);
        }
        if let Some(p) = a.permissions {
            self.0.put_u32(p);
        }
        if let Some((at, mt)) = a.times {
            self.0.put_u32(at);
            self.0.put_u32(mt);
        }
        self
    }
    /// Bytes as they are, without a length (an extended request's payload).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn raw(mut self, s: &[u8]) -> Self {
        self.0.put_slice(s);
        self
    }
    pub fn finish(mut self) -> Bytes {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        self.0.freeze()
    }
}

/// A STATUS reply. The message starts with the text OpenSSH's sftp-server
/// gives for the code ("No such file", "Permission denied", "Failure"),
/// which clients and scripts match, then renkei's reason.
pub fn status(id: u32, code: Status, reason: &str) -> Bytes {
    let standard = code.text();
    let message = match code {
        Status::Ok | Status::Eof => standard.to_string(),
        _ if reason.is_empty() => standard.to_string(),
        _ => format!("{standard}: {reason}"),
    };
    Packet::new(FXP_STATUS, 16 + message.len())
        .u32(id)
        .u32(code as u32)
        .string(message.as_bytes())
        .string(b"en")
        .finish()
}

pub fn handle(id: u32, handle: &[u8]) -> Bytes {
    Packet::new(FXP_HANDLE, 8 + handle.len())
        .u32(id)
        .string(handle)
        .finish()
}

pub fn attrs(id: u32, a: &Attrs) -> Bytes {
    Packet::new(FXP_ATTRS, 40).u32(id).attrs(a).finish()
}

/// One entry of a NAME reply.
pub struct NameEntry<'a> {
    pub name: &'a [u8],
    pub longname: &'a [u8],
    pub attrs: Attrs,
}

pub fn name(id: u32, entries: &[NameEntry<'_>]) -> Bytes {
    let cap = entries
        .iter()
        .map(|e| e.name.len() + e.longname.len() + 48)
        .sum::<usize>()
        + 8;
    let mut p = Packet::new(FXP_NAME, cap).u32(id).u32(entries.len() as u32);
    for e in entries {
        p = p.string(e.name).string(e.longname).attrs(&e.attrs);
    }
    p.finish()
}

pub fn extended_reply(id: u32) -> Packet {
    Packet::new(FXP_EXTENDED_REPLY, 96).u32(id)
}

/// A DATA reply whose payload is written in place by `fill`, which returns
/// how many bytes it wrote (at most `max`). Avoids a copy of the payload.
pub fn data_with<E>(
    id: u32,
    max: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<Option<Bytes>, E> {
    let mut b = BytesMut::with_capacity(13 + max);
    b.put_u32(0);
    b.put_u8(FXP_DATA);
    b.put_u32(id);
    b.put_u32(0);
    b.resize(13 + max, 0);
    let n = fill(&mut b[13..])?;
    if n == 0 {
        return Ok(None);
    }
    b.truncate(13 + n);
    let len = (9 + n) as u32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b[9..13].copy_from_slice(&(n as u32).to_be_bytes());
    Ok(Some(b.freeze()))
}

pub fn version(extensions: &[(&str, &str)]) -> Bytes {
    let mut p = Packet::new(FXP_VERSION, 256).u32(3);
    for (name, data) in extensions {
        p = p.string(name.as_bytes()).string(data.as_bytes());
    }
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: u8, f: impl FnOnce(Packet) -> Packet) -> Bytes {
        let mut b = f(Packet::new(kind, 64)).finish();
        b.advance(4);
        b
    }

    #[test]
    fn decodes_write_zero_copy_and_open() {
        let pkt = body(FXP_WRITE, |p| {
            p.u32(7).string(b"h1").u64(42).string(b"payload")
        });
        assert_eq!(
            decode(pkt).unwrap(),
            Request::Write {
                id: 7,
                handle: Bytes::from_static(b"h1"),
                offset: 42,
                data: Bytes::from_static(b"payload")
            }
        );
        let a = Attrs {
            size: Some(5),
            permissions: Some(0o644),
            times: Some((1, 2)),
            ..Attrs::default()
        };
        let pkt = body(FXP_OPEN, |p| {
            p.u32(1)
                .string(b"/inbox/\xff")
                .u32(FXF_WRITE | FXF_CREAT)
                .attrs(&a)
        });
        match decode(pkt).unwrap() {
            Request::Open { path, attrs, .. } => {
                assert_eq!(&path[..], b"/inbox/\xff");
                assert_eq!(attrs, a);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_packets_keep_their_id() {
        let pkt = body(FXP_READ, |p| p.u32(9).string(b"h"));
        let err = decode(pkt).unwrap_err();
        assert_eq!(err.id, Some(9));
        let pkt = body(77, |p| p.u32(3));
        assert_eq!(decode(pkt).unwrap_err().id, Some(3));
        // A string length pointing past the end must not panic.
        let pkt = body(FXP_STAT, |p| p.u32(4).u32(1_000_000));
        assert_eq!(decode(pkt).unwrap_err().id, Some(4));
    }

    #[test]
    fn data_reply_layout() {
        let d = data_with::<()>(5, 10, |buf| {
            buf[..3].copy_from_slice(b"abc");
            Ok(3)
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            &d[..],
            &[
                0, 0, 0, 12, FXP_DATA, 0, 0, 0, 5, 0, 0, 0, 3, b'a', b'b', b'c'
            ]
        );
        assert!(data_with::<()>(5, 10, |_| Ok(0)).unwrap().is_none());
    }
}
