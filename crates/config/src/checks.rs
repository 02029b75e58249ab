//! `[[check]]`: which arriving files must have which content, beyond the
//! virus scan. A rule selects files by box, name patterns and (optionally)
//! tenants — or by a route (`route = "NAME"`: the box, pattern and tenants
//! of the files that route takes from a box or brings into one) — and may
//! require allowed content types (decided from the
//! bytes, never the name), a 連携 file-name template and a 連携 format
//! (encoding, line endings, CSV columns or fixed-length H/D/T records).
//! A file matched by several rules must pass all of them.

use std::collections::HashSet;

use renkei_checks::format::{Encoding, Field, Format, LineEnding, Records};
use renkei_model::boxes::BoxKind;
use renkei_model::lgcode::TenantCode;
use renkei_model::pattern::NamePattern;
use renkei_model::units::{Quantity, parse_size};
use serde::Deserialize;
use toml::Spanned;

use crate::route_ends::{Destination, Problem, Source};
use crate::routes::Route;
use crate::tenants::Tenant;

/// One `[[check]]` rule, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRule {
    pub name: String,
    pub bx: BoxKind,
    pub patterns: Vec<NamePattern>,
    /// Empty: every tenant.
    pub tenants: Vec<TenantCode>,
    /// Allowed content categories (`renkei_checks::filetype::CATEGORIES`);
    /// empty: any.
    pub types: Vec<String>,
    /// The name a matched file must have (`@市町村コード@`, `@日時@`…).
    pub name_template: Option<NamePattern>,
    pub format: Option<Format>,
    /// The lane whose files the rule checks (`lane = "NAME"`), instead of
    /// a municipality's box.
    pub lane: Option<String>,
    /// Where the rule is written (`renkei.toml:41`), for records.
    pub at: String,
}

