//! One release, deploy or rollback at a time per ECS cluster on a machine.
//!
//! The lock is an advisory lock (`flock`) on a file named after the account,
//! region and cluster. The kernel releases it the moment its holder ends,
//! however it ends (a crash, `kill -9`, a closed terminal), so no stale lock
//! ever blocks a run, and a live holder's lock cannot be broken. The file
//! also says who holds it, for the message the next run prints; a file that
//! still names a holder when its lock is free was left by a run that did not
//! finish, which the next run mentions.
//!
//! Runs on different machines do not see each other's locks: CI serialises
//! them with a concurrency group (see `.github/workflows/release.yml`).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::project::Environment;
use crate::report::{show, Reporter};

/// How often a run that waits for the lock tries again.
const RETRY: Duration = Duration::from_millis(250);

/// Held while it lives; dropping it clears the holder and releases the lock.
pub(crate) struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // A file without a holder tells the next run this one finished.
        let _ = self.file.set_len(0);
    }
}

/// The locks of every cluster a run changes, held together.
pub(crate) struct Locks(#[allow(dead_code)] Vec<Lock>);

/// Where lock files live: `XTASK_LOCK_DIR`, else `xtask-locks` in the
/// system's temporary folder, shared by every checkout on the machine.
fn lock_dir() -> PathBuf {
    std::env::var_os("XTASK_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("xtask-locks"))
}

/// Takes the lock of each cluster (services may run in clusters of their
/// own), in name order so that two runs never wait for each other, each
/// waiting up to `wait` for a run that holds it; refuses, naming the holder,
/// when one is still held.
pub(crate) fn acquire(
    out: &Reporter,
    environment: &Environment,
    clusters: &[&str],
    wait: Duration,
) -> Result<Locks> {
    let mut clusters = clusters.to_vec();
    clusters.sort();
    clusters.dedup();
    let dir = lock_dir();
    clusters
        .into_iter()
        .map(|cluster| acquire_in(out, &dir, environment, cluster, wait))
        .collect::<Result<_>>()
        .map(Locks)
}

fn acquire_in(
    out: &Reporter,
    dir: &Path,
    environment: &Environment,
    cluster: &str,
    wait: Duration,
) -> Result<Lock> {
    fs::create_dir_all(dir).with_context(|| format!("create the lock folder {}", dir.display()))?;
    let path = dir.join(format!("{}-{}-{cluster}.lock", environment.account_id, environment.region));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("open the lock file {}", path.display()))?;
    let deadline = Instant::now() + wait;
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&mut file);
                if Instant::now() >= deadline {
                    bail!(
                        "cluster {cluster} (env {}) is being changed by another run: {holder}; wait for it to \
                         finish, or pass --wait-for-lock 10m to wait (the lock is released the moment that run \
                         ends, however it ends)",
                        environment.name
                    );
                }
                if !told {
                    show!(out, "waiting for the lock of cluster {cluster}, held by {holder}");
                    told = true;
                }
                std::thread::sleep(RETRY.min(deadline.saturating_duration_since(Instant::now())));
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("lock {}", path.display()));
            }
        }
    }
    let previous = holder(&mut file);
    if !previous.is_empty() {
        show!(
            out,
            "note: an earlier run did not finish ({previous}); this one continues from where it stopped"
        );
    }
    file.set_len(0).and_then(|()| file.rewind()).context("clear the lock file")?;
    let me =
        format!("pid {} (`{}`, started {})", std::process::id(), command_line(), crate::clock::now_rfc3339());
    file.write_all(me.as_bytes()).and_then(|()| file.flush()).context("write the lock file")?;
    Ok(Lock { file })
}

/// Who holds the lock, as its holder wrote it.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    text.trim().to_string()
}

/// The command as typed, `cargo xtask release --env prod`.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment() -> Environment {
        Environment {
            name: "dev".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            cluster: "demo".into(),
            registry_override: None,
            protected: false,
            values: toml::Table::new(),
        }
    }

    #[test]
    fn a_held_lock_is_refused_at_once_or_waited_for() {
        let out = &Reporter::recording(crate::report::Level::Normal);
        let dir = tempfile::tempdir().unwrap();
        let first = acquire_in(out, dir.path(), &environment(), "demo", Duration::ZERO).unwrap();
        // Another cluster of the same account and region is not held.
        drop(acquire_in(out, dir.path(), &environment(), "jobs", Duration::ZERO).unwrap());
        let refused =
            acquire_in(out, dir.path(), &environment(), "demo", Duration::from_millis(300)).err().unwrap();
        let message = format!("{refused:#}");
        assert!(
            message.starts_with(&format!(
                "cluster demo (env dev) is being changed by another run: pid {} (`cargo xtask ",
                std::process::id()
            )),
            "{message}"
        );
        // Released while the next one waits: the waiting one gets it.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(first);
        });
        let started = Instant::now();
        let waited = acquire_in(out, dir.path(), &environment(), "demo", Duration::from_secs(10));
        releaser.join().unwrap();
        assert!(waited.is_ok(), "{:#}", waited.err().unwrap());
        assert!(started.elapsed() >= Duration::from_millis(150), "it did not wait");
    }
}
