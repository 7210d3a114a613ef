//! Benchmark and quality figures of la-cluster (docs/benchmarks.md, section "la-cluster").
//!
//! ```text
//! cargo run --release -p la-cluster --example bench_kmeans [-- fashion|knn|la|topk|all] [--reps N]
//! python3 crates/la-cluster/scripts/bench_sklearn.py [fashion|knn|la|all]   # scikit-learn
//! python3 crates/la-cluster/scripts/bench_topk_torch.py [--reps N]          # torch.topk
//! ```
//! Fashion-MNIST comes from Debian's `dataset-fashion-mnist` (`LA_FASHION_MNIST` overrides
//! the directory). Prints one JSON object per measurement (`bench`, `impl` and the keys that
//! name the case, then the figures); times are wall-clock seconds `s` and process CPU seconds
//! `cpu_s`. `--reps N` sets the repetitions of the `la` and `topk` timings (3 and 5 by default).
//! `cargo xtask bench cluster` runs it beside the Python scripts and writes the tables into
//! docs/benchmarks.md.
#![allow(clippy::print_stdout)]

mod support;

use anyhow::Result;
use la_cluster::{
    CosineBank, Init, KMeans, NearestNeighbours, WeightedKnn, accuracy, ari, clustering_accuracy,
    nmi,
};
use serde_json::json;
use support::{fashion, median, timed, unit_vectors};

fn main() -> Result<()> {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { la_ops::tune_cpu_runtime() };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let reps = |default: usize| {
        args.iter()
            .skip_while(|a| *a != "--reps")
            .nth(1)
            .and_then(|r| r.parse().ok())
            .unwrap_or(default)
            .max(1)
    };
    let what = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map_or("all", String::as_str);
    println!(
        "la-cluster, rayon threads: {}",
        rayon::current_num_threads()
    );
    if what == "fashion" || what == "all" {
        fashion_kmeans()?;
    }
    if what == "knn" || what == "all" {
        fashion_knn()?;
    }
    if what == "la" || what == "all" {
        la_clusterings(reps(3))?;
    }
    if what == "topk" || what == "all" {
        topk(reps(5))?;
    }
    Ok(())
}

/// k = 10, 10 runs, on the 10,000 test images: time, inertia and agreement with the classes.
fn fashion_kmeans() -> Result<()> {
    let (x, y) = fashion("t10k")?;
    println!(
        "\nk-means, Fashion-MNIST test split {:?}, k = 10, 10 runs (k-means++)",
        x.dims()
    );
    for seed in 0..3 {
        let (m, s, cpu) = timed(|| Ok(KMeans::params(10).n_runs(10).seed(seed).fit(&x)?))?;
        let l = m.labels();
        println!(
            "{}",
            json!({"bench": "fashion_kmeans", "impl": "la", "seed": seed, "s": s, "cpu_s": cpu,
                "iterations": m.n_iter(), "inertia": m.inertia(),
                "acc": clustering_accuracy(&y, l)?, "nmi": nmi(&y, l)?, "ari": ari(&y, l)?})
        );
    }
    Ok(())
}

/// Weighted kNN (tau = 0.07; k = 200 as Wu et al., and k = 20) and 1-NN of the test images
/// against the training images, from one search of the 200 nearest.
fn fashion_knn() -> Result<()> {
    let (train, train_y) = fashion("train")?;
    let (test, test_y) = fashion("t10k")?;
    println!(
        "\nkNN by cosine, Fashion-MNIST test {:?} against train {:?}",
        test.dims(),
        train.dims()
    );
    let (bank, s, cpu) = timed(|| Ok(CosineBank::new(&train)?))?;
    println!(
        "{}",
        json!({"bench": "knn_bank", "impl": "la", "s": s, "cpu_s": cpu})
    );
    let (nn, s, cpu) = timed(|| Ok(bank.k_nearest(&test, 200)?))?;
    println!(
        "{}",
        json!({"bench": "knn_search", "impl": "la", "k": 200, "s": s, "cpu_s": cpu})
    );
    for (name, k) in [
        ("weighted kNN, k = 200, tau = 0.07", 200),
        ("weighted kNN, k = 20, tau = 0.07", 20),
        ("1-NN", 1),
    ] {
        let pred = WeightedKnn::new(k, 0.07)?.vote(&nn, &train_y)?;
        let acc = accuracy(&test_y, &pred)?;
        println!(
            "{}",
            json!({"bench": "knn", "impl": "la", "classifier": name, "accuracy": acc})
        );
    }
    Ok(())
}

