//! Client-supplied paths, parsed into locations of the virtual namespace.
//!
//! This is the only code that looks at path bytes a client sent. The result
//! is a [`NsPath`]: a box and validated name components. Nothing here, or
//! anywhere, turns a client string into a file-system path: blobs live
//! under server-generated ids. A name that could confuse a person or a
//! downstream system (control characters, bidi overrides, backslashes) is
//! refused with a reason rather than stored.

use std::fmt;

use super::names::{self, NameError};

pub use renkei_model::boxes::BoxKind;

/// The name of the read-only receipts directory at the top.
pub const RECEIPTS: &str = "receipts";

/// Where an approver's rename approves a file (`/approve/<lane>/approved/…`).
pub const APPROVED: &str = "approved";
/// Where an approver's rename rejects a file; the new name is the reason
/// (`/approve/<lane>/rejected/<reason>`).
pub const REJECTED: &str = "rejected";

/// How a segment's account looks at a lane (decision 0011).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `/send/<lane>/`: its own files on a lane it sends on.
    Send,
    /// `/receive/<lane>/`: files delivered on a lane it receives from.
    Receive,
    /// `/approve/<lane>/`: files waiting for its approval.
    Approve,
}

impl View {
    pub const ALL: [View; 3] = [View::Send, View::Receive, View::Approve];

    pub fn name(self) -> &'static str {
        match self {
            View::Send => "send",
            View::Receive => "receive",
            View::Approve => "approve",
        }
    }

    pub fn parse(s: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// A location in a tenant's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsPath {
    /// `/`: lists the boxes.
    Root,
    /// `/inbox` or `/outbox`.
    Box(BoxKind),
    /// `/receipts`: read-only hand-off receipts of the tenant's files.
    Receipts,
    /// One receipt, by name.
    Receipt(String),
    /// Something inside a box: `parent` is the directory path inside the box
    /// (`""` at the box's top), `name` the last component.
    Entry {
        bx: BoxKind,
        parent: String,
        name: String,
    },
    /// `/send`, `/receive`, `/approve` (`lane` is `None`), or one lane in
    /// such a view.
    Lanes { view: View, lane: Option<String> },
    /// A file on a lane, as seen from a view.
    LaneFile {
        view: View,
        lane: String,
        name: String,
    },
    /// `/approve/<lane>/approved[/…]` or `/approve/<lane>/rejected[/reason]`:
    /// the places a rename approves or rejects a file in.
    Decision {
        lane: String,
        approve: bool,
        /// The last component: for a rejection, its reason.
        text: Option<String>,
    },
}

/// Why a path was refused. The message is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is not valid UTF-8; file names must be UTF-8")]
    NotUtf8,
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("the path is {depth} directories deep inside the box; the limit is {max}")]
    TooDeep { depth: usize, max: usize },
    #[error(
        "there is no '/{name}' here: the boxes are /inbox and /outbox (and /receipts, read-only)"
    )]
    NoSuchBox { name: String },
    #[error(
        "{path}: a lane holds files, not directories; approve or reject by renaming into /approve/<lane>/approved/ or /approve/<lane>/rejected/<reason>"
    )]
    LaneTooDeep { path: String },
}

/// Splits a path into validated NFC components. Empty and `.` components
/// are dropped and `..` removes the one before it, lexically, as a chroot
/// does: nothing is looked up, and `..` at the top stays at the top, so no
/// path can name anything outside the principal's own namespace.
fn components(raw: &[u8]) -> Result<Vec<String>, PathError> {
    let text = std::str::from_utf8(raw).map_err(|_| PathError::NotUtf8)?;
    let text = names::nfc(text);
    let mut out: Vec<String> = Vec::new();
    for c in text.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => {
                names::check(c)?;
                out.push(c.to_string());
            }
        }
    }
    Ok(out)
}

