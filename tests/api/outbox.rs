//! The e-mail outbox against a real SMTP dialogue over TCP: a failing server leaves messages pending with
//! growing attempts, a working one gets each message exactly once; leases, concurrent senders, and the
//! invitation e-mail written with the invitation.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use entity::outbox_message;
use partnergraph::app::{AppParts, AppState};
use partnergraph::mail::Mailer;
use partnergraph::service::ServiceCtx;
use partnergraph::service::outbox::{self, DispatchStats, NewMessage};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{TestApp, email, spawn_app, spawn_app_with};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, dot-unstuffed, CRLF line ends.
    pub data: String,
}

/// A tiny SMTP server on 127.0.0.1: greets, answers EHLO/HELO, MAIL, RCPT, DATA … `.`, RSET, NOOP and
/// QUIT, and records every message it accepted.
pub struct SmtpServer {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, log.clone()));
            }
        });
        SmtpServer { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Messages with `to` among their recipients.
    pub fn received_by(&self, to: &str) -> Vec<Received> {
        self.received().into_iter().filter(|m| m.to.iter().any(|t| t == to)).collect()
    }
}

async fn session(socket: TcpStream, log: Arc<Mutex<Vec<Received>>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 smtp.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        let address = || command.split_once(':').map(|(_, a)| a.trim().trim_matches(['<', '>']).to_owned());
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-smtp.test\r\n250 SIZE 1000000\r\n",
            "HELO" => b"250 smtp.test\r\n",
            "MAIL" => {
                from = address().unwrap_or_default();
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address().unwrap_or_default());
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if read.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                log.lock().unwrap().push(Received { from: from.clone(), to: std::mem::take(&mut to), data });
                b"250 OK queued\r\n"
            }
            "RSET" => {
                to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The app's state sending through another SMTP server (same database, clock and write queue).
fn sending_to(app: &TestApp, url: &str) -> AppState {
    let mut config = (*app.state.config).clone();
    config.smtp_url = Some(url.to_owned().into());
    AppState::from(AppParts {
        ctx: ServiceCtx {
            mailer: Arc::new(Mailer::from_config(&config).unwrap()),
            config: Arc::new(config),
            ..app.state.ctx.clone()
        },
        ..(*app.state).clone()
    })
}

/// A quoted-printable body back to its text (lettre may fold long lines).
fn unfold(data: &str) -> String {
    data.replace("=\r\n", "").replace("=3D", "=")
}

const INVITE: &str = "mutation($s: ID, $e: String!) { inviteUser(input: {subscriberId: $s, email: $e, role: USER}) { token invitation { id } } }";

fn to<'a>(notes: &'a [Value], address: &str) -> Vec<&'a Value> {
    notes.iter().filter(|n| n["to"] == address).collect()
}

#[tokio::test]
async fn an_email_survives_a_failing_smtp_server_and_is_sent_exactly_once_when_it_answers() {
    let port = closed_port();
    let app = spawn_app_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into())).await;
    let partner = app.partner("Partner").await;
    let address = email("invitee");
    let r = app.as_(&partner.token, INVITE, json!({ "s": partner.subscriber_id, "e": address })).await;
    let token = r.ok()["inviteUser"]["token"].as_str().unwrap().to_owned();

    let stats = outbox::dispatch_due(&app.state).await.unwrap();
    // The partner owner's invitation was accepted before its e-mail went out: cancelled, not sent.
    assert!(stats.claimed >= 1 && stats.sent == 0 && stats.failed == stats.claimed - stats.cancelled, "{stats:?}");
    let notes = app.notifications().await;
    let mine = to(&notes, &address);
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0]["status"].as_str(), mine[0]["attempts"].as_i64()), (Some("PENDING"), Some(1)));
    let error = mine[0]["lastError"].as_str().unwrap();
    assert!(!error.is_empty() && !error.contains(&port.to_string()), "{error}");

    // Backing off: nothing is due again at once; after the first wait it is tried again.
    assert_eq!(outbox::dispatch_due(&app.state).await.unwrap().claimed, 0);
    app.state.clock.advance(Duration::seconds(61));
    let again = outbox::dispatch_due(&app.state).await.unwrap();
    assert_eq!((again.claimed, again.failed), (stats.failed, stats.failed));
    let notes = app.notifications().await;
    assert_eq!(
        (to(&notes, &address)[0]["status"].as_str(), to(&notes, &address)[0]["attempts"].as_i64()),
        (Some("PENDING"), Some(2))
    );

    // The server answers now.
    let server = SmtpServer::start().await;
    let working = sending_to(&app, &server.url);
    app.state.clock.advance(Duration::minutes(3));
    let done = outbox::dispatch_due(&working).await.unwrap();
    assert_eq!(done, DispatchStats { claimed: stats.failed, sent: stats.failed, ..Default::default() });
    let got = server.received_by(&address);
    assert_eq!(got.len(), 1, "received exactly once");
    assert!(unfold(&got[0].data).contains(&format!("/accept-invitation?token={token}")), "{}", got[0].data);
    assert!(got[0].data.contains("Subject: Invitation to Partner"));
    assert_eq!(got[0].from, "noreply@partnergraph.local");
    let notes = app.notifications().await;
    let mine = to(&notes, &address);
    assert_eq!(mine[0]["status"], "SENT");
    assert!(!mine[0]["sentAt"].is_null() && mine[0]["lastError"].is_null());

    // Sent means done: later runs send nothing more.
    app.state.clock.advance(Duration::hours(2));
    assert_eq!(outbox::dispatch_due(&working).await.unwrap().claimed, 0);
    assert_eq!(server.received_by(&address).len(), 1);
    // The raw token does not stay in the outbox once sent.
    let stored = outbox_message::Entity::find()
        .filter(outbox_message::Column::ToEmail.eq(address.as_str()))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.body.contains(&token));
    assert_eq!(stored.body, outbox::REDACTED_INVITATION_BODY);
}

