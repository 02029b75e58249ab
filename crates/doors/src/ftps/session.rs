//! One FTPS control connection, from the greeting to `session_ended`.
//!
//! Three phases, each serving only its commands: before TLS (`AUTH TLS`,
//! `FEAT`, `QUIT` — a `USER` here is plain FTP and ends the connection
//! before a password can follow in clear), before login (`USER`, `PASS`,
//! `PBSZ`, `PROT`), and logged in. Names, transfers and listings are in
//! `transfer`; what is decided about them is the core's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use renkei_core::defender::Offence;
use renkei_core::events::Event;
use renkei_core::namespace::{EntryKind, NsError, NsPath, PathError, Principal, path};
use renkei_core::policy::Protocol;

use super::command::{self, BadCommand, Command};
use super::control::{Control, ControlError, Stream};
use super::data::Passive;
use super::{Ftps, Mode, listing, login};

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
    user: Option<String>,
    pub who: Option<Principal>,
    /// `PROT P` was given: data connections may be opened.
    pub protected: bool,
    pub cwd: String,
    pub rest: Option<u64>,
    rename_from: Option<(NsPath, String)>,
    pub passive: Option<Passive>,
    /// `EPSV ALL`: only `EPSV` from now on.
    pub epsv_all: bool,
    failures: Vec<bool>,
    bad: usize,
    timed_out: bool,
    violated: bool,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// The account's memory meters, once logged in.
    pub mem: Option<renkei_core::memory::SessionMemory>,
}

/// Serves one connection and writes its `session_ended` record.
pub(super) async fn run(
    ftps: Arc<Ftps>,
    tcp: TcpStream,
    conn: u64,
    peer: SocketAddr,
    mode: Mode,
    tls: super::data::ConnectionTls,
    shutdown: CancellationToken,
) {
    let started = Instant::now();
    let limits = ftps.ns.limits().clone();
    let local = tcp.local_addr().unwrap_or(peer);
    let _ = tcp.set_nodelay(true);
    let stream = match mode {
        Mode::Explicit => Ok(Stream::Plain(tcp)),
        Mode::Implicit => {
            let acceptor = TlsAcceptor::from(Arc::clone(&tls.control));
            match tokio::time::timeout(limits.login_grace_time, acceptor.accept(tcp)).await {
                Ok(Ok(t)) => Ok(Stream::Tls(Box::new(t))),
                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                Err(_) => Err("TLS handshake not finished within limits.login_grace_time".into()),
            }
        }
    };
    let mut s = match stream {
        Ok(stream) => Session {
            control: Control::new(stream, limits.send_timeout),
            tls,
            user: None,
            who: None,
            protected: false,
            cwd: "/".into(),
            rest: None,
            rename_from: None,
            passive: None,
            epsv_all: false,
            failures: Vec::new(),
            bad: 0,
            timed_out: false,
            violated: false,
            bytes_up: 0,
            bytes_down: 0,
            mem: None,
            ftps,
            conn,
            peer,
            local,
        },
        Err(reason) => {
            record_end(&ftps, conn, peer, None, started, (0, 0), reason);
            return;
        }
    };
    let reason = s.serve(&shutdown).await;
    let offence = match (&s.who, s.failures.is_empty()) {
        (Some(_), _) if s.violated => Some(Offence::ProtocolViolation),
        (Some(_), _) => None,
        (None, false) if s.failures.iter().any(|known| *known) => Some(Offence::FailedLogin),
        (None, false) => Some(Offence::UnknownUser),
        (None, true) if s.timed_out => Some(Offence::LoginTimeout),
        (None, true) if s.violated => Some(Offence::ProtocolViolation),
        (None, true) => None,
    };
    let (ftps, who, stats) = (
        Arc::clone(&s.ftps),
        s.who.clone(),
        (s.bytes_up, s.bytes_down),
    );
    drop(s.passive.take());
    if let Some(mem) = s.mem.take() {
        mem.settle();
    }
    s.control.close().await;
    record_end(&ftps, conn, peer, who.as_ref(), started, stats, reason);
    if let Some(o) = offence {
        ftps.defender.offence(peer.ip(), o).await;
    }
}

