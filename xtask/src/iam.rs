//! Whether a task role may open ECS Exec sessions: its inline and attached
//! policies, read through the AWS CLI (which an ECS Exec session needs
//! anyway), checked for the four `ssmmessages` actions. Conditions,
//! permission boundaries and organisation policies are not evaluated: the
//! check catches the usual omission, a role without the actions at all.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use xshell::{cmd, Shell};

/// What the SSM agent in the task calls for a session.
pub(crate) const SSM_MESSAGES: [&str; 4] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

/// The `ssmmessages` actions the role's policies do not allow.
pub(crate) fn missing_ssm_messages(role_arn: &str) -> Result<Vec<&'static str>> {
    let documents = documents(role_arn)?;
    Ok(SSM_MESSAGES.into_iter().filter(|action| !allowed(&documents, action)).collect())
}

/// The policy documents of the role: inline, then attached (default versions).
fn documents(role_arn: &str) -> Result<Vec<Value>> {
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let sh = Shell::new()?;
    let aws = |args: &[&str]| -> Result<Value> {
        // IAM is global; its endpoint signs as us-east-1 in the commercial partition.
        let out = cmd!(sh, "aws iam {args...} --region us-east-1 --output json")
            .quiet()
            .ignore_status()
            .output()?;
        if !out.status.success() {
            bail!("aws iam {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        serde_json::from_slice(&out.stdout).context("the AWS CLI answered something that is not JSON")
    };
    let mut found = Vec::new();
    let inline = aws(&["list-role-policies", "--role-name", role])?;
    for name in inline["PolicyNames"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let policy = aws(&["get-role-policy", "--role-name", role, "--policy-name", name])?;
        found.push(policy["PolicyDocument"].clone());
    }
    let attached = aws(&["list-attached-role-policies", "--role-name", role])?;
    for policy in attached["AttachedPolicies"].as_array().into_iter().flatten() {
        let Some(arn) = policy["PolicyArn"].as_str() else { continue };
        let described = aws(&["get-policy", "--policy-arn", arn])?;
        let version = described["Policy"]["DefaultVersionId"].as_str().unwrap_or("v1");
        let document = aws(&["get-policy-version", "--policy-arn", arn, "--version-id", version])?;
        found.push(document["PolicyVersion"]["Document"].clone());
    }
    Ok(found)
}

/// Whether some statement allows `action` and none denies it.
fn allowed(documents: &[Value], action: &str) -> bool {
    let statements = || {
        documents.iter().flat_map(|d| match &d["Statement"] {
            Value::Array(list) => list.clone(),
            one @ Value::Object(_) => vec![one.clone()],
            _ => Vec::new(),
        })
    };
    let names = |statement: &Value| -> bool {
        match &statement["Action"] {
            Value::String(one) => matches(one, action),
            Value::Array(list) => list.iter().filter_map(Value::as_str).any(|p| matches(p, action)),
            _ => false,
        }
    };
    let effect = |statement: &Value, wanted: &str| statement["Effect"].as_str() == Some(wanted);
    statements().any(|s| effect(&s, "Allow") && names(&s))
        && !statements().any(|s| effect(&s, "Deny") && names(&s))
}

/// IAM's action matching: case-insensitive, `*` any run, `?` one character.
fn matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x == y => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.to_ascii_lowercase().as_bytes(), action.to_ascii_lowercase().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_allowed_by_name_or_wildcard_unless_denied() {
        let wildcard = serde_json::json!({ "Statement": [{ "Effect": "Allow", "Action": "ssmmessages:*", "Resource": "*" }] });
        assert!(SSM_MESSAGES.iter().all(|a| allowed(std::slice::from_ref(&wildcard), a)));
        let two = serde_json::json!({ "Statement": { "Effect": "Allow", "Action": [
            "ssmmessages:CreateControlChannel", "SSMMESSAGES:open*Channel"] } });
        let missing: Vec<_> =
            SSM_MESSAGES.iter().filter(|a| !allowed(std::slice::from_ref(&two), a)).collect();
        assert_eq!(missing, [&"ssmmessages:CreateDataChannel"]);
        let denied = serde_json::json!({ "Statement": [{ "Effect": "Deny", "Action": "ssmmessages:Open?ataChannel" }] });
        assert!(!allowed(&[wildcard, denied], "ssmmessages:OpenDataChannel"));
        assert!(!allowed(
            &[serde_json::json!({ "Statement": [{ "Effect": "Allow", "Action": "s3:*" }] })],
            SSM_MESSAGES[0]
        ));
    }
}