/// Local Aggregation's per-epoch work: 6 clusterings of 100 clusters of a 14,400 x 512 bank of
/// unit vectors, as one `fit_many` call (1 run each), median of `reps` repetitions.
fn la_clusterings(reps: usize) -> Result<()> {
    let bank = unit_vectors(0, 14_400, 512)?;
    println!(
        "\n6 clusterings x 100 clusters of {:?} unit vectors (fit_many)",
        bank.dims()
    );
    let base = KMeans::params(100).n_runs(1);
    let settings = [
        ("k-means++, tol 1e-4, max_iter 300", base.clone()),
        (
            "random init, max_iter 20 (faiss/LA)",
            base.clone().init(Init::Random).max_iter(20),
        ),
        (
            "random init, tol 1e-4, max_iter 300",
            base.clone().init(Init::Random),
        ),
    ];
    for (name, p) in settings {
        let (mut wall, mut cpu, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let (models, s, c) = timed(|| Ok(p.fit_many(&bank, 6)?))?;
            wall.push(s);
            cpu.push(c);
            last = models;
        }
        let iters: Vec<usize> = last.iter().map(|m| m.n_iter()).collect();
        let inertia = last.iter().map(|m| m.inertia()).sum::<f64>() / 6.0;
        la_line(name, median(wall), median(cpu), Some((&iters, inertia)));
    }
    // The next epoch: every row moved a little (a tenth of a fresh random direction), each
    // clustering restarted from its previous centroids.
    let previous = p_faiss().fit_many(&bank, 6)?;
    let moved =
        la_ops::l2_normalize_rows(&((&bank * 0.9)? + (unit_vectors(2, 14_400, 512)? * 0.1)?)?)?;
    let starts: Vec<_> = previous.iter().map(|m| m.centroids().clone()).collect();
    let (models, s, c) = timed(|| Ok(p_faiss().check()?.fit_many_from(&moved, &starts)?))?;
    let iters: Vec<usize> = models.iter().map(|m| m.n_iter()).collect();
    let inertia = models.iter().map(|m| m.inertia()).sum::<f64>() / 6.0;
    let name = "next epoch, warm start (fit_many_from)";
    la_line(name, s, c, Some((&iters, inertia)));
    let (models, s, c) = timed(|| Ok(p_faiss().fit_many(&moved, 6)?))?;
    let iters: Vec<usize> = models.iter().map(|m| m.n_iter()).collect();
    let inertia = models.iter().map(|m| m.inertia()).sum::<f64>() / 6.0;
    let name = "next epoch, from scratch (faiss setting)";
    la_line(name, s, c, Some((&iters, inertia)));
    // The floor: 20 iterations and the final assignment are 21 products with 600 centroids.
    let centroids = unit_vectors(1, 600, 512)?.t()?;
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (_, s, c) = timed(|| {
            for _ in 0..21 {
                for start in (0..14_400).step_by(3495) {
                    bank.narrow(0, start, 3495.min(14_400 - start))?
                        .matmul(&centroids)?;
                }
            }
            Ok(())
        })?;
        wall.push(s);
        cpu.push(c);
    }
    let name = "21 products 14400 x 512 x 600 alone";
    la_line(name, median(wall), median(cpu), None);
    Ok(())
}

/// One line of the LA clusterings: wall and CPU seconds, and the iterations of each of the 6
/// clusterings with their mean inertia where there are clusterings.
fn la_line(setting: &str, s: f64, cpu: f64, fit: Option<(&[usize], f64)>) {
    let mut line = json!({"bench": "la_clusterings", "impl": "la", "setting": setting,
        "s": s, "cpu_s": cpu});
    if let Some((iterations, inertia)) = fit {
        line["iterations"] = json!(iterations);
        line["inertia"] = json!(inertia);
    }
    println!("{line}");
}

/// la-ops' top-k on the shapes this crate and Local Aggregation use, median of `reps`.
fn topk(reps: usize) -> Result<()> {
    println!("\nla_ops::topk (f32, uniform random values), median of {reps}");
    for (rows, cols, k) in [
        (1, 1 << 20, 10),
        (1, 1 << 20, 4096),
        (128, 14_400, 4096),
        (128, 100_000, 4096),
        (1000, 16_384, 200),
    ] {
        let x = candle_core::Tensor::rand(0f32, 1.0, (rows, cols), &candle_core::Device::Cpu)?;
        let mut wall = Vec::new();
        for _ in 0..reps {
            let (_, s, _) = timed(|| Ok(la_ops::topk(&x, k)?))?;
            wall.push(s);
        }
        let ms = median(wall) * 1e3;
        println!(
            "{}",
            json!({"bench": "topk", "impl": "la-ops", "rows": rows, "cols": cols, "k": k, "ms": ms})
        );
    }
    Ok(())
}

/// Local Aggregation's reference setting (faiss): one run, random initialisation, 20 iterations.
fn p_faiss() -> la_cluster::KMeansParams {
    KMeans::params(100)
        .n_runs(1)
        .init(Init::Random)
        .max_iter(20)
}
