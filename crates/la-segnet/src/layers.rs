//! The building blocks: a 3x3 convolution (plain or transposed) and a batch norm, each holding
//! its variables under a checkpoint name prefix.

use candle_core::{Tensor, Var};
use la_ops::{
    BatchNormConfig, BatchNormMode, NormConvOutput, NormPrologue, batch_norm2d, conv_transpose2d,
    conv2d, norm_conv2d,
};

use crate::Result;
use crate::init::Init;
use crate::params::{Param, ParamGroup, Role, param, value};

/// A stride-1, padding-1 3x3 convolution with bias; `transposed` makes it a
/// `ConvTranspose2d` with weight (in, out, 3, 3).
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    pub name: String,
    weight: Var,
    bias: Var,
    transposed: bool,
}

impl Conv {
    /// An encoder convolution, initialised as torchvision's VGG (Kaiming fan-out, bias 0).
    pub fn encoder(name: String, c_in: usize, c_out: usize, init: &mut Init) -> Result<Self> {
        Ok(Conv {
            name,
            weight: Var::from_tensor(&init.kaiming_fan_out([c_out, c_in, 3, 3])?)?,
            bias: Var::from_tensor(&init.constant(&[c_out], 0.0)?)?,
            transposed: false,
        })
    }

    /// A decoder transposed convolution, initialised as PyTorch's default.
    pub fn decoder(name: String, c_in: usize, c_out: usize, init: &mut Init) -> Result<Self> {
        let (w, b) = init.torch_default_transposed([c_in, c_out, 3, 3])?;
        Ok(Conv {
            name,
            weight: Var::from_tensor(&w)?,
            bias: Var::from_tensor(&b)?,
            transposed: true,
        })
    }

    pub fn forward(&self, xs: &Tensor, frozen: bool) -> Result<Tensor> {
        let (w, b) = (value(&self.weight, frozen), value(&self.bias, frozen));
        Ok(if self.transposed {
            conv_transpose2d(xs, &w, Some(&b), 1)?
        } else {
            conv2d(xs, &w, Some(&b), 1)?
        })
    }

    /// This (plain) convolution of `norm`'s output, pooled first if `pool`, as one op that keeps
    /// only `xs` (the previous block's convolution output) for backward.
    pub fn forward_after(
        &self,
        xs: &Tensor,
        norm: &Norm,
        pool: bool,
        train: bool,
        frozen: bool,
    ) -> Result<NormConvOutput> {
        debug_assert!(
            !self.transposed,
            "a decoder block never takes a norm prologue"
        );
        let (w, b) = (value(&self.weight, frozen), value(&self.bias, frozen));
        let (nw, nb) = (value(&norm.weight, frozen), value(&norm.bias, frozen));
        let prologue = NormPrologue {
            weight: &nw,
            bias: &nb,
            mode: norm.mode(train),
            config: norm.config,
            pool,
        };
        Ok(norm_conv2d(xs, prologue, &w, Some(&b), 1)?)
    }

    pub fn variables(&self, group: ParamGroup, out: &mut Vec<Param>) {
        out.push(param(
            &self.name,
            "weight",
            &self.weight,
            group,
            Role::Weight,
        ));
        out.push(param(&self.name, "bias", &self.bias, group, Role::Bias));
    }
}

/// BatchNorm2d with running estimates, optionally fused with the ReLU that follows it.
#[derive(Debug, Clone)]
pub(crate) struct Norm {
    pub name: String,
    weight: Var,
    bias: Var,
    running_mean: Var,
    running_var: Var,
    config: BatchNormConfig,
}

impl Norm {
    /// Weight 1, bias 0, running mean 0, running variance 1, as PyTorch.
    pub fn new(name: String, channels: usize, relu: bool, init: &Init) -> Result<Self> {
        let var =
            |v: f64| -> Result<Var> { Ok(Var::from_tensor(&init.constant(&[channels], v)?)?) };
        Ok(Norm {
            name,
            weight: var(1.0)?,
            bias: var(0.0)?,
            running_mean: var(0.0)?,
            running_var: var(1.0)?,
            config: BatchNormConfig {
                relu,
                ..Default::default()
            },
        })
    }

    pub fn forward_t(&self, xs: &Tensor, train: bool, frozen: bool) -> Result<Tensor> {
        let (w, b) = (value(&self.weight, frozen), value(&self.bias, frozen));
        Ok(batch_norm2d(xs, &w, &b, self.mode(train), self.config)?)
    }

    /// Batch statistics (running estimates updated) when training, else the running estimates.
    fn mode(&self, train: bool) -> BatchNormMode<'_> {
        if train {
            BatchNormMode::Train {
                running_mean: &self.running_mean,
                running_var: &self.running_var,
            }
        } else {
            BatchNormMode::Eval {
                running_mean: self.running_mean.as_tensor(),
                running_var: self.running_var.as_tensor(),
            }
        }
    }

    pub fn variables(&self, group: ParamGroup, out: &mut Vec<Param>) {
        let n = &self.name;
        out.push(param(n, "weight", &self.weight, group, Role::NormWeight));
        out.push(param(n, "bias", &self.bias, group, Role::NormBias));
        out.push(param(
            n,
            "running_mean",
            &self.running_mean,
            group,
            Role::RunningMean,
        ));
        out.push(param(
            n,
            "running_var",
            &self.running_var,
            group,
            Role::RunningVar,
        ));
    }
}
