//! What the benchmark ran on, and when: CPU, cores, memory, load, date, commit.

use xshell::{Shell, cmd};

/// The CPU model from `/proc/cpuinfo`, with what tells machines of one marketing name apart
/// (the family and model numbers, AMD's core generation, "AVX-512" when the flags say so), and
/// the number of logical cores; `None` when the text names no processor.
pub fn cpu(cpuinfo: &str) -> Option<(String, usize)> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let cores = cpuinfo
        .lines()
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| k.trim() == "processor")
        })
        .count();
    let model = field("model name")?;
    let avx512 = field("flags").is_some_and(|f| f.split_whitespace().any(|x| x == "avx512f"));
    let number = |name: &str| field(name).and_then(|v| v.parse::<u32>().ok());
    let mut notes = Vec::new();
    if let (Some(family), Some(m)) = (number("cpu family"), number("model")) {
        let amd = field("vendor_id").is_some_and(|v| v == "AuthenticAMD");
        // Zen 3 and Zen 4 share family 25; of the two only Zen 4 has AVX-512.
        match (amd, family, avx512) {
            (true, 25, false) => notes.push("Zen 3".to_string()),
            (true, 25, true) => notes.push("Zen 4".to_string()),
            (true, 26, _) => notes.push("Zen 5".to_string()),
            _ => {}
        }
        notes.push(format!("family {family} model {m}"));
    }
    if avx512 {
        notes.push("AVX-512".to_string());
    }
    let model = if notes.is_empty() {
        model
    } else {
        format!("{model} ({})", notes.join(", "))
    };
    Some((model, cores.max(1)))
}

/// Total memory in GiB from `/proc/meminfo`.
pub fn memory_gib(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / (1024.0 * 1024.0))
}

/// The 1-minute load average from the text of `/proc/loadavg`.
pub fn load_average(loadavg: &str) -> Option<f64> {
    loadavg.split_whitespace().next()?.parse().ok()
}

/// The 1-minute load average now, as text ("unknown" off Linux).
pub fn load_now() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| load_average(&t))
        .map_or_else(|| "unknown".into(), |l| format!("{l:.1}"))
}

/// One line naming the machine: "AMD EPYC (Zen 5, family 26 model 2, AVX-512), 2 cores, 23.5 GiB".
pub fn describe() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let (model, cores) = cpu(&read("/proc/cpuinfo")).unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        ("unknown CPU".into(), cores)
    });
    let plural = if cores == 1 { "" } else { "s" };
    match memory_gib(&read("/proc/meminfo")) {
        Some(gib) => format!("{model}, {cores} core{plural}, {gib:.1} GiB"),
        None => format!("{model}, {cores} core{plural}"),
    }
}

/// The date and time now, UTC ("2026-11-29 23:40 UTC").
pub fn date(sh: &Shell) -> anyhow::Result<String> {
    let format = "+%Y-%m-%d %H:%M UTC";
    Ok(cmd!(sh, "date -u {format}").read()?)
}

/// The commit checked out, with a remark when tracked files outside docs/ differ from it
/// (a run of several benchmarks writes docs/benchmarks.md before the next one starts).
pub fn commit(sh: &Shell) -> anyhow::Result<String> {
    let hash = cmd!(sh, "git rev-parse --short HEAD").read()?;
    let changes = cmd!(
        sh,
        "git status --porcelain --untracked-files=no -- . :(exclude)docs"
    )
    .read()?;
    Ok(if changes.is_empty() {
        format!("commit {hash}")
    } else {
        format!("commit {hash} (with uncommitted changes in the working tree)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n\
        flags\t\t: fpu sse avx2 avx512f avx512bw\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9R14\n\
        flags\t\t: fpu sse avx2 avx512f\n";

    #[test]
    fn cpu_model_cores_and_avx512() {
        assert_eq!(
            cpu(CPUINFO),
            Some(("AMD EPYC 9R14 (AVX-512)".to_string(), 2))
        );
        let zen5 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n\
            model name\t: AMD EPYC\nflags\t\t: avx512f\n";
        assert_eq!(
            cpu(zen5),
            Some((
                "AMD EPYC (Zen 5, family 26 model 2, AVX-512)".to_string(),
                1
            ))
        );
        let zen4 = zen5.replace(": 26", ": 25").replace(": 2\n", ": 17\n");
        assert_eq!(
            cpu(&zen4).unwrap().0,
            "AMD EPYC (Zen 4, family 25 model 17, AVX-512)"
        );
        let xeon = "processor : 0\nvendor_id : GenuineIntel\ncpu family : 6\nmodel : 143\n\
            model name : Intel Xeon\nflags : avx512f amx_tile\n";
        assert_eq!(
            cpu(xeon).unwrap().0,
            "Intel Xeon (family 6 model 143, AVX-512)"
        );
        let plain = "processor : 0\nmodel name : Some CPU\nflags : sse avx512_bf16\n";
        assert_eq!(cpu(plain), Some(("Some CPU".to_string(), 1)));
        assert_eq!(cpu("processor : 0\n"), None);
    }

    #[test]
    fn memory_and_load() {
        assert_eq!(
            memory_gib("MemTotal:       25165824 kB\nMemFree: 1 kB\n"),
            Some(24.0)
        );
        assert_eq!(memory_gib("MemFree: 1 kB\n"), None);
        assert_eq!(load_average("7.22 8.37 7.68 6/122 23988\n"), Some(7.22));
        assert_eq!(load_average(""), None);
    }
}
