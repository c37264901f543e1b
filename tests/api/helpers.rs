//! Spawning the app on a fresh database and calling it as different people.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use partnergraph::app::{AppState, router};
use partnergraph::config::Config;
use partnergraph::service::accounts;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery staple";
pub const VENDOR_EMAIL: &str = "owner@vendor.test";

/// A running app on its own database, with the vendor owner signed in.
pub struct TestApp {
    pub router: axum::Router,
    pub state: AppState,
    /// The vendor owner's token.
    pub vendor: String,
    sqlite_file: Option<PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(f) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
    }
}

impl TestApp {
    /// An app over a state the test built itself (no vendor signed in yet, no file to remove).
    pub fn new(router: axum::Router, state: AppState) -> TestApp {
        TestApp { router, state, vendor: String::new(), sqlite_file: None }
    }
}

/// Someone signed in to a subscriber.
#[derive(Clone, Debug)]
pub struct Account {
    pub token: String,
    pub subscriber_id: String,
    pub email: String,
    pub membership_id: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique e-mail address for this test run.
pub fn email(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{n}-{}@example.test", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

pub async fn fresh_database() -> (String, Option<PathBuf>) {
    match std::env::var("DATABASE_URL") {
        Ok(admin) if admin.starts_with("postgres") => {
            let name = format!("pgtest_{}", uuid::Uuid::new_v4().simple());
            let conn = Database::connect(&admin).await.expect("connect to the PostgreSQL server in DATABASE_URL");
            conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
            conn.close().await.ok();
            let (base, _) = admin.rsplit_once('/').expect("DATABASE_URL with a database name");
            (format!("{base}/{name}"), None)
        }
        _ => {
            let file = std::env::temp_dir().join(format!("partnergraph-test-{}.db", uuid::Uuid::new_v4().simple()));
            (format!("sqlite://{}?mode=rwc", file.display()), Some(file))
        }
    }
}

/// The configuration the tests run with: the defaults, with a cheaper (still real) argon2id.
pub fn test_config(url: &str) -> Config {
    let mut config = Config::defaults(url);
    config.hash.argon2_memory_kib = 1024;
    config.hash.argon2_iterations = 1;
    config.db.pool = 5;
    // Concurrency tests queue dozens of requests on five connections, and the suite shares its machine;
    // the production default (2 s, to fail fast in an outage) made them flaky under load. The outage tests
    // set their own.
    config.db.acquire_timeout = std::time::Duration::from_secs(15);
    // The rate limit is off here; its own test turns it on.
    config.http.rate_limit = 0;
    // Tests change memberships behind the service's back (straight in the database), which only the
    // cache's lifetime bounds; the cache has its own tests.
    config.http.auth_cache_ttl = std::time::Duration::ZERO;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_full(adjust, |_| {}).await
}

/// An app whose clock starts at `at` (before any token is issued, so tokens are valid from then), with
/// tokens that last two years: for tests that move the clock forward through trials and quarters.
pub async fn spawn_app_at(at: chrono::DateTime<chrono::Utc>) -> TestApp {
    spawn_app_full(
        |c| c.jwt.token_ttl = std::time::Duration::from_secs(2 * 366 * 24 * 3600),
        move |state| state.clock.set_to(at),
    )
    .await
}

/// An app whose database connection counts the SQL statements it runs.
pub async fn spawn_app_counting() -> (TestApp, std::sync::Arc<AtomicU64>) {
    spawn_app_counting_with(|_| {}).await
}

/// As [`spawn_app_counting`], with an adjusted configuration.
pub async fn spawn_app_counting_with(adjust: impl FnOnce(&mut Config)) -> (TestApp, std::sync::Arc<AtomicU64>) {
    let counter = std::sync::Arc::new(AtomicU64::new(0));
    let c = counter.clone();
    let app = spawn_app_full(adjust, move |state| {
        state.parts_mut().expect("not shared yet").db.set_metric_callback(move |info| {
            if std::env::var("SHOW_SQL").is_ok() {
                eprintln!("SQL {}", info.statement.sql.chars().take(150).collect::<String>());
            }
            c.fetch_add(1, Ordering::Relaxed);
        })
    })
    .await;
    (app, counter)
}

async fn spawn_app_full(adjust: impl FnOnce(&mut Config), instrument: impl FnOnce(&mut AppState)) -> TestApp {
    let (url, sqlite_file) = fresh_database().await;
    let mut config = test_config(&url);
    adjust(&mut config);
    let mut state = AppState::connect(config).await.expect("connect");
    instrument(&mut state);
    state.migrate().await.expect("migrate");
    accounts::bootstrap(&state, "Vendor", VENDOR_EMAIL, PASSWORD).await.expect("bootstrap");
    let mut app = TestApp { router: router(state.clone()), state, vendor: String::new(), sqlite_file };
    app.vendor = app.login(VENDOR_EMAIL, PASSWORD).await;
    app
}

/// A GraphQL response body.
pub struct Gql(pub Value);

impl Gql {
    /// `data`, after checking there are no errors.
    pub fn ok(&self) -> &Value {
        assert!(self.0.get("errors").is_none(), "unexpected errors: {}", self.0);
        &self.0["data"]
    }

    /// The first error's `extensions.code`.
    pub fn code(&self) -> Option<&str> {
        self.0["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn reason(&self) -> Option<&str> {
        self.0["errors"][0]["extensions"]["reason"].as_str()
    }

    pub fn field(&self) -> Option<&str> {
        self.0["errors"][0]["extensions"]["field"].as_str()
    }

    /// Asserts the first error has this code (and, when given, reason) and returns self.
    #[track_caller]
    pub fn err(&self, code: &str) -> &Self {
        assert_eq!(self.code(), Some(code), "expected {code}, got {}", self.0);
        self
    }

    #[track_caller]
    pub fn reason_is(&self, reason: &str) -> &Self {
        assert_eq!(self.reason(), Some(reason), "expected reason {reason}, got {}", self.0);
        self
    }

    /// `OK` when there are no errors, else the first error's code: for table-driven checks.
    pub fn outcome(&self) -> String {
        match self.0.get("errors") {
            None => "OK".to_owned(),
            Some(_) => self.code().unwrap_or("NO_CODE").to_owned(),
        }
    }
}

pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl TestApp {
    pub async fn raw(&self, req: Request<Body>) -> Raw {
        let resp = self.router.clone().oneshot(req).await.expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Raw { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// POSTs a GraphQL request as `token` (or anonymously).
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut req = Request::post("/graphql").header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = json!({ "query": query, "variables": variables }).to_string();
        let raw = self.raw(req.body(Body::from(body)).unwrap()).await;
        assert_eq!(raw.status, StatusCode::OK, "status {} body {}", raw.status, raw.body);
        Gql(raw.json())
    }

    pub async fn as_(&self, token: &str, query: &str, variables: Value) -> Gql {
        self.gql(Some(token), query, variables).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .gql(
                None,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                json!({ "e": email, "p": password }),
            )
            .await;
        r.ok()["login"]["token"].as_str().expect("token").to_owned()
    }

    /// Accepts an invitation as a new person and returns the signed-in account.
    pub async fn accept_new(&self, token: &str, email: &str) -> Account {
        let r = self
            .gql(
                None,
                "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, name: \"Test Person\", password: $p) { token viewer { subscriber { id } } } }",
                json!({ "t": token, "p": PASSWORD }),
            )
            .await;
        let d = r.ok();
        let token = d["acceptInvitation"]["token"].as_str().unwrap().to_owned();
        let me = self.as_(&token, "{ me { memberships { id subscriber { id } } } }", json!({})).await;
        let sid = d["acceptInvitation"]["viewer"]["subscriber"]["id"].as_str().unwrap().to_owned();
        let membership_id = me.ok()["me"]["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["subscriber"]["id"] == sid.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        Account { token, subscriber_id: sid, email: email.to_owned(), membership_id }
    }

    /// The vendor creates a partner; its owner accepts the invitation.
    pub async fn partner(&self, name: &str) -> Account {
        let owner = email("partner-owner");
        let r = self
            .as_(
                &self.vendor,
                "mutation($n: String!, $o: String!) { createPartner(input: {name: $n, ownerEmail: $o}) { token subscriber { id } } }",
                json!({ "n": name, "o": owner }),
            )
            .await;
        let token = r.ok()["createPartner"]["token"].as_str().unwrap().to_owned();
        self.accept_new(&token, &owner).await
    }

    /// A partner (as `by`) registers a client; the client's owner accepts the invitation.
    pub async fn client_of(&self, by: &Account, name: &str) -> Account {
        let owner = email("client-owner");
        let r = self
            .as_(
                &by.token,
                "mutation($n: String!, $o: String!) { registerClient(input: {name: $n, ownerEmail: $o}) { token subscriber { id } } }",
                json!({ "n": name, "o": owner }),
            )
            .await;
        let token = r.ok()["registerClient"]["token"].as_str().unwrap().to_owned();
        self.accept_new(&token, &owner).await
    }

    /// `by` invites a new person to `subscriber_id` with `role`; the person accepts.
    pub async fn member(&self, by: &str, subscriber_id: &str, role: &str) -> Account {
        let address = email(&role.to_lowercase());
        let r = self
            .as_(
                by,
                "mutation($s: ID, $e: String!, $r: Role!) { inviteUser(input: {subscriberId: $s, email: $e, role: $r}) { token } }",
                json!({ "s": subscriber_id, "e": address, "r": role }),
            )
            .await;
        let token = r.ok()["inviteUser"]["token"].as_str().unwrap().to_owned();
        self.accept_new(&token, &address).await
    }

    /// The vendor's own subscriber id.
    pub async fn vendor_id(&self) -> String {
        let r = self.as_(&self.vendor, "{ me { subscriber { id } } }", json!({})).await;
        r.ok()["me"]["subscriber"]["id"].as_str().unwrap().to_owned()
    }

    /// Counts rows of a table straight from the database (to show that nothing was written).
    pub async fn count(&self, table: &str) -> i64 {
        let backend = self.state.db.get_database_backend();
        let row = self
            .state
            .db
            .query_one_raw(sea_orm::Statement::from_string(backend, format!("SELECT COUNT(*) AS n FROM {table}")))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

pub const PAY: &str = "mutation($i: PaymentInput!) { recordPayment(input: $i) { id amount refunded channel commissions { id amount rate base status partner { id } rule { id } } } }";

impl TestApp {
    /// Loads the three preset programs.
    pub async fn presets(&self) {
        partnergraph::service::programs::seed_presets(&self.state).await.expect("presets");
    }

    /// The vendor creates a tariff; returns its id.
    pub async fn tariff(
        &self,
        code: &str,
        program: &str,
        category: &str,
        price: &str,
        periods: &[i32],
        trial_days: i32,
    ) -> String {
        let r = self
            .as_(
                &self.vendor,
                "mutation($i: TariffInput!) { createTariff(input: $i) { id } }",
                json!({ "i": { "code": code, "name": code, "programCode": program, "category": category, "monthlyPrice": price, "periods": periods, "trialDays": trial_days } }),
            )
            .await;
        r.ok()["createTariff"]["id"].as_str().unwrap().to_owned()
    }

    /// The vendor sets a partner's status in a program.
    pub async fn set_status(&self, partner_id: &str, program: &str, status: &str) {
        self.as_(
            &self.vendor,
            "mutation($p: ID!, $c: String!, $s: String!) { setPartnerStatus(partnerId: $p, programCode: $c, status: $s) { id } }",
            json!({ "p": partner_id, "c": program, "s": status }),
        )
        .await
        .ok();
    }

    /// The vendor records a payment.
    pub async fn pay(&self, subscriber: &str, tariff: &str, months: i32, amount: &str, external_id: &str) -> Gql {
        self.as_(
            &self.vendor,
            PAY,
            json!({ "i": { "subscriberId": subscriber, "tariffId": tariff, "periodMonths": months, "amount": amount, "externalId": external_id } }),
        )
        .await
    }

    /// The vendor imports a client bound to `partner` with the given creation time; returns its id.
    pub async fn import_client(&self, partner: &str, created_at: &str) -> String {
        let r = self
            .as_(
                &self.vendor,
                "mutation($p: ID, $c: DateTime) { importClient(input: {name: \"Imported\", partnerId: $p, createdAt: $c}) { id } }",
                json!({ "p": partner, "c": created_at }),
            )
            .await;
        r.ok()["importClient"]["id"].as_str().unwrap().to_owned()
    }
}

impl TestApp {
    /// Starts a GraphQL POST on its own task, for concurrency tests; yields the status and the body.
    pub fn spawn_gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> tokio::task::JoinHandle<(StatusCode, Value)> {
        let router = self.router.clone();
        let mut req = Request::post("/graphql").header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Body::from(json!({ "query": query, "variables": variables }).to_string())).unwrap();
        tokio::spawn(async move {
            let resp = router.oneshot(req).await.expect("router answers");
            let status = resp.status();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            (status, serde_json::from_slice(&bytes).expect("JSON body"))
        })
    }
}

/// A valid 10-digit INN, distinct for each `n`.
pub fn inn(n: u32) -> String {
    let base = format!("{:09}", 770_000_000 + n);
    let digits: Vec<u32> = base.chars().map(|c| c.to_digit(10).unwrap()).collect();
    let weights = [2, 4, 10, 3, 5, 9, 4, 6, 8];
    let check = digits.iter().zip(weights).map(|(d, w)| d * w).sum::<u32>() % 11 % 10;
    format!("{base}{check}")
}

impl TestApp {
    /// A partner registers a client with an INN; its owner accepts.
    pub async fn client_with_inn(&self, by: &Account, name: &str, inn: &str) -> Account {
        let owner = email("client-owner");
        let r = self
            .as_(
                &by.token,
                "mutation($n: String!, $i: String, $o: String!) { registerClient(input: {name: $n, inn: $i, ownerEmail: $o}) { token } }",
                json!({ "n": name, "i": inn, "o": owner }),
            )
            .await;
        let token = r.ok()["registerClient"]["token"].as_str().unwrap().to_owned();
        self.accept_new(&token, &owner).await
    }

    /// `partner` requests a stop-list lock on `inn` and the vendor approves it; returns the entry id.
    pub async fn lock(&self, partner: &Account, inn: &str) -> String {
        let r = self
            .as_(&partner.token, "mutation($i: String!) { requestStopListLock(inn: $i) { id } }", json!({ "i": inn }))
            .await;
        let id = r.ok()["requestStopListLock"]["id"].as_str().unwrap().to_owned();
        self.as_(
            &self.vendor,
            "mutation($id: ID!) { decideStopListLock(id: $id, approve: true) { status } }",
            json!({ "id": id }),
        )
        .await
        .ok();
        id
    }
}

const NOTIFICATIONS: &str = "query($after: String) { notifications(first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { id to subject kind status attempts sentAt lastError } } }";

impl TestApp {
    /// Every e-mail in the outbox, oldest first, through all pages (read as the vendor).
    pub async fn notifications(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let r = self.as_(&self.vendor, NOTIFICATIONS, json!({ "after": after })).await;
            let c = &r.ok()["notifications"];
            out.extend(c["nodes"].as_array().unwrap().iter().cloned());
            if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                return out;
            }
            after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }
}

impl TestApp {
    /// A second replica on this app's database, with its configuration adjusted (for settings the
    /// vendor's own sign-in in `spawn_app` must not run under); the vendor's token works on it too, and
    /// dropping it leaves the database to this app.
    pub async fn replica(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(&self.state.config.database_url);
        adjust(&mut config);
        let state = AppState::connect(config).await.expect("connect a replica");
        TestApp { router: router(state.clone()), state, vendor: self.vendor.clone(), sqlite_file: None }
    }
}

/// `n` subscribers of `kind` stored straight into the database, 100 rows per statement, for tests where
/// how the rows came does not matter (statement counts, stored rankings): named `{tag} 000`, `{tag} 001`,
/// …, the `i`-th served by `serving(i)` and supported by `support`; their ids in that order.
pub async fn seed_subscribers(
    app: &TestApp,
    n: usize,
    kind: entity::enums::SubscriberKind,
    serving: impl Fn(usize) -> Option<uuid::Uuid>,
    support: Option<uuid::Uuid>,
    tag: &str,
) -> Vec<uuid::Uuid> {
    use sea_orm::{EntityTrait, Set};
    let now = chrono::Utc::now();
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    let rows: Vec<entity::subscriber::ActiveModel> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| entity::subscriber::ActiveModel {
            id: Set(*id),
            kind: Set(kind),
            name: Set(format!("{tag} {i:03}")),
            inn: Set(None),
            kpp: Set(None),
            email: Set(Some(format!("{tag}-{i}@example.com"))),
            phone: Set(None),
            address: Set(None),
            contact_person: Set(None),
            serving_partner_id: Set(serving(i)),
            binding_source: Set(None),
            support_partner_id: Set(support),
            created_at: Set(now),
            updated_at: Set(now),
            search_name: Set(format!("{tag} {i:03}")),
        })
        .collect();
    for chunk in rows.chunks(100) {
        entity::subscriber::Entity::insert_many(chunk.to_vec()).exec_without_returning(&app.state.db).await.unwrap();
    }
    ids
}

/// `s` percent-encoded for a URL query (everything but unreserved characters).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
