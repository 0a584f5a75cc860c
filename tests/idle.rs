//! An idle server sleeps. The binary as a separate process, its CPU time
//! read from `/proc/PID/stat`: the ACME sweep task, with the sweep off
//! (the default), once woke at an instant in the past in a loop and kept a
//! core busy while nothing at all was asked of the server.

mod common;

use std::time::Duration;

use common::update::*;

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), counted from the state (field 3).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_server_uses_almost_no_cpu() {
    let dir = scratch();
    let zones = dir.path().join("zones");
    let p = Proc::start(dir.path());
    wait_committed(&zones, ZONE_FILE);
    // Let start-up work (the first commit, NOTIFY) settle.
    std::thread::sleep(Duration::from_millis(500));
    let pid = p.child.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(pid) - before;
    // Clock ticks are 1/100 s: 3 s idle may cost a few for the periodic
    // rechecks, not the 300 of a spinning task.
    assert!(
        used < 30,
        "{used} ticks of CPU in 3 s with no request\n{}",
        p.log_text()
    );
}
