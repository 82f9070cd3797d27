use super::*;

/// Values that read differently in compose and ECS when written raw, and
/// that compose can be given: the same list the integration test reads back
/// through docker-compose.
const AWKWARD: &str = include_str!("../../tests/envfile/awkward-values.json");

/// Values no form carries to both compose versions.
const REFUSED: [&str; 2] = ["${HOME}", "'single'"];

/// What docker compose v2 reads from a value, by the documented rules of
/// its env-file parser (compose-go's dotenv), as far as the forms this tool
/// writes go: single quotes are literal; an unquoted value is trimmed, cut
/// at ` #`, and `$` would start an expansion. There is no compose v2 on
/// these machines (Debian ships v1, which the integration test runs), so v2
/// is checked against its rules here.
fn compose_v2_reads(written: &str) -> Option<String> {
    if let Some(inner) = written.strip_prefix('\'').and_then(|w| w.strip_suffix('\'')) {
        return Some(inner.to_string());
    }
    if written.contains('$') || written.starts_with('"') || written.starts_with('\'') {
        return None;
    }
    let cut = written.find(" #").or_else(|| written.find("\t#")).map_or(written, |at| &written[..at]);
    Some(cut.trim().to_string())
}

#[test]
fn every_value_written_for_compose_reads_back_as_itself_or_is_refused() {
    let awkward: Vec<String> = serde_json::from_str(AWKWARD).unwrap();
    assert!(awkward.len() >= 15);
    let mut refused = Vec::new();
    for value in awkward.iter().map(String::as_str).chain(REFUSED) {
        match for_compose(value) {
            Ok(written) => {
                assert_eq!(compose_v2_reads(&written).as_deref(), Some(value), "{value:?} as {written:?}")
            }
            Err(reason) => refused.push((value, reason)),
        }
    }
    assert_eq!(
        refused,
        [
            ("${HOME}", "holds `${`, which docker compose v1 expands even in quotes"),
            (
                "'single'",
                "holds a `'` together with blanks or characters compose reads specially (`$ \\ # \"`)"
            ),
        ]
    );
    assert_eq!(for_compose("plain-value_1.2").unwrap(), "plain-value_1.2");
    assert_eq!(for_compose("abc #def").unwrap(), "'abc #def'");
    assert!(for_compose("a\\\\b").is_err());
    assert!(for_compose("two\nlines").is_err());
}

#[test]
fn problems_name_the_template_line_and_reason() {
    let text = "# generated\nA=ok\nexport B=1\nKEY=-----BEGIN KEY-----\nMIIB...\nC='it''s'\n";
    assert_eq!(
        problems(text, "templates/api.env.j2", true),
        [
            "templates/api.env.j2:3: `export B=...`: ECS would get a variable named `export B`; write `B=...`",
            "templates/api.env.j2:5: `MIIB...` is not NAME=value; env files hold one variable per line, so a value \
             that spans lines is cut here (render it on one line, e.g. with `| replace(\"\\n\", \"\\\\n\")`)",
            "templates/api.env.j2:6: the value of C holds a `'` together with blanks or characters compose reads \
             specially (`$ \\ # \"`), so docker compose v1 and v2 would not read what ECS reads; change the value or \
             the template",
        ]
    );
    // For ECS alone only the lines matter: it reads each value as it is.
    assert_eq!(problems(text, "templates/api.env.j2", false).len(), 2);
    assert_eq!(compose_text("# c\n\nA=x y\nB= lead\nC=$HOME\n"), "# c\n\nA=x y\nB=' lead'\nC='$HOME'\n");
}
