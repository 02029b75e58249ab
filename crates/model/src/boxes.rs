//! The two boxes every tenant has: the vocabulary the configuration,
//! the journal and the core all speak, so it lives below all of them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The two boxes of every tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxKind {
    /// Files going up to the standard system.
    Inbox,
    /// Files coming down from the standard system.
    Outbox,
}

impl BoxKind {
    pub const ALL: [BoxKind; 2] = [BoxKind::Inbox, BoxKind::Outbox];

    pub fn name(self) -> &'static str {
        match self {
            BoxKind::Inbox => "inbox",
            BoxKind::Outbox => "outbox",
        }
    }

    pub fn parse(s: &str) -> Option<BoxKind> {
        match s {
            "inbox" => Some(BoxKind::Inbox),
            "outbox" => Some(BoxKind::Outbox),
            _ => None,
        }
    }
}

impl fmt::Display for BoxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
