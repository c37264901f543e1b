//! Typed configuration, read once at start from the environment and flags.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

/// Where the database is and how it is reached: the options of every command that opens it.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database: `sqlite://FILE?mode=rwc` (default, in the working directory) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://partnergraph.db?mode=rwc")]
    pub database_url: String,
    /// Database pool size (SQLite and PostgreSQL).
    #[arg(long, env = "PARTNERGRAPH_DB_POOL", default_value_t = 10)]
    pub db_pool: u32,
    /// Milliseconds a request waits for a database connection before it fails (also how long start-up
    /// tries to reach the database).
    #[arg(long, env = "PARTNERGRAPH_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 2000)]
    pub db_acquire_timeout_ms: u64,
}

/// Everything the server can be told. Each field is also an environment variable. Commands other than
/// `serve` take only `DatabaseArgs` as flags and read the rest from the environment.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "PARTNERGRAPH_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// `development` or `production`.
    #[arg(long = "env", env = "PARTNERGRAPH_ENV", value_enum, default_value = "development")]
    pub environment: Environment,
    /// HS256 secret for tokens (at least 32 bytes). Required in production.
    #[arg(long, env = "PARTNERGRAPH_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Expected and issued `iss` claim.
    #[arg(long, env = "PARTNERGRAPH_JWT_ISSUER", default_value = "partnergraph")]
    pub jwt_issuer: String,
    /// Expected and issued `aud` claim.
    #[arg(long, env = "PARTNERGRAPH_JWT_AUDIENCE", default_value = "partnergraph")]
    pub jwt_audience: String,
    /// Token lifetime in seconds.
    #[arg(long, env = "PARTNERGRAPH_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// Invitation lifetime in days.
    #[arg(long, env = "PARTNERGRAPH_INVITATION_TTL_DAYS", default_value_t = 7)]
    pub invitation_ttl_days: u32,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "PARTNERGRAPH_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Largest query depth.
    #[arg(long, env = "PARTNERGRAPH_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,
    /// Largest query complexity (a list field costs `first` × its children).
    #[arg(long, env = "PARTNERGRAPH_MAX_COMPLEXITY", default_value_t = 5000)]
    pub max_complexity: usize,
    /// Most aliases in one request (`__typename` included).
    #[arg(long, env = "PARTNERGRAPH_MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: usize,
    /// Most root fields in one operation (`__typename` included).
    #[arg(long, env = "PARTNERGRAPH_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,
    /// Most directives in one request.
    #[arg(long, env = "PARTNERGRAPH_MAX_DIRECTIVES", default_value_t = 30)]
    pub max_directives: usize,
    /// Deepest bracket nesting (`{`, `[`, `(`) in a query's text, checked before it is parsed (1–128).
    #[arg(long, env = "PARTNERGRAPH_MAX_NESTING", default_value_t = 32)]
    pub max_nesting: usize,
    /// Deepest nesting of lists and objects in a request's `variables` (1–100).
    #[arg(long, env = "PARTNERGRAPH_MAX_VARIABLES_DEPTH", default_value_t = 32)]
    pub max_variables_depth: usize,
    /// Largest document after fragment expansion: fields, fragment spreads, inline fragments, argument
    /// values and variable definitions, over every operation and fragment.
    #[arg(long, env = "PARTNERGRAPH_MAX_EXPANDED_FIELDS", default_value_t = 5000)]
    pub max_expanded_fields: usize,
    /// Seconds a GraphQL request may run before it is stopped with `REQUEST_TIMEOUT`.
    #[arg(long, env = "PARTNERGRAPH_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Threads that hash passwords, each with its own argon2 memory (default: the number of CPUs, 1–64).
    #[arg(long, env = "PARTNERGRAPH_HASH_THREADS")]
    pub hash_threads: Option<usize>,
    /// Milliseconds a request waits for a free hashing thread before `TOO_MANY_ATTEMPTS` / `BUSY`.
    #[arg(long, env = "PARTNERGRAPH_HASH_WAIT_MS", default_value_t = 5000)]
    pub hash_wait_ms: u64,
    /// Requests per second per client (user, or address when anonymous); 0 turns the limit off.
    #[arg(long, env = "PARTNERGRAPH_RATE_LIMIT", default_value_t = 50)]
    pub rate_limit: u32,
    /// How many requests a client may send at once above the rate.
    #[arg(long, env = "PARTNERGRAPH_RATE_BURST", default_value_t = 100)]
    pub rate_burst: u32,
    /// Log format: `json` (default in production) or `text`.
    #[arg(long, env = "PARTNERGRAPH_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Serve introspection and field suggestions (default: on in development, off in production).
    #[arg(long, env = "PARTNERGRAPH_INTROSPECTION")]
    pub introspection: Option<bool>,
    /// Serve GraphiQL at `/` (default: on in development, off in production).
    #[arg(long, env = "PARTNERGRAPH_GRAPHIQL")]
    pub graphiql: Option<bool>,
    /// Argon2id memory cost in KiB.
    #[arg(long, env = "PARTNERGRAPH_ARGON2_MEMORY_KIB", default_value_t = 19 * 1024)]
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    #[arg(long, env = "PARTNERGRAPH_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Seconds a WebSocket client has to send `connection_init` before it is closed (4408).
    #[arg(long, env = "PARTNERGRAPH_WS_INIT_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_init_timeout_secs: u64,
    /// Largest WebSocket message in bytes.
    #[arg(long, env = "PARTNERGRAPH_WS_MAX_MESSAGE", default_value_t = 64 * 1024)]
    pub ws_max_message: usize,
    /// Most operations one WebSocket connection may run at once.
    #[arg(long, env = "PARTNERGRAPH_WS_MAX_OPERATIONS", default_value_t = 16)]
    pub ws_max_operations: usize,
    /// Seconds between re-checks of a WebSocket connection's token and membership (4403 when gone).
    #[arg(long, env = "PARTNERGRAPH_WS_RECHECK_SECS", default_value_t = 60)]
    pub ws_recheck_secs: u64,
    /// SMTP server for outgoing e-mail, e.g. `smtp://user:pass@host:587?tls=required`; unset: e-mails
    /// are written to the log instead of sent.
    #[arg(long, env = "PARTNERGRAPH_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of outgoing e-mail, e.g. `Partner Program <noreply@example.com>`.
    #[arg(long, env = "PARTNERGRAPH_MAIL_FROM", default_value = "partnergraph <noreply@partnergraph.local>")]
    pub mail_from: String,
    /// E-mails the outbox sender hands to the SMTP server at once (1 to 256).
    #[arg(long, env = "PARTNERGRAPH_SMTP_CONCURRENCY", default_value_t = 16)]
    pub smtp_concurrency: usize,
    /// SMTP connections kept open for reuse (1 to 512, at least the concurrency; default: twice the
    /// concurrency).
    #[arg(long, env = "PARTNERGRAPH_SMTP_POOL")]
    pub smtp_pool: Option<usize>,
    /// The public base URL that links in e-mails start with (the frontend that accepts invitations).
    #[arg(long, env = "PARTNERGRAPH_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// The program whose lead pool assigns self-registered clients that name none.
    #[arg(long, env = "PARTNERGRAPH_LEAD_PROGRAM", default_value = "1C-FRESH")]
    pub lead_program: String,
    /// The time zone whose midnight starts a day (the Monday digest, contract end dates, lead-pool
    /// windows): an IANA name. An unknown name refuses to start.
    #[arg(long, env = "PARTNERGRAPH_TIMEZONE", default_value = "Europe/Moscow")]
    pub timezone: String,
    /// Paying clients a partner needs to be listed in the public partner directory.
    #[arg(long, env = "PARTNERGRAPH_DIRECTORY_MIN_CLIENTS", default_value_t = 10)]
    pub directory_min_clients: u32,
    /// Days a support code can be activated after it is issued.
    #[arg(long, env = "PARTNERGRAPH_SUPPORT_CODE_DAYS", default_value_t = 7)]
    pub support_code_days: u32,
    /// Seconds the answer of a mutation sent with an `Idempotency-Key` is kept for its repeats (1 s to 30
    /// days).
    #[arg(long, env = "PARTNERGRAPH_IDEMPOTENCY_TTL_SECS", default_value_t = 86_400)]
    pub idempotency_ttl_secs: u64,
    /// Seconds between scheduler passes (tasks, the Monday digest, sending e-mail); 0 turns it off.
    #[arg(long, env = "PARTNERGRAPH_SCHEDULER_SECS", default_value_t = 60)]
    pub scheduler_secs: u64,
    /// Seconds a stored ranking of an open quarter is served before a request computes it again (the
    /// scheduler refreshes it at half this age, so requests normally never compute); 60 to 86400.
    #[arg(long, env = "PARTNERGRAPH_RANKING_MAX_AGE_SECS", default_value_t = 600)]
    pub ranking_max_age_secs: u64,
    /// Days a sent (or cancelled) e-mail of the outbox is kept before the scheduler deletes it; 1 to 3650.
    #[arg(long, env = "PARTNERGRAPH_OUTBOX_RETENTION_DAYS", default_value_t = 30)]
    pub outbox_retention_days: u32,
    /// Whole calendar months (UTC) of audit entries kept before the current one; older entries are deleted
    /// by the scheduler (old monthly partitions dropped on PostgreSQL). Unset: kept forever; 1 to 1200.
    #[arg(long, env = "PARTNERGRAPH_AUDIT_RETENTION_MONTHS")]
    pub audit_retention_months: Option<u32>,
    /// Milliseconds a membership check at the edge is reused on this replica (dropped at once by any
    /// write this replica commits); 0 checks the database on every request.
    #[arg(long, env = "PARTNERGRAPH_AUTH_CACHE_MS", default_value_t = 1000)]
    pub auth_cache_ms: u64,
    /// Allow webhook endpoints on `http://` and on private, loopback or link-local addresses (default:
    /// true in development, false in production).
    #[arg(long, env = "PARTNERGRAPH_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: Option<bool>,
    /// The waits before each webhook retry, a comma list of seconds (default 5,300,1800,7200,18000,36000).
    #[arg(long, env = "PARTNERGRAPH_WEBHOOK_RETRY_SECS")]
    pub webhook_retry_secs: Option<String>,
    /// Webhook attempts this process runs at once; 0: this process sends no webhooks (others may).
    #[arg(long, env = "PARTNERGRAPH_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: usize,
    /// Webhook attempts to one endpoint this process runs at once.
    #[arg(long, env = "PARTNERGRAPH_WEBHOOK_PER_ENDPOINT", default_value_t = 2)]
    pub webhook_per_endpoint: usize,
    /// The key that encrypts webhook signing secrets at rest (at least 32 bytes; default: derived from
    /// the JWT secret, so changing that secret makes stored webhook secrets unreadable).
    #[arg(long, env = "PARTNERGRAPH_WEBHOOK_KEY", hide_env_values = true)]
    pub webhook_key: Option<String>,
    /// Seconds between SIGTERM and closing the listener, while `/readyz` already answers 503 and requests
    /// are still served, so a load balancer takes the replica out first (default: 5 in production, 0 in
    /// development).
    #[arg(long, env = "PARTNERGRAPH_DRAIN_SECS")]
    pub drain_secs: Option<u64>,
    /// Comma-separated addresses or CIDR blocks of the reverse proxies in front of the service (e.g.
    /// `127.0.0.1,10.0.0.0/8`). Only a request whose TCP peer is one of them has its client address taken
    /// from the proxy header; empty: the TCP peer is the client.
    #[arg(long, env = "PARTNERGRAPH_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <this token>` (at least 16
    /// bytes); unset: `/metrics` is open (expose it to the monitoring network only).
    #[arg(long, env = "PARTNERGRAPH_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The header the trusted proxies append the client address to: `x-forwarded-for` or `forwarded`.
    #[arg(long, env = "PARTNERGRAPH_PROXY_HEADER", value_enum, default_value = "x-forwarded-for")]
    pub proxy_header: crate::client_addr::ProxyHeader,
}

