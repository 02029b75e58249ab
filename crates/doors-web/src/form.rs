//! The upload form (multipart/form-data), read so that every byte a
//! client sends counts against a named limit before it is held.
//!
//! multer parses the parts; what it has been given and not yet handed on
//! as part data — the preamble before the first boundary, a part's
//! headers, a boundary it is still looking for — is what a hostile body
//! could make it buffer without end (a body with no boundary, headers
//! that never end). [`Metered`] stands between the body and multer. multer
//! reads every chunk that is ready before it parses, so once it holds more
//! than `web.max_form_size` the meter first makes it stop reading and
//! parse what it has; only if that hands nothing on (no part, no data) is
//! the body refused.
//! Small fields (the CSRF token) are read a chunk at a time against
//! their own bound, and every byte of every field that is not a file
//! counts against `web.max_form_size` too. So one upload holds at most
//! `web.max_form_size` + one chunk of hyper's (64 KiB) in the parser,
//! whatever the body.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use futures_util::{Stream, StreamExt};
use multer::{Constraints, Field, Multipart, SizeLimit};

/// Why the form could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("the form's parts, headers and fields took more than {0} bytes (web.max_form_size)")]
    TooMuchForm(u64),
    #[error("the field {name:?} is longer than {max} bytes")]
    FieldTooLong { name: String, max: usize },
    #[error("the body is larger than {0} bytes (web.max_upload_size + web.max_form_size)")]
    TooLarge(u64),
    #[error("the request is not a multipart form: {0}")]
    NotMultipart(String),
    #[error("the form could not be read: {0}")]
    Read(String),
}

/// What multer has been given and what it has handed on.
#[derive(Default)]
struct Meter {
    delivered: AtomicU64,
    consumed: AtomicU64,
    /// Parts and chunks handed on so far.
    progress: AtomicU64,
    overflowed: AtomicBool,
}

/// The body as multer reads it: refuses the next chunk once what multer
/// holds (given, not handed on) exceeds `max_held`.
struct Metered {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, axum::Error>> + Send>>,
    meter: Arc<Meter>,
    max_held: u64,
    /// Set when reading paused because too much was held: the progress
    /// made until then.
    paused_at: Option<u64>,
}

impl Stream for Metered {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let m = &self.meter;
        let held = m
            .delivered
            .load(Ordering::Relaxed)
            .saturating_sub(m.consumed.load(Ordering::Relaxed));
        let progress = m.progress.load(Ordering::Relaxed);
        if held > self.max_held {
            if self.paused_at == Some(progress) {
                // multer parsed what it holds and handed nothing on.
                m.overflowed.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(std::io::Error::other(
                    "the form holds too much outside its files",
                ))));
            }
            // Stop multer reading ahead; it parses what it has, and this
            // task is polled again.
            self.paused_at = Some(progress);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.paused_at = None;
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.meter
                    .delivered
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// An upload form being read.
pub struct Form {
    parts: Multipart<'static>,
    meter: Arc<Meter>,
    max_form: u64,
    max_body: u64,
    /// Bytes of fields that are not files, so far.
    form_bytes: u64,
}

impl Form {
    /// Reads `body` as the multipart form its `content_type` announces.
    pub fn open(
        content_type: Option<&str>,
        body: Body,
        max_form: u64,
        max_upload: u64,
    ) -> Result<Form, FormError> {
        let boundary = multer::parse_boundary(content_type.unwrap_or(""))
            .map_err(|e| FormError::NotMultipart(e.to_string()))?;
        let meter = Arc::new(Meter::default());
        let metered = Metered {
            inner: Box::pin(body.into_data_stream()),
            meter: Arc::clone(&meter),
            max_held: max_form,
            paused_at: None,
        };
        let max_body = max_upload.saturating_add(max_form);
        let constraints = Constraints::new().size_limit(SizeLimit::new().whole_stream(max_body));
        Ok(Form {
            parts: Multipart::with_constraints(metered, boundary, constraints),
            meter,
            max_form,
            max_body,
            form_bytes: 0,
        })
    }

    fn error(&self, e: multer::Error) -> FormError {
        if self.meter.overflowed.load(Ordering::Relaxed) {
            return FormError::TooMuchForm(self.max_form);
        }
        match e {
            multer::Error::StreamSizeExceeded { .. } => FormError::TooLarge(self.max_body),
            e => FormError::Read(e.to_string()),
        }
    }

    /// The next part, if any.
    pub async fn next_field(&mut self) -> Result<Option<Field<'static>>, FormError> {
        match self.parts.next_field().await {
            Ok(f) => {
                self.meter.progress.fetch_add(1, Ordering::Relaxed);
                Ok(f)
            }
            Err(e) => Err(self.error(e)),
        }
    }

    /// The next chunk of a file part's data.
    pub async fn chunk(&self, field: &mut Field<'static>) -> Result<Option<Bytes>, FormError> {
        match field.chunk().await {
            Ok(Some(b)) => {
                self.meter
                    .consumed
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                self.meter.progress.fetch_add(1, Ordering::Relaxed);
                Ok(Some(b))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// A field that is not a file, of at most `max` bytes, as text.
    pub async fn text(
        &mut self,
        mut field: Field<'static>,
        max: usize,
    ) -> Result<String, FormError> {
        let name = field.name().unwrap_or("").to_string();
        let mut got = Vec::new();
        while let Some(b) = self.small(&mut field).await? {
            if got.len() + b.len() > max {
                return Err(FormError::FieldTooLong { name, max });
            }
            got.extend_from_slice(&b);
        }
        String::from_utf8(got)
            .map_err(|_| FormError::Read(format!("the field {name:?} is not UTF-8")))
    }

    /// Reads and drops a field renkei does not use.
    pub async fn skip(&mut self, mut field: Field<'static>) -> Result<(), FormError> {
        while self.small(&mut field).await?.is_some() {}
        Ok(())
    }

    /// A chunk of a field that is not a file: it counts against
    /// `web.max_form_size`.
    async fn small(&mut self, field: &mut Field<'static>) -> Result<Option<Bytes>, FormError> {
        let Some(b) = self.chunk(field).await? else {
            return Ok(None);
        };
        self.form_bytes += b.len() as u64;
        if self.form_bytes > self.max_form {
            return Err(FormError::TooMuchForm(self.max_form));
        }
        Ok(Some(b))
    }
}
