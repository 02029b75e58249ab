//! The operator's inventory of a tenant (`renkei ctl ls`): everything it
//! has, files in every state, directories and partials, with no policy
//! and no visibility rule in between (the operator sees what is there).

use super::ops::EntryInfo;
use super::{Namespace, NsError};
use renkei_storage::journal::{self, BoxKind, EntryRecord};

/// One line of an operator's inventory of a tenant.
#[derive(Debug, Clone)]
pub struct InventoryItem {
    pub bx: BoxKind,
    /// Path inside the box.
    pub path: String,
    pub info: EntryInfo,
    /// Uploader (files) or owner (partials).
    pub by: Option<String>,
}

impl Namespace {
    /// Everything a tenant has, files, directories and partials, for the
    /// operator (`renkei ctl ls`); boxes in order, then paths.
    pub fn inventory(
        &self,
        tenant: &renkei_config::TenantCode,
        only: Option<BoxKind>,
    ) -> Result<Vec<InventoryItem>, NsError> {
        let mut items = Vec::new();
        for (key, entry) in self.journal.tenant_entries(tenant.as_str())? {
            let Some((_, bx, dir, name)) = journal::records::split_entry_key(&key) else {
                continue;
            };
            if only.is_some_and(|b| b != bx) {
                continue;
            }
            let path = if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            };
            let (info, by) = match entry {
                EntryRecord::Dir {
                    created,
                    created_by,
                } => (EntryInfo::dir(name, created.as_second()), Some(created_by)),
                EntryRecord::File { object } => match self.journal.object(&object)? {
                    Some(o) => (EntryInfo::file(name, &o), Some(o.uploaded_by.clone())),
                    None => continue,
                },
            };
            items.push(InventoryItem { bx, path, info, by });
        }
        for (_, p) in self
            .journal
            .partials(&journal::tenant_prefix(tenant.as_str()))?
        {
            if only.is_some_and(|b| b != p.bx) {
                continue;
            }
            let name = p.path.rsplit('/').next().unwrap_or(&p.path).to_string();
            items.push(InventoryItem {
                bx: p.bx,
                path: p.path.clone(),
                info: EntryInfo::partial(&name, &p),
                by: Some(p.account.clone()),
            });
        }
        items.sort_by(|a, b| (a.bx, &a.path).cmp(&(b.bx, &b.path)));
        Ok(items)
    }
}