/// The largest bracket nesting that may be configured: async-graphql's parser recurses a few frames per
/// level (`a_query_nested_to_the_largest_configurable_depth_is_refused_not_crashed` sends this deep).
pub const MAX_NESTING: usize = 128;

fn at_least(name: &str, value: u64, min: u64) -> Result<u64, String> {
    if value >= min { Ok(value) } else { Err(format!("{name} must be at least {min}, not {value}")) }
}

fn in_range(name: &str, value: usize, min: usize, max: usize) -> Result<usize, String> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{name} must be between {min} and {max}, not {value}"))
    }
}

/// The development secret: only ever used when `PARTNERGRAPH_ENV=development` and no secret is set.
const DEVELOPMENT_SECRET: &str = "partnergraph-development-secret-not-for-production";

/// A secret read from the configuration: its `Debug` never shows it (the configuration is logged and
/// printed in panics and test failures). `expose` is the one way to the bytes.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The webhook-secret key reads as the 32 bytes it wraps, so the webhook services pass `&config.webhook.key`
/// as before.
impl std::ops::Deref for Secret<[u8; 32]> {
    type Target = [u8; 32];
    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Validated configuration, in sections, read once at start.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub environment: Environment,
    /// The listener, the edge and what it serves.
    pub http: HttpConfig,
    /// Tokens.
    pub jwt: JwtConfig,
    /// The shape and cost of one GraphQL request.
    pub limits: LimitsConfig,
    /// `/graphql/ws`.
    pub ws: WsConfig,
    /// The database pool.
    pub db: DbConfig,
    /// Password hashing.
    pub hash: HashConfig,
    /// The product rules' settings.
    pub rules: RulesConfig,
    /// Outgoing e-mail.
    pub mail: MailConfig,
    /// Outgoing webhooks.
    pub webhook: WebhookConfig,
    /// The scheduler and the retention of what it deletes.
    pub scheduler: SchedulerConfig,
    pub json_logs: bool,
}

