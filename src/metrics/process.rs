//! The `process_*` metrics simpleclient_hotspot's `StandardExports` serves on Linux, read
//! from /proc for this (native) process. Blocking: call on the blocking pool.

/// One reading (None = not available on this host).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: u64,
    pub max_fds: u64,
    pub virtual_memory_bytes: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
}

/// `VmSize` / `VmRSS` from /proc/self/status ("12345 kB") in bytes.
fn status_kb(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

/// (utime + stime in clock ticks, start time in ticks after boot) from /proc/self/stat.
fn stat_ticks(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state): utime = 14, stime = 15, starttime = 22.
    let field = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    Some((field(14)? + field(15)?, field(22)?))
}

fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

pub fn read() -> ProcessStats {
    let (open_fds, max_fds) = crate::admin::host::fd_counts();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| stat_ticks(&s));
    let btime = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| boot_time(&s));
    ProcessStats {
        cpu_seconds: ticks.map(|(cpu, _)| cpu as f64 / hz),
        start_time_seconds: ticks
            .zip(btime)
            .map(|((_, start), boot)| boot as f64 + start as f64 / hz),
        open_fds,
        max_fds,
        virtual_memory_bytes: status_kb(&status, "VmSize:"),
        resident_memory_bytes: status_kb(&status, "VmRSS:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        let st = "123 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 1000 4096 10";
        assert_eq!(stat_ticks(st), Some((300, 1000)));
        assert_eq!(
            status_kb("Name:\tx\nVmSize:\t  2048 kB\nVmRSS:\t 10 kB\n", "VmRSS:"),
            Some(10240.0)
        );
        assert_eq!(boot_time("cpu 1 2\nbtime 1700000000\n"), Some(1700000000));
        let now = read();
        assert!(now.open_fds > 0 && now.max_fds > 0);
        assert!(now.resident_memory_bytes.unwrap_or(0.0) > 0.0);
        assert!(now.start_time_seconds.unwrap_or(0.0) > 1.0e9);
    }
}