impl NsPath {
    /// Parses a client path. Relative paths are taken from `/`, the
    /// namespace root, which is where every session starts.
    pub fn parse(raw: &[u8], max_depth: usize) -> Result<NsPath, PathError> {
        let parts = components(raw)?;
        let Some((first, rest)) = parts.split_first() else {
            return Ok(NsPath::Root);
        };
        if first == RECEIPTS {
            return Ok(if rest.is_empty() {
                NsPath::Receipts
            } else {
                NsPath::Receipt(rest.join("/"))
            });
        }
        if let Some(view) = View::parse(first) {
            return lane_path(view, rest);
        }
        let bx = BoxKind::parse(first).ok_or_else(|| PathError::NoSuchBox {
            name: first.to_string(),
        })?;
        let Some((name, dirs)) = rest.split_last() else {
            return Ok(NsPath::Box(bx));
        };
        if rest.len() > max_depth {
            return Err(PathError::TooDeep {
                depth: rest.len(),
                max: max_depth,
            });
        }
        Ok(NsPath::Entry {
            bx,
            parent: dirs.join("/"),
            name: name.to_string(),
        })
    }

    /// The lane a lane path is on.
    pub fn lane(&self) -> Option<&str> {
        match self {
            NsPath::Lanes { lane, .. } => lane.as_deref(),
            NsPath::LaneFile { lane, .. } | NsPath::Decision { lane, .. } => Some(lane),
            _ => None,
        }
    }

    /// Builds an entry path from trusted parts (a box and a path inside it),
    /// validating them like client input.
    pub fn in_box(bx: BoxKind, rel: &str, max_depth: usize) -> Result<NsPath, PathError> {
        let mut raw = format!("/{}/", bx.name());
        raw.push_str(rel);
        NsPath::parse(raw.as_bytes(), max_depth)
    }

    pub fn box_kind(&self) -> Option<BoxKind> {
        match self {
            NsPath::Root
            | NsPath::Receipts
            | NsPath::Receipt(_)
            | NsPath::Lanes { .. }
            | NsPath::LaneFile { .. }
            | NsPath::Decision { .. } => None,
            NsPath::Box(b) | NsPath::Entry { bx: b, .. } => Some(*b),
        }
    }

    /// The path inside its box (`a/b.csv`); empty for the root and boxes.
    pub fn rel(&self) -> String {
        match self {
            NsPath::Entry { parent, name, .. } if parent.is_empty() => name.clone(),
            NsPath::Entry { parent, name, .. } => format!("{parent}/{name}"),
            NsPath::LaneFile { name, .. } => name.clone(),
            _ => String::new(),
        }
    }

    /// The parent location.
    pub fn parent(&self) -> NsPath {
        match self {
            NsPath::Root | NsPath::Box(_) | NsPath::Receipts => NsPath::Root,
            NsPath::Receipt(_) => NsPath::Receipts,
            NsPath::Lanes { lane: None, .. } => NsPath::Root,
            NsPath::Lanes {
                view,
                lane: Some(_),
            } => NsPath::Lanes {
                view: *view,
                lane: None,
            },
            NsPath::LaneFile { view, lane, .. } => NsPath::Lanes {
                view: *view,
                lane: Some(lane.clone()),
            },
            NsPath::Decision {
                lane,
                approve,
                text: Some(_),
            } => NsPath::Decision {
                lane: lane.clone(),
                approve: *approve,
                text: None,
            },
            NsPath::Decision { lane, .. } => NsPath::Lanes {
                view: View::Approve,
                lane: Some(lane.clone()),
            },
            NsPath::Entry { bx, parent, .. } if parent.is_empty() => NsPath::Box(*bx),
            NsPath::Entry { bx, parent, .. } => {
                let (p, n) = parent.rsplit_once('/').unwrap_or(("", parent));
                NsPath::Entry {
                    bx: *bx,
                    parent: p.to_string(),
                    name: n.to_string(),
                }
            }
        }
    }

