//! The data matrix as k-means sees it: f32, contiguous, validated, with squared row norms.

use candle_core::{DType, Device, Storage, Tensor};

use crate::{Error, Result};

/// `n` points of dimension `d` (rows of `x`) and what every iteration needs of them.
pub(crate) struct Points {
    /// The points, (n, d) f32, contiguous, on the caller's device.
    pub x: Tensor,
    /// |x_i|^2 for every row, on the CPU.
    pub sq_norms: Vec<f32>,
    /// The number of points.
    pub n: usize,
    /// Their dimension.
    pub d: usize,
}

impl Points {
    /// Checks that `x` is a 2-d float tensor of finite values, converts it to contiguous f32 and,
    /// for the cosine metric, L2-normalises its rows.
    pub fn new(input: &'static str, x: &Tensor, normalize: bool) -> Result<Self> {
        let (n, d) = dims2(input, x)?;
        if !x.dtype().is_float() {
            return Err(Error::Shape {
                input,
                got: x.dims().to_vec(),
                expected: format!("a float tensor, got dtype {:?}", x.dtype()),
            });
        }
        let mut x = x.to_dtype(DType::F32)?.contiguous()?;
        if normalize {
            x = la_ops::l2_normalize_rows(&x)?;
        }
        let sq_norms: Vec<f32> = x.sqr()?.sum(1)?.to_vec1()?;
        if sq_norms.iter().any(|v| !v.is_finite()) {
            return Err(Error::NotFinite { input });
        }
        Ok(Self { x, sq_norms, n, d })
    }

    /// The device the points live on.
    pub fn device(&self) -> &Device {
        self.x.device()
    }

    /// The rows `ids` of the points, row-major, on the CPU.
    pub fn rows(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let ids = Tensor::from_slice(ids, ids.len(), self.device())?;
        Ok(self.x.index_select(&ids, 0)?.flatten_all()?.to_vec1()?)
    }

    /// The mean over the features of the per-feature variance of the points, which scales the
    /// convergence tolerance (as scikit-learn does).
    pub fn mean_variance(&self) -> Result<f64> {
        let mean: Vec<f32> = self.x.mean(0)?.to_vec1()?;
        let mean_sq: f64 = mean.iter().map(|&m| f64::from(m) * f64::from(m)).sum();
        let total: f64 = self.sq_norms.iter().map(|&v| f64::from(v)).sum();
        Ok(((total / self.n as f64 - mean_sq) / self.d as f64).max(0.0))
    }
}

/// The two dimensions of a matrix, or an error naming the input.
pub(crate) fn dims2(input: &'static str, x: &Tensor) -> Result<(usize, usize)> {
    match *x.dims() {
        [n, d] if d > 0 => Ok((n, d)),
        _ => Err(Error::Shape {
            input,
            got: x.dims().to_vec(),
            expected: "a matrix (rows, features) with at least one feature".into(),
        }),
    }
}

/// Runs `f` on the elements of a contiguous f32 tensor when it lives on the CPU, without a
/// copy; `None` for tensors on other devices (or of other dtypes or layouts).
pub(crate) fn on_cpu<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return None;
    };
    let data = cpu.as_slice::<f32>().ok()?;
    let (start, end) = layout.contiguous_offsets()?;
    Some(f(&data[start..end]))
}
