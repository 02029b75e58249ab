//! Pushing a stored file to a remote SFTP directory exactly once.
//!
//! The same protocol as a local spool (`route::spool`), in SFTP terms:
//! upload to `.renkei-TAG.part` (resuming what a cut-off attempt left),
//! check the SHA-256 of what was read from the vault and the size the
//! server holds, hard-link it as `.renkei-TAG.sent` (OpenSSH's
//! `hardlink@openssh.com`), rename the `.part` to the final name (SFTP
//! rename never replaces a file), create the trigger file, and after the
//! journal says `delivered`, remove the receipt. A file already there under
//! the final name is read back and compared by SHA-256: the same bytes are
//! "already delivered", other bytes a conflict that waits.

use std::sync::Arc;

use russh_sftp::protocol::OpenFlags;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{Conn, RemoteError, make_dirs};
use crate::place::{PlaceError, Placed, Placement};
use renkei_core::namespace::Namespace;
use renkei_core::records::ObjectRecord;

/// Bytes re-sent before the end of a resumed `.part`: what the server
/// acknowledged last may not all have reached its disk.
const RESUME_OVERLAP: u64 = 1 << 20;
/// Chunks handed from the vault reader to the uploader.
const CHUNK: usize = 256 << 10;

async fn size_of(conn: &Conn, path: &str) -> Result<Option<u64>, RemoteError> {
    if !conn
        .sftp
        .try_exists(path.to_string())
        .await
        .map_err(|e| conn.err(e))?
    {
        return Ok(None);
    }
    let m = conn
        .sftp
        .symlink_metadata(path.to_string())
        .await
        .map_err(|e| conn.err(e))?;
    Ok(Some(m.size.unwrap_or(0)))
}

async fn remove_if_present(conn: &Conn, path: &str) -> Result<(), RemoteError> {
    if conn
        .sftp
        .try_exists(path.to_string())
        .await
        .map_err(|e| conn.err(e))?
    {
        conn.sftp
            .remove_file(path.to_string())
            .await
            .map_err(|e| conn.err(format!("cannot remove {path}: {e}")))?;
    }
    Ok(())
}

