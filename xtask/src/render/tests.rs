//! Unit tests of `render.rs`.

use super::*;

#[test]
fn env_file_lines_become_name_value_pairs() {
    let parsed = parse_env_file("# header\n\nA=1\nURL=postgres://u@h/db?x=y\n  B = two \n");
    let pairs: Vec<(&str, &str)> = parsed.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
    assert_eq!(pairs, [("A", "1"), ("URL", "postgres://u@h/db?x=y"), ("B", " two")]);
}

#[test]
fn secret_looking_names() {
    for name in ["DB_PASSWORD", "stripe_secret", "GITHUB_TOKEN", "HONEYCOMB_API_KEY"] {
        assert!(looks_secret(name), "{name}");
    }
    for name in ["KEYBOARD", "LOG_LEVEL", "DATABASE_URL", "PORT"] {
        assert!(!looks_secret(name), "{name}");
    }
}

#[test]
fn invalid_json_error_quotes_the_rendered_line() {
    let text = "{\n  \"a\": 1\n  \"b\": 2\n}";
    let e = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
    assert_eq!(
        invalid_json("x.json.j2", text, &e),
        "templates/x.json.j2: rendered text is not valid JSON (expected `,` or `}`) at rendered line 3 \
         column 3: \"b\": 2"
    );
}
