#!/usr/bin/env python3
"""Records what the real docker CLI sends for each .dockerignore case.

How the expected file sets in cases.json were taken: for every case, this
script lays out TREE (plus the case's .dockerignore and Dockerfile) in a
temporary folder, builds it with the docker CLI's own context code
(`DOCKER_BUILDKIT=0 docker build`, the CLI walks and filters the context with
moby/patternmatcher, and the engine then drops the Dockerfile and .dockerignore
when they are ignored), starts nothing, and lists the image's /ctx with
`docker create` + `docker export`. The Dockerfile is `FROM scratch` +
`COPY . /ctx/`, so it needs no base image. A case the CLI refuses records the
CLI's error instead of a file set.

A case with "ignore_file" puts its patterns in that file instead of
.dockerignore (`<Dockerfile>.dockerignore`). The classic builder does not read
such a file; BuildKit reads it instead of .dockerignore, so for those the
expected set is recorded with the same patterns written to .dockerignore and
the case says so.

Run it from the repository root on a machine with a Docker Engine:
    python3 xtask/tests/dockerignore/record.py
"""

import json
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases.json")

# The context every case starts from: regular files only, each with its own
# name as content so that a swapped file would show.
TREE = [
    "Dockerfile",
    "a.txt",
    "b.txt",
    "c.txt",
    "x.txt",
    "!.txt",
    "#a.txt",
    "A.TXT",
    "a.tmp",
    "dir/b.tmp",
    "dir/sub/c.tmp",
    "abb",
    "aXb",
    "a/b",
    "a/x/b",
    "build/out.bin",
    "build/keep.txt",
    "node_modules/pkg/index.js",
    "src/main.rs",
    "src/lib.rs",
    "src/nested/deep.rs",
    "docs/README.md",
    ".git/HEAD",
    ".env",
    "svc/Dockerfile",
    "svc/app.py",
    "[x].txt",
]


def build_tree(root, case):
    for path in TREE:
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(path + "\n")
    dockerfile = case.get("dockerfile", "Dockerfile")
    with open(os.path.join(root, dockerfile), "w") as f:
        f.write("FROM scratch\nCOPY . /ctx/\n")
    patterns = case["patterns"].encode("utf-8")
    if case.get("bom"):
        patterns = b"\xef\xbb\xbf" + patterns
    # The classic builder reads only .dockerignore (see the module comment).
    with open(os.path.join(root, ".dockerignore"), "wb") as f:
        f.write(patterns)
    if "ignore_file" in case:
        with open(os.path.join(root, case["ignore_file"]), "wb") as f:
            f.write(patterns)


def record(case):
    with tempfile.TemporaryDirectory() as root:
        build_tree(root, case)
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        tag = "xtask-dockerignore-probe:latest"
        built = subprocess.run(
            ["docker", "build", "-q", "-f", case.get("dockerfile", "Dockerfile"), "-t", tag, "."],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            # The CLI's message, without the "ERROR: " or usage noise around it.
            lines = [l for l in built.stderr.splitlines() if l.strip()]
            return {"error": lines[-1]}
        container = subprocess.run(
            ["docker", "create", tag, "none"], capture_output=True, text=True, check=True
        ).stdout.strip()
        try:
            exported = subprocess.run(
                ["docker", "export", container], capture_output=True, check=True
            ).stdout
        finally:
            subprocess.run(["docker", "rm", container], capture_output=True)
        with tempfile.TemporaryFile() as f:
            f.write(exported)
            f.seek(0)
            with tarfile.open(fileobj=f) as tar:
                files = sorted(
                    m.name[len("ctx/"):]
                    for m in tar.getmembers()
                    if m.name.startswith("ctx/") and not m.isdir()
                )
        subprocess.run(["docker", "rmi", tag], capture_output=True)
        return {"files": files}


def main():
    with open(CASES) as f:
        data = json.load(f)
    for case in data["cases"]:
        case.update({k: v for k, v in record(case).items()})
        if "error" in case:
            case.pop("files", None)
        else:
            case.pop("error", None)
        print(case["name"], "->", case.get("error") or len(case["files"]), file=sys.stderr)
    data["tree"] = TREE
    with open(CASES, "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
