//! The tables of the ops, auto-encoder, LA step and decoding benchmarks.

use super::Results;
use super::markdown::Table;
use super::measurement::{Decoding, LaStep, OpTiming};
use super::records::{distinct, find};

/// Milliseconds or other timings with 3 significant digits or so: "0.362", "12.5", "3751".
pub fn num(x: f64) -> String {
    match x.abs() {
        a if a < 1.0 => format!("{x:.3}"),
        a if a < 10.0 => format!("{x:.2}"),
        a if a < 100.0 => format!("{x:.1}"),
        _ => format!("{x:.0}"),
    }
}

/// A figure formatted by [`num`]; `absent` when there is none.
pub fn cell(value: Option<f64>, absent: &str) -> String {
    value.map_or_else(|| absent.to_string(), num)
}

/// "1.23x", or "—" when either side is missing.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "—".into(),
    }
}

/// "met" or "**not met**".
pub fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// The highest ratio ours / PyTorch allowed, per op.
struct Targets {
    /// For every op not listed.
    default: f64,
    /// `(op, ratio)` for the ops with their own target.
    ops: &'static [(&'static str, f64)],
    /// The targets in words, for the summary line.
    words: &'static str,
}

impl Targets {
    fn of(&self, op: &str) -> f64 {
        self.ops
            .iter()
            .find(|(o, _)| *o == op)
            .map_or(self.default, |&(_, r)| r)
    }
}

/// Issue 2's targets for la-ops.
const OPS_TARGETS: Targets = Targets {
    default: 2.0,
    ops: &[("bn_relu_train_fwd_bwd", 1.2), ("unpool_fwd_bwd", 1.2)],
    words: "la-ops / PyTorch <= 2.0x for every op, <= 1.2x for BN training and unpool",
};

/// The auto-encoder training step's target.
const AE_TARGETS: Targets = Targets {
    default: 1.5,
    ops: &[],
    words: "la / PyTorch <= 1.5x",
};

/// A comparison of implementations per (op, shape) against PyTorch with a ratio target.
struct Comparison<'a> {
    /// `(impl, column title)` of the timed implementations, ours first.
    columns: &'a [(&'a str, &'a str)],
    /// The targets.
    targets: &'a Targets,
}

/// The GFLOP/s that percentages of the peak refer to: the FMA loop on 2 threads (every
/// benchmark runs on 2), if it was measured.
fn peak(records: &[OpTiming]) -> Option<f64> {
    peak_on(records, "2 threads")
}

/// The FMA loop's GFLOP/s on `threads` ("1 thread", "2 threads"), if it was measured.
fn peak_on(records: &[OpTiming], threads: &str) -> Option<f64> {
    find(records, |r| r.op == FMA_PEAK && r.shape == threads).and_then(OpTiming::rate)
}

/// The op name of the FMA peak records.
const FMA_PEAK: &str = "fma_peak";
/// The op name of the bf16 dot-product peak records.
const BF16_PEAK: &str = "bf16_dot_peak";
/// How the shapes of rows timed with bf16 products end; their percentages are of the bf16
/// dot-product peak.
const BF16_ROWS: &str = ", bf16 products";

/// The bf16 dot-product peak's GFLOP/s on 2 threads, if it was measured.
fn bf16_peak(records: &[OpTiming]) -> Option<f64> {
    find(records, |r| r.op == BF16_PEAK && r.shape == "2 threads").and_then(OpTiming::rate)
}

/// The op name of the matrix product records.
const GEMM: &str = "gemm";
/// Issue 15's target for matrix products, as a fraction of the FMA peak.
const GEMM_TARGET: f64 = 0.85;

/// "78%" of `peak`, or "—".
fn percent(rate: Option<f64>, peak: Option<f64>) -> String {
    match (rate, peak) {
        (Some(r), Some(p)) if p > 0.0 => format!("{:.0}%", 100.0 * r / p),
        _ => "—".into(),
    }
}

