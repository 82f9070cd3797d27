//! What every AWS client shares: how it is configured and how its errors
//! read.

use anyhow::anyhow;
use aws_config::retry::RetryConfig;
use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// Tries per AWS call: throttling and 5xx answers are retried with jittered
/// exponential backoff by the SDK, a little more patiently than its default 3.
const MAX_ATTEMPTS: u32 = 5;

/// The shared configuration: credentials and endpoint from the usual places
/// (`AWS_PROFILE`, SSO, `AWS_ENDPOINT_URL`...), the environment's region, and
/// an HTTPS client on rustls with ring.
pub(crate) async fn config(region: &str) -> aws_config::SdkConfig {
    let http =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    // Every call is bounded: an endpoint that accepts connections and never
    // answers (a stopped process, a black-holed route) ends the command
    // with an error instead of holding it until CI's job timeout.
    let attempt = call_timeout();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(attempt.min(CONNECT_TIMEOUT))
        .read_timeout(attempt)
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * OPERATION_ATTEMPTS)
        .build();
    aws_config::from_env()
        .region(aws_config::Region::new(region.to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(timeouts)
        .http_client(http)
        .load()
        .await
}

/// How long one attempt of an AWS call may take: `XTASK_AWS_TIMEOUT` (a
/// duration such as `20s` or `1m`), else 20 s, far above what a healthy
/// endpoint needs. A whole call, retries included, may take three times that.
pub(crate) fn call_timeout() -> std::time::Duration {
    crate::duration::from_env("XTASK_AWS_TIMEOUT").filter(|d| !d.is_zero()).unwrap_or(DEFAULT_CALL_TIMEOUT)
}

const DEFAULT_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// Connecting takes one round trip; longer means nothing is there.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A call's whole budget, in attempt timeouts.
const OPERATION_ATTEMPTS: u32 = 3;

/// The endpoint an AWS client of `service_id` (the SDK's name: `"ECS"`,
/// `"ECR"`, `"STS"`) talks to, found the way the SDK finds it: the
/// service's own `AWS_ENDPOINT_URL_<SERVICE>` or profile `endpoint_url` in
/// its services section, else `AWS_ENDPOINT_URL` or the profile's
/// `endpoint_url`, else AWS's own `https://<host>` for the region.
pub(crate) fn endpoint(config: &aws_config::SdkConfig, service_id: &str, default_host: &str) -> String {
    use aws_types::service_config::ServiceConfigKey;
    let env = format!("AWS_ENDPOINT_URL_{}", service_id.to_ascii_uppercase().replace(' ', "_"));
    let key = ServiceConfigKey::builder().service_id(service_id).env(&env).profile("endpoint_url").build();
    key.ok()
        .and_then(|key| config.service_config()?.load_config(key))
        .or_else(|| config.endpoint_url().map(str::to_string))
        .unwrap_or_else(|| format!("https://{default_host}"))
}

/// The account the AWS session belongs to, asked of STS (GetCallerIdentity
/// needs no permission, so any working session can answer).
pub(crate) async fn account(region: &str) -> anyhow::Result<String> {
    let config = config(region).await;
    let endpoint = endpoint(&config, "STS", &format!("sts.{region}.amazonaws.com"));
    let client = aws_sdk_sts::Client::new(&config);
    let identity = client
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error(e, "ask AWS whose session this is", &endpoint))?;
    identity.account().map(str::to_string).ok_or_else(|| anyhow!("STS named no account for this session"))
}

/// Refuses a session of another account than the environment's: a release
/// with the wrong profile exported must change nothing anywhere.
pub(crate) fn check_account(environment: &crate::project::Environment, session: &str) -> anyhow::Result<()> {
    if session == environment.account_id {
        return Ok(());
    }
    Err(anyhow!(
        "the AWS session is for account {session}, but env {name} is account {wanted} (`account_id` in \
         env/{name}.toml); export the AWS_PROFILE of account {wanted}, or correct `account_id`",
        name = environment.name,
        wanted = environment.account_id
    ))
}

