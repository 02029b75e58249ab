//! `renkei check`'s summary of a loaded configuration.

use std::fmt::Write as _;

use super::{Config, routes, units};

impl Config {
    /// A short human summary, printed by `renkei check`: one line per
    /// section of the configuration, in the file's order of concerns.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "configuration {} is valid", self.source);
        let _ = writeln!(s, "  listen    {}", self.server.listen);
        let _ = writeln!(s, "  data_dir  {}", self.server.data_dir.display());
        for key in &self.server.host_keys {
            let _ = writeln!(s, "  host key  {}", key.display());
        }
        self.summarise_storage(&mut s);
        self.summarise_checks(&mut s);
        if let Some(p) = &self.server.policy_dir {
            let _ = writeln!(s, "  policies  {}", p.display());
        }
        self.summarise_tenants(&mut s);
        self.summarise_web(&mut s);
        self.summarise_handoffs(&mut s);
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }

    /// The engines, keys, the audit trail and retention.
    fn summarise_storage(&self, s: &mut String) {
        let journal = match &self.storage.journal {
            super::JournalAt::Local => "redb in data_dir (journal.redb)".to_string(),
            super::JournalAt::Postgres(p) => format!(
                "PostgreSQL {}{}",
                p.url,
                if p.tls.is_some() {
                    " (TLS, verified)"
                } else {
                    " (no TLS)"
                }
            ),
        };
        let _ = writeln!(s, "  journal   {journal}");
        let blobs = match &self.storage.blobs {
            super::BlobsAt::Local => "data_dir (vault/)".to_string(),
            super::BlobsAt::S3(b) => format!("s3://{}/{} at {}", b.bucket, b.prefix, b.endpoint),
        };
        let _ = writeln!(s, "  files     {blobs}");
        let _ = writeln!(s, "  vault key {}", self.vault.identity.display());
        let _ = writeln!(
            s,
            "  audit key {}  (checkpoint every {} records or {})",
            self.audit.key.display(),
            self.audit.checkpoint_every,
            units::format_duration(self.audit.checkpoint_interval)
        );
        let _ = writeln!(
            s,
            "  retention acknowledged files {}, audit trail {}, held files {}",
            units::format_duration(self.retention.acknowledged),
            units::format_duration(self.retention.audit),
            units::format_duration(self.retention.quarantine)
        );
    }

    /// The scanner and the `[[check]]` rules.
    fn summarise_checks(&self, s: &mut String) {
        match &self.scan {
            Some(scan) => {
                let _ = writeln!(
                    s,
                    "  scan      clamd at {}  (files up to {}, {} at once; unscannable: {:?})",
                    scan.clamd,
                    units::format_size(scan.max_file_size),
                    scan.concurrency,
                    scan.unscannable
                );
            }
            None => {
                let _ = writeln!(s, "  scan      off (no [scan])");
            }
        }
        for c in &self.checks {
            let pats: Vec<&str> = c.patterns.iter().map(|p| p.as_str()).collect();
            let _ = writeln!(
                s,
                "  check     {} ({}): {} {}",
                c.name,
                c.at,
                c.bx,
                pats.join(", ")
            );
        }
    }

    /// The municipalities with their accounts, and the segments.
    fn summarise_tenants(&self, s: &mut String) {
        let _ = writeln!(s, "  tenants   {}", self.tenants.len());
        for t in &self.tenants {
            let nets: Vec<String> = t.networks.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "    {} {}  networks: {}",
                t.code,
                t.name,
                nets.join(", ")
            );
            for a in &t.accounts {
                let own = a
                    .networks
                    .as_ref()
                    .map(|n| {
                        let n: Vec<String> = n.iter().map(ToString::to_string).collect();
                        format!("  own networks: {}", n.join(", "))
                    })
                    .unwrap_or_default();
                let _ = writeln!(s, "      account {}  keys: {}{own}", a.user, a.keys.len());
            }
        }
        for seg in &self.segments {
            let listen: Vec<String> = seg.listen.iter().map(ToString::to_string).collect();
            let nets: Vec<String> = seg.networks.iter().map(ToString::to_string).collect();
            let users: Vec<&str> = seg.accounts.iter().map(|a| a.user.as_str()).collect();
            let _ = writeln!(
                s,
                "  segment   {} {}  listen: {}  networks: {}  accounts: {}",
                seg.name,
                seg.label,
                listen.join(", "),
                nets.join(", "),
                users.join(", ")
            );
        }
    }

    /// The HTTPS door.
    fn summarise_web(&self, s: &mut String) {
        if let Some(w) = &self.web {
            let listen: Vec<String> = w.listen.iter().map(ToString::to_string).collect();
            let seg: Vec<String> = self
                .segments
                .iter()
                .flat_map(|s| {
                    s.web_listen
                        .iter()
                        .map(move |a| format!("{a} ({})", s.name))
                })
                .collect();
            let logins = self
                .tenants
                .iter()
                .flat_map(|t| &t.accounts)
                .chain(self.segments.iter().flat_map(|s| &s.accounts))
                .filter(|a| a.web.is_some())
                .count();
            let _ = writeln!(
                s,
                "  web       https on {}{}; {} account(s) with a web login, {} web user(s); sessions ≤ {}, idle {}, absolute {}",
                if listen.is_empty() {
                    "no staff listener".into()
                } else {
                    listen.join(", ")
                },
                if seg.is_empty() {
                    String::new()
                } else {
                    format!("; segments on {}", seg.join(", "))
                },
                logins,
                w.users.len(),
                w.limits.max_sessions,
                units::format_duration(w.limits.session_idle),
                units::format_duration(w.limits.session_absolute),
            );
        }
    }

    /// Lanes, the calendar and routes.
    fn summarise_handoffs(&self, s: &mut String) {
        for l in &self.lanes {
            let approval = if l.approvers.is_empty() {
                "no approval".to_string()
            } else {
                format!("{} of {} approve", l.approvals, l.approvers.join(", "))
            };
            let _ = writeln!(
                s,
                "  lane      {} ({}): {} -> {} only; senders {}; receivers {}; {approval}; unreceived files expire after {}",
                l.name,
                l.at,
                l.from,
                l.to,
                l.senders.join(", "),
                l.receivers.join(", "),
                units::format_duration(l.expire_after)
            );
        }
        if let Some((n, first, last)) = self.calendar.span() {
            let from = self
                .calendar
                .file
                .as_ref()
                .map(|f| format!(" (with {})", f.display()))
                .unwrap_or_default();
            let _ = writeln!(s, "  calendar  {n} closed days, {first} to {last}{from}");
        }
        if !self.routes.is_empty() {
            let _ = writeln!(s, "  routes    {}", self.routes.len());
        }
        for r in &self.routes {
            let tenant = routes::TENANT_PLACEHOLDER;
            let _ = writeln!(
                s,
                "    {}  {} -> {}  {}  tenants: {}",
                r.name,
                r.source_label(tenant),
                r.destination_label(tenant),
                r.trigger,
                r.tenants.len()
            );
            if let Some(e) = &r.expect {
                let _ = writeln!(
                    s,
                    "      expects {} by {}",
                    e.pattern.as_str(),
                    renkei_model::schedule::Trigger::Cron(e.by.clone())
                );
            }
            if r.skip_closed_days {
                let _ = writeln!(s, "      skips closed days of [calendar]");
            }
        }
    }
}
