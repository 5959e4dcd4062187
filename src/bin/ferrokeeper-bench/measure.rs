//! Measuring a run: latency histograms, server CPU/RSS from /proc, and the report
//! (human text and a JSON line).

use super::*;

pub(crate) fn new_hist() -> Histogram<u64> {
    // Microseconds, 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// Server process counters from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProcSample {
    pub(crate) cpu_ticks: u64,
    pub(crate) rss_kb: u64,
}

pub(crate) fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(ProcSample {
        cpu_ticks: utime + stime,
        rss_kb,
    })
}

/// Busy (non-idle, non-iowait) CPU ticks of the whole machine, from /proc/stat.
pub(crate) fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = v.iter().take(8).sum();
    Some(total - v.get(3)? - v.get(4)?)
}

pub(crate) fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU seconds this process has used (user + system).
pub(crate) fn self_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Samples taken at the start and the end of the measured window.
pub(crate) struct Window {
    pub(crate) wall: Duration,
    /// Busy ticks of the whole machine over the window.
    pub(crate) machine_busy: Option<u64>,
    pub(crate) server_before: Option<ProcSample>,
    pub(crate) server_after: Option<ProcSample>,
    pub(crate) client_cpu_s: f64,
}

/// Sleep until `from`, sample, sleep until `to`, sample.
pub(crate) async fn sample_window(pid: Option<u32>, from: Instant, to: Instant) -> Window {
    tokio::time::sleep_until(from.into()).await;
    let before = pid.and_then(proc_sample);
    let busy0 = machine_busy_ticks();
    let cpu0 = self_cpu_s();
    let t0 = Instant::now();
    tokio::time::sleep_until(to.into()).await;
    let after = pid.and_then(proc_sample);
    Window {
        wall: t0.elapsed(),
        machine_busy: busy0
            .zip(machine_busy_ticks())
            .map(|(a, b)| b.saturating_sub(a)),
        server_before: before,
        server_after: after,
        client_cpu_s: self_cpu_s() - cpu0,
    }
}

/// The outcome of one run, printed as text and as a JSON line.
pub(crate) struct Report {
    pub(crate) args: Args,
    pub(crate) ops: u64,
    pub(crate) errors: u64,
    pub(crate) secs: f64,
    pub(crate) hist: Histogram<u64>,
    pub(crate) window: Option<Window>,
    /// Extra numeric fields (name, value) for the JSON line.
    pub(crate) extra: Vec<(&'static str, f64)>,
}

impl Report {
    pub(crate) fn ops_per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }
    pub(crate) fn server_cpu_us_per_op(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        let (b, a) = (w.server_before?, w.server_after?);
        if self.ops == 0 {
            return None;
        }
        let secs = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / clk_tck();
        Some(secs * 1e6 / self.ops as f64)
    }
    pub(crate) fn server_cpu_pct(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        let (b, a) = (w.server_before?, w.server_after?);
        let secs = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / clk_tck();
        Some(100.0 * secs / w.wall.as_secs_f64().max(1e-9))
    }
    pub(crate) fn server_rss_kb(&self) -> Option<u64> {
        self.window.as_ref()?.server_after.map(|s| s.rss_kb)
    }
    pub(crate) fn client_cpu_pct(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        Some(100.0 * w.client_cpu_s / w.wall.as_secs_f64().max(1e-9))
    }
    /// CPU used by everything but the server and this generator, in % of one core
    /// (other processes on a shared machine: a sign the numbers are noisy).
    pub(crate) fn other_cpu_pct(&self) -> Option<f64> {
        let w = self.window.as_ref()?;
        let busy = w.machine_busy? as f64 / clk_tck() / w.wall.as_secs_f64().max(1e-9) * 100.0;
        Some((busy - self.server_cpu_pct().unwrap_or(0.0) - self.client_cpu_pct()?).max(0.0))
    }
    pub(crate) fn pct(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            0
        } else {
            self.hist.value_at_quantile(q)
        }
    }

    pub(crate) fn human(&self) -> String {
        let mut s = format!(
            "{} {}: {} ops in {:.2} s = {:.0} ops/s, errors {}; latency us p50 {} p99 {} p999 {} max {}",
            if self.args.label.is_empty() {
                "server"
            } else {
                &self.args.label
            },
            self.args.workload.name(),
            self.ops,
            self.secs,
            self.ops_per_s(),
            self.errors,
            self.pct(0.5),
            self.pct(0.99),
            self.pct(0.999),
            self.hist.max(),
        );
        if let Some(c) = self.server_cpu_us_per_op() {
            s += &format!("; server cpu {c:.1} us/op");
        }
        if let Some(p) = self.server_cpu_pct() {
            s += &format!(" ({p:.0}% of a core)");
        }
        if let Some(r) = self.server_rss_kb() {
            s += &format!("; server rss {} MiB", r / 1024);
        }
        if let Some(c) = self.client_cpu_pct() {
            s += &format!("; generator cpu {c:.0}%");
        }
        if let Some(c) = self.other_cpu_pct() {
            s += &format!("; other processes cpu {c:.0}%");
        }
        for (k, v) in &self.extra {
            s += &format!("; {k} {v:.1}");
        }
        s
    }

    pub(crate) fn json(&self) -> String {
        fn num(v: Option<f64>) -> String {
            match v {
                Some(v) if v.is_finite() => format!("{v:.3}"),
                _ => "null".into(),
            }
        }
        let a = &self.args;
        let mut s = format!(
            "{{\"tool\":\"ferrokeeper-bench\",\"label\":\"{}\",\"tag\":\"{}\",\"workload\":\"{}\",\"addr\":\"{}\",\"sessions\":{},\"depth\":{},\"rate\":{},\"duration_s\":{:.3},\"value_size\":{},\"keys\":{},\"ops\":{},\"errors\":{},\"ops_per_s\":{:.1},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"mean_us\":{:.1},\"server_cpu_us_per_op\":{},\"server_cpu_pct\":{},\"server_rss_kb\":{},\"client_cpu_pct\":{},\"other_cpu_pct\":{}",
            a.label.replace(['"', '\\'], ""),
            if a.tag.is_empty() {
                a.workload.name().to_string()
            } else {
                a.tag.replace(['"', '\\'], "")
            },
            a.workload.name(),
            a.addr,
            a.sessions,
            a.depth,
            a.rate,
            self.secs,
            a.value_size,
            a.keys,
            self.ops,
            self.errors,
            self.ops_per_s(),
            self.pct(0.5),
            self.pct(0.9),
            self.pct(0.99),
            self.pct(0.999),
            self.hist.max(),
            if self.hist.is_empty() {
                0.0
            } else {
                self.hist.mean()
            },
            num(self.server_cpu_us_per_op()),
            num(self.server_cpu_pct()),
            self.server_rss_kb()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "null".into()),
            num(self.client_cpu_pct()),
            num(self.other_cpu_pct()),
        );
        for (k, v) in &self.extra {
            s += &format!(",\"{k}\":{}", num(Some(*v)));
        }
        s.push('}');
        s
    }
}

// ---------------------------------------------------------------------------------------
// Load loop (get / set / create-delete / mixed / children).
