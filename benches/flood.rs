//! Flood check (issue 10): the release binary, on a throwaway SQLite database with production argon2
//! costs and the per-client rate limit OFF (an attacker has many addresses), is flooded for a bounded
//! time with each shape that used to kill, hang or bloat it:
//!
//! - argument values nested 2,000 deep over POST, GET and WebSocket (overflowed the parser's stack);
//! - 27 fragments that each spread the next twice (2^27 fields once expanded; 10 s of CPU each);
//! - 20 aliased `login` fields per request (20 argon2id hashes of 19 MiB each, in parallel);
//! - one `login` per request with a fresh unknown e-mail from many clients (a real hash each time);
//! - plain anonymous requests.
//!
//! Throughout, a sampler checks every 100 ms that the process is alive, that `/healthz` answers within
//! `FLOOD_HEALTH_MS` (1,000), and that its RSS (`/proc/PID/status` VmRSS, and VmHWM at the end) stays
//! under `FLOOD_RSS_MB` (300). It prints a table and exits non-zero on any violation.
//!
//! `scripts/flood.sh` runs it (`cargo bench --bench flood`). `FLOOD_SECS` per shape (default 15),
//! `FLOOD_CLIENTS` concurrent clients per shape (default 8).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const VENDOR: &str = "flood-vendor@example.test";
const PASSWORD: &str = "flood vendor password";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One HTTP/1.1 request on a fresh connection; the status and the body.
async fn http(
    addr: &str,
    method: &str,
    target: &str,
    body: Option<&str>,
    within: Duration,
) -> Result<(u16, String), String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(b) = body {
            req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
        }
        req.push_str("\r\n");
        if let Some(b) = body {
            req.push_str(b);
        }
        s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no status: {text:.80}"))?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Ok((status, body))
    };
    tokio::time::timeout(within, exchange).await.map_err(|_| format!("no answer within {within:?}"))?
}

/// A GraphQL POST body.
fn body(query: &str) -> String {
    json!({ "query": query }).to_string()
}

/// What an answer was: the status and the first error's code/reason, or OK.
fn outcome(status: u16, body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match v["errors"][0]["extensions"]["reason"].as_str().or(v["errors"][0]["extensions"]["code"].as_str()) {
        Some(r) => format!("{status} {r}"),
        None if v.get("data").is_some() => format!("{status} OK"),
        None => format!("{status} ?"),
    }
}

fn url(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The process's memory now (VmRSS) and at its peak (VmHWM), in MB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
    };
    Some((kb("VmRSS:")? / 1024, kb("VmHWM:")? / 1024))
}

/// What the sampler saw during one shape.
#[derive(Default)]
struct Watch {
    samples: u64,
    slowest_health_ms: u64,
    health_failures: u64,
    max_rss_mb: u64,
    dead: bool,
}

enum Shape {
    Post(Arc<dyn Fn(u64) -> String + Send + Sync>),
    Get(String),
    Ws(String),
}

