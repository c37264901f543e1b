//! The real binary's life: replicas that start together on an empty PostgreSQL database all come up, a
//! SIGTERM drains (readiness off, still serving) and then closes WebSockets with 1001, and the command line
//! (each subcommand's own options, refusals before a database file exists, an unreachable database named,
//! a failure inside the database printed with its cause).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::helpers::{PASSWORD, VENDOR_EMAIL, fresh_database};
use crate::sockets::Client;

const BIN: &str = env!("CARGO_BIN_EXE_partnergraph");

fn command(url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("PARTNERGRAPH_ADDR", "127.0.0.1:0")
        .env("PARTNERGRAPH_RATE_LIMIT", "0")
        .env("PARTNERGRAPH_ARGON2_MEMORY_KIB", "1024")
        .env("PARTNERGRAPH_ARGON2_ITERATIONS", "1")
        .env("PARTNERGRAPH_SCHEDULER_SECS", "0")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    c
}

/// Starts `serve` and returns the child and its address (read from its first line).
async fn serve(mut cmd: Command) -> (Child, String) {
    let mut child = cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("server starts")
        .unwrap()
        .expect("a first line");
    let addr = line.split("http://").nth(1).unwrap().trim_end_matches("/graphql").to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// One HTTP/1.1 request over a fresh connection; the status code and the body.
async fn http(addr: &str, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> (u16, String) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body.to_owned())
}

async fn bootstrap(url: &str) {
    let out = command(url)
        .args(["bootstrap", "--vendor-name", "Vendor", "--email", VENDOR_EMAIL, "--password", PASSWORD])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn three_replicas_starting_together_on_an_empty_postgres_database_all_come_up() {
    let (url, _file) = fresh_database().await;
    if !url.starts_with("postgres") {
        // SQLite is one process by construction.
        return;
    }
    let runs: Vec<_> = (0..3).map(|_| command(&url).arg("migrate").output()).collect();
    let outs = futures_util::future::join_all(runs).await;
    for out in outs {
        let out = out.unwrap();
        assert!(out.status.success(), "a replica failed to migrate: {}", String::from_utf8_lossy(&out.stderr));
    }
    // And they serve on the migrated database.
    bootstrap(&url).await;
}

#[tokio::test]
async fn sigterm_turns_readiness_off_keeps_serving_through_the_drain_then_closes_sockets_with_1001() {
    let (url, _file) = fresh_database().await;
    bootstrap(&url).await;
    let mut cmd = command(&url);
    cmd.env("PARTNERGRAPH_DRAIN_SECS", "3");
    let (mut server, addr) = serve(cmd).await;
    assert_eq!(http(&addr, "GET", "/readyz", None, None).await.0, 200);
    const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let (_, body) = http(
        &addr,
        "POST",
        "/graphql",
        Some(json!({ "query": LOGIN, "variables": { "e": VENDOR_EMAIL, "p": PASSWORD } })),
        None,
    )
    .await;
    let token = serde_json::from_str::<Value>(&body).unwrap()["data"]["login"]["token"].as_str().unwrap().to_owned();
    let mut ws = Client::connect(&addr).await;
    ws.init(&token).await;

    let pid = server.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // Draining: not ready, still answering.
    let mut ready = 200;
    for _ in 0..100 {
        ready = http(&addr, "GET", "/readyz", None, None).await.0;
        if ready == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ready, 503, "readiness turns off on SIGTERM");
    let (status, body) =
        http(&addr, "POST", "/graphql", Some(json!({ "query": "{ me { role } }" })), Some(&token)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"data":{"me":{"role":"OWNER"}}}"#), "served while draining");
    // After the drain: the socket is told to go away, and the process ends cleanly.
    let (close, exit) = tokio::join!(
        async { tokio::time::timeout(Duration::from_secs(15), ws.end()).await.expect("closed after the drain") },
        async { tokio::time::timeout(Duration::from_secs(20), server.wait()).await.expect("exits").unwrap() }
    );
    assert_eq!(close, Some(1001));
    assert!(exit.success(), "{exit:?}");
    assert!(TcpStream::connect(&addr).await.is_err(), "the listener is closed");
}

async fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).arg("--help").output().await.unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn each_subcommand_shows_its_own_options() {
    let serve = help(&["serve"]).await;
    for option in ["--database-url", "--max-depth", "--drain-secs", "--trusted-proxies", "--demo"] {
        assert!(serve.contains(option), "serve --help lacks {option}");
    }
    for (args, own) in [
        (&["migrate"][..], &["--database-url", "--db-acquire-timeout-ms"][..]),
        (&["bootstrap"], &["--database-url", "--vendor-name", "--email", "--password"]),
        (&["seed"], &["--database-url", "--presets", "--demo"]),
        (&["digest"], &["--database-url", "--week"]),
        (&["schema"], &[]),
    ] {
        let text = help(args).await;
        for option in own {
            assert!(text.contains(option), "{args:?} --help lacks {option}");
        }
        for server_setting in ["--max-depth", "--jwt-secret", "--rate-limit", "--ws-max-message", "--drain-secs"] {
            assert!(!text.contains(server_setting), "{args:?} --help shows the server setting {server_setting}");
        }
    }
    let top = help(&[]).await;
    assert!(!top.contains("--database-url") && top.contains("serve"), "{top}");
}

#[tokio::test]
async fn commands_that_refuse_do_so_before_creating_a_database_file() {
    let dir = std::env::temp_dir().join(format!("partnergraph-refuse-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("refused.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let seed = command(&url).arg("seed").output().await.unwrap();
    assert!(!seed.status.success());
    assert!(String::from_utf8_lossy(&seed.stderr).contains("--presets"), "{}", String::from_utf8_lossy(&seed.stderr));
    let demo = command(&url)
        .args(["serve", "--demo"])
        .env("PARTNERGRAPH_ENV", "production")
        .env("PARTNERGRAPH_JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .output()
        .await
        .unwrap();
    assert!(!demo.status.success());
    assert!(String::from_utf8_lossy(&demo.stderr).contains("development only"));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "files were created: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_named_with_its_password_hidden() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://partner:hunter2secret@127.0.0.1:{port}/partnergraph");
    let out = command(&url).env("PARTNERGRAPH_DB_ACQUIRE_TIMEOUT_MS", "300").arg("migrate").output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("postgres://partner:***@127.0.0.1:{port}/partnergraph")), "{err}");
    assert!(err.to_lowercase().contains("refused"), "the cause is given: {err}");
    assert!(!err.contains("hunter2secret"), "{err}");
    assert!(!err.contains("pool timed out"), "{err}");
}

#[tokio::test]
async fn a_bootstrap_that_fails_in_the_database_prints_the_cause_not_internal_server_error() {
    use sea_orm::ConnectionTrait;
    let (url, _file) = fresh_database().await;
    let migrated = command(&url).arg("migrate").output().await.unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    // A table the bootstrap writes is gone: the database refuses, which is not the operator's input.
    let db = sea_orm::Database::connect(&url).await.unwrap();
    db.execute_unprepared("ALTER TABLE memberships RENAME TO memberships_moved").await.unwrap();
    db.close().await.unwrap();
    let out = command(&url)
        .args(["bootstrap", "--vendor-name", "Vendor", "--email", VENDOR_EMAIL, "--password", PASSWORD])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memberships"), "the cause is given: {err}");
    assert!(!err.contains("internal server error"), "{err}");
}
