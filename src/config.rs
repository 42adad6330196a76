//! Configuration: built-in defaults, then `config/default.toml` (relative to the working
//! directory, optional), then the file named by `LOGI_CONFIG`, then `LOGI_*` environment
//! variables. Validated once at start; an invalid value is reported with the key that holds it.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};

pub mod brand;

/// A secret string that never appears in `Debug` output or logs.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(<unset>)")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Public base URL of this server, e.g. `https://login.example.com`. Byte for byte the `iss`.
    pub issuer: String,
    /// `host:port` to listen on.
    pub bind: String,
    /// `sqlite://path` or `postgres://…`.
    pub database_url: String,
    /// Maximum pool size for PostgreSQL (SQLite always uses a single connection: one writer).
    pub database_max_connections: u32,
    /// Folder for the SQLite database and a generated master key.
    pub data_dir: PathBuf,
    /// Base64 (standard or URL-safe) of 32 random bytes. Encrypts private signing keys and keys
    /// the HMAC of stored secrets. Generated into `data_dir/master.key` when empty.
    pub master_key: Secret,
    pub access_token_ttl_seconds: u64,
    pub refresh_token_ttl_seconds: u64,
    /// Absolute lifetime of a refresh-token family (a grant), counted from the authorization:
    /// rotation never extends it.
    pub refresh_token_absolute_ttl_seconds: u64,
    pub authorization_code_ttl_seconds: u64,
    pub id_token_ttl_seconds: u64,
    pub session_ttl_seconds: u64,
    /// How long a new signing key is published before it signs (≥ the JWKS cache lifetime).
    pub key_activation_delay_seconds: u64,
    /// Automatic key rotation period; 0 turns automatic rotation off.
    pub key_rotation_period_seconds: u64,
    /// `Cache-Control: max-age` of the JWKS.
    pub jwks_max_age_seconds: u64,
    /// How often each process re-reads the key table to follow rotations.
    pub key_refresh_interval_seconds: u64,
    /// Lifetime of a device code (RFC 8628 `expires_in`).
    pub device_code_ttl_seconds: u64,
    /// Minimum polling interval for the device flow (RFC 8628 `interval`).
    pub device_poll_interval_seconds: u64,
    /// Require a server-provided nonce in every DPoP proof (RFC 9449 §8). Nonces are issued in
    /// `DPoP-Nonce` headers either way, and a proof that carries one must carry a valid one.
    pub dpop_nonce_required: bool,
    /// Failed logins in a row after which an account is locked.
    pub login_max_failures_per_account: u32,
    /// Failed logins from one client IP after which that IP is locked.
    pub login_max_failures_per_ip: u32,
    /// How long a lock lasts, and how long a run of failures is remembered.
    pub login_lockout_seconds: u64,
    /// Header holding the client IP when logi runs behind a reverse proxy (e.g.
    /// `x-forwarded-for`). Empty: the TCP peer address. The header counts only when the TCP peer
    /// is in `trusted_proxies`; the client is then the right-most address not in that list.
    pub client_ip_header: String,
    /// Reverse proxies whose `client_ip_header` is believed: IP addresses or CIDR blocks.
    pub trusted_proxies: Vec<String>,
    /// Signups accepted from one client IP per hour; 0 turns the limit off.
    pub signup_max_per_ip_per_hour: u32,
    /// Developer tokens minted (or attempted) from one client IP per hour; 0 turns it off.
    pub developer_tokens_max_per_ip_per_hour: u32,
    pub max_body_bytes: usize,
    pub request_timeout_seconds: u64,
    /// A connection that has not sent its complete request headers this long after it opened
    /// (or after its first byte of a new request) is closed.
    pub header_read_timeout_seconds: u64,
    /// An idle keep-alive connection is closed after this long.
    pub idle_timeout_seconds: u64,
    /// Concurrent connections; further ones wait in the listen backlog. 0: derived from the
    /// file-descriptor limit (`RLIMIT_NOFILE`) minus headroom for the database pool.
    pub max_connections: usize,
    /// On SIGTERM: how long in-flight requests may take before every connection is closed.
    pub shutdown_timeout_seconds: u64,
    /// PostgreSQL: how long a request waits for a pooled connection before answering 503.
    pub database_acquire_timeout_ms: u64,
    /// Serve `/metrics` to loopback peers (the TCP peer, never a forwarded address).
    pub metrics_allow_loopback: bool,
    /// Serve `/metrics` to anyone presenting `Authorization: Bearer <metrics_token>`. Empty: off.
    pub metrics_token: Secret,
    /// `pretty` or `json`.
    pub log_format: String,
    /// Outbound HTTP (a client's `jwks_uri`, back-channel logout): time to connect.
    pub outbound_connect_timeout_ms: u64,
    /// Outbound HTTP: time for a whole exchange, response body included.
    pub outbound_timeout_ms: u64,
    /// How often each process looks for due deliveries in the outbox (back-channel logout
    /// tokens); a delivery queued by this process is attempted at once.
    pub outbox_poll_interval_ms: u64,
    /// Attempts of one delivery before it is given up (and recorded as such).
    pub outbox_max_attempts: u32,
    /// The longest wait between two attempts (the wait doubles from 10 s up to this).
    pub outbox_max_backoff_seconds: u64,
    /// Where mail goes: `smtp://host:port` (plain), `smtp+starttls://user:pass@host:port`, or
    /// `smtps://user:pass@host:port` (TLS from the first byte). Empty: each mail is written as
    /// an `.eml` file into `data_dir/outbox/` and logged with its path (development).
    pub smtp_url: Secret,
    /// The `From` of every mail logi sends, e.g. `logi <noreply@login.example.com>`.
    pub mail_from: String,
    /// The product name the pages show (header, the end of every `<title>`).
    pub brand_name: String,
    /// A PNG or SVG file (at most 100 KiB) read once at start and shown in every page's header,
    /// served at `/assets/brand-logo`. Empty: the name, as text.
    pub brand_logo_path: String,
    /// `#rrggbb`: the light scheme's accent (buttons, links, focus rings), at least 4.5:1 against
    /// white; served as `/assets/brand.css`. Empty: logi's own colours.
    pub brand_accent: String,
}

