//! A task's process: it joins its cgroup, maps its workload's regions (anonymous,
//! untouched) and runs the generator's events on them one tick per `T` from the
//! coordinator, answering `D` (or `K` when its forked child was killed, `F` when its
//! workload is over). A `fork` phase forks a real child that performs the child's
//! accesses, after the parent's, each tick; `child_exit` ends it.
//!
//! Access semantics (kernel-lab/README.md): the first access to a page writes its whole
//! content, version 0 (`fill_page`); a later write rewrites it with version + 1; a read
//! reads its first 8-byte word with a volatile load.

use crate::plan::Task;
use crate::setup::cgroup_dir;
use crate::sys::{Ended, Fd, Mapping, exit_now, fork, pipe, wait, write_file};
use std::hint::black_box;
use vswap_sim::workload::{Event, Generator, Process, Workload, fill_page};

/// Coordinator → task: run one tick.
pub const TICK: u8 = b'T';
/// Task → coordinator: set up (in its cgroup, memory mapped).
pub const READY: u8 = b'R';
/// Task → coordinator: tick done.
pub const DONE: u8 = b'D';
/// Task → coordinator: tick done; the forked child was killed (SIGKILL) in it.
pub const CHILD_KILLED: u8 = b'K';
/// Task → coordinator: the workload has no more ticks.
pub const FINISHED: u8 = b'F';

/// A page never accessed.
const UNTOUCHED: u32 = u32::MAX;

/// The memory and the position of one process of a task (parent, or child after fork).
struct Mem<'w> {
    workload: &'w Workload,
    seed: u64,
    /// The first page of each region in the mapping.
    bases: Vec<u64>,
    map: Mapping,
    /// The version last written to each page, UNTOUCHED before the first access.
    versions: Vec<u32>,
}

impl Mem<'_> {
    fn access(&mut self, region: u32, page: u64, write: bool) {
        let r = region as usize;
        let vpage = self.bases[r] + page;
        let v = self.versions[vpage as usize];
        if v == UNTOUCHED || write {
            let version = if v == UNTOUCHED { 0 } else { v.wrapping_add(1) };
            // Byte-exact kinds only (checked when the plan was made): the Err case
            // leaves the page as it was.
            let _ = fill_page(
                self.workload.regions[r].data,
                self.seed,
                r,
                page,
                u64::from(version),
                self.map.page_mut(vpage),
            );
            self.versions[vpage as usize] = version;
        } else {
            black_box(self.map.read_word(vpage));
        }
    }

    /// Performs the accesses of `who` among `events`.
    fn run(&mut self, events: &[Event], who: Process) {
        for e in events {
            if let Event::Access { process, region, page, write } = *e {
                if process == who {
                    self.access(region, page, write);
                }
            }
        }
    }
}

/// The forked child of a task, seen from its parent.
struct Child {
    pid: libc::pid_t,
    go: Fd,
    done: Fd,
}

/// The body of a task process (forked by the coordinator); never returns. Exit status 0
/// when told to stop or when the coordinator is gone, 1 on a set-up error (on stderr).
pub fn task_main(index: usize, task: &Task, go: Fd, done: Fd) -> ! {
    let w = &task.workload;
    let pages = w.pages();
    // Set-up memory (the version table, the event buffer) is touched before joining the
    // cgroup, so it stays charged to the root and the task's cgroup holds the workload's
    // pages only.
    let versions = vec![UNTOUCHED; pages as usize];
    let max_tick = w.phases.iter().map(|p| p.accesses_per_tick as usize).max().unwrap_or(0) + 2;
    let mut events: Vec<Event> = vec![Event::Fork; max_tick];
    events.clear();
    let bases = (0..w.regions.len()).map(|r| w.region_base(r)).collect();
    let procs = format!("{}/cgroup.procs", cgroup_dir(&task.cgroup));
    if let Err(e) = write_file(&procs, &std::process::id().to_string()) {
        eprintln!("task {index}: cannot join its cgroup: {e}");
        exit_now(1);
    }
    let map = match Mapping::new(pages) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("task {index}: {e}");
            exit_now(1);
        }
    };
    let mut mem = Mem { workload: w, seed: task.seed, bases, map, versions };
    let mut generator = Generator::new(w, task.seed);
    let mut child: Option<Child> = None;
    done.send(READY);
    while go.recv() == Some(TICK) {
        events.clear();
        if !generator.tick(&mut events) {
            done.send(FINISHED);
            continue;
        }
        if let Some(i) = events.iter().position(|e| *e == Event::Fork) {
            match spawn_child(&mut mem, &mut generator, &mut events, i + 1, &go) {
                Ok(c) => child = Some(c),
                Err(e) => {
                    eprintln!("task {index}: {e}");
                    exit_now(1);
                }
            }
        }
        mem.run(&events, Process::Parent);
        let mut reply = DONE;
        if let Some(c) = &child {
            let exits = events.contains(&Event::ChildExit);
            let answered = c.go.send(TICK) && c.done.recv() == Some(DONE);
            if exits || !answered {
                let c = child.take().expect("child present");
                match wait(c.pid) {
                    Ok(Ended::Signaled(_)) => reply = CHILD_KILLED,
                    Ok(Ended::Exited(0)) => {}
                    Ok(Ended::Exited(code)) => {
                        eprintln!("task {index}: its child exited with status {code}");
                        exit_now(1);
                    }
                    Err(e) => {
                        eprintln!("task {index}: {e}");
                        exit_now(1);
                    }
                }
            }
        }
        if !done.send(reply) {
            break;
        }
    }
    exit_now(0)
}

/// Forks the child at a Fork event. The child performs the child accesses of the rest
/// of this tick (`events[from..]`) and of every later tick, each on a `T` from the
/// parent, generating the same events from its copy of the generator; it exits after a
/// tick with ChildExit, or when the parent is gone.
fn spawn_child(
    mem: &mut Mem<'_>,
    generator: &mut Generator<'_>,
    events: &mut Vec<Event>,
    from: usize,
    coordinator_go: &Fd,
) -> Result<Child, String> {
    let (go_r, go_w) = pipe()?;
    let (done_r, done_w) = pipe()?;
    let pid = fork()?;
    if pid != 0 {
        drop((go_r, done_w));
        return Ok(Child { pid, go: go_w, done: done_r });
    }
    // The child: the coordinator talks to the parent only.
    drop((go_w, done_r));
    // It keeps its copy of the parent's pipe to the coordinator (never writing to it), so
    // the coordinator sees that pipe's end only when both processes are gone: a task the
    // OOM killer ended is counted once its child has exited too, and the next point reads
    // no memory still being freed.
    coordinator_go.close_inherited();
    let mut first = true;
    while go_r.recv() == Some(TICK) {
        let slice = if first {
            first = false;
            &events[from..]
        } else {
            events.clear();
            if !generator.tick(events) {
                exit_now(0);
            }
            &events[..]
        };
        mem.run(slice, Process::Child);
        if slice.contains(&Event::ChildExit) {
            exit_now(0);
        }
        if !done_w.send(DONE) {
            break;
        }
    }
    exit_now(0)
}