#[derive(Debug, Clone)]
pub struct DbConfig {
    pub pool: u32,
    /// How long a request waits for a database connection.
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct HashConfig {
    pub threads: usize,
    /// How long a request waits for a hashing thread.
    pub wait: Duration,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
}

#[derive(Debug, Clone)]
pub struct RulesConfig {
    pub invitation_ttl_days: u32,
    /// The program whose lead pool assigns self-registered clients that name none.
    pub lead_program: String,
    /// Where days begin.
    pub local: crate::domain::LocalTime,
    pub directory_min_clients: u32,
    pub support_code_days: u32,
    /// How old a stored ranking of an open quarter may be when a request reads it.
    pub ranking_max_age: Duration,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// None: the log sender. The URL may carry the SMTP password.
    pub smtp_url: Option<secrecy::SecretString>,
    pub from: String,
    /// E-mails sent at once by the outbox sender.
    pub smtp_concurrency: usize,
    /// SMTP connections kept for reuse (at least `smtp_concurrency`).
    pub smtp_pool: usize,
    /// Where links in e-mails start; without a trailing slash.
    pub public_url: String,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `http://` and private destinations allowed.
    pub allow_private: bool,
    /// The waits before each retry; after the last, `FAILED`.
    pub retry: Vec<Duration>,
    /// Attempts at once in this process (0: no sender).
    pub concurrency: usize,
    pub per_endpoint: usize,
    /// The 32-byte key of the webhook secrets' encryption.
    pub key: Secret<[u8; 32]>,
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// None: the scheduler does not run.
    pub interval: Option<Duration>,
    /// How long sent and cancelled e-mails are kept.
    pub outbox_retention_days: u32,
    /// Whole months of audit entries kept before the current month; None keeps them forever.
    pub audit_retention_months: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    pub body_limit: usize,
    pub introspection: bool,
    pub graphiql: bool,
    /// Between SIGTERM (readiness off) and closing the listener.
    pub drain: Duration,
    /// Where client addresses come from (the rate limit's key for anonymous callers).
    pub client_addr: crate::client_addr::ClientAddr,
    /// Requests per second per client; 0: no limit.
    pub rate_limit: u32,
    pub rate_burst: u32,
    /// None: `/metrics` is open.
    pub metrics_token: Option<secrecy::SecretString>,
    /// How long a membership check at the edge is reused.
    pub auth_cache_ttl: Duration,
    /// How long an `Idempotency-Key`'s answer is kept.
    pub idempotency_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub secret: secrecy::SecretString,
    pub issuer: String,
    pub audience: String,
    pub token_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_page_size: u64,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_directives: usize,
    pub max_nesting: usize,
    pub max_variables_depth: usize,
    pub max_expanded_fields: usize,
    /// How long a GraphQL request may run.
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct WsConfig {
    /// How long a client may take to send `connection_init`.
    pub init_timeout: Duration,
    pub max_message: usize,
    pub max_operations: usize,
    /// How often a connection's token and membership are checked again.
    pub recheck: Duration,
}

impl ConfigArgs {
    /// Every value checked once, here: a value outside its range refuses to start with a message naming
    /// its variable; nothing is clamped.
    pub fn into_config(self) -> Result<Config, String> {
        let production = self.environment == Environment::Production;
        let jwt_secret = match (self.jwt_secret, production) {
            (Some(s), _) if s.len() >= 32 => s,
            (Some(_), _) => return Err("PARTNERGRAPH_JWT_SECRET must be at least 32 bytes".into()),
            (None, true) => return Err("production mode needs PARTNERGRAPH_JWT_SECRET".into()),
            (None, false) => DEVELOPMENT_SECRET.to_owned(),
        };
        let webhook_key = match &self.webhook_key {
            Some(k) if k.len() >= 32 => derive_key(k.as_bytes()),
            Some(_) => return Err("PARTNERGRAPH_WEBHOOK_KEY must be at least 32 bytes".into()),
            None => derive_key(jwt_secret.as_bytes()),
        };
        let metrics_token = match self.metrics_token {
            Some(t) if t.len() >= 16 && t.bytes().all(|b| b.is_ascii_graphic()) => Some(t.into()),
            Some(_) => {
                return Err("PARTNERGRAPH_METRICS_TOKEN must be at least 16 visible ASCII characters".into());
            }
            None => None,
        };
        let webhook_retry = match &self.webhook_retry_secs {
            Some(raw) => crate::domain::webhook::parse_retry_schedule(raw)?,
            None => crate::domain::webhook::default_retry_schedule(),
        };
        at_least("PARTNERGRAPH_TOKEN_TTL_SECS", self.token_ttl_secs, 1)?;
        at_least("PARTNERGRAPH_INVITATION_TTL_DAYS", u64::from(self.invitation_ttl_days), 1)?;
        let client_addr = crate::client_addr::ClientAddr::new(&self.trusted_proxies, self.proxy_header)
            .map_err(|e| format!("PARTNERGRAPH_TRUSTED_PROXIES: {e}"))?;
        in_range("PARTNERGRAPH_MAX_NESTING", self.max_nesting, 1, MAX_NESTING)?;
        in_range("PARTNERGRAPH_MAX_VARIABLES_DEPTH", self.max_variables_depth, 1, 100)?;
        in_range("PARTNERGRAPH_MAX_EXPANDED_FIELDS", self.max_expanded_fields, 1, 1_000_000)?;
        in_range("PARTNERGRAPH_REQUEST_TIMEOUT_SECS", self.request_timeout_secs as usize, 1, 3600)?;
        let hash_threads = match self.hash_threads {
            Some(n) => in_range("PARTNERGRAPH_HASH_THREADS", n, 1, 64)?,
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(64),
        };
        in_range("PARTNERGRAPH_HASH_WAIT_MS", self.hash_wait_ms as usize, 1, 600_000)?;
        in_range("PARTNERGRAPH_IDEMPOTENCY_TTL_SECS", self.idempotency_ttl_secs as usize, 1, 30 * 86_400)?;
        in_range("PARTNERGRAPH_RANKING_MAX_AGE_SECS", self.ranking_max_age_secs as usize, 60, 86_400)?;
        in_range("PARTNERGRAPH_OUTBOX_RETENTION_DAYS", self.outbox_retention_days as usize, 1, 3650)?;
        if let Some(months) = self.audit_retention_months {
            in_range("PARTNERGRAPH_AUDIT_RETENTION_MONTHS", months as usize, 1, 1200)?;
        }
        // These were clamped into range before; a value outside it is now refused.
        at_least("PARTNERGRAPH_RATE_BURST", u64::from(self.rate_burst), 1)?;
        at_least("PARTNERGRAPH_DB_POOL", u64::from(self.database.db_pool), 1)?;
        at_least("PARTNERGRAPH_WS_INIT_TIMEOUT_SECS", self.ws_init_timeout_secs, 1)?;
        in_range("PARTNERGRAPH_WS_MAX_MESSAGE", self.ws_max_message, 1024, 64 * 1024 * 1024)?;
        at_least("PARTNERGRAPH_WS_MAX_OPERATIONS", self.ws_max_operations as u64, 1)?;
        at_least("PARTNERGRAPH_WS_RECHECK_SECS", self.ws_recheck_secs, 1)?;
        at_least("PARTNERGRAPH_SUPPORT_CODE_DAYS", u64::from(self.support_code_days), 1)?;
        in_range("PARTNERGRAPH_AUTH_CACHE_MS", self.auth_cache_ms as usize, 0, 60_000)?;
        in_range("PARTNERGRAPH_DB_ACQUIRE_TIMEOUT_MS", self.database.db_acquire_timeout_ms as usize, 100, 60_000)?;
        if let Some(drain) = self.drain_secs {
            in_range("PARTNERGRAPH_DRAIN_SECS", drain as usize, 0, 600)?;
        }
        in_range("PARTNERGRAPH_WEBHOOK_CONCURRENCY", self.webhook_concurrency, 0, 256)?;
        in_range("PARTNERGRAPH_WEBHOOK_PER_ENDPOINT", self.webhook_per_endpoint, 1, 64)?;
        let smtp_url = self.smtp_url.filter(|u| !u.trim().is_empty()).map(Into::into);
        let smtp_concurrency = in_range("PARTNERGRAPH_SMTP_CONCURRENCY", self.smtp_concurrency, 1, 256)?;
        // Fewer pooled connections than sends at once would open and close a connection for every send
        // past the pool (lettre drops a returned connection when its pool is full). Lettre returns a
        // connection to its pool on a task of its own, so the next send often finds the pool empty and
        // opens one: with no spare room those were closed again (a new connection every ten messages at
        // 16 at once); with twice the room they stay, and a drain keeps its connections.
        let smtp_pool = in_range("PARTNERGRAPH_SMTP_POOL", self.smtp_pool.unwrap_or(2 * smtp_concurrency), 1, 512)?;
        if smtp_pool < smtp_concurrency {
            return Err(format!(
                "PARTNERGRAPH_SMTP_POOL must be at least PARTNERGRAPH_SMTP_CONCURRENCY ({smtp_concurrency}), not {smtp_pool}"
            ));
        }
        let json_logs = match self.log_format.as_deref() {
            Some("json") => true,
            Some("text") => false,
            Some(other) => return Err(format!("PARTNERGRAPH_LOG_FORMAT: json or text, not {other:?}")),
            None => production,
        };
        let mail_from = self.mail_from;
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(format!("PARTNERGRAPH_MAIL_FROM: not a mail address: {mail_from:?}"));
        }
        let public_url = self.public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.contains(char::is_whitespace)
        {
            return Err(format!("PARTNERGRAPH_PUBLIC_URL: an http:// or https:// URL, not {:?}", self.public_url));
        }
        let lead_program = self.lead_program.trim().to_owned();
        if lead_program.is_empty() {
            return Err("PARTNERGRAPH_LEAD_PROGRAM must name a program".into());
        }
        Ok(Config {
            database_url: self.database.database_url,
            environment: self.environment,
            http: HttpConfig {
                addr: self.addr,
                body_limit: self.body_limit,
                introspection: self.introspection.unwrap_or(!production),
                graphiql: self.graphiql.unwrap_or(!production),
                drain: Duration::from_secs(self.drain_secs.unwrap_or(if production { 5 } else { 0 })),
                client_addr,
                rate_limit: self.rate_limit,
                rate_burst: self.rate_burst,
                metrics_token,
                auth_cache_ttl: Duration::from_millis(self.auth_cache_ms),
                idempotency_ttl: Duration::from_secs(self.idempotency_ttl_secs),
            },
            jwt: JwtConfig {
                secret: jwt_secret.into(),
                issuer: self.jwt_issuer,
                audience: self.jwt_audience,
                token_ttl: Duration::from_secs(self.token_ttl_secs),
            },
            limits: LimitsConfig {
                max_depth: self.max_depth,
                max_complexity: self.max_complexity,
                max_page_size: 100,
                max_aliases: self.max_aliases,
                max_root_fields: self.max_root_fields,
                max_directives: self.max_directives,
                max_nesting: self.max_nesting,
                max_variables_depth: self.max_variables_depth,
                max_expanded_fields: self.max_expanded_fields,
                request_timeout: Duration::from_secs(self.request_timeout_secs),
            },
            ws: WsConfig {
                init_timeout: Duration::from_secs(self.ws_init_timeout_secs),
                max_message: self.ws_max_message,
                max_operations: self.ws_max_operations,
                recheck: Duration::from_secs(self.ws_recheck_secs),
            },
            db: DbConfig {
                pool: self.database.db_pool,
                acquire_timeout: Duration::from_millis(self.database.db_acquire_timeout_ms),
            },
            hash: HashConfig {
                threads: hash_threads,
                wait: Duration::from_millis(self.hash_wait_ms),
                argon2_memory_kib: self.argon2_memory_kib,
                argon2_iterations: self.argon2_iterations,
            },
            rules: RulesConfig {
                invitation_ttl_days: self.invitation_ttl_days,
                lead_program,
                local: crate::domain::LocalTime::parse(&self.timezone)?,
                directory_min_clients: self.directory_min_clients,
                support_code_days: self.support_code_days,
                ranking_max_age: Duration::from_secs(self.ranking_max_age_secs),
            },
            mail: MailConfig { smtp_url, from: mail_from, smtp_concurrency, smtp_pool, public_url },
            webhook: WebhookConfig {
                allow_private: self.webhook_allow_private.unwrap_or(!production),
                retry: webhook_retry,
                concurrency: self.webhook_concurrency,
                per_endpoint: self.webhook_per_endpoint,
                key: Secret::new(webhook_key),
            },
            scheduler: SchedulerConfig {
                interval: (self.scheduler_secs > 0).then(|| Duration::from_secs(self.scheduler_secs)),
                outbox_retention_days: self.outbox_retention_days,
                audit_retention_months: self.audit_retention_months,
            },
            json_logs,
        })
    }
}

/// The webhook-secret encryption key from a configured secret: HMAC-SHA256 under a fixed label, so the
/// same secret used elsewhere (the JWT secret) never serves as this key directly.
fn derive_key(secret: &[u8]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, b"partnergraph webhook secrets v1");
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

impl ConfigArgs {
    /// The settings as the environment gives them (and the defaults): for the commands that take only the
    /// database as flags.
    pub fn from_env(database: DatabaseArgs) -> Result<ConfigArgs, String> {
        use clap::Parser;
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ConfigArgs,
        }
        let mut args = Only::try_parse_from(["partnergraph"]).map_err(|e| e.to_string())?.args;
        args.database = database;
        Ok(args)
    }
}

