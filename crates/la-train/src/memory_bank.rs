//! The memory bank: one L2-normalised embedding per training item, updated by mixing.

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::{Error, Result};

/// An N x D tensor of unit rows, row `i` the running embedding of item `i`.
///
/// The bank is a constant of the losses (no gradient flows into it) and is updated in place by
/// [`update`](Self::update); tensors obtained from [`tensor`](Self::tensor) share its storage,
/// so take a `.copy()` for a snapshot, and back-propagate a loss before updating the bank it
/// was computed with (the backward pass reads the bank rows).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use la_train::MemoryBank;
/// let mut bank = MemoryBank::from_embeddings(&Tensor::new(&[[3f32, 4.], [0., 2.], [1., 0.]], &Device::Cpu)?)?;
/// assert_eq!(bank.tensor().to_vec2::<f32>()?, [[0.6, 0.8], [0., 1.], [1., 0.]]);
/// // Row 1 moves half-way towards (1, 0) and is normalised again.
/// bank.update(&[1], &Tensor::new(&[[1f32, 0.]], &Device::Cpu)?, 0.5)?;
/// let row = bank.tensor().get(1)?.to_vec1::<f32>()?;
/// assert!((row[0] - 0.5f32.sqrt()).abs() < 1e-6 && (row[1] - 0.5f32.sqrt()).abs() < 1e-6);
/// # Ok::<(), la_train::Error>(())
/// ```
///
/// Not `Clone`: a clone would share the storage that [`update`](Self::update) writes in place;
/// copy the tensor and use [`from_tensor`](Self::from_tensor) for an independent bank.
#[derive(Debug)]
pub struct MemoryBank {
    bank: Tensor,
}

/// The background neighbours of a batch: for each embedding, the `k` bank rows of highest
/// cosine similarity (in no particular order).
#[derive(Debug, Clone)]
pub struct Background {
    /// Bank row indices (batch, k), u32.
    pub indices: Tensor,
    /// Their similarities with the embedding (batch, k), constants (no gradient).
    pub similarities: Tensor,
}

impl MemoryBank {
    /// A bank of the rows of `embeddings` (N x D, float), each L2-normalised (a detached copy;
    /// f64 stays f64, any other float type becomes f32).
    pub fn from_embeddings(embeddings: &Tensor) -> Result<Self> {
        check_matrix("embeddings", embeddings)?;
        let dtype = match embeddings.dtype() {
            DType::F64 => DType::F64,
            _ => DType::F32,
        };
        let x = embeddings.detach().to_dtype(dtype)?;
        Ok(Self {
            bank: la_ops::l2_normalize_rows(&x)?.detach().contiguous()?,
        })
    }