#[tokio::main]
async fn main() {
    let secs = env_u64("FLOOD_SECS", 15);
    let clients = env_u64("FLOOD_CLIENTS", 8);
    let health_ms = env_u64("FLOOD_HEALTH_MS", 1000);
    let rss_max = env_u64("FLOOD_RSS_MB", 300);
    let bin = env!("CARGO_BIN_EXE_partnergraph");
    let dir = std::env::temp_dir().join(format!("partnergraph-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = format!("sqlite://{}/flood.db?mode=rwc", dir.display());
    let log = dir.join("server.log");
    println!(
        "machine: {} CPUs, {}; {secs} s per shape, {clients} clients each; limits: /healthz within {health_ms} ms, RSS under {rss_max} MB",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                .split(':')
                .nth(1)
                .unwrap_or("")
                .trim()
                .to_owned()))
            .unwrap_or_default(),
    );
    let boot = tokio::process::Command::new(bin)
        .args(["bootstrap", "--vendor-name", "Flood", "--email", VENDOR, "--password", PASSWORD])
        .env("DATABASE_URL", &db)
        .stdout(Stdio::null())
        .status()
        .await
        .expect("bootstrap");
    assert!(boot.success(), "bootstrap failed");
    let mut server = tokio::process::Command::new(bin)
        .arg("serve")
        .env("DATABASE_URL", &db)
        .env("PARTNERGRAPH_ADDR", "127.0.0.1:0")
        .env("PARTNERGRAPH_RATE_LIMIT", "0")
        .env("PARTNERGRAPH_SCHEDULER_SECS", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let pid = server.id().expect("pid");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("server starts")
        .ok()
        .flatten()
        .unwrap_or_default();
    let addr = first.split("http://").nth(1).expect("listening line").trim_end_matches("/graphql").to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let idle = memory(pid).map(|m| m.0).unwrap_or(0);
    println!("server pid {pid} on {addr}, idle RSS {idle} MB\n");

    let login =
        json!({ "query": format!("mutation {{ login(email: \"{VENDOR}\", password: \"{PASSWORD}\") {{ token }} }}") })
            .to_string();
    let (_, signed_in) = http(&addr, "POST", "/graphql", Some(&login), Duration::from_secs(30)).await.expect("login");
    let token = serde_json::from_str::<Value>(&signed_in)
        .ok()
        .and_then(|v| v["data"]["login"]["token"].as_str().map(str::to_owned))
        .expect("a token");

    let deep_list = format!("{}1{}", "[".repeat(2000), "]".repeat(2000));
    let deep_object = format!("{}1{}", "{a:".repeat(2000), "}".repeat(2000));
    let fan_out = {
        let mut q = String::from("query { ...F0 } ");
        for i in 0..27 {
            q.push_str(&format!("fragment F{i} on QueryRoot {{ ...F{j} ...F{j} }} ", j = i + 1));
        }
        q + "fragment F27 on QueryRoot { __typename }"
    };
    let aliased: String = (0..20)
        .map(|i| format!("a{i}: login(email: \"{VENDOR}\", password: \"wrong password {i}\") {{ token }} "))
        .collect();
    let shapes: Vec<(&str, Shape)> = vec![
        ("nesting 2,000 deep, POST", {
            let (a, b) = (
                body(&format!("{{ subscribers(search: {deep_list}) {{ totalCount }} }}")),
                body(&format!("{{ subscribers(search: {deep_object}) {{ totalCount }} }}")),
            );
            Shape::Post(Arc::new(move |n| if n % 2 == 0 { a.clone() } else { b.clone() }))
        }),
        (
            "nesting 2,000 deep, GET",
            Shape::Get(format!(
                "/graphql?query={}",
                url(&format!("{{ subscribers(search: {deep_list}) {{ totalCount }} }}"))
            )),
        ),
        ("nesting 2,000 deep, WebSocket", Shape::Ws(format!("subscription {{ events(x: {deep_list}) {{ kind }} }}"))),
        ("fragment fan-out 2^27", {
            let b = body(&fan_out);
            Shape::Post(Arc::new(move |_| b.clone()))
        }),
        ("20 aliased logins", {
            let b = body(&format!("mutation {{ {aliased} }}"));
            Shape::Post(Arc::new(move |_| b.clone()))
        }),
        (
            "one login, unknown e-mail",
            Shape::Post(Arc::new(|n| {
                body(&format!(
                    "mutation {{ login(email: \"nobody-{n}-{}@example.test\", password: \"wrong password\") {{ token }} }}",
                    std::process::id()
                ))
            })),
        ),
        ("plain anonymous", {
            let b = body("{ __typename }");
            Shape::Post(Arc::new(move |_| b.clone()))
        }),
    ];

    let mut violations = Vec::new();
    println!("{:<28} {:>9} {:>12} {:>10} {:>9}  answers", "shape", "requests", "healthz max", "RSS max", "samples");
    for (name, shape) in shapes {
        let shape = Arc::new(shape);
        let deadline = Instant::now() + Duration::from_secs(secs);
        let watch = Arc::new(Mutex::new(Watch::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (addr, watch, stop) = (addr.clone(), watch.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let health = http(&addr, "GET", "/healthz", None, Duration::from_millis(health_ms)).await;
                    let took = started.elapsed().as_millis() as u64;
                    let mut w = watch.lock().await;
                    w.samples += 1;
                    w.slowest_health_ms = w.slowest_health_ms.max(took);
                    if !matches!(health, Ok((200, _))) {
                        w.health_failures += 1;
                    }
                    match memory(pid) {
                        Some((rss, _)) => w.max_rss_mb = w.max_rss_mb.max(rss),
                        None => w.dead = true,
                    }
                    drop(w);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let answers: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let sent = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for c in 0..clients {
            let (shape, answers, sent, addr, token) =
                (shape.clone(), answers.clone(), sent.clone(), addr.clone(), token.clone());
            workers.push(tokio::spawn(async move {
                let mut n = c * 1_000_000;
                let mut ws = None;
                while Instant::now() < deadline {
                    n += 1;
                    let answer = match &*shape {
                        Shape::Post(make) => {
                            match http(&addr, "POST", "/graphql", Some(&make(n)), Duration::from_secs(30)).await {
                                Ok((status, body)) => outcome(status, &body),
                                Err(e) => format!("failed: {e:.40}"),
                            }
                        }
                        Shape::Get(target) => match http(&addr, "GET", target, None, Duration::from_secs(30)).await {
                            Ok((status, body)) => outcome(status, &body),
                            Err(e) => format!("failed: {e:.40}"),
                        },
                        Shape::Ws(query) => match ws_round(&addr, &token, &mut ws, n, query).await {
                            Ok(a) => a,
                            Err(e) => {
                                ws = None;
                                format!("failed: {e:.40}")
                            }
                        },
                    };
                    sent.fetch_add(1, Ordering::Relaxed);
                    *answers.lock().await.entry(answer).or_default() += 1;
                }
            }));
        }
        for w in workers {
            let _ = w.await;
        }
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.await;
        let w = watch.lock().await;
        let alive = server.try_wait().ok().flatten().is_none() && !w.dead;
        let answers = answers.lock().await;
        let mut top: Vec<_> = answers.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1));
        let shown: Vec<String> = top.iter().take(3).map(|(k, v)| format!("{k} ×{v}")).collect();
        println!(
            "{:<28} {:>9} {:>9} ms {:>7} MB {:>9}  {}",
            name,
            sent.load(Ordering::Relaxed),
            w.slowest_health_ms,
            w.max_rss_mb,
            w.samples,
            shown.join(", ")
        );
        if !alive {
            violations.push(format!("{name}: the server died"));
        }
        if w.health_failures > 0 || w.slowest_health_ms > health_ms {
            violations.push(format!(
                "{name}: /healthz failed {} times, slowest {} ms",
                w.health_failures, w.slowest_health_ms
            ));
        }
        if w.max_rss_mb > rss_max {
            violations.push(format!("{name}: RSS reached {} MB", w.max_rss_mb));
        }
        if answers.keys().any(|k| k.contains("INTERNAL_SERVER_ERROR") || k.starts_with("5")) {
            violations.push(format!("{name}: internal errors in the answers"));
        }
        if !alive {
            break;
        }
    }
    let peak = memory(pid).map(|m| m.1).unwrap_or(0);
    println!("\nserver peak RSS (VmHWM) {peak} MB; idle at start {idle} MB");
    if peak > rss_max {
        violations.push(format!("peak RSS {peak} MB"));
    }
    let _ = server.start_kill();
    let _ = server.wait().await;
    if violations.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
        println!("flood check passed");
    } else {
        for v in &violations {
            eprintln!("VIOLATION: {v}");
        }
        eprintln!("server log: {}", log.display());
        std::process::exit(1);
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// One `subscribe` on the worker's connection (opened and initialised when missing), and its answer.
async fn ws_round(addr: &str, token: &str, ws: &mut Option<Socket>, n: u64, query: &str) -> Result<String, String> {
    if ws.is_none() {
        let mut req = format!("ws://{addr}/graphql/ws").into_client_request().map_err(|e| e.to_string())?;
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().map_err(|_| "header")?);
        let (mut s, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| e.to_string())?;
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        s.send(Message::text(init.to_string())).await.map_err(|e| e.to_string())?;
        next_text(&mut s).await?;
        *ws = Some(s);
    }
    let s = ws.as_mut().ok_or("no socket")?;
    let msg = json!({ "type": "subscribe", "id": n.to_string(), "payload": { "query": query } });
    s.send(Message::text(msg.to_string())).await.map_err(|e| e.to_string())?;
    let answer: Value = serde_json::from_str(&next_text(s).await?).map_err(|e| e.to_string())?;
    let ext = &answer["payload"][0]["extensions"];
    Ok(format!(
        "ws {} {}",
        answer["type"].as_str().unwrap_or("?"),
        ext["reason"].as_str().or(ext["code"].as_str()).unwrap_or("")
    ))
}

async fn next_text(s: &mut Socket) -> Result<String, String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), s.next()).await {
            Err(_) => return Err("no message in 30 s".into()),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => return Err(format!("{other:?}")),
        }
    }
}
