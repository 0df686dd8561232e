//! What the writer refuses, and how it says so.
mod common;

use std::io::Cursor;

use common::*;
use fstree::{Entry, Node, NodeKind, Tree};
use squashfs::{Compression, Options, WriteError};

fn opts() -> Options {
    Options {
        compression: Compression::Gzip,
        block_size: 131072,
        mkfs_time: EPOCH,
        threads: 2,
    }
}

fn node(kind: NodeKind) -> Node {
    Node {
        kind,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
        nlink: 1,
    }
}

fn try_write(tree: &Tree, o: &Options) -> Result<squashfs::Summary, WriteError> {
    squashfs::write(tree, &mut Cursor::new(Vec::new()), o, &mut |_, _| {})
}

fn dir_with(entries: Vec<(&[u8], usize)>) -> NodeKind {
    NodeKind::Dir {
        entries: entries
            .into_iter()
            .map(|(n, node)| Entry {
                name: n.to_vec(),
                node,
            })
            .collect(),
    }
}

#[test]
fn refuses_bad_block_sizes() {
    let d = tempfile::tempdir().unwrap();
    let tree = scan(d.path());
    for bs in [0, 1000, 2048, 131073, 2 << 20] {
        let o = Options {
            block_size: bs,
            ..opts()
        };
        let err = try_write(&tree, &o).unwrap_err();
        assert!(matches!(err, WriteError::BlockSize(b) if b == bs), "{err}");
        assert!(err.to_string().contains("power of two"));
    }
}

#[test]
fn refuses_names_squashfs_cannot_hold() {
    let long = vec![b'a'; 257];
    let tree = Tree {
        nodes: vec![
            node(dir_with(vec![(&long, 1)])),
            node(NodeKind::Symlink {
                target: b"x".to_vec(),
            }),
        ],
        root: 0,
    };
    let err = try_write(&tree, &opts()).unwrap_err();
    assert!(
        matches!(err, WriteError::NameTooLong { len: 257, .. }),
        "{err}"
    );
    for bad in [&b""[..], b"a/b", b"..", b"nul\0"] {
        let tree = Tree {
            nodes: vec![
                node(dir_with(vec![(bad, 1)])),
                node(NodeKind::Symlink {
                    target: b"x".to_vec(),
                }),
            ],
            root: 0,
        };
        assert!(
            matches!(try_write(&tree, &opts()), Err(WriteError::Tree(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn refuses_malformed_trees() {
    // entry pointing nowhere
    let tree = Tree {
        nodes: vec![node(dir_with(vec![(b"x", 7)]))],
        root: 0,
    };
    assert!(matches!(
        try_write(&tree, &opts()),
        Err(WriteError::Tree(_))
    ));
    // a directory reachable twice
    let tree = Tree {
        nodes: vec![
            node(dir_with(vec![(b"a", 1), (b"b", 1)])),
            node(dir_with(vec![])),
        ],
        root: 0,
    };
    let err = try_write(&tree, &opts()).unwrap_err();
    assert!(err.to_string().contains("reachable twice"), "{err}");
    // a loop
    let tree = Tree {
        nodes: vec![node(dir_with(vec![(b"a", 0)]))],
        root: 0,
    };
    assert!(matches!(
        try_write(&tree, &opts()),
        Err(WriteError::Tree(_))
    ));
    // root not a directory
    let tree = Tree {
        nodes: vec![node(NodeKind::Symlink {
            target: b"x".to_vec(),
        })],
        root: 0,
    };
    assert!(matches!(
        try_write(&tree, &opts()),
        Err(WriteError::Tree(_))
    ));
    // duplicate names
    let tree = Tree {
        nodes: vec![
            node(dir_with(vec![(b"a", 1), (b"a", 1)])),
            node(NodeKind::Symlink {
                target: b"x".to_vec(),
            }),
        ],
        root: 0,
    };
    assert!(matches!(
        try_write(&tree, &opts()),
        Err(WriteError::Tree(_))
    ));
}

#[test]
fn notices_files_that_change_or_vanish() {
    for threads in [1, 3] {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("grows"), &text(300_000, 1));
        write(&d.path().join("small"), b"abc");
        let tree = scan(d.path());
        write(&d.path().join("grows"), &text(300_001, 1));
        let o = Options { threads, ..opts() };
        let err = try_write(&tree, &o).unwrap_err();
        assert!(
            matches!(&err, WriteError::Changed { path, .. } if path.ends_with("grows")),
            "{err}"
        );

        std::fs::remove_file(d.path().join("grows")).unwrap();
        let err = try_write(&tree, &o).unwrap_err();
        assert!(
            matches!(&err, WriteError::Read { path, .. } if path.ends_with("grows")),
            "{err}"
        );
        assert!(err.to_string().contains("grows"));
    }
}

#[test]
fn reports_progress_up_to_the_total() {
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("a"), &text(300_000, 1));
    write(&d.path().join("b"), b"tiny");
    let tree = scan(d.path());
    let mut last = (0, 0);
    let mut calls = 0;
    squashfs::write(
        &tree,
        &mut Cursor::new(Vec::new()),
        &opts(),
        &mut |done, total| {
            assert!(done <= total);
            assert!(done >= last.0);
            last = (done, total);
            calls += 1;
        },
    )
    .unwrap();
    assert_eq!(last, (300_004, 300_004));
    assert!(calls >= 3);
}
