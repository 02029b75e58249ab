//! One FTPS control connection, from the greeting to `session_ended`.
//!
//! Three phases, each serving only its commands: before TLS (`AUTH TLS`,
//! `FEAT`, `QUIT` — a `USER` here is plain FTP and ends the connection
//! before a password can follow in clear), before login (`USER`, `PASS`,
//! `PBSZ`, `PROT`), and logged in. This is the loop and the dispatch;
//! the commands are in `auth` (before login), `names` and `transfer`;
//! what is decided about them is the core's.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use renkei_core::door::{self, Admitted};
use renkei_core::namespace::{NsError, NsPath, PathError, Principal, path};

use super::command::{self, BadCommand, Command};
use super::control::{Control, ControlError, Stream};
use super::data::Passive;
use super::{Ftps, Mode};

/// Bad command lines in a row before the connection is ended as hostile.
pub const MAX_BAD_COMMANDS: usize = 16;

/// What `FEAT` lists (RFC 2389).
const FEATURES: &str = "Features:\nAUTH TLS\nPBSZ\nPROT\nEPSV\nMDTM\nMFMT\nMLST type*;size*;modify*;perm*;\nREST STREAM\nSIZE\nUTF8\nEnd";

/// Whether the session goes on.
pub(super) enum Flow {
    Go,
    End(String),
}

pub(super) struct Session {
    pub ftps: Arc<Ftps>,
    pub conn: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub control: Control,
    /// This connection's TLS configuration (its own session store: the
    /// data connections must resume one of its sessions).
    pub tls: super::data::ConnectionTls,
    pub(super) user: Option<String>,
    /// The kit's account of the connection: its logins, who it is, what
    /// it moved, its end record and offence.
    pub kit: door::Session,
    /// `PROT P` was given: data connections may be opened.
    pub protected: bool,
    pub cwd: String,
    pub rest: Option<u64>,
    pub(super) rename_from: Option<(NsPath, String)>,
    pub passive: Option<Passive>,
    /// `EPSV ALL`: only `EPSV` from now on.
    pub epsv_all: bool,
    pub(super) bad: usize,
    pub tally: Arc<door::Tally>,
    /// The account's memory meters, once logged in.
    pub mem: Option<renkei_core::memory::SessionMemory>,
    /// When a connection that has not logged in is closed.
    pub(super) grace_ends: tokio::time::Instant,
}

/// Serves one connection; its kit session writes the `session_ended`
/// record and scores the offence, if any.
pub(super) async fn run(
    ftps: Arc<Ftps>,
    tcp: TcpStream,
    admitted: Admitted,
    mode: Mode,
    tls: super::data::ConnectionTls,
    shutdown: CancellationToken,
) {
    let (conn, peer) = (admitted.conn, admitted.peer);
    let mut kit = door::Session::start(admitted);
    let limits = ftps.ns.limits().clone();
    // The login grace is one deadline from accept, whatever the client
    // sends meanwhile (TLS, commands, a byte at a time).
    let grace_ends = tokio::time::Instant::now() + limits.login_grace_time;
    let local = tcp.local_addr().unwrap_or(peer);
    let _ = tcp.set_nodelay(true);
    let stream = match mode {
        Mode::Explicit => Ok(Stream::Plain(tcp)),
        Mode::Implicit => {
            let acceptor = TlsAcceptor::from(Arc::clone(&tls.control));
            match tokio::time::timeout_at(grace_ends, acceptor.accept(tcp)).await {
                Ok(Ok(t)) => Ok(Stream::Tls(Box::new(t))),
                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                Err(_) => Err("TLS handshake not finished within limits.login_grace_time".into()),
            }
        }
    };
    let stream = match stream {
        Ok(stream) => stream,
        Err(reason) => {
            kit.close(Err(reason)).apply().await;
            return;
        }
    };
    let mut s = Session {
        control: Control::new(stream, limits.send_timeout),
        tls,
        user: None,
        tally: kit.tally(),
        kit,
        protected: false,
        cwd: "/".into(),
        rest: None,
        rename_from: None,
        passive: None,
        epsv_all: false,
        bad: 0,
        mem: None,
        grace_ends,
        ftps,
        conn,
        peer,
        local,
    };
    let reason = s.serve(&shutdown).await;
    drop(s.passive.take());
    if let Some(mem) = s.mem.take() {
        mem.settle();
    }
    s.control.close().await;
    s.kit.close(Err(reason)).apply().await;
}

