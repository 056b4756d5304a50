//! splice(2): moving a download from the socket to its file inside the kernel, so the bytes
//! are never copied into the program (the fast path of `lab gopher -o FILE`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// pipe2(2) with O_CLOEXEC, grown to `size` bytes with fcntl(F_SETPIPE_SZ) (pipe(7)) when the
/// kernel allows; returns (read end, write end).
pub fn pipe(size: usize) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are fresh descriptors owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // A smaller pipe only means more calls: ignore a refusal (pipe-max-size).
    // SAFETY: F_SETPIPE_SZ takes an int argument; the descriptor is valid.
    let _ = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    Ok((r, w))
}

/// splice(2): moves up to `len` bytes from `from` to `to` (one of them a pipe) without copying
/// them to user space; 0 means end of input. Blocks as a read would (SO_RCVTIMEO applies).
pub fn splice(from: BorrowedFd, to: BorrowedFd, len: usize) -> io::Result<usize> {
    // SAFETY: null offsets mean "use and advance the file position"; both descriptors are valid.
    let n = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn bytes_go_through_a_pipe_to_a_file() {
        let (r, w) = pipe(1 << 20).unwrap();
        let mut src = tempfile_with(b"hello splice");
        let dst = tempfile_with(b"");
        assert_eq!(splice(src.as_fd(), w.as_fd(), 64).unwrap(), 12);
        assert_eq!(splice(r.as_fd(), dst.as_fd(), 64).unwrap(), 12);
        let mut got = String::new();
        let mut f = dst;
        use std::io::Seek;
        f.rewind().unwrap();
        f.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello splice");
        assert_eq!(splice(src.as_fd(), w.as_fd(), 64).unwrap(), 0, "end of input");
        src.flush().unwrap();
    }

    fn tempfile_with(b: &[u8]) -> std::fs::File {
        let path = std::env::temp_dir().join(format!(
            "lab-splice-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f.write_all(b).unwrap();
        use std::io::Seek;
        f.rewind().unwrap();
        f
    }
}
