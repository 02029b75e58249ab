//! The `renkei ctl` side of the control socket.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::proto::{
    self, Ban, GetHeader, HeldFile, LsEntry, MAX_FRAME, PutResult, ReloadResult, Reply, Request,
    Status,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the daemon at {socket}: {source} (is `renkei serve` running with this configuration?)"
    )]
    Connect {
        socket: String,
        #[source]
        source: io::Error,
    },
    #[error("control connection: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Integrity(String),
}

pub struct Client {
    s: UnixStream,
}

fn expect_ok(reply: Reply) -> Result<serde_json::Value, ClientError> {
    if reply.ok {
        Ok(reply.body)
    } else {
        Err(ClientError::Refused(
            reply.error.unwrap_or_else(|| "refused".into()),
        ))
    }
}

fn body<T: for<'de> serde::Deserialize<'de>>(v: serde_json::Value) -> Result<T, ClientError> {
    serde_json::from_value(v)
        .map_err(|e| ClientError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

impl Client {
    pub fn connect(socket: &Path) -> Result<Client, ClientError> {
        UnixStream::connect(socket)
            .map(|s| Client { s })
            .map_err(|source| ClientError::Connect {
                socket: socket.display().to_string(),
                source,
            })
    }

    fn call(&mut self, req: &Request) -> Result<serde_json::Value, ClientError> {
        proto::write_json(&mut self.s, req)?;
        expect_ok(proto::read_json(&mut self.s)?)
    }

    pub fn status(&mut self) -> Result<Status, ClientError> {
        body(self.call(&Request::Status)?)
    }

    pub fn reload(&mut self) -> Result<ReloadResult, ClientError> {
        body(self.call(&Request::Reload)?)
    }

    pub fn bans(&mut self) -> Result<Vec<Ban>, ClientError> {
        body(self.call(&Request::Bans)?)
    }

    pub fn routes(&mut self) -> Result<Vec<renkei_handoff::route::RouteReport>, ClientError> {
        body(self.call(&Request::Routes)?)
    }

    /// Requeues failed items; returns how many.
    pub fn retry(&mut self, route: &str, item: Option<&str>) -> Result<usize, ClientError> {
        body(self.call(&Request::Retry {
            route: route.to_string(),
            item: item.map(str::to_string),
        })?)
    }

    pub fn lanes(
        &mut self,
    ) -> Result<Vec<renkei_core::namespace::lane_report::LaneReport>, ClientError> {
        body(self.call(&Request::Lanes)?)
    }

    pub fn held(&mut self) -> Result<Vec<HeldFile>, ClientError> {
        body(self.call(&Request::Held)?)
    }

    pub fn held_show(&mut self, id: &str) -> Result<HeldFile, ClientError> {
        body(self.call(&Request::HeldShow { id: id.into() })?)
    }

    /// Lets a held file in; returns it as it is now.
    pub fn release(&mut self, id: &str, reason: &str) -> Result<HeldFile, ClientError> {
        body(self.call(&Request::Release {
            id: id.into(),
            reason: reason.into(),
        })?)
    }

    /// Destroys a held file's bytes; returns what it was.
    pub fn delete_held(&mut self, id: &str, reason: &str) -> Result<HeldFile, ClientError> {
        body(self.call(&Request::DeleteHeld {
            id: id.into(),
            reason: reason.into(),
        })?)
    }

    pub fn unban(&mut self, ip: &str) -> Result<(), ClientError> {
        self.call(&Request::Unban { ip: ip.to_string() })
            .map(|_| ())
    }

    pub fn ls(&mut self, tenant: &str, bx: Option<&str>) -> Result<Vec<LsEntry>, ClientError> {
        body(self.call(&Request::Ls {
            tenant: tenant.into(),
            bx: bx.map(Into::into),
        })?)
    }

    /// Places a local file into a box under its base name; `progress` is
    /// told the bytes sent and the file's size as it goes.
    pub fn put(
        &mut self,
        tenant: &str,
        bx: &str,
        file: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<PutResult, ClientError> {
        let ferr = |source| ClientError::File {
            path: file.display().to_string(),
            source,
        };
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                ClientError::Refused(format!(
                    "{}: the file name must be valid UTF-8",
                    file.display()
                ))
            })?
            .to_string();
        let mut f = File::open(file).map_err(ferr)?;
        let size = f.metadata().map_err(ferr)?.len();
        self.call(&Request::Put {
            tenant: tenant.into(),
            bx: bx.into(),
            name,
        })?;
        let mut buf = vec![0u8; MAX_FRAME];
        let mut sent = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(ferr)?;
            if n == 0 {
                break;
            }
            proto::write_frame(&mut self.s, &buf[..n])?;
            sent += n as u64;
            progress(sent, size.max(sent));
        }
        proto::write_frame(&mut self.s, &[])?;
        body(expect_ok(proto::read_json(&mut self.s)?)?)
    }

    /// Fetches a file, decrypted, to `out` (`-` for standard output). The
    /// bytes are checked against the SHA-256 recorded at upload; a file is
    /// only renamed into place once complete and correct. `progress` is
    /// told the bytes received and the file's size as it goes.
    pub fn get(
        &mut self,
        tenant: &str,
        bx: &str,
        name: &str,
        out: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<GetHeader, ClientError> {
        let header: GetHeader = body(self.call(&Request::Get {
            tenant: tenant.into(),
            bx: bx.into(),
            name: name.into(),
        })?)?;
        let to_stdout = out == Path::new("-");
        let tmp = temp_name(out);
        let ferr = |p: &Path| {
            let p = p.display().to_string();
            move |source| ClientError::File { path: p, source }
        };
        let mut sink: Box<dyn Write> = if to_stdout {
            Box::new(io::stdout().lock())
        } else {
            Box::new(File::create(&tmp).map_err(ferr(&tmp))?)
        };
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let result = (|| {
            while let Some(frame) = proto::read_frame(&mut self.s)? {
                if frame.is_empty() {
                    break;
                }
                hasher.update(&frame);
                total += frame.len() as u64;
                sink.write_all(&frame).map_err(ferr(&tmp))?;
                progress(total, header.size.max(total));
            }
            expect_ok(proto::read_json(&mut self.s)?)?;
            sink.flush().map_err(ferr(&tmp))?;
            let sha = hex::encode(hasher.finalize());
            if total != header.size || sha != header.sha256 {
                return Err(ClientError::Integrity(format!(
                    "{name}: received {total} bytes with SHA-256 {sha}, expected {} bytes with {}",
                    header.size, header.sha256
                )));
            }
            Ok(())
        })();
        drop(sink);
        if to_stdout {
            return result.map(|()| header);
        }
        match result {
            Ok(()) => {
                File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(ferr(&tmp))?;
                fs::rename(&tmp, out).map_err(ferr(out))?;
                Ok(header)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

fn temp_name(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.renkei-{}.part", std::process::id()))
}
