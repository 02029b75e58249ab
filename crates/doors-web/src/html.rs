//! Server-rendered pages: escaping, the page frame, and small pieces the
//! pages share. Every text that came from a person or a file name goes
//! through [`esc`]; there is no inline script or style (the CSP forbids
//! both), so the only script is `/static/app.js`.

use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a namespace path for a URL, keeping `/` as separator.
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One entry of the navigation bar.
pub struct Nav {
    pub href: String,
    pub label: String,
}

/// The frame every page shares. `user` is shown with a logout button
/// when someone is logged in.
pub fn page(
    title: &str,
    user: Option<(&str, &str)>,
    nav: &[Nav],
    csrf: &str,
    body: &str,
) -> String {
    let mut head = String::new();
    if let Some((name, role)) = user {
        let _ = write!(
            head,
            r#"<div class="who"><span>{} ({})</span><form method="post" action="/logout"><input type="hidden" name="csrf" value="{}"><button type="submit">ログアウト / Log out</button></form></div>"#,
            esc(name),
            esc(role),
            esc(csrf)
        );
    }
    let mut links = String::new();
    for n in nav {
        let _ = write!(links, r#"<a href="{}">{}</a>"#, esc(&n.href), esc(&n.label));
    }
    format!(
        r#"<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — renkei</title>
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<header><span class="brand">renkei データ連携</span><nav>{links}</nav>{head}</header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        title = esc(title),
    )
}

/// A notice above a page's content (after an action).
pub fn notice(kind: &str, text: &str) -> String {
    format!(
        r#"<p class="notice {}" role="status">{}</p>"#,
        esc(kind),
        esc(text)
    )
}

/// A size for people: bytes below 1 KiB, else KiB/MiB/GiB with one digit.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Unix seconds as Asia/Tokyo local time.
pub fn time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| {
            renkei_model::time::tokyo(t)
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn url_paths_keep_slashes_and_encode_the_rest() {
        assert_eq!(
            url_path("/inbox/住民 1.csv"),
            "/inbox/%E4%BD%8F%E6%B0%91%201.csv"
        );
    }
}
