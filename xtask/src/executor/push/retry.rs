//! How a push meets a registry that fails: the token renewed when the
//! registry says it expired (three times at most), jittered backoff while it fails in passing, and
//! a look before blaming it (a push whose answer was lost may have landed).
//! Written against [`Registry`], so each path is tested with a scripted
//! registry (`retry/tests.rs`); the tool's registry is the engine with the
//! session's ECR token.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::docker::{PushError, RegistryFailure};

/// How many times one push renews the registry token.
const MAX_RENEWALS: u32 = 3;

/// What a push asks of the registry.
pub(crate) trait Registry {
    type Token;
    /// The token to use now (a cached one while it is fresh).
    fn token(&self) -> impl std::future::Future<Output = Result<Self::Token>>;
    /// Replaces a token the registry said had expired.
    fn renew(&self, stale: &Self::Token) -> impl std::future::Future<Output = Result<()>>;
    /// The digest of the image's tag, when the registry has it.
    fn has(
        &self,
        token: &Self::Token,
    ) -> impl std::future::Future<Output = Result<Option<String>, PushError>>;
    /// Pushes the image; answers its digest.
    fn upload(&self, token: &Self::Token) -> impl std::future::Future<Output = Result<String, PushError>>;
}

/// The rules of one push.
pub(crate) struct Policy {
    /// How long to keep trying a registry that fails in passing.
    pub(crate) budget: Duration,
    /// The first pause; it doubles up to `longest_backoff`, each drawn from its upper half.
    pub(crate) first_backoff: Duration,
    pub(crate) longest_backoff: Duration,
    /// Whether an image the registry has under this tag is this image: not
    /// for a dirty tree's tag, which may name other content.
    pub(crate) trust_registry: bool,
    /// Whether to skip the push when the registry has the tag (not with `--force`).
    pub(crate) skip_present: bool,
}

/// How a push ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// The registry had the image before anything was pushed.
    Present(String),
    /// Pushed, with its digest, after `tries` tries.
    Done { digest: String, tries: u32, how: How },
}

/// How the push was known to have landed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum How {
    /// The push answered with the digest.
    Answered,
    /// A try whose answer was lost had landed: the next try found it.
    EarlierTryLanded,
    /// The push reported this error, but the registry has the image.
    FoundDespite(String),
}

/// Pushes `reference` under `policy`; `say` gets a line for each renewal and
/// retry, as they happen.
pub(crate) async fn push<R: Registry>(
    registry: &R,
    policy: &Policy,
    reference: &str,
    say: impl Fn(String),
) -> Result<Pushed> {
    let started = Instant::now();
    let mut renewals = 0;
    let mut backoff = policy.first_backoff;
    let mut tries = 1;
    loop {
        // Asked each try: a cached token close to expiry is renewed, and one
        // a refused push renewed is used.
        let token = registry.token().await?;
        let existing =
            if policy.trust_registry && policy.skip_present { registry.has(&token).await } else { Ok(None) };
        let result = match existing {
            Ok(Some(digest)) if tries == 1 => return Ok(Pushed::Present(digest)),
            // An earlier try had landed before its answer was lost.
            Ok(Some(digest)) => return Ok(Pushed::Done { digest, tries, how: How::EarlierTryLanded }),
            Ok(None) => registry.upload(&token).await,
            Err(e) => Err(e),
        };
        let PushError { kind, message } = match result {
            Ok(digest) => return Ok(Pushed::Done { digest, tries, how: How::Answered }),
            Err(e) => e,
        };
        match kind {
            // Renewed a few times at most: a registry that keeps refusing
            // fresh tokens is refusing this role, not an old token.
            RegistryFailure::TokenExpired if renewals < MAX_RENEWALS => {
                say("registry token expired; renewing it and trying again".to_string());
                registry.renew(&token).await?;
                renewals += 1;
                continue;
            }
            RegistryFailure::Transient if started.elapsed() + backoff.mul_f64(0.5) < policy.budget => {
                let wait = jittered(backoff).min(policy.budget.saturating_sub(started.elapsed()));
                say(format!(
                    "{}; try {} in {:.1}s (retrying for up to {})",
                    message.trim(),
                    tries + 1,
                    wait.as_secs_f64(),
                    crate::duration::human(policy.budget)
                ));
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(policy.longest_backoff);
                tries += 1;
                continue;
            }
            _ => {}
        }
        // A push can fail after the registry took the tag (a stream cut after
        // the manifest landed): look before blaming the registry.
        if policy.trust_registry && kind != RegistryFailure::TokenExpired {
            if let Ok(Some(digest)) = registry.has(&token).await {
                return Ok(Pushed::Done {
                    digest,
                    tries,
                    how: How::FoundDespite(message.trim().to_string()),
                });
            }
        }
        let hint = match kind {
            RegistryFailure::TokenExpired => {
                "the registry refused a freshly renewed token; check that the AWS role may push to this repository"
            }
            RegistryFailure::Transient => "the registry kept failing; check that it is reachable, then rerun",
            RegistryFailure::Permanent => {
                "check the registry address in the environment file and the role's ECR permissions"
            }
        };
        let tried = if tries > 1 {
            format!(" ({tries} tries in {:.0}s)", started.elapsed().as_secs_f64())
        } else {
            String::new()
        };
        bail!("push {reference}: {}{tried}; {hint}", message.trim());
    }
}

/// A pause between half of `backoff` and all of it, so that parallel pushes
/// do not retry in lockstep.
pub(crate) fn jittered(backoff: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the operating system's randomness.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    backoff.mul_f64(0.5 + (random % 1000) as f64 / 2000.0)
}

#[cfg(test)]
mod tests;
