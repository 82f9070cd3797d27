//! What a rendered task definition must not do, whatever its template says.

use super::*;

/// What a task definition must not do, whatever the template says: depart
/// from what RegisterTaskDefinition takes, put a credential where anyone who
/// can describe it reads it, hide what runs behind `latest`, or ask for a
/// CPU the image was not built for. Each problem names the field's path.
pub(super) fn check_task_definition(
    template: &str,
    json: &serde_json::Value,
    service: &Service,
    registry: &str,
) -> Vec<String> {
    let at = format!("templates/{template}");
    let mut problems: Vec<String> =
        crate::taskdef::check_schema(json).into_iter().map(|problem| format!("{at}: {problem}")).collect();
    let containers =
        json.get("containerDefinitions").and_then(|c| c.as_array()).map(Vec::as_slice).unwrap_or(&[]);
    for container in containers {
        let name = container.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let field = format!("containerDefinitions[{name}]");
        let variables =
            container.get("environment").and_then(|e| e.as_array()).map(Vec::as_slice).unwrap_or(&[]);
        for entry in variables {
            let Some(variable) = entry.get("name").and_then(|n| n.as_str()) else { continue };
            let value = entry.get("value").and_then(|v| v.as_str()).unwrap_or_default();
            let what = if looks_secret(variable) {
                "a secret-looking name".to_string()
            } else if let Some(shape) = crate::secrets::shape(value) {
                format!("the value looks like {shape}")
            } else {
                continue;
            };
            problems.push(format!(
                "{at}: {field}.environment[{variable}]: {what} in `environment`, where anyone who can describe \
                 the task definition reads it; move it under `secrets`, with `valueFrom` an SSM parameter (name or \
                 ARN) or a Secrets Manager ARN"
            ));
        }
        let secrets = container.get("secrets").and_then(|e| e.as_array()).map(Vec::as_slice).unwrap_or(&[]);
        for secret in secrets {
            let variable = secret.get("name").and_then(|n| n.as_str()).unwrap_or("?");
            let Some(reference) = secret.get("valueFrom").and_then(|v| v.as_str()) else { continue };
            if !is_secret_reference(reference) {
                problems.push(format!(
                    "{at}: {field}.secrets[{variable}].valueFrom is neither an SSM parameter or Secrets Manager \
                     ARN nor an SSM parameter name (letters, digits, `_.-/`); write the reference there, never \
                     the value"
                ));
            }
        }
        if let Some(image) = container.get("image").and_then(|i| i.as_str()) {
            if let Some(problem) = unpinned_image(image, registry) {
                problems.push(format!("{at}: {field}.image: {problem}"));
            }
        }
    }
    let wanted = if service.platform == "linux/arm64" { "ARM64" } else { "X86_64" };
    if let Some(arch) = json.pointer("/runtimePlatform/cpuArchitecture").and_then(|a| a.as_str()) {
        if arch != wanted {
            problems.push(format!(
                "{at}: runtimePlatform.cpuArchitecture is {arch}, but {} builds its image for {}; make them agree \
                 (`platform` in {})",
                service.name,
                service.platform,
                service.dir.join("service.toml").display()
            ));
        }
    }
    problems
}

/// Why an image reference does not say what runs, if it does not: the
/// project's own images are tagged with their commit by `{{ image }}`; any
/// other image (a sidecar such as the X-Ray daemon or Envoy) needs a version
/// tag or a digest.
fn unpinned_image(image: &str, registry: &str) -> Option<String> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let tag = last.split_once(':').map(|(_, tag)| tag);
    if tag.is_some_and(|tag| tag != "latest") {
        return None;
    }
    let what = if tag.is_some() { "is tagged `latest`" } else { "has no tag" };
    Some(if image.starts_with(&format!("{registry}/")) {
        format!("`{image}` {what}, which does not say what runs; use `{{{{ image }}}}` (or `{{{{ images.<service> }}}}`), tagged with the commit")
    } else {
        format!("`{image}` {what}, which does not say what runs; pin a version tag or a digest (`{}:<version>` or `{}@sha256:<digest>`)", image.trim_end_matches(":latest"), image.trim_end_matches(":latest"))
    })
}

/// An ECS secret reference: an SSM parameter or Secrets Manager ARN, or the
/// name of an SSM parameter in the task's own region (both valid in ECS).
pub(crate) fn is_secret_reference(reference: &str) -> bool {
    if let Some(rest) = reference.strip_prefix("arn:") {
        let service = rest.split(':').nth(1).unwrap_or("");
        return matches!(service, "ssm" | "secretsmanager") && rest.split(':').count() >= 5;
    }
    !reference.is_empty()
        && reference.len() <= 2048
        && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
}
