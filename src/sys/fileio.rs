//! File-to-socket calls for the Gopher server: zero-copy sending and opening a path
//! that cannot leave a directory.

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

/// sendfile(2): the kernel copies up to `count` bytes of `file`, from `*offset`, straight
/// into `sock` (no trip through user space); advances `*offset` by what it sent.
pub fn sendfile(
    sock: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut i64,
    count: usize,
) -> io::Result<usize> {
    nix::sys::sendfile::sendfile64(sock, file, Some(offset), count).map_err(io::Error::from)
}

/// The flags every served file is opened with: read-only, not inherited by children, never
/// becoming a controlling terminal, and O_NONBLOCK so a FIFO cannot hang the open — open(2).
fn read_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK
}

/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: opens `rel` under the directory
/// `dir` read-only; a `..` or a symlink that would leave `dir` fails with EXDEV, even if the
/// tree changes between a check and the open. ENOSYS on kernels before 5.6.
pub fn open_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(read_flags())
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = nix::fcntl::openat2(dir.as_raw_fd(), rel, how).map_err(io::Error::from)?;
    // SAFETY: openat2 returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open(2) of an absolute path with the same flags as [`open_beneath`]: the fallback where
/// openat2 is missing (the caller has already checked the canonical path's prefix).
pub fn open_plain(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(path, read_flags(), nix::sys::stat::Mode::empty()).map_err(io::Error::from)?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open(2) with O_PATH | O_DIRECTORY: a handle on a directory, to resolve paths beneath it.
pub fn open_dir_handle(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()).map_err(io::Error::from)?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn open_beneath_refuses_dotdot_and_outside_symlinks() {
        let base = std::env::temp_dir().join(format!("lab-fileio-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(base.join("secret"), b"x").unwrap();
        std::fs::write(root.join("inside"), b"y").unwrap();
        let _ = std::os::unix::fs::symlink("../secret", root.join("leak"));
        let dir = open_dir_handle(&root).unwrap();
        let ok = open_beneath(dir.as_fd(), Path::new("inside"));
        let dotdot = open_beneath(dir.as_fd(), Path::new("../secret"));
        let leak = open_beneath(dir.as_fd(), Path::new("leak"));
        std::fs::remove_dir_all(&base).unwrap();
        assert!(ok.is_ok());
        for r in [dotdot, leak] {
            let e = r.unwrap_err().raw_os_error();
            assert!(e == Some(libc::EXDEV) || e == Some(libc::ENOSYS), "{e:?}");
        }
    }
}
