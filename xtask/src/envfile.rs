//! Env files that docker compose (v1 and v2) and ECS read alike.
//!
//! A rendered env template is read the simple way for ECS: one `NAME=value`
//! per line, the value exactly what follows `=` (the line's trailing blanks
//! dropped). docker compose reads more into it: it drops quotes, cuts an
//! unquoted value at ` #`, trims blanks, and expands `${VAR}` (v1, through
//! python-dotenv) or `$VAR` too (v2). So the file written for compose gives
//! each value in a form both compose versions read as exactly that string: as
//! it is when nothing in it is special, else in single quotes (literal to
//! both); a value no form can carry to both is refused, naming why.

/// What is wrong with a rendered env file, one problem per line, each naming
/// `origin` (the template) and the line. `for_compose`: the file is written
/// for docker compose, so every value must have a form compose reads as it.
pub(crate) fn problems(text: &str, origin: &str, for_compose: bool) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = format!("{origin}:{}", index + 1);
        match entry(line) {
            Entry::Other => {}
            Entry::NotAVariable => problems.push(format!(
                "{at}: `{}` is not NAME=value; env files hold one variable per line, so a value that \
                 spans lines is cut here (render it on one line, e.g. with `| replace(\"\\n\", \"\\\\n\")`)",
                line.trim()
            )),
            Entry::Exported(name) => problems.push(format!(
                "{at}: `export {name}=...`: ECS would get a variable named `export {name}`; write `{name}=...`"
            )),
            Entry::Variable(name, value) if for_compose => {
                if let Err(reason) = self::for_compose(value) {
                    problems.push(format!("{at}: the value of {name} {reason}, so docker compose v1 and v2 \
                                           would not read what ECS reads; change the value or the template"));
                }
            }
            Entry::Variable(..) => {}
        }
    }
    problems
}

/// The env file as written for docker compose: every variable in the form
/// that compose reads as the value ECS gets. Lines that are not variables
/// stay as they are. Call on text [`problems`] found nothing in.
pub(crate) fn compose_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        match entry(line) {
            Entry::Variable(name, value) => {
                let written = for_compose(value).unwrap_or_else(|_| value.into());
                out.push_str(&format!("{name}={written}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

enum Entry<'a> {
    /// A blank line or a comment.
    Other,
    NotAVariable,
    Exported(&'a str),
    Variable(&'a str, &'a str),
}

/// A line as ECS reads it: the name and everything after the first `=`
/// once the line's blanks are trimmed; `None` for a blank line, a comment,
/// or a line without `=`. The one reading of env-file lines
/// (render.rs's `parse_env_file` is built on it).
pub(crate) fn variable(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let (name, value) = trimmed.split_once('=')?;
    Some((name.trim(), value))
}

/// A line sorted by what compose and ECS would make of it.
fn entry(line: &str) -> Entry<'_> {
    let Some((name, value)) = variable(line) else {
        let trimmed = line.trim();
        let blank_or_comment = trimmed.is_empty() || trimmed.starts_with('#');
        return if blank_or_comment { Entry::Other } else { Entry::NotAVariable };
    };
    if let Some(rest) = name.strip_prefix("export ") {
        return Entry::Exported(rest.trim());
    }
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Entry::NotAVariable;
    }
    Entry::Variable(name, value)
}

/// `value` as compose must see it to read `value`, or why it cannot be.
pub(crate) fn for_compose(value: &str) -> Result<std::borrow::Cow<'_, str>, &'static str> {
    if value.contains(['\n', '\r']) {
        return Err("spans lines");
    }
    let special = |c: char| matches!(c, '$' | '\\' | '#' | '\'' | '"' | '`');
    let plain = value.trim() == value && !value.contains(special);
    if plain {
        return Ok(value.into());
    }
    // Single quotes are literal to compose v2; python-dotenv (v1) still
    // reads `\\` and `\'` in them, and nothing can quote a `'`.
    if value.contains('\'') {
        return Err("holds a `'` together with blanks or characters compose reads specially (`$ \\ # \"`)");
    }
    // Found with Debian's docker-compose 1.29: it expands `${...}` even in single quotes.
    if value.contains("${") {
        return Err("holds `${`, which docker compose v1 expands even in quotes");
    }
    if value.contains("\\\\") {
        return Err("holds `\\\\`, which docker compose v1 reads as one backslash even in quotes");
    }
    Ok(format!("'{value}'").into())
}

#[cfg(test)]
mod tests;
