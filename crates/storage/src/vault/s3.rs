//! Blobs in S3-compatible object storage (decision 0016): one immutable
//! object per sealed blob, under `<prefix>/<first two characters>/<id>.age`
//! where the id is the vault's random one. Nothing is ever overwritten and
//! no conditional write is needed (Garage ignores `If-None-Match`): a
//! fresh id is a fresh key, and the journal decides what exists.
//!
//! The vault's store interface is synchronous (it runs on the blocking
//! threads of uploads and downloads); the client is async, so the store
//! owns a small runtime of its own and every call waits for its answer with
//! `timeout` as the bound, from whichever thread calls it.
//!
//! Memory is bounded by construction: a blob being written holds at most
//! one part (`PART_SIZE`) before it is sent as a part of a multipart upload
//! (a small blob is one PUT at sealing); a blob being read holds one
//! `READ_AHEAD` window of one ranged GET.

use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{
    ClientOptions, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

use super::store::{BlobRead, BlobStore, BlobWrite};

/// A blob is sent in parts of this size (S3's minimum part is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// A reader fetches this much at a time.
pub const READ_AHEAD: u64 = 1024 * 1024;

/// Where the bucket is and how to sign for it.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing `/`).
    pub prefix: String,
    /// `http(s)://host:port` of the service.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Each request, connecting included, and each wait for an answer.
    pub timeout: Duration,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "s3://{}/{} at {}",
            self.bucket, self.prefix, self.endpoint
        )
    }
}

/// The bucket as a blob store.
pub struct S3Store {
    s3: Arc<AmazonS3>,
    prefix: String,
    timeout: Duration,
    /// `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// Where requests run (the runtime's handle).
    handle: tokio::runtime::Handle,
    shown: String,
}

impl Drop for S3Store {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which must not happen on
        // an async thread (the daemon may drop the vault on one).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn s3_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => {
            io::Error::new(io::ErrorKind::NotFound, e.to_string())
        }
        other => io::Error::other(other.to_string()),
    }
}

impl S3Store {
    pub fn open(config: &S3Config) -> io::Result<S3Store> {
        let options = ClientOptions::new()
            .with_timeout(config.timeout)
            .with_connect_timeout(config.timeout)
            .with_allow_http(config.endpoint.starts_with("http://"));
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: config.timeout,
            ..RetryConfig::default()
        };
        let s3 = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_endpoint(&config.endpoint)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(s3_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vault-s3")
            .enable_all()
            .build()?;
        Ok(S3Store {
            s3: Arc::new(s3),
            prefix: config.prefix.trim_matches('/').to_string(),
            timeout: config.timeout,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            shown: format!("{config:?}"),
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    fn key(&self, id: &str) -> ObjPath {
        let shard = id.get(..2).unwrap_or("__");
        if self.prefix.is_empty() {
            ObjPath::from(format!("{shard}/{id}.age"))
        } else {
            ObjPath::from(format!("{}/{shard}/{id}.age", self.prefix))
        }
    }

    /// Runs `f` on the store's runtime and waits for it, at most
    /// `timeout` (plus the client's own retries' bound).
    fn wait<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, object_store::Error>> + Send + 'static,
    ) -> io::Result<T> {
        wait_handle(self.handle(), self.timeout, &self.shown, f)
    }
}

impl S3Store {
    /// Every object under the prefix: its key and size.
    fn list(&self) -> io::Result<Vec<(String, u64)>> {
        let s3 = Arc::clone(&self.s3);
        let prefix = (!self.prefix.is_empty()).then(|| ObjPath::from(self.prefix.as_str()));
        self.wait(async move {
            let mut listing = s3.list(prefix.as_ref());
            let mut out = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta?;
                out.push((meta.location.to_string(), meta.size));
            }
            Ok(out)
        })
    }

    /// A new object at `key`, written one part at a time.
    fn writer(&self, key: ObjPath) -> S3Blob {
        S3Blob {
            s3: Arc::clone(&self.s3),
            key,
            buffer: Vec::new(),
            upload: None,
            parts: 0,
            sealed: false,
            runtime: self.handle.clone(),
            timeout: self.timeout,
            shown: self.shown.clone(),
        }
    }
}

impl BlobStore for S3Store {
    fn create(&self, id: &str) -> io::Result<Box<dyn BlobWrite>> {
        Ok(Box::new(self.writer(self.key(id))))
    }

    fn open(&self, id: &str) -> io::Result<Box<dyn BlobRead>> {
        let (s3, key) = (Arc::clone(&self.s3), self.key(id));
        let size = self.wait(async move { s3.head(&key).await.map(|m| m.size) })?;
        Ok(Box::new(S3Reader {
            store: S3Handle {
                s3: Arc::clone(&self.s3),
                runtime: self.handle.clone(),
                timeout: self.timeout,
                shown: self.shown.clone(),
            },
            key: self.key(id),
            size,
            pos: 0,
            window_at: 0,
            window: Bytes::new(),
        }))
    }

    fn check(&self, id: &str) -> io::Result<()> {
        let (s3, key) = (Arc::clone(&self.s3), self.key(id));
        self.wait(async move { s3.head(&key).await.map(|_| ()) })
    }

