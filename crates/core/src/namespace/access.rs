//! Policy decisions for namespace operations.
//!
//! Which policy operation each namespace operation is: `stat` and listing
//! are `list`, download is `read`, upload and setting a file's times are
//! `upload`, and the rest are themselves. The namespace root only lists the
//! two boxes; nothing else happens there, whatever the rules say. The
//! operator is not subject to rules.

use std::sync::Arc;

use jiff::Timestamp;

use super::{Namespace, NsError, NsPath, Principal};
use crate::live::Snapshot;
use crate::policy::{Operation, Request, Role};
use renkei_config::{Destination, Source};
use renkei_model::boxes::BoxKind;
use renkei_storage::journal::{ObjectRecord, ObjectState};

/// Whether `who` may see the file `o`: one under check is its
/// uploader's (and the operator's) only; to everyone else it does not
/// exist yet.
pub(crate) fn sees(who: &Principal, o: &ObjectRecord) -> bool {
    !matches!(o.state, ObjectState::Checking { .. })
        || who.role == Role::Operator
        || who.user == o.uploaded_by
}

/// A refusal: what the client is told, and the rule that decided.
pub(crate) struct Refusal {
    pub reason: String,
    pub rule: Option<String>,
}

/// A name a route of this box would take for its own signal: the empty
/// `NAME<trigger_suffix>` it writes after a data file. Uploaded into a box
/// such a route hands on, it would tell the standard system that a file
/// which does not exist is complete. Refused for everyone, the operator
/// included, on the boxes and tenants of the routes that use the suffix.
fn forged_signal(
    snap: &Snapshot,
    tenant: &renkei_config::TenantCode,
    bx: BoxKind,
    name: &str,
) -> Option<Refusal> {
    snap.config.routes.iter().find_map(|r| {
        let Source::Box { bx: from } = r.source else {
            return None;
        };
        let suffix = match &r.destination {
            Destination::Dir { trigger_suffix, .. } | Destination::Sftp { trigger_suffix, .. } => {
                trigger_suffix.as_deref()?
            }
            Destination::Box { .. } => return None,
        };
        let serves = r.tenants.is_empty() || r.tenants.contains(tenant);
        (from == bx && serves && name.ends_with(suffix)).then(|| Refusal {
            reason: format!(
                "names ending in {suffix:?} are the completion signal route {} writes after each file it hands on; a file cannot be named like one",
                r.name
            ),
            rule: Some(format!("route {} ({})", r.name, r.at)),
        })
    })
}

/// Why `who` may no longer act, if a reload removed its account (or moved
/// it to another municipality or segment): every request of an open
/// session is decided against the configuration in force.
fn no_longer_configured(snap: &Snapshot, who: &Principal) -> Option<String> {
    if who.role != Role::Account {
        return None;
    }
    let config = &snap.config;
    let still = match &who.scope {
        super::Scope::Tenant(code) => config
            .account(&who.user)
            .is_some_and(|(t, _)| t.code == *code),
        super::Scope::Segment(name) => config
            .segment_account(&who.user)
            .is_some_and(|(s, _)| s.name == *name),
    };
    (!still).then(|| {
        format!(
            "account {} is no longer in the configuration in force",
            who.user
        )
    })
}