#[tokio::test]
async fn a_lease_left_by_a_crashed_sender_holds_the_message_until_it_expires() {
    let app = spawn_app().await;
    let now = app.state.clock.now();
    let queued = outbox::enqueue(
        &app.state.db,
        NewMessage {
            kind: outbox::kind::WEEKLY_DIGEST,
            to: email("operator"),
            subject: "Digest".into(),
            body: "body".into(),
            dedupe_key: "test:lease".into(),
        },
        now,
    )
    .await
    .unwrap();
    assert!(queued);
    // Everything else queued so far (the vendor's own setup) goes out first, through the log sender.
    outbox::dispatch_due(&app.state).await.unwrap();
    // A sender took the message and died mid-send: its lease is there, the message is still pending.
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Status, Expr::value("PENDING"))
        .col_expr(outbox_message::Column::LockedUntil, Expr::value(now + outbox::LEASE))
        .filter(outbox_message::Column::DedupeKey.eq("test:lease"))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(outbox::dispatch_due(&app.state).await.unwrap().claimed, 0);
    app.state.clock.advance(outbox::LEASE + Duration::seconds(1));
    let stats = outbox::dispatch_due(&app.state).await.unwrap();
    assert_eq!((stats.claimed, stats.sent), (1, 1));
}

#[tokio::test]
async fn two_senders_at_once_send_each_message_once() {
    let app = spawn_app().await;
    let now = app.state.clock.now();
    let recipients: Vec<String> = (0..30).map(|_| email("many")).collect();
    for (i, r) in recipients.iter().enumerate() {
        let m = NewMessage {
            kind: outbox::kind::WEEKLY_DIGEST,
            to: r.clone(),
            subject: format!("Digest {i}"),
            body: "body".into(),
            dedupe_key: format!("test:many:{i}"),
        };
        outbox::enqueue(&app.state.db, m, now).await.unwrap();
    }
    let server = SmtpServer::start().await;
    let a = sending_to(&app, &server.url);
    let b = sending_to(&app, &server.url);
    let (x, y) = tokio::join!(outbox::dispatch_due(&a), outbox::dispatch_due(&b));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x.claimed <= outbox::BATCH_SIZE as usize && y.claimed <= outbox::BATCH_SIZE as usize);
    // Whatever the two left (the batch bound) the next run takes.
    let z = outbox::dispatch_due(&a).await.unwrap();
    assert_eq!(x.sent + y.sent + z.sent, x.claimed + y.claimed + z.claimed);
    for r in &recipients {
        assert_eq!(server.received_by(r).len(), 1, "{r}");
    }
    assert_eq!(outbox::dispatch_due(&a).await.unwrap().claimed, 0);
}

