//! How a namespace entry looks in a directory listing: the `ls -l` line
//! that SFTP's READDIR and FTP's `LIST` both send, so the two doors show
//! the same thing for the same file.

use jiff::Timestamp;

use crate::namespace::{EntryInfo, EntryKind};

/// An `ls -l` style line, times in Asia/Tokyo (the product's zone).
pub fn longname(info: &EntryInfo, owner: &str) -> String {
    let kind = match info.kind {
        EntryKind::Dir => "drwxr-x---",
        EntryKind::File => "-rw-r-----",
    };
    let when = Timestamp::from_second(info.mtime)
        .ok()
        .map(|t| {
            renkei_model::time::tokyo(t)
                .strftime("%b %e %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "Jan  1 00:00".to_string());
    format!(
        "{kind}    1 {owner:<8} {owner:<8} {:>12} {when} {}",
        info.size, info.name
    )
}
