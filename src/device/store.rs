//! Where a device's pages live: the `Device` trait and its three implementations.
//! Offsets are page numbers within the device; every page is `PAGE_SIZE` bytes.

use crate::PAGE_SIZE;
use crate::sync::{Mutex, lock};
use std::collections::HashMap;
use std::io;

/// The block device under a swap area (`swap_writepage` / `swap_read_folio` I/O).
pub trait Device: Send + Sync + std::fmt::Debug {
    /// Write the page at `off`.
    fn write(&self, off: u64, page: &[u8]) -> io::Result<()>;
    /// Read the page at `off` into `out`.
    fn read(&self, off: u64, out: &mut [u8]) -> io::Result<()>;
    /// The slot at `off` was freed (`discard`); its data may be dropped.
    fn discard(&self, _off: u64) {}
    /// Whether a read returns what was written (false for the null device).
    fn keeps_data(&self) -> bool {
        true
    }
}

const MEMORY_SHARDS: usize = 16;

/// One shard of a memory device: pages by offset.
type Pages = Mutex<HashMap<u64, Box<[u8]>>>;

/// Pages kept in memory (the default: a RAM-backed block device).
#[derive(Debug)]
pub struct MemoryDevice {
    shards: Box<[Pages]>,
}

impl MemoryDevice {
    /// An empty device.
    pub fn new() -> Self {
        Self { shards: (0..MEMORY_SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
    fn shard(&self, off: u64) -> &Pages {
        &self.shards[off as usize % MEMORY_SHARDS]
    }
}

impl Default for MemoryDevice {
    fn default() -> Self {
        Self::new()
    }
}

/// `InvalidInput` unless `buf` is one page: a device stores whole pages.
fn one_page(buf: &[u8]) -> io::Result<()> {
    if buf.len() == PAGE_SIZE {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "a device reads and writes whole pages"))
    }
}

impl Device for MemoryDevice {
    /// `InvalidInput`, storing nothing, unless `page` is one page.
    fn write(&self, off: u64, page: &[u8]) -> io::Result<()> {
        one_page(page)?;
        lock(self.shard(off)).insert(off, page.into());
        Ok(())
    }
    /// A page never written reads as zeros. `InvalidInput`, `out` untouched, unless `out`
    /// is one page.
    fn read(&self, off: u64, out: &mut [u8]) -> io::Result<()> {
        one_page(out)?;
        match lock(self.shard(off)).get(&off) {
            Some(p) => out.copy_from_slice(p),
            None => out.fill(0),
        }
        Ok(())
    }
    fn discard(&self, off: u64) {
        lock(self.shard(off)).remove(&off);
    }
}

/// Pages in a real file, written and read with positional I/O (`pwrite`/`pread` on Unix,
/// `seek_write`/`seek_read` on Windows), so threads never share a file cursor.
#[derive(Debug)]
pub struct FileDevice {
    file: std::fs::File,
}

impl FileDevice {
    /// Create (or truncate) `path` and size it to `pages` pages.
    pub fn create(path: &std::path::Path, pages: u64) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        file.set_len(pages * PAGE_SIZE as u64)?;
        Ok(Self { file })
    }
}

#[cfg(unix)]
impl Device for FileDevice {
    fn write(&self, off: u64, page: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.file, page, off * PAGE_SIZE as u64)
    }
    fn read(&self, off: u64, out: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, out, off * PAGE_SIZE as u64)
    }
}

#[cfg(windows)]
impl Device for FileDevice {
    fn write(&self, off: u64, mut page: &[u8]) -> io::Result<()> {
        let mut at = off * PAGE_SIZE as u64;
        while !page.is_empty() {
            match std::os::windows::fs::FileExt::seek_write(&self.file, page, at)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    page = &page[n..];
                    at += n as u64;
                }
            }
        }
        Ok(())
    }
    fn read(&self, off: u64, mut out: &mut [u8]) -> io::Result<()> {
        let mut at = off * PAGE_SIZE as u64;
        while !out.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(&self.file, out, at)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    out = &mut out[n..];
                    at += n as u64;
                }
            }
        }
        Ok(())
    }
}

#[cfg(not(any(unix, windows)))]
impl Device for FileDevice {
    fn write(&self, _off: u64, _page: &[u8]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn read(&self, _off: u64, _out: &mut [u8]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// A device that keeps nothing, for simulations that count pages only. Reads leave the
/// buffer as it was.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullDevice;

impl Device for NullDevice {
    fn write(&self, _off: u64, _page: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn read(&self, _off: u64, _out: &mut [u8]) -> io::Result<()> {
        Ok(())
    }
    fn keeps_data(&self) -> bool {
        false
    }
}
