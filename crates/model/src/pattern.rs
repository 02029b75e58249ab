//! Name patterns and path globs for policy rules.
//!
//! A **name pattern** matches one file name. Besides `*` (any run of
//! characters) and `?` (one character) it understands the 連携 file-name
//! templates municipal interface specifications use:
//!
//! | template | matches |
//! |---|---|
//! | `@市町村コード@` | exactly the acting tenant's 6-digit code |
//! | `@日時@` | a valid date and time `YYYYMMDDhhmmss` |
//! | `@日付@` | a valid date `YYYYMMDD` |
//!
//! so `JUKI_@市町村コード@_@日時@.csv` accepts `JUKI_032018_20261121093000.csv`
//! from 盛岡市 and refuses `JUKI_011002_…` (another municipality's code) or
//! `JUKI_032018_20261341093000.csv` (no 41st day).
//!
//! A **path glob** matches a path inside a box, component by component:
//! `*` and `?` within a component, `**` for any number of components.

use jiff::civil::{Date, DateTime};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Any,
    One,
    Code,
    DateTime,
    Date,
}

/// A compiled name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    source: String,
    tokens: Vec<Token>,
}

const TEMPLATES: [(&str, Token); 3] = [
    ("@市町村コード@", Token::Code),
    ("@日時@", Token::DateTime),
    ("@日付@", Token::Date),
];