#[tokio::test]
async fn an_invitation_queues_an_email_and_a_refused_invitation_queues_none() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let address = email("invitee");
    let before = app.count("outbox").await;
    let r = app.as_(&partner.token, INVITE, json!({ "s": partner.subscriber_id, "e": address })).await;
    let id = r.ok()["inviteUser"]["invitation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.count("outbox").await, before + 1);
    let notes = app.notifications().await;
    let mine = to(&notes, &address);
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0]["kind"].as_str(), mine[0]["status"].as_str()), (Some("INVITATION"), Some("PENDING")));
    assert_eq!(mine[0]["subject"], "Invitation to Partner");

    // A second pending invitation for the same e-mail is refused, and nothing is queued.
    let r = app.as_(&partner.token, INVITE, json!({ "s": partner.subscriber_id, "e": address })).await;
    r.err("CONFLICT").reason_is("INVITATION_PENDING");
    assert_eq!(app.count("outbox").await, before + 1);

    // A resend is a new e-mail with the new token.
    let r = app
        .as_(&partner.token, "mutation($id: ID!) { resendInvitation(id: $id) { token } }", json!({ "id": id }))
        .await;
    let fresh = r.ok()["resendInvitation"]["token"].as_str().unwrap().to_owned();
    assert_eq!(to(&app.notifications().await, &address).len(), 2);
    let bodies: Vec<String> = outbox_message::Entity::find()
        .filter(outbox_message::Column::ToEmail.eq(address.as_str()))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert!(bodies.iter().any(|b| b.contains(&fresh)));
}

#[tokio::test]
async fn an_invitation_accepted_revoked_or_resent_before_its_email_went_out_is_not_emailed_afterwards() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let invite = |address: &str| {
        let (app, partner, address) = (&app, &partner, address.to_owned());
        async move {
            let r = app.as_(&partner.token, INVITE, json!({ "s": partner.subscriber_id, "e": address })).await;
            let d = r.ok()["inviteUser"].clone();
            (d["token"].as_str().unwrap().to_owned(), d["invitation"]["id"].as_str().unwrap().to_owned())
        }
    };
    let (accepted, revoked, resent, pending) = (email("accepted"), email("revoked"), email("resent"), email("pending"));
    let (token, _) = invite(&accepted).await;
    app.accept_new(&token, &accepted).await;
    let (_, id) = invite(&revoked).await;
    app.as_(&partner.token, "mutation($id: ID!) { revokeInvitation(id: $id) { status } }", json!({ "id": id }))
        .await
        .ok();
    let (_, id) = invite(&resent).await;
    let r = app
        .as_(&partner.token, "mutation($id: ID!) { resendInvitation(id: $id) { token } }", json!({ "id": id }))
        .await;
    let fresh = r.ok()["resendInvitation"]["token"].as_str().unwrap().to_owned();
    invite(&pending).await;

    let server = SmtpServer::start().await;
    let working = sending_to(&app, &server.url);
    let stats = outbox::dispatch_due(&working).await.unwrap();
    assert!(stats.cancelled >= 3, "{stats:?}");
    assert_eq!(stats.sent + stats.cancelled, stats.claimed, "{stats:?}");
    assert!(server.received_by(&accepted).is_empty(), "the accepted invitation was e-mailed");
    assert!(server.received_by(&revoked).is_empty(), "the revoked invitation was e-mailed");
    // Only the resend's e-mail goes out: the first one carries a token that no longer works.
    let got = server.received_by(&resent);
    assert_eq!(got.len(), 1);
    assert!(unfold(&got[0].data).contains(&fresh), "{}", got[0].data);
    assert_eq!(server.received_by(&pending).len(), 1, "a pending invitation is e-mailed");

    let notes = app.notifications().await;
    let statuses = |address: &str| -> Vec<String> {
        to(&notes, address).iter().map(|n| n["status"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(statuses(&accepted), ["CANCELLED"]);
    assert_eq!(statuses(&revoked), ["CANCELLED"]);
    assert_eq!(statuses(&resent), ["CANCELLED", "SENT"]);
    assert_eq!(statuses(&pending), ["SENT"]);
    // A cancelled e-mail keeps no token either, and is never tried again.
    let bodies: Vec<String> = outbox_message::Entity::find()
        .filter(outbox_message::Column::ToEmail.eq(accepted.as_str()))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, [outbox::REDACTED_INVITATION_BODY]);
    app.state.clock.advance(Duration::hours(2));
    assert_eq!(outbox::dispatch_due(&working).await.unwrap().claimed, 0);
}
