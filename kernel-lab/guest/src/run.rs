//! The coordinator: sets the kernel up, forks one process per task, advances them in
//! lockstep one tick at a time (task 0, then task 1, ... within a tick; a task's forked
//! child after its parent), takes the points and runs the actions, and detects tasks the
//! OOM killer ended.

use crate::plan::Plan;
use crate::result::{Recording, Run, TaskOutcome};
use crate::sys::{Ended, Fd, fork, kill, pipe, wait, write_file};
use crate::task::{CHILD_KILLED, DONE, FINISHED, READY, TICK, task_main};
use crate::{points, setup};
use std::time::Instant;
use vswap_sim::experiment::Source;

/// A task process seen from the coordinator.
struct Proc {
    pid: libc::pid_t,
    go: Fd,
    done: Fd,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Finished,
    Killed,
}

/// Runs the experiment once in this (guest) kernel and returns its recording of one run.
pub fn run(plan: &Plan) -> Result<Recording, String> {
    let devices = setup::swap_devices();
    setup::apply(plan, &devices)?;
    let settings = setup::read_back(plan, &devices);

    let mut procs: Vec<Proc> = Vec::new();
    for (i, task) in plan.tasks.iter().enumerate() {
        let (go_r, go_w) = pipe()?;
        let (done_r, done_w) = pipe()?;
        let pid = fork()?;
        if pid == 0 {
            // The task: it talks to the coordinator through its own two ends only.
            drop((go_w, done_r));
            for p in &procs {
                p.go.close_inherited();
                p.done.close_inherited();
            }
            task_main(i, task, go_r, done_w);
        }
        drop((go_r, done_w));
        procs.push(Proc { pid, go: go_w, done: done_r, state: State::Running });
    }
    let fail = |procs: &[Proc], msg: String| -> String {
        for p in procs {
            kill(p.pid);
            let _ = wait(p.pid);
        }
        msg
    };
    for (i, p) in procs.iter().enumerate() {
        if p.done.recv() != Some(READY) {
            return Err(fail(&procs, format!("task {i} failed to start (its message is above)")));
        }
    }

    let phase_points = plan.phase_points();
    let mut next_point = 0;
    let mut pts = vec![points::take("start", plan)];
    let t0 = Instant::now();
    for tick in 1..=plan.ticks() {
        for i in 0..procs.len() {
            if procs[i].state != State::Running {
                continue;
            }
            let reply = if procs[i].go.send(TICK) { procs[i].done.recv() } else { None };
            match reply {
                Some(DONE) => {}
                Some(CHILD_KILLED) => eprintln!("guest: task {i}'s child was killed at tick {tick}"),
                Some(FINISHED) => procs[i].state = State::Finished,
                Some(other) => return Err(fail(&procs, format!("task {i}: unexpected reply {other}"))),
                None => match wait(procs[i].pid) {
                    Ok(Ended::Signaled(sig)) => {
                        eprintln!("guest: task {i} was killed (signal {sig}) at tick {tick}");
                        procs[i].state = State::Killed;
                    }
                    Ok(Ended::Exited(code)) => {
                        return Err(fail(&procs, format!("task {i} exited with status {code} at tick {tick}")));
                    }
                    Err(e) => return Err(fail(&procs, e)),
                },
            }
        }
        while next_point < phase_points.len() && phase_points[next_point].0 <= tick {
            let name = &phase_points[next_point].1;
            pts.push(points::take(name, plan));
            for a in plan.actions.iter().filter(|a| &a.after_phase == name) {
                let path = format!("{}/{}", setup::cgroup_dir(&a.cgroup), a.file);
                // memory.reclaim answers EAGAIN when it reclaimed less than asked: that
                // is an outcome, not an error of the experiment.
                if let Err(e) = write_file(&path, &a.value) {
                    eprintln!("guest: action after {name}: {e}");
                }
            }
            next_point += 1;
        }
    }
    // Phases of no ticks at the very end, if any.
    for (_, name) in &phase_points[next_point..] {
        pts.push(points::take(name, plan));
    }
    pts.push(points::take("end", plan));
    let seconds = t0.elapsed().as_secs_f64();

    let mut tasks = Vec::new();
    for (p, t) in procs.iter().zip(&plan.tasks) {
        if p.state != State::Killed {
            // EOF on its pipe ends it; it has nothing to flush.
            kill(p.pid);
            let _ = wait(p.pid);
        }
        tasks.push(TaskOutcome { cgroup: t.cgroup.clone(), killed: p.state == State::Killed });
    }
    Ok(Recording {
        experiment: plan.name.clone(),
        source: Source::Kernel,
        kernel: crate::sys::kernel_release(),
        settings,
        runs: vec![Run { seconds, ticks: None, seed: None, points: pts, tasks }],
    })
}
