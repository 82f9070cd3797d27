//! Values that are credentials by their shape, whatever they are called: a
//! Stripe live key, an AWS access key id, a GitHub or Slack token, a PEM
//! private key, or a URL carrying a password. A task definition must not
//! carry one in `environment`, and nothing shown may repeat one.

/// What `render` and `--dry-run` print in place of a secret value.
pub(crate) const REDACTED: &str = "<redacted>";

/// Whether a variable's name says it holds a credential, so that it is
/// redacted even when a template forgot to use `secret(...)`.
pub(crate) fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.contains("SECRET")
        || upper.contains("PASSWORD")
        || upper.contains("TOKEN")
        || upper.contains("CONNECTION_STRING")
        || upper.ends_with("_KEY")
        || upper.ends_with("KEY_ID")
        || upper == "DSN"
        || upper.ends_with("_DSN")
}

/// Token prefixes, what they are, and how many token characters must follow.
const TOKENS: &[(&str, &str, usize)] = &[
    ("sk_live_", "a Stripe live secret key", 10),
    ("rk_live_", "a Stripe live restricted key", 10),
    ("AKIA", "an AWS access key id", 16),
    ("ASIA", "an AWS access key id", 16),
    ("ghp_", "a GitHub token", 30),
    ("gho_", "a GitHub token", 30),
    ("ghu_", "a GitHub token", 30),
    ("ghs_", "a GitHub token", 30),
    ("ghr_", "a GitHub token", 30),
    ("github_pat_", "a GitHub token", 20),
    ("xoxb-", "a Slack token", 10),
    ("xoxp-", "a Slack token", 10),
    ("xoxa-", "a Slack token", 10),
    ("xoxs-", "a Slack token", 10),
    ("xoxr-", "a Slack token", 10),
];

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// One credential found in a text: where it is, and what it is.
struct Found {
    start: usize,
    end: usize,
    kind: &'static str,
}

/// Every credential in `text`, in order, not overlapping.
fn find(text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    for (prefix, kind, least) in TOKENS {
        for (start, _) in text.match_indices(prefix) {
            // A token starts a word: `xAKIA...` is not a key id.
            if text[..start].chars().last().is_some_and(token_char) {
                continue;
            }
            let body = &text[start + prefix.len()..];
            let length = body.find(|c: char| !token_char(c)).unwrap_or(body.len());
            // An AWS key id is exactly 16 upper-case letters and digits after its prefix.
            let aws = prefix.starts_with("AKIA") || prefix.starts_with("ASIA");
            let fits = if aws {
                length == *least
                    && body[..length].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            } else {
                length >= *least
            };
            if fits {
                found.push(Found { start, end: start + prefix.len() + length, kind });
            }
        }
    }
    if let Some(start) = text.find("-----BEGIN") {
        if text[start..].contains("PRIVATE KEY-----") {
            // To the end of the `-----END ... PRIVATE KEY-----` line, or of the text.
            let end = match text[start..].find("-----END") {
                Some(e) => {
                    let label = start + e + "-----END".len();
                    text[label..].find("-----").map_or(text.len(), |f| label + f + "-----".len())
                }
                None => text.len(),
            };
            found.push(Found { start, end, kind: "a PEM private key" });
        }
    }
    // `scheme://user:password@host`: the password alone is the secret.
    for (at, _) in text.match_indices("://") {
        let rest = &text[at + 3..];
        let authority = &rest[..rest.find(['/', '?', '#', ' ', '"', '\'', '\n']).unwrap_or(rest.len())];
        let Some((userinfo, _host)) = authority.rsplit_once('@') else { continue };
        let Some((_user, password)) = userinfo.split_once(':') else { continue };
        if password.is_empty() || password == REDACTED || password.starts_with("${") {
            continue;
        }
        let start = at + 3 + userinfo.len() - password.len();
        found.push(Found { start, end: start + password.len(), kind: "a URL with a password" });
    }
    found.sort_by_key(|f| f.start);
    let mut kept: Vec<Found> = Vec::new();
    for f in found {
        if kept.last().is_none_or(|last| f.start >= last.end) {
            kept.push(f);
        }
    }
    kept
}

/// What the value looks like, when it looks like a credential.
pub(crate) fn shape(value: &str) -> Option<&'static str> {
    find(value).first().map(|f| f.kind)
}

/// The text with every credential found in it replaced by `<redacted>`.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for f in find(text) {
        out.push_str(&text[from..f.start]);
        out.push_str(REDACTED);
        from = f.end;
    }
    out.push_str(&text[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_told_by_their_shape() {
        for (value, kind) in [
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "a Stripe live secret key"),
            ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
            ("ghp_1234567890abcdefghijklmnopqrstuvwxyz", "a GitHub token"),
            ("xoxb-1234567890-abcdefghij", "a Slack token"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "a PEM private key"),
            ("postgres://admin:S3cret@db.internal:5432/app", "a URL with a password"),
        ] {
            assert_eq!(shape(value), Some(kind), "{value}");
        }
        for harmless in [
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
            "AKIA-not-a-key",
            "postgres://demo@db.internal:5432/app",
            "https://example.com/path?x=1",
            "ghp_short",
            "arn:aws:ssm:us-east-1:123456789012:parameter/x",
            "xAKIAIOSFODNN7EXAMPLE",
        ] {
            assert_eq!(shape(harmless), None, "{harmless}");
        }
    }

    #[test]
    fn redaction_replaces_only_the_credential() {
        assert_eq!(
            redact("DATABASE_URL=postgres://admin:S3cret@db/app\nKEY=AKIAIOSFODNN7EXAMPLE\nLOG=info\n"),
            "DATABASE_URL=postgres://admin:<redacted>@db/app\nKEY=<redacted>\nLOG=info\n"
        );
        assert_eq!(redact("{\"value\": \"sk_live_abcdefghijklmno\"}"), "{\"value\": \"<redacted>\"}");
        let pem = "A=1\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\nB=2\n";
        assert_eq!(redact(pem), "A=1\n<redacted>\nB=2\n");
    }
}
