//! From a selector to a file under the served root, refusing anything that would leave it.
//!
//! A selector names a path relative to the root: "", "/" and "/." are the root; "/a/b" and
//! "a/b" are the same file. Selectors are taken as raw bytes, never percent-decoded (RFC 1436
//! selectors are opaque strings; a client decodes its URL before sending). The checks, in order:
//! length cap, no NUL, no `..` component, the canonical path (symlinks resolved) must lie
//! under the canonical root, and finally the file is opened with openat2(RESOLVE_BENEATH), so a
//! symlink swapped in after the check still cannot lead out.

use crate::sys::fileio;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Longest selector accepted, in bytes. RFC 1436 asks selectors to stay under 255 characters;
/// the cap is looser so deep paths fit, and tight enough that a request is one small read.
pub const MAX_SELECTOR: usize = 1024;

/// Why a selector gets an error item instead of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooLong(usize),
    BadByte,
    DotDot,
    NotFound,
    Outside,
    NotAFile,
    Unreadable(String),
}

impl Refusal {
    /// The text of the type-3 error item.
    pub fn message(&self) -> String {
        match self {
            Refusal::TooLong(n) => format!("selector too long ({n} bytes; the limit is {MAX_SELECTOR})"),
            Refusal::BadByte => "selector contains a NUL byte".into(),
            Refusal::DotDot => "refused: '..' is not allowed in a selector".into(),
            Refusal::NotFound => "not found".into(),
            Refusal::Outside => "refused: the path leads outside the served directory".into(),
            Refusal::NotAFile => "refused: not a regular file or directory".into(),
            Refusal::Unreadable(e) => format!("cannot read: {e}"),
        }
    }

    /// A short word for logs and tables.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::TooLong(_) => "too long",
            Refusal::BadByte => "NUL byte",
            Refusal::DotDot => "'..'",
            Refusal::NotFound => "not found",
            Refusal::Outside => "outside root",
            Refusal::NotAFile => "not a file",
            Refusal::Unreadable(_) => "unreadable",
        }
    }
}

/// The served directory: its canonical path and a handle to open files beneath it.
pub struct Root {
    pub path: PathBuf,
    handle: std::os::fd::OwnedFd,
}

impl Root {
    pub fn open(dir: &Path) -> io::Result<Root> {
        let path = dir.canonicalize()?;
        if !path.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        let handle = fileio::open_dir_handle(&path)?;
        Ok(Root { path, handle })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.handle.as_fd()
    }

    /// Opens `rel` (already resolved, relative to the root) without leaving the root.
    pub fn open_beneath(&self, rel: &Path) -> Result<File, Refusal> {
        let fd = match fileio::open_beneath(self.fd(), rel) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => fileio::open_plain(&self.path.join(rel)),
            r => r,
        };
        match fd {
            Ok(fd) => Ok(File::from(fd)),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) || e.raw_os_error() == Some(libc::ELOOP) => {
                Err(Refusal::Outside)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Refusal::NotFound),
            Err(e) => Err(Refusal::Unreadable(crate::sys::errno_name(&e))),
        }
    }

    /// The canonical path's part below the root, or None when it is not below it.
    pub fn relative(&self, canonical: &Path) -> Option<PathBuf> {
        canonical.strip_prefix(&self.path).ok().map(Path::to_path_buf)
    }
}

/// A resolved request target.
#[derive(Debug)]
pub struct Target {
    /// Canonical path relative to the root ("" for the root itself).
    pub rel: PathBuf,
    pub file: File,
    pub is_dir: bool,
    pub len: u64,
}

/// The path components a selector names, or why it is refused (no filesystem access).
pub fn components(selector: &[u8]) -> Result<PathBuf, Refusal> {
    if selector.len() > MAX_SELECTOR {
        return Err(Refusal::TooLong(selector.len()));
    }
    if selector.contains(&0) {
        return Err(Refusal::BadByte);
    }
    let mut rel = PathBuf::new();
    for part in selector.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(Refusal::DotDot),
            p => rel.push(OsStr::from_bytes(p)),
        }
    }
    Ok(rel)
}

