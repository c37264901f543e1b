//! The application state and the router. `main` and the tests build the same router from here.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId as HeaderRequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::clock::Clock;
use crate::config::Config;
use crate::graphql::{self, AppSchema};
use crate::http;
use crate::service::ServiceCtx;

/// Everything a request needs, shared behind one `Arc`: cloning it (several times per request, by the
/// middleware and handlers) is a single reference count. No globals: the tests build their own.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl From<AppParts> for AppState {
    fn from(parts: AppParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl AppState {
    /// The parts, to change before the state is shared (tests instrument the connection this way).
    pub fn parts_mut(&mut self) -> Option<&mut AppParts> {
        Arc::get_mut(&mut self.0)
    }
}

/// The fields of the application state: the services' context and the edge's own parts. It derefs to the
/// context, so `state.db` reads through and the edge passes `&state` where a service takes `&ServiceCtx`.
#[derive(Clone)]
pub struct AppParts {
    pub ctx: ServiceCtx,
    /// The edge's membership checks, briefly kept (see `auth::cache`).
    pub auth_cache: Arc<crate::auth::cache::AuthCache>,
    /// None when the rate limit is off.
    pub rate_limiter: Option<Arc<crate::ratelimit::RateLimiter>>,
    /// Draining and shutting down (see `Lifecycle`).
    pub lifecycle: Arc<Lifecycle>,
}

impl std::ops::Deref for AppParts {
    type Target = ServiceCtx;
    fn deref(&self) -> &ServiceCtx {
        &self.ctx
    }
}

impl std::ops::DerefMut for AppParts {
    fn deref_mut(&mut self) -> &mut ServiceCtx {
        &mut self.ctx
    }
}

/// Where the process is between serving and stopping. On SIGTERM it first drains: `/readyz` answers 503
/// (so a balancer takes the replica out) and responses say `Connection: close` (so a balancer's kept-alive
/// connections are not reused), while requests are still served. Then it shuts down: the listener closes,
/// in-flight requests finish, and every WebSocket is closed with 1001 (going away) so its client
/// reconnects elsewhere.
pub struct Lifecycle {
    draining: std::sync::atomic::AtomicBool,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle { draining: Default::default(), shutdown: tokio::sync::watch::Sender::new(false) }
    }
}

impl Lifecycle {
    pub fn start_draining(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Tells every WebSocket connection to close with 1001.
    pub fn shut_down(&self) {
        self.start_draining();
        self.shutdown.send_replace(true);
    }

    /// What a WebSocket connection watches: `true` once the process shuts down. Holding it counts the
    /// connection as open for `sockets_closed`.
    pub fn watch_shutdown(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Waits until every WebSocket connection has ended (each holds a `watch_shutdown` receiver).
    pub async fn sockets_closed(&self) {
        self.shutdown.closed().await;
    }
}

/// The id of the HTTP request, on every log line and on internal errors.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl AppState {
    /// Connects to the database (without migrating).
    pub async fn connect(config: Config) -> Result<Self, String> {
        let db = crate::db::connect(&config.database_url, config.db.pool, config.db.acquire_timeout).await?;
        let hasher = PasswordHasher::new(
            config.hash.argon2_memory_kib,
            config.hash.argon2_iterations,
            config.hash.threads,
            config.hash.wait,
        )?;
        let write_gate = crate::db::WriteGate::for_backend(sea_orm::ConnectionTrait::get_database_backend(&db));
        let rate_limiter =
            crate::ratelimit::RateLimiter::new(config.http.rate_limit, config.http.rate_burst).map(Arc::new);
        let auth_cache = Arc::new(crate::auth::cache::AuthCache::new(config.http.auth_cache_ttl, write_gate.clone()));
        let events = crate::events::EventBus::for_backend(
            sea_orm::ConnectionTrait::get_database_backend(&db),
            &config.database_url,
            auth_cache.clone(),
        );
        let mailer = crate::mail::Mailer::from_config(&config)?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        spawn_upkeep(&metrics, rate_limiter.as_ref());
        Ok(AppState::from(AppParts {
            ctx: ServiceCtx {
                db,
                jwt: Arc::new(JwtKeys::new(&config)),
                hasher: Arc::new(hasher),
                clock: Clock::default(),
                config: Arc::new(config),
                write_gate,
                events,
                mailer: Arc::new(mailer),
                metrics,
            },
            auth_cache,
            rate_limiter,
            lifecycle: Arc::default(),
        }))
    }

    /// Applies the migrations (one replica at a time on PostgreSQL, see `db::migrate`).
    pub async fn migrate(&self) -> Result<(), String> {
        crate::db::migrate(&self.db, &self.config.database_url).await
    }
}

/// How often the metrics' waiting histogram samples are bucketed and the rate limiter's idle clients
/// dropped.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the in-memory upkeep every `UPKEEP_EVERY` until the state holding these parts is gone.
fn spawn_upkeep(metrics: &Arc<crate::metrics::Metrics>, limiter: Option<&Arc<crate::ratelimit::RateLimiter>>) {
    let metrics = Arc::downgrade(metrics);
    let limiter = limiter.map(Arc::downgrade);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(metrics) = metrics.upgrade() else { return };
            metrics.upkeep();
            if let Some(limiter) = limiter.as_ref().and_then(std::sync::Weak::upgrade) {
                limiter.upkeep();
            }
        }
    });
}

/// What the HTTP handlers share: the application state and the schema built over it.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: AppSchema,
    /// The compiled read path's plans, by query text.
    pub plans: std::sync::Arc<graphql::compiled::Plans>,
}

pub fn router(state: AppState) -> Router {
    let schema = graphql::build(state.clone());
    let body_limit = state.config.http.body_limit;
    let http_state = HttpState { app: state.clone(), schema, plans: Default::default() };
    // The WebSocket endpoint authenticates in its `connection_init` message, not with a header.
    let ws_routes = Router::new()
        .route("/graphql/ws", get(crate::ws::graphql_ws))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::rate_limit));
    let graphql_routes = Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::rate_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::authenticate));
    Router::new()
        .merge(graphql_routes)
        .merge(ws_routes)
        .route("/", get(http::graphiql))
        .route("/assets/{name}", get(crate::graphiql::asset))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics))
        .with_state(http_state)
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::close_while_draining))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(CatchPanicLayer::new())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(http::request_span)
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
}

/// Request ids: random UUIDs from the thread's RNG (tower-http's `MakeRequestUuid` asks the kernel for
/// randomness on every request, a system call on the hot path).
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<HeaderRequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        axum::http::HeaderValue::from_str(&id.to_string()).ok().map(HeaderRequestId::new)
    }
}
