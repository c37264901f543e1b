//! The caller behind an acknowledged connection, checked again whenever it matters: before each
//! operation, before each delivery, on an access signal, at the token's expiry, and periodically.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::watch;

use crate::app::{AppState, RequestId};
use crate::auth::Principal;
use crate::error::AppError;

/// The caller behind one socket, checked again whenever it matters. Operations get it in their request
/// data, so a subscription checks it before each delivery.
pub struct LiveCaller {
    app: AppState,
    /// The `Authorization` value of `connection_init`.
    authorization: String,
    rid: RequestId,
    /// Becomes `true` when a check finds the membership gone: the connection closes with 4403.
    gone: watch::Sender<bool>,
}

/// What a check of the socket's caller found.
pub enum Check {
    /// The membership holds; this is the principal as of now.
    Current(Principal),
    /// Token expired or membership gone (removed, role changed, user deactivated): the connection closes.
    Gone,
    /// The check itself failed (database): nothing is delivered on it, the connection stays.
    Unknown,
}

impl LiveCaller {
    /// The same check as an HTTP request with this token.
    pub async fn check(&self) -> Check {
        match crate::auth::bearer::principal(&self.app, &self.app.auth_cache, &self.authorization).await {
            Ok(p) => Check::Current(p),
            Err(AppError::Internal(detail)) => {
                tracing::warn!(request_id = %self.rid.0, detail, "WebSocket re-authentication failed internally");
                Check::Unknown
            }
            Err(_) => {
                self.gone.send_replace(true);
                Check::Gone
            }
        }
    }

    /// The principal as of now, when the membership holds and the check could be made.
    pub async fn current(&self) -> Option<Principal> {
        match self.check().await {
            Check::Current(p) => Some(p),
            Check::Gone | Check::Unknown => None,
        }
    }
}

/// The caller's state on an acknowledged connection.
pub(super) struct Auth {
    pub(super) caller: Arc<LiveCaller>,
    gone: watch::Receiver<bool>,
    /// Access signals about this user in this subscriber.
    signals: BoxStream<'static, ()>,
    /// When the token expires (by the service clock at `connection_init`).
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why the caller must be checked again now.
pub(super) enum Recheck {
    /// The membership was found gone by a check elsewhere (a delivery).
    Gone,
    /// A signal, the token's expiry, or the periodic timer.
    Due,
}

impl Auth {
    /// Checks an `Authorization` value as the HTTP edge does; on success, the connection's caller with
    /// its access signals (listened to before the check, so that none can fall between the two) and
    /// the token's expiry (by the service clock now).
    pub(super) async fn start(app: &AppState, authorization: String, rid: RequestId) -> Result<Auth, AppError> {
        let credential = authorization.split_once(' ').map(|(_, c)| c.trim()).unwrap_or_default();
        let (signals, expires_at) = if crate::auth::api_key::is_api_key(credential) {
            // A key's id is known only from its check: listen to its signals after a first check, then check
            // again, so that a revocation between the two is seen by the second.
            let p = crate::auth::bearer::principal(app, &app.auth_cache, &authorization).await?;
            let signals = app.events.access_changes(p.actor_id(), p.subscriber_id).boxed();
            let p = crate::auth::bearer::principal(app, &app.auth_cache, &authorization).await?;
            let expires_at = match p.actor {
                crate::auth::Actor::Key { expires_at, .. } => expires_at,
                crate::auth::Actor::User { .. } => None,
            };
            (signals, expires_at)
        } else {
            let claims = app.jwt.verify_signature(credential).ok();
            let signals = match &claims {
                Some(c) => app.events.access_changes(c.sub, c.sid).boxed(),
                None => futures_util::stream::pending().boxed(),
            };
            crate::auth::bearer::principal(app, &app.auth_cache, &authorization).await?;
            (signals, claims.and_then(|c| chrono::DateTime::from_timestamp(c.exp, 0)))
        };
        let expiry = expires_at.and_then(|at| {
            let left = at - app.clock.now();
            Some(Box::pin(tokio::time::sleep(left.to_std().ok()? + Duration::from_millis(10))))
        });
        let (gone_tx, gone) = watch::channel(false);
        let caller = Arc::new(LiveCaller { app: app.clone(), authorization, rid, gone: gone_tx });
        Ok(Auth { caller, gone, signals, expiry })
    }

    /// Resolves when the caller must be checked again (never before `connection_init`).
    pub(super) async fn due(auth: &mut Option<Auth>) -> Recheck {
        let Some(a) = auth else { return std::future::pending().await };
        tokio::select! {
            _ = a.gone.wait_for(|gone| *gone) => Recheck::Gone,
            signal = a.signals.next() => {
                if signal.is_none() {
                    // The bus is gone (shutting down): no more signals; the periodic check remains.
                    a.signals = futures_util::stream::pending().boxed();
                }
                Recheck::Due
            }
            () = async {
                match a.expiry.as_mut() {
                    Some(sleep) => sleep.as_mut().await,
                    None => std::future::pending().await,
                }
            } => {
                a.expiry = None;
                Recheck::Due
            }
        }
    }
}
