//! An in-memory model of a directory tree, the common input of the image writers.
//!
//! The builder scans a source tree once ([`Tree::scan`]), normalises its metadata the
//! way a recipe's staging does ([`Tree::normalize`]), and hands the same [`Tree`] to the
//! SquashFS and ISO 9660 writers. File contents are not held in memory: a file node
//! records where its bytes live, and writers stream them when they need them.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Index of a node in [`Tree::nodes`].
pub type NodeId = usize;

/// A directory tree: nodes in an arena, the root is always a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub nodes: Vec<Node>,
    pub root: NodeId,
}

/// One inode of the tree. Several directory entries may point at the same file or
/// symlink node: that is a hard link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    /// Permission bits only (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Link count as a POSIX file system would report it: for files and symlinks the
    /// number of entries pointing at the node, for directories 2 + subdirectories.
    pub nlink: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Entries sorted by name bytes, without `.` and `..`.
    Dir {
        entries: Vec<Entry>,
    },
    /// Content is read from `source` at write time; `size` is what the scan saw.
    File {
        source: PathBuf,
        size: u64,
    },
    Symlink {
        target: Vec<u8>,
    },
}

/// A named directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub node: NodeId,
}

/// Why a directory could not be taken as an image tree.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a directory; an image tree must be a directory")]
    NotADirectory { path: PathBuf },
    #[error("{path} is a {kind}; images may hold only directories, regular files and symlinks (remove it from the tree)")]
    Unsupported { path: PathBuf, kind: &'static str },
    #[error("{path} is nested more than {max} directories deep; refusing a tree that deep")]
    TooDeep { path: PathBuf, max: usize },
}

/// Deepest directory nesting accepted; far beyond what real images use, low enough
/// that recursion in writers stays bounded.
pub const MAX_DEPTH: usize = 256;

