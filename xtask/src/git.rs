//! The git revision a release is made from, the commit each service's image
//! is made from, and what git thinks of the files the tool writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{Commit, Oid, Repository, StatusOptions, Tree};
use serde::Serialize;

use crate::project::Project;

/// How many hex digits of the commit go into an image tag: long enough that
/// two commits of one repository practically never share a tag.
const SHORT_SHA_LEN: usize = 12;

/// How far back the history is searched for the commit that last changed an
/// image's inputs. An image unchanged for longer is attributed to the oldest
/// commit searched, which only costs a rebuild now and then.
const SEARCHED_COMMITS: usize = 10_000;

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

/// The content of some paths in a tree: each one's object id and mode, or
/// nothing where the path does not exist. The empty path is the whole tree.
fn fingerprint(tree: &Tree<'_>, paths: &[PathBuf]) -> Vec<Option<(Oid, i32)>> {
    paths
        .iter()
        .map(|path| match path.as_os_str().is_empty() {
            true => Some((tree.id(), 0o040000)),
            false => tree.get_path(path).ok().map(|entry| (entry.id(), entry.filemode())),
        })
        .collect()
}

/// Whether a changed path (a file, or an untracked folder) is one of the
/// inputs, is inside one, or holds one.
fn touches(changed: &Path, inputs: &[PathBuf]) -> bool {
    inputs.iter().any(|input| changed.starts_with(input) || input.starts_with(changed))
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
    repo: Repository,
    workdir: PathBuf,
}

impl Git {
    pub(crate) fn open(project_root: &Path) -> Result<Git> {
        let repo = Repository::discover(project_root).map_err(|_| {
            anyhow::anyhow!(
                "{} is not inside a git repository; image tags and release records come from git, \
                 so run `git init` and commit first",
                project_root.display()
            )
        })?;
        let workdir = repo
            .workdir()
            .context("the git repository is bare; run cargo xtask in a checkout")?
            .to_path_buf();
        Ok(Git { repo, workdir })
    }

