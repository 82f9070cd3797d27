//! An image's identity: its tag says which inputs made it.
//!
//! The commit that last changed a service's files (git.rs) names the files;
//! what the files do not hold comes from the environment: the rendered build
//! arguments (`values`, process variables, the tags of the images it is
//! built from). A service with build arguments is tagged
//! `<commit>-<digest>`, the digest being the first 8 hex digits of the
//! SHA-256 of its rendered arguments, so two environments that share a
//! registry and render different arguments never share a tag, and those
//! that render the same ones share the image. Platform and Dockerfile path
//! are in `service.toml`, one of the files, so the commit already covers them.

use sha2::Digest as _;

use crate::git::{image_tag_of, Revision};
use crate::project::{Environment, Project, Service};
use crate::render::{Renderer, Scope, Secrets};

/// How many hex digits of the build arguments' digest go into a tag.
const DIGEST_LEN: usize = 8;

/// The image label that records the build arguments' digest.
pub(crate) const BUILD_ARGS_LABEL: &str = "dev.xtask.build-args.digest";

/// The image label that lists the paths (relative to the project) whose
/// last commit the tag names.
pub(crate) const INPUTS_LABEL: &str = "dev.xtask.inputs";

/// The revision with each service's final tag for this environment. Pure
/// and idempotent: tags are made again from each image's commit.
pub(crate) fn for_environment(project: &Project, environment: &Environment, revision: &Revision) -> Revision {
    let mut revision = revision.clone();
    if revision.tags_for_environment.as_deref() == Some(environment.name.as_str()) {
        return revision;
    }
    for image in revision.images.values_mut() {
        image.image_tag = tag(&image.commit, None, image.dirty);
        image.build_args_digest = None;
    }
    let with_args: Vec<&Service> = project.services.iter().filter(|s| !s.build_args.is_empty()).collect();
    // A service's arguments may name the tags of the services it is built
    // from, whose own tags may take a digest: render until nothing moves,
    // which takes at most one pass per level of FROM chains.
    for _ in 0..=with_args.len() {
        let mut renderer = Renderer::new(project, environment, &revision, Secrets::Reveal);
        let mut moved = false;
        for service in &with_args {
            // A template that does not render keeps the commit's tag; the
            // render step reports why, naming the file and key.
            let Ok(rendered) = renderer.render_service(service, Scope::Images) else { continue };
            let digest = digest(&rendered.build_args);
            let image = revision.images.get_mut(&service.name).expect("every service has an image revision");
            let tag = tag(&image.commit, Some(&digest), image.dirty);
            if image.image_tag != tag {
                image.image_tag = tag;
                image.build_args_digest = Some(digest);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    revision.tags_for_environment = Some(environment.name.clone());
    revision
}

/// The tag of the image of `commit` with build arguments of `digest`.
pub(crate) fn tag(commit: &str, digest: Option<&str>, dirty: bool) -> String {
    let mut tag = image_tag_of(commit);
    if let Some(digest) = digest {
        tag.push('-');
        tag.push_str(digest);
    }
    if dirty {
        tag.push_str("-dirty");
    }
    tag
}

/// The rendered build arguments' digest: `NAME=value` lines in name order,
/// each value's length first so that no two sets of arguments run together.
pub(crate) fn digest(build_args: &std::collections::BTreeMap<String, String>) -> String {
    let mut hasher = sha2::Sha256::new();
    for (name, value) in build_args {
        hasher.update(format!("{name}={}:{value}\n", value.len()).as_bytes());
    }
    hasher.finalize().iter().take(DIGEST_LEN / 2).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_digest_depends_on_every_name_and_value_and_nothing_else() {
        let args = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let dev = digest(&args(&[("API_URL", "https://dev.example.com")]));
        assert_eq!(dev.len(), DIGEST_LEN);
        assert_eq!(dev, digest(&args(&[("API_URL", "https://dev.example.com")])));
        assert_ne!(dev, digest(&args(&[("API_URL", "https://staging.example.com")])));
        assert_ne!(dev, digest(&args(&[("API_URLX", "https://dev.example.com")])));
        // Values cannot run into the next argument.
        assert_ne!(digest(&args(&[("A", "1\nB=2")])), digest(&args(&[("A", "1"), ("B", "2")])));
        // `printf 'A=1:1\n' | sha256sum`: the documented form, computed by a tool outside this code.
        assert_eq!(digest(&args(&[("A", "1")])), "f20f640e");
    }

    #[test]
    fn tags_put_the_digest_between_the_commit_and_dirty() {
        let commit = "906e977ae8ce4d53ee631414c0bcdec17e205d60";
        assert_eq!(tag(commit, None, false), "906e977ae8ce");
        assert_eq!(tag(commit, Some("0a1b2c3d"), false), "906e977ae8ce-0a1b2c3d");
        assert_eq!(tag(commit, Some("0a1b2c3d"), true), "906e977ae8ce-0a1b2c3d-dirty");
    }
}
