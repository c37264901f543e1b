//! Argon2id password hashing on a small pool of dedicated threads.
//!
//! Each hash needs `memory_kib` of working memory (19 MiB by default). On tokio's blocking pool every
//! call allocated its own, as many at once as callers asked for (up to 512 threads), and the allocator
//! kept the peak: twenty aliased logins from a few clients took the process from 20 MB to 4 GB. Here a
//! fixed number of threads (`PARTNERGRAPH_HASH_THREADS`, by default one per CPU) each allocate one
//! buffer the first time they hash and reuse it for every hash after (argon2's
//! `hash_password_into_with_memory`), so hashing memory is at most `threads × memory_kib` and does not
//! grow with load. A caller waits for a free thread at most `PARTNERGRAPH_HASH_WAIT_MS`, then is refused
//! with `TOO_MANY_ATTEMPTS` / `BUSY` instead of queueing without end. A thread's slot is given back when
//! its hash ends, even if the request that asked for it has gone (timed out, disconnected), so the
//! bound holds for abandoned work too.
//!
//! A thread that has not hashed for `IDLE` gives its buffer back to the system (the start-up hash's at
//! once): at rest the process holds no hashing memory (19 MiB per thread otherwise, for as long as it
//! runs); under a login flood every buffer stays in use and is reused.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use tokio::sync::Semaphore;

use crate::error::AppError;

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// A stored hash may ask for more memory than configured (written under an older, larger setting); it
/// gets a buffer of its own for that one hash, up to this size. Beyond it, it is not verified.
const MAX_FOREIGN_KIB: u32 = 256 * 1024;

pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified when the e-mail is unknown so that both paths cost the same.
    dummy_hash: String,
    pool: Pool,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads; a caller waits at most `wait` for one.
    pub fn new(memory_kib: u32, iterations: u32, threads: usize, wait: Duration) -> Result<Self, String> {
        Self::with_idle(memory_kib, iterations, threads, wait, IDLE)
    }

    /// `new`, with the time a thread keeps its buffer without a hash.
    fn with_idle(
        memory_kib: u32,
        iterations: u32,
        threads: usize,
        wait: Duration,
        idle: Duration,
    ) -> Result<Self, String> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| format!("argon2 params: {e}"))?;
        let pool = Pool::start(threads.max(1), wait, params.block_count(), idle)?;
        let dummy = {
            let params = params.clone();
            // Hashed at start-up, when no login waits: the buffer goes back at once.
            pool.run_blocking(move |memory| {
                let dummy = hash_with(&params, uuid::Uuid::new_v4().as_bytes(), memory);
                memory.release();
                dummy
            })?
        }
        .map_err(|e| format!("argon2: {e}"))?;
        Ok(Self { params, dummy_hash: dummy, pool })
    }

    /// Checks the password policy, then hashes.
    pub async fn hash(&self, password: &str) -> Result<String, AppError> {
        let n = password.chars().count();
        if n < PASSWORD_MIN {
            return Err(AppError::bad_input(
                "password",
                "PASSWORD_TOO_SHORT",
                format!("password: at least {PASSWORD_MIN} characters"),
            ));
        }
        if n > PASSWORD_MAX {
            return Err(AppError::bad_input(
                "password",
                "TOO_LONG",
                format!("password: at most {PASSWORD_MAX} characters"),
            ));
        }
        let params = self.params.clone();
        let password = password.to_owned();
        self.pool.run(move |memory| hash_with(&params, password.as_bytes(), memory)).await?.map_err(AppError::internal)
    }

    /// Verifies a password against a stored hash, or against a dummy hash when there is none. `Err`
    /// only when no hashing thread was free in time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AppError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let ok = self.pool.run(move |memory| verify_with(password.as_bytes(), &hash, memory)).await?;
        Ok(ok && known)
    }
}