impl Namespace {
    /// Decides `op` on `path` for `who` under the rules of `snap`. `size`
    /// is the size an upload would have.
    pub(crate) fn decide(
        &self,
        snap: &Snapshot,
        who: &Principal,
        op: Operation,
        path: &NsPath,
        size: Option<u64>,
    ) -> Result<(), Refusal> {
        // A ban made while this session was open (by another connection's
        // failed logins from the same address) reaches it here, at its
        // next request, whatever door it came through.
        if let Some(ip) = who.source
            && let Some(ban) = self.ban_of(ip)
        {
            return Err(Refusal {
                reason: crate::defender::ban_reason(ip, &ban),
                rule: None,
            });
        }
        if let Some(reason) = no_longer_configured(snap, who) {
            return Err(Refusal { reason, rule: None });
        }
        // Fail closed: nothing happens that cannot be recorded.
        if !self.events.writable() {
            return Err(Refusal {
                reason: "the audit trail cannot be written right now (see the daemon's log); operations are refused until it can".into(),
                rule: None,
            });
        }
        let Some(tenant) = who.tenant() else {
            // A segment's account: its lanes decide, not the rules.
            return super::lanes::decide(&snap.config, who, op, path, size)
                .map_err(|reason| Refusal { reason, rule: None });
        };
        if path.lane().is_some() || matches!(path, NsPath::Lanes { .. }) {
            return Err(Refusal {
                reason: format!(
                    "there is no {path} for a municipality's account: lanes belong to the accounts of separated networks (segments)"
                ),
                rule: None,
            });
        }
        if op == Operation::Upload
            && let NsPath::Entry { bx, name, .. } = path
            && let Some(r) = forged_signal(snap, tenant, *bx, name)
        {
            return Err(r);
        }
        if who.role == Role::Operator {
            return Ok(());
        }
        let Some(bx) = path.box_kind() else {
            return if matches!(op, Operation::List | Operation::Read) {
                Ok(())
            } else {
                Err(Refusal {
                    reason: if matches!(path, NsPath::Receipts | NsPath::Receipt(_)) {
                        "/receipts is read-only: renkei writes the receipts".into()
                    } else {
                        "the top level holds only /inbox and /outbox; nothing can be changed there"
                            .into()
                    },
                    rule: None,
                })
            };
        };
        let Some((configured, account)) = snap
            .config
            .account(&who.user)
            .filter(|(t, _)| t.code == *tenant)
        else {
            return Err(Refusal {
                reason: format!(
                    "account {} of tenant {} is no longer in the configuration",
                    who.user, tenant
                ),
                rule: None,
            });
        };
        let rel = path.rel();
        let name = match path {
            NsPath::Entry { name, .. } => Some(name.as_str()),
            _ => None,
        };
        let at = renkei_model::time::tokyo(Timestamp::now());
        let d = snap.policy.decide(&Request {
            tenant,
            account: &who.user,
            account_networks: account.effective_networks(configured),
            source: who.source,
            protocol: who.protocol,
            op,
            bx: Some(bx),
            path: Some(&rel),
            name,
            size,
            at: &at,
        });
        if d.allow {
            Ok(())
        } else {
            Err(Refusal {
                reason: d.refusal(op),
                rule: Some(d.by()),
            })
        }
    }

    /// Checks the rules in force; a refusal is recorded and returned.
    pub(crate) fn allow(
        &self,
        who: &Principal,
        op: Operation,
        path: &NsPath,
    ) -> Result<(), NsError> {
        self.allow_sized(who, op, path, None).map(|_| ())
    }

    /// Like [`Namespace::allow`], for an upload of `size` bytes; returns the
    /// snapshot decided with, which the upload keeps for its later checks.
    pub(crate) fn allow_sized(
        &self,
        who: &Principal,
        op: Operation,
        path: &NsPath,
        size: Option<u64>,
    ) -> Result<Arc<Snapshot>, NsError> {
        let snap = self.live.get();
        match self.decide(&snap, who, op, path, size) {
            Ok(()) => Ok(snap),
            Err(r) => Err(self.refused(who, op, path, r)),
        }
    }

    /// Records a policy refusal and turns it into the client's error.
    pub(crate) fn refused(
        &self,
        who: &Principal,
        op: Operation,
        path: &NsPath,
        r: Refusal,
    ) -> NsError {
        let shown = path.to_string();
        self.refuse_by(
            who,
            op.name(),
            &shown,
            NsError::Denied {
                path: shown.clone(),
                reason: r.reason,
            },
            r.rule,
        )
    }
}