impl NamePattern {
    pub fn parse(s: &str) -> Result<NamePattern, String> {
        if s.is_empty() {
            return Err("an empty name pattern matches nothing".into());
        }
        if s.contains('/') {
            return Err(format!(
                "name pattern {s:?} contains '/': use `path` for directories"
            ));
        }
        let mut tokens = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if c == '@' {
                let found = TEMPLATES.iter().find(|(t, _)| rest.starts_with(t));
                match found {
                    Some((t, tok)) => {
                        tokens.push(tok.clone());
                        rest = &rest[t.len()..];
                        continue;
                    }
                    None => {
                        let end = rest[1..].find('@').map(|i| &rest[..i + 2]).unwrap_or(rest);
                        return Err(format!(
                            "unknown template {end:?} in {s:?}: known are @市町村コード@, @日時@, @日付@"
                        ));
                    }
                }
            }
            tokens.push(match c {
                '*' => Token::Any,
                '?' => Token::One,
                c => Token::Literal(c),
            });
            rest = &rest[c.len_utf8()..];
        }
        Ok(NamePattern {
            source: s.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `name` matches, for a tenant whose code is `code`.
    pub fn matches(&self, name: &str, code: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        match_tokens(&self.tokens, &chars, code)
    }

    /// Whether every name this pattern matches is matched by `other` too
    /// (conservatively: only equal patterns and `*`).
    pub fn covered_by(&self, other: &NamePattern) -> bool {
        other.tokens == [Token::Any] || other == self
    }
}

fn digits(chars: &[char], n: usize) -> Option<String> {
    let taken: String = chars.get(..n)?.iter().collect();
    taken.bytes().all(|b| b.is_ascii_digit()).then_some(taken)
}

fn valid_date(d: &str) -> bool {
    let (Ok(y), Ok(m), Ok(dd)) = (
        d[0..4].parse::<i16>(),
        d[4..6].parse::<i8>(),
        d[6..8].parse::<i8>(),
    ) else {
        return false;
    };
    Date::new(y, m, dd).is_ok()
}

fn valid_datetime(d: &str) -> bool {
    let parse = |r: std::ops::Range<usize>| d[r].parse::<i8>().ok();
    let (Some(h), Some(mi), Some(s)) = (parse(8..10), parse(10..12), parse(12..14)) else {
        return false;
    };
    let Ok(y) = d[0..4].parse::<i16>() else {
        return false;
    };
    let (Some(m), Some(dd)) = (parse(4..6), parse(6..8)) else {
        return false;
    };
    DateTime::new(y, m, dd, h, mi, s, 0).is_ok()
}

/// Whether `tokens` match all of `name`. Each (token, position) pair is
/// decided once: plain backtracking over `*` took time exponential in the
/// number of stars (`***************+**` against a long name did not
/// finish), and the name is the client's.
fn match_tokens(tokens: &[Token], name: &[char], code: &str) -> bool {
    let mut memo = Memo::new(tokens.len(), name.len());
    match_from(tokens, name, code, 0, 0, &mut memo)
}

/// Decided (pattern position, subject position) pairs.
struct Memo {
    width: usize,
    seen: Vec<Option<bool>>,
}

impl Memo {
    fn new(patterns: usize, subjects: usize) -> Memo {
        Memo {
            width: subjects + 1,
            seen: vec![None; (patterns + 1) * (subjects + 1)],
        }
    }

    fn get(&self, p: usize, s: usize) -> Option<bool> {
        self.seen.get(p * self.width + s).copied().flatten()
    }

    fn set(&mut self, p: usize, s: usize, v: bool) -> bool {
        if let Some(slot) = self.seen.get_mut(p * self.width + s) {
            *slot = Some(v);
        }
        v
    }
}

fn match_from(
    tokens: &[Token],
    name: &[char],
    code: &str,
    t: usize,
    i: usize,
    memo: &mut Memo,
) -> bool {
    if let Some(v) = memo.get(t, i) {
        return v;
    }
    let rest = name.get(i..).unwrap_or_default();
    let v = match tokens.get(t) {
        None => rest.is_empty(),
        Some(Token::Literal(c)) => {
            rest.first() == Some(c) && match_from(tokens, name, code, t + 1, i + 1, memo)
        }
        Some(Token::One) => !rest.is_empty() && match_from(tokens, name, code, t + 1, i + 1, memo),
        Some(Token::Any) => {
            (i..=name.len()).any(|j| match_from(tokens, name, code, t + 1, j, memo))
        }
        Some(Token::Code) => {
            let n = code.chars().count();
            rest.len() >= n
                && rest[..n].iter().copied().eq(code.chars())
                && match_from(tokens, name, code, t + 1, i + n, memo)
        }
        Some(Token::DateTime) => {
            digits(rest, 14).is_some_and(|d| valid_datetime(&d))
                && match_from(tokens, name, code, t + 1, i + 14, memo)
        }
        Some(Token::Date) => {
            digits(rest, 8).is_some_and(|d| valid_date(&d))
                && match_from(tokens, name, code, t + 1, i + 8, memo)
        }
    };
    memo.set(t, i, v)
}

/// A compiled path glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    source: String,
    parts: Vec<String>,
}

impl PathGlob {
    pub fn parse(s: &str) -> Result<PathGlob, String> {
        let trimmed = s.trim_matches('/');
        if trimmed.split('/').any(|p| p == "..") {
            return Err(format!("path glob {s:?} contains '..'"));
        }
        let parts: Vec<String> = trimmed
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .map(str::to_string)
            .collect();
        if parts.iter().any(|p| p.contains("**") && p != "**") {
            return Err(format!(
                "path glob {s:?}: '**' must be a whole component, as in \"reports/**\""
            ));
        }
        Ok(PathGlob {
            source: s.to_string(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `path` (inside a box, `/`-separated, `""` for the box) matches.
    pub fn matches(&self, path: &str) -> bool {
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let pats: Vec<&str> = self.parts.iter().map(String::as_str).collect();
        glob_parts(&pats, &comps)
    }

    /// Conservative coverage: equal globs, or `other` is `**`.
    pub fn covered_by(&self, other: &PathGlob) -> bool {
        other.parts == ["**"] || other.parts == self.parts
    }
}

/// Whether the components match, each (part, component) pair decided
/// once (`**/**/…` would otherwise backtrack exponentially).
fn glob_parts(pats: &[&str], comps: &[&str]) -> bool {
    let mut memo = Memo::new(pats.len(), comps.len());
    glob_from(pats, comps, 0, 0, &mut memo)
}

fn glob_from(pats: &[&str], comps: &[&str], p: usize, c: usize, memo: &mut Memo) -> bool {
    if let Some(v) = memo.get(p, c) {
        return v;
    }
    let v = match (pats.get(p), comps.get(c)) {
        (None, _) => c >= comps.len(),
        (Some(&"**"), _) => (c..=comps.len()).any(|j| glob_from(pats, comps, p + 1, j, memo)),
        (Some(_), None) => false,
        (Some(first), Some(comp)) => {
            let pat = NamePattern {
                source: String::new(),
                tokens: first
                    .chars()
                    .map(|ch| match ch {
                        '*' => Token::Any,
                        '?' => Token::One,
                        ch => Token::Literal(ch),
                    })
                    .collect(),
            };
            pat.matches(comp, "") && glob_from(pats, comps, p + 1, c + 1, memo)
        }
    };
    memo.set(p, c, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/fuzz_targets/pattern.rs): many stars against
    /// a long name backtracked exponentially; a glob of many `**` too.
    #[test]
    fn many_stars_match_in_linear_steps() {
        let p = NamePattern::parse("***************+**").unwrap();
        let long = "a".repeat(200);
        assert!(!p.matches(&long, "032018"));
        assert!(p.matches(&format!("{long}+"), "032018"));
        let stars = "*a".repeat(40) + "b";
        let p = NamePattern::parse(&stars).unwrap();
        assert!(!p.matches(&"a".repeat(250), "032018"));
        let g = PathGlob::parse(&"**/".repeat(30)).unwrap();
        assert!(g.matches(&"d/".repeat(30)));
        let g = PathGlob::parse(&("**/".repeat(30) + "x")).unwrap();
        assert!(!g.matches(&"d/".repeat(60)));
    }

    #[test]
    fn templates() {
        let p = NamePattern::parse("JUKI_@市町村コード@_@日時@.csv").unwrap();
        assert!(p.matches("JUKI_032018_20261121093000.csv", "032018"));
        assert!(
            !p.matches("JUKI_011002_20261121093000.csv", "032018"),
            "another tenant's code"
        );
        assert!(
            !p.matches("JUKI_032018_20261341093000.csv", "032018"),
            "no 41st day"
        );
        assert!(
            !p.matches("JUKI_032018_20261121253000.csv", "032018"),
            "no 25th hour"
        );
        assert!(
            !p.matches("JUKI_032018_2026112109300.csv", "032018"),
            "13 digits"
        );
        assert!(!p.matches("JUKI_032018_20261121093000.csv.tmp", "032018"));
        let d = NamePattern::parse("住民基本台帳情報_@市町村コード@_@日付@*.csv").unwrap();
        assert!(d.matches("住民基本台帳情報_032018_20261121.csv", "032018"));
        assert!(d.matches("住民基本台帳情報_032018_20240229_2.csv", "032018"));
        assert!(
            !d.matches("住民基本台帳情報_032018_20230229.csv", "032018"),
            "2023 is not a leap year"
        );
        assert!(
            NamePattern::parse("X_@コード@.csv")
                .unwrap_err()
                .contains("unknown template")
        );
    }

    #[test]
    fn wildcards() {
        let p = NamePattern::parse("*.csv").unwrap();
        assert!(p.matches("a.csv", "") && p.matches(".csv", "") && !p.matches("a.csv.part", ""));
        let q = NamePattern::parse("??.dat").unwrap();
        assert!(q.matches("ab.dat", "") && q.matches("情報.dat", "") && !q.matches("abc.dat", ""));
    }

    #[test]
    fn globs() {
        let g = PathGlob::parse("reports/**").unwrap();
        assert!(
            g.matches("reports")
                && g.matches("reports/a.csv")
                && g.matches("reports/2026/11/a.csv")
        );
        assert!(!g.matches("other/a.csv") && !g.matches(""));
        let s = PathGlob::parse("*/in/*.csv").unwrap();
        assert!(s.matches("x/in/a.csv") && !s.matches("x/y/in/a.csv"));
        assert!(PathGlob::parse("**").unwrap().matches(""));
        assert!(PathGlob::parse("a/../b").is_err());
        assert!(PathGlob::parse("a/**b").is_err());
    }
}
