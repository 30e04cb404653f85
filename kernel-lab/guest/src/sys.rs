//! The few system calls the guest needs beyond std: anonymous mappings, fork, pipes,
//! waitpid, swapon(2) and the kernel's `key value` files.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

/// Reads a file and trims it; None when it cannot be read.
pub fn read_trim(path: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Writes `value` to a kernel file (sysfs, procfs, cgroupfs); the error names the file.
pub fn write_file(path: impl AsRef<Path>, value: &str) -> Result<(), String> {
    let path = path.as_ref();
    fs::write(path, value.as_bytes()).map_err(|e| format!("{} <- {value:?}: {e}", path.display()))
}

/// A `key value` file (`/proc/vmstat`, `memory.stat`, `memory.events`) as a map (empty
/// when it cannot be read).
pub fn read_u64_kv(path: impl AsRef<Path>) -> BTreeMap<String, u64> {
    fs::read_to_string(path).map(|t| parse_kv(&t)).unwrap_or_default()
}

/// The parser behind [`read_u64_kv`]: lines of exactly two words whose second is an
/// integer; a negative one (a per-CPU counter caught mid-update) reads as 0.
pub fn parse_kv(text: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) {
            if let Ok(v) = v.parse::<i64>() {
                m.insert(k.to_string(), v.max(0) as u64);
            }
        }
    }
    m
}

/// Every regular file of a directory whose content is an integer (debugfs zswap).
pub fn read_u64_dir(dir: impl AsRef<Path>) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = read_trim(e.path()).and_then(|t| t.parse::<u64>().ok()) {
                m.insert(name, v);
            }
        }
    }
    m
}

/// Every file of a directory, trimmed (module parameters).
pub fn read_str_dir(dir: impl AsRef<Path>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Some(v) = read_trim(e.path()) {
                m.insert(e.file_name().to_string_lossy().into_owned(), v);
            }
        }
    }
    m
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

