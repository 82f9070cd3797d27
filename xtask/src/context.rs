//! The build context: the files `.dockerignore` lets through, sent to the
//! engine as a tar stream that is produced while it is sent, so a context of
//! any size costs a few chunks of memory.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::dockerignore::{ParentMatches, Patterns};

/// Size of one chunk on its way to the engine, and how many may wait.
const CHUNK: usize = 256 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

/// Which builder the context is for: they read it differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builder {
    BuildKit,
    Classic,
}

/// The entries of a context the build sees, relative to it, folders before
/// what they hold; made by [`select`].
#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub(crate) entries: Vec<PathBuf>,
}

/// The ignore file that applies: BuildKit reads `<Dockerfile>.dockerignore`
/// beside the Dockerfile first, then `.dockerignore` at the context's root.
pub(crate) fn ignore_file(context: &Path, dockerfile: &str) -> Option<PathBuf> {
    [context.join(format!("{dockerfile}.dockerignore")), context.join(".dockerignore")]
        .into_iter()
        .find(|path| path.is_file())
}

/// Walks the context the way the docker CLI does: a path is left out when the
/// last pattern matching it (or a folder above it) ignores it; an ignored
/// folder is walked only when an exception pattern names a path inside it;
/// sockets are left out, as Docker leaves them out. The Dockerfile is always
/// sent, since the engine reads it from the context; so is the ignore file
/// for the classic builder, whose engine side reads it and then drops both
/// from what COPY sees. BuildKit through the API reads no ignore file from
/// the context and drops nothing, so an ignored ignore file stays home.
pub(crate) fn select(context: &Path, dockerfile: &str, builder: Builder) -> Result<Selection> {
    if !context.is_dir() {
        bail!(
            "the build context {} is not a folder; set `context` in the service's service.toml",
            context.display()
        );
    }
    let mut patterns = match ignore_file(context, dockerfile) {
        Some(path) => {
            let text = fs::read(&path).with_context(|| format!("read {}", path.display()))?;
            Patterns::read(&text, &path)?
        }
        None => Patterns::default(),
    };
    if builder == Builder::Classic {
        patterns.keep(".dockerignore");
    }
    patterns.keep(dockerfile);
    let mut entries = Vec::new();
    walk(context, "", &patterns, &ParentMatches::default(), &mut entries)?;
    Ok(Selection { entries })
}

fn walk(
    root: &Path,
    relative: &str,
    patterns: &Patterns,
    parent: &ParentMatches,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    let dir = root.join(relative);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .with_context(|| format!("read build context folder {}", dir.display()))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .with_context(|| format!("read build context folder {}", dir.display()))?;
    names.sort();
    for name in names {
        let name = name.to_string_lossy();
        let path = if relative.is_empty() { name.to_string() } else { format!("{relative}/{name}") };
        let full = root.join(&path);
        let kind =
            fs::symlink_metadata(&full).with_context(|| format!("read {}", full.display()))?.file_type();
        if kind.is_socket() {
            continue;
        }
        let (ignored, matched) = patterns.matches(&path, parent);
        if kind.is_dir() {
            if ignored && !(patterns.has_exclusions() && patterns.reaches_into(&path)) {
                continue;
            }
            if !ignored {
                out.push(PathBuf::from(&path));
            }
            walk(root, &path, patterns, &matched, out)?;
        } else if !ignored {
            out.push(PathBuf::from(path));
        }
    }
    Ok(())
}

/// Starts writing the context as a tar on a blocking thread and returns the
/// chunks as they come, plus the writer's result.
pub(crate) fn stream(
    context: PathBuf,
    selection: Selection,
) -> (mpsc::Receiver<io::Result<Bytes>>, tokio::task::JoinHandle<Result<u64>>) {
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || {
        let mut sink = ChunkSender { sender: sender.clone(), buffer: Vec::with_capacity(CHUNK), sent: 0 };
        let result = write_tar(&context, &selection.entries, &mut sink);
        if let Err(e) = &result {
            // The engine must see the stream fail, not a short but valid tar.
            let _ = sender.blocking_send(Err(io::Error::other(format!("{e:#}"))));
        }
        result.map(|()| sink.sent)
    });
    (receiver, writer)
}