impl CheckRule {
    /// Whether the rule applies to `name` arriving in `bx` of `tenant`.
    pub fn selects(&self, tenant: &str, bx: BoxKind, name: &str) -> bool {
        // A lane's files are owned by `lane:<name>` (the journal's form,
        // spelled here because this crate stands below the journal): only
        // a rule naming that lane selects them, and it selects nothing else.
        let owner_matches = match (&self.lane, tenant.strip_prefix("lane:")) {
            (Some(l), Some(t)) => l == t,
            (Some(_), None) | (None, Some(_)) => false,
            (None, None) => {
                self.tenants.is_empty() || self.tenants.iter().any(|t| t.as_str() == tenant)
            }
        };
        owner_matches && self.bx == bx && self.patterns.iter().any(|p| p.matches(name, tenant))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    name: Spanned<String>,
    route: Option<Spanned<String>>,
    lane: Option<Spanned<String>>,
    #[serde(rename = "box")]
    bx: Option<Spanned<String>>,
    patterns: Option<Spanned<Vec<Spanned<String>>>>,
    tenants: Option<Vec<Spanned<String>>>,
    types: Option<Vec<Spanned<String>>>,
    name_template: Option<Spanned<String>>,
    format: Option<Spanned<RawFormat>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFormat {
    encoding: Spanned<String>,
    line_ending: Option<Spanned<String>>,
    records: Option<Spanned<String>>,
    columns: Option<Spanned<i64>>,
    record_length: Option<Spanned<i64>>,
    /// `[start, length]` of the record-kind field (0-based bytes).
    kind_field: Option<Spanned<Vec<i64>>>,
    header: Option<Spanned<String>>,
    data: Option<Spanned<String>>,
    trailer: Option<Spanned<String>>,
    /// `[start, length]` of the trailer's data-record count.
    count_field: Option<Spanned<Vec<i64>>>,
    max_line: Option<Spanned<Quantity>>,
}

fn field(v: &Spanned<Vec<i64>>, what: &str, length: usize) -> Result<Field, Problem> {
    match v.get_ref().as_slice() {
        [s, l] if *s >= 0 && *l > 0 && (*s + *l) as usize <= length => Ok(Field {
            start: *s as usize,
            len: *l as usize,
        }),
        _ => Err((
            v.span(),
            format!("{what} is [start, length] in bytes (0-based) inside the {length}-byte record"),
        )),
    }
}

impl RawFormat {
    // Long: each key of a format table in turn, with the combinations that
    // belong together (fixed records need their length and kind field).
    fn resolve(&self, rule: &str) -> Result<Format, Problem> {
        let encoding = match self.encoding.get_ref().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Encoding::Utf8,
            "shift_jis" | "sjis" => Encoding::ShiftJis,
            "cp932" | "windows-31j" => Encoding::Cp932,
            other => {
                return Err((
                    self.encoding.span(),
                    format!(
                        "check {rule}: format.encoding is \"utf-8\", \"shift_jis\" or \"cp932\" (got {other:?})"
                    ),
                ));
            }
        };
        let line_ending = match self.line_ending.as_ref().map(|v| (v.get_ref().as_str(), v)) {
            None | Some(("any", _)) => None,
            Some(("crlf", _)) => Some(LineEnding::Crlf),
            Some(("lf", _)) => Some(LineEnding::Lf),
            Some((other, v)) => {
                return Err((
                    v.span(),
                    format!(
                        "check {rule}: format.line_ending is \"crlf\", \"lf\" or \"any\" (got {other:?})"
                    ),
                ));
            }
        };
        let max_line = match &self.max_line {
            None => 64 << 10,
            Some(v) => {
                let n = parse_size(v.get_ref())
                    .map_err(|e| (v.span(), format!("check {rule}: format.max_line: {e}")))?;
                if !(16..=1 << 20).contains(&n) {
                    return Err((
                        v.span(),
                        format!("check {rule}: format.max_line must be between 16B and 1MiB"),
                    ));
                }
                n as usize
            }
        };
        let kind = self.records.as_ref().map(|v| (v.get_ref().as_str(), v));
        let records = match kind {
            None | Some(("lines", _)) => Records::Lines,
            Some(("csv", v)) => match &self.columns {
                Some(c) if (1..=10_000).contains(c.get_ref()) => Records::Csv {
                    columns: *c.get_ref() as usize,
                },
                Some(c) => {
                    return Err((
                        c.span(),
                        format!("check {rule}: format.columns must be between 1 and 10000"),
                    ));
                }
                None => {
                    return Err((
                        v.span(),
                        format!("check {rule}: records = \"csv\" needs columns = N"),
                    ));
                }
            },
            Some(("fixed", v)) => self.fixed(rule, v, max_line)?,
            Some((other, v)) => {
                return Err((
                    v.span(),
                    format!(
                        "check {rule}: format.records is \"lines\", \"csv\" or \"fixed\" (got {other:?})"
                    ),
                ));
            }
        };
        Ok(Format {
            encoding,
            line_ending,
            records,
            max_line,
        })
    }

    fn fixed(&self, rule: &str, at: &Spanned<String>, max_line: usize) -> Result<Records, Problem> {
        let need = |what: &str| {
            (
                at.span(),
                format!("check {rule}: records = \"fixed\" needs {what}"),
            )
        };
        let length = match &self.record_length {
            Some(l) if *l.get_ref() >= 1 && (*l.get_ref() as usize) <= max_line => {
                *l.get_ref() as usize
            }
            Some(l) => {
                return Err((
                    l.span(),
                    format!(
                        "check {rule}: format.record_length must be between 1 and max_line ({max_line})"
                    ),
                ));
            }
            None => return Err(need("record_length = N")),
        };
        let kind = field(
            self.kind_field
                .as_ref()
                .ok_or_else(|| need("kind_field = [start, length]"))?,
            "format.kind_field",
            length,
        )?;
        let data = self
            .data
            .as_ref()
            .ok_or_else(|| need("data = \"…\" (the data records' kind)"))?;
        let code_of = |v: &Spanned<String>| -> Result<String, Problem> {
            if v.get_ref().len() == kind.len {
                Ok(v.get_ref().clone())
            } else {
                Err((
                    v.span(),
                    format!(
                        "check {rule}: a record kind is {} bytes long (kind_field), {:?} is not",
                        kind.len,
                        v.get_ref()
                    ),
                ))
            }
        };
        let trailer = match (&self.trailer, &self.count_field) {
            (Some(t), Some(c)) => Some((code_of(t)?, field(c, "format.count_field", length)?)),
            (Some(t), None) => {
                return Err((
                    t.span(),
                    format!("check {rule}: a trailer needs count_field = [start, length]"),
                ));
            }
            (None, Some(c)) => {
                return Err((
                    c.span(),
                    format!("check {rule}: count_field is the trailer's; there is no trailer"),
                ));
            }
            (None, None) => None,
        };
        Ok(Records::Fixed {
            length,
            kind,
            header: self.header.as_ref().map(code_of).transpose()?,
            data: code_of(data)?,
            trailer,
        })
    }
}

type Selection = (BoxKind, Vec<NamePattern>, Vec<TenantCode>);

impl RawCheck {
    pub(super) fn span_start(&self) -> usize {
        self.name.span().start
    }