/// An anonymous private mapping, left untouched (every page faults in at its first
/// access), with transparent huge pages off so the kernel reclaims it 4 KiB at a time.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `pages` pages (at least one).
    pub fn new(pages: u64) -> Result<Mapping, String> {
        let len = usize::try_from(pages.max(1))
            .ok()
            .and_then(|p| p.checked_mul(crate::PAGE))
            .ok_or_else(|| format!("{pages} pages do not fit the address space"))?;
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(last_error(&format!("mmap of {len} bytes")));
        }
        // SAFETY: the range is the mapping just made. Failure only means no THP support.
        unsafe { libc::madvise(ptr, len, libc::MADV_NOHUGEPAGE) };
        Ok(Mapping { ptr: ptr.cast(), len })
    }

    /// The number of pages.
    pub fn pages(&self) -> u64 {
        (self.len / crate::PAGE) as u64
    }

    /// Page `page` as a byte array (a write faults it in).
    ///
    /// # Panics
    /// When `page` is outside the mapping (the caller indexes with the workload's pages,
    /// which the mapping was sized for).
    pub fn page_mut(&mut self, page: u64) -> &mut [u8; crate::PAGE] {
        assert!(page < self.pages(), "page {page} outside a mapping of {} pages", self.pages());
        // SAFETY: inside the mapping (checked above); anonymous memory is initialised
        // (zero-filled) and only reachable through `&mut self`.
        unsafe { &mut *self.ptr.add(page as usize * crate::PAGE).cast::<[u8; crate::PAGE]>() }
    }

    /// Reads the first 8-byte word of page `page` with a volatile load (faults it in).
    pub fn read_word(&self, page: u64) -> u64 {
        assert!(page < self.pages(), "page {page} outside a mapping of {} pages", self.pages());
        // SAFETY: inside the mapping, page-aligned hence aligned for u64.
        unsafe { std::ptr::read_volatile(self.ptr.add(page as usize * crate::PAGE).cast::<u64>()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, not used after this.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// One end of a pipe.
pub struct Fd(libc::c_int);

impl Fd {
    /// Writes one byte; false when the other end is gone (EPIPE).
    pub fn send(&self, b: u8) -> bool {
        loop {
            // SAFETY: one byte from a live local.
            let n = unsafe { libc::write(self.0, (&b as *const u8).cast(), 1) };
            if n == 1 {
                return true;
            }
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
    }

    /// Reads one byte; None at end of file (every writer is gone) or on error.
    pub fn recv(&self) -> Option<u8> {
        let mut b = 0u8;
        loop {
            // SAFETY: one byte into a live local.
            let n = unsafe { libc::read(self.0, (&mut b as *mut u8).cast(), 1) };
            if n == 1 {
                return Some(b);
            }
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
    }
}

impl Fd {
    /// Closes the descriptor in a forked child that holds a copy of it and ends with
    /// [`exit_now`] (which runs no destructor, so it is not closed twice).
    pub fn close_inherited(&self) {
        // SAFETY: closing a descriptor has no memory effects; the value is not used
        // again by this process, which exits without dropping it.
        unsafe { libc::close(self.0) };
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: this descriptor is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

/// A pipe: (read end, write end).
pub fn pipe() -> Result<(Fd, Fd), String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: two ints to fill.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(last_error("pipe"));
    }
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// fork(2): Ok(0) in the child, Ok(pid) in the parent. Only called while the process has
/// one thread (the guest never starts threads), so the child may go on running Rust code.
pub fn fork() -> Result<libc::pid_t, String> {
    // SAFETY: single-threaded process (see above).
    let pid = unsafe { libc::fork() };
    if pid < 0 { Err(last_error("fork")) } else { Ok(pid) }
}

/// Ends the calling process at once (no destructors, no atexit handlers: a forked
/// child must not flush or free what its parent owns).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns.
    unsafe { libc::_exit(code) }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// exit(code).
    Exited(i32),
    /// Killed by this signal (SIGKILL from the OOM killer).
    Signaled(i32),
}

/// Waits for `pid` to end.
pub fn wait(pid: libc::pid_t) -> Result<Ended, String> {
    let mut status = 0;
    loop {
        // SAFETY: a status int to fill.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(format!("waitpid {pid}: {e}"));
        }
    }
    if libc::WIFSIGNALED(status) {
        Ok(Ended::Signaled(libc::WTERMSIG(status)))
    } else {
        Ok(Ended::Exited(libc::WEXITSTATUS(status)))
    }
}

/// Sends SIGKILL to `pid` (clean-up after an error).
pub fn kill(pid: libc::pid_t) {
    // SAFETY: sending a signal has no memory effects here.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// swapon(2) on `device`, with `priority` (SWAP_FLAG_PREFER) when given, else the
/// kernel's default (decreasing negative priorities in swapon order).
pub fn swapon(device: &str, priority: Option<i32>) -> Result<(), String> {
    let path = std::ffi::CString::new(device).map_err(|_| format!("bad device path {device:?}"))?;
    // include/uapi/linux/swap.h: SWAP_FLAG_PREFER, SWAP_FLAG_PRIO_MASK (shift 0).
    const SWAP_FLAG_PREFER: i32 = 0x8000;
    const SWAP_FLAG_PRIO_MASK: i32 = 0x7fff;
    let flags = match priority {
        Some(p) => SWAP_FLAG_PREFER | (p & SWAP_FLAG_PRIO_MASK),
        None => 0,
    };
    // SAFETY: a NUL-terminated path that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_swapon, path.as_ptr(), flags as libc::c_long) };
    if r != 0 { Err(last_error(&format!("swapon {device}"))) } else { Ok(()) }
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> String {
    read_trim("/proc/sys/kernel/osrelease").unwrap_or_default()
}

/// The number of online CPUs.
pub fn cpus() -> u32 {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_keeps_integer_pairs_only() {
        let m = parse_kv("nr_free_pages 12\nzswpout 0\nbad line here\nfoo bar\n  pgmajfault   7  \nnr_x -3\n");
        assert_eq!(m.len(), 4);
        assert_eq!(m["nr_x"], 0);
        assert_eq!(m["nr_free_pages"], 12);
        assert_eq!(m["pgmajfault"], 7);
        assert!(!m.contains_key("foo"));
    }

    #[test]
    fn mapping_reads_zero_then_written_bytes() {
        let mut m = Mapping::new(3).unwrap();
        assert_eq!(m.pages(), 3);
        assert_eq!(m.read_word(2), 0);
        m.page_mut(2)[..8].copy_from_slice(&7u64.to_ne_bytes());
        assert_eq!(m.read_word(2), 7);
        assert_eq!(m.read_word(1), 0);
    }

    #[test]
    fn pipe_carries_bytes_and_eof() {
        let (r, w) = pipe().unwrap();
        assert!(w.send(b'T'));
        assert_eq!(r.recv(), Some(b'T'));
        drop(w);
        assert_eq!(r.recv(), None);
    }

    #[test]
    fn fork_and_wait_report_exit_and_signal() {
        let pid = fork().unwrap();
        if pid == 0 {
            exit_now(3);
        }
        assert_eq!(wait(pid).unwrap(), Ended::Exited(3));
        let (r, w) = pipe().unwrap();
        let pid = fork().unwrap();
        if pid == 0 {
            drop(w);
            // Blocks until killed.
            let _ = r.recv();
            exit_now(0);
        }
        drop(r);
        kill(pid);
        assert_eq!(wait(pid).unwrap(), Ended::Signaled(libc::SIGKILL));
        drop(w);
    }
}
