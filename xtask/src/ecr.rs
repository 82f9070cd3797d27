//! ECR: the registry token, cached for the run and renewed when it expires
//! or when the registry says it has; image repositories.
//!
//! The token is handed to the engine with each request and lives only in
//! memory: never `docker login`, never a file, never a log line.

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};
use bollard::auth::DockerCredentials;
use tokio::sync::Mutex;

use crate::aws::{self, aws_error};

/// A token this close to its expiry is renewed before it is used.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

pub(crate) struct Ecr {
    client: aws_sdk_ecr::Client,
    /// Where the ECR calls go, for errors that say so.
    endpoint: String,
    /// The registry images go to (the account's ECR endpoint, or the environment's override).
    registry: String,
    token: Mutex<Option<Token>>,
}

struct Token {
    credentials: DockerCredentials,
    /// When ECR says it expires; `None` when that was already past on
    /// arrival (local emulators issue such tokens), so that only the
    /// registry's own "expired" answer renews it and nothing loops.
    expires_at: Option<SystemTime>,
}

impl Ecr {
    pub(crate) async fn connect(region: &str, registry: &str) -> Ecr {
        let config = aws::config(region).await;
        Ecr {
            client: aws_sdk_ecr::Client::new(&config),
            endpoint: aws::endpoint(&config, "ECR", &format!("api.ecr.{region}.amazonaws.com")),
            registry: registry.to_string(),
            token: Mutex::new(None),
        }
    }

    /// Credentials for the registry, from the cache unless they are about to expire.
    pub(crate) async fn credentials(&self) -> Result<DockerCredentials> {
        let mut token = self.token.lock().await;
        let fresh = token.as_ref().is_some_and(|t| is_fresh(t.expires_at, SystemTime::now()));
        if !fresh {
            *token = Some(self.fetch().await?);
        }
        Ok(token.as_ref().expect("a token was just stored").credentials.clone())
    }

    /// Replaces the cached token, after the registry answered that it expired.
    /// `stale` is the password that was refused: when another push already
    /// renewed it, that newer token is used instead of asking again.
    pub(crate) async fn renew(&self, stale: &DockerCredentials) -> Result<DockerCredentials> {
        let mut token = self.token.lock().await;
        if let Some(current) = &*token {
            if current.credentials.password != stale.password {
                return Ok(current.credentials.clone());
            }
        }
        *token = Some(self.fetch().await?);
        Ok(token.as_ref().expect("a token was just stored").credentials.clone())
    }

    async fn fetch(&self) -> Result<Token> {
        let output = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| aws_error(e, "get an ECR token", &self.endpoint))?;
        let data = output
            .authorization_data()
            .first()
            .context("ECR returned no authorization data; check the region and the account")?;
        let encoded = data.authorization_token().context("ECR returned an empty authorization token")?;
        let decoded =
            aws_smithy_types::base64::decode(encoded).context("ECR's authorization token is not base64")?;
        let decoded = String::from_utf8(decoded).context("ECR's authorization token is not text")?;
        let (username, password) =
            decoded.split_once(':').context("ECR's authorization token is not of the form user:password")?;
        let now = SystemTime::now();
        let expires_at =
            data.expires_at().and_then(|at| SystemTime::try_from(*at).ok()).filter(|at| *at > now);
        Ok(Token {
            credentials: DockerCredentials {
                username: Some(username.to_string()),
                password: Some(password.to_string()),
                serveraddress: Some(self.registry.clone()),
                ..Default::default()
            },
            expires_at,
        })
    }

    /// Creates the repository unless it exists; returns whether it was created.
    pub(crate) async fn ensure_repository(&self, name: &str, immutable_tags: bool) -> Result<bool> {
        match self.client.describe_repositories().repository_names(name).send().await {
            Ok(_) => return Ok(false),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => {}
            Err(e) => return Err(aws_error(e, &format!("look up ECR repository {name}"), &self.endpoint)),
        }
        let mutability =
            if immutable_tags { ImageTagMutability::Immutable } else { ImageTagMutability::Mutable };
        let created = self
            .client
            .create_repository()
            .repository_name(name)
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(true).build())
            .image_tag_mutability(mutability)
            .send()
            .await;
        match created {
            Ok(_) => Ok(true),
            // Another run created it in between: that is what we wanted.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_already_exists_exception()) => {
                Ok(false)
            }
            Err(e) => Err(aws_error(e, &format!("create ECR repository {name}"), &self.endpoint)),
        }
    }
}

/// Whether a cached token may still be used at `now`. A token without a
/// usable expiry (it arrived expired) is kept until the registry refuses it.
fn is_fresh(expires_at: Option<SystemTime>, now: SystemTime) -> bool {
    expires_at.is_none_or(|at| now + RENEW_BEFORE_EXPIRY < at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_shortly_before_they_expire() {
        let now = SystemTime::now();
        assert!(is_fresh(Some(now + Duration::from_secs(3600)), now));
        assert!(!is_fresh(Some(now + Duration::from_secs(60)), now));
        assert!(!is_fresh(Some(now - Duration::from_secs(1)), now));
        // Born expired: no expiry is kept, so nothing renews it in a loop.
        assert!(is_fresh(None, now));
    }
}
