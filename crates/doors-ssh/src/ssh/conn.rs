//! One SSH connection: authentication and channels (russh handler).
//!
//! Only public-key login is offered. A key is accepted only for the
//! account it is configured for, only from that account's networks, and
//! never with an `ssh-rsa` (SHA-1) signature. Only the `sftp` subsystem is
//! served; shells, commands and forwarding are refused with a message and
//! an event.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use russh::keys::{Algorithm, HashAlg, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId};
use tokio::task::JoinHandle;

use super::channel::{ChannelInput, ChannelOutput};
use super::{Door, State};
use crate::sftp;
use renkei_core::door::{self, Scope as GateScope, login};
use renkei_core::events::Event;
use renkei_core::namespace::Principal;
use renkei_core::policy::Protocol;

/// What the connection task and the handler share: the kit's session
/// (logins, who, the end record) and the channels' tasks to await.
pub(super) struct ConnShared {
    pub session: door::Session<russh::server::Handle>,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Why a login was refused.
struct LoginRefusal {
    reason: String,
    /// Whether the user exists (the defender scores unknown users higher).
    known_user: bool,
    rule: Option<String>,
}

pub(super) struct Conn {
    pub state: Arc<State>,
    pub conn: u64,
    pub peer: SocketAddr,
    pub shared: Arc<Mutex<ConnShared>>,
    pending: HashMap<ChannelId, Channel<Msg>>,
    /// SFTP sessions open now on this connection (each one's task lowers
    /// it when the session ends).
    sftp_channels: Arc<std::sync::atomic::AtomicUsize>,
    user: String,
    /// Authenticated but over a connection limit: disconnect with this.
    refuse_after_auth: Option<String>,
    /// Turns true when the connection has ended (see `sftp::Context::gone`).
    gone: tokio::sync::watch::Receiver<bool>,
    /// Drops the connection outright when a polite disconnect does not get
    /// through in time (the SSH layer itself is stuck on the peer).
    kill: Arc<tokio::sync::Notify>,
    /// What the listener it came in on serves: only accounts of that
    /// scope may log in here.
    door: Door,
}

/// How long a disconnect message may take to be handed to the SSH layer.
pub(super) const DISCONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

const ONLY_SFTP: &str =
    "renkei: only the SFTP subsystem is available here (use sftp, or scp without -O)\r\n";

impl Conn {
    pub(super) fn new(
        state: Arc<State>,
        conn: u64,
        peer: SocketAddr,
        shared: Arc<Mutex<ConnShared>>,
        gone: tokio::sync::watch::Receiver<bool>,
        kill: Arc<tokio::sync::Notify>,
        door: Door,
    ) -> Conn {
        Conn {
            state,
            conn,
            peer,
            shared,
            pending: HashMap::new(),
            sftp_channels: Arc::default(),
            user: String::new(),
            refuse_after_auth: None,
            gone,
            kill,
            door,
        }
    }

    /// Decides whether `key` may log in as `user` from this peer: the key
    /// must be one of the account's (authentication), then the rules must
    /// allow `connect` and `login` for it from here, now (authorisation).
    fn authorize(
        &self,
        user: &str,
        key: &PublicKey,
        algorithm: &Algorithm,
    ) -> Result<Principal, LoginRefusal> {
        let snap = self.state.live.get();
        let refuse = |reason: String, known_user: bool, rule: Option<String>| LoginRefusal {
            reason,
            known_user,
            rule,
        };
        // A ban made while this connection was open (by another
        // connection's failures from the same address) refuses every
        // later attempt on it.
        if let Some(ban) = self.state.gate.ban_of(self.peer.ip()) {
            return Err(refuse(
                renkei_core::door::ban_reason(self.peer.ip(), &ban),
                true,
                None,
            ));
        }
        let scope = match &self.door {
            Door::Tenants => GateScope::Tenants,
            Door::Segment(name) => GateScope::Segment(name.clone()),
        };
        let found = login::find(
            &snap,
            &login::Attempt {
                user,
                ip: self.peer.ip(),
                conn: self.conn,
                protocol: Protocol::Sftp,
                scope: &scope,
            },
        );
        let Some(account) = found.account else {
            return Err(refuse(format!("unknown user {user:?}"), false, None));
        };
        if matches!(algorithm, Algorithm::Rsa { hash: None }) {
            return Err(refuse(
                "ssh-rsa (SHA-1) signatures are refused; use rsa-sha2-256 or rsa-sha2-512".into(),
                true,
                None,
            ));
        }
        if !account
            .keys
            .iter()
            .any(|k| k.key.key_data() == key.key_data())
        {
            return Err(refuse(
                format!(
                    "key {} is not authorized for {user}",
                    key.fingerprint(HashAlg::Sha256)
                ),
                true,
                None,
            ));
        }
        // The listener's scope, the networks and the rules: the kit's.
        found.verdict.map_err(|b| refuse(b.reason, true, b.rule))
    }

    /// Records a failed login; it counts towards the connection's offence.
    fn login_failed(&self, user: &str, refusal: LoginRefusal, key: Option<&PublicKey>) {
        let refusal = self.refusal(user, refusal, key);
        if let Ok(mut s) = self.shared.lock() {
            s.session.login_failed(refusal);
        }
    }

    fn refusal(&self, user: &str, refusal: LoginRefusal, key: Option<&PublicKey>) -> door::Refusal {
        let config = self.state.config();
        door::Refusal {
            user: user.to_string(),
            reason: refusal.reason,
            rule: refusal.rule,
            tenant: config.account(user).map(|(t, _)| t.code.to_string()),
            segment: config.segment_account(user).map(|(s, _)| s.name.clone()),
            known: refusal.known_user,
            key_fingerprint: key.map(|k| k.fingerprint(HashAlg::Sha256).to_string()),
        }
    }

