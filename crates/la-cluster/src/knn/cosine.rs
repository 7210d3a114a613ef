//! Exact cosine nearest neighbours: dot products of unit rows, chunked over the bank, with
//! la-ops' top-k per chunk and a final top-k over the chunks' candidates.

use candle_core::{D, DType, Tensor};

use super::{NearestNeighbours, Neighbours};
use crate::{Error, ParamsError, Result};

/// By default each matrix product takes this many bank rows.
const BANK_CHUNK: usize = 16384;
/// Similarity blocks hold about this many values.
const BLOCK: usize = 1 << 22;

/// A bank of L2-normalised rows searched exhaustively by cosine similarity.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// use la_cluster::{CosineBank, NearestNeighbours};
/// let bank = Tensor::new(&[[1f32, 0.], [0., 2.], [-1., 0.], [1., 1.]], &Device::Cpu)?;
/// let bank = CosineBank::new(&bank)?;
/// let q = Tensor::new(&[[3f32, 0.1]], &Device::Cpu)?;
/// let nn = bank.k_nearest(&q, 2)?;
/// assert_eq!(nn.indices.to_vec2::<u32>()?, [[0, 3]]);
/// # Ok::<(), la_cluster::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CosineBank {
    bank: Tensor,
    chunk: usize,
}

impl CosineBank {
    /// A bank of the rows of `bank` (n, d; any float dtype), L2-normalised here (in f32).
    pub fn new(bank: &Tensor) -> Result<Self> {
        check_matrix("bank", bank)?;
        let bank = la_ops::l2_normalize_rows(&bank.to_dtype(DType::F32)?)?;
        Ok(Self {
            bank,
            chunk: BANK_CHUNK,
        })
    }

    /// A bank of rows that are already unit vectors (a Local Aggregation memory bank), used
    /// as they are, without a copy when they are f32 and contiguous.
    pub fn from_unit_rows(bank: Tensor) -> Result<Self> {
        check_matrix("bank", &bank)?;
        let bank = bank.to_dtype(DType::F32)?.contiguous()?;
        Ok(Self {
            bank,
            chunk: BANK_CHUNK,
        })
    }

    /// How many bank rows each matrix product takes. By default, 16384. On devices where
    /// la-ops has no top-k kernel (Metal for now) each chunk goes through candle's sort, which
    /// holds a row in GPU shared memory: keep chunks small there (8192).
    pub fn chunk_size(mut self, rows: usize) -> Result<Self> {
        if rows == 0 {
            return Err(ParamsError::ChunkSize.into());
        }
        self.chunk = rows;
        Ok(self)
    }

    /// The unit rows, (n, d) f32.
    pub fn bank(&self) -> &Tensor {
        &self.bank
    }

    /// The top `k` of one block of (normalised) queries against every bank chunk.
    fn search_block(&self, q: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
        let n = self.bank.dim(0)?;
        let mut values = Vec::new();
        let mut indices = Vec::new();
        for start in (0..n).step_by(self.chunk) {
            let rows = self.chunk.min(n - start);
            let sims = la_ops::matmul(q, &self.bank.narrow(0, start, rows)?.t()?)?;
            let (v, i) = la_ops::topk(&sims, k.min(rows))?;
            values.push(v);
            indices.push((i + start as f64)?);
        }
        if values.len() == 1 {
            return Ok((values.remove(0), indices.remove(0)));
        }
        // Chunks come in bank order and each is sorted with ties by index, so the position in
        // the concatenation breaks ties by bank index, as within a chunk.
        let (v, at) = la_ops::topk(&Tensor::cat(&values, 1)?, k)?;
        Ok((
            v,
            Tensor::cat(&indices, 1)?
                .contiguous()?
                .gather(&at, D::Minus1)?,
        ))
    }
}

impl NearestNeighbours for CosineBank {
    fn len(&self) -> usize {
        self.bank.dims()[0]
    }

    /// The queries are L2-normalised first (the bank's own rows, [`CosineBank::bank`], are
    /// used as they are), so similarities are cosines in [-1, 1]. Ties go to the lower bank
    /// index.
    fn k_nearest(&self, queries: &Tensor, k: usize) -> Result<Neighbours> {
        check_matrix("queries", queries)?;
        let d = self.bank.dim(1)?;
        if queries.dim(1)? != d {
            return Err(Error::Shape {
                input: "queries",
                got: queries.dims().to_vec(),
                expected: format!("{d} features, as the bank"),
            });
        }
        if k == 0 {
            return Err(ParamsError::K.into());
        }
        if k > self.len() {
            return Err(Error::TooFewRows {
                input: "bank",
                got: self.len(),
                needed: k,
            });
        }
        // The bank's own rows (a self-search) are unit already: no second normalised copy
        // (1.2 GB for 2,000 raw 224-pixel images).
        let q = match queries.id() == self.bank.id() {
            true => queries.clone(),
            false => la_ops::l2_normalize_rows(&queries.to_dtype(DType::F32)?)?,
        };
        let n_q = q.dim(0)?;
        let block = (BLOCK / self.chunk.min(self.len())).max(1);
        let mut sims = Vec::new();
        let mut ids = Vec::new();
        for start in (0..n_q).step_by(block) {
            let (s, i) = self.search_block(&q.narrow(0, start, block.min(n_q - start))?, k)?;
            sims.push(s);
            ids.push(i);
        }
        if sims.is_empty() {
            let empty = |dtype| Tensor::zeros((0, k), dtype, q.device());
            return Ok(Neighbours {
                similarities: empty(DType::F32)?,
                indices: empty(DType::U32)?,
            });
        }
        Ok(Neighbours {
            similarities: Tensor::cat(&sims, 0)?,
            indices: Tensor::cat(&ids, 0)?,
        })
    }
}

fn check_matrix(input: &'static str, x: &Tensor) -> Result<()> {
    match *x.dims() {
        [_, d] if d > 0 && x.dtype().is_float() => Ok(()),
        _ => Err(Error::Shape {
            input,
            got: x.dims().to_vec(),
            expected: format!("a float matrix (rows, features), got dtype {:?}", x.dtype()),
        }),
    }
}