/// Resolves and opens what a selector names under `root`.
pub fn resolve(root: &Root, selector: &[u8]) -> Result<Target, Refusal> {
    let rel = components(selector)?;
    let canonical = match root.path.join(&rel).canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Refusal::NotFound),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Err(Refusal::NotFound),
        Err(e) => return Err(Refusal::Unreadable(crate::sys::errno_name(&e))),
    };
    let rel = root.relative(&canonical).ok_or(Refusal::Outside)?;
    let file = root.open_beneath(&rel)?;
    let meta = file
        .metadata()
        .map_err(|e| Refusal::Unreadable(crate::sys::errno_name(&e)))?;
    if !meta.is_dir() && !meta.is_file() {
        return Err(Refusal::NotAFile);
    }
    Ok(Target {
        rel,
        is_dir: meta.is_dir(),
        len: meta.len(),
        file,
    })
}

/// The selector that names `rel` in menus: "/" + path, with a trailing "/" for directories.
pub fn selector_for(rel: &Path, is_dir: bool) -> Vec<u8> {
    let mut s = vec![b'/'];
    s.extend_from_slice(rel.as_os_str().as_bytes());
    if is_dir && s.len() > 1 {
        s.push(b'/');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn root_spellings_and_dotdot() {
        for s in [&b""[..], b"/", b"/.", b"//./"] {
            assert_eq!(components(s).unwrap(), PathBuf::new(), "{s:?}");
        }
        assert_eq!(components(b"/a//b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(components(b"a/../b"), Err(Refusal::DotDot));
        assert_eq!(components(b"/.."), Err(Refusal::DotDot));
        assert_eq!(components(b"a\0b"), Err(Refusal::BadByte));
        assert!(matches!(
            components(&[b'a'; MAX_SELECTOR + 1]),
            Err(Refusal::TooLong(_))
        ));
        // Never percent-decoded: "%2e%2e" is a name like any other.
        assert_eq!(components(b"%2e%2e/x").unwrap(), PathBuf::from("%2e%2e/x"));
        assert_eq!(selector_for(Path::new(""), true), b"/");
        assert_eq!(selector_for(Path::new("a/b"), true), b"/a/b/");
        assert_eq!(selector_for(Path::new("a/f.txt"), false), b"/a/f.txt");
    }

    /// The TOCTOU race made deterministic: the path is checked while `d` is a directory
    /// inside the root, then `d` becomes a symlink to a directory outside before the open.
    /// The open itself (openat2 RESOLVE_BENEATH) must refuse it.
    #[test]
    fn a_symlink_swapped_in_after_the_check_is_refused() {
        let base = std::env::temp_dir().join(format!("lab-select-toctou-{}", std::process::id()));
        let (root_dir, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root_dir.join("d")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root_dir.join("d/f"), b"inside").unwrap();
        std::fs::write(outside.join("f"), b"secret").unwrap();
        let root = Root::open(&root_dir).unwrap();
        let checked = resolve(&root, b"/d/f").map(|t| t.rel);
        std::fs::remove_dir_all(root_dir.join("d")).unwrap();
        std::os::unix::fs::symlink(&outside, root_dir.join("d")).unwrap();
        let swapped = root.open_beneath(Path::new("d/f")).map(|_| ());
        let _ = std::fs::remove_dir_all(&base);
        assert_eq!(checked.unwrap(), PathBuf::from("d/f"));
        assert_eq!(swapped, Err(Refusal::Outside));
    }

    proptest! {
        // Whatever bytes a client sends, an accepted selector is a plain relative path.
        #[test]
        fn accepted_selectors_stay_relative(sel in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(rel) = components(&sel) {
                prop_assert!(rel.is_relative());
                prop_assert!(rel.components().all(|c| matches!(c, std::path::Component::Normal(_))));
            }
        }
    }
}