/// Writes the entries as the docker CLI does: owned by 0:0 whoever owns
/// them here, symbolic links as links, a file with several names once and
/// then as hard links to its first name, FIFOs and devices as such.
pub(crate) fn write_tar(context: &Path, entries: &[PathBuf], sink: &mut impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(sink);
    let mut first_names: HashMap<(u64, u64), &Path> = HashMap::new();
    for entry in entries {
        let full = context.join(entry);
        let add = || format!("add {} to the build context", full.display());
        let meta = fs::symlink_metadata(&full).with_context(add)?;
        let kind = meta.file_type();
        if kind.is_socket() {
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("").with_context(add)?;
        header.set_groupname("").with_context(add)?;
        if kind.is_file() && meta.nlink() > 1 {
            if let Some(first) = first_names.get(&(meta.dev(), meta.ino())) {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                tar.append_link(&mut header, entry, first).with_context(add)?;
                continue;
            }
            first_names.insert((meta.dev(), meta.ino()), entry);
        }
        if kind.is_file() {
            let file = fs::File::open(&full).with_context(add)?;
            tar.append_data(&mut header, entry, file).with_context(add)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&full).with_context(add)?;
            tar.append_link(&mut header, entry, target).with_context(add)?;
        } else {
            // Folders, FIFOs and devices: the header says it all.
            header.set_size(0);
            tar.append_data(&mut header, entry, io::empty()).with_context(add)?;
        }
    }
    tar.finish().context("finish the build context")?;
    let sink = tar.into_inner().context("finish the build context")?;
    sink.flush().context("send the build context")?;
    Ok(())
}

struct ChunkSender {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
    sent: u64,
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sent += chunk.len() as u64;
        self.sender.blocking_send(Ok(Bytes::from(chunk))).map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading the build context")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, text).unwrap();
        }
        dir
    }

    fn names(selection: &Selection) -> Vec<String> {
        selection.entries.iter().map(|p| p.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_dockerfile_and_ignore_file_are_sent_even_when_ignored() {
        let dir = tree(&[
            ("Dockerfile", "FROM scratch\n"),
            (".dockerignore", "*\n!bin/\n"),
            ("bin/app", "x"),
            ("src/main.rs", ""),
        ]);
        assert_eq!(
            names(&select(dir.path(), "Dockerfile", Builder::Classic).unwrap()),
            [".dockerignore", "Dockerfile", "bin", "bin/app"]
        );
        assert_eq!(
            names(&select(dir.path(), "Dockerfile", Builder::BuildKit).unwrap()),
            ["Dockerfile", "bin", "bin/app"]
        );
        let dir =
            tree(&[("svc/Dockerfile", "FROM scratch\n"), (".dockerignore", "svc\n"), ("svc/app.py", "")]);
        assert_eq!(
            names(&select(dir.path(), "svc/Dockerfile", Builder::BuildKit).unwrap()),
            [".dockerignore", "svc/Dockerfile"]
        );
    }

    #[test]
    fn a_bad_pattern_is_named_with_its_file_and_line() {
        // A missing Dockerfile is found earlier, when the project loads (project.rs).
        let dir = tree(&[(".dockerignore", "ok\n\n[\n"), ("Dockerfile", "FROM scratch\n")]);
        let err = select(dir.path(), "Dockerfile", Builder::BuildKit).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "{}/.dockerignore: line 3: `[`: unclosed character class `[`; Docker refuses this pattern too: \
                 fix it, or escape the character with `\\`",
                dir.path().display()
            )
        );
    }

    #[test]
    fn special_files_owners_and_hard_links_go_as_docker_sends_them() {
        let dir = tree(&[("Dockerfile", "FROM scratch\n"), ("a", "same")]);
        fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("pipe").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
        let selection = select(dir.path(), "Dockerfile", Builder::BuildKit).unwrap();
        assert_eq!(names(&selection), ["Dockerfile", "a", "b", "pipe"]);
        let mut tar_bytes = Vec::new();
        write_tar(dir.path(), &selection.entries, &mut tar_bytes).unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let seen: Vec<(String, tar::EntryType, u64, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.entry_type(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("Dockerfile".to_string(), tar::EntryType::Regular, 0, 0, 13),
                ("a".to_string(), tar::EntryType::Regular, 0, 0, 4),
                ("b".to_string(), tar::EntryType::Link, 0, 0, 0),
                ("pipe".to_string(), tar::EntryType::Fifo, 0, 0, 0),
            ]
        );
    }
}
