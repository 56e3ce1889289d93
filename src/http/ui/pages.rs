//! The pages of the admin UI: one askama template per page, rendered on the server. Values are
//! preformatted strings, so templates hold markup, not logic.

use std::borrow::Cow;

use askama::Template;

/// The header of every page: title, and the navigation when someone is signed in.
pub struct Chrome {
    /// The page title.
    pub title: String,
    /// Navigation, for signed-in pages.
    pub nav: Option<Nav>,
    /// What the form that led here did, shown as a status banner.
    pub flash: Option<Cow<'static, str>>,
}

impl Chrome {
    /// A page without navigation (signed out).
    pub fn plain(title: impl Into<String>) -> Self {
        Chrome {
            title: title.into(),
            nav: None,
            flash: None,
        }
    }

    /// With a status banner saying what was just done.
    pub fn with_flash(mut self, flash: Option<&'static str>) -> Self {
        self.flash = flash.map(Cow::Borrowed);
        self
    }

    /// With a status banner made for this answer (one that carries a count, say).
    pub fn with_flash_text(mut self, flash: Option<Cow<'static, str>>) -> Self {
        self.flash = flash;
        self
    }
}

/// The signed-in navigation bar.
#[derive(Clone)]
pub struct Nav {
    /// Who is signed in.
    pub username: String,
    /// The session's anti-CSRF token, for the sign-out form.
    pub csrf: String,
    /// Which entry is current: `instances`, `new`, `tenants`, `admins` or `audit`.
    pub active: &'static str,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "ui/login.html")]
pub struct LoginPage {
    /// Header.
    pub chrome: Chrome,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The username to refill.
    pub username: String,
    /// The pre-session anti-CSRF token (also in a cookie).
    pub csrf: String,
}

/// A row of the instance list.
pub struct InstanceRow {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// UI label of the type.
    pub type_label: &'static str,
    /// Username.
    pub username: String,
    /// Tenant name.
    pub tenant: String,
    /// Creation time.
    pub created: String,
    /// Password expiry.
    pub password_expiry: String,
    /// Active tokens.
    pub active_tokens: u64,
    /// Last use, or a dash.
    pub last_used: String,
    /// Whether disabled.
    pub disabled: bool,
}

/// Integrations › Instances.
#[derive(Template)]
#[template(path = "ui/instances.html")]
pub struct InstancesPage {
    /// Header.
    pub chrome: Chrome,
    /// One row per instance.
    pub rows: Vec<InstanceRow>,
}

/// Add Instance.
#[derive(Template)]
#[template(path = "ui/instance_new.html")]
pub struct NewInstancePage {
    /// Header.
    pub chrome: Chrome,
    /// Anti-CSRF token.
    pub csrf: String,
    /// (value, label) of each instance type.
    pub types: Vec<(&'static str, &'static str)>,
    /// (id, label) of each tenant.
    pub tenants: Vec<(i64, String)>,
}

/// One read-only, copyable field of a shown-once page.
pub struct CopyField {
    /// Element id.
    pub id: &'static str,
    /// Its label, exactly as SPEC words it.
    pub label: &'static str,
    /// The value.
    pub value: String,
}

/// The shown-once credentials of a new instance or a rotated password.
#[derive(Template)]
#[template(path = "ui/credentials.html")]
pub struct CredentialsPage {
    /// Header.
    pub chrome: Chrome,
    /// "Instance created" or "Password rotated".
    pub heading: &'static str,
    /// Instance id.
    pub instance_id: i64,
    /// Instance name.
    pub instance_name: String,
    /// Type label.
    pub type_label: &'static str,
    /// Tenant label.
    pub tenant_label: String,
    /// API Host URL, Authentication Host URL, UserName, Password.
    pub fields: Vec<CopyField>,
    /// Download name of the collection.
    pub collection_file: String,
    /// Download name of the environment.
    pub environment_file: String,
    /// The environment, with the password, as a `data:` URL: it exists only in this page.
    pub environment_data_url: String,
}

/// A row of an instance's token table.
pub struct TokenRow {
    /// Row id.
    pub id: i64,
    /// Prefix.
    pub prefix: String,
    /// Dialect.
    pub kind: &'static str,
    /// Issue time.
    pub created: String,
    /// Expiry.
    pub expires: String,
    /// Last use.
    pub last_used: String,
}

/// One instance with its tokens and actions.
#[derive(Template)]
#[template(path = "ui/instance.html")]
pub struct InstancePage {
    /// Header.
    pub chrome: Chrome,
    /// Anti-CSRF token.
    pub csrf: String,
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Type label.
    pub type_label: &'static str,
    /// Username.
    pub username: String,
    /// Tenant label.
    pub tenant_label: String,
    /// Creation time.
    pub created: String,
    /// Password expiry.
    pub password_expiry: String,
    /// Whether disabled.
    pub disabled: bool,
    /// Authentication Host URL.
    pub auth_host_url: String,
    /// API Host URL.
    pub api_host_url: String,
    /// Active tokens.
    pub tokens: Vec<TokenRow>,
    /// WebTag: the allowed origins, one per line (`None` for other types).
    pub origins: Option<String>,
    /// The registered private_key_jwt keys.
    pub client_keys: Vec<ClientKeyRow>,
    /// The registered JWK Set, pretty-printed, to edit (empty when none).
    pub client_jwks: String,
}

/// A registered private_key_jwt key on the instance page.
pub struct ClientKeyRow {
    /// `kid`, or a dash.
    pub kid: String,
    /// `EC`, `OKP` or `RSA`.
    pub kty: &'static str,
    /// The algorithms it verifies, space-separated.
    pub algorithms: String,
    /// RFC 7638 thumbprint.
    pub thumbprint: String,
}

/// A row of the tenant list.
pub struct TenantRow {
    /// tenantId.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Environment word.
    pub environment: &'static str,
    /// tenant_hash.
    pub tenant_hash: String,
    /// OAuth switch.
    pub oauth_enabled: bool,
    /// Its own OAuth token format (`opaque`, `jwt`), or `default`.
    pub token_format: &'static str,
}

/// Tenants.
#[derive(Template)]
#[template(path = "ui/tenants.html")]
pub struct TenantsPage {
    /// Header.
    pub chrome: Chrome,
    /// Anti-CSRF token.
    pub csrf: String,
    /// One row per tenant.
    pub rows: Vec<TenantRow>,
    /// The deployment's `oauth_token_format`, for the "default" choice's label.
    pub default_format: &'static str,
}

/// A tenant's identifiers and, shown once, its new `oauth_key_secret`.
#[derive(Template)]
#[template(path = "ui/secret.html")]
pub struct SecretPage {
    /// Header.
    pub chrome: Chrome,
    /// What happened.
    pub heading: String,
    /// tenantId.
    pub tenant_id: i64,
    /// tenant_hash.
    pub tenant_hash: String,
    /// The secret, when one was issued.
    pub oauth_key_secret: Option<String>,
}

/// A row of the audit log.
pub struct AuditRow {
    /// Time.
    pub at: String,
    /// Actor.
    pub actor: String,
    /// Action word.
    pub action: String,
    /// Tenant id or empty.
    pub tenant: String,
    /// Instance id or empty.
    pub instance: String,
    /// Source address or empty.
    pub source: String,
    /// Detail.
    pub detail: String,
}

/// The audit log with its filters.
#[derive(Template)]
#[template(path = "ui/audit.html")]
pub struct AuditPage {
    /// Header.
    pub chrome: Chrome,
    /// Every action word, for the filter.
    pub actions: Vec<&'static str>,
    /// The action filter in force.
    pub action: String,
    /// The actor filter in force.
    pub actor: String,
    /// The instance filter in force (an id or a username).
    pub instance: String,
    /// Set when the instance filter names no instance.
    pub unknown_instance: bool,
    /// Entries, newest first.
    pub rows: Vec<AuditRow>,
    /// Link to older entries.
    pub next_page: Option<String>,
}

/// An error, with a way back.
#[derive(Template)]
#[template(path = "ui/error.html")]
pub struct ErrorPage {
    /// Header.
    pub chrome: Chrome,
    /// Short heading.
    pub heading: String,
    /// What went wrong.
    pub message: String,
    /// Where to go back to.
    pub back: String,
}

/// A row of an administrator's API token table.
pub struct AdminTokenRow {
    /// Row id.
    pub id: i64,
    /// Issued.
    pub created: String,
    /// Expiry.
    pub expires: String,
    /// Last use, or a dash.
    pub last_used: String,
}

/// An administrator with its API tokens.
pub struct AdminRow {
    /// Sign-in name.
    pub username: String,
    /// Whether it may sign in and use its tokens.
    pub enabled: bool,
    /// Created.
    pub created: String,
    /// Whether this is the admin looking at the page.
    pub is_me: bool,
    /// Its live API tokens.
    pub tokens: Vec<AdminTokenRow>,
}

/// Administrators and their API tokens.
#[derive(Template)]
#[template(path = "ui/admins.html")]
pub struct AdminsPage {
    /// Header.
    pub chrome: Chrome,
    /// Anti-CSRF token.
    pub csrf: String,
    /// One row per admin.
    pub rows: Vec<AdminRow>,
}

/// An administrator's new password or API token, shown once.
#[derive(Template)]
#[template(path = "ui/admin_secret.html")]
pub struct AdminSecretPage {
    /// Header.
    pub chrome: Chrome,
    /// What happened.
    pub heading: String,
    /// The fields, copyable.
    pub fields: Vec<CopyField>,
}
