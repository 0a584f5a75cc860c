//! The layer check (issue 13): `scripts/check-layers.sh` passes on this
//! tree, and fails with a line naming file, line and the allowed layers on
//! each kind of upward import, fed a small tree of its own.

use std::fs;
use std::path::Path;
use std::process::Command;

fn check(src: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-layers.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(src)
        .output()
        .expect("run scripts/check-layers.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A tree with the given files (path under src/, contents).
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let p = dir.path().join("src").join(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }
    dir
}

#[test]
fn this_tree_imports_only_downward() {
    let (ok, text) = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(ok, "scripts/check-layers.sh failed:\n{text}");
}

#[test]
fn an_upward_import_fails_with_file_line_and_allowed_layers() {
    let dir = tree(&[
        ("lib.rs", "pub mod server;\npub mod store;\n"),
        ("server/mod.rs", "use crate::store::Store;\n"),
        (
            "store/mod.rs",
            "use crate::rr::Name;\n// see crate::server::State\nuse crate::server::State;\n",
        ),
    ]);
    let (ok, text) = check(&dir.path().join("src"));
    assert!(!ok, "expected a failure:\n{text}");
    assert!(
        text.contains("src/store/mod.rs:3 imports crate::server (store may import: rr "),
        "{text}"
    );
    // Downward imports and comments are not reported.
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn a_pure_core_may_not_import_the_served_state() {
    let dir = tree(&[("zone.rs", "fn f(s: &crate::served::State) {}\n")]);
    let (ok, text) = check(&dir.path().join("src"));
    assert!(!ok);
    assert!(
        text.contains("src/zone.rs:1 imports crate::served (zone may import: rr "),
        "{text}"
    );
}

#[test]
fn untangled_pairs_import_one_way() {
    let dir = tree(&[
        ("rdata/mod.rs", "use crate::rr::Name;\n"),
        ("rr.rs", "use crate::rdata::to_text;\n"),
        ("answer.rs", "use crate::request::Query;\n"),
        ("response.rs", "use crate::answer::Answer;\n"),
        ("request.rs", "use crate::response::refusal;\n"),
    ]);
    let (ok, text) = check(&dir.path().join("src"));
    assert!(!ok);
    assert!(
        text.contains("src/rr.rs:1 imports crate::rdata (one way only"),
        "{text}"
    );
    assert!(
        text.contains("src/response.rs:1 imports crate::answer (one way only"),
        "{text}"
    );
    assert!(
        text.contains("src/request.rs:1 imports crate::response (one way only"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn an_edge_imports_no_other_edge() {
    let dir = tree(&[
        (
            "rest/mod.rs",
            "use crate::server::dispatch::Dispatcher;\nuse crate::edge::guard::Noise;\n",
        ),
        ("watch.rs", "use crate::rest::Server;\n"),
    ]);
    let (ok, text) = check(&dir.path().join("src"));
    assert!(!ok);
    assert!(
        text.contains("src/rest/mod.rs:1 imports crate::server (an edge imports no other edge"),
        "{text}"
    );
    assert!(
        text.contains("src/watch.rs:1 imports crate::rest"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn the_committer_sits_below_the_rest_of_the_store() {
    // `super::` from store/committer.rs is store; the committer may use
    // the audit messages beside it, not the store's write path.
    let dir = tree(&[
        (
            "store/committer.rs",
            "use super::audit::message;\nuse super::Store;\n",
        ),
        ("store/audit.rs", "use crate::git::Message;\n"),
    ]);
    let (ok, text) = check(&dir.path().join("src"));
    assert!(!ok);
    assert!(
        text.contains(
            "src/store/committer.rs:2 imports crate::store (store::committer may import:"
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn a_module_in_no_layer_is_reported() {
    let dir = tree(&[("newthing.rs", "use crate::rr::Name;\n")]);
    let (ok, text) = check(&dir.path().join("src"));
    assert!(!ok);
    assert!(
        text.contains("src/newthing.rs: module newthing is in no layer"),
        "{text}"
    );
}