fn compare(results: &Results<OpTiming>, spec: &Comparison) -> String {
    let pytorch = results.absent("pytorch");
    let ours = spec.columns[0];
    let records: Vec<&OpTiming> = results
        .records
        .iter()
        .filter(|r| r.op != FMA_PEAK && r.op != BF16_PEAK && r.op != GEMM)
        .collect();
    let peak = peak(&results.records);
    let with_peak = peak.is_some() && records.iter().any(|r| r.gflop.is_some());
    let mut header = vec!["op", "shape"];
    header.extend(spec.columns.iter().map(|c| c.1));
    header.extend(["PyTorch ms", "ratio to PyTorch"]);
    if with_peak {
        header.extend(["ours, % of FMA peak", "PyTorch, % of FMA peak"]);
    }
    header.push("target");
    let mut table = Table::new(&header);
    let (mut checked, mut passed) = (0, 0);
    for (op, shape) in distinct(&records, |r| (r.op.as_str(), r.shape.as_str())) {
        let record = |imp: &str| find(&records, |r| r.op == op && r.shape == shape && r.imp == imp);
        let ms = |imp: &str| record(imp).and_then(|r| r.ms);
        let mut row = vec![op.to_string(), shape.to_string()];
        row.extend(spec.columns.iter().map(|c| cell(ms(c.0), "—")));
        let (a, b) = (ms(ours.0), ms("pytorch"));
        row.push(cell(b, &pytorch));
        row.push(ratio(a, b));
        if with_peak {
            let peak = if shape.ends_with(BF16_ROWS) {
                bf16_peak(&results.records)
            } else {
                peak
            };
            for imp in [ours.0, "pytorch"] {
                row.push(percent(record(imp).and_then(|r| r.rate()), peak));
            }
        }
        let limit = spec.targets.of(op);
        row.push(match (a, b) {
            (Some(a), Some(b)) => {
                checked += 1;
                passed += usize::from(a <= limit * b);
                format!("<= {limit:.1}x: {}", met(a <= limit * b))
            }
            _ => format!("<= {limit:.1}x"),
        });
        table.rows.push(row);
    }
    let words = spec.targets.words;
    let summary = if checked == 0 {
        format!("Targets ({words}): not checked, PyTorch {pytorch}.")
    } else {
        format!("Targets ({words}): met by {passed} of {checked} rows.")
    };
    format!(
        "{}{}\n{summary}\n{}",
        peak_line(&results.records),
        table.render(),
        gemm_table(results, peak)
    )
}

/// "fp32 FMA peak ...: X GFLOP/s on 1 thread, Y on 2." with a blank line, or nothing.
fn peak_line(records: &[OpTiming]) -> String {
    let bf16 = match bf16_peak(records) {
        Some(p) => format!(
            " Rows ending in \"{BF16_ROWS}\" are of the bf16 dot-product peak (AVX512-BF16, \
             the same loop): {} GFLOP/s on 2 threads.",
            num(p)
        ),
        None => String::new(),
    };
    match (peak_on(records, "1 thread"), peak_on(records, "2 threads")) {
        (Some(one), Some(two)) => format!(
            "fp32 FMA peak (register-only FMA loop, same run): {} GFLOP/s on 1 thread, {} on 2; \
             the percentages below are of the 2-thread figure.{bf16}\n\n",
            num(one),
            num(two)
        ),
        _ => String::new(),
    }
}