/// SHA-256 of a remote file, read back.
async fn remote_sha256(conn: &Conn, path: &str) -> Result<String, RemoteError> {
    let mut f = conn
        .sftp
        .open(path.to_string())
        .await
        .map_err(|e| conn.err(format!("cannot read {path}: {e}")))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf).await.map_err(|e| conn.err(e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Hands `object` to the server (all steps but forgetting the receipt).
pub async fn push(
    conn: &Conn,
    ns: &Arc<Namespace>,
    object: &ObjectRecord,
    target: &Placement,
) -> Result<Placed, RemoteError> {
    make_dirs(conn, &target.dir).await?;
    let (part, receipt) = (target.part(), target.receipt());
    let linked = size_of(conn, &receipt).await?.is_some();
    let have_part = size_of(conn, &part).await?;
    if linked && have_part.is_none() {
        finish(conn, target).await?;
        return Ok(Placed::AlreadyThere);
    }
    if !linked {
        let from = have_part
            .map(|s| s.min(object.size).saturating_sub(RESUME_OVERLAP))
            .unwrap_or(0);
        upload(conn, ns, object, &part, from).await?;
        let size = size_of(conn, &part).await?.unwrap_or(0);
        if size != object.size {
            let _ = remove_if_present(conn, &part).await;
            return Err(conn.err(format!(
                "{part} holds {size} bytes after the upload, not {}; it will be sent again",
                object.size
            )));
        }
        // Without the hardlink extension there is no receipt: a crash
        // between rename and commit is then caught by the SHA-256 check of
        // the file under its final name (unless it was taken meanwhile).
        let _ = conn.sftp.hardlink(part.clone(), receipt.clone()).await;
    }
    let file = target.file();
    let placed = match conn.sftp.rename(part.clone(), file.clone()).await {
        Ok(()) => Placed::Written,
        Err(e) => {
            if size_of(conn, &file).await?.is_none() {
                return Err(conn.err(format!("cannot rename {part} to {file}: {e}")));
            }
            let found = remote_sha256(conn, &file).await?;
            remove_if_present(conn, &part).await?;
            if found != object.sha256 {
                remove_if_present(conn, &receipt).await?;
                return Err(PlaceError::Conflict {
                    place: format!("{file} on {}", conn.addr),
                }
                .into());
            }
            Placed::AlreadyThere
        }
    };
    finish(conn, target).await?;
    Ok(placed)
}

/// The trigger file, only while the data file is there.
async fn finish(conn: &Conn, target: &Placement) -> Result<(), RemoteError> {
    let Some(trigger) = target.trigger() else {
        return Ok(());
    };
    if size_of(conn, &target.file()).await?.is_none() || size_of(conn, &trigger).await?.is_some() {
        return Ok(());
    }
    let f = conn
        .sftp
        .open_with_flags(
            trigger.clone(),
            OpenFlags::CREATE | OpenFlags::WRITE | OpenFlags::EXCLUDE,
        )
        .await
        .map_err(|e| conn.err(format!("cannot create {trigger}: {e}")))?;
    f.close().await.map_err(|e| conn.err(e))?;
    Ok(())
}

/// After `delivered` is committed: the receipt goes.
pub async fn forget(conn: &Conn, target: &Placement) {
    if let Err(e) = remove_if_present(conn, &target.receipt()).await {
        tracing::warn!(error = %e, "could not remove a hand-off receipt on the server");
    }
}

/// Sends the object from byte `from` on into `part`, checking the SHA-256
/// of the whole object as it is read from the vault.
// Long: the reader, the hasher and the uploader run side by side; their
// channels and the final check are set up and joined here together.
async fn upload(
    conn: &Conn,
    ns: &Arc<Namespace>,
    object: &ObjectRecord,
    part: &str,
    from: u64,
) -> Result<(), RemoteError> {
    let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(8);
    let (htx, hrx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(8);
    let reader_ns = Arc::clone(ns);
    let reader_object = object.clone();
    // Decryption and hashing are blocking work, each on its own thread so
    // that they overlap with each other and with the upload.
    let reader = tokio::task::spawn_blocking(move || -> Result<(), RemoteError> {
        let mut r = reader_ns.open_object(&reader_object)?;
        let mut off = 0u64;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = r.read_at(off, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            buf.truncate(n);
            let chunk = bytes::Bytes::from(buf);
            if htx.send(chunk.clone()).is_err() {
                return Ok(());
            }
            let end = off + n as u64;
            if end > from {
                let skip = from.saturating_sub(off) as usize;
                if tx.blocking_send(chunk.slice(skip..)).is_err() {
                    return Ok(());
                }
            }
            off = end;
        }
    });
    let hasher = tokio::task::spawn_blocking(move || {
        let mut h = Sha256::new();
        while let Ok(chunk) = hrx.recv() {
            h.update(&chunk);
        }
        hex::encode(h.finalize())
    });
    let flags = if from == 0 {
        OpenFlags::CREATE | OpenFlags::WRITE | OpenFlags::TRUNCATE
    } else {
        OpenFlags::WRITE
    };
    let mut f = conn
        .sftp
        .open_with_flags(part.to_string(), flags)
        .await
        .map_err(|e| conn.err(format!("cannot write {part}: {e}")))?;
    if from > 0 {
        f.seek(std::io::SeekFrom::Start(from))
            .await
            .map_err(|e| conn.err(e))?;
    }
    let mut write_error = None;
    while let Some(chunk) = rx.recv().await {
        if let Err(e) = f.write_all(&chunk).await {
            write_error = Some(conn.err(format!("writing {part}: {e}")));
            break;
        }
    }
    drop(rx);
    let read = reader
        .await
        .map_err(|e| conn.err(format!("the vault reader failed: {e}")))?;
    if let Err(e) = read {
        if e.is_permanent() {
            let _ = f.shutdown().await;
            let _ = remove_if_present(conn, part).await;
        }
        return Err(e);
    }
    let found = hasher
        .await
        .map_err(|e| conn.err(format!("the hasher failed: {e}")))?;
    if let Some(e) = write_error {
        return Err(e);
    }
    f.flush().await.map_err(|e| conn.err(e))?;
    // fsync@openssh.com where the server offers it.
    let _ = f.sync_all().await;
    f.shutdown().await.map_err(|e| conn.err(e))?;
    if found != object.sha256 {
        let _ = remove_if_present(conn, part).await;
        return Err(PlaceError::Corrupt {
            expected: object.sha256.clone(),
            found,
        }
        .into());
    }
    Ok(())
}
