//! Processes seen through /proc: which pid runs a program, and how much memory it holds.

use std::path::Path;

/// The pid of the process whose program is named `program` (argv[0]'s file name) and whose
/// arguments include `arg` exactly. Watchdog shells that pass the same arguments along are
/// skipped: their argv[0] is the shell.
pub fn pid_of(program: &str, arg: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let mut argv = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned());
        let argv0 = argv.next()?;
        let name = Path::new(&argv0).file_name()?.to_str()?.to_owned();
        (name == program && argv.any(|a| a == arg)).then_some(pid)
    })
}

/// Resident memory of `pid` in KiB (VmRSS), if it runs.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time `pid` has used (user + system), in seconds.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15 of the line, in USER_HZ (100 on Linux) ticks.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The 1-minute load average: how busy the machine was while something was measured.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