impl Session {
    async fn serve(&mut self, shutdown: &CancellationToken) -> String {
        let limits = self.ftps.ns.limits().clone();
        let hello = if self.control.is_tls() {
            "renkei FTPS ready"
        } else {
            "renkei FTPS: send AUTH TLS first (plain FTP is not served)"
        };
        if let Err(e) = self.control.reply(220, hello).await {
            return e.to_string();
        }
        loop {
            let (deadline, wait) = if self.kit.principal().is_some() {
                (
                    tokio::time::Instant::now() + limits.idle_timeout,
                    limits.idle_timeout,
                )
            } else {
                (self.grace_ends, limits.login_grace_time)
            };
            let line = tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = self.control.reply(421, "renkei is shutting down").await;
                    return "shutdown".into();
                }
                r = self.control.line(deadline, wait) => r,
            };
            let line = match line {
                Ok(l) => l,
                Err(ControlError::Idle(_)) if self.kit.principal().is_none() => {
                    self.kit.timed_out("login grace time exceeded".into());
                    let _ = self
                        .control
                        .reply(421, "not logged in within limits.login_grace_time")
                        .await;
                    return "login grace time exceeded".into();
                }
                Err(e @ ControlError::Idle(_)) => {
                    let _ = self.control.reply(421, &e.to_string()).await;
                    return e.to_string();
                }
                Err(e @ ControlError::TooLong) => {
                    self.violation(&e.to_string());
                    let _ = self.control.reply(500, &e.to_string()).await;
                    return e.to_string();
                }
                Err(e) => return e.to_string(),
            };
            let flow = match command::parse(&line) {
                Ok(cmd) => self.dispatch(cmd, shutdown).await,
                Err(e) => self.bad_line(e).await,
            };
            match flow {
                Ok(Flow::Go) => {}
                Ok(Flow::End(reason)) => return reason,
                Err(e) => return e.to_string(),
            }
        }
    }

    /// The client broke the protocol: the kit records and scores it.
    pub(super) fn violation(&mut self, reason: &str) {
        self.kit.violation(reason);
    }

    async fn bad_line(&mut self, e: BadCommand) -> Result<Flow, ControlError> {
        self.bad += 1;
        if self.bad >= MAX_BAD_COMMANDS {
            let reason = format!("{MAX_BAD_COMMANDS} bad command lines in a row (last: {e})");
            self.violation(&reason);
            self.control.reply(421, &reason).await?;
            return Ok(Flow::End(reason));
        }
        match &e {
            BadCommand::NotUtf8 { verb } => {
                if let Some(who) = self.kit.principal() {
                    self.ftps.ns.refuse(
                        who,
                        &verb.to_ascii_lowercase(),
                        "(not UTF-8)",
                        NsError::Invalid(e.to_string()),
                    );
                }
                self.control
                    .reply(
                        501,
                        "file names must be UTF-8 (OPTS UTF8 ON); this name is not UTF-8, probably Shift_JIS: set the client's encoding to UTF-8",
                    )
                    .await?;
            }
            _ => self.control.reply(500, &e.to_string()).await?,
        }
        Ok(Flow::Go)
    }

    async fn dispatch(
        &mut self,
        cmd: Command,
        shutdown: &CancellationToken,
    ) -> Result<Flow, ControlError> {
        self.bad = 0;
        let arg = cmd.arg.as_str();
        // Commands answered in every phase.
        match cmd.verb.as_str() {
            "QUIT" => {
                self.control.reply(221, "goodbye").await?;
                return Ok(Flow::End("quit".into()));
            }
            "FEAT" => return self.say(211, FEATURES).await,
            "NOOP" => return self.say(200, "ok").await,
            "SYST" => return self.say(215, "UNIX Type: L8").await,
            "HELP" => {
                return self
                    .say(
                        214,
                        "see FEAT; this is renkei's FTPS front door (docs/ftps.md)",
                    )
                    .await;
            }
            "AUTH" => return self.auth(arg).await,
            "CCC" => {
                return self
                    .say(534, "the control connection stays encrypted")
                    .await;
            }
            _ => {}
        }
        if !self.control.is_tls() {
            return self.plain(&cmd.verb).await;
        }
        match cmd.verb.as_str() {
            "USER" => return self.user(arg).await,
            "PASS" => return self.pass(arg).await,
            "PBSZ" => return self.say(200, "PBSZ=0").await,
            "PROT" => return self.prot(arg).await,
            "OPTS" => return self.opts(arg).await,
            "TYPE" => {
                return match arg.to_ascii_uppercase().as_str() {
                    "I" | "L 8" | "A" | "A N" => {
                        self.say(
                            200,
                            "type set (files are sent byte for byte, never converted)",
                        )
                        .await
                    }
                    _ => self.say(504, "only TYPE I (and A, sent unconverted)").await,
                };
            }
            _ => {}
        }
        if self.kit.principal().is_none() {
            return self.say(530, "log in first (USER and PASS)").await;
        }
        self.logged_in(cmd, shutdown).await
    }

    async fn logged_in(
        &mut self,
        cmd: Command,
        shutdown: &CancellationToken,
    ) -> Result<Flow, ControlError> {
        let arg = cmd.arg.as_str();
        let verb = cmd.verb.as_str();
        if verb != "RNTO" {
            self.rename_from = None;
        }
        if !matches!(
            verb,
            "RETR" | "STOR" | "APPE" | "REST" | "PASV" | "EPSV" | "TYPE"
        ) {
            // REST applies to the transfer that follows it only (clients
            // put PASV and TYPE between the two).
            self.rest = None;
        }
        match verb {
            "PWD" | "XPWD" => {
                let shown = format!(
                    "\"{}\" is the current directory",
                    self.cwd.replace('"', "\"\"")
                );
                self.say(257, &shown).await
            }
            "CWD" | "XCWD" => self.cwd(arg).await,
            "CDUP" | "XCUP" => self.cwd("..").await,
            "MODE" if arg.eq_ignore_ascii_case("S") => self.say(200, "stream mode").await,
            "MODE" => self.say(504, "only MODE S").await,
            "STRU" if arg.eq_ignore_ascii_case("F") => self.say(200, "file structure").await,
            "STRU" => self.say(504, "only STRU F").await,
            "ALLO" => self.say(202, "no storage needs allocating").await,
            "PASV" => self.passive(false).await,
            "EPSV" => self.passive(true).await,
            "PORT" | "EPRT" => {
                self.refuse(
                    "active",
                    "",
                    NsError::Unsupported(
                        "active mode (PORT/EPRT) is not offered: use passive mode (PASV/EPSV)"
                            .into(),
                    ),
                )
                .await
            }
            "REST" => match arg.trim().parse::<u64>() {
                Ok(n) => {
                    self.rest = Some(n);
                    self.say(350, &format!("restarting at {n}; send STOR or RETR"))
                        .await
                }
                Err(_) => self.say(501, "REST needs a byte offset").await,
            },
            "RETR" => self.retrieve(arg, shutdown).await,
            "STOR" => self.store(arg, false, shutdown).await,
            "APPE" => self.store(arg, true, shutdown).await,
            "LIST" | "NLST" | "MLSD" => self.listing(verb, arg, shutdown).await,
            "MLST" => self.mlst(arg).await,
            "SIZE" => self.size(arg).await,
            "MDTM" => self.mdtm(arg).await,
            "MFMT" => self.mfmt(arg).await,
            "DELE" => self.names_op("remove", arg).await,
            "MKD" | "XMKD" => self.names_op("mkdir", arg).await,
            "RMD" | "XRMD" => self.names_op("rmdir", arg).await,
            "RNFR" => self.rnfr(arg).await,
            "RNTO" => self.rnto(arg).await,
            "ABOR" => self.say(225, "no transfer in progress").await,
            "STAT" if arg.is_empty() => {
                let who = self
                    .kit
                    .principal()
                    .map(|w| w.user.clone())
                    .unwrap_or_default();
                let text = format!("renkei FTPS\nlogged in as {who}\nTLS, PROT P\nEnd");
                self.say(211, &text).await
            }
            _ => self.say(502, &format!("{verb} is not offered")).await,
        }
    }

    pub(super) async fn say(&mut self, code: u16, text: &str) -> Result<Flow, ControlError> {
        self.control.reply(code, text).await?;
        Ok(Flow::Go)
    }

    /// A client path, relative to the current directory, as a namespace
    /// path; a refusal is recorded.
    pub(super) fn resolve(&self, op: &str, arg: &str) -> Result<(NsPath, String), NsError> {
        let joined = if arg.starts_with('/') {
            arg.to_string()
        } else {
            format!("{}/{arg}", self.cwd)
        };
        let parsed = path::normalize(joined.as_bytes())
            .and_then(|norm| self.ftps.ns.parse(norm.as_bytes()).map(|p| (p, norm)));
        parsed.map_err(|e: PathError| match self.kit.principal() {
            Some(who) => self.ftps.ns.refuse(who, op, &joined, NsError::BadPath(e)),
            None => NsError::BadPath(e),
        })
    }

    /// Answers a namespace refusal or failure.
    pub(super) async fn fail(&mut self, e: &NsError) -> Result<Flow, ControlError> {
        let code = match e {
            NsError::BadPath(PathError::NoSuchBox { .. }) | NsError::NotFound { .. } => 550,
            NsError::BadPath(_) => 553,
            NsError::Storage(_) => 451,
            NsError::Unsupported(_) => 502,
            _ => 550,
        };
        self.say(code, &e.to_string()).await
    }

    /// Records a refusal of something the door does not do, and answers it.
    async fn refuse(&mut self, op: &str, shown: &str, e: NsError) -> Result<Flow, ControlError> {
        let e = match self.kit.principal() {
            Some(who) => self.ftps.ns.refuse(who, op, shown, e),
            None => e,
        };
        self.fail(&e).await
    }

    pub(super) fn principal(&self) -> Result<Principal, NsError> {
        self.kit
            .principal()
            .cloned()
            .ok_or_else(|| NsError::Invalid("not logged in".into()))
    }
}
