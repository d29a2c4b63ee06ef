//! Names the commit execd is built from (EXECD_GIT_COMMIT), so a journal's start record
//! can say which code wrote it (R-AUD-1). Asked of `git` when there is one; a build from
//! a source tarball simply has no commit to name.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=EXECD_GIT_COMMIT");
    if let Some(c) = std::env::var("EXECD_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
    {
        println!("cargo:rustc-env=EXECD_GIT_COMMIT={c}");
        return;
    }
    let Some(commit) = git(&["rev-parse", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=EXECD_GIT_COMMIT={commit}");
    // Built again when HEAD moves: HEAD itself, the branch it names, and packed refs.
    // Only files that exist are named (cargo reruns every time for a missing one).
    let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(git(&["rev-parse", "--git-path", &r]));
    }
    watch.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for p in watch.into_iter().flatten() {
        if std::path::Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