/// How logi talks to its SMTP server (`smtp_url`, parsed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpSettings {
    pub security: SmtpSecurity,
    pub host: String,
    pub port: u16,
    /// User name and password, when the URL has them.
    pub credentials: Option<(String, Secret)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: no TLS (a local relay).
    Plain,
    /// `smtp+starttls://`: STARTTLS, required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Secret {}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: "http://127.0.0.1:8080".into(),
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/logi.db".into(),
            database_max_connections: 16,
            data_dir: PathBuf::from("data"),
            master_key: Secret::default(),
            access_token_ttl_seconds: 600,
            refresh_token_ttl_seconds: 30 * 24 * 3600,
            refresh_token_absolute_ttl_seconds: 365 * 24 * 3600,
            authorization_code_ttl_seconds: 60,
            id_token_ttl_seconds: 3600,
            session_ttl_seconds: 12 * 3600,
            key_activation_delay_seconds: 300,
            key_rotation_period_seconds: 90 * 24 * 3600,
            jwks_max_age_seconds: 300,
            key_refresh_interval_seconds: 2,
            device_code_ttl_seconds: 600,
            device_poll_interval_seconds: 5,
            dpop_nonce_required: false,
            login_max_failures_per_account: 10,
            login_max_failures_per_ip: 100,
            login_lockout_seconds: 300,
            client_ip_header: String::new(),
            trusted_proxies: Vec::new(),
            signup_max_per_ip_per_hour: 20,
            developer_tokens_max_per_ip_per_hour: 30,
            max_body_bytes: 64 * 1024,
            request_timeout_seconds: 30,
            header_read_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            max_connections: 0,
            shutdown_timeout_seconds: 30,
            database_acquire_timeout_ms: 1000,
            metrics_allow_loopback: true,
            metrics_token: Secret::default(),
            log_format: "pretty".into(),
            outbound_connect_timeout_ms: 2000,
            outbound_timeout_ms: 5000,
            outbox_poll_interval_ms: 5000,
            outbox_max_attempts: 10,
            outbox_max_backoff_seconds: 3600,
            smtp_url: Secret::default(),
            mail_from: "logi <noreply@localhost>".into(),
            brand_name: "logi".into(),
            brand_logo_path: String::new(),
            brand_accent: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

