//! The pieces built on the ops, GPU against CPU: an auto-encoder training step (a narrow
//! VGG16-bn, same weights on both devices), a Local Aggregation step, and k-means.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use la_cluster::{Init, KMeans};
use la_segnet::{AutoEncoder, HasParams, ModelConfig};
use la_train::{Clusterings, LocalAggregationLoss, MemoryBank};
use rand::Rng;

use super::{Inputs, TOL_F32, values};
use crate::report::{Row, Status, Table, relative_error};

/// A whole network accumulates more rounding than one op.
const TOL_MODEL: f64 = 1e-4;

pub fn run(dev: &Device, rng: &mut Inputs, table: &mut Table) -> Result<()> {
    autoencoder(dev, rng, table)?;
    local_aggregation(dev, rng, table)?;
    kmeans(dev, rng, table)
}

/// One training forward and backward of a 1/16-width VGG16-bn auto-encoder: the loss, every
/// parameter gradient and the running statistics.
fn autoencoder(dev: &Device, rng: &mut Inputs, table: &mut Table) -> Result<()> {
    let mut config = ModelConfig::default();
    config.vgg.width_divisor = 16;
    let cpu = AutoEncoder::new(&config, &Device::Cpu)?;
    let gpu = AutoEncoder::new(&config, dev)?;
    for (c, g) in cpu.variables().iter().zip(gpu.variables()) {
        g.var.set(&c.var.as_tensor().to_device(dev)?)?;
    }
    let x = rng.tensor(&[4, 3, 64, 64], DType::F32)?;
    let step = |ae: &AutoEncoder, d: &Device| -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
        let x = x.to_device(d)?;
        let loss = (ae.forward_t(&x, true)? - &x)?.sqr()?.mean_all()?;
        let grads = loss.backward()?;
        let mut g = Vec::new();
        for p in ae.trainable() {
            let grad = grads
                .get(&p.var)
                .ok_or_else(|| anyhow::anyhow!("{} received no gradient", p.name))?;
            g.extend(values(grad)?);
        }
        let mut running = Vec::new();
        for p in ae.variables().iter().filter(|p| !p.role.is_trained()) {
            running.extend(values(p.var.as_tensor())?);
        }
        Ok((values(&loss)?, g, running))
    };
    let (l1, g1, r1) = step(&cpu, &Device::Cpu)?;
    let (l2, g2, r2) = step(&gpu, dev)?;
    let section = "model";
    let what = "autoencoder 1/16 width 4x3x64x64";
    table.error(
        section,
        format!("{what} loss"),
        relative_error(&l2, &l1),
        TOL_MODEL,
    );
    table.error(
        section,
        format!("{what} gradients"),
        relative_error(&g2, &g1),
        TOL_MODEL,
    );
    let err = relative_error(&r2, &r1);
    table.error(
        section,
        format!("{what} running statistics"),
        err,
        TOL_MODEL,
    );
    Ok(())
}

/// Background neighbours, close mask, loss, gradient and bank update of one LA step.
fn local_aggregation(dev: &Device, rng: &mut Inputs, table: &mut Table) -> Result<()> {
    let (n, d, batch, k) = (20_000, 64, 32, 512);
    let bank = la_ops::l2_normalize_rows(&rng.tensor(&[n, d], DType::F32)?)?;
    let labels = (0..3).map(|_| rng.below(n, 400)).collect();
    let clusterings = Clusterings::new(labels)?;
    let items: Vec<u32> = (0..batch as u32).map(|i| i * 617 % n as u32).collect();
    let noise = (rng.tensor(&[batch, d], DType::F32)? * 0.05)?;
    let rows = bank.index_select(&Tensor::new(items.as_slice(), &Device::Cpu)?, 0)?;
    let v = la_ops::l2_normalize_rows(&(rows + noise)?)?;
    let la = LocalAggregationLoss {
        background: k,
        ..Default::default()
    };
    let step = |dev: &Device| -> Result<[Vec<f64>; 4]> {
        let mut bank = MemoryBank::from_tensor(&bank.to_device(dev)?)?;
        let v = Var::from_tensor(&v.to_device(dev)?)?;
        let background = bank.background_neighbours(v.as_tensor(), k)?;
        // The CPU returns the neighbours in column order, the GPU by value: compare sets.
        let mut neighbours: Vec<u32> = background.indices.flatten_all()?.to_vec1()?;
        for row in neighbours.chunks_mut(k) {
            row.sort_unstable();
        }
        let mask = clusterings.close_mask(&items, &background)?;
        let out = la.forward_with(v.as_tensor(), &bank, &background, &mask)?;
        let grads = out.loss.backward()?;
        let grad = grads
            .get(v.as_tensor())
            .ok_or_else(|| anyhow::anyhow!("the embeddings received no gradient"))?;
        let (loss, grad) = (values(&out.loss)?, values(grad)?);
        bank.update(&items, v.as_tensor(), 0.5)?;
        let neighbours = neighbours.iter().map(|&i| f64::from(i)).collect();
        Ok([neighbours, loss, grad, values(bank.tensor())?])
    };
    let (want, got) = (step(&Device::Cpu)?, step(dev)?);
    let what = format!("LA step bank {n}x{d} batch {batch} k {k}");
    let parts = ["background neighbours", "loss", "gradient", "bank update"];
    for (i, part) in parts.iter().enumerate() {
        let tol = if i == 0 { 0.0 } else { TOL_F32 * 10.0 };
        let err = relative_error(&got[i], &want[i]);
        table.error("model", format!("{what} {part}"), err, tol);
    }
    Ok(())
}

/// k-means on blobs, one clustering and three in lockstep: labels and inertia.
fn kmeans(dev: &Device, rng: &mut Inputs, table: &mut Table) -> Result<()> {
    let (n, d, k) = (30_000, 32, 64);
    let centres = (rng.tensor(&[k, d], DType::F32)? * 10.0)?;
    let of: Vec<u32> = (0..n)
        .map(|_| rng.rng().random_range(0..k as u32))
        .collect();
    let x = (centres.index_select(&Tensor::new(of.as_slice(), &Device::Cpu)?, 0)?
        + rng.tensor(&[n, d], DType::F32)?)?;
    let params = KMeans::params(k)
        .n_runs(1)
        .init(Init::Random)
        .max_iter(15)
        .seed(3);
    let want = params.fit_many(&x, 3)?;
    let got = params.fit_many(&x.to_device(dev)?, 3)?;
    for (h, (g, w)) in got.iter().zip(&want).enumerate() {
        let agree = g
            .labels()
            .iter()
            .zip(w.labels())
            .filter(|(a, b)| a == b)
            .count() as f64
            / n as f64;
        table.push(Row {
            section: "model",
            name: format!("k-means {n}x{d} k={k} clustering {h} labels"),
            value: format!("{:.5} agree", agree),
            limit: ">= 0.999".into(),
            status: if agree >= 0.999 {
                Status::Pass
            } else {
                Status::Fail
            },
        });
        let err = (g.inertia() - w.inertia()).abs() / w.inertia();
        let name = format!("k-means {n}x{d} k={k} clustering {h} inertia");
        table.error("model", name, err, 1e-4);
    }
    Ok(())
}
