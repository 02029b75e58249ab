//! Warnings about rules that cannot do what their author meant: rules that
//! can never match, and rules shadowed by an earlier rule that matches
//! everything they match (first match wins, so they never decide).

use super::rules::{Operation, Rule, Source};
use renkei_config::Config;

pub(super) fn lint(rules: &[Rule], config: &Config) -> Vec<String> {
    let mut w = Vec::new();
    for r in rules {
        if let Some(why) = never_matches(r, config) {
            w.push(format!("{}: this rule can never match: {why}", r.at));
        }
    }
    for (j, later) in rules.iter().enumerate() {
        if let Some(earlier) = rules[..j].iter().find(|e| covers(e, later)) {
            w.push(format!(
                "{}: this rule is shadowed by {} ({}), which matches everything it matches",
                later.at,
                earlier.at,
                earlier.summary()
            ));
        }
    }
    w
}

fn never_matches(r: &Rule, config: &Config) -> Option<String> {
    if let Some(ts) = &r.tenants {
        let known: Vec<_> = ts
            .iter()
            .filter(|t| config.tenant(t.as_str()).is_some())
            .collect();
        if known.is_empty() {
            return Some(format!(
                "tenant {} is not in the configuration",
                ts.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if let Some(us) = &r.accounts {
        let possible = us.iter().any(|u| match config.account(u) {
            None => false,
            Some((t, _)) => r.tenants.as_ref().is_none_or(|ts| ts.contains(&t.code)),
        });
        if !possible {
            return Some(match &r.tenants {
                Some(_) => format!(
                    "no account {} belongs to the rule's tenant(s)",
                    us.join(", ")
                ),
                None => format!("account {} is not in the configuration", us.join(", ")),
            });
        }
    }
    if !r.ops.any_with_path() && r.has_file_conditions() {
        return Some("box, path, name and max_size never apply to connect or login".into());
    }
    if r.max_size.is_some() && !r.ops.contains(Operation::Upload) {
        return Some(
            "max_size only applies to uploads, and the rule has no upload operation".into(),
        );
    }
    None
}

/// Whether `a` matches every request `b` matches (conservatively: when in
/// doubt, no).
fn subset<T: PartialEq>(x: &Option<Vec<T>>, y: &Option<Vec<T>>) -> bool {
    match (x, y) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => y.iter().all(|v| x.contains(v)),
    }
}

fn covers(a: &Rule, b: &Rule) -> bool {
    let from = match (&a.from, &b.from) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => y.iter().all(|s| {
            x.iter().any(|t| match (t, s) {
                (Source::Net(n), Source::Net(m)) => n.contains(m),
                (Source::AccountNetworks, Source::AccountNetworks) => true,
                _ => false,
            })
        }),
    };
    let path = match (&a.path, &b.path) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => y.covered_by(x),
    };
    let name = match (&a.name, &b.name) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => y.covered_by(x),
    };
    let size = match (a.max_size, b.max_size) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => y <= x,
    };
    let time = match (&a.time, &b.time) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => y.iter().all(|w| x.contains(w)),
    };
    b.ops.is_subset(a.ops)
        && subset(&a.tenants, &b.tenants)
        && subset(&a.accounts, &b.accounts)
        && (a.bx.is_none() || a.bx == b.bx)
        && from
        && path
        && name
        && size
        && time
}