impl Config {
    /// Loads defaults < `config/default.toml` < `$LOGI_CONFIG` < `LOGI_*` variables.
    pub fn load() -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file("config/default.toml"));
        if let Ok(path) = std::env::var("LOGI_CONFIG") {
            if !std::path::Path::new(&path).is_file() {
                return Err(invalid("LOGI_CONFIG", format!("no such file: {path}")));
            }
            figment = figment.merge(Toml::file(path));
        }
        // Only configuration keys: other LOGI_* variables (LOGI_LOG, LOGI_USER_PASSWORD, …) belong
        // to other parts of logi and must not trip `deny_unknown_fields`.
        let keys: Vec<String> = match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        figment = figment.merge(Env::prefixed("LOGI_").filter(move |k| {
            keys.iter()
                .any(|known| k.as_str().eq_ignore_ascii_case(known))
        }));
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// `smtp_url`, parsed: `None` when it is empty (mail goes to `data_dir/outbox/`).
    pub fn smtp(&self) -> Result<Option<SmtpSettings>, ConfigError> {
        let raw = self.smtp_url.0.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        // Never echo the URL: it may hold a password.
        let url = url::Url::parse(raw)
            .map_err(|e| invalid("smtp_url", format!("not a valid URL ({e})")))?;
        let (security, default_port) = match url.scheme() {
            "smtp" => (SmtpSecurity::Plain, 25),
            "smtp+starttls" => (SmtpSecurity::StartTls, 587),
            "smtps" => (SmtpSecurity::Tls, 465),
            _ => {
                return Err(invalid(
                    "smtp_url",
                    "the scheme must be smtp://, smtp+starttls:// or smtps://",
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("smtp_url", "names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if (url.path() != "" && url.path() != "/")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(invalid(
                "smtp_url",
                "must be scheme://[user:password@]host[:port] with nothing after it",
            ));
        }
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| {
                invalid(
                    "smtp_url",
                    "user or password is not valid percent-encoded UTF-8",
                )
            })
        };
        let credentials = if url.username().is_empty() {
            if url.password().is_some() {
                return Err(invalid("smtp_url", "has a password but no user"));
            }
            None
        } else {
            let user = decode(url.username())?;
            let password = decode(url.password().unwrap_or_default())?;
            Some((user, Secret(password)))
        };
        if credentials.is_some()
            && security == SmtpSecurity::Plain
            && !is_loopback_host(url.host_str().unwrap_or_default())
        {
            return Err(invalid(
                "smtp_url",
                "would send the SMTP password in clear text: use smtp+starttls:// or smtps://",
            ));
        }
        Ok(Some(SmtpSettings {
            security,
            host,
            port: url.port().unwrap_or(default_port),
            credentials,
        }))
    }

    /// Checks the values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.smtp()?;
        let from = self.mail_from.trim();
        if from.is_empty()
            || from.parse::<lettre::message::Mailbox>().is_err()
            || from.chars().any(char::is_control)
        {
            return Err(invalid(
                "mail_from",
                "must be an address like `logi <noreply@login.example.com>`",
            ));
        }
        let issuer = url::Url::parse(&self.issuer).map_err(|e| invalid("issuer", e.to_string()))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(invalid("issuer", "must be an http(s) URL"));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(invalid(
                "issuer",
                "must not have a query or fragment (RFC 8414 §2)",
            ));
        }
        if self.issuer.ends_with('/') {
            return Err(invalid("issuer", "must not end with '/'"));
        }
        self.bind
            .parse::<SocketAddr>()
            .map_err(|e| invalid("bind", format!("expected host:port ({e})")))?;
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("postgres"))
        {
            return Err(invalid(
                "database_url",
                "must start with sqlite:// or postgres://",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(invalid("database_max_connections", "must be at least 1"));
        }
        for (key, value) in [
            ("access_token_ttl_seconds", self.access_token_ttl_seconds),
            ("refresh_token_ttl_seconds", self.refresh_token_ttl_seconds),
            (
                "refresh_token_absolute_ttl_seconds",
                self.refresh_token_absolute_ttl_seconds,
            ),
            (
                "authorization_code_ttl_seconds",
                self.authorization_code_ttl_seconds,
            ),
            ("id_token_ttl_seconds", self.id_token_ttl_seconds),
            ("session_ttl_seconds", self.session_ttl_seconds),
            ("login_lockout_seconds", self.login_lockout_seconds),
            ("request_timeout_seconds", self.request_timeout_seconds),
            (
                "key_refresh_interval_seconds",
                self.key_refresh_interval_seconds,
            ),
            ("device_code_ttl_seconds", self.device_code_ttl_seconds),
            (
                "device_poll_interval_seconds",
                self.device_poll_interval_seconds,
            ),
            ("jwks_max_age_seconds", self.jwks_max_age_seconds),
            (
                "header_read_timeout_seconds",
                self.header_read_timeout_seconds,
            ),
            ("idle_timeout_seconds", self.idle_timeout_seconds),
            ("shutdown_timeout_seconds", self.shutdown_timeout_seconds),
            (
                "database_acquire_timeout_ms",
                self.database_acquire_timeout_ms,
            ),
            (
                "outbound_connect_timeout_ms",
                self.outbound_connect_timeout_ms,
            ),
            ("outbound_timeout_ms", self.outbound_timeout_ms),
            ("outbox_poll_interval_ms", self.outbox_poll_interval_ms),
            (
                "outbox_max_backoff_seconds",
                self.outbox_max_backoff_seconds,
            ),
            ("outbox_max_attempts", u64::from(self.outbox_max_attempts)),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if self.login_max_failures_per_account == 0 || self.login_max_failures_per_account > 10 {
            return Err(invalid(
                "login_max_failures_per_account",
                "must be between 1 and 10",
            ));
        }
        if self.login_max_failures_per_ip == 0 {
            return Err(invalid("login_max_failures_per_ip", "must be at least 1"));
        }
        for entry in &self.trusted_proxies {
            if IpNet::parse(entry).is_none() {
                return Err(invalid(
                    "trusted_proxies",
                    format!("{entry:?} is not an IP address or CIDR block"),
                ));
            }
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        if !matches!(self.log_format.as_str(), "pretty" | "json") {
            return Err(invalid("log_format", "must be `pretty` or `json`"));
        }
        // Reads the logo too: an unreadable, oversized or unknown file stops logi here.
        brand::Brand::load(self)?;
        Ok(())
    }

    /// Valid but risky settings, for the log once logging is set up (`main` prints them after
    /// initialising tracing; `load` runs before it).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(issuer) = url::Url::parse(&self.issuer) {
            if issuer.scheme() == "http" && !is_loopback_host(issuer.host_str().unwrap_or_default())
            {
                out.push(format!(
                    "issuer {} is plain http: use https in production",
                    self.issuer
                ));
            }
        }
        if !self.client_ip_header.is_empty() && self.trusted_proxies.is_empty() {
            out.push(format!(
                "client_ip_header is {:?} but trusted_proxies is empty: the header is ignored and \
                 the TCP peer is the client IP",
                self.client_ip_header
            ));
        }
        if self.key_activation_delay_seconds < self.jwks_max_age_seconds {
            out.push(
                "key_activation_delay_seconds is shorter than jwks_max_age_seconds: relying \
                 parties with a cached JWKS may see tokens signed by a key they do not know yet"
                    .into(),
            );
        }
        out
    }

    /// Whether cookies must carry `Secure`.
    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// Whether `ip` is one of `trusted_proxies`.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .filter_map(|e| IpNet::parse(e))
            .any(|net| net.contains(ip))
    }
}

/// An IP address or CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Option<IpNet> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let addr = addr.to_canonical();
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
        };
        (prefix <= bits).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let mask = |bits: u32, width: u32| -> u128 {
            if bits == 0 {
                0
            } else {
                (u128::MAX << (width - bits)) & (u128::MAX >> (128 - width))
            }
        };
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = mask(self.prefix.into(), 32);
                (u128::from(u32::from(net)) & m) == (u128::from(u32::from(ip)) & m)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = mask(self.prefix.into(), 128);
                (u128::from(net) & m) == (u128::from(ip) & m)
            }
            _ => false,
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

#[cfg(test)]
mod tests;

/// Percent-decodes a URL's user or password.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