    /// The revision at HEAD, with the image revision of every service of `project`.
    pub(crate) fn revision(&self, project: &Project) -> Result<Revision> {
        let head = match self.repo.head() {
            Ok(head) => head,
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => bail!(
                "the git repository has no commit yet; commit first: image tags are derived from the commit"
            ),
            Err(e) => return Err(e).context("read git HEAD"),
        };
        let commit = head.peel_to_commit().context("resolve git HEAD to a commit")?;
        let sha = commit.id().to_string();
        let short_sha = sha[..SHORT_SHA_LEN].to_string();

        let mut options = StatusOptions::new();
        options.include_untracked(true).include_ignored(false).exclude_submodules(true);
        let changed: Vec<PathBuf> = self
            .repo
            .statuses(Some(&mut options))
            .context("read git status")?
            .iter()
            .filter_map(|entry| entry.path().map(PathBuf::from))
            .collect();
        let dirty = !changed.is_empty();

        let mut tags = Vec::new();
        for name in self.repo.tag_names(None).context("list git tags")?.iter().flatten() {
            let reference = self.repo.find_reference(&format!("refs/tags/{name}"))?;
            if reference.peel_to_commit().is_ok_and(|c| c.id() == commit.id()) {
                tags.push(name.to_string());
            }
        }
        tags.sort();

        // A dirty tree never produces a tag that looks like a clean commit's.
        let image_tag = if dirty { format!("{short_sha}-dirty") } else { short_sha.clone() };
        let source = self.repo.find_remote("origin").ok().and_then(|r| r.url().map(str::to_string));

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
                        commit_time: commit.time().seconds(),
                        build_args_digest: None,
                    };
                    images.insert(service.name.clone(), image);
                }
            }
        }
        for (name, oid) in self.last_changes(&commit, tracked)? {
            let commit_time =
                self.repo.find_commit(oid).context("read a commit of the git history")?.time().seconds();
            let commit = oid.to_string();
            let image_tag = image_tag_of(&commit);
            images.insert(
                name,
                ImageRevision { commit, dirty: false, image_tag, commit_time, build_args_digest: None },
            );
        }
        Ok(Revision { sha, short_sha, dirty, tags, image_tag, source, images })
    }

    /// The commit of a service's image at an earlier commit (any revision
    /// git understands), or `None` when git does not know that commit.
    pub(crate) fn image_commit_at(&self, revision: &str, inputs: Vec<PathBuf>) -> Option<String> {
        let commit = self.repo.revparse_single(revision).ok()?.peel_to_commit().ok()?;
        let found = self.last_changes(&commit, vec![(String::new(), inputs)]).ok()?;
        found.into_iter().next().map(|(_, oid)| oid.to_string())
    }

    /// For each named set of paths, the newest commit on the first-parent
    /// history of `start` that changed them: walking back from `start`, the
    /// last commit before their content differs. A shallow clone's history
    /// ends early, so its oldest commit is the answer for what did not change.
    fn last_changes(
        &self,
        start: &Commit<'_>,
        wanted: Vec<(String, Vec<PathBuf>)>,
    ) -> Result<BTreeMap<String, Oid>> {
        let mut found = BTreeMap::new();
        let head_tree = start.tree().context("read the tree of the git HEAD")?;
        // Each set of paths with its content at `start`, until a commit is found for it.
        let mut pending: Vec<_> = wanted
            .into_iter()
            .map(|(name, paths)| {
                let content = fingerprint(&head_tree, &paths);
                (name, paths, content)
            })
            .collect();
        let mut current = start.clone();
        for _ in 0..SEARCHED_COMMITS {
            if pending.is_empty() {
                break;
            }
            let Ok(parent) = current.parent(0) else { break };
            let tree = parent.tree().context("read a tree of the git history")?;
            pending.retain(|(name, paths, content)| {
                let same = fingerprint(&tree, paths) == *content;
                if !same {
                    found.insert(name.clone(), current.id());
                }
                same
            });
            current = parent;
        }
        for (name, _, _) in pending {
            found.insert(name, current.id());
        }
        Ok(found)
    }

    /// Tracked `.env` files whose staged content the tool generated: files
    /// that can hold secrets and are one push away from leaking them.
    /// Only `.env` files are read, since the tool writes no other kind.
    pub(crate) fn tracked_generated_env_files(&self, marker: &str) -> Result<Vec<PathBuf>> {
        let index = self.repo.index().context("read the git index")?;
        let mut found = Vec::new();
        for entry in index.iter() {
            if !entry.path.ends_with(b".env") {
                continue;
            }
            let blob = self.repo.find_blob(entry.id).context("read a staged file from the git index")?;
            if blob.content().starts_with(marker.as_bytes()) {
                found.push(PathBuf::from(String::from_utf8_lossy(&entry.path).into_owned()));
            }
        }
        Ok(found)
    }

    /// The branch HEAD is on, or `None` when HEAD is detached.
    pub(crate) fn branch(&self) -> Option<String> {
        let head = self.repo.head().ok()?;
        if self.repo.head_detached().unwrap_or(false) {
            return None;
        }
        head.shorthand().map(str::to_string)
    }

    /// The folder git runs hooks from: `core.hooksPath` if set (relative to
    /// the work tree), else `hooks` in the repository's common git folder.
    pub(crate) fn hooks_dir(&self) -> Result<PathBuf> {
        let config = self.repo.config().context("read the git configuration")?;
        match config.get_path("core.hooksPath") {
            Ok(path) if path.is_absolute() => Ok(path),
            Ok(path) => Ok(self.workdir.join(path)),
            Err(_) => Ok(self.repo.commondir().join("hooks")),
        }
    }

    pub(crate) fn workdir(&self) -> &Path {
        &self.workdir
    }

    pub(crate) fn path_state(&self, path: &Path) -> Result<PathState> {
        let relative = path.strip_prefix(&self.workdir).unwrap_or(path);
        let index = self.repo.index().context("read the git index")?;
        if index.get_path(relative, 0).is_some() {
            return Ok(PathState::Tracked);
        }
        if self
            .repo
            .is_path_ignored(relative)
            .with_context(|| format!("ask git whether {} is ignored", relative.display()))?
        {
            return Ok(PathState::Ignored);
        }
        Ok(PathState::Unignored)
    }
}
