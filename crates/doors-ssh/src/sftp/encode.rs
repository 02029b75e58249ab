//! Requests written back to the wire: what a client would send for a
//! decoded request. The daemon never sends requests; this exists so that
//! the fuzz target and the tests can check that decoding loses nothing it
//! keeps (`decode(encode(decode(x))) == decode(x)`).

use bytes::Bytes;

use super::codec::*;

impl Request {
    /// The packet body (type byte onwards, no length), as [`decode`] takes it.
    pub fn encode(&self) -> Bytes {
        let p = match self {
            Request::Init { version } => return body(Packet::new(FXP_INIT, 4).u32(*version)),
            Request::Open {
                id,
                path,
                pflags,
                attrs,
            } => Packet::new(FXP_OPEN, 64)
                .u32(*id)
                .string(path)
                .u32(*pflags)
                .attrs(attrs),
            Request::Close { id, handle } => with(FXP_CLOSE, *id).string(handle),
            Request::Read {
                id,
                handle,
                offset,
                len,
            } => with(FXP_READ, *id).string(handle).u64(*offset).u32(*len),
            Request::Write {
                id,
                handle,
                offset,
                data,
            } => with(FXP_WRITE, *id)
                .string(handle)
                .u64(*offset)
                .string(data),
            Request::Lstat { id, path } => with(FXP_LSTAT, *id).string(path),
            Request::Fstat { id, handle } => with(FXP_FSTAT, *id).string(handle),
            Request::Setstat { id, path, attrs } => {
                with(FXP_SETSTAT, *id).string(path).attrs(attrs)
            }
            Request::Fsetstat { id, handle, attrs } => {
                with(FXP_FSETSTAT, *id).string(handle).attrs(attrs)
            }
            Request::Opendir { id, path } => with(FXP_OPENDIR, *id).string(path),
            Request::Readdir { id, handle } => with(FXP_READDIR, *id).string(handle),
            Request::Remove { id, path } => with(FXP_REMOVE, *id).string(path),
            Request::Mkdir { id, path, attrs } => with(FXP_MKDIR, *id).string(path).attrs(attrs),
            Request::Rmdir { id, path } => with(FXP_RMDIR, *id).string(path),
            Request::Realpath { id, path } => with(FXP_REALPATH, *id).string(path),
            Request::Stat { id, path } => with(FXP_STAT, *id).string(path),
            Request::Rename { id, from, to } => with(FXP_RENAME, *id).string(from).string(to),
            Request::Readlink { id, path } => with(FXP_READLINK, *id).string(path),
            Request::Symlink { id, path } => with(FXP_SYMLINK, *id).string(path),
            Request::Extended { id, name, data } => with(FXP_EXTENDED, *id).string(name).raw(data),
        };
        body(p)
    }
}

fn with(kind: u8, id: u32) -> Packet {
    Packet::new(kind, 64).u32(id)
}

/// The packet without its length prefix.
fn body(p: Packet) -> Bytes {
    p.finish().slice(4..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoded_request_encodes_to_what_decodes_the_same() {
        let open = Packet::new(FXP_OPEN, 64)
            .u32(7)
            .string(b"/inbox/a.csv")
            .u32(FXF_WRITE | FXF_CREAT)
            .attrs(&Attrs {
                size: Some(3),
                ..Attrs::default()
            })
            .finish()
            .slice(4..);
        let req = decode(open.clone()).unwrap();
        assert_eq!(req.encode(), open);
        assert_eq!(decode(req.encode()).unwrap(), req);
    }
}
