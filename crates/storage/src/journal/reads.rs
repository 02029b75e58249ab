//! Every read of the journal, written once over a [`Snapshot`]: a
//! consistent view of one engine's tables. An engine supplies snapshots
//! (`Engine::read`) and the blanket [`JournalStore`] implementation in
//! `store` answers the core's reads with these functions, so redb and
//! PostgreSQL answer every question the same way.

use super::handoff::{DeliveryRecord, ImportMark, delivery_key, route_prefix};
use super::records::{self, BanRecord, EntryRecord, ObjectRecord, PartialRecord, tenant_prefix};
use super::tables::{StoreError, Table, decode};

/// A consistent view of the journal's tables.
pub trait Snapshot {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every record whose key starts with `prefix`, in key order.
    fn scan(&mut self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Several records at once (an engine across a network answers in
    /// one round trip).
    fn get_many(
        &mut self,
        table: Table,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(table, k)).collect()
    }
    /// The notes not yet dropped, in sequence order.
    fn notes(&mut self) -> Result<Vec<(u64, String)>, StoreError>;
    fn last_note(&mut self) -> Result<Option<u64>, StoreError>;
}

fn get<T: serde::de::DeserializeOwned>(
    s: &mut dyn Snapshot,
    table: Table,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match s.get(table, key)? {
        None => Ok(None),
        Some(v) => decode(table, key, &v).map(Some),
    }
}

fn scan<T: serde::de::DeserializeOwned>(
    s: &mut dyn Snapshot,
    table: Table,
    prefix: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    s.scan(table, prefix)?
        .into_iter()
        .map(|(k, v)| decode(table, &k, &v).map(|r| (k, r)))
        .collect()
}

pub fn meta(s: &mut dyn Snapshot, key: &str) -> Result<Option<String>, StoreError> {
    match s.get(Table::Meta, key)? {
        None => Ok(None),
        Some(v) => String::from_utf8(v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("journal meta {key:?} is unreadable: {e}"))),
    }
}

pub fn entry(s: &mut dyn Snapshot, key: &str) -> Result<Option<EntryRecord>, StoreError> {
    get(s, Table::Entries, key)
}

pub fn list(s: &mut dyn Snapshot, prefix: &str) -> Result<Vec<(String, EntryRecord)>, StoreError> {
    scan(s, Table::Entries, prefix)
}

/// A directory's entries with the objects of its files.
#[allow(clippy::type_complexity)]
pub fn list_resolved(
    s: &mut dyn Snapshot,
    prefix: &str,
) -> Result<Vec<(String, EntryRecord, Option<ObjectRecord>)>, StoreError> {
    let entries: Vec<(String, EntryRecord)> = scan(s, Table::Entries, prefix)?;
    let ids: Vec<String> = entries
        .iter()
        .filter_map(|(_, e)| match e {
            EntryRecord::File { object } => Some(object.clone()),
            EntryRecord::Dir { .. } => None,
        })
        .collect();
    let mut objects = s.get_many(Table::Objects, &ids)?.into_iter().zip(&ids);
    let mut out = Vec::with_capacity(entries.len());
    for (key, entry) in entries {
        let object = match &entry {
            EntryRecord::File { .. } => match objects.next() {
                Some((Some(bytes), id)) => Some(decode(Table::Objects, id, &bytes)?),
                _ => None,
            },
            EntryRecord::Dir { .. } => None,
        };
        out.push((records::name_of_key(&key).to_string(), entry, object));
    }
    Ok(out)
}

pub fn object(s: &mut dyn Snapshot, id: &str) -> Result<Option<ObjectRecord>, StoreError> {
    get(s, Table::Objects, id)
}

pub fn objects(s: &mut dyn Snapshot) -> Result<Vec<ObjectRecord>, StoreError> {
    Ok(scan(s, Table::Objects, "")?
        .into_iter()
        .map(|(_, o)| o)
        .collect())
}

pub fn partial(s: &mut dyn Snapshot, key: &str) -> Result<Option<PartialRecord>, StoreError> {
    get(s, Table::Partials, key)
}

pub fn partials(
    s: &mut dyn Snapshot,
    prefix: &str,
) -> Result<Vec<(String, PartialRecord)>, StoreError> {
    scan(s, Table::Partials, prefix)
}

pub fn bans(s: &mut dyn Snapshot) -> Result<Vec<BanRecord>, StoreError> {
    Ok(scan(s, Table::Bans, "")?
        .into_iter()
        .map(|(_, b)| b)
        .collect())
}

pub fn tenant_entries(
    s: &mut dyn Snapshot,
    tenant: &str,
) -> Result<Vec<(String, EntryRecord)>, StoreError> {
    scan(s, Table::Entries, &tenant_prefix(tenant))
}

pub fn delivery(
    s: &mut dyn Snapshot,
    route: &str,
    object: &str,
) -> Result<Option<DeliveryRecord>, StoreError> {
    get(s, Table::Deliveries, &delivery_key(route, object))
}

/// Every delivery record of a route (`""` for all routes).
pub fn deliveries(s: &mut dyn Snapshot, route: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
    let prefix = if route.is_empty() {
        String::new()
    } else {
        route_prefix(route)
    };
    Ok(scan(s, Table::Deliveries, &prefix)?
        .into_iter()
        .map(|(_, d)| d)
        .collect())
}

/// Every delivery record of `tenant`'s files (all routes), through the
/// by-tenant index.
pub fn deliveries_of(
    s: &mut dyn Snapshot,
    tenant: &str,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let prefix = format!("{tenant}\0");
    let keys: Vec<String> = s
        .scan(Table::ByTenant, &prefix)?
        .into_iter()
        .filter_map(|(k, _)| {
            let mut parts = k.splitn(3, '\0').skip(1);
            match (parts.next(), parts.next()) {
                (Some(route), Some(object)) => Some(delivery_key(route, object)),
                _ => None,
            }
        })
        .collect();
    let mut out = Vec::with_capacity(keys.len());
    for (key, bytes) in keys.iter().zip(s.get_many(Table::Deliveries, &keys)?) {
        if let Some(bytes) = bytes {
            out.push(decode(Table::Deliveries, key, &bytes)?);
        }
    }
    Ok(out)
}

pub fn import_mark(s: &mut dyn Snapshot, key: &str) -> Result<Option<ImportMark>, StoreError> {
    get(s, Table::Imports, key)
}

/// Whether any of `routes` has a delivery record of `object`.
pub fn has_deliveries(
    s: &mut dyn Snapshot,
    routes: &[String],
    object: &str,
) -> Result<bool, StoreError> {
    let keys: Vec<String> = routes.iter().map(|r| delivery_key(r, object)).collect();
    Ok(s.get_many(Table::Deliveries, &keys)?
        .iter()
        .any(Option::is_some))
}
