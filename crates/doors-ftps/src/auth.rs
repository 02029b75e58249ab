//! The commands before login: `AUTH TLS` (and what is refused before
//! it), `PROT`, `OPTS`, `USER` and `PASS`.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use renkei_core::door;
use renkei_core::events::Event;
use renkei_core::policy::Protocol;

use super::control::ControlError;
use super::login;
use super::session::{Flow, Session};

impl Session {
    /// A command before TLS. `USER`/`PASS` end the connection: the password
    /// would follow in clear.
    pub(super) async fn plain(&mut self, verb: &str) -> Result<Flow, ControlError> {
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

    pub(super) async fn auth(&mut self, arg: &str) -> Result<Flow, ControlError> {
        if self.control.is_tls() {
            return self.say(503, "TLS is already in use").await;
        }
        if !matches!(arg.to_ascii_uppercase().as_str(), "TLS" | "TLS-C" | "SSL") {
            return self.say(504, "only AUTH TLS").await;
        }
        self.control.reply(234, "AUTH TLS successful").await?;
        let acceptor = TlsAcceptor::from(Arc::clone(&self.tls.control));
        let within = self
            .grace_ends
            .saturating_duration_since(tokio::time::Instant::now());
        match self.control.start_tls(&acceptor, within).await {
            Ok(()) => Ok(Flow::Go),
            Err(e @ ControlError::Injected) => {
                self.violation(&e.to_string());
                Ok(Flow::End(e.to_string()))
            }
            Err(e) => Ok(Flow::End(e.to_string())),
        }
    }

    pub(super) async fn prot(&mut self, arg: &str) -> Result<Flow, ControlError> {
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

    pub(super) async fn opts(&mut self, arg: &str) -> Result<Flow, ControlError> {
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

    pub(super) async fn user(&mut self, arg: &str) -> Result<Flow, ControlError> {
        if let Some(who) = self.kit.principal() {
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

    pub(super) async fn pass(&mut self, password: &str) -> Result<Flow, ControlError> {
        if self.kit.principal().is_some() {
            return self.say(503, "already logged in").await;
        }
        let Some(user) = self.user.clone() else {
            return self.say(503, "send USER first").await;
        };
        // A ban made while this connection was open (by another
        // connection's failures from the same address) ends it here.
        if let Some(ban) = self.ftps.gate.ban_of(self.peer.ip()) {
            let reason = renkei_core::door::ban_reason(self.peer.ip(), &ban);
            self.kit
                .login_turned_away(refusal(&user, reason.clone(), None, None, true));
            self.control.reply(421, &reason).await?;
            return Ok(Flow::End(reason));
        }
        let snap = self.ftps.live.get();
        let cert = self
            .control
            .tls()
            .and_then(renkei_core::door::tls::client_fingerprint);
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
                let tenant = ok.who.tenant().map(ToString::to_string).unwrap_or_default();
                let proved = door::Proved {
                    method: Some(ok.method),
                    ..door::Proved::default()
                };
                let max = limits.max_connections_per_account;
                // Turned away at the account's limit, the proofs held:
                // the address is not scored.
                if let Err(reason) = self.kit.log_in(ok.who, proved, max) {
                    self.control.reply(421, &reason).await?;
                    return Ok(Flow::End(format!("refused after login: {reason}")));
                }
                self.mem = Some(self.ftps.ns.memory().session(&user));
                return self
                    .say(230, &format!("logged in as {user} (municipality {tenant})"))
                    .await;
            }
            Ok(Err(r)) => r,
            Err(_) => login::Refused {
                reason: "internal error checking the login".into(),
                tenant: None,
                rule: None,
                known_user: false,
            },
        };
        let login::Refused {
            reason,
            tenant,
            rule,
            known_user,
        } = refused;
        self.kit
            .login_failed(refusal(&user, reason, rule, tenant, known_user));
        tokio::time::sleep(limits.auth_rejection_delay).await;
        if self.kit.failed_logins() >= limits.max_auth_tries {
            self.control
                .reply(421, "too many failed logins (limits.max_auth_tries)")
                .await?;
            return Ok(Flow::End("too many failed logins".into()));
        }
        self.user = None;
        self.say(530, "login incorrect").await
    }
}

/// A refused FTPS login as the kit records it (FTPS serves the
/// municipalities' accounts only: there is no segment, and no key).
fn refusal(
    user: &str,
    reason: String,
    rule: Option<String>,
    tenant: Option<String>,
    known: bool,
) -> door::Refusal {
    door::Refusal {
        user: user.to_string(),
        reason,
        rule,
        tenant,
        segment: None,
        known,
        key_fingerprint: None,
    }
}
