//! Rule files: `[[rule]]` tables in TOML, parsed and validated with
//! `file:line` errors.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::window::Window;
use renkei_config::units::{Quantity, parse_size};
use renkei_config::{ConfigError, TenantCode, line_col};
use renkei_model::boxes::BoxKind;
use renkei_model::pattern::{NamePattern, PathGlob};

/// What a rule can allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Opening a connection (checked at TCP accept and again at login).
    Connect,
    Login,
    /// Listing a directory, or `stat` of a name.
    List,
    /// Downloading a file.
    Read,
    /// Uploading (and setting a file's times).
    Upload,
    Delete,
    Rename,
    Mkdir,
    Rmdir,
}

impl Operation {
    pub const ALL: [Operation; 9] = [
        Operation::Connect,
        Operation::Login,
        Operation::List,
        Operation::Read,
        Operation::Upload,
        Operation::Delete,
        Operation::Rename,
        Operation::Mkdir,
        Operation::Rmdir,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::Connect => "connect",
            Operation::Login => "login",
            Operation::List => "list",
            Operation::Read => "read",
            Operation::Upload => "upload",
            Operation::Delete => "delete",
            Operation::Rename => "rename",
            Operation::Mkdir => "mkdir",
            Operation::Rmdir => "rmdir",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Whether the operation concerns a file or directory (has a path).
    pub fn has_path(self) -> bool {
        !matches!(self, Operation::Connect | Operation::Login)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The front door a request came through: rules may allow a door for
/// some accounts only (`protocol = "https"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Sftp,
    Https,
    Ftps,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Sftp, Protocol::Https, Protocol::Ftps];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Sftp => "sftp",
            Protocol::Https => "https",
            Protocol::Ftps => "ftps",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == s)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpSet(u16);

impl OpSet {
    pub fn all() -> OpSet {
        OpSet(Operation::ALL.iter().fold(0, |a, o| a | o.bit()))
    }
    pub fn contains(self, op: Operation) -> bool {
        self.0 & op.bit() != 0
    }
    pub fn is_subset(self, of: OpSet) -> bool {
        self.0 & !of.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Operation> {
        Operation::ALL
            .into_iter()
            .filter(move |o| self.contains(*o))
    }
    pub fn any_with_path(self) -> bool {
        self.iter().any(Operation::has_path)
    }
}

/// Where a rule is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A source the rule accepts connections from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Net(IpNet),
    /// `@networks`: the account's networks from the configuration (its
    /// own, or its tenant's).
    AccountNetworks,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub at: RuleRef,
    pub allow: bool,
    pub tenants: Option<Vec<TenantCode>>,
    pub accounts: Option<Vec<String>>,
    pub from: Option<Vec<Source>>,
    pub ops: OpSet,
    /// Front doors the rule applies to; `None`: every door.
    pub protocols: Option<Vec<Protocol>>,
    pub bx: Option<BoxKind>,
    pub path: Option<PathGlob>,
    pub name: Option<NamePattern>,
    pub max_size: Option<u64>,
    pub time: Option<Vec<Window>>,
    pub reason: Option<String>,
}

impl Rule {
    /// Whether the source condition holds for `ip`.
    pub fn source_matches(&self, ip: Option<IpAddr>, account_networks: &[IpNet]) -> bool {
        let Some(from) = &self.from else { return true };
        let Some(ip) = ip else { return false };
        from.iter().any(|s| match s {
            Source::Net(n) => n.contains(&ip),
            Source::AccountNetworks => account_networks.iter().any(|n| n.contains(&ip)),
        })
    }

    /// Whether the rule has conditions on files (box, path, name, size).
    pub fn has_file_conditions(&self) -> bool {
        self.bx.is_some() || self.path.is_some() || self.name.is_some() || self.max_size.is_some()
    }

