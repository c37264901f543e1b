//! Crash safety: the real binary is killed with SIGKILL in the middle of a payment load; after a
//! restart every acknowledged payment is there exactly once, each with its ledger entry and its month of
//! subscription, and nothing half-written is. A webhook endpoint (a local receiver) listens for
//! `payment.recorded`: every stored payment has exactly one delivery row, queued in its transaction, and
//! after the restart every one of them is delivered.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::helpers::{PASSWORD, VENDOR_EMAIL, fresh_database};
use crate::webhooks_delivery::Receiver;

const BIN: &str = env!("CARGO_BIN_EXE_partnergraph");

fn command(url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("DATABASE_URL", url)
        .env("PARTNERGRAPH_ADDR", "127.0.0.1:0")
        .env("PARTNERGRAPH_RATE_LIMIT", "0")
        .env("PARTNERGRAPH_ARGON2_MEMORY_KIB", "1024")
        .env("PARTNERGRAPH_ARGON2_ITERATIONS", "1")
        .env("RUST_LOG", "warn")
        .env("PARTNERGRAPH_WEBHOOK_RETRY_SECS", "1,1,1,1,1,1")
        .kill_on_drop(true);
    c
}

/// Starts `serve` and returns the child and its address (read from its first line).
async fn serve(url: &str) -> (Child, String) {
    let mut child =
        command(url).arg("serve").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("server starts")
        .unwrap()
        .unwrap();
    let addr = line.split("http://").nth(1).unwrap().trim_end_matches("/graphql").to_owned();
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// One GraphQL POST over a fresh connection (HTTP/1.1, `Connection: close`).
async fn post(addr: &str, token: Option<&str>, query: &str, variables: Value) -> std::io::Result<Value> {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("no body"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("status: {head}")));
    }
    serde_json::from_str(body).map_err(std::io::Error::other)
}

async fn ok(addr: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let v = post(addr, token, query, variables).await.expect("request");
    assert!(v.get("errors").is_none(), "{v}");
    v["data"].clone()
}