/// The matrix products: GFLOP/s and fraction of the FMA peak, ours and PyTorch's, against
/// the target; nothing when none was timed.
fn gemm_table(results: &Results<OpTiming>, peak: Option<f64>) -> String {
    let records: Vec<&OpTiming> = results.records.iter().filter(|r| r.op == GEMM).collect();
    if records.is_empty() {
        return String::new();
    }
    let mut table = Table::new(&[
        "GEMM m x k x n",
        "la ms",
        "la GFLOP/s",
        "la, % of FMA peak",
        "la on 1 thread, % of its peak",
        "stock candle ms",
        "candle, % of FMA peak",
        "PyTorch ms",
        "PyTorch, % of FMA peak",
        "target >= 85% of peak",
    ]);
    let one_peak = peak_on(&results.records, "1 thread");
    let (mut checked, mut passed) = (0, 0);
    for shape in distinct(&records, |r| r.shape.as_str()) {
        let record = |imp: &str| find(&records, |r| r.shape == shape && r.imp == imp);
        let one_thread = record("la-ops 1 thread").and_then(|r| r.rate());
        let (ours, candle, torch) = (record("la-ops"), record("candle"), record("pytorch"));
        let rate = ours.and_then(|r| r.rate());
        let verdict = match (rate, peak) {
            (Some(r), Some(p)) => {
                checked += 1;
                passed += usize::from(r >= GEMM_TARGET * p);
                met(r >= GEMM_TARGET * p).to_string()
            }
            _ => "—".into(),
        };
        table.rows.push(vec![
            shape.to_string(),
            cell(ours.and_then(|r| r.ms), "—"),
            cell(rate, "—"),
            percent(rate, peak),
            percent(one_thread, one_peak),
            cell(candle.and_then(|r| r.ms), "—"),
            percent(candle.and_then(|r| r.rate()), peak),
            cell(torch.and_then(|r| r.ms), &results.absent("pytorch")),
            percent(torch.and_then(|r| r.rate()), peak),
            verdict,
        ]);
    }
    format!(
        "\nMatrix products (`la_ops::matmul`, which la-train's products call: once per thread on \
         a block of the output, as la-ops' im2col convolutions run it, by the `gemm` crate's \
         kernel or one of la-ops' own AVX-512 kernels: for 32-128 output rows (whole panels \
         of 32, at least 64 steps and 48 columns) the one that packs the left operand, else, \
         for a right operand that is a transposed view (up to 512 output rows, the output \
         written once or kept in L2), the one that packs the right operand; the same on one \
         thread, against one thread's FMA peak; \
         candle's matmul, the `gemm` crate with its own threading; PyTorch's `torch.mm`; \
         \", B transposed\": the right operand a transposed view of a row-major matrix, as \
         the filter gradients read their patches):\n\n{}\nTarget \
         (>= 85% of the FMA peak): met by {passed} of {checked} rows.\n",
        table.render()
    )
}

/// la-ops against stock candle and PyTorch; targets of issue 2.
pub fn ops(results: &Results<OpTiming>) -> String {
    compare(
        results,
        &Comparison {
            columns: &[("la-ops", "la-ops ms"), ("candle", "stock candle ms")],
            targets: &OPS_TARGETS,
        },
    )
}

/// The auto-encoder training step against PyTorch; target <= 1.5x.
pub fn ae(results: &Results<OpTiming>) -> String {
    compare(
        results,
        &Comparison {
            columns: &[("la", "la ms")],
            targets: &AE_TARGETS,
        },
    )
}

/// The LA step, part by part (the parts any implementation printed, in the order of the step),
/// la-train and PyTorch; target step <= 30 ms.
pub fn la_step(results: &Results<LaStep>) -> String {
    let records = &results.records;
    let printed: Vec<usize> = (0..LaStep::PARTS.len())
        .filter(|&i| records.iter().any(|r| r.parts()[i].is_some()))
        .collect();
    let mut header = vec!["k", "impl"];
    header.extend(printed.iter().map(|&i| LaStep::PARTS[i]));
    header.extend(["step / PyTorch", "target step <= 30 ms"]);
    let mut table = Table::new(&header);
    let impls = distinct(records, |r| r.imp.as_str());
    for k in distinct(records, |r| r.k) {
        let torch = find(records, |r| r.k == k && r.imp == "pytorch").and_then(|r| r.step_ms);
        for &imp in &impls {
            let Some(r) = find(records, |r| r.k == k && r.imp == imp) else {
                continue;
            };
            let mut row = vec![k.to_string(), imp.to_string()];
            row.extend(printed.iter().map(|&i| cell(r.parts()[i], "—")));
            let ours = imp != "pytorch";
            row.push(if ours {
                ratio(r.step_ms, torch)
            } else {
                String::new()
            });
            row.push(match r.step_ms {
                Some(s) if ours => met(s <= 30.0).to_string(),
                _ => String::new(),
            });
            table.rows.push(row);
        }
    }
    let mut out = table.render();
    if let Some(reason) = results.not_run("pytorch") {
        out += &format!("\nPyTorch: not run ({reason}).\n");
    }
    out
}