    /// A bank of `n` rows drawn uniformly on the unit sphere of dimension `dim` (normalised
    /// standard normal vectors), from `seed`. The Local Aggregation reference instead
    /// normalises uniform draws from a cube (`MemoryBank._create` in
    /// `src/objectives/localagg.py`), which is not uniform on the sphere.
    pub fn random(n: usize, dim: usize, seed: u64, device: &Device) -> Result<Self> {
        if n == 0 || dim == 0 {
            return Err(Error::config(
                "memory_bank.size",
                format!("{n} x {dim}"),
                "at least one row and one column",
            ));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let data: Vec<f32> = (0..n * dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let x = Tensor::from_vec(data, (n, dim), device)?;
        Self::from_embeddings(&x)
    }

    /// A bank holding exactly `bank` (N x D, f32 or f64), as saved in a checkpoint; rows are
    /// not normalised again so that a restored run continues bit for bit.
    pub fn from_tensor(bank: &Tensor) -> Result<Self> {
        check_matrix("memory bank", bank)?;
        if !matches!(bank.dtype(), DType::F32 | DType::F64) {
            return Err(Error::shape(
                "memory bank",
                bank,
                "an f32 or f64 matrix".into(),
            ));
        }
        Ok(Self {
            bank: bank.detach().copy()?,
        })
    }

    /// The bank (N x D, f32 unless built from f64), sharing storage with the bank.
    pub fn tensor(&self) -> &Tensor {
        &self.bank
    }

    /// The number of items N.
    pub fn len(&self) -> usize {
        self.bank.dims()[0]
    }

    /// Whether the bank has no rows (never true for a constructed bank).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The embedding dimension D.
    pub fn dim(&self) -> usize {
        self.bank.dims()[1]
    }

    /// Mixes the embeddings `v` (batch x D, detached here) into the rows `items`:
    /// `bank[i] <- normalise((1 - m) * bank[i] + m * v_i)` (DESIGN.md; the reference code's
    /// `m` weights the old row instead, which is the same at its default 0.5). Items must be
    /// distinct and in range; `m` in 0..=1.
    pub fn update(&mut self, items: &[u32], v: &Tensor, mixing: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&mixing) {
            return Err(Error::config("memory_bank.mixing", mixing, "0 to 1"));
        }
        self.check_batch(v, items.len())?;
        check_items(items, self.len(), "items")?;
        let mut seen = vec![false; self.len()];
        for &i in items {
            if std::mem::replace(&mut seen[i as usize], true) {
                return Err(Error::DuplicateIndex {
                    input: "items",
                    index: i,
                });
            }
        }
        la_ops::mix_rows_in_place(&self.bank, items, v, mixing)?;
        Ok(())
    }

    /// Cosine similarities of the embeddings `v` (batch x D, unit rows, the bank's dtype;
    /// detached here) with every bank row: `v @ bank^T`, (batch, N).
    pub fn similarities(&self, v: &Tensor) -> Result<Tensor> {
        self.check_batch(v, v.dims().first().copied().unwrap_or(0))?;
        let v = v.detach();
        if self.bank.device().is_cpu() {
            // gemm is much faster with the bank's N rows as the long side of the output.
            Ok(la_ops::transpose_contiguous(&la_ops::matmul(
                &self.bank,
                &v.t()?,
            )?)?)
        } else {
            Ok(v.matmul(&self.bank.t()?)?)
        }
    }

    /// The background neighbours of `v` (batch x D, unit rows): the `k` bank rows of highest
    /// cosine similarity over the whole bank (a matrix product and a top-k selection), ties to
    /// the lower row, in no particular order (increasing row on the CPU; the loss does not
    /// need the order and sorting costs more than selecting at k = 4096). `k` is capped at
    /// N - 1 (DESIGN.md). As in the reference (`get_LA_loss` in `model/instance_model.py` of
    /// neuroailab/LocalAggregation: `tf.nn.top_k` of the dot products with the whole bank,
    /// `sorted=False`), an item's own bank row is not excluded: it is normally among its
    /// background neighbours.
    pub fn background_neighbours(&self, v: &Tensor, k: usize) -> Result<Background> {
        let k = self.background_size(k)?;
        let (similarities, indices) = la_ops::topk_unordered(&self.similarities(v)?, k)?;
        Ok(Background {
            indices,
            similarities,
        })
    }

    /// The number of background neighbours asked for `k`: `min(k, N - 1)`; fails for `k = 0`
    /// or a bank of one row.
    pub fn background_size(&self, k: usize) -> Result<usize> {
        if k == 0 {
            return Err(Error::config("background neighbours k", 0, "at least 1"));
        }
        if self.len() < 2 {
            return Err(Error::config(
                "memory bank size",
                self.len(),
                "at least 2 items for background neighbours",
            ));
        }
        Ok(k.min(self.len() - 1))
    }

    /// Checks that `v` is a (rows x D) matrix of the bank's dtype on its device.
    pub(crate) fn check_batch(&self, v: &Tensor, rows: usize) -> Result<()> {
        let expected = || {
            format!(
                "({rows}, {}) {:?} on {:?}, as the bank",
                self.dim(),
                self.bank.dtype(),
                self.bank.device()
            )
        };
        let ok = rows > 0
            && v.dims() == [rows, self.dim()]
            && v.dtype() == self.bank.dtype()
            && v.device().same_device(self.bank.device());
        if ok {
            Ok(())
        } else {
            Err(Error::shape("embeddings", v, expected()))
        }
    }
}

/// Checks that `t` is a non-empty float matrix.
fn check_matrix(input: &'static str, t: &Tensor) -> Result<()> {
    match t.dims() {
        [n, d] if *n > 0 && *d > 0 && t.dtype().is_float() => Ok(()),
        _ => Err(Error::shape(
            input,
            t,
            "a non-empty float matrix (N, D)".into(),
        )),
    }
}

/// Checks that every item index is below `len`.
pub(crate) fn check_items(items: &[u32], len: usize, input: &'static str) -> Result<()> {
    match items.iter().find(|&&i| i as usize >= len) {
        Some(&i) => Err(Error::Index {
            input,
            index: u64::from(i),
            len,
        }),
        None => Ok(()),
    }
}
