//! The services under `services/`: each folder with a Dockerfile, its
//! `service.toml` read and checked, the conventions filled in.

use super::*;

/// A path relative to the project root with `.` and `..` resolved, or
/// `None` when it leaves the project.
pub(super) fn within_root(path: &Path) -> Option<PathBuf> {
    let mut resolved = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::Normal(part) => resolved.push(part),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !resolved.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(resolved)
}

/// The services whose images a build-argument template reads, in either
/// form (`images.base`, `images['web-base']`, `images.get(...)` with a
/// literal), found by rendering it once with an `images` that records what
/// is asked of it; anything else the template reads renders as nothing
/// (its value is part of the tag's digest, see identity.rs). `None` when
/// the template does not render even so: the caller then cannot tell
/// which images it is made from.
pub(super) fn images_read_by(template: &str) -> Option<Vec<String>> {
    use minijinja::value::{Object, Rest, Value};

    #[derive(Debug, Default)]
    struct ImagesAsked(Mutex<Vec<String>>);

    impl Object for ImagesAsked {
        fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
            let name = key.as_str()?;
            self.0.lock().unwrap().push(name.to_string());
            Some(Value::from(format!("image-of-{name}")))
        }
    }

    let asked = Arc::new(ImagesAsked::default());
    let mut jinja = minijinja::Environment::new();
    jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for function in ["env", "secret"] {
        jinja.add_function(function, |_: Rest<Value>| String::new());
    }
    let images = Value::from_dyn_object(asked.clone());
    jinja.render_str(template, minijinja::context! { images => images }).ok()?;
    let mut names = asked.0.lock().unwrap().clone();
    names.sort();
    names.dedup();
    Some(names)
}

pub(super) fn load_services(root: &Path) -> Result<Vec<Service>> {
    let services_dir = root.join("services");
    let mut names = Vec::new();
    let entries = fs::read_dir(&services_dir).with_context(|| format!("read {}", services_dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();

    let mut services = Vec::with_capacity(names.len());
    let mut spans = Vec::with_capacity(names.len());
    for name in &names {
        let (service, after_spans) = load_service(root, name)?;
        services.push(service);
        spans.push(after_spans);
    }

    // References between services are checked once all are known.
    for (service, after) in services.iter().zip(&spans) {
        for (dep, line) in after {
            if !names.contains(dep) {
                bail!(
                    "{}:{line}: `after` names unknown service `{dep}`; services here: {}",
                    service.dir.join("service.toml").display(),
                    names.join(", ")
                );
            }
        }
    }
    Ok(services)
}

/// Loads one service; also returns its `after` entries with their lines for
/// the cross-service check.
pub(super) fn load_service(root: &Path, name: &str) -> Result<(Service, Vec<(String, usize)>)> {
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
        bail!(
            "services/{name}: a service name may only use lower-case letters, digits, `-` and `_` \
             (it becomes an image repository name); rename the folder"
        );
    }
    let dir = PathBuf::from("services").join(name);
    let config_rel = dir.join("service.toml");
    let (file, source) = if root.join(&config_rel).is_file() {
        let source = read(root, &config_rel)?;
        (parse_toml::<ServiceFile>(&config_rel, &source)?, source)
    } else {
        (ServiceFile::default(), String::new())
    };
    let at = |offset: usize| format!("{}:{}", config_rel.display(), line_of(&source, offset));

    let context = match file.context.as_deref() {
        None | Some(".") => dir.clone(),
        Some(relative) => dir.join(relative),
    };
    let dockerfile = context.join(file.dockerfile.as_deref().unwrap_or("Dockerfile"));
    if !root.join(&dockerfile).is_file() {
        bail!(
            "{}: no Dockerfile at {}; add one, or set `dockerfile` (relative to the build context) \
             in {}",
            dir.display(),
            dockerfile.display(),
            config_rel.display()
        );
    }

    let platform = match file.platform {
        Some(p) => {
            let value = p.get_ref();
            if !matches!(value.as_str(), "linux/amd64" | "linux/arm64") {
                bail!(
                    "{}: `platform` is {value:?}; Fargate runs \"linux/amd64\" or \"linux/arm64\"",
                    at(p.span().start)
                );
            }
            p.into_inner()
        }
        None => DEFAULT_PLATFORM.to_string(),
    };

    let template = |key: &str, given: Option<Spanned<String>>, conventional: String| {
        match given {
            Some(t) => {
                if !root.join("templates").join(t.get_ref()).is_file() {
                    bail!(
                        "{}: `{key}` names templates/{}, which does not exist",
                        at(t.span().start),
                        t.get_ref()
                    );
                }
                Ok(Some(t.into_inner()))
            }
            // By convention a template named after the service is picked up.
            None => Ok(root.join("templates").join(&conventional).is_file().then_some(conventional)),
        }
    };
    let env_template = template("env_template", file.env_template, format!("{name}.env.j2"))?;
    let task_definition_template =
        template("task_definition_template", file.task_definition_template, format!("{name}.task.json.j2"))?;

    let mut after = Vec::new();
    let mut after_spans = Vec::new();
    for dep in file.after {
        after_spans.push((dep.get_ref().clone(), line_of(&source, dep.span().start)));
        after.push(dep.into_inner());
    }

    let mut inputs = Vec::new();
    for input in file.inputs {
        let path = PathBuf::from(input.get_ref());
        let escapes = path.components().any(|c| !matches!(c, std::path::Component::Normal(_)));
        if escapes || !root.join(&path).exists() {
            bail!(
                "{}: `inputs` names {:?}, which is not a file or folder of the project; give paths \
                 relative to the project root, such as \"Cargo.lock\" or \"libs/common\"",
                at(input.span().start),
                input.get_ref()
            );
        }
        inputs.push(path);
    }

    for (key, argv) in [("prebuild", &file.prebuild), ("before_deploy", &file.before_deploy)] {
        if argv.as_ref().is_some_and(Vec::is_empty) {
            bail!("{}: `{key}` is empty; give the command and its arguments", config_rel.display());
        }
    }
    if file.before_deploy.is_some() && task_definition_template.is_none() {
        bail!(
            "{}: `before_deploy` needs a task definition to run in, and the service has no task definition \
             template",
            config_rel.display()
        );
    }

    let service = Service {
        name: name.to_string(),
        repository: file.repository.unwrap_or_else(|| name.to_string()),
        context,
        dockerfile,
        platform,
        after,
        build_args: file.build_args,
        prebuild: file.prebuild,
        before_deploy: file.before_deploy,
        env_template,
        task_definition_template,
        ecs_service: file.ecs_service.unwrap_or_else(|| name.to_string()),
        cluster: file.cluster,
        immutable_tags: file.immutable_tags,
        inputs,
        dir,
    };
    Ok((service, after_spans))
}