impl Config {
    /// Defaults as if no variable were set, for the given database: what the tests start from.
    pub fn defaults(database_url: &str) -> Config {
        use clap::Parser;
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ConfigArgs,
        }
        let mut args = Only::parse_from(["partnergraph"]).args;
        args.database.database_url = database_url.to_owned();
        args.into_config().expect("defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        args: ConfigArgs,
    }

    fn args(extra: &[&str]) -> ConfigArgs {
        let mut argv = vec!["partnergraph"];
        argv.extend_from_slice(extra);
        Only::parse_from(argv).args
    }

    #[test]
    fn production_refuses_to_start_without_a_secret() {
        let err = args(&["--env", "production"]).into_config().unwrap_err();
        assert!(err.contains("PARTNERGRAPH_JWT_SECRET"), "{err}");
    }

    #[test]
    fn the_drain_is_five_seconds_in_production_none_in_development_and_proxies_must_parse() {
        let secret = "0123456789abcdef0123456789abcdef";
        let c = args(&["--env", "production", "--jwt-secret", secret]).into_config().unwrap();
        assert_eq!(c.http.drain, Duration::from_secs(5));
        assert_eq!(args(&[]).into_config().unwrap().http.drain, Duration::ZERO);
        assert_eq!(args(&["--drain-secs", "2"]).into_config().unwrap().http.drain, Duration::from_secs(2));
        let err = args(&["--trusted-proxies", "10.0.0.0/8, nonsense"]).into_config().unwrap_err();
        assert!(err.contains("PARTNERGRAPH_TRUSTED_PROXIES") && err.contains("nonsense"), "{err}");
        assert!(args(&["--trusted-proxies", "10.0.0.0/8,::1"]).into_config().is_ok());
        assert_eq!(args(&[]).into_config().unwrap().db.acquire_timeout, Duration::from_secs(2));
    }

