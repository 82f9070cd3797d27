//! The git revision a release is made from, the commit each service's image
//! is made from, and what git thinks of the files the tool writes.
//!
//! Through the git command line (xshell), not a library: git reads every
//! repository format it writes (reftable refs, SHA-256 objects, since git
//! 2.45), and `git log -- <paths>` uses the commit-graph's changed-path
//! filters. Measured on 100,000 commits and 50 services (BENCHMARKS.md):
//! a dry run finding every service's commit took 0.1 s with those filters
//! and 0.64 s without, against 1.46 s through libgit2, which opens neither
//! format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::project::Project;

/// How many hex digits of the commit go into an image tag: long enough that
/// two commits of one repository practically never share a tag.
const SHORT_SHA_LEN: usize = 12;

/// The tag of the image built from a commit, by its full id.
pub(crate) fn image_tag_of(commit: &str) -> String {
    commit[..SHORT_SHA_LEN.min(commit.len())].to_string()
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Revision {
    pub(crate) sha: String,
    pub(crate) short_sha: String,
    /// Uncommitted changes to tracked files, or untracked files git does not ignore.
    pub(crate) dirty: bool,
    /// Tags that point at HEAD, sorted.
    pub(crate) tags: Vec<String>,
    /// The tag images of this revision get.
    pub(crate) image_tag: String,
    /// The `origin` remote's URL, for the images' source label.
    pub(crate) source: Option<String>,
    /// Each service's image revision, by service name.
    #[serde(skip)]
    pub(crate) images: BTreeMap<String, ImageRevision>,
    /// The environment whose build arguments the tags hold, once identity.rs
    /// gave them (it is asked again by every rendering, and need not redo it).
    #[serde(skip)]
    pub(crate) tags_for_environment: Option<String>,
}

/// The commit a service's image is built from: the newest commit that
/// changed the image's inputs. An image is tagged with it, so a commit that
/// leaves a service's inputs alone leaves its tag, its image and its task
/// definition alone too, and a release rebuilds and redeploys only what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRevision {
    pub(crate) commit: String,
    /// Uncommitted changes to the image's inputs (to any file, when its
    /// inputs cannot be told apart).
    pub(crate) dirty: bool,
    pub(crate) image_tag: String,
    /// When `commit` was made (seconds since 1970): the images' `created`
    /// label, so that a rebuild of the same inputs gives the same config.
    pub(crate) commit_time: i64,
    /// The digest of the rendered build arguments in the tag, once
    /// identity.rs has given the tag for an environment.
    pub(crate) build_args_digest: Option<String>,
}

impl Revision {
    /// The image revision of a service of the project the revision was read for.
    pub(crate) fn image(&self, service: &str) -> &ImageRevision {
        &self.images[service]
    }
}

/// Whether a changed path (a file, or an untracked folder) is one of the
/// inputs, is inside one, or holds one.
fn touches(changed: &Path, inputs: &[PathBuf]) -> bool {
    inputs
        .iter()
        .any(|input| input.as_os_str().is_empty() || changed.starts_with(input) || input.starts_with(changed))
}

/// Where a path stands with git, for files the tool generates.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PathState {
    Ignored,
    Tracked,
    /// Neither tracked nor ignored: one `git add .` away from being committed.
    Unignored,
}

pub(crate) struct Git {
    /// The project's root, where git runs: paths given to it are relative to it.
    root: PathBuf,
    /// The work tree's top folder.
    workdir: PathBuf,
    /// The project's root relative to the work tree (`apps/shop/`, or empty).
    prefix: String,
}

impl Git {
    pub(crate) fn open(project_root: &Path) -> Result<Git> {
        let sh = shell(project_root)?;
        // One call for both: each git process costs a few milliseconds.
        let Ok(top) =
            cmd!(sh, "git rev-parse --show-toplevel --show-prefix").quiet().ignore_status().output()
        else {
            bail!("git is not installed (or not on PATH); image tags and release records come from git: install it");
        };
        if !top.status.success() {
            let said = String::from_utf8_lossy(&top.stderr);
            if said.contains("must be run in a work tree") {
                bail!("the git repository is bare; run cargo xtask in a checkout");
            }
            bail!(
                "{} is not inside a git repository; image tags and release records come from git, \
                 so run `git init` and commit first",
                project_root.display()
            );
        }
        let text = String::from_utf8_lossy(&top.stdout);
        let mut lines = text.lines();
        let workdir = PathBuf::from(lines.next().context("git rev-parse named no work tree")?);
        let prefix = lines.next().unwrap_or_default().to_string();
        Ok(Git { root: project_root.to_path_buf(), workdir, prefix })
    }

