//! The git revision a release is made from, and what git thinks of the files
//! the tool writes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{Repository, StatusOptions};
use serde::Serialize;

/// How many hex digits of the commit go into an image tag: long enough that
/// two commits of one repository practically never share a tag.
const SHORT_SHA_LEN: usize = 12;

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

    pub(crate) fn revision(&self) -> Result<Revision> {
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
        let dirty = !self.repo.statuses(Some(&mut options)).context("read git status")?.is_empty();

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
        Ok(Revision { sha, short_sha, dirty, tags, image_tag, source })
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
