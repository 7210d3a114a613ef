//! The la-ops ops on the GPU against the CPU, f32 and f64, at shapes that exercise odd sizes,
//! overlapping windows, padding, several image chunks and both top-k sorts.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use la_ops::{BatchNormConfig, BatchNormMode};

use super::{Inputs, compare, same_indices, tol, values};
use crate::report::{Row, Status, Table, relative_error};

pub fn run(dev: &Device, rng: &mut Inputs, table: &mut Table) -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        pool(dev, rng, table, dtype)?;
        conv(dev, rng, table, dtype)?;
        batch_norm(dev, rng, table, dtype)?;
        normalize(dev, rng, table, dtype)?;
        topk_cases(dev, rng, table, dtype)?;
    }
    big_conv(dev, rng, table)?;
    bad_index(dev, table)
}

fn name(op: &str, dtype: DType) -> String {
    format!("{op} {}", dtype.as_str())
}

fn pool(dev: &Device, rng: &mut Inputs, table: &mut Table, dtype: DType) -> Result<()> {
    for (dims, k, s) in [([5, 7, 33, 35], 2, 2), ([3, 4, 17, 16], 3, 2)] {
        let x = rng.tensor(&dims, dtype)?;
        let (_, want) = la_ops::max_pool2d_with_indices(&x, k, s)?;
        let (_, got) = la_ops::max_pool2d_with_indices(&x.to_device(dev)?, k, s)?;
        same_indices(
            table,
            name(&format!("pool {k}/{s} indices"), dtype),
            &got,
            &want,
        )?;
        // Values and their gradient (a scatter-add to the argmax) are exact.
        compare(
            table,
            &name(&format!("pool {k}/{s}"), dtype),
            &[x],
            dev,
            0.0,
            |t, _| Ok(la_ops::max_pool2d_with_indices(&t[0], k, s)?.0),
        )?;
    }
    let x = rng.tensor(&[4, 6, 16, 14], dtype)?;
    let (pooled, indices) = la_ops::max_pool2d_with_indices(&x, 2, 2)?;
    compare(
        table,
        &name("unpool", dtype),
        &[pooled],
        dev,
        0.0,
        |t, d| la_ops::max_unpool2d(&t[0], &indices.to_device(d)?, (16, 14)),
    )
}

fn conv(dev: &Device, rng: &mut Inputs, table: &mut Table, dtype: DType) -> Result<()> {
    for (x_dims, w_dims, pad) in [
        ([4, 24, 30, 33], [40, 24, 3, 3], 1),
        ([2, 5, 10, 8], [6, 5, 3, 3], 0),
        ([3, 16, 9, 11], [8, 16, 1, 1], 0),
    ] {
        let inputs = [
            rng.tensor(&x_dims, dtype)?,
            rng.tensor(&w_dims, dtype)?,
            rng.tensor(&[w_dims[0]], dtype)?,
        ];
        let op = format!("conv2d {}x{} pad {pad}", w_dims[2], w_dims[3]);
        compare(
            table,
            &name(&op, dtype),
            &inputs,
            dev,
            tol(dtype),
            |t, _| la_ops::conv2d(&t[0], &t[1], Some(&t[2]), pad),
        )?;
    }
    let inputs = [
        rng.tensor(&[4, 24, 20, 21], dtype)?,
        rng.tensor(&[24, 40, 3, 3], dtype)?,
        rng.tensor(&[40], dtype)?,
    ];
    compare(
        table,
        &name("conv_transpose2d 3x3", dtype),
        &inputs,
        dev,
        tol(dtype),
        |t, _| la_ops::conv_transpose2d(&t[0], &t[1], Some(&t[2]), 1),
    )
}

/// A layer whose column matrices span two chunks of images (12 images of 64 x 224 x 224).
fn big_conv(dev: &Device, rng: &mut Inputs, table: &mut Table) -> Result<()> {
    let x = rng.tensor(&[12, 64, 224, 224], DType::F32)?;
    let w = rng.tensor(&[64, 64, 3, 3], DType::F32)?;
    let want = la_ops::conv2d(&x, &w, None, 1)?;
    let (xd, wd) = (x.to_device(dev)?, w.to_device(dev)?);
    let got = la_ops::conv2d(&xd, &wd, None, 1)?;
    let err = relative_error(&values(&got)?, &values(&want)?);
    table.error(
        "ops",
        "conv2d 12x64x224x224 forward f32".into(),
        err,
        tol(DType::F32),
    );
    let want = la_ops::conv2d_weight_grad(&x, &want, (3, 3), 1)?;
    let got = la_ops::conv2d_weight_grad(&xd, &got, (3, 3), 1)?;
    let err = relative_error(&values(&got)?, &values(&want)?);
    table.error(
        "ops",
        "conv2d_weight_grad 12x64x224x224 f32".into(),
        err,
        tol(DType::F32),
    );
    Ok(())
}

