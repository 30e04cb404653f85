//! A device that fails on a script, for testing what the library does with I/O errors.
//!
//! What it models: a swap device whose bio completes with an error status
//! (`BLK_STS_IOERR`, `bio->bi_status != 0`) or a swap file whose direct I/O comes back
//! short (`ret != sio->len`). In the kernel (7.3 mm/page_io.c) a failed write
//! (`end_swap_bio_write`, `swap_fs_write_complete`) ends in `swap_write_end`, which marks
//! the page dirty again (`set_page_dirty`, and clears `PG_reclaim`) so reclaim keeps it and
//! writes it again later; a failed read (`swap_bio_read_end_io`, `swap_fs_read_complete`)
//! ends in `swap_read_end` without `folio_mark_uptodate` or `PSWPIN`, so `do_swap_page`
//! gives the faulting task `VM_FAULT_SIGBUS` and the swap slot keeps its data. The
//! library's counterparts are `SwapSystem::writeout` and `SwapSystem::fault` returning
//! `Error::Io`; see docs/kernel.md §3.3 ("I/O errors") and §5.3.
//!
//! Deterministic: faults fire on offsets and operation counts only (no clock, no
//! randomness). The script sits behind one mutex (a test device: the cold path), and a
//! [`FaultyDevice`] is a cheap handle: clone it before handing a box of it to
//! `DeviceSpec::custom`, and arm or disarm faults on the clone while the system runs.

use super::store::{Device, MemoryDevice};
use crate::PAGE_SIZE;
use crate::sync::{Mutex, lock};
use std::io;
use std::sync::Arc;

/// One scripted fault of a [`FaultyDevice`]. Offsets are the device's page offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceFault {
    /// Every read of `offset` fails with EIO (`ErrorKind::Other`), the buffer untouched.
    Read {
        /// The device page offset.
        offset: u64,
    },
    /// Every write of `offset` fails with EIO (`ErrorKind::Other`), nothing written.
    Write {
        /// The device page offset.
        offset: u64,
    },
    /// Every write of `offset` is short: the first half of the page reaches the inner
    /// device, then `ErrorKind::WriteZero` (what `write_all` reports when a write makes no
    /// progress; the kernel's analogue is a swap file's `ret != sio->len`, a failure).
    ShortWrite {
        /// The device page offset.
        offset: u64,
    },
    /// Every read of `offset` is short: the first half of the buffer is filled, then
    /// `ErrorKind::UnexpectedEof` (what `read_exact` reports).
    ShortRead {
        /// The device page offset.
        offset: u64,
    },
    /// The `n`-th read or write after arming (1 = the next) fails with EIO, once.
    NthOp {
        /// Which operation, counted from 1.
        n: u64,
    },
    /// After `writes` more successful writes the device is full: every later write fails
    /// with `ErrorKind::StorageFull` (ENOSPC); reads go on.
    FullAfter {
        /// Writes that still succeed.
        writes: u64,
    },
    /// After `ops` more operations every read and write fails with EIO: a device that died.
    FailAfter {
        /// Operations that still succeed.
        ops: u64,
    },
}

#[derive(Debug)]
struct Armed {
    fault: DeviceFault,
    /// Operations (or writes, for `FullAfter`) this fault has let pass since arming.
    passed: u64,
    /// `NthOp` has fired.
    spent: bool,
}

#[derive(Debug, Default)]
struct Script {
    armed: Vec<Armed>,
    reads: u64,
    writes: u64,
    injected: u64,
    last: Option<u64>,
}

#[derive(Debug)]
struct Shared {
    inner: Box<dyn Device>,
    script: Mutex<Script>,
}

/// What an operation does under the script.
enum Outcome {
    Pass,
    Fail(io::Error),
    /// Half the page, then this error.
    Short(io::Error),
}

fn eio() -> io::Error {
    io::Error::other("Input/output error (EIO, injected)")
}

/// A [`Device`] wrapping another (a [`MemoryDevice`] by default) that fails the reads
/// and writes its armed [`DeviceFault`]s name. Clones share the device and its script.
///
/// ```
/// use vswap::device::{Device, DeviceFault, FaultyDevice};
/// use vswap::PAGE_SIZE;
/// let dev = FaultyDevice::new();
/// dev.arm(DeviceFault::Write { offset: 3 });
/// let page = vec![7u8; PAGE_SIZE];
/// assert!(dev.write(3, &page).is_err());
/// dev.disarm_all();
/// dev.write(3, &page).unwrap();
/// let mut out = vec![0u8; PAGE_SIZE];
/// dev.read(3, &mut out).unwrap();
/// assert_eq!((out, dev.injected()), (page, 1));
/// ```
#[derive(Debug, Clone)]
pub struct FaultyDevice {
    shared: Arc<Shared>,
}

impl Default for FaultyDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultyDevice {
    /// A faulty in-memory device with nothing armed.
    pub fn new() -> Self {
        Self::wrap(Box::new(MemoryDevice::new()))
    }

