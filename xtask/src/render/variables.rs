//! Process variables as templates read them (`env("NAME")`,
//! `secret("NAME")`), and which names count as secrets.

use super::*;

pub(super) fn process_variable(
    shared: &Mutex<Shared>,
    state: &State,
    var: &str,
    kwargs: &Kwargs,
    secret: bool,
    secrets: Secrets,
) -> Result<Value, minijinja::Error> {
    let default: Option<String> = kwargs.get("default")?;
    kwargs.assert_all_used()?;
    let value = match (std::env::var(var), default) {
        (Ok(value), _) => value,
        (Err(_), Some(default)) => default,
        (Err(_), None) => {
            let mut shared = shared.lock().unwrap();
            let entry = shared
                .missing
                .entry(var.to_string())
                .or_insert_with(|| Missing { templates: BTreeSet::new() });
            entry.templates.insert(state.name().to_string());
            String::new()
        }
    };
    let secretish = secret || looks_secret(var);
    let rendered = if secrets == Secrets::Redact && secretish && !value.is_empty() {
        REDACTED.to_string()
    } else {
        value
    };
    if secretish && rendered.len() >= SHORTEST_SEARCHED_SECRET {
        shared.lock().unwrap().secret_values.insert(var.to_string(), rendered.clone());
    }
    Ok(Value::from(rendered))
}

/// `KEY=VALUE` lines of an env file; blank lines and `#` comments are skipped.
pub(crate) fn parse_env_file(text: &str) -> Vec<EnvVar> {
    text.lines()
        .filter_map(crate::envfile::variable)
        .map(|(name, value)| EnvVar { name: name.to_string(), value: value.to_string() })
        .collect()
}