    /// A one-line summary of the rule's conditions.
    pub fn summary(&self) -> String {
        let mut parts = vec![if self.allow {
            "allow".to_string()
        } else {
            "deny".to_string()
        }];
        if self.ops != OpSet::all() {
            parts.push(
                self.ops
                    .iter()
                    .map(Operation::name)
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        if let Some(t) = &self.tenants {
            parts.push(format!(
                "tenant {}",
                t.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if let Some(a) = &self.accounts {
            parts.push(format!("account {}", a.join(",")));
        }
        if let Some(f) = &self.from {
            let f: Vec<String> = f
                .iter()
                .map(|s| match s {
                    Source::Net(n) => n.to_string(),
                    Source::AccountNetworks => "@networks".into(),
                })
                .collect();
            parts.push(format!("from {}", f.join(",")));
        }
        if let Some(p) = &self.protocols {
            parts.push(format!(
                "over {}",
                p.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
            ));
        }
        if let Some(b) = self.bx {
            parts.push(format!("in /{b}"));
        }
        if let Some(p) = &self.path {
            parts.push(format!("path {}", p.as_str()));
        }
        if let Some(n) = &self.name {
            parts.push(format!("name {}", n.as_str()));
        }
        if let Some(m) = self.max_size {
            parts.push(format!("size ≤ {}", renkei_config::units::format_size(m)));
        }
        if let Some(t) = &self.time {
            parts.push(format!(
                "time {}",
                t.iter().map(Window::as_str).collect::<Vec<_>>().join(" | ")
            ));
        }
        parts.join(" ")
    }
}

/// A string or an array of strings. (An untagged enum would lose the
/// spans that errors point at, so the value is taken as it is written.)
#[derive(Deserialize)]
#[serde(transparent)]
struct OneOrMany(Spanned<toml::Value>);

impl OneOrMany {
    fn items(&self) -> Result<Vec<&str>, String> {
        fn string(v: &toml::Value) -> Result<&str, String> {
            v.as_str()
                .ok_or_else(|| format!("expected a string, found {v}"))
        }
        match self.0.get_ref() {
            toml::Value::String(s) => Ok(vec![s.as_str()]),
            toml::Value::Array(a) => a.iter().map(string).collect(),
            other => Err(format!(
                "expected a string or an array of strings, found {other}"
            )),
        }
    }

    fn span(&self) -> std::ops::Range<usize> {
        self.0.span()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    action: Spanned<String>,
    tenant: Option<OneOrMany>,
    account: Option<OneOrMany>,
    from: Option<OneOrMany>,
    op: Option<OneOrMany>,
    protocol: Option<OneOrMany>,
    #[serde(rename = "box")]
    bx: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    max_size: Option<Spanned<Quantity>>,
    time: Option<OneOrMany>,
    reason: Option<String>,
}

struct Located<'a> {
    file: &'a str,
    text: &'a str,
}

impl Located<'_> {
    fn err(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::Invalid {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// Lines on which `[[rule]]` headers start, in order.
fn header_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[rule]]"))
        .map(|(i, _)| i + 1)
        .collect()
}

fn parse_each<T>(
    v: &Option<OneOrMany>,
    loc: &Located<'_>,
    f: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<Vec<T>>, ConfigError> {
    let Some(v) = v else { return Ok(None) };
    let items = v.items().map_err(|e| loc.err(v.span(), e))?;
    if items.is_empty() {
        return Err(loc.err(
            v.span(),
            "an empty list matches nothing; leave the key out to match anything",
        ));
    }
    items
        .into_iter()
        .map(|s| f(s).map_err(|e| loc.err(v.span(), e)))
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

/// Parses one rule file. `file` names it in errors and rule references.
// Long: every key of a rule checked in turn, each naming its line on
// error.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<Rule>, ConfigError> {
    let loc = Located { file, text };
    let raw: RawFile =
        toml::from_str(text).map_err(|e| loc.err(e.span().unwrap_or(0..0), e.message().trim()))?;
    let headers = header_lines(text);
    let mut rules = Vec::new();
    for (i, spanned) in raw.rule.iter().enumerate() {
        let line = headers
            .get(i)
            .copied()
            .unwrap_or_else(|| line_col(text, spanned.span().start).0);
        let r = spanned.get_ref();
        let allow = match r.action.get_ref().as_str() {
            "allow" => true,
            "deny" => false,
            other => {
                return Err(loc.err(
                    r.action.span(),
                    format!("action {other:?}: use \"allow\" or \"deny\""),
                ));
            }
        };
        let tenants = parse_each(&r.tenant, &loc, |s| {
            TenantCode::parse(s).map_err(|e| e.to_string())
        })?;
        let accounts = parse_each(&r.account, &loc, |s| Ok(s.to_string()))?;
        let from = parse_each(&r.from, &loc, |s| {
            if s == "@networks" {
                return Ok(Source::AccountNetworks);
            }
            match s.parse::<IpNet>() {
                Ok(n) if n == n.trunc() => Ok(Source::Net(n)),
                Ok(n) => Err(format!("{s:?} has host bits set; did you mean {}?", n.trunc())),
                Err(_) => s.parse::<IpAddr>().map(|a| Source::Net(IpNet::from(a))).map_err(|_| {
                    format!("{s:?} is not a network: write an address, a CIDR network such as \"10.1.2.0/24\", or \"@networks\" for the account's configured networks")
                }),
            }
        })?;
        let ops = match parse_each(&r.op, &loc, |s| {
            if s == "*" {
                return Ok(OpSet::all());
            }
            Operation::parse(s).map(|o| OpSet(o.bit())).ok_or_else(|| {
                format!("unknown operation {s:?}: use connect, login, list, read, upload, delete, rename, mkdir, rmdir or \"*\"")
            })
        })? {
            None => OpSet::all(),
            Some(sets) => OpSet(sets.iter().fold(0, |a, s| a | s.0)),
        };
        let protocols = parse_each(&r.protocol, &loc, |s| {
            Protocol::parse(s)
                .ok_or_else(|| format!("unknown protocol {s:?}: use \"sftp\" or \"https\""))
        })?;
        let bx = match &r.bx {
            None => None,
            Some(b) => Some(BoxKind::parse(b.get_ref()).ok_or_else(|| {
                loc.err(
                    b.span(),
                    format!("box {:?}: use \"inbox\" or \"outbox\"", b.get_ref()),
                )
            })?),
        };
        let path = match &r.path {
            None => None,
            Some(p) => Some(PathGlob::parse(p.get_ref()).map_err(|e| loc.err(p.span(), e))?),
        };
        let name = match &r.name {
            None => None,
            Some(n) => Some(NamePattern::parse(n.get_ref()).map_err(|e| loc.err(n.span(), e))?),
        };
        let max_size = match &r.max_size {
            None => None,
            Some(m) => Some(
                parse_size(m.get_ref()).map_err(|e| loc.err(m.span(), format!("max_size: {e}")))?,
            ),
        };
        let time = parse_each(&r.time, &loc, Window::parse)?;
        rules.push(Rule {
            at: RuleRef {
                file: file.to_string(),
                line,
            },
            allow,
            tenants,
            accounts,
            from,
            ops,
            protocols,
            bx,
            path,
            name,
            max_size,
            time,
            reason: r.reason.clone(),
        });
    }
    Ok(rules)
}
