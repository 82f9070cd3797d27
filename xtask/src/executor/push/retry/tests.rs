//! Each way a registry fails a push, played by a scripted registry.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;

/// An upload's scripted answer: a digest, or a failure and whether the image
/// landed anyway (an answer cut after the registry took it).
type Answer = Result<String, (RegistryFailure, &'static str, bool)>;

/// A registry answering from scripts: each upload takes the next answer;
/// `has` answers what the registry holds.
#[derive(Default)]
struct Scripted {
    uploads: Mutex<VecDeque<Answer>>,
    present: Mutex<Option<String>>,
    tokens: Mutex<u32>,
    renewals: Mutex<u32>,
}

impl Scripted {
    fn new(uploads: Vec<Answer>) -> Scripted {
        Scripted { uploads: Mutex::new(uploads.into()), ..Scripted::default() }
    }
}

impl Registry for Scripted {
    type Token = u32;

    async fn token(&self) -> Result<u32> {
        Ok(*self.tokens.lock().unwrap())
    }

    async fn renew(&self, stale: &u32) -> Result<()> {
        *self.renewals.lock().unwrap() += 1;
        *self.tokens.lock().unwrap() = stale + 1;
        Ok(())
    }

    async fn has(&self, _: &u32) -> Result<Option<String>, PushError> {
        Ok(self.present.lock().unwrap().clone())
    }

    async fn upload(&self, _: &u32) -> Result<String, PushError> {
        match self.uploads.lock().unwrap().pop_front().expect("no more uploads were scripted") {
            Ok(digest) => {
                *self.present.lock().unwrap() = Some(digest.clone());
                Ok(digest)
            }
            Err((kind, message, landed)) => {
                if landed {
                    *self.present.lock().unwrap() = Some("sha256:landed".to_string());
                }
                Err(PushError { kind, message: message.to_string() })
            }
        }
    }
}

fn policy() -> Policy {
    Policy {
        budget: Duration::from_secs(5),
        first_backoff: Duration::from_millis(2),
        longest_backoff: Duration::from_millis(8),
        trust_registry: true,
        skip_present: true,
    }
}

/// Pushes through `registry`; answers how it ended and the lines it said.
fn push_with(registry: &Scripted, policy: &Policy) -> (Result<Pushed>, Vec<String>) {
    let said = Mutex::new(Vec::new());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let result =
        runtime.block_on(push(registry, policy, "reg/app:abc", |line| said.lock().unwrap().push(line)));
    (result, said.into_inner().unwrap())
}

const CUT: RegistryFailure = RegistryFailure::Transient;

#[test]
fn an_image_the_registry_has_is_not_pushed_again() {
    let registry = Scripted::new(vec![]);
    *registry.present.lock().unwrap() = Some("sha256:there".into());
    let (pushed, said) = push_with(&registry, &policy());
    assert_eq!(pushed.unwrap(), Pushed::Present("sha256:there".into()));
    assert!(said.is_empty());
    // With --force it is pushed anyway.
    let registry = Scripted::new(vec![Ok("sha256:new".into())]);
    *registry.present.lock().unwrap() = Some("sha256:there".into());
    let forced = Policy { skip_present: false, ..policy() };
    let (pushed, _) = push_with(&registry, &forced);
    assert_eq!(pushed.unwrap(), Pushed::Done { digest: "sha256:new".into(), tries: 1, how: How::Answered });
}

#[test]
fn an_expired_token_is_renewed_once_and_the_push_tried_again() {
    let registry = Scripted::new(vec![
        Err((RegistryFailure::TokenExpired, "unauthorized", false)),
        Ok("sha256:a".into()),
    ]);
    let (pushed, said) = push_with(&registry, &policy());
    assert_eq!(pushed.unwrap(), Pushed::Done { digest: "sha256:a".into(), tries: 1, how: How::Answered });
    assert_eq!(said, ["registry token expired; renewing it and trying again"]);
    assert_eq!(*registry.renewals.lock().unwrap(), 1);
}

#[test]
fn a_registry_that_keeps_refusing_renewed_tokens_is_an_error_naming_the_role() {
    let expired = || Err((RegistryFailure::TokenExpired, "unauthorized: token expired", false));
    let registry = Scripted::new(vec![expired(), expired(), expired(), expired()]);
    let (pushed, said) = push_with(&registry, &policy());
    assert_eq!(
        pushed.unwrap_err().to_string(),
        "push reg/app:abc: unauthorized: token expired; the registry refused a freshly renewed token; check that \
         the AWS role may push to this repository"
    );
    assert_eq!(*registry.renewals.lock().unwrap(), 3, "three renewals, then it stops");
    assert_eq!(said.len(), 3);
}

#[test]
fn a_token_refused_again_is_renewed_again() {
    let expired = || Err((RegistryFailure::TokenExpired, "unauthorized: token expired", false));
    let registry = Scripted::new(vec![
        expired(),
        Err((CUT, "503 Service Unavailable", false)),
        expired(),
        Ok("sha256:c".into()),
    ]);
    let (pushed, said) = push_with(&registry, &policy());
    assert_eq!(pushed.unwrap(), Pushed::Done { digest: "sha256:c".into(), tries: 2, how: How::Answered });
    assert_eq!(*registry.renewals.lock().unwrap(), 2);
    assert_eq!(said.len(), 3, "{said:?}");
}

#[test]
fn failures_in_passing_are_retried_with_pauses() {
    let registry = Scripted::new(vec![
        Err((CUT, "502 Bad Gateway", false)),
        Err((CUT, "connection reset", false)),
        Ok("sha256:b".into()),
    ]);
    let (pushed, said) = push_with(&registry, &policy());
    assert_eq!(pushed.unwrap(), Pushed::Done { digest: "sha256:b".into(), tries: 3, how: How::Answered });
    assert_eq!(said.len(), 2);
    assert!(said[0].starts_with("502 Bad Gateway; try 2 in 0.0"), "{}", said[0]);
    assert!(said[0].ends_with("s (retrying for up to 5s)"), "{}", said[0]);
    assert!(said[1].starts_with("connection reset; try 3 in "), "{}", said[1]);
}

#[test]
fn a_registry_failing_past_the_budget_is_an_error_with_the_tries() {
    let failures = (0..1000).map(|_| Err((CUT, "503 Service Unavailable", false))).collect();
    let registry = Scripted::new(failures);
    let short = Policy { budget: Duration::from_millis(60), ..policy() };
    let (pushed, said) = push_with(&registry, &short);
    let error = pushed.unwrap_err().to_string();
    let tries = said.len() + 1;
    assert!(tries >= 3, "{said:?}");
    assert_eq!(
        error,
        format!(
            "push reg/app:abc: 503 Service Unavailable ({tries} tries in 0s); the registry kept failing; check that \
             it is reachable, then rerun"
        )
    );
}

#[test]
fn a_try_whose_answer_was_cut_after_it_landed_counts_as_pushed() {
    let registry = Scripted::new(vec![Err((CUT, "unexpected EOF", true))]);
    let (pushed, said) = push_with(&registry, &policy());
    assert_eq!(
        pushed.unwrap(),
        Pushed::Done { digest: "sha256:landed".into(), tries: 2, how: How::EarlierTryLanded }
    );
    assert_eq!(said.len(), 1, "one retry, which found the image");
}

#[test]
fn a_refused_push_the_registry_took_anyway_counts_unless_the_tag_is_dirty() {
    let refused = || Err((RegistryFailure::Permanent, "manifest invalid", true));
    let (pushed, _) = push_with(&Scripted::new(vec![refused()]), &policy());
    assert_eq!(
        pushed.unwrap(),
        Pushed::Done {
            digest: "sha256:landed".into(),
            tries: 1,
            how: How::FoundDespite("manifest invalid".into())
        }
    );
    // A dirty tag may name other content: the registry's copy proves nothing.
    let dirty = Policy { trust_registry: false, ..policy() };
    let (pushed, _) = push_with(&Scripted::new(vec![refused()]), &dirty);
    assert_eq!(
        pushed.unwrap_err().to_string(),
        "push reg/app:abc: manifest invalid; check the registry address in the environment file and the role's ECR \
         permissions"
    );
}