    /// A faulty wrapper around `inner`, with nothing armed.
    pub fn wrap(inner: Box<dyn Device>) -> Self {
        Self { shared: Arc::new(Shared { inner, script: Mutex::new(Script::default()) }) }
    }

    /// Arm `fault`; it stays armed until [`FaultyDevice::disarm_all`] (an `NthOp` fires
    /// once). Counts in it start now.
    pub fn arm(&self, fault: DeviceFault) {
        lock(&self.shared.script).armed.push(Armed { fault, passed: 0, spent: false });
    }

    /// Disarm every fault: later operations reach the inner device.
    pub fn disarm_all(&self) {
        lock(&self.shared.script).armed.clear();
    }

    /// How many operations a fault has failed so far.
    pub fn injected(&self) -> u64 {
        lock(&self.shared.script).injected
    }

    /// Reads that reached the inner device (in full or short).
    pub fn reads(&self) -> u64 {
        lock(&self.shared.script).reads
    }

    /// Writes that reached the inner device (in full or short).
    pub fn writes(&self) -> u64 {
        lock(&self.shared.script).writes
    }

    /// The offset of the last read or write asked of the device (failed or not): where
    /// the library put a page, for a test that then arms a fault on that offset.
    pub fn last_offset(&self) -> Option<u64> {
        lock(&self.shared.script).last
    }

    /// Run the script for one operation at `off`; the first armed fault that fires
    /// decides. Every armed fault counts the operation.
    fn decide(&self, off: u64, write: bool) -> Outcome {
        let mut s = lock(&self.shared.script);
        s.last = Some(off);
        let mut out = Outcome::Pass;
        for a in s.armed.iter_mut() {
            let fires = match a.fault {
                DeviceFault::Read { offset } => !write && offset == off,
                DeviceFault::Write { offset } => write && offset == off,
                DeviceFault::ShortWrite { offset } => write && offset == off,
                DeviceFault::ShortRead { offset } => !write && offset == off,
                DeviceFault::NthOp { n } => {
                    a.passed += 1;
                    let now = !a.spent && a.passed == n;
                    a.spent |= now;
                    now
                }
                DeviceFault::FullAfter { writes } => write && a.passed >= writes,
                DeviceFault::FailAfter { ops } => {
                    let now = a.passed >= ops;
                    a.passed += 1;
                    now
                }
            };
            if !fires || !matches!(out, Outcome::Pass) {
                continue;
            }
            out = match a.fault {
                DeviceFault::ShortWrite { .. } => Outcome::Short(io::ErrorKind::WriteZero.into()),
                DeviceFault::ShortRead { .. } => Outcome::Short(io::ErrorKind::UnexpectedEof.into()),
                DeviceFault::FullAfter { .. } => Outcome::Fail(io::ErrorKind::StorageFull.into()),
                _ => Outcome::Fail(eio()),
            };
        }
        match out {
            Outcome::Fail(_) => s.injected += 1,
            Outcome::Short(_) => {
                s.injected += 1;
                if write { s.writes += 1 } else { s.reads += 1 }
            }
            Outcome::Pass => {
                if write {
                    s.writes += 1;
                    // A write that went through counts towards every `FullAfter`.
                    for a in s.armed.iter_mut() {
                        if matches!(a.fault, DeviceFault::FullAfter { .. }) {
                            a.passed += 1;
                        }
                    }
                } else {
                    s.reads += 1;
                }
            }
        }
        out
    }
}

impl Device for FaultyDevice {
    fn write(&self, off: u64, page: &[u8]) -> io::Result<()> {
        match self.decide(off, true) {
            Outcome::Pass => self.shared.inner.write(off, page),
            Outcome::Fail(e) => Err(e),
            Outcome::Short(e) => {
                // The inner device takes whole pages: the first half of the new page over
                // what the offset held.
                let mut torn = vec![0u8; PAGE_SIZE];
                self.shared.inner.read(off, &mut torn)?;
                let half = page.len().min(PAGE_SIZE) / 2;
                torn[..half].copy_from_slice(&page[..half]);
                self.shared.inner.write(off, &torn)?;
                Err(e)
            }
        }
    }

    fn read(&self, off: u64, out: &mut [u8]) -> io::Result<()> {
        match self.decide(off, false) {
            Outcome::Pass => self.shared.inner.read(off, out),
            Outcome::Fail(e) => Err(e),
            Outcome::Short(e) => {
                let mut full = vec![0u8; out.len()];
                self.shared.inner.read(off, &mut full)?;
                let half = out.len() / 2;
                out[..half].copy_from_slice(&full[..half]);
                Err(e)
            }
        }
    }

    fn discard(&self, off: u64) {
        self.shared.inner.discard(off);
    }

    fn keeps_data(&self) -> bool {
        self.shared.inner.keeps_data()
    }
}