impl Tree {
    /// Reads the tree under `dir` without following symlinks.
    ///
    /// Directory entries come out sorted by name bytes, whatever order the file system
    /// lists them in. Hard links (several names of one non-directory inode) become
    /// several entries pointing at one node. Device nodes, fifos and sockets are refused.
    pub fn scan(dir: &Path) -> Result<Tree, ScanError> {
        let meta = fs::symlink_metadata(dir).map_err(|source| ScanError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(ScanError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let mut scanner = Scanner {
            nodes: Vec::new(),
            links: HashMap::new(),
        };
        let root = scanner.scan_dir(dir, &meta, 0)?;
        Ok(Tree {
            nodes: scanner.nodes,
            root,
        })
    }

    /// Applies the recipe's staging rules: every mtime = `epoch`, owner root, regular
    /// files 0644 (0755 when any execute bit is set), directories 0755, symlinks 0777.
    pub fn normalize(&mut self, epoch: i64) {
        for node in &mut self.nodes {
            node.mtime = epoch;
            node.uid = 0;
            node.gid = 0;
            node.mode = match node.kind {
                NodeKind::Dir { .. } => 0o755,
                NodeKind::Symlink { .. } => 0o777,
                NodeKind::File { .. } if node.mode & 0o111 != 0 => 0o755,
                NodeKind::File { .. } => 0o644,
            };
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Looks a slash-separated path up from the root (`""` or `"/"` is the root).
    /// Symlinks are not followed.
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        let mut cur = self.root;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let NodeKind::Dir { entries } = &self.nodes[cur].kind else {
                return None;
            };
            let i = entries
                .binary_search_by(|e| e.name.as_slice().cmp(part.as_bytes()))
                .ok()?;
            cur = entries[i].node;
        }
        Some(cur)
    }

    /// Inserts (or replaces) a regular file at `path`, creating missing parent
    /// directories with the given metadata template. Used by the builder to place a
    /// freshly built SquashFS inside the image tree.
    pub fn insert_file(
        &mut self,
        path: &str,
        source: PathBuf,
        size: u64,
        template: &Node,
    ) -> Result<NodeId, InsertError> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((file_name, dirs)) = parts.split_last() else {
            return Err(InsertError::EmptyPath);
        };
        let mut cur = self.root;
        for dir in dirs {
            cur = match self.child(cur, dir.as_bytes()) {
                Some(id) if matches!(self.nodes[id].kind, NodeKind::Dir { .. }) => id,
                Some(_) => return Err(InsertError::NotADirectory(dir.to_string())),
                None => {
                    let id = self.push_node(Node {
                        kind: NodeKind::Dir {
                            entries: Vec::new(),
                        },
                        mode: 0o755,
                        nlink: 2,
                        ..template.clone()
                    });
                    self.nodes[cur].nlink += 1;
                    self.add_entry(cur, dir.as_bytes(), id);
                    id
                }
            };
        }
        let id = self.push_node(Node {
            kind: NodeKind::File { source, size },
            nlink: 1,
            ..template.clone()
        });
        if let Some(old) = self.child(cur, file_name.as_bytes()) {
            if matches!(self.nodes[old].kind, NodeKind::Dir { .. }) {
                return Err(InsertError::IsADirectory(path.to_string()));
            }
            self.remove_entry(cur, file_name.as_bytes());
            self.nodes[old].nlink = self.nodes[old].nlink.saturating_sub(1);
        }
        self.add_entry(cur, file_name.as_bytes(), id);
        Ok(id)
    }

    fn child(&self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        match &self.nodes[dir].kind {
            NodeKind::Dir { entries } => entries
                .binary_search_by(|e| e.name.as_slice().cmp(name))
                .ok()
                .map(|i| entries[i].node),
            _ => None,
        }
    }

    fn push_node(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn add_entry(&mut self, dir: NodeId, name: &[u8], node: NodeId) {
        if let NodeKind::Dir { entries } = &mut self.nodes[dir].kind {
            let at = entries.partition_point(|e| e.name.as_slice() < name);
            entries.insert(
                at,
                Entry {
                    name: name.to_vec(),
                    node,
                },
            );
        }
    }

    fn remove_entry(&mut self, dir: NodeId, name: &[u8]) {
        if let NodeKind::Dir { entries } = &mut self.nodes[dir].kind {
            entries.retain(|e| e.name != name);
        }
    }

    /// Every entry in depth-first, name-sorted order with its slash-separated path
    /// (the root itself is not listed).
    pub fn walk(&self) -> Vec<(String, NodeId)> {
        let mut out = Vec::new();
        self.walk_into(self.root, "", &mut out);
        out
    }

    fn walk_into(&self, dir: NodeId, prefix: &str, out: &mut Vec<(String, NodeId)>) {
        if let NodeKind::Dir { entries } = &self.nodes[dir].kind {
            for e in entries {
                let path = format!("{prefix}/{}", String::from_utf8_lossy(&e.name));
                out.push((path.clone(), e.node));
                self.walk_into(e.node, &path, out);
            }
        }
    }
}

/// Why [`Tree::insert_file`] could not place a file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InsertError {
    #[error("empty path: a file needs a name")]
    EmptyPath,
    #[error("{0} exists and is not a directory")]
    NotADirectory(String),
    #[error("{0} exists and is a directory")]
    IsADirectory(String),
}

struct Scanner {
    nodes: Vec<Node>,
    /// (device, inode) of non-directories already seen → their node, for hard links.
    links: HashMap<(u64, u64), NodeId>,
}

impl Scanner {
    fn push(&mut self, kind: NodeKind, meta: &fs::Metadata) -> NodeId {
        self.nodes.push(Node {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
            nlink: 1,
        });
        self.nodes.len() - 1
    }

    fn scan_dir(
        &mut self,
        dir: &Path,
        meta: &fs::Metadata,
        depth: usize,
    ) -> Result<NodeId, ScanError> {
        if depth > MAX_DEPTH {
            return Err(ScanError::TooDeep {
                path: dir.to_path_buf(),
                max: MAX_DEPTH,
            });
        }
        let io = |source| ScanError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut names: Vec<Vec<u8>> = Vec::new();
        for entry in fs::read_dir(dir).map_err(io)? {
            names.push(entry.map_err(io)?.file_name().as_bytes().to_vec());
        }
        names.sort();
        let id = self.push(
            NodeKind::Dir {
                entries: Vec::new(),
            },
            meta,
        );
        let mut entries = Vec::with_capacity(names.len());
        let mut subdirs = 0;
        for name in names {
            let path = dir.join(std::ffi::OsStr::from_bytes(&name));
            let child = self.scan_entry(&path, depth)?;
            if matches!(self.nodes[child].kind, NodeKind::Dir { .. }) {
                subdirs += 1;
            }
            entries.push(Entry { name, node: child });
        }
        self.nodes[id].kind = NodeKind::Dir { entries };
        self.nodes[id].nlink = 2 + subdirs;
        Ok(id)
    }

