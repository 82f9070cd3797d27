//! Unit tests of `git.rs`.

use super::*;

#[test]
fn pathspecs_leave_out_paths_inside_others() {
    let paths: Vec<PathBuf> = ["services/api/Dockerfile", "services/api", "Cargo.lock", "services/apix"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(pathspecs(&paths), ["Cargo.lock", "services/api", "services/apix"]);
    assert_eq!(pathspecs(&[PathBuf::new(), PathBuf::from("services/api")]), ["."]);
}

#[test]
fn the_commit_before_a_root_commit_is_none_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let sh = shell(dir.path()).unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    let (name, email) = ("user.name=t", "user.email=t@example.com");
    cmd!(sh, "git init -q").run().unwrap();
    cmd!(sh, "git add a.txt").run().unwrap();
    cmd!(sh, "git -c {name} -c {email} commit -q -m first").run().unwrap();
    let git = Git::open(dir.path()).unwrap();
    let head = git.image_commit_at("HEAD", vec![PathBuf::from("a.txt")]).unwrap();
    assert_eq!(head.len(), 40);
    assert_eq!(git.image_commit_at(&format!("{head}^"), vec![PathBuf::from("a.txt")]), None);
}

#[test]
fn status_entries_name_both_sides_of_a_rename() {
    let output = b" M services/api/app.py\0R  new.txt\0old.txt\0?? services/web/tmp/\0";
    assert_eq!(changed_paths(output), ["services/api/app.py", "new.txt", "old.txt", "services/web/tmp/"]);
}