    /// The directory path inside the box that this location *is*, when it
    /// is used as a directory (`""` for the box itself).
    pub fn as_dir(&self) -> Option<(BoxKind, String)> {
        match self {
            NsPath::Root
            | NsPath::Receipts
            | NsPath::Receipt(_)
            | NsPath::Lanes { .. }
            | NsPath::LaneFile { .. }
            | NsPath::Decision { .. } => None,
            NsPath::Box(b) => Some((*b, String::new())),
            NsPath::Entry { bx, .. } => Some((*bx, self.rel())),
        }
    }
}

impl fmt::Display for NsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NsPath::Root => f.write_str("/"),
            NsPath::Box(b) => write!(f, "/{b}"),
            NsPath::Receipts => write!(f, "/{RECEIPTS}"),
            NsPath::Receipt(n) => write!(f, "/{RECEIPTS}/{n}"),
            NsPath::Entry { bx, .. } => write!(f, "/{bx}/{}", self.rel()),
            NsPath::Lanes { view, lane: None } => write!(f, "/{}", view.name()),
            NsPath::Lanes {
                view,
                lane: Some(l),
            } => write!(f, "/{}/{l}", view.name()),
            NsPath::LaneFile { view, lane, name } => write!(f, "/{}/{lane}/{name}", view.name()),
            NsPath::Decision {
                lane,
                approve,
                text,
            } => {
                let place = if *approve { APPROVED } else { REJECTED };
                write!(f, "/approve/{lane}/{place}")?;
                match text {
                    Some(t) => write!(f, "/{t}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A path under `/send`, `/receive` or `/approve`: a lane holds files
/// only, and the approver's two decision places.
fn lane_path(view: View, rest: &[String]) -> Result<NsPath, PathError> {
    let too_deep = || PathError::LaneTooDeep {
        path: format!("/{}/{}", view.name(), rest.join("/")),
    };
    match rest {
        [] => Ok(NsPath::Lanes { view, lane: None }),
        [lane] => Ok(NsPath::Lanes {
            view,
            lane: Some(lane.clone()),
        }),
        [lane, name] if view == View::Approve && (name == APPROVED || name == REJECTED) => {
            Ok(NsPath::Decision {
                lane: lane.clone(),
                approve: name == APPROVED,
                text: None,
            })
        }
        [lane, name] => Ok(NsPath::LaneFile {
            view,
            lane: lane.clone(),
            name: name.clone(),
        }),
        [lane, place, text]
            if view == View::Approve && (place == APPROVED || place == REJECTED) =>
        {
            Ok(NsPath::Decision {
                lane: lane.clone(),
                approve: place == APPROVED,
                text: Some(text.clone()),
            })
        }
        _ => Err(too_deep()),
    }
}

/// `realpath`: lexical normalisation of a client path. Here `..` is
/// allowed (clients send `realpath("/inbox/..")` for `cd ..`) and, as in
/// POSIX, `/..` is `/`: nothing can lead above the namespace root, and
/// nothing is looked up.
pub fn normalize(raw: &[u8]) -> Result<String, PathError> {
    Ok(format!("/{}", components(raw)?.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<NsPath, PathError> {
        NsPath::parse(s.as_bytes(), 8)
    }

    #[test]
    fn parses_locations() {
        assert_eq!(p("/").unwrap(), NsPath::Root);
        assert_eq!(p("").unwrap(), NsPath::Root);
        assert_eq!(p("inbox").unwrap(), NsPath::Box(BoxKind::Inbox));
        assert_eq!(p("/outbox/").unwrap(), NsPath::Box(BoxKind::Outbox));
        let e = p("/inbox/./a//住民基本台帳情報_032018_20261121.csv").unwrap();
        assert_eq!(e.rel(), "a/住民基本台帳情報_032018_20261121.csv");
        assert_eq!(
            e.to_string(),
            "/inbox/a/住民基本台帳情報_032018_20261121.csv"
        );
        assert_eq!(e.parent(), p("/inbox/a").unwrap());
        assert_eq!(p("/inbox/a").unwrap().parent(), NsPath::Box(BoxKind::Inbox));
    }

    #[test]
    fn refuses_hostile_paths() {
        assert!(matches!(
            p("/inbox/../032018/inbox"),
            Err(PathError::NoSuchBox { .. })
        ));
        assert_eq!(
            p("/inbox/../../../inbox/a").unwrap().to_string(),
            "/inbox/a"
        );
        assert_eq!(p("/inbox/a/..").unwrap(), NsPath::Box(BoxKind::Inbox));
        assert!(matches!(p("/etc/passwd"), Err(PathError::NoSuchBox { .. })));
        assert!(matches!(
            p("/032018/inbox/x"),
            Err(PathError::NoSuchBox { .. })
        ));
        assert!(matches!(
            p("/inbox/a\nb"),
            Err(PathError::Name(NameError::ControlChar { code: 10, .. }))
        ));
        assert!(matches!(
            p("/inbox/a\0b"),
            Err(PathError::Name(NameError::ControlChar { code: 0, .. }))
        ));
        assert!(matches!(
            p("/inbox/a\u{202E}txt.exe"),
            Err(PathError::Name(NameError::BidiChar { .. }))
        ));
        assert!(matches!(
            p("/inbox/a\\x"),
            Err(PathError::Name(NameError::Backslash { .. }))
        ));
        assert!(matches!(
            p(&format!("/inbox/{}", "あ".repeat(86))),
            Err(PathError::Name(NameError::TooLong { bytes: 258 }))
        ));
        assert!(p(&format!("/inbox/{}", "a".repeat(255))).is_ok());
        assert_eq!(
            NsPath::parse(b"/inbox/\xff\xfe", 8),
            Err(PathError::NotUtf8)
        );
        assert!(matches!(
            p("/inbox/1/2/3/4/5/6/7/8/9"),
            Err(PathError::TooDeep { .. })
        ));
    }

    #[test]
    fn lane_paths_hold_files_and_the_approvers_decisions() {
        assert_eq!(
            p("/send").unwrap(),
            NsPath::Lanes {
                view: View::Send,
                lane: None
            }
        );
        let f = p("/receive/kanyusha-down/加入者情報_20261201.csv").unwrap();
        assert_eq!(f.lane(), Some("kanyusha-down"));
        assert_eq!(
            f.to_string(),
            "/receive/kanyusha-down/加入者情報_20261201.csv"
        );
        assert_eq!(f.parent().to_string(), "/receive/kanyusha-down");
        assert_eq!(f.box_kind(), None);
        assert_eq!(
            p("/approve/l/rejected/宛先が誤っています").unwrap(),
            NsPath::Decision {
                lane: "l".into(),
                approve: false,
                text: Some("宛先が誤っています".into())
            }
        );
        assert_eq!(
            p("/approve/l/approved/x.csv").unwrap().to_string(),
            "/approve/l/approved/x.csv"
        );
        // On /send, `approved` is just a file name.
        assert!(matches!(
            p("/send/l/approved").unwrap(),
            NsPath::LaneFile { .. }
        ));
        assert!(matches!(
            p("/send/l/a/b"),
            Err(PathError::LaneTooDeep { .. })
        ));
        assert!(matches!(
            p("/approve/l/approved/a/b"),
            Err(PathError::LaneTooDeep { .. })
        ));
        // `..` never leaves the view for another one's files.
        assert_eq!(
            p("/send/l/../../receive/l").unwrap().to_string(),
            "/receive/l"
        );
    }

    #[test]
    fn realpath_stays_inside() {
        assert_eq!(normalize(b".").unwrap(), "/");
        assert_eq!(normalize(b"/inbox/..").unwrap(), "/");
        assert_eq!(normalize(b"inbox/a/../b").unwrap(), "/inbox/b");
        assert_eq!(normalize(b"/..").unwrap(), "/");
        assert_eq!(normalize(b"/inbox/../../etc").unwrap(), "/etc");
        assert!(NsPath::parse(normalize(b"/inbox/../../etc").unwrap().as_bytes(), 8).is_err());
    }
}
