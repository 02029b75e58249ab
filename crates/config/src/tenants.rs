//! The municipalities (テナント) and their accounts, as the validated
//! configuration holds them.

use ipnet::IpNet;
use renkei_model::lgcode::TenantCode;

use crate::keys::AuthorizedKey;

/// One municipality.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub code: TenantCode,
    pub name: String,
    pub networks: Vec<IpNet>,
    pub accounts: Vec<Account>,
}

/// One SSH user of a tenant (one per municipal system).
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub keys: Vec<AuthorizedKey>,
    /// When set, replaces the tenant's networks for this account.
    pub networks: Option<Vec<IpNet>>,
    /// Its browser login (`web_password`, `web_totp`, `web_client_cert`).
    pub web: Option<crate::web::WebLogin>,
    /// Its FTPS login (`ftps_password`, `ftps_client_cert`).
    pub ftps: Option<crate::web::WebLogin>,
}

impl Account {
    pub fn effective_networks<'a>(&'a self, tenant: &'a Tenant) -> &'a [IpNet] {
        self.networks.as_deref().unwrap_or(&tenant.networks)
    }
}