    fn channel_refused(&self, request: &str, reason: &str) {
        self.state.events.record(Event::ChannelRefused {
            conn: self.conn,
            peer: self.peer,
            user: self.user.clone(),
            request: request.to_string(),
            reason: reason.to_string(),
        });
    }

    fn logged_in(&self) -> Option<Principal> {
        self.shared.lock().ok()?.session.principal().cloned()
    }

    /// Accepts the request only to explain on stderr why nothing runs, the
    /// way OpenSSH's `ForceCommand internal-sftp` does: a bare failure
    /// would leave the user with "exec request failed".
    async fn refuse_command(
        &mut self,
        channel: ChannelId,
        request: &str,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        self.channel_refused(request, "only the SFTP subsystem is available");
        self.pending.remove(&channel);
        session.channel_success(channel)?;
        session.extended_data(channel, 1, ONLY_SFTP.as_bytes().to_vec())?;
        session.exit_status_request(channel, 1)?;
        session.eof(channel)?;
        session.close(channel)?;
        Ok(())
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        let config = self.state.config();
        let known_user = config.account(user).is_some() || config.segment_account(user).is_some();
        let refusal = LoginRefusal {
            reason: "password authentication is not accepted; use a key".into(),
            known_user,
            rule: None,
        };
        self.login_failed(user, refusal, None);
        Ok(Auth::reject())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.authorize(user, offer.public_key, offer.algorithm) {
            Ok(_) => Ok(Auth::Accept),
            Err(reason) => {
                self.login_failed(user, reason, Some(offer.public_key));
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.authorize(user, key.public_key, key.algorithm) {
            Ok(principal) => {
                self.user = user.to_string();
                let max = self.state.ns.limits().max_connections_per_account;
                let proved = door::Proved {
                    method: None,
                    key_fingerprint: Some(key.public_key.fingerprint(HashAlg::Sha256).to_string()),
                    key_algorithm: Some(key.algorithm.to_string()),
                };
                let logged_in = match self.shared.lock() {
                    Ok(mut s) => s.session.log_in(principal, proved, max),
                    Err(_) => Err("internal error".to_string()),
                };
                // Over the account's limit, the key was right: say plainly
                // why they are turned away (accept, then disconnect with
                // the reason). The address is not scored.
                if let Err(reason) = logged_in {
                    self.refuse_after_auth = Some(reason);
                }
                Ok(Auth::Accept)
            }
            Err(reason) => {
                self.login_failed(user, reason, Some(key.public_key));
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        if let Some(reason) = self.refuse_after_auth.take() {
            session.disconnect(russh::Disconnect::TooManyConnections, &reason, "en")?;
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let max = self.state.config().limits.max_channels_per_connection;
        if self.logged_in().is_none() {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        let open = self
            .sftp_channels
            .load(std::sync::atomic::Ordering::Acquire);
        if open + self.pending.len() >= max {
            self.channel_refused(
                "session",
                &format!("more than {max} sessions on one connection (limits.max_channels_per_connection)"),
            );
            reply
                .reject(russh::ChannelOpenFailure::ResourceShortage)
                .await;
            return Ok(());
        }
        self.pending.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host: &str,
        port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channel_refused(
            &format!("direct-tcpip {host}:{port}"),
            "port forwarding is not available",
        );
        reply
            .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        self.channel_refused(
            &format!("tcpip-forward {address}:{port}"),
            "port forwarding is not available",
        );
        Ok(false)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(ch), Some(who)) = (self.pending.remove(&channel), self.logged_in()) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        if name != "sftp" {
            self.pending.insert(channel, ch);
            return self
                .refuse_command(channel, &format!("subsystem {name}"), session)
                .await;
        }
        session.channel_success(channel)?;
        let open = Arc::clone(&self.sftp_channels);
        open.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let (read, write) = ch.split();
        let Ok(tally) = self.shared.lock().map(|s| s.session.tally()) else {
            return Ok(());
        };
        let ctx = sftp::Context {
            ns: Arc::clone(&self.state.ns),
            who,
            tally,
            volume: self.state.volume.clone(),
            gone: self.gone.clone(),
        };
        let handle = session.handle();
        let shared = Arc::clone(&self.shared);
        let kill = Arc::clone(&self.kill);
        let task = self.state.sessions.spawn(async move {
            let end = sftp::serve(ChannelInput(read), ChannelOutput(write), ctx).await;
            open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            let (why, told, kind) = match end {
                // Recorded and counted towards the connection's offence by
                // the session (`Tally::violation`).
                sftp::End::Violation(reason) => (
                    format!("disconnected: the client {reason}"),
                    format!("protocol violation: the client {reason}"),
                    russh::Disconnect::ProtocolError,
                ),
                sftp::End::Lost(reason) => (
                    format!("disconnected: {reason}"),
                    reason,
                    russh::Disconnect::ByApplication,
                ),
                sftp::End::Closed | sftp::End::OutputGone => return,
            };
            if let Ok(mut s) = shared.lock() {
                s.session.end_because(why);
            }
            // Bounded: a peer that is gone must not hold the connection
            // open. When the disconnect cannot get through, the connection
            // is dropped without it.
            let polite = tokio::time::timeout(
                DISCONNECT_TIMEOUT,
                handle.disconnect(kind, told, "en".into()),
            )
            .await;
            if !matches!(polite, Ok(Ok(()))) {
                kill.notify_one();
            }
        });
        if let Ok(mut s) = self.shared.lock() {
            s.tasks.push(task);
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let cmd = String::from_utf8_lossy(data)
            .chars()
            .take(200)
            .collect::<String>();
        self.refuse_command(channel, &format!("exec {cmd:?}"), session)
            .await
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_command(channel, "shell", session).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }
}
