//! How a template's problems are told: the template, the line, the words.

use std::fmt::Write as _;

use minijinja::ErrorKind;

/// Every string in a JSON document, keys and values.
pub(super) fn collect_strings<'j>(json: &'j serde_json::Value, out: &mut Vec<&'j str>) {
    match json {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                out.push(key);
                collect_strings(value, out);
            }
        }
        _ => {}
    }
}

/// Names the template and quotes the rendered line the JSON parser stopped at,
/// which is where a value broke out of its quotes or a comma went missing.
pub(super) fn invalid_json(template: &str, text: &str, e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("").trim();
    format!(
        "templates/{template}: rendered text is not valid JSON ({message}) at rendered line {} column {}: {line}",
        e.line(),
        e.column()
    )
}

/// `templates/<name>:<line>: <what>`, the way every template error is shown.
pub(super) fn located(e: &minijinja::Error) -> String {
    let name = e.name().unwrap_or("<template>");
    match e.line() {
        Some(line) => format!("templates/{name}:{line}: {}", describe(e)),
        None => format!("templates/{name}: {}", describe(e)),
    }
}

pub(super) fn describe(e: &minijinja::Error) -> String {
    let mut text = String::new();
    match e.kind() {
        ErrorKind::UndefinedError => {
            text.push_str("undefined value");
            if let Some(detail) = e.detail() {
                let _ = write!(text, ": {detail}");
            }
        }
        ErrorKind::SyntaxError => {
            text.push_str("syntax error");
            if let Some(detail) = e.detail() {
                let _ = write!(text, ": {detail}");
            }
        }
        _ => {
            let _ = write!(text, "{}", e.kind());
            if let Some(detail) = e.detail() {
                let _ = write!(text, ": {detail}");
            }
        }
    }
    text
}

/// Every problem found while rendering a set of templates, reported together
/// so a user fixes them in one pass.
#[derive(Debug)]
pub(crate) struct RenderErrors(pub(crate) Vec<String>);

impl std::fmt::Display for RenderErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} template problem{} found, nothing was written:", if n == 1 { "" } else { "s" })?;
        for (i, problem) in self.0.iter().enumerate() {
            write!(f, "  {problem}")?;
            if i + 1 < n {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for RenderErrors {}