/// Images per second (and per CPU-second) of la-data against Pillow and torchvision; target
/// >= 2x.
pub fn data(results: &Results<Decoding>) -> String {
    let mut table = Table::new(&[
        "files",
        "la-data",
        "images/s (per CPU-s)",
        "reference",
        "images/s (per CPU-s)",
        "ratio wall, CPU",
        "target >= 2x (wall, CPU)",
    ]);
    let pairs = [
        ("prepare", "pillow", "Pillow"),
        ("loader", "torchvision", "torchvision DataLoader"),
    ];
    let records = &results.records;
    for files in distinct(records, |r| r.files.as_str()) {
        for (stage, reference, title) in pairs {
            let get = |imp: &str| find(records, |r| r.files == files && r.imp == imp);
            let (ours, theirs) = (get(&format!("la-data {stage}")), get(reference));
            let rate = |r: Option<&Decoding>, absent: &str| match r {
                Some(r) => format!("{} ({})", cell(r.per_s, "—"), cell(r.per_cpu_s, "—")),
                None => absent.to_string(),
            };
            let wall = (ours.and_then(|r| r.per_s), theirs.and_then(|r| r.per_s));
            let cpu = (
                ours.and_then(|r| r.per_cpu_s),
                theirs.and_then(|r| r.per_cpu_s),
            );
            let target = match (wall, cpu) {
                ((Some(a), Some(b)), (Some(c), Some(d))) => {
                    format!("{}, {}", met(a >= 2.0 * b), met(c >= 2.0 * d))
                }
                _ => "—".into(),
            };
            table.rows.push(vec![
                files.to_string(),
                stage.to_string(),
                rate(ours, "—"),
                title.to_string(),
                rate(theirs, &results.absent(reference)),
                format!("{}, {}", ratio(wall.0, wall.1), ratio(cpu.0, cpu.1)),
                target,
            ]);
        }
    }
    table.render()
        + "\nFiles: 500 JPEGs of 1024 x 768 at quality 90, 4:2:0 chroma written by Pillow, 4:4:4 by \
           the image crate; decode, resize of the shorter side to 224 (bilinear), centre crop, with 2 \
           threads (la-data) or 2 worker processes (Python); images per second of the best pass of \
           each round, images per CPU-second (user + system, workers included) over its passes.\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Rounds;
    use crate::bench::measurement::Measurement;
    use crate::bench::records::parse_lines;

    fn results<R: Measurement>(lines: &str, not_run: &[(&str, &str)]) -> Results<R> {
        let rounds = Rounds {
            lines: vec![parse_lines(lines, "test").unwrap()],
            not_run: not_run
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        rounds.results().unwrap()
    }

    #[test]
    fn numbers_keep_about_three_digits() {
        assert_eq!(num(0.3619), "0.362");
        assert_eq!(num(4.56789), "4.57");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(3751.4), "3751");
        assert_eq!(ratio(Some(3.0), Some(2.0)), "1.50x");
        assert_eq!(ratio(Some(3.0), None), "—");
    }

    #[test]
    fn ops_table_has_ratios_and_per_op_targets() {
        let r = results(
            r#"{"op": "conv_fwd", "shape": "64->64@64", "impl": "la-ops", "ms": 30}
               {"op": "conv_fwd", "shape": "64->64@64", "impl": "candle", "ms": 100}
               {"op": "unpool_fwd_bwd", "shape": "64@64", "impl": "la-ops", "ms": 1.3}
               {"op": "unpool_fwd_bwd", "shape": "64@64", "impl": "candle", "ms": 5}
               {"op": "conv_fwd", "shape": "64->64@64", "impl": "pytorch", "ms": 20}
               {"op": "unpool_fwd_bwd", "shape": "64@64", "impl": "pytorch", "ms": 1.0}"#,
            &[],
        );
        let md = ops(&r);
        assert!(
            md.contains("| conv_fwd | 64->64@64 | 30.0 | 100 | 20.0 | 1.50x | <= 2.0x: met |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| unpool_fwd_bwd | 64@64 | 1.30 | 5.00 | 1.00 | 1.30x | <= 1.2x: **not met** |"
            ),
            "{md}"
        );
        assert!(md.contains("met by 1 of 2 rows"), "{md}");
    }

    #[test]
    fn rates_are_shown_as_fractions_of_the_two_thread_fma_peak() {
        let r = results(
            r#"{"op": "fma_peak", "shape": "1 thread", "impl": "machine", "ms": 100, "gflop": 10}
               {"op": "fma_peak", "shape": "2 threads", "impl": "machine", "ms": 100, "gflop": 20}
               {"op": "gemm", "shape": "2x3x4", "impl": "la-ops", "ms": 10, "gflop": 1.8}
               {"op": "gemm", "shape": "2x3x4", "impl": "la-ops 1 thread", "ms": 20, "gflop": 1.8}
               {"op": "gemm", "shape": "2x3x4", "impl": "candle", "ms": 12, "gflop": 1.8}
               {"op": "gemm", "shape": "2x3x4", "impl": "pytorch", "ms": 10, "gflop": 1.6}
               {"op": "conv_fwd", "shape": "64->64@64", "impl": "la-ops", "ms": 30, "gflop": 3}
               {"op": "conv_fwd", "shape": "64->64@64", "impl": "candle", "ms": 100, "gflop": 3}
               {"op": "conv_fwd", "shape": "64->64@64", "impl": "pytorch", "ms": 20, "gflop": 3}"#,
            &[],
        );
        let md = ops(&r);
        // Peak 200 GFLOP/s on 2 threads: the conv at 100 GFLOP/s is 50%, PyTorch's 75%.
        assert!(md.contains("100 GFLOP/s on 1 thread, 200 on 2"), "{md}");
        assert!(
            md.contains(
                "| conv_fwd | 64->64@64 | 30.0 | 100 | 20.0 | 1.50x | 50% | 75% | <= 2.0x: met |"
            ),
            "{md}"
        );
        // 180 GFLOP/s is 90% (met), one thread's 90 is 90% of its 100, candle's 150 is 75%,
        // PyTorch's 160 is 80%.
        assert!(
            md.contains("| 2x3x4 | 10.0 | 180 | 90% | 90% | 12.0 | 75% | 10.0 | 80% | met |"),
            "{md}"
        );
        assert!(md.contains("met by 1 of 1 rows"), "{md}");
        assert!(!md.contains("| fma_peak"), "{md}");
    }

    #[test]
    fn bf16_rows_are_fractions_of_the_bf16_peak() {
        let r = results(
            r#"{"op": "fma_peak", "shape": "1 thread", "impl": "machine", "ms": 100, "gflop": 10}
               {"op": "fma_peak", "shape": "2 threads", "impl": "machine", "ms": 100, "gflop": 20}
               {"op": "bf16_dot_peak", "shape": "2 threads", "impl": "machine", "ms": 100, "gflop": 40}
               {"op": "ae_train_step", "shape": "4x3x8x8", "impl": "la", "ms": 10, "gflop": 1}
               {"op": "ae_train_step", "shape": "4x3x8x8", "impl": "pytorch", "ms": 20, "gflop": 1}
               {"op": "ae_train_step", "shape": "4x3x8x8, bf16 products", "impl": "la", "ms": 10, "gflop": 2}
               {"op": "ae_train_step", "shape": "4x3x8x8, bf16 products", "impl": "pytorch", "ms": 5, "gflop": 2}"#,
            &[],
        );
        let md = ae(&r);
        // fp32 peak 200 GFLOP/s: 100 is 50%, 50 is 25%; bf16 peak 400: 200 is 50%, 400 100%.
        assert!(
            md.contains("| 4x3x8x8 | 10.0 | 20.0 | 0.50x | 50% | 25% |"),
            "{md}"
        );
        assert!(
            md.contains("| 4x3x8x8, bf16 products | 10.0 | 5.00 | 2.00x | 50% | 100% |"),
            "{md}"
        );
        assert!(
            md.contains("bf16 dot-product peak (AVX512-BF16, the same loop): 400 GFLOP/s"),
            "{md}"
        );
        assert!(!md.contains("| bf16_dot_peak"), "{md}");
    }

    #[test]
    fn missing_pytorch_says_why() {
        let r = results(
            r#"{"op": "ae_train_step", "shape": "16x3x64x64", "impl": "la", "ms": 900}"#,
            &[("pytorch", "torch not installed")],
        );
        let md = ae(&r);
        assert!(
            md.contains(
                "| ae_train_step | 16x3x64x64 | 900 | not run (torch not installed) | — | <= 1.5x |"
            ),
            "{md}"
        );
        assert!(
            md.contains("not checked, PyTorch not run (torch not installed)"),
            "{md}"
        );
    }

    #[test]
    fn la_step_table_lists_every_part_and_the_target() {
        let r = results(
            r#"{"impl": "la-train", "k": 100, "threads": 2, "search_ms": 5.0, "step_ms": 20.0, "step_cpu_ms": 35.0}
               {"impl": "pytorch", "k": 100, "search_ms": 8.0, "step_ms": 40.0}
               {"impl": "la-train", "k": 4096, "search_ms": 9.0, "step_ms": 31.0}"#,
            &[],
        );
        let md = la_step(&r);
        assert!(md.starts_with(
            "| k | impl | search ms | step ms | step cpu ms | step / PyTorch | target step <= 30 ms |"
        ), "{md}");
        assert!(
            md.contains("| 100 | la-train | 5.00 | 20.0 | 35.0 | 0.50x | met |"),
            "{md}"
        );
        assert!(
            md.contains("| 100 | pytorch | 8.00 | 40.0 | — |  |  |"),
            "{md}"
        );
        assert!(
            md.contains("| 4096 | la-train | 9.00 | 31.0 | — | — | **not met** |"),
            "{md}"
        );
        let rows: Vec<&str> = md.lines().skip(2).map(|l| &l[..15]).collect();
        assert_eq!(
            rows,
            ["| 100 | la-trai", "| 100 | pytorch", "| 4096 | la-tra"],
            "by k"
        );
    }

    #[test]
    fn data_table_pairs_stages_with_references() {
        let r = results(
            r#"{"impl": "la-data prepare", "files": "4:4:4", "per_s": 120, "per_cpu_s": 250}
               {"impl": "la-data loader", "files": "4:4:4", "per_s": 100, "per_cpu_s": 200}
               {"impl": "pillow", "files": "4:4:4", "per_s": 50, "per_cpu_s": 100}"#,
            &[("torchvision", "--no-torch")],
        );
        let md = data(&r);
        assert!(
            md.contains(
                "| 4:4:4 | prepare | 120 (250) | Pillow | 50.0 (100) | 2.40x, 2.50x | met, met |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 4:4:4 | loader | 100 (200) | torchvision DataLoader | not run (--no-torch) | —, — | — |"),
            "{md}"
        );
    }
}
