//! A real browser in the tests: headless Chromium over WebDriver
//! (`tests/clients/browser.py`), with screenshots kept as test artifacts
//! under `target/tmp/screenshots/<test>/` and checked to have rendered.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use super::PYTHON;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/browser.py");

/// Where a test's screenshots and downloads go.
pub fn artifacts(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the steps in Chromium; panics with the page's text when a step
/// fails. Every screenshot must show something, in a CJK font, with
/// Japanese text on the page.
pub fn run(out: &PathBuf, steps: Value) -> Value {
    let file = out.join("steps.json");
    fs::write(&file, serde_json::to_vec_pretty(&steps).unwrap()).unwrap();
    let o = Command::new(PYTHON)
        .arg(SCRIPT)
        .arg(&file)
        .arg(out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|_| panic!("browser.py: {text}\n{}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(v["ok"], true, "browser: {v:#}");
    for (name, shot) in v["shots"].as_object().unwrap() {
        let inked = shot["inked"].as_f64().unwrap();
        assert!(inked > 0.01, "screenshot {name} is blank ({inked})");
        assert_eq!(shot["cjk_font"], true, "screenshot {name}: no CJK font");
        let page = shot["text"].as_str().unwrap();
        assert!(
            page.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)
                || ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "screenshot {name}: no Japanese text: {page}"
        );
    }
    v
}

/// The steps of logging in through the form, up to the first page after it.
pub fn login(base: &str, user: &str, password: &str) -> Vec<Value> {
    vec![
        json!({"go": format!("{base}/login")}),
        json!({"type": ["input[name=user]", user]}),
        json!({"type": ["input[name=password]", password]}),
        json!({"click": "form.login button[type=submit]"}),
        // The login's own navigation must finish before the next `go`,
        // or it lands after it.
        json!({"wait_text": "ログアウト"}),
    ]
}
