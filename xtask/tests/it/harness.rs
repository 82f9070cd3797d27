//! A throwaway git repository holding a small project, and the real `xtask`
//! binary run inside it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Repo {
    dir: tempfile::TempDir,
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn failure(self) -> Run {
        self.exit(1)
    }

    #[track_caller]
    pub fn exit(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The smallest task definition ECS takes, for a service of the harness project.
pub fn minimal_task_definition(service: &str) -> String {
    format!(
        "{{\"family\": \"demo-{service}\", \"containerDefinitions\": [{{\"name\": \"{service}\", \
         \"image\": \"{{{{ image }}}}\", \"memory\": 128}}]}}\n"
    )
}

pub const DEV_TOML: &str = r#"region = "us-east-1"
account_id = "000000000000"
cluster = "local"
registry = "127.0.0.1:5000"

[values]
greeting = "hello"
"#;

impl Repo {
    /// An empty git repository with isolated git configuration.
    pub fn empty() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().unwrap() };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// An empty repository whose environment `dev` pushes to the registry
    /// on `registry_port`, with generated env files ignored by git.
    pub fn with_registry(registry_port: u16) -> Repo {
        let repo = Repo::empty();
        repo.write(".gitignore", "/services/*/*.env\n");
        repo.write(
            "env/dev.toml",
            &format!(
                "region = \"us-east-1\"\naccount_id = \"123456789012\"\ncluster = \"c\"\n\
                 registry = \"127.0.0.1:{registry_port}\"\n"
            ),
        );
        repo
    }

    /// A project with two services, `api` (with an env template that reads a
    /// secret) and `web`, an environment `dev`, all committed.
    pub fn project() -> Repo {
        let repo = Repo::empty();
        repo.write(".gitignore", "/services/*/*.env\n");
        repo.write("env/dev.toml", DEV_TOML);
        repo.write("services/api/Dockerfile", "FROM scratch\n");
        repo.write("services/web/Dockerfile", "FROM scratch\n");
        repo.write(
            "templates/api.env.j2",
            "GREETING={{ values.greeting }}\nAPI_TOKEN={{ secret(\"API_TOKEN\", default=\"none\") }}\n",
        );
        repo.write("templates/web.env.j2", "API_IMAGE={{ images.api }}\n");
        repo.commit();
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path().join(rel)).unwrap()
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path().join(rel).exists()
    }

    pub fn mode(&self, rel: &str) -> u32 {
        fs::metadata(self.path().join(rel)).unwrap().permissions().mode() & 0o777
    }

    pub fn commit(&self) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", "change"]);
    }

    /// The tag images of HEAD get on a clean tree.
    pub fn short_sha(&self) -> String {
        self.short_sha_of("HEAD")
    }

    /// The tag of an image with build arguments at a commit's tag: the
    /// commit, then the first 8 hex digits of the SHA-256 of its rendered
    /// arguments as `NAME=<length>:<value>` lines in name order (the form the
    /// README documents), computed here with `sha256sum`, not the tool's code.
    pub fn tag_with_args(commit_tag: &str, args: &[(&str, &str)]) -> String {
        let mut sorted = args.to_vec();
        sorted.sort();
        let text: String =
            sorted.iter().map(|(name, value)| format!("{name}={}:{value}\n", value.len())).collect();
        let mut child = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        format!("{commit_tag}-{}", &String::from_utf8(out.stdout).unwrap()[..8])
    }

    /// The tag images get that were last changed by a given commit.
    pub fn short_sha_of(&self, revision: &str) -> String {
        let out = self.git(&["rev-parse", "--short=12", revision]);
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn git(&self, args: &[&str]) -> Output {
        let out = self.isolated(Command::new("git")).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs git with `cargo` on PATH standing for `cargo xtask`: a script
    /// that runs the real binary, so the hooks git starts run it too.
    pub fn git_with_xtask(&self, args: &[&str]) -> Run {
        let bin = self.path().join(".home/bin");
        fs::create_dir_all(&bin).unwrap();
        let cargo = bin.join("cargo");
        fs::write(
            &cargo,
            format!(
                "#!/bin/sh\n[ \"$1\" = xtask ] || {{ echo \"fake cargo: only xtask\" >&2; exit 99; }}\nshift\n\
                 exec \"{}\" \"$@\"\n",
                env!("CARGO_BIN_EXE_xtask")
            ),
        )
        .unwrap();
        fs::set_permissions(&cargo, fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        Run::from(self.isolated(Command::new("git")).args(args).env("PATH", path).output().unwrap())
    }

    /// Runs `xtask` in the repository root.
    pub fn xtask(&self, args: &[&str]) -> Run {
        self.xtask_with(args, &[])
    }

    /// Runs xtask with AWS pointed at `aws_port` (moto, or a proxy before it).
    pub fn xtask_aws(&self, args: &[&str], aws_port: u16) -> Run {
        self.xtask_aws_with(args, aws_port, &[])
    }

    /// [`Repo::xtask_aws`] with more process variables.
    pub fn xtask_aws_with(&self, args: &[&str], aws_port: u16, vars: &[(&str, &str)]) -> Run {
        let mut command = self.xtask_aws_command(args, aws_port);
        command.envs(vars.iter().copied());
        Run::from(command.output().unwrap())
    }

    /// The command `xtask_aws_with` runs, for a test that starts it and acts while it runs.
    pub fn xtask_aws_command(&self, args: &[&str], aws_port: u16) -> Command {
        let mut command = self.isolated(Command::new(env!("CARGO_BIN_EXE_xtask")));
        command.args(args).envs([
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{aws_port}").as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret-value"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        command
    }

    pub fn xtask_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut command = self.isolated(Command::new(env!("CARGO_BIN_EXE_xtask")));
        command.args(args).envs(vars.iter().copied());
        Run::from(command.output().unwrap())
    }

    /// Nothing from the developer's machine leaks in: no global git config or
    /// ignore file, no variables the templates read. Backtraces are asked for
    /// on purpose, to prove user-facing errors never carry one.
    fn isolated(&self, mut command: Command) -> Command {
        command
            .current_dir(self.path())
            .env("HOME", self.path().join(".home"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("RUST_BACKTRACE", "1")
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("API_TOKEN")
            .env_remove("HONEYCOMB_API_KEY");
        // Only the AWS session a test sets up, never the developer's.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        command
    }

    /// Every file below the root with its contents, sorted by path; `.git`
    /// left out. Two snapshots are equal when a run changed nothing.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().unwrap() == ".git" {
                    continue;
                }
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().to_path_buf());
                }
            }
        }
        let mut files = Vec::new();
        walk(self.path(), self.path(), &mut files);
        files.sort();
        files.into_iter().map(|f| (f.clone(), fs::read(self.path().join(f)).unwrap())).collect()
    }
}

/// Runs a command with `input` on its standard input; returns what it wrote.
pub fn fed(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input).unwrap();
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}