    fn remove(&self, id: &str) -> io::Result<()> {
        let (s3, key) = (Arc::clone(&self.s3), self.key(id));
        match self.wait(async move { s3.delete(&key).await }) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn write_memory(&self) -> u64 {
        PART_SIZE as u64
    }

    fn read_memory(&self) -> u64 {
        READ_AHEAD
    }

    fn scan(&self, is_id: &dyn Fn(&str) -> bool) -> io::Result<(Vec<String>, Vec<String>)> {
        let mut blobs = Vec::new();
        let mut strays = Vec::new();
        for (key, _) in self.list()? {
            let name = key.rsplit('/').next().unwrap_or("");
            match name.strip_suffix(".age") {
                Some(id) if is_id(id) && self.key(id).as_ref() == key => blobs.push(id.to_string()),
                _ => strays.push(format!("s3 object {key}")),
            }
        }
        Ok((blobs, strays))
    }
}

/// The store as the place for the audit trail's copies (opened with the
/// trail's own prefix): named objects, replaced as they grow.
impl crate::audit::copies::TrailCopies for S3Store {
    fn sizes(&self) -> io::Result<std::collections::HashMap<String, u64>> {
        Ok(self
            .list()?
            .into_iter()
            .filter_map(|(key, size)| {
                let name = key.rsplit('/').next()?.to_string();
                Some((name, size))
            })
            .collect())
    }

    fn put(&self, name: &str, from: &mut dyn Read) -> io::Result<()> {
        let key = if self.prefix.is_empty() {
            ObjPath::from(name)
        } else {
            ObjPath::from(format!("{}/{name}", self.prefix))
        };
        let mut blob = Box::new(self.writer(key));
        io::copy(from, &mut blob)?;
        blob.seal()
    }

    fn shown(&self) -> String {
        self.shown.clone()
    }
}

/// What a reader needs of the store.
struct S3Handle {
    s3: Arc<AmazonS3>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
    shown: String,
}

fn wait_handle<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    timeout: Duration,
    shown: &str,
    f: impl Future<Output = Result<T, object_store::Error>> + Send + 'static,
) -> io::Result<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(f.await);
    });
    // The client retries within `timeout`; one more `timeout` covers the
    // last attempt.
    match rx.recv_timeout(timeout * 2) {
        Ok(r) => r.map_err(s3_error),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{shown}: no answer within {} s", (timeout * 2).as_secs()),
        )),
    }
}

/// A blob being written: one part buffered at a time.
struct S3Blob {
    s3: Arc<AmazonS3>,
    key: ObjPath,
    buffer: Vec<u8>,
    upload: Option<Box<dyn MultipartUpload>>,
    parts: usize,
    sealed: bool,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
    shown: String,
}

impl S3Blob {
    fn wait<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, object_store::Error>> + Send + 'static,
    ) -> io::Result<T> {
        wait_handle(&self.runtime, self.timeout, &self.shown, f)
    }

    /// Sends the buffer as the next part, starting the upload first.
    fn send_part(&mut self) -> io::Result<()> {
        if self.upload.is_none() {
            let (s3, key) = (Arc::clone(&self.s3), self.key.clone());
            self.upload = Some(self.wait(async move { s3.put_multipart(&key).await })?);
        }
        let data = PutPayload::from(std::mem::take(&mut self.buffer));
        let part = match self.upload.as_mut() {
            Some(upload) => upload.put_part(data),
            None => return Err(io::Error::other("multipart upload not started")),
        };
        self.wait(part)?;
        self.parts += 1;
        Ok(())
    }
}

impl Write for S3Blob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.sealed {
            return Err(io::Error::other("blob already sealed"));
        }
        let room = PART_SIZE - self.buffer.len();
        let n = buf.len().min(room);
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == PART_SIZE {
            self.send_part()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWrite for S3Blob {
    fn seal(mut self: Box<Self>) -> io::Result<()> {
        match self.upload.take() {
            None => {
                let (s3, key) = (Arc::clone(&self.s3), self.key.clone());
                let data = PutPayload::from(std::mem::take(&mut self.buffer));
                self.wait(async move { s3.put(&key, data).await.map(|_| ()) })?;
            }
            Some(upload) => {
                self.upload = Some(upload);
                if !self.buffer.is_empty() {
                    self.send_part()?;
                }
                let Some(mut upload) = self.upload.take() else {
                    return Err(io::Error::other("multipart upload lost"));
                };
                self.wait(async move { upload.complete().await.map(|_| ()) })?;
            }
        }
        // The store answered the whole object: it exists from now on.
        self.sealed = true;
        Ok(())
    }
}

impl Drop for S3Blob {
    fn drop(&mut self) {
        // Not sealed: nothing was completed, so no object exists; the
        // parts sent are dropped by aborting the upload (best effort: a
        // bucket lifecycle rule for incomplete uploads is the net).
        if let Some(mut upload) = self.upload.take() {
            self.runtime.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

/// A sealed blob read with ranged GETs, one window at a time.
struct S3Reader {
    store: S3Handle,
    key: ObjPath,
    size: u64,
    pos: u64,
    window_at: u64,
    window: Bytes,
}

impl Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let in_window =
            self.pos >= self.window_at && self.pos < self.window_at + self.window.len() as u64;
        if !in_window {
            let end = (self.pos + READ_AHEAD).min(self.size);
            let (s3, key, range) = (Arc::clone(&self.store.s3), self.key.clone(), self.pos..end);
            self.window = wait_handle(
                &self.store.runtime,
                self.store.timeout,
                &self.store.shown,
                async move { s3.get_range(&key, range).await },
            )?;
            self.window_at = self.pos;
            if self.window.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the object ended before its size",
                ));
            }
        }
        let offset = usize::try_from(self.pos - self.window_at).map_err(io::Error::other)?;
        let available = &self.window[offset..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for S3Reader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}
