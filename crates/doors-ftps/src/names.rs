//! The commands on names: `CWD`, `SIZE`, `MDTM`, `MFMT`, `MLST`, `DELE`,
//! `MKD`, `RMD`, `RNFR`/`RNTO` — each one `Namespace` call.

use renkei_core::namespace::{EntryKind, NsError};

use super::control::ControlError;
use super::listing;
use super::session::{Flow, Session};

impl Session {
    pub(super) async fn cwd(&mut self, arg: &str) -> Result<Flow, ControlError> {
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

    pub(super) async fn size(&mut self, arg: &str) -> Result<Flow, ControlError> {
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

    pub(super) async fn mdtm(&mut self, arg: &str) -> Result<Flow, ControlError> {
        let r = self
            .resolve("stat", arg)
            .and_then(|(p, _)| self.ftps.ns.stat(&self.principal()?, &p));
        match r {
            Ok(info) => self.say(213, &listing::time_val(info.mtime)).await,
            Err(e) => self.fail(&e).await,
        }
    }

    pub(super) async fn mfmt(&mut self, arg: &str) -> Result<Flow, ControlError> {
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

    pub(super) async fn mlst(&mut self, arg: &str) -> Result<Flow, ControlError> {
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
    pub(super) async fn names_op(&mut self, op: &str, arg: &str) -> Result<Flow, ControlError> {
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

    pub(super) async fn rnfr(&mut self, arg: &str) -> Result<Flow, ControlError> {
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

    pub(super) async fn rnto(&mut self, arg: &str) -> Result<Flow, ControlError> {
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
