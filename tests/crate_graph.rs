//! The crate graph is the architecture (docs/decisions/0008-crate-graph.md):
//! this test reads `cargo metadata` and fails on any dependency between
//! workspace crates that the table below does not allow, so a wrong-way
//! import is refused by CI, not left to review.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each workspace crate and the workspace crates it may depend on. Lower
/// layers first; a crate may use only crates listed before it. Neither
/// the hand-off nor any door may use storage (the core's boundary: they
/// see typed core calls and records, never a journal operation, key or
/// transaction), and no door may use another door.
const ALLOWED: &[(&str, &[&str])] = &[
    ("renkei-model", &[]),
    ("renkei-checks", &["renkei-model"]),
    ("renkei-config", &["renkei-model", "renkei-checks"]),
    ("renkei-storage", &["renkei-model"]),
    (
        "renkei-core",
        &[
            "renkei-model",
            "renkei-config",
            "renkei-storage",
            "renkei-checks",
        ],
    ),
    (
        "renkei-handoff",
        &[
            "renkei-model",
            "renkei-config",
            "renkei-checks",
            "renkei-core",
        ],
    ),
    (
        "renkei-console",
        &["renkei-config", "renkei-core", "renkei-handoff"],
    ),
    (
        "renkei-doors-ssh",
        &["renkei-model", "renkei-config", "renkei-core"],
    ),
    (
        "renkei-doors-ftps",
        &["renkei-model", "renkei-config", "renkei-core"],
    ),
    (
        "renkei-doors-web",
        &[
            "renkei-model",
            "renkei-config",
            "renkei-core",
            "renkei-console",
        ],
    ),
    (
        "renkei-doors-admin",
        &[
            "renkei-model",
            "renkei-config",
            "renkei-core",
            "renkei-handoff",
            "renkei-console",
        ],
    ),
    (
        "renkei",
        &[
            "renkei-model",
            "renkei-config",
            "renkei-storage",
            "renkei-checks",
            "renkei-core",
            "renkei-handoff",
            "renkei-console",
            "renkei-doors-ssh",
            "renkei-doors-ftps",
            "renkei-doors-web",
            "renkei-doors-admin",
        ],
    ),
];

/// Workspace crate → the workspace crates it depends on (any kind:
/// normal, dev or build), as cargo sees them.
fn workspace_edges() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| d["name"].as_str().expect("dep name").to_string())
                .filter(|n| members.contains(n))
                .collect();
            (p["name"].as_str().expect("name").to_string(), deps)
        })
        .collect()
}

#[test]
fn workspace_crates_depend_only_downwards() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(c, deps)| (*c, deps.iter().copied().collect()))
        .collect();
    let edges = workspace_edges();
    let mut wrong = Vec::new();
    for (krate, deps) in &edges {
        let Some(may) = allowed.get(krate.as_str()) else {
            wrong.push(format!(
                "{krate} is a workspace crate with no row in ALLOWED (add it to the table and to decision 0008)"
            ));
            continue;
        };
        for d in deps {
            if !may.contains(d.as_str()) {
                wrong.push(format!(
                    "{krate} depends on {d}, which the crate graph forbids"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "crate graph violations:\n{}",
        wrong.join("\n")
    );
    for (krate, _) in ALLOWED {
        assert!(
            edges.contains_key(*krate),
            "{krate} is in ALLOWED but not in the workspace"
        );
    }
}

/// The table itself must be layered: every crate may use only crates
/// listed before it, so no two crates can ever depend on each other.
#[test]
fn the_allowed_table_is_layered() {
    for (i, (krate, deps)) in ALLOWED.iter().enumerate() {
        let below: BTreeSet<&str> = ALLOWED[..i].iter().map(|(c, _)| *c).collect();
        for d in *deps {
            assert!(
                below.contains(d),
                "{krate} may use {d}, which is not below it"
            );
        }
    }
}

/// The doors are separate crates so that none can reach into another:
/// what two of them share lives in the core or the console; and above
/// the core, only the binary that wires the daemon opens storage. This
/// names the rules, so that a row added to the table cannot quietly
/// break them.
#[test]
fn no_door_may_use_another_door_or_storage() {
    for (krate, deps) in ALLOWED {
        if !krate.starts_with("renkei-doors-") && *krate != "renkei-handoff" {
            continue;
        }
        for d in *deps {
            assert!(
                !d.starts_with("renkei-doors-") && *d != "renkei-storage",
                "{krate} may use {d}"
            );
        }
    }
}