#[tokio::test]
async fn a_sigkill_during_payments_loses_nothing_acknowledged_and_leaves_nothing_half_written() {
    let (url, _file) = fresh_database().await;
    let status = command(&url)
        .args(["bootstrap", "--vendor-name", "Vendor", "--email", VENDOR_EMAIL, "--password", PASSWORD])
        .stdout(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert!(command(&url).args(["seed", "--presets"]).stdout(Stdio::null()).status().await.unwrap().success());

    let (mut server, addr) = serve(&url).await;
    const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let vendor = ok(&addr, None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": PASSWORD })).await["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = ok(&addr, Some(&vendor), "mutation { createPartner(input: {name: \"P\", ownerEmail: \"p@crash.test\", programCode: \"1C-CONNECT\", status: \"AGENT\"}) { token } }", json!({})).await;
    let invite = d["createPartner"]["token"].as_str().unwrap().to_owned();
    let d = ok(
        &addr,
        None,
        "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, name: \"P\", password: $p) { token } }",
        json!({ "t": invite, "p": PASSWORD }),
    )
    .await;
    let partner = d["acceptInvitation"]["token"].as_str().unwrap().to_owned();
    let d = ok(
        &addr,
        Some(&partner),
        "mutation { registerClient(input: {name: \"C\", ownerEmail: \"c@crash.test\"}) { subscriber { id } } }",
        json!({}),
    )
    .await;
    let client = d["registerClient"]["subscriber"]["id"].as_str().unwrap().to_owned();
    let d = ok(&addr, Some(&vendor), "mutation { createTariff(input: {code: \"DEV\", name: \"Dev\", programCode: \"1C-CONNECT\", category: \"DEVELOPER_SERVICES\", monthlyPrice: \"100.00\", periods: [1]}) { id } }", json!({})).await;
    let tariff = d["createTariff"]["id"].as_str().unwrap().to_owned();
    let receiver = Receiver::start().await;
    let d = ok(
        &addr,
        Some(&vendor),
        "mutation($u: String!) { createWebhookEndpoint(input: {url: $u, eventTypes: [\"payment.recorded\"]}) { endpoint { id } } }",
        json!({ "u": receiver.url }),
    )
    .await;
    let endpoint = d["createWebhookEndpoint"]["endpoint"]["id"].as_str().unwrap().to_owned();

    const PAY: &str = "mutation($i: PaymentInput!) { recordPayment(input: $i) { id } }";
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (addr, vendor, client, tariff, acked) =
            (addr.clone(), vendor.clone(), client.clone(), tariff.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let ext = format!("crash-{w}-{i}");
                let vars = json!({ "i": { "subscriberId": client, "tariffId": tariff, "periodMonths": 1, "amount": "100.00", "externalId": ext } });
                match post(&addr, Some(&vendor), PAY, vars).await {
                    Ok(v) if v.get("errors").is_none() => acked.lock().unwrap().push(ext),
                    Ok(v) => panic!("refused: {v}"),
                    Err(_) => break,
                }
            }
        }));
    }
    // Let the load run, then kill the server without warning.
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);

    // Restart on the same database and look.
    let (_server, addr) = serve(&url).await;
    let vendor = ok(&addr, None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": PASSWORD })).await["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stored = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d = ok(&addr, Some(&vendor), "query($a: String) { payments(first: 100, after: $a) { pageInfo { hasNextPage endCursor } nodes { externalId commissions { amount } } } }", json!({ "a": after })).await;
        for n in d["payments"]["nodes"].as_array().unwrap() {
            assert_eq!(n["commissions"].as_array().unwrap().len(), 1, "every stored payment has its ledger entry: {n}");
            stored.push(n["externalId"].as_str().unwrap().to_owned());
        }
        if !d["payments"]["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = d["payments"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    eprintln!("acknowledged {}, stored {}", acked.len(), stored.len());
    let unique: std::collections::BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no payment twice");
    for ext in &acked {
        assert!(unique.contains(ext), "acknowledged payment {ext} was lost");
    }
    // At most the requests in flight at the kill were committed without an answer.
    assert!(stored.len() <= acked.len() + 4, "{} stored, {} acknowledged", stored.len(), acked.len());
    // The subscription was extended exactly once per stored payment.
    let d = ok(
        &addr,
        Some(&vendor),
        "query($id: ID!) { subscriber(id: $id) { subscriptions { startsAt endsAt } } }",
        json!({ "id": client }),
    )
    .await;
    let sub = &d["subscriber"]["subscriptions"][0];
    let starts = chrono::DateTime::parse_from_rfc3339(sub["startsAt"].as_str().unwrap()).unwrap();
    let ends = chrono::DateTime::parse_from_rfc3339(sub["endsAt"].as_str().unwrap()).unwrap();
    assert_eq!(ends, starts.checked_add_months(chrono::Months::new(stored.len() as u32)).unwrap());
    // An acknowledged payment sent again is answered from the database, as before the crash.
    let vars = json!({ "i": { "subscriberId": client, "tariffId": tariff, "periodMonths": 1, "amount": "100.00", "externalId": acked[0] } });
    ok(&addr, Some(&vendor), PAY, vars).await;
    let d = ok(&addr, Some(&vendor), "{ payments { totalCount } }", json!({})).await;
    assert_eq!(d["payments"]["totalCount"].as_u64().unwrap() as usize, stored.len());

    // Webhooks: one payment.recorded delivery per stored payment, each delivered after the restart (an
    // attempt cut off by the kill waits for its lease, then goes again with the same webhook-id).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut rows: Vec<Value> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let d = ok(&addr, Some(&vendor), "query($e: ID, $a: String) { webhookDeliveries(endpointId: $e, first: 100, after: $a) { pageInfo { hasNextPage endCursor } nodes { payload status messageId } } }", json!({ "e": endpoint, "a": after })).await;
            rows.extend(d["webhookDeliveries"]["nodes"].as_array().unwrap().iter().cloned());
            if !d["webhookDeliveries"]["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = d["webhookDeliveries"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        let mut per_payment: std::collections::BTreeMap<String, usize> = Default::default();
        for r in &rows {
            let body: Value = serde_json::from_str(r["payload"].as_str().unwrap()).unwrap();
            *per_payment.entry(body["data"]["externalId"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        assert_eq!(per_payment.len(), stored.len(), "a delivery for every stored payment and no other");
        assert!(per_payment.values().all(|n| *n == 1), "exactly one delivery row per payment");
        assert!(unique.iter().all(|ext| per_payment.contains_key(*ext)));
        let pending = rows.iter().filter(|r| r["status"] != "DELIVERED").count();
        if pending == 0 {
            let received: std::collections::BTreeSet<String> = receiver
                .hits()
                .iter()
                .map(|h| {
                    serde_json::from_str::<Value>(&h.body).unwrap()["data"]["externalId"].as_str().unwrap().to_owned()
                })
                .collect();
            for ext in &acked {
                assert!(received.contains(ext), "the receiver got payment {ext}");
            }
            eprintln!("webhooks: {} deliveries, {} requests received", rows.len(), receiver.hits().len());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pending} deliveries still not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
