//! Who may do what in a tenant's namespace.
//!
//! Every namespace operation asks [`check`] first; nothing is allowed that
//! a rule does not allow (default deny). Today the rules are the built-in
//! baseline: an account uses its own tenant's inbox (everything) and outbox
//! (list, download, delete = acknowledge); the operator, through the
//! control socket, may place files in either box. Rule files that refine
//! this per tenant, account, network, name pattern and time are a later
//! step; they will plug in here without the callers changing.

use crate::journal::BoxKind;

/// What a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An SSH account of a tenant.
    Account,
    /// The operator, via `renkei ctl`.
    Operator,
}

/// The operations a rule can allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    List,
    Read,
    Upload,
    Delete,
    Rename,
    Mkdir,
    Rmdir,
    SetAttr,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Read => "read",
            Operation::Upload => "upload",
            Operation::Delete => "delete",
            Operation::Rename => "rename",
            Operation::Mkdir => "mkdir",
            Operation::Rmdir => "rmdir",
            Operation::SetAttr => "setstat",
        }
    }
}

/// A refusal, with the reason the client is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// Decides one operation on `bx` (`None` = the namespace root).
pub fn check(role: Role, op: Operation, bx: Option<BoxKind>) -> Result<(), Denied> {
    use Operation::*;
    match (role, bx, op) {
        (Role::Operator, _, _) => Ok(()),
        (Role::Account, None, List | Read) => Ok(()),
        (Role::Account, None, _) => Err(Denied(
            "the top level holds only /inbox and /outbox; nothing can be changed there".into(),
        )),
        (Role::Account, Some(BoxKind::Inbox), _) => Ok(()),
        (Role::Account, Some(BoxKind::Outbox), List | Read | Delete) => Ok(()),
        (Role::Account, Some(BoxKind::Outbox), _) => Err(Denied(format!(
            "/outbox is filled by the standard system: files there can be downloaded and deleted (acknowledged), not {}",
            match op {
                Upload => "uploaded",
                Rename => "renamed",
                Mkdir | Rmdir => "created or removed as directories",
                _ => "changed",
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline() {
        assert!(check(Role::Account, Operation::Upload, Some(BoxKind::Inbox)).is_ok());
        assert!(check(Role::Account, Operation::Delete, Some(BoxKind::Outbox)).is_ok());
        let Denied(why) =
            check(Role::Account, Operation::Upload, Some(BoxKind::Outbox)).unwrap_err();
        assert!(why.contains("not uploaded"), "{why}");
        assert!(check(Role::Account, Operation::Mkdir, None).is_err());
        assert!(check(Role::Operator, Operation::Upload, Some(BoxKind::Outbox)).is_ok());
    }
}