    fn scan_entry(&mut self, path: &Path, depth: usize) -> Result<NodeId, ScanError> {
        let meta = fs::symlink_metadata(path).map_err(|source| ScanError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let ft = meta.file_type();
        if ft.is_dir() {
            return self.scan_dir(path, &meta, depth + 1);
        }
        let unsupported = |kind| ScanError::Unsupported {
            path: path.to_path_buf(),
            kind,
        };
        let kind = if ft.is_file() {
            NodeKind::File {
                source: path.to_path_buf(),
                size: meta.len(),
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|source| ScanError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            NodeKind::Symlink {
                target: target.as_os_str().as_bytes().to_vec(),
            }
        } else if ft.is_block_device() {
            return Err(unsupported("block device"));
        } else if ft.is_char_device() {
            return Err(unsupported("character device"));
        } else if ft.is_fifo() {
            return Err(unsupported("fifo"));
        } else if ft.is_socket() {
            return Err(unsupported("socket"));
        } else {
            return Err(unsupported("file of unknown type"));
        };
        if meta.nlink() > 1 {
            if let Some(&existing) = self.links.get(&(meta.dev(), meta.ino())) {
                self.nodes[existing].nlink += 1;
                return Ok(existing);
            }
            let id = self.push(kind, &meta);
            self.links.insert((meta.dev(), meta.ino()), id);
            return Ok(id);
        }
        Ok(self.push(kind, &meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn sample() -> (tempfile::TempDir, Tree) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::write(root.join("z"), b"zz").unwrap();
        fs::write(root.join("a"), b"a").unwrap();
        fs::set_permissions(root.join("a"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::hard_link(root.join("z"), root.join("b/z2")).unwrap();
        symlink("../z", root.join("b/link")).unwrap();
        let tree = Tree::scan(root).unwrap();
        (dir, tree)
    }

    #[test]
    fn scan_sorts_names_and_finds_hard_links() {
        let (_d, tree) = sample();
        let paths: Vec<String> = tree.walk().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["/a", "/b", "/b/c", "/b/link", "/b/z2", "/z"]);
        let z = tree.lookup("/z").unwrap();
        assert_eq!(tree.lookup("b/z2"), Some(z));
        assert_eq!(tree.node(z).nlink, 2);
        assert_eq!(tree.node(tree.root).nlink, 3);
        assert_eq!(tree.node(tree.lookup("b").unwrap()).nlink, 3);
        match &tree.node(tree.lookup("/b/link").unwrap()).kind {
            NodeKind::Symlink { target } => assert_eq!(target, b"../z"),
            other => panic!("expected a symlink, got {other:?}"),
        }
    }

    #[test]
    fn normalize_applies_staging_rules() {
        let (_d, mut tree) = sample();
        tree.normalize(1_510_631_607);
        let mode = |p| tree.node(tree.lookup(p).unwrap()).mode;
        assert_eq!(mode("/a"), 0o755);
        assert_eq!(mode("/z"), 0o644);
        assert_eq!(mode("/b"), 0o755);
        assert_eq!(mode("/b/link"), 0o777);
        assert!(tree
            .nodes
            .iter()
            .all(|n| n.mtime == 1_510_631_607 && n.uid == 0 && n.gid == 0));
    }

    #[test]
    fn refuses_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
        let err = Tree::scan(dir.path()).unwrap_err();
        assert!(err.to_string().contains("pipe"), "{err}");
        assert!(err.to_string().contains("fifo"), "{err}");
    }

    #[test]
    fn insert_file_creates_parents_and_replaces() {
        let (_d, mut tree) = sample();
        let template = tree.node(tree.root).clone();
        let id = tree
            .insert_file("live/filesystem.squashfs", "/x".into(), 7, &template)
            .unwrap();
        assert_eq!(tree.lookup("/live/filesystem.squashfs"), Some(id));
        assert_eq!(tree.node(tree.root).nlink, 4);
        let again = tree
            .insert_file("live/filesystem.squashfs", "/y".into(), 8, &template)
            .unwrap();
        assert_eq!(tree.lookup("/live/filesystem.squashfs"), Some(again));
        assert_eq!(
            tree.insert_file("b", "/y".into(), 1, &template),
            Err(InsertError::IsADirectory("b".into()))
        );
        assert_eq!(
            tree.insert_file("z/q", "/y".into(), 1, &template),
            Err(InsertError::NotADirectory("z".into()))
        );
    }
}
