//! `cargo xtask render`: show what an environment's templates produce,
//! secrets redacted, writing nothing.

use anyhow::Result;

use crate::flags::Render;
use crate::render::{Scope, Secrets};
use crate::report::{show, Reporter};
use crate::tasks::Workspace;

pub(crate) fn run(flags: Render, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let services = workspace.project.select(&flags.services.names)?;
    let rendered = workspace.render(&services, Scope::All, Secrets::Redact)?;
    let mut first = true;
    for (service, outputs) in rendered {
        let sections = [
            (outputs.env_file, service.env_template.as_deref(), "env file"),
            (
                outputs.task_definition.map(|d| d.text().to_string()),
                service.task_definition_template.as_deref(),
                "task definition",
            ),
        ];
        for (text, template, what) in sections {
            let (Some(text), Some(template)) = (text, template) else { continue };
            if !first {
                out.show("");
            }
            first = false;
            show!(out, "==> {} {what} (templates/{template}, env {})", service.name, flags.env);
            out.text(&text);
            if !text.ends_with('\n') {
                out.show("");
            }
        }
    }
    if first {
        show!(out, "no templates for the selected services: nothing to render");
    }
    Ok(())
}
