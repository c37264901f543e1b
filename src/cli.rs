//! The command line: `serve`, `migrate`, `bootstrap`, `seed`, `schema`, `digest`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{AppState, router};
use crate::config::{Config, ConfigArgs, Environment};
use crate::service::accounts;

#[derive(Parser)]
#[command(name = "partnergraph", version, about = "GraphQL API of a SaaS vendor's partner program")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

/// The demo vendor account `serve --demo` creates (development only).
pub const DEMO_VENDOR_EMAIL: &str = "vendor@partnergraph.local";
pub const DEMO_VENDOR_PASSWORD: &str = "partnergraph-demo";

#[derive(Subcommand)]
enum Command {
    /// Migrate, then serve.
    Serve {
        /// Development only: create a demo vendor account if there is no vendor yet, and print how to log in.
        #[arg(long)]
        demo: bool,
    },
    /// Apply migrations.
    Migrate,
    /// Create the vendor subscriber and its owner; refuses if a vendor exists.
    Bootstrap {
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
    Seed {
        #[arg(long)]
        presets: bool,
        #[arg(long)]
        demo: bool,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Queue the weekly digest e-mails for a week (idempotent), then send what is due in the outbox.
    Digest {
        /// The Monday of the week, YYYY-MM-DD (default: this week's Monday).
        #[arg(long)]
        week: Option<chrono::NaiveDate>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", crate::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match cli.config.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("partnergraph: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.json_logs);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("partnergraph: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("partnergraph: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Text logs for a terminal, or JSON lines (production) whose every line inside a request carries the
/// request's span, so its `request_id`.
fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    if json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(true).with_span_list(false).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    }
}

async fn run(command: Command, config: Config) -> Result<(), String> {
    let state = AppState::connect(config).await?;
    state.migrate().await?;
    match command {
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::Bootstrap { vendor_name, email, password } => {
            let (vendor, user) =
                accounts::bootstrap(&state, &vendor_name, &email, &password).await.map_err(|e| e.message())?;
            println!("vendor {} ({}) created; owner {}", vendor.name, vendor.id, user.email);
            Ok(())
        }
        Command::Serve { demo } => serve(state, demo).await,
        Command::Seed { presets, demo } => {
            if demo {
                for line in crate::service::demo::seed_demo(&state).await.map_err(|e| e.message())? {
                    println!("{line}");
                }
            } else if presets {
                let r = crate::service::programs::seed_presets(&state).await.map_err(|e| e.message())?;
                println!("presets: {} programs, {} rules, {} tariffs added", r.programs, r.rules, r.tariffs);
            } else {
                return Err("say --presets or --demo".into());
            }
            Ok(())
        }
        Command::Schema => Ok(()),
        Command::Digest { week } => digest(&state, week).await,
    }
}

/// Queues the digest, then sends due e-mail until nothing due is left (failed ones wait for their retry).
async fn digest(state: &AppState, week: Option<chrono::NaiveDate>) -> Result<(), String> {
    use crate::service::{digest, outbox};
    let week = week.unwrap_or_else(|| digest::WeekStart::of(state.clock.now()).date());
    let queued = digest::run_weekly_digest(state, week).await.map_err(|e| e.message())?;
    println!("weekly digest for {week}: {queued} e-mails queued");
    let (mut sent, mut failed) = (0, 0);
    loop {
        let stats = outbox::dispatch_due(state).await.map_err(|e| e.message())?;
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
        if config.environment == Environment::Production {
            return Err("--demo is for development only".into());
        }
        match accounts::bootstrap(&state, "Demo Vendor", DEMO_VENDOR_EMAIL, DEMO_VENDOR_PASSWORD).await {
            Ok(_) => tracing::info!("demo vendor created"),
            Err(e) if e.reason() == Some("VENDOR_EXISTS") => {}
            Err(e) => return Err(e.message()),
        }
        let r = crate::service::programs::seed_presets(&state).await.map_err(|e| e.message())?;
        if r.programs > 0 {
            tracing::info!(programs = r.programs, "preset programs loaded");
        }
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("partnergraph listening on http://{addr}/graphql");
    if config.graphiql {
        println!("GraphiQL: http://{addr}/");
    }
    if demo {
        println!(
            "Log in: mutation {{ login(email: \"{DEMO_VENDOR_EMAIL}\", password: \"{DEMO_VENDOR_PASSWORD}\") {{ token }} }}\n\
             then add the header  Authorization: Bearer <token>  (GraphiQL: Headers tab)."
        );
    }
    crate::scheduler::spawn(state.clone());
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