/// What the credential chain (environment, `AWS_PROFILE`, SSO,
/// `credential_process`...) gives: `Ok(None)` for long-lived keys,
/// `Ok(Some(expiry))` for temporary ones. Expired credentials are an error
/// that says how to renew them. Nothing of the credentials is returned.
pub(crate) async fn session_expiry(region: &str) -> anyhow::Result<Option<std::time::SystemTime>> {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_ecr::config::ProvideCredentials;
    let config = config(region).await;
    let provider =
        config.credentials_provider().ok_or_else(|| anyhow!("no AWS credential provider is set up"))?;
    let credentials = provider.provide_credentials().await.map_err(|e| {
        // The chain's last source (instance metadata, on a laptop) gives the
        // error; its one-line reason says enough, the whole chain is noise.
        let reason: String = match &e {
            CredentialsError::CredentialsNotLoaded(_) => {
                "none in the environment, the AWS config files, SSO or instance metadata".to_string()
            }
            _ => {
                let text =
                    std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
                text.lines().next().unwrap_or_default().chars().take(160).collect()
            }
        };
        anyhow!(
            "no usable AWS credentials found ({reason}); run `aws sso login` or `aws configure`, export \
             AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    })?;
    match credentials.expiry() {
        Some(expiry) if expiry <= std::time::SystemTime::now() => Err(anyhow!(
            "the AWS session has expired; renew it: `aws sso login` (with the right AWS_PROFILE exported), or \
             fresh MFA credentials"
        )),
        expiry => Ok(expiry),
    }
}

/// An AWS error as a sentence that says what to do about it; `endpoint` is
/// where the call went, named when it could not be reached.
pub(crate) fn aws_error<E, R>(error: SdkError<E, R>, what: &str, endpoint: &str) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let unreachable = "check the network (VPN, proxy, security group), AWS_ENDPOINT_URL and the region; \
                       `cargo xtask doctor --env ENV` diagnoses the endpoint";
    let timed_out = match &error {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_timeout(),
        _ => false,
    };
    if timed_out {
        return anyhow!(
            "cannot {what}: {endpoint} did not answer within {} (each try; the endpoint is stopped or \
             unreachable); {unreachable}",
            crate::duration::human(call_timeout())
        );
    }
    // Credentials that cannot be found fail the call before it is sent.
    let detail = format!("{}", DisplayErrorContext(&error));
    if detail.contains("no credentials") || detail.contains("credentials provider") {
        return anyhow!(
            "cannot {what}: no AWS credentials found; run `aws sso login` or `aws configure`, export AWS_PROFILE, \
             or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        );
    }
    if let SdkError::DispatchFailure(failure) = &error {
        if failure.is_io() || failure.is_other() {
            // The cause, in words, from the chain of sources (never their Debug form).
            let mut chain = String::new();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                chain.push_str(&cause.to_string().to_ascii_lowercase());
                chain.push(' ');
                source = cause.source();
            }
            let why = if chain.contains("dns") || chain.contains("lookup") || chain.contains("resolve") {
                " (the name does not resolve)"
            } else if chain.contains("refused") {
                " (nothing listens there)"
            } else if chain.contains("tls") || chain.contains("certificate") || chain.contains("handshake") {
                " (the TLS handshake failed: a wrong https:// endpoint, or a proxy that intercepts HTTPS)"
            } else {
                ""
            };
            return anyhow!("cannot {what}: could not connect to {endpoint}{why}; {unreachable}");
        }
    }
    let code = error.code().unwrap_or("").to_string();
    let message = error.message().unwrap_or("").to_string();
    let session = "renew the AWS session: `aws sso login` (with the right AWS_PROFILE exported), or fresh \
                   MFA credentials";
    match code.as_str() {
        "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" => {
            anyhow!("cannot {what}: the AWS session has expired ({message}); {session}")
        }
        "UnrecognizedClientException" | "InvalidClientTokenId" | "InvalidSignatureException" => {
            anyhow!("cannot {what}: AWS does not accept these credentials ({message}); {session}, and check AWS_PROFILE")
        }
        "AccessDeniedException" | "AccessDenied" => anyhow!(
            "cannot {what}: access denied ({message}); the role in use needs the permission for this; ask \
             whoever manages the account's IAM policies"
        ),
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" => anyhow!(
            "cannot {what}: AWS kept throttling requests after {MAX_ATTEMPTS} tries ({message}); try again shortly"
        ),
        _ if matches!(error, SdkError::ResponseError(_)) => anyhow!(
            "cannot {what}: {endpoint} answered with something that is not an AWS answer (an HTML error page, or a \
             proxy in between); check AWS_ENDPOINT_URL and the network, then try again"
        ),
        // The chain of causes in words: `DisplayErrorContext` would end with a Debug dump.
        _ if code.is_empty() => anyhow!("cannot {what}: {}", causes(&error)),
        _ => anyhow!("cannot {what}: {code}: {message}"),
    }
}

/// An error and its sources, each in its own words, joined by `: `.
fn causes(error: &dyn std::error::Error) -> String {
    let mut words = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !words.iter().any(|w| w.contains(&text)) {
            words.push(text);
        }
        source = cause.source();
    }
    words.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_that_is_not_an_aws_answer_is_told_in_words_not_a_debug_dump() {
        let error: SdkError<aws_sdk_ecs::operation::run_task::RunTaskError, String> =
            SdkError::response_error("malformed JSON error body", "<!doctype html><h1>500</h1>".to_string());
        let text = aws_error(error, "start a task", "http://127.0.0.1:5055").to_string();
        assert_eq!(
            text,
            "cannot start a task: http://127.0.0.1:5055 answered with something that is not an AWS answer (an HTML \
             error page, or a proxy in between); check AWS_ENDPOINT_URL and the network, then try again"
        );
    }
}