    /// `route = "NAME"`: the box the route takes from (or brings files
    /// into), its file pattern and its tenants.
    fn by_route(
        &self,
        name: &str,
        r: &Spanned<String>,
        routes: &[Route],
    ) -> Result<Selection, Problem> {
        if let Some(v) = &self.bx {
            return Err((
                v.span(),
                format!("check {name}: give route or box and patterns, not both"),
            ));
        }
        if let Some(v) = &self.patterns {
            return Err((
                v.span(),
                format!("check {name}: give route or box and patterns, not both"),
            ));
        }
        if let Some(v) = self.tenants.as_ref().and_then(|t| t.first()) {
            return Err((
                v.span(),
                format!("check {name}: a route's rule takes the route's tenants"),
            ));
        }
        let route = routes
            .iter()
            .find(|x| x.name == *r.get_ref())
            .ok_or_else(|| {
                (
                    r.span(),
                    format!(
                        "check {name}: no route {:?} (routes are defined before checks)",
                        r.get_ref()
                    ),
                )
            })?;
        let bx = match (&route.source, &route.destination) {
            (Source::Box { bx }, _) | (_, Destination::Box { bx }) => *bx,
            _ => {
                return Err((
                    r.span(),
                    format!(
                        "check {name}: route {} neither takes from a box nor brings files into one",
                        route.name
                    ),
                ));
            }
        };
        let any = NamePattern::parse("*").map_err(|e| (r.span(), e))?;
        let pattern = route.pattern.clone().unwrap_or(any);
        Ok((bx, vec![pattern], route.tenants.clone()))
    }

    /// `lane = "NAME"`: the files sent on that lane (its `patterns`, or
    /// those given here).
    fn by_lane(
        &self,
        name: &str,
        l: &Spanned<String>,
        lanes: &[crate::segments::Lane],
    ) -> Result<Selection, Problem> {
        if let Some(v) = &self.bx {
            return Err((v.span(), format!("check {name}: a lane's rule has no box")));
        }
        if let Some(v) = self.tenants.as_ref().and_then(|t| t.first()) {
            return Err((
                v.span(),
                format!("check {name}: a lane's rule has no tenants"),
            ));
        }
        if !lanes.iter().any(|x| x.name == *l.get_ref()) {
            return Err((
                l.span(),
                format!(
                    "check {name}: no lane {:?} (lanes are defined before checks)",
                    l.get_ref()
                ),
            ));
        }
        let mut patterns = Vec::new();
        for p in self
            .patterns
            .as_ref()
            .map(|p| p.get_ref().as_slice())
            .unwrap_or(&[])
        {
            patterns.push(
                NamePattern::parse(p.get_ref())
                    .map_err(|e| (p.span(), format!("check {name}: patterns: {e}")))?,
            );
        }
        if patterns.is_empty() {
            patterns.push(NamePattern::parse("*").map_err(|e| (l.span(), e))?);
        }
        Ok((BoxKind::Inbox, patterns, Vec::new()))
    }

