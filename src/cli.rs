//! The command line: `serve`, `migrate`, `bootstrap`, `seed`, `schema`, `digest`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::app::{AppState, router};
use crate::config::{Config, ConfigArgs, DatabaseArgs, Environment};
use crate::service::accounts;

#[derive(Parser)]
#[command(name = "partnergraph", version, about = "GraphQL API of a SaaS vendor's partner program")]
#[command(after_help = "Every option is also an environment variable; see `partnergraph serve --help`.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The demo vendor account `serve --demo` creates (development only).
pub const DEMO_VENDOR_EMAIL: &str = "vendor@partnergraph.local";
pub const DEMO_VENDOR_PASSWORD: &str = "partnergraph-demo";

/// Commands other than `serve` take the database as flags and read any other setting (the environment,
/// argon2 costs, SMTP) from the environment only, so that their `--help` shows what is theirs.
#[derive(Subcommand)]
enum Command {
    /// Migrate, then serve.
    Serve {
        #[command(flatten)]
        config: Box<ConfigArgs>,
        /// Development only: create a demo vendor account if there is no vendor yet, and print how to log in.
        #[arg(long)]
        demo: bool,
    },
    /// Apply migrations.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Create the vendor subscriber and its owner; refuses if a vendor exists.
    Bootstrap {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        vendor_name: String,
        #[arg(long)]
        email: String,
        /// The owner's password (or PARTNERGRAPH_BOOTSTRAP_PASSWORD, to keep it out of the shell history).
        #[arg(long, env = "PARTNERGRAPH_BOOTSTRAP_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Load the preset programs (`--presets`), or the presets plus demo partners, clients and payments
    /// (`--demo`). Idempotent.
    #[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["presets", "demo"])))]
    Seed {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The programs 1C-CONNECT, BITRIX24 and 1C-FRESH with their statuses, rules and the Partner tariff.
        #[arg(long)]
        presets: bool,
        /// The presets plus demo tariffs, partners, clients, payments and a lead pool (development).
        #[arg(long)]
        demo: bool,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Queue the weekly digest e-mails for a week (idempotent), then send what is due in the outbox.
    Digest {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The Monday of the week, YYYY-MM-DD (default: this week's Monday).
        #[arg(long)]
        week: Option<chrono::NaiveDate>,
    },
    /// Exit 0 when the server on this machine answers `GET /healthz` with 200 within 2 s (for a container
    /// HEALTHCHECK; the image has no curl).
    Healthcheck {
        /// The server's listen address (0.0.0.0 and [::] are asked on the loopback address).
        #[arg(long, env = "PARTNERGRAPH_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
    },
}

/// What to do once the configuration is read.
enum Job {
    Serve { demo: bool },
    Migrate,
    Bootstrap { vendor_name: String, email: String, password: String },
    Seed { presets: bool, demo: bool },
    Digest { week: Option<chrono::NaiveDate> },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let (args, job) = match cli.command {
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            return ExitCode::SUCCESS;
        }
        Command::Healthcheck { addr } => return healthcheck(addr),
        Command::Serve { config, demo } => (Ok(*config), Job::Serve { demo }),
        Command::Migrate { database } => (ConfigArgs::from_env(database), Job::Migrate),
        Command::Bootstrap { database, vendor_name, email, password } => {
            (ConfigArgs::from_env(database), Job::Bootstrap { vendor_name, email, password })
        }
        Command::Seed { database, presets, demo } => (ConfigArgs::from_env(database), Job::Seed { presets, demo }),
        Command::Digest { database, week } => (ConfigArgs::from_env(database), Job::Digest { week }),
    };
    let config = match args.and_then(ConfigArgs::into_config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("partnergraph: {e}");
            return ExitCode::from(2);
        }
    };
    // Refusals come before anything opens (or, for SQLite, creates) the database.
    if let Job::Serve { demo: true } = job
        && config.environment == Environment::Production
    {
        eprintln!("partnergraph: --demo is for development only (PARTNERGRAPH_ENV is production)");
        return ExitCode::from(2);
    }
    init_tracing(config.json_logs);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("partnergraph: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(job, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("partnergraph: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `GET /healthz` on the local server.
fn healthcheck(addr: SocketAddr) -> ExitCode {
    use std::io::{Read, Write};
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let target = SocketAddr::new(ip, addr.port());
    let timeout = Duration::from_secs(2);
    let answer = (|| -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect_timeout(&target, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n").as_bytes())?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    })();
    match answer {
        Ok(a) if a.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(a) => {
            eprintln!("partnergraph: {target}/healthz answered {:?}", a.lines().next().unwrap_or(""));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("partnergraph: {target}/healthz: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Text logs for a terminal, or JSON lines (production) whose every line inside a request carries the
/// request's span, so its `request_id`. `PARTNERGRAPH_LOG_SPANS=1` also logs each span as it closes with
/// its time (`time.busy`, `time.idle`): with `RUST_LOG=info,partnergraph=debug` the service's spans show
/// where a request's time went (see the README's Logging section).
fn init_tracing(json: bool) {
    use tracing_subscriber::fmt::format::FmtSpan;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let spans = if std::env::var("PARTNERGRAPH_LOG_SPANS").is_ok_and(|v| v == "1" || v == "true") {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    if json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_span_events(spans)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_span_events(spans).with_target(false).init();
    }
}

async fn run(job: Job, config: Config) -> Result<(), String> {
    let state = AppState::connect(config).await?;
    state.migrate().await?;
    match job {
        Job::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Job::Bootstrap { vendor_name, email, password } => {
            let (vendor, user) =
                accounts::bootstrap(&state, &vendor_name, &email, &password).await.map_err(|e| e.for_operator())?;
            println!("vendor {} ({}) created; owner {}", vendor.name, vendor.id, user.email);
            Ok(())
        }
        Job::Serve { demo } => serve(state, demo).await,
        Job::Seed { presets, demo } => {
            if demo {
                for line in crate::service::demo::seed_demo(&state).await.map_err(|e| e.for_operator())? {
                    println!("{line}");
                }
            } else if presets {
                let r = crate::service::programs::seed_presets(&state).await.map_err(|e| e.for_operator())?;
                println!("presets: {} programs, {} rules, {} tariffs added", r.programs, r.rules, r.tariffs);
            }
            Ok(())
        }
        Job::Digest { week } => digest(&state, week).await,
    }
}

/// Queues the digest, then sends due e-mail until nothing due is left (failed ones wait for their retry).
async fn digest(state: &AppState, week: Option<chrono::NaiveDate>) -> Result<(), String> {
    use crate::service::{digest, outbox};
    let week = week.unwrap_or_else(|| digest::WeekStart::of(state.clock.now(), state.config.local).date());
    let queued = digest::run_weekly_digest(state, week).await.map_err(|e| e.for_operator())?;
    println!("weekly digest for {week}: {queued} e-mails queued");
    let (mut sent, mut failed) = (0, 0);
    loop {
        let stats = outbox::dispatch_due(state).await.map_err(|e| e.for_operator())?;
        sent += stats.sent;
        failed += stats.failed;
        if stats.claimed == 0 {
            break;
        }
    }
    let via = if state.mailer.sends_smtp() { "SMTP" } else { "the log (no PARTNERGRAPH_SMTP_URL)" };
    println!("outbox: {sent} sent via {via}, {failed} failed (kept pending for retry)");
    Ok(())
}

async fn serve(state: AppState, demo: bool) -> Result<(), String> {
    let config = state.config.clone();
    if demo {
        match accounts::bootstrap(&state, "Demo Vendor", DEMO_VENDOR_EMAIL, DEMO_VENDOR_PASSWORD).await {
            Ok(_) => tracing::info!("demo vendor created"),
            Err(e) if e.reason() == Some("VENDOR_EXISTS") => {}
            Err(e) => return Err(e.for_operator()),
        }
        let r = crate::service::programs::seed_presets(&state).await.map_err(|e| e.for_operator())?;
        if r.programs > 0 {
            tracing::info!(programs = r.programs, "preset programs loaded");
        }
    }
    let listener = tokio::net::TcpListener::bind(config.http.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.http.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("partnergraph listening on http://{addr}/graphql");
    if config.http.graphiql {
        println!("GraphiQL: http://{addr}/");
    }
    if demo {
        println!(
            "Log in: mutation {{ login(email: \"{DEMO_VENDOR_EMAIL}\", password: \"{DEMO_VENDOR_PASSWORD}\") {{ token }} }}\n\
             then put this in GraphiQL's Headers tab, with the token:\n\
             {{\"Authorization\": \"Bearer <token>\"}}"
        );
    }
    crate::scheduler::spawn(state.ctx.clone());
    let (stop_accepting, stop_rx) = tokio::sync::watch::channel(false);
    let listener = axum::serve::ListenerExt::tap_io(
        crate::shutdown::StopAccepting::new(listener, stop_rx).map_err(|e| e.to_string())?,
        |_| {},
    );
    let stop = crate::shutdown::sequence(state.lifecycle.clone(), config.http.drain, stop_accepting);
    let served = axum::serve(listener, router(state.clone()).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| e.to_string());
    // Upgraded WebSockets are not the server's connections any more: wait (briefly) for their 1001.
    if tokio::time::timeout(Duration::from_secs(5), state.lifecycle.sockets_closed()).await.is_err() {
        tracing::warn!("some WebSockets did not close in time");
    }
    served
}
