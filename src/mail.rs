//! Sending e-mail: real SMTP (lettre, async on tokio) when `PARTNERGRAPH_SMTP_URL` is set, otherwise a log
//! sender that writes each message's recipient and subject to the log. Callers never send directly:
//! they queue in the outbox (`service::outbox`), whose sender calls this.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

/// How long one SMTP conversation may take before it counts as failed (and is retried later).
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Where outgoing e-mail goes. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    Smtp(Arc<AsyncSmtpTransport<Tokio1Executor>>),
    Log,
}

/// Why a send failed, short and safe to store and show: no server text, no credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError(pub String);

impl Mailer {
    /// The mailer the configuration asks for; a malformed SMTP URL or sender refuses to start.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let from: Mailbox = config
            .mail
            .from
            .parse()
            .map_err(|_| format!("PARTNERGRAPH_MAIL_FROM: not an address: {}", config.mail.from))?;
        let sink = match &config.mail.smtp_url {
            Some(url) => {
                // The URL's own error text may repeat the URL, password included: say only which setting.
                let url = secrecy::ExposeSecret::expose_secret(url);
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| {
                    "PARTNERGRAPH_SMTP_URL: not a usable SMTP URL (smtp://user:pass@host:port?tls=required, \
                     smtp://host:port, or smtps://…)"
                        .to_owned()
                })?;
                // The pool keeps `PARTNERGRAPH_SMTP_POOL` connections for reuse (at least as many as the
                // outbox sends at once), so a send costs one conversation on an open connection.
                let pool = PoolConfig::new().max_size(u32::try_from(config.mail.smtp_pool).unwrap_or(u32::MAX));
                Sink::Smtp(Arc::new(builder.timeout(Some(SMTP_TIMEOUT)).pool_config(pool).build()))
            }
            None => Sink::Log,
        };
        Ok(Self { from, sink })
    }

    /// Whether messages really leave (false: the log sender).
    pub fn sends_smtp(&self) -> bool {
        matches!(self.sink, Sink::Smtp(_))
    }

    /// Sends one plain-text message. An error means it was not accepted by the server.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), SendError> {
        let transport = match &self.sink {
            Sink::Log => {
                tracing::info!(to, subject, "e-mail (log sender: no PARTNERGRAPH_SMTP_URL)");
                return Ok(());
            }
            Sink::Smtp(t) => t,
        };
        let recipient: Mailbox = to.parse().map_err(|_| SendError("invalid recipient address".into()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|_| SendError("the message could not be built".into()))?;
        match transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(to, error = %e, "SMTP send failed");
                Err(SendError(describe(&e)))
            }
        }
    }
}

/// A short description of an SMTP failure: the reply code and its class, or the kind of failure.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) if e.is_permanent() => format!("SMTP {code}: permanently refused"),
        Some(code) => format!("SMTP {code}: temporarily refused"),
        None if e.is_timeout() => "SMTP server timed out".into(),
        None if e.is_tls() => "TLS handshake with the SMTP server failed".into(),
        None => "could not talk to the SMTP server".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(smtp: Option<&str>, from: &str) -> Config {
        let mut c = Config::defaults("sqlite::memory:");
        c.mail.smtp_url = smtp.map(|u| u.to_owned().into());
        c.mail.from = from.to_owned();
        c
    }

    #[test]
    fn no_smtp_url_means_the_log_sender() {
        assert!(!Mailer::from_config(&config(None, "a <a@example.com>")).unwrap().sends_smtp());
    }

    // The pooled transport starts its pool on the runtime, as the service does.
    #[tokio::test]
    async fn an_smtp_url_with_starttls_is_accepted() {
        let m = Mailer::from_config(&config(Some("smtp://u:p@mail.example.com:587?tls=required"), "a@example.com"));
        assert!(m.unwrap().sends_smtp());
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_the_password() {
        let err = Mailer::from_config(&config(Some("ftp://u:secret@host"), "a@example.com")).err().unwrap();
        assert!(err.contains("PARTNERGRAPH_SMTP_URL") && !err.contains("secret"), "{err}");
        assert!(Mailer::from_config(&config(None, "not an address")).is_err());
    }
}