    fn by_box(&self, name: &str, tenants: &[Tenant]) -> Result<Selection, Problem> {
        let (Some(bxv), Some(pv)) = (&self.bx, &self.patterns) else {
            return Err((
                self.name.span(),
                format!("check {name}: give box and patterns (or route = \"NAME\")"),
            ));
        };
        let bx = BoxKind::parse(bxv.get_ref()).ok_or_else(|| {
            (
                bxv.span(),
                format!("check {name}: box is \"inbox\" or \"outbox\""),
            )
        })?;
        if pv.get_ref().is_empty() {
            return Err((
                pv.span(),
                format!(
                    "check {name}: patterns lists at least one name pattern (\"*\" for every file)"
                ),
            ));
        }
        let mut patterns = Vec::new();
        for p in pv.get_ref() {
            patterns.push(
                NamePattern::parse(p.get_ref())
                    .map_err(|e| (p.span(), format!("check {name}: patterns: {e}")))?,
            );
        }
        let mut codes = Vec::new();
        for c in self.tenants.iter().flatten() {
            let code = TenantCode::parse(c.get_ref())
                .map_err(|e| (c.span(), format!("check {name}: tenants: {e}")))?;
            if !tenants.iter().any(|t| t.code == code) {
                return Err((
                    c.span(),
                    format!("check {name}: tenant {code} is not configured"),
                ));
            }
            codes.push(code);
        }
        Ok((bx, patterns, codes))
    }

    pub(super) fn resolve(
        &self,
        tenants: &[Tenant],
        routes: &[Route],
        lanes: &[crate::segments::Lane],
        at: String,
        seen: &mut HashSet<String>,
    ) -> Result<CheckRule, Problem> {
        let name = self.name.get_ref().clone();
        if name.is_empty() || name.len() > 64 || name.contains(char::is_whitespace) {
            return Err((
                self.name.span(),
                "check.name is 1 to 64 characters without spaces".into(),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err((self.name.span(), format!("check {name} is defined twice")));
        }
        let (bx, patterns, codes) = match (&self.route, &self.lane) {
            (Some(r), None) => self.by_route(&name, r, routes)?,
            (None, Some(l)) => self.by_lane(&name, l, lanes)?,
            (Some(_), Some(l)) => {
                return Err((
                    l.span(),
                    format!("check {name}: give route or lane, not both"),
                ));
            }
            (None, None) => self.by_box(&name, tenants)?,
        };
        let mut types = Vec::new();
        for t in self.types.iter().flatten() {
            let known = renkei_checks::filetype::CATEGORIES;
            if !known.contains(&t.get_ref().as_str()) {
                return Err((
                    t.span(),
                    format!(
                        "check {name}: types: {:?} is not one of {}",
                        t.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
            types.push(t.get_ref().clone());
        }
        let name_template = self
            .name_template
            .as_ref()
            .map(|t| {
                NamePattern::parse(t.get_ref())
                    .map_err(|e| (t.span(), format!("check {name}: name_template: {e}")))
            })
            .transpose()?;
        let format = self
            .format
            .as_ref()
            .map(|f| f.get_ref().resolve(&name))
            .transpose()?;
        if types.is_empty() && name_template.is_none() && format.is_none() {
            return Err((
                self.name.span(),
                format!("check {name} requires nothing: give types, name_template or format"),
            ));
        }
        Ok(CheckRule {
            name,
            bx,
            patterns,
            tenants: codes,
            types,
            name_template,
            format,
            lane: self.lane.as_ref().map(|l| l.get_ref().clone()),
            at,
        })
    }
}