    /// The revision at HEAD, with the image revision of every service of `project`.
    pub(crate) fn revision(&self, project: &Project) -> Result<Revision> {
        let sh = shell(&self.root)?;
        let Some(head) = self.dated(&sh, &["HEAD"], &[])? else {
            bail!(
                "the git repository has no commit yet; commit first: image tags are derived from the commit"
            );
        };
        let sha = head.id.clone();
        let short_sha = image_tag_of(&sha);

        // Paths come relative to the work tree's top; the project's inputs are
        // relative to its root.
        let status =
            cmd!(sh, "git status --porcelain=v1 -z --untracked-files=normal --ignore-submodules -- .")
                .quiet()
                .output()
                .context("read git status")?;
        let changed: Vec<PathBuf> = changed_paths(&status.stdout)
            .into_iter()
            .map(|path| PathBuf::from(path.strip_prefix(self.prefix.as_str()).unwrap_or(&path)))
            .collect();
        let dirty = !changed.is_empty();

        let tags = cmd!(sh, "git tag --points-at HEAD").quiet().read().context("list git tags")?;
        let mut tags: Vec<String> = tags.lines().map(str::to_string).collect();
        tags.sort();

        // A dirty tree never produces a tag that looks like a clean commit's.
        let image_tag = if dirty { format!("{short_sha}-dirty") } else { short_sha.clone() };
        let source = cmd!(sh, "git config --get remote.origin.url").quiet().ignore_status().read().ok();
        let source = source.filter(|url| !url.is_empty());

        let mut images = BTreeMap::new();
        let mut tracked = Vec::new();
        for service in &project.services {
            let inputs = project.image_inputs(service);
            let service_dirty = match &inputs {
                Some(inputs) => changed.iter().any(|path| touches(path, inputs)),
                None => dirty,
            };
            match inputs {
                Some(inputs) if !service_dirty => tracked.push((service.name.clone(), inputs)),
                _ => {
                    let tag = if service_dirty { format!("{short_sha}-dirty") } else { short_sha.clone() };
                    let image = ImageRevision {
                        commit: sha.clone(),
                        dirty: service_dirty,
                        image_tag: tag,
                        commit_time: head.time,
                        build_args_digest: None,
                    };
                    images.insert(service.name.clone(), image);
                }
            }
        }
        for (name, found) in self.last_changes("HEAD", tracked)? {
            let image_tag = image_tag_of(&found.id);
            let image = ImageRevision {
                commit: found.id,
                dirty: false,
                image_tag,
                commit_time: found.time,
                build_args_digest: None,
            };
            images.insert(name, image);
        }
        Ok(Revision { sha, short_sha, dirty, tags, image_tag, source, images, tags_for_environment: None })
    }

    /// Tracked `.env` files whose staged content the tool generated: files
    /// that can hold secrets and are one push away from leaking them.
    /// Only `.env` files are read, since the tool writes no other kind.
    /// Paths are relative to the work tree's top.
    pub(crate) fn tracked_generated_env_files(&self, marker: &str) -> Result<Vec<PathBuf>> {
        let sh = shell(&self.workdir)?;
        let staged = cmd!(sh, "git ls-files -z --stage").quiet().output().context("read the git index")?;
        let mut found = Vec::new();
        for entry in staged.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            // "<mode> <object> <stage>\t<path>"
            let entry = String::from_utf8_lossy(entry);
            let Some((meta, path)) = entry.split_once('\t') else { continue };
            if !path.ends_with(".env") {
                continue;
            }
            let Some(object) = meta.split(' ').nth(1) else { continue };
            let blob = cmd!(sh, "git cat-file blob {object}")
                .quiet()
                .output()
                .context("read a staged file from the git index")?;
            if blob.stdout.starts_with(marker.as_bytes()) {
                found.push(PathBuf::from(path));
            }
        }
        Ok(found)
    }

    /// The branch HEAD is on, or `None` when HEAD is detached.
    pub(crate) fn branch(&self) -> Option<String> {
        let sh = shell(&self.root).ok()?;
        let name = cmd!(sh, "git symbolic-ref --short -q HEAD").quiet().ignore_status().read().ok()?;
        Some(name).filter(|n| !n.is_empty())
    }

    /// The folder git runs hooks from: `core.hooksPath` if set (relative to
    /// the work tree), else `hooks` in the repository's common git folder.
    pub(crate) fn hooks_dir(&self) -> Result<PathBuf> {
        let sh = shell(&self.workdir)?;
        let path =
            cmd!(sh, "git rev-parse --git-path hooks").quiet().read().context("ask git where hooks go")?;
        let path = PathBuf::from(path);
        Ok(if path.is_absolute() { path } else { self.workdir.join(path) })
    }

    pub(crate) fn workdir(&self) -> &Path {
        &self.workdir
    }

    pub(crate) fn path_state(&self, path: &Path) -> Result<PathState> {
        let relative = path.strip_prefix(&self.workdir).unwrap_or(path);
        let sh = shell(&self.workdir)?;
        let tracked = cmd!(sh, "git ls-files --error-unmatch -- {relative}").quiet().ignore_status().output();
        if tracked.context("read the git index")?.status.success() {
            return Ok(PathState::Tracked);
        }
        let ignored = cmd!(sh, "git check-ignore -q -- {relative}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("ask git whether {} is ignored", relative.display()))?;
        match ignored.status.code() {
            Some(0) => Ok(PathState::Ignored),
            Some(1) => Ok(PathState::Unignored),
            _ => bail!(
                "git check-ignore failed for {}: {}",
                relative.display(),
                String::from_utf8_lossy(&ignored.stderr).trim()
            ),
        }
    }
}

fn shell(dir: &Path) -> Result<Shell> {
    let sh = Shell::new().context("start a shell for git")?;
    sh.change_dir(dir);
    Ok(sh)
}

/// The paths `git status --porcelain=v1 -z` names: each entry is
/// `XY path`, and a rename or copy is followed by the path it came from.
fn changed_paths(output: &[u8]) -> Vec<String> {
    let mut paths = Vec::new();
    let mut entries = output.split(|b| *b == 0).filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        let entry = String::from_utf8_lossy(entry);
        if entry.len() < 4 {
            continue;
        }
        let (code, path) = entry.split_at(3);
        paths.push(path.to_string());
        if code.starts_with('R') || code.starts_with('C') {
            if let Some(from) = entries.next() {
                paths.push(String::from_utf8_lossy(from).into_owned());
            }
        }
    }
    paths
}

mod history;

#[cfg(test)]
use history::pathspecs;

#[cfg(test)]
mod tests;