fn batch_norm(dev: &Device, rng: &mut Inputs, table: &mut Table, dtype: DType) -> Result<()> {
    let c = 12;
    let inputs = [
        (rng.tensor(&[6, c, 17, 19], dtype)? * 3.0)?.affine(1.0, 5.0)?,
        rng.tensor(&[c], dtype)?,
        rng.tensor(&[c], dtype)?,
    ];
    let running = [rng.tensor(&[c], dtype)?, rng.tensor(&[c], dtype)?.abs()?];
    for relu in [false, true] {
        let config = BatchNormConfig {
            relu,
            ..Default::default()
        };
        let op = name(&format!("batch_norm2d train relu={relu}"), dtype);
        compare(table, &op, &inputs, dev, tol(dtype), |t, d| {
            let (m, v) = (
                Var::from_tensor(&running[0].to_device(d)?)?,
                Var::from_tensor(&running[1].to_device(d)?)?,
            );
            let mode = BatchNormMode::Train {
                running_mean: &m,
                running_var: &v,
            };
            la_ops::batch_norm2d(&t[0], &t[1], &t[2], mode, config)
        })?;
        let op = name(&format!("batch_norm2d eval relu={relu}"), dtype);
        compare(table, &op, &inputs, dev, tol(dtype), |t, d| {
            let (m, v) = (running[0].to_device(d)?, running[1].to_device(d)?);
            let mode = BatchNormMode::Eval {
                running_mean: &m,
                running_var: &v,
            };
            la_ops::batch_norm2d(&t[0], &t[1], &t[2], mode, config)
        })?;
    }
    running_statistics(dev, &inputs, &running, table, dtype)
}

/// The running estimates after one training forward on each device.
fn running_statistics(
    dev: &Device,
    inputs: &[Tensor],
    running: &[Tensor; 2],
    table: &mut Table,
    dtype: DType,
) -> Result<()> {
    let after = |d: &Device| -> Result<Vec<f64>> {
        let (m, v) = (
            Var::from_tensor(&running[0].to_device(d)?)?,
            Var::from_tensor(&running[1].to_device(d)?)?,
        );
        let mode = BatchNormMode::Train {
            running_mean: &m,
            running_var: &v,
        };
        let t: Vec<Tensor> = inputs
            .iter()
            .map(|t| t.to_device(d))
            .collect::<Result<_, _>>()?;
        la_ops::batch_norm2d(&t[0], &t[1], &t[2], mode, BatchNormConfig::default())?;
        Ok([values(&m)?, values(&v)?].concat())
    };
    let err = relative_error(&after(dev)?, &after(&Device::Cpu)?);
    table.error(
        "ops",
        name("batch_norm2d running statistics", dtype),
        err,
        tol(dtype),
    );
    Ok(())
}

fn normalize(dev: &Device, rng: &mut Inputs, table: &mut Table, dtype: DType) -> Result<()> {
    let rows = rng.tensor(&[999, 128], dtype)?;
    let zero = Tensor::zeros((1, 128), dtype, &Device::Cpu)?;
    let tall = Tensor::cat(&[&rows, &zero], 0)?;
    compare(
        table,
        &name("l2_normalize_rows 1000x128", dtype),
        &[tall],
        dev,
        tol(dtype),
        |t, _| la_ops::l2_normalize_rows(&t[0]),
    )?;
    let wide = rng.tensor(&[3, 50_000], dtype)?;
    compare(
        table,
        &name("l2_normalize_rows 3x50000", dtype),
        &[wide],
        dev,
        tol(dtype),
        |t, _| la_ops::l2_normalize_rows(&t[0]),
    )
}

fn topk_cases(dev: &Device, rng: &mut Inputs, table: &mut Table, dtype: DType) -> Result<()> {
    // Few distinct values (ties everywhere), NaN and -0.0 / 0.0, then large rows for the
    // shared-memory sort (k <= 4096 in f32) and the multi-launch sort (larger k, or f64).
    let coarse = (rng.tensor(&[37, 1000], dtype)? * 4.0)?.round()?;
    let mut special = values(&rng.tensor(&[2, 300], DType::F64)?)?;
    special[3] = f64::NAN;
    special[7] = -0.0;
    special[11] = 0.0;
    special[400] = f64::NAN;
    special[401] = f64::NAN;
    let special = Tensor::from_vec(special, (2, 300), &Device::Cpu)?.to_dtype(dtype)?;
    let cases = [
        ("37x1000 ties", coarse, 10),
        (
            "37x1000 ties all",
            (rng.tensor(&[37, 1000], dtype)? * 3.0)?.round()?,
            1000,
        ),
        ("2x300 NaN and zeros", special, 50),
        ("4x1280000", rng.tensor(&[4, 1_280_000], dtype)?, 4096),
        ("3x200000 k=5000", rng.tensor(&[3, 200_000], dtype)?, 5000),
    ];
    for (what, x, k) in cases {
        let (want_v, want_i) = la_ops::topk(&x, k)?;
        let (got_v, got_i) = la_ops::topk(&x.to_device(dev)?, k)?;
        same_indices(
            table,
            name(&format!("topk {what} k={k} indices"), dtype),
            &got_i,
            &want_i,
        )?;
        let (g, w) = (values(&got_v)?, values(&want_v)?);
        let same = g
            .iter()
            .zip(&w)
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
        table.push(Row {
            section: "ops",
            name: name(&format!("topk {what} k={k} values"), dtype),
            value: if same { "identical" } else { "differ" }.into(),
            limit: "identical".into(),
            status: if same { Status::Pass } else { Status::Fail },
        });
    }
    Ok(())
}

/// An index outside its plane is an error naming it, on the GPU as on the CPU.
fn bad_index(dev: &Device, table: &mut Table) -> Result<()> {
    let x = Tensor::new(&[[[[1f32, 2.]]]], dev)?;
    let idx = Tensor::new(&[[[[0u32, 9]]]], dev)?;
    let outcome = match la_ops::max_unpool2d(&x, &idx, (2, 2)) {
        Ok(_) => "no error".to_string(),
        Err(e) => e.to_string(),
    };
    let ok = outcome.contains("index 9");
    table.push(Row {
        section: "ops",
        name: "max_unpool2d out-of-range index on the GPU".into(),
        value: outcome
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect(),
        limit: "an error naming index 9".into(),
        status: if ok { Status::Pass } else { Status::Fail },
    });
    Ok(())
}
