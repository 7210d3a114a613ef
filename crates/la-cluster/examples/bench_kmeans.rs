//! Benchmark and quality figures of la-cluster (docs/benchmarks.md, section "la-cluster").
//!
//! ```text
//! cargo run --release -p la-cluster --example bench_kmeans [-- fashion|knn|la|topk|all]
//! python3 crates/la-cluster/scripts/bench_sklearn.py [fashion|knn|la|all]   # scikit-learn
//! ```
//! Fashion-MNIST comes from Debian's `dataset-fashion-mnist` (`LA_FASHION_MNIST` overrides
//! the directory). Times are wall-clock seconds and process CPU seconds.
#![allow(clippy::print_stdout)]

mod support;

use anyhow::Result;
use la_cluster::{
    CosineBank, Init, KMeans, NearestNeighbours, WeightedKnn, accuracy, ari, clustering_accuracy,
    nmi,
};
use support::{fashion, median, timed, unit_vectors};

fn main() -> Result<()> {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
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
        la_clusterings()?;
    }
    if what == "topk" || what == "all" {
        topk()?;
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
    println!("seed  seconds  cpu s  iterations  inertia       ACC     NMI     ARI");
    for seed in 0..3 {
        let (m, s, cpu) = timed(|| Ok(KMeans::params(10).n_runs(10).seed(seed).fit(&x)?))?;
        let l = m.labels();
        println!(
            "{seed:>4}  {s:>7.3}  {cpu:>5.2}  {:>10}  {:>12.1}  {:.4}  {:.4}  {:.4}",
            m.n_iter(),
            m.inertia(),
            clustering_accuracy(&y, l)?,
            nmi(&y, l)?,
            ari(&y, l)?
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
    let (bank, s, _) = timed(|| Ok(CosineBank::new(&train)?))?;
    println!("bank normalisation: {s:.3} s");
    let (nn, s, cpu) = timed(|| Ok(bank.k_nearest(&test, 200)?))?;
    println!("200 nearest of every test image: {s:.3} s ({cpu:.2} cpu s)");
    for (name, k) in [
        ("weighted kNN, k = 200, tau = 0.07", 200),
        ("weighted kNN, k = 20, tau = 0.07", 20),
        ("1-NN", 1),
    ] {
        let pred = WeightedKnn::new(k, 0.07)?.vote(&nn, &train_y)?;
        println!("{name:<36} accuracy {:.4}", accuracy(&test_y, &pred)?);
    }
    Ok(())
}

/// Local Aggregation's per-epoch work: 6 clusterings of 100 clusters of a 14,400 x 512 bank of
/// unit vectors, as one `fit_many` call (1 run each), median of 3 repetitions.
fn la_clusterings() -> Result<()> {
    let bank = unit_vectors(0, 14_400, 512)?;
    println!(
        "\n6 clusterings x 100 clusters of {:?} unit vectors (fit_many)",
        bank.dims()
    );
    println!("setting                                  seconds  cpu s  iterations      inertia");
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
        for _ in 0..3 {
            let (models, s, c) = timed(|| Ok(p.fit_many(&bank, 6)?))?;
            wall.push(s);
            cpu.push(c);
            last = models;
        }
        let iters: Vec<usize> = last.iter().map(|m| m.n_iter()).collect();
        let inertia = last.iter().map(|m| m.inertia()).sum::<f64>() / 6.0;
        let (s, c) = (median(wall), median(cpu));
        println!("{name:<40} {s:>7.3}  {c:>5.2}  {iters:?}  {inertia:.1}");
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
    println!("{name:<40} {s:>7.3}  {c:>5.2}  {iters:?}  {inertia:.1}");
    let (models, s, c) = timed(|| Ok(p_faiss().fit_many(&moved, 6)?))?;
    let iters: Vec<usize> = models.iter().map(|m| m.n_iter()).collect();
    let inertia = models.iter().map(|m| m.inertia()).sum::<f64>() / 6.0;
    let name = "next epoch, from scratch (faiss setting)";
    println!("{name:<40} {s:>7.3}  {c:>5.2}  {iters:?}  {inertia:.1}");
    // The floor: 20 iterations and the final assignment are 21 products with 600 centroids.
    let centroids = unit_vectors(1, 600, 512)?.t()?;
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..3 {
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
    let (s, c) = (median(wall), median(cpu));
    println!(
        "{:<40} {s:>7.3}  {c:>5.2}",
        "21 products 14400 x 512 x 600 alone"
    );
    Ok(())
}

/// la-ops' top-k on the shapes this crate and Local Aggregation use, median of 5.
fn topk() -> Result<()> {
    println!("\nla_ops::topk (f32, uniform random values), median of 5");
    println!("rows x columns          k      ms");
    for (rows, cols, k) in [
        (1, 1 << 20, 10),
        (1, 1 << 20, 4096),
        (128, 14_400, 4096),
        (128, 100_000, 4096),
        (1000, 16_384, 200),
    ] {
        let x = candle_core::Tensor::rand(0f32, 1.0, (rows, cols), &candle_core::Device::Cpu)?;
        let mut wall = Vec::new();
        for _ in 0..5 {
            let (_, s, _) = timed(|| Ok(la_ops::topk(&x, k)?))?;
            wall.push(s);
        }
        println!(
            "{:<20} {k:>5}  {:>6.2}",
            format!("{rows} x {cols}"),
            median(wall) * 1e3
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
