//! The templates of `templates/`: loaded once, rendered, and asked which
//! variables they read.

use super::*;

/// Whether a template reads a top-level variable (minijinja's own analysis
/// of the parsed template, so `{% if %}` branches count too).
pub(super) fn reads_variable(
    jinja: &mut Jinja<'static>,
    project: &Project,
    name: &str,
    variable: &str,
) -> Result<bool, String> {
    let template = load_template(jinja, project, name)?;
    Ok(template.undeclared_variables(false).contains(variable))
}

/// A template of `templates/`, read and parsed the first time it is asked for.
pub(super) fn load_template<'j>(
    jinja: &'j mut Jinja<'static>,
    project: &Project,
    name: &str,
) -> Result<minijinja::Template<'j, 'j>, String> {
    if jinja.get_template(name).is_err() {
        let path = project.templates_dir().join(name);
        let source = fs::read_to_string(&path)
            .with_context(|| format!("read templates/{name}"))
            .map_err(|e| format!("{e:#}"))?;
        jinja.add_template_owned(name.to_string(), source).map_err(|e| located(&e))?;
    }
    jinja.get_template(name).map_err(|e| located(&e))
}

pub(super) fn render_template<C: Serialize>(
    jinja: &mut Jinja<'static>,
    project: &Project,
    name: &str,
    context: &C,
) -> Result<String, String> {
    let template = load_template(jinja, project, name)?;
    template
        .render(Value::from(Serde(context)))
        .map_err(|e| format!("{}{}", located(&e), hyphen_hint(template.source())))
}

/// `images.web-base` reads to minijinja as `images.web` minus `base`: when a
/// template that failed has such a name, the error says how to write it.
pub(super) fn hyphen_hint(source: &str) -> String {
    let mut rest = source;
    while let Some(at) = rest.find("images.") {
        let after = &rest[at + "images.".len()..];
        let name: String =
            after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
        let name = name.trim_end_matches('-');
        if name.contains('-') {
            return format!(
                "; minijinja reads `images.{name}` as a subtraction: write `images['{name}']` for a service \
                 whose name has a `-`"
            );
        }
        rest = after;
    }
    String::new()
}