/// The configured hash of `password` with a fresh random salt, as a PHC string.
fn hash_with(params: &Params, password: &[u8], memory: &mut Memory) -> Result<String, String> {
    let salt: [u8; 16] = rand::random();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    memory
        .with(params.block_count(), |blocks| argon.hash_password_into_with_memory(password, &salt, &mut out, blocks))
        .ok_or("argon2: memory cost out of range")?
        .map_err(|e| format!("argon2: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| format!("argon2 params: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| format!("argon2 salt: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| format!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`, computed with the stored algorithm, version and
/// parameters. A malformed stored hash matches nothing.
fn verify_with(password: &[u8], stored: &str, memory: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else { return false };
    let Ok(version) = Version::try_from(parsed.version.unwrap_or(Version::V0x13.into())) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    if params.m_cost() > MAX_FOREIGN_KIB {
        tracing::error!(m_cost = params.m_cost(), "a stored password hash asks for more memory than allowed");
        return false;
    }
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = memory
        .with(params.block_count(), |blocks| argon.hash_password_into_with_memory(password, salt, &mut out, blocks));
    match (computed, Output::new(&out)) {
        // `Output`'s equality is constant-time.
        (Some(Ok(())), Ok(computed)) => &computed == expected,
        _ => false,
    }
}

/// A hashing thread's working memory: allocated once, up to the configured size, and kept.
struct Memory {
    blocks: Vec<Block>,
    kept: usize,
}

impl Memory {
    /// Runs `f` on `n` blocks: the thread's own buffer when `n` fits the configured size, else a buffer
    /// for this call only (a stored hash with a larger cost). `None` when `n` is out of range.
    fn with<T>(&mut self, n: usize, f: impl FnOnce(&mut [Block]) -> T) -> Option<T> {
        if n <= self.kept {
            if self.blocks.len() < n {
                if self.blocks.capacity() == 0 {
                    self.blocks.reserve_exact(n.max(ALWAYS_MAPPED));
                }
                self.blocks.resize(n, Block::default());
            }
            self.blocks.get_mut(..n).map(f)
        } else if n <= (MAX_FOREIGN_KIB as usize) {
            let mut once = vec![Block::default(); n];
            Some(f(&mut once))
        } else {
            None
        }
    }
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// A buffer's reserved size, in blocks: over 32 MiB. glibc gives an allocation above its mmap threshold
/// a mapping of its own (unmapped when freed), but raises that threshold — up to 32 MiB — to the size of
/// any such block freed, so after the first buffer went back the next would come from the heap, whose
/// pages stay with the process when it is freed (measured: RSS stayed 24 MB higher after the buffer was
/// given back). Reserved beyond the threshold's ceiling, every buffer is its own mapping; only the pages
/// a hash touches (the configured memory cost) are resident.
const ALWAYS_MAPPED: usize = (32 << 20) / std::mem::size_of::<Block>() + 64;

/// How long a hashing thread keeps its buffer without a hash.
const IDLE: Duration = Duration::from_secs(30);

impl Memory {
    /// Gives the buffer back; the next hash allocates it again.
    fn release(&mut self) {
        if self.blocks.capacity() == 0 {
            return;
        }
        // A buffer this large is its own mapping (glibc: at least its mmap threshold, which only grows to
        // the size of the largest such block freed, so the same size stays mapped): freeing unmaps it.
        self.blocks = Vec::new();
    }

    /// Whether a buffer is held (for the tests).
    #[cfg(test)]
    fn held(&self) -> bool {
        self.blocks.capacity() > 0
    }
}

/// The hashing threads and the slots that bound how many hashes run or wait to run.
struct Pool {
    jobs: mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl Pool {
    fn start(threads: usize, wait: Duration, blocks: usize, idle: Duration) -> Result<Self, String> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = Memory { blocks: Vec::new(), kept: blocks };
                    loop {
                        // The lock is held only while waiting for the next job; the hash runs unlocked.
                        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv_timeout(idle);
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                memory.release();
                                // A thread waiting for the lock meanwhile takes its turn to wait (and
                                // to give its own buffer back after `idle`).
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            // The hasher was dropped: the thread ends.
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })
                .map_err(|e| format!("cannot start a hashing thread: {e}"))?;
        }
        Ok(Pool { jobs, slots: Arc::new(Semaphore::new(threads)), wait })
    }

    /// Runs `work` on a hashing thread once one is free (waiting at most `wait`).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(AppError::Internal("the hashing pool is closed".into())),
            Err(_) => {
                tracing::warn!(wait_ms = self.wait.as_millis() as u64, "no hashing thread free in time");
                return Err(AppError::busy());
            }
        };
        let (done, result) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move |memory: &mut Memory| {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(memory)));
            // The slot is free once the hash is done, whether or not anyone still waits for it.
            drop(permit);
            let _ = done.send(out);
        }))?;
        match result.await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(_)) => Err(AppError::Internal("a password hash panicked".into())),
            Err(_) => Err(AppError::Internal("a hashing thread ended".into())),
        }
    }

    /// `run` for the start-up, outside any runtime.
    fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (done, result) = mpsc::channel();
        self.submit(Box::new(move |memory: &mut Memory| {
            let _ = done.send(work(memory));
        }))
        .map_err(|_| "the hashing threads are gone".to_owned())?;
        result.recv().map_err(|_| "a hashing thread ended".to_owned())
    }

    fn submit(&self, job: Job) -> Result<(), AppError> {
        self.jobs.send(job).map_err(|_| AppError::Internal("the hashing threads are gone".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    impl PasswordHasher {
        async fn hash_owned(&self, password: String) -> Result<String, AppError> {
            self.hash(&password).await
        }
    }

    fn hasher(threads: usize) -> PasswordHasher {
        PasswordHasher::new(1024, 1, threads, Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn idle_threads_give_their_buffers_back_and_hash_again_after() {
        let idle = Duration::from_millis(500);
        let one = PasswordHasher::with_idle(1024, 1, 1, Duration::from_secs(5), idle).unwrap();
        // The start-up hash gave its buffer back; a hash keeps it until the thread has been idle.
        assert!(!one.pool.run(|m| m.held()).await.unwrap(), "none held after start-up");
        let stored = one.hash("correct horse battery").await.unwrap();
        assert!(one.pool.run(|m| m.held()).await.unwrap(), "kept right after hashing");
        tokio::time::sleep(idle * 3).await;
        assert!(!one.pool.run(|m| m.held()).await.unwrap(), "given back after the idle time");
        assert!(one.verify("correct horse battery", Some(&stored)).await.unwrap());

        // Two threads: each gives its buffer back in turn (one waiting for the queue's lock gets it).
        async fn held(h: &PasswordHasher) -> Vec<bool> {
            let jobs = (0..2).map(|_| h.pool.run(|m| m.held()));
            futures_util::future::join_all(jobs).await.into_iter().map(Result::unwrap).collect()
        }
        let two = PasswordHasher::with_idle(1024, 1, 2, Duration::from_secs(5), idle).unwrap();
        let hashes = (0..8).map(|i| two.hash_owned(format!("correct horse battery {i}")));
        assert!(futures_util::future::join_all(hashes).await.iter().all(Result::is_ok));
        assert!(held(&two).await.iter().any(|h| *h), "kept right after hashing");
        tokio::time::sleep(idle * 6).await;
        assert_eq!(held(&two).await, [false, false], "both given back after the idle time");
    }

    #[tokio::test]
    async fn pool_hashes_verify_with_the_argon2_crate_and_its_hashes_verify_here() {
        let h = hasher(2);
        let ours = h.hash("correct horse battery").await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"wrong horse battery", &parsed).is_err());
        // A hash written by the crate itself (as stored before the pool), with other parameters.
        let params = Params::new(2048, 2, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        assert!(h.verify("correct horse battery", Some(&theirs)).await.unwrap());
        assert!(!h.verify("correct horse batterz", Some(&theirs)).await.unwrap());
        assert!(h.verify("correct horse battery", Some(&ours)).await.unwrap());
        // Unknown users and malformed hashes never match.
        assert!(!h.verify("correct horse battery", None).await.unwrap());
        assert!(!h.verify("correct horse battery", Some("$argon2id$nonsense")).await.unwrap());
        // The same password hashes differently each time (a fresh salt).
        assert_ne!(h.hash("correct horse battery").await.unwrap(), ours);
    }

    #[tokio::test]
    async fn a_caller_that_waits_too_long_for_a_thread_is_refused_and_the_pool_recovers() {
        let h = Arc::new(PasswordHasher::new(8 * 1024, 4, 1, Duration::from_millis(1)).unwrap());
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.verify("whatever password", None).await })
            })
            .collect();
        let mut busy = 0;
        for c in calls {
            match c.await.unwrap() {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!((e.code(), e.reason()), ("TOO_MANY_ATTEMPTS", Some("BUSY")));
                    busy += 1;
                }
            }
        }
        assert!(busy >= 1, "eight hashes on one thread cannot all start within a millisecond");
        assert!(h.hash("a fine password").await.is_ok(), "the thread is free again once the others are done");
    }
}