fn record_end(
    ftps: &Ftps,
    conn: u64,
    peer: SocketAddr,
    who: Option<&Principal>,
    started: Instant,
    (bytes_up, bytes_down): (u64, u64),
    reason: String,
) {
    ftps.events.record(Event::SessionEnded {
        conn,
        peer,
        tenant: who.and_then(|p| p.tenant().map(ToString::to_string)),
        segment: None,
        user: who.map(|p| p.user.clone()),
        protocol: Protocol::Ftps,
        duration_ms: started.elapsed().as_millis() as u64,
        bytes_up,
        bytes_down,
        reason,
    });
}

impl Session {
    async fn serve(&mut self, shutdown: &CancellationToken) -> String {
        let limits = self.ftps.ns.limits().clone();
        let grace_ends = Instant::now() + limits.login_grace_time;
        let hello = if self.control.is_tls() {
            "renkei FTPS ready"
        } else {
            "renkei FTPS: send AUTH TLS first (plain FTP is not served)"
        };
        if let Err(e) = self.control.reply(220, hello).await {
            return e.to_string();
        }
        loop {
            let wait = if self.who.is_some() {
                limits.idle_timeout
            } else {
                grace_ends.saturating_duration_since(Instant::now())
            };
            let line = tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = self.control.reply(421, "renkei is shutting down").await;
                    return "shutdown".into();
                }
                r = self.control.line(wait.max(Duration::from_millis(1))) => r,
            };
            let line = match line {
                Ok(l) => l,
                Err(ControlError::Idle(_)) if self.who.is_none() => {
                    self.timed_out = true;
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

    /// Records a protocol violation of a logged-in client (before login
    /// there is no actor; the session's end record carries the reason).
    pub(super) fn violation(&mut self, reason: &str) {
        self.violated = true;
        if let Some(who) = &self.who {
            self.ftps.events.record(Event::ProtocolViolation {
                actor: who.actor(),
                reason: reason.to_string(),
            });
        }
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
                if let Some(who) = &self.who {
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
        if self.who.is_none() {
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
                    .who
                    .as_ref()
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

    /// A command before TLS. `USER`/`PASS` end the connection: the password
    /// would follow in clear.
    async fn plain(&mut self, verb: &str) -> Result<Flow, ControlError> {
        if matches!(verb, "USER" | "PASS") {
            let reason = "plain FTP: USER before AUTH TLS".to_string();
            self.ftps.events.record(Event::ConnectionRefused {
                peer: self.peer,
                protocol: Protocol::Ftps,
                stage: "tls",
                reason: reason.clone(),
                rule: None,
            });
            self.control
                .reply(530, "plain FTP is not served: connect with FTPS (AUTH TLS) — nothing was sent in clear after this")
                .await?;
            return Ok(Flow::End(reason));
        }
        self.say(530, "send AUTH TLS first: plain FTP is not served")
            .await
    }

    async fn auth(&mut self, arg: &str) -> Result<Flow, ControlError> {
        if self.control.is_tls() {
            return self.say(503, "TLS is already in use").await;
        }
        if !matches!(arg.to_ascii_uppercase().as_str(), "TLS" | "TLS-C" | "SSL") {
            return self.say(504, "only AUTH TLS").await;
        }
        self.control.reply(234, "AUTH TLS successful").await?;
        let acceptor = TlsAcceptor::from(Arc::clone(&self.tls.control));
        let within = self.ftps.ns.limits().login_grace_time;
        match self.control.start_tls(&acceptor, within).await {
            Ok(()) => Ok(Flow::Go),
            Err(e @ ControlError::Injected) => {
                self.violated = true;
                Ok(Flow::End(e.to_string()))
            }
            Err(e) => Ok(Flow::End(e.to_string())),
        }
    }

    async fn prot(&mut self, arg: &str) -> Result<Flow, ControlError> {
        match arg.to_ascii_uppercase().as_str() {
            "P" => {
                self.protected = true;
                self.say(200, "data connections are protected (PROT P)")
                    .await
            }
            "C" => {
                self.protected = false;
                self.say(534, "clear data connections are not served: use PROT P")
                    .await
            }
            _ => self.say(504, "only PROT P").await,
        }
    }

    async fn opts(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let upper = arg.to_ascii_uppercase();
        if upper == "UTF8 ON" || upper == "UTF-8 ON" {
            return self.say(200, "names are UTF-8").await;
        }
        if upper.starts_with("UTF8") || upper.starts_with("UTF-8") {
            return self
                .say(
                    504,
                    "names are always UTF-8; a Shift_JIS client must be set to UTF-8",
                )
                .await;
        }
        if upper.starts_with("MLST") {
            return self.say(200, "MLST OPTS type;size;modify;perm;").await;
        }
        self.say(501, "OPTS UTF8 ON or OPTS MLST only").await
    }

    async fn user(&mut self, arg: &str) -> Result<Flow, ControlError> {
        if let Some(who) = &self.who {
            let text = format!(
                "already logged in as {}; reconnect to change user",
                who.user
            );
            return self.say(530, &text).await;
        }
        if arg.is_empty() || arg.len() > 64 {
            return self.say(501, "USER needs a user name").await;
        }
        self.user = Some(arg.to_string());
        self.say(331, &format!("password required for {arg}")).await
    }

    async fn pass(&mut self, password: &str) -> Result<Flow, ControlError> {
        if self.who.is_some() {
            return self.say(503, "already logged in").await;
        }
        let Some(user) = self.user.clone() else {
            return self.say(503, "send USER first").await;
        };
        let snap = self.ftps.live.get();
        let cert = self.control.tls().and_then(crate::tls::client_fingerprint);
        let (password, ip, conn) = (password.to_string(), self.peer.ip(), self.conn);
        let checked = {
            let _permit = self.ftps.verifying.acquire().await;
            let user = user.clone();
            tokio::task::spawn_blocking(move || {
                login::check(
                    &snap,
                    &login::Attempt {
                        user: &user,
                        password: &password,
                        client_cert: cert.as_deref(),
                        ip,
                        conn,
                    },
                )
            })
            .await
        };
        let limits = self.ftps.ns.limits().clone();
        let refused = match checked {
            Ok(Ok(ok)) => {
                let max = limits.max_connections_per_account;
                match self.ftps.registry.login(self.conn, &user, max) {
                    Ok(()) => {
                        self.ftps.events.record(Event::LoginSucceeded {
                            conn: self.conn,
                            peer: self.peer,
                            tenant: ok.who.tenant().map(ToString::to_string),
                            segment: None,
                            user: user.clone(),
                            protocol: Protocol::Ftps,
                            key_fingerprint: None,
                            key_algorithm: None,
                            method: Some(ok.method),
                        });
                        let tenant = ok.who.tenant().map(ToString::to_string).unwrap_or_default();
                        self.mem = Some(self.ftps.ns.memory().session(&user));
                        self.who = Some(ok.who);
                        return self
                            .say(230, &format!("logged in as {user} (municipality {tenant})"))
                            .await;
                    }
                    Err(reason) => {
                        // The proofs held: the address is not scored.
                        self.record_failed(
                            &user,
                            reason.clone(),
                            None,
                            ok.who.tenant().map(ToString::to_string),
                        );
                        self.control.reply(421, &reason).await?;
                        return Ok(Flow::End(format!("refused after login: {reason}")));
                    }
                }
            }
            Ok(Err(r)) => r,
            Err(_) => login::Refused {
                reason: "internal error checking the login".into(),
                tenant: None,
                rule: None,
                known_user: false,
            },
        };
        self.failures.push(refused.known_user);
        self.record_failed(&user, refused.reason, refused.rule, refused.tenant);
        tokio::time::sleep(limits.auth_rejection_delay).await;
        if self.failures.len() >= limits.max_auth_tries {
            self.control
                .reply(421, "too many failed logins (limits.max_auth_tries)")
                .await?;
            return Ok(Flow::End("too many failed logins".into()));
        }
        self.user = None;
        self.say(530, "login incorrect").await
    }

    fn record_failed(
        &self,
        user: &str,
        reason: String,
        rule: Option<String>,
        tenant: Option<String>,
    ) {
        self.ftps.events.record(Event::LoginFailed {
            conn: self.conn,
            peer: self.peer,
            tenant,
            segment: None,
            user: user.to_string(),
            protocol: Protocol::Ftps,
            reason,
            rule,
            key_fingerprint: None,
        });
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
        parsed.map_err(|e: PathError| match &self.who {
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
        let e = match &self.who {
            Some(who) => self.ftps.ns.refuse(who, op, shown, e),
            None => e,
        };
        self.fail(&e).await
    }

    pub(super) fn principal(&self) -> Result<Principal, NsError> {
        self.who
            .clone()
            .ok_or_else(|| NsError::Invalid("not logged in".into()))
    }

    async fn cwd(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let r = self.resolve("cwd", arg).and_then(|(p, norm)| {
            let who = self.principal()?;
            let info = self.ftps.ns.stat(&who, &p)?;
            if info.kind != EntryKind::Dir {
                return Err(NsError::NotDir { path: norm });
            }
            Ok(norm)
        });
        match r {
            Ok(norm) => {
                let text = format!("directory is now {norm}");
                self.cwd = norm;
                self.say(250, &text).await
            }
            Err(e) => self.fail(&e).await,
        }
    }

    async fn size(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let r = self.resolve("stat", arg).and_then(|(p, norm)| {
            let info = self.ftps.ns.stat(&self.principal()?, &p)?;
            if info.kind == EntryKind::Dir {
                return Err(NsError::IsDir { path: norm });
            }
            Ok(info.size)
        });
        match r {
            Ok(n) => self.say(213, &n.to_string()).await,
            Err(e) => self.fail(&e).await,
        }
    }

    async fn mdtm(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let r = self
            .resolve("stat", arg)
            .and_then(|(p, _)| self.ftps.ns.stat(&self.principal()?, &p));
        match r {
            Ok(info) => self.say(213, &listing::time_val(info.mtime)).await,
            Err(e) => self.fail(&e).await,
        }
    }

    async fn mfmt(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let Some((time, name)) = arg.split_once(' ') else {
            return self.say(501, "MFMT YYYYMMDDHHMMSS path").await;
        };
        let Some(mtime) = listing::parse_time_val(time) else {
            return self.say(501, "MFMT YYYYMMDDHHMMSS path (UTC)").await;
        };
        let (p, norm) = match self.resolve("setstat", name) {
            Ok(x) => x,
            Err(e) => return self.fail(&e).await,
        };
        let who = match self.principal() {
            Ok(w) => w,
            Err(e) => return self.fail(&e).await,
        };
        match self.ftps.ns.set_mtime(&who, &p, mtime).await {
            Ok(()) => self.say(213, &format!("Modify={time}; {norm}")).await,
            Err(e) => self.fail(&e).await,
        }
    }

    async fn mlst(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let arg = if arg.is_empty() { "." } else { arg };
        let r = self
            .resolve("stat", arg)
            .and_then(|(p, norm)| Ok((self.ftps.ns.stat(&self.principal()?, &p)?, norm)));
        match r {
            Ok((info, norm)) => {
                let text = format!("listing {norm}\n{}\nEnd", listing::facts(&info, &norm));
                self.say(250, &text).await
            }
            Err(e) => self.fail(&e).await,
        }
    }

    /// DELE, MKD and RMD: one namespace call each.
    async fn names_op(&mut self, op: &str, arg: &str) -> Result<Flow, ControlError> {
        let (p, norm) = match self.resolve(op, arg) {
            Ok(x) => x,
            Err(e) => return self.fail(&e).await,
        };
        let who = match self.principal() {
            Ok(w) => w,
            Err(e) => return self.fail(&e).await,
        };
        let ns = &self.ftps.ns;
        let r = match op {
            "remove" => ns.remove(&who, &p).await,
            "mkdir" => ns.mkdir(&who, &p).await,
            _ => ns.rmdir(&who, &p).await,
        };
        match (r, op) {
            (Ok(()), "mkdir") => {
                let text = format!("\"{}\" created", norm.replace('"', "\"\""));
                self.say(257, &text).await
            }
            (Ok(()), _) => self.say(250, &format!("{norm}: done")).await,
            (Err(e), _) => self.fail(&e).await,
        }
    }

    async fn rnfr(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let r = self.resolve("rename", arg).and_then(|(p, norm)| {
            self.ftps.ns.stat(&self.principal()?, &p)?;
            Ok((p, norm))
        });
        match r {
            Ok(from) => {
                self.rename_from = Some(from);
                self.say(350, "ready for RNTO").await
            }
            Err(e) => self.fail(&e).await,
        }
    }

    async fn rnto(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let Some((from, from_shown)) = self.rename_from.take() else {
            return self.say(503, "send RNFR first").await;
        };
        let (to, norm) = match self.resolve("rename", arg) {
            Ok(x) => x,
            Err(e) => return self.fail(&e).await,
        };
        let who = match self.principal() {
            Ok(w) => w,
            Err(e) => return self.fail(&e).await,
        };
        // As SFTP's RENAME: an existing target is not replaced.
        match self.ftps.ns.rename(&who, &from, &to, false).await {
            Ok(()) => {
                self.say(250, &format!("renamed {from_shown} to {norm}"))
                    .await
            }
            Err(e) => self.fail(&e).await,
        }
    }
}
