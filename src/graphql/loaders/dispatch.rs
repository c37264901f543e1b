//! When a loader's batch starts: the moment the request has nothing left to do but wait, not after a
//! timer.
//!
//! async-graphql's `DataLoader` collects the keys of a level for `delay` (1 ms by default) before it
//! loads them, on a timer thread's wake-up: every level of a nested page paid a millisecond and two
//! thread switches. Without the delay the batch would start as soon as the executor got to it — after
//! the first few items of a list, since `FuturesUnordered` yields after two children that woke
//! themselves — and a page of 100 would cost dozens of statements instead of one per level.
//!
//! Here the request's future drives its own batches. The loader hands its batch futures to the
//! [`Dispatcher`] instead of spawning them; [`drive`] polls the request until it stops waking itself
//! (every resolver that can run has run, so every key of the level is known), then starts the batches
//! that collected meanwhile — a wave — and polls them in the same task. The next wave starts when this
//! one is done and the request is quiet again, so a response's statement count follows from its shape,
//! never from which batch happened to come back first; the request itself keeps running meanwhile (its
//! own queries hold pool connections that it must be able to finish). The loader's delay is zero: async-graphql
//! then builds an `async_io::Timer` that is already due (its `tokio-timer` feature is off here; with it
//! on, a zero `tokio::time::sleep` would wait for the next millisecond tick again).

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};

use async_graphql::Response;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::Loaders;

/// Polls of the request in a row, within one wake-up, before it yields to the executor (other tasks
/// get their turn; the batches still wait until the request is quiet).
const ROUNDS_PER_POLL: usize = 256;
/// Wake-ups in a row that end still busy after which the batches start anyway: the request keeps
/// waking itself without waiting for its loads (nothing here does; this bounds it if something did).
const BUSY_POLLS: usize = 64;

/// Where a request's loader puts the batches it wants to run.
#[derive(Default)]
pub struct Dispatcher {
    queue: Mutex<Vec<BoxFuture<'static, ()>>>,
    /// How many [`drive`]s are running the request (0 outside one: a subscription's event stream).
    drivers: AtomicUsize,
}

impl Dispatcher {
    /// The loader's spawner: queue the batch for the request's driver, or spawn it when no driver runs.
    pub fn spawn(&self, batch: BoxFuture<'static, ()>) {
        if self.drivers.load(Ordering::Acquire) > 0 {
            self.queue.lock().unwrap_or_else(|p| p.into_inner()).push(batch);
        } else {
            tokio::spawn(batch);
        }
    }

    fn has_queued(&self) -> bool {
        !self.queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    fn take(&self) -> Vec<BoxFuture<'static, ()>> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn attach(&self) -> Attached<'_> {
        self.drivers.fetch_add(1, Ordering::AcqRel);
        Attached(self)
    }
}

/// A running driver; when it goes (the request ended or was cancelled), batches still queued are
/// spawned, so the loader never waits for a batch that nobody runs.
struct Attached<'a>(&'a Dispatcher);

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        if self.0.drivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            for batch in self.0.take() {
                tokio::spawn(batch);
            }
        }
    }
}

/// The request's waker, noting that it was woken.
struct Noting {
    woken: AtomicBool,
    outer: Mutex<Waker>,
}

impl Wake for Noting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.outer.lock().unwrap_or_else(|p| p.into_inner()).wake_by_ref();
    }
}

/// Runs `request`, starting the loader's batches whenever it is waiting for nothing but them and I/O.
pub async fn drive<F: Future>(dispatcher: &Dispatcher, request: F) -> F::Output {
    let _attached = dispatcher.attach();
    let mut request = pin!(request);
    let mut batches = FuturesUnordered::new();
    let noting = Arc::new(Noting { woken: AtomicBool::new(false), outer: Mutex::new(Waker::noop().clone()) });
    let waker = Waker::from(noting.clone());
    let mut busy = 0;
    poll_fn(move |cx| {
        {
            let mut outer = noting.outer.lock().unwrap_or_else(|p| p.into_inner());
            if !outer.will_wake(cx.waker()) {
                outer.clone_from(cx.waker());
            }
        }
        let mut inner = std::task::Context::from_waker(&waker);
        loop {
            // Run the request until it waits: each round polls what woke during the one before.
            let mut quiet = false;
            for _ in 0..ROUNDS_PER_POLL {
                noting.woken.store(false, Ordering::Release);
                if let Poll::Ready(out) = request.as_mut().poll(&mut inner) {
                    return Poll::Ready(out);
                }
                if !noting.woken.load(Ordering::Acquire) {
                    quiet = true;
                    break;
                }
            }
            busy = if quiet { 0 } else { busy + 1 };
            // A new wave starts once the last one is done: keys that resolvers asked for meanwhile join
            // it, so how a response's loads group into statements does not depend on which batch of a
            // wave came back first.
            if batches.is_empty() && (quiet || busy >= BUSY_POLLS) {
                batches.extend(dispatcher.take());
            }
            // Batches that finish send their rows to the resolvers waiting for them (waking the request).
            noting.woken.store(false, Ordering::Release);
            while let Poll::Ready(Some(())) = batches.poll_next_unpin(cx) {}
            if !quiet {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // Go round again when a batch woke the request, or when the wave is done and the next one
            // is waiting.
            let next_wave = batches.is_empty() && dispatcher.has_queued();
            if !(noting.woken.load(Ordering::Acquire) || next_wave) {
                return Poll::Pending;
            }
        }
    })
    .await
}

/// The extension that runs every operation (query or mutation, over HTTP or WebSocket) under
/// [`drive`] with the request's loader.
pub struct DispatchBatches;

impl ExtensionFactory for DispatchBatches {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DispatchBatches)
    }
}

#[async_trait::async_trait]
impl Extension for DispatchBatches {
    fn wants_resolve(&self) -> bool {
        false
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        match ctx.data_opt::<Loaders>() {
            Some(loaders) => drive(&loaders.loader().dispatcher, next.run(ctx, operation_name)).await,
            None => next.run(ctx, operation_name).await,
        }
    }
}
