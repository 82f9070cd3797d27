//! The `--json` documents of `status`, `diff`, `release --dry-run` and
//! `doctor`: one JSON object on stdout, whose shape docs/json.md describes.
//! Every document starts with `"version"`, raised only when a field changes
//! meaning or goes away (new fields may appear within a version), and
//! `"command"`; the command's own fields follow, in the order of its type.

use serde::Serialize;

use crate::report::{show, Reporter};

/// The shape's version; docs/json.md says what each holds.
pub(crate) const VERSION: u64 = 1;

#[derive(Serialize)]
struct Document<'a, T: Serialize> {
    version: u64,
    command: &'a str,
    #[serde(flatten)]
    fields: &'a T,
}

/// Prints a command's document on one line.
pub(crate) fn print<T: Serialize>(out: &Reporter, command: &str, fields: &T) {
    show!(out, "{}", document(command, fields));
}

fn document<T: Serialize>(command: &str, fields: &T) -> String {
    // Serializing plain data (strings, numbers, lists, maps with string keys) cannot fail.
    serde_json::to_string(&Document { version: VERSION, command, fields }).expect("a JSON document")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_and_command_come_first() {
        #[derive(Serialize)]
        struct Status {
            env: &'static str,
            services: Vec<u8>,
        }
        assert_eq!(
            document("status", &Status { env: "dev", services: vec![] }),
            r#"{"version":1,"command":"status","env":"dev","services":[]}"#
        );
    }
}
