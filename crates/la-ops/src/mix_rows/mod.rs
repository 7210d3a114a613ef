//! `mix_rows_in_place`: rows of a matrix moved towards new values and normalised again, in
//! place (a memory bank's update).
//!
//! The CPU kernel (in `cpu`) updates each row in one pass; other devices take the generic path
//! of `generic` (gather, mix, normalise, scatter).

mod cpu;
pub(crate) mod generic;

use candle_core::{CpuStorage, InplaceOp2, Layout, Result, Tensor};

use crate::{OpError, check};

const OP: &str = "mix_rows_in_place";

/// For each `r`, row `rows[r]` of `bank` (N, D; f32 or f64, contiguous) becomes
/// `normalise((1 - mixing) * bank[rows[r]] + mixing * v[r])`, in place, with `v` (rows.len(), D)
/// of the bank's dtype and device (not differentiated) and the norm floored at 1e-12 as in
/// [`l2_normalize_rows`](crate::l2_normalize_rows). Other rows are unchanged, and tensors
/// sharing the bank's storage see the change.
///
/// Fails, naming the op, when a row is out of range or appears twice, when `mixing` is not in
/// 0..=1, or when the shapes, dtypes or devices do not fit.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let bank = Tensor::new(&[[1f32, 0.], [0., 1.]], &Device::Cpu)?;
/// let v = Tensor::new(&[[0f32, 1.]], &Device::Cpu)?;
/// la_ops::mix_rows_in_place(&bank, &[0], &v, 0.5)?;
/// let h = 0.5f32.sqrt();
/// assert_eq!(bank.to_vec2::<f32>()?, [[h, h], [0., 1.]]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn mix_rows_in_place(bank: &Tensor, rows: &[u32], v: &Tensor, mixing: f64) -> Result<()> {
    validate(bank, rows, v, mixing)?;
    if bank.device().is_cpu() {
        bank.inplace_op2(&v.detach().contiguous()?, &MixRows { rows, mixing })
    } else {
        generic::mix(bank, rows, v, mixing)
    }
}

/// Checks the bank, the rows, the new values and the mixing weight.
fn validate(bank: &Tensor, rows: &[u32], v: &Tensor, mixing: f64) -> Result<()> {
    check::float(OP, "bank", bank)?;
    let (n, d) = check::dims2(OP, "bank", bank)?;
    if !bank.is_contiguous() {
        return Err(OpError::Shape {
            op: OP,
            input: "bank",
            got: bank.dims().to_vec(),
            expected: "a contiguous matrix (its rows are written in place)".into(),
        }
        .into());
    }
    check::shape_is(OP, "values", v, &[rows.len(), d])?;
    check::dtype_is(OP, "values", v, bank.dtype(), "the dtype of the bank")?;
    check::same_device(OP, "values", v, bank)?;
    if !(0.0..=1.0).contains(&mixing) {
        return Err(param("mixing", mixing, "between 0 and 1".into()));
    }
    let mut seen = vec![false; n];
    for &r in rows {
        match seen.get_mut(r as usize) {
            None => return Err(param("rows", r, format!("below the {n} bank rows"))),
            Some(true) => return Err(param("rows", r, "each row at most once".into())),
            Some(s) => *s = true,
        }
    }
    Ok(())
}

fn param(param: &'static str, got: impl ToString, expected: String) -> candle_core::Error {
    OpError::Param {
        op: OP,
        param,
        got: got.to_string(),
        expected,
    }
    .into()
}

/// The update as an in-place candle op on (bank, values).
struct MixRows<'a> {
    rows: &'a [u32],
    mixing: f64,
}

impl InplaceOp2 for MixRows<'_> {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        bank: &mut CpuStorage,
        lb: &Layout,
        v: &CpuStorage,
        lv: &Layout,
    ) -> Result<()> {
        cpu::mix(OP, (bank, lb), (v, lv), self.rows, self.mixing)
    }
}
