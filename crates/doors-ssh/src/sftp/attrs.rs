//! How namespace entries look to SFTP clients: attributes, `ls -l` lines,
//! and error statuses.

use super::codec::{Attrs, Status};
use renkei_core::namespace::error::Category;
use renkei_core::namespace::{EntryInfo, EntryKind, NsError};

/// Mode bits shown for directories and files. They describe what the
/// namespace allows, not a file system; `chmod` is accepted and ignored.
const DIR_MODE: u32 = 0o040_750;
const FILE_MODE: u32 = 0o100_640;

pub fn of(info: &EntryInfo) -> Attrs {
    let mtime = u32::try_from(info.mtime.max(0)).unwrap_or(u32::MAX);
    Attrs {
        size: Some(info.size),
        uid_gid: None,
        permissions: Some(match info.kind {
            EntryKind::Dir => DIR_MODE,
            EntryKind::File => FILE_MODE,
        }),
        times: Some((mtime, mtime)),
    }
}

/// What a SETSTAT/FSETSTAT may not do, for a file of `size` bytes (`None`
/// when its size is not known here): the operation recorded, the status and
/// the reason. Permission bits are accepted and ignored; times are kept.
pub fn setstat_refusal(
    a: &Attrs,
    size: Option<u64>,
) -> Option<(&'static str, Status, &'static str)> {
    if a.uid_gid.is_some() {
        return Some((
            "setstat",
            Status::PermissionDenied,
            "ownership is fixed in this namespace",
        ));
    }
    match (a.size, size) {
        (Some(want), Some(have)) if want != have => Some((
            "truncate",
            Status::OpUnsupported,
            "changing a file's size is not supported: files are written once",
        )),
        _ => None,
    }
}

/// The status code and message a namespace error is answered with.
pub fn status_of(e: &NsError) -> (Status, String) {
    let code = match e.category() {
        Category::NoSuchFile => Status::NoSuchFile,
        Category::PermissionDenied => Status::PermissionDenied,
        Category::Unsupported => Status::OpUnsupported,
        Category::Failure => Status::Failure,
    };
    (code, e.to_string())
}