    #[test]
    fn days_begin_in_moscow_unless_configured_and_an_unknown_zone_refuses_to_start() {
        assert_eq!(args(&[]).into_config().unwrap().rules.local.name(), "Europe/Moscow");
        assert_eq!(
            args(&["--timezone", "Asia/Yekaterinburg"]).into_config().unwrap().rules.local.name(),
            "Asia/Yekaterinburg"
        );
        let err = args(&["--timezone", "Moscow"]).into_config().unwrap_err();
        assert!(err.contains("PARTNERGRAPH_TIMEZONE"), "{err}");
    }

    #[test]
    fn the_configurations_debug_never_shows_a_secret() {
        let jwt = "jwt-secret-0123456789abcdef0123456789";
        let webhook = "webhook-key-0123456789abcdef01234567";
        let c = args(&[
            "--jwt-secret",
            jwt,
            "--webhook-key",
            webhook,
            "--smtp-url",
            "smtp://mailer:smtp-password-42@127.0.0.1:2525",
            "--metrics-token",
            "metrics-token-0123456789",
        ])
        .into_config()
        .unwrap();
        let shown = format!("{c:?} {c:#?}");
        for secret in [jwt, "smtp-password-42", "metrics-token-0123456789"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        // The derived webhook key's bytes do not show either (as a list of numbers).
        let bytes = format!("{:?}", *c.webhook.key);
        assert!(!shown.contains(&bytes[1..bytes.len() - 1]), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn a_short_secret_is_refused_everywhere() {
        assert!(args(&["--jwt-secret", "short"]).into_config().is_err());
        assert!(args(&["--env", "production", "--jwt-secret", "short"]).into_config().is_err());
    }

    #[test]
    fn production_turns_introspection_and_graphiql_off_unless_asked() {
        let secret = "0123456789abcdef0123456789abcdef";
        let c = args(&["--env", "production", "--jwt-secret", secret]).into_config().unwrap();
        assert!(!c.http.introspection && !c.http.graphiql);
        let c =
            args(&["--env", "production", "--jwt-secret", secret, "--introspection", "true"]).into_config().unwrap();
        assert!(c.http.introspection);
        let c = args(&[]).into_config().unwrap();
        assert!(c.http.introspection && c.http.graphiql);
        assert_eq!(
            (c.limits.max_depth, c.limits.max_complexity, c.http.body_limit, c.limits.max_page_size),
            (12, 5000, 1024 * 1024, 100)
        );
        assert_eq!((c.limits.max_nesting, c.limits.max_variables_depth, c.limits.max_expanded_fields), (32, 32, 5000));
        assert_eq!(c.limits.request_timeout, Duration::from_secs(30));
        assert_eq!(c.http.idempotency_ttl, Duration::from_secs(86_400));
        assert!(c.hash.threads >= 1);
    }

    #[test]
    fn protective_limits_out_of_range_are_refused_not_clamped() {
        for bad in [
            ["--max-nesting", "0"],
            ["--max-nesting", "129"],
            ["--max-variables-depth", "0"],
            ["--max-variables-depth", "101"],
            ["--max-expanded-fields", "0"],
            ["--request-timeout-secs", "0"],
            ["--hash-threads", "0"],
            ["--hash-threads", "65"],
            ["--hash-wait-ms", "0"],
            ["--idempotency-ttl-secs", "0"],
            ["--idempotency-ttl-secs", "2592001"],
        ] {
            let err = args(&bad).into_config().unwrap_err();
            assert!(err.contains("must be between"), "{bad:?}: {err}");
        }
        // Settings that were clamped into range before are refused too, naming their variable.
        for (bad, variable) in [
            (["--rate-burst", "0"], "PARTNERGRAPH_RATE_BURST"),
            (["--db-pool", "0"], "PARTNERGRAPH_DB_POOL"),
            (["--ws-init-timeout-secs", "0"], "PARTNERGRAPH_WS_INIT_TIMEOUT_SECS"),
            (["--ws-max-message", "1023"], "PARTNERGRAPH_WS_MAX_MESSAGE"),
            (["--ws-max-operations", "0"], "PARTNERGRAPH_WS_MAX_OPERATIONS"),
            (["--ws-recheck-secs", "0"], "PARTNERGRAPH_WS_RECHECK_SECS"),
            (["--support-code-days", "0"], "PARTNERGRAPH_SUPPORT_CODE_DAYS"),
            (["--auth-cache-ms", "60001"], "PARTNERGRAPH_AUTH_CACHE_MS"),
            (["--db-acquire-timeout-ms", "99"], "PARTNERGRAPH_DB_ACQUIRE_TIMEOUT_MS"),
            (["--db-acquire-timeout-ms", "60001"], "PARTNERGRAPH_DB_ACQUIRE_TIMEOUT_MS"),
            (["--drain-secs", "601"], "PARTNERGRAPH_DRAIN_SECS"),
            (["--webhook-concurrency", "257"], "PARTNERGRAPH_WEBHOOK_CONCURRENCY"),
            (["--webhook-per-endpoint", "0"], "PARTNERGRAPH_WEBHOOK_PER_ENDPOINT"),
            (["--webhook-per-endpoint", "65"], "PARTNERGRAPH_WEBHOOK_PER_ENDPOINT"),
            (["--smtp-concurrency", "0"], "PARTNERGRAPH_SMTP_CONCURRENCY"),
            (["--smtp-concurrency", "257"], "PARTNERGRAPH_SMTP_CONCURRENCY"),
            (["--smtp-pool", "0"], "PARTNERGRAPH_SMTP_POOL"),
            (["--smtp-pool", "513"], "PARTNERGRAPH_SMTP_POOL"),
            (["--smtp-pool", "15"], "PARTNERGRAPH_SMTP_POOL"),
            (["--token-ttl-secs", "0"], "PARTNERGRAPH_TOKEN_TTL_SECS"),
            (["--invitation-ttl-days", "0"], "PARTNERGRAPH_INVITATION_TTL_DAYS"),
            (["--metrics-token", "short"], "PARTNERGRAPH_METRICS_TOKEN"),
        ] {
            let err = args(&bad).into_config().unwrap_err();
            assert!(err.starts_with(variable), "{bad:?}: {err}");
        }
        let c = args(&["--max-nesting", "128", "--hash-threads", "3"]).into_config().unwrap();
        assert_eq!((c.limits.max_nesting, c.hash.threads), (128, 3));
        let c = args(&["--smtp-concurrency", "32"]).into_config().unwrap();
        assert_eq!((c.mail.smtp_concurrency, c.mail.smtp_pool), (32, 64), "the pool follows the concurrency");
        let c = args(&["--smtp-concurrency", "4", "--smtp-pool", "10"]).into_config().unwrap();
        assert_eq!((c.mail.smtp_concurrency, c.mail.smtp_pool), (4, 10));
    }
}
