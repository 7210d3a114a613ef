//! Seeded initialisation (candle cannot seed its CPU generator): torchvision's VGG scheme for
//! the encoder and the head, PyTorch's default for the decoder's transposed convolutions, as
//! in the reference implementation.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Normal};

use crate::Result;

/// A deterministic stream of initial values; layers draw from it in construction order.
pub(crate) struct Init {
    rng: StdRng,
    device: Device,
}

impl Init {
    pub fn new(seed: u64, device: &Device) -> Self {
        Init {
            rng: StdRng::seed_from_u64(seed),
            device: device.clone(),
        }
    }

    /// Kaiming normal, fan-out mode, ReLU gain: N(0, 2 / (out_channels * kh * kw)), for a
    /// conv weight (out, in, kh, kw) as torchvision's VGG.
    pub fn kaiming_fan_out(&mut self, dims: [usize; 4]) -> Result<Tensor> {
        let fan_out = dims[0] * dims[2] * dims[3];
        self.normal(&dims, (2.0 / fan_out as f64).sqrt())
    }

    /// PyTorch's default for a transposed conv weight (in, out, kh, kw) and its bias:
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = out * kh * kw.
    pub fn torch_default_transposed(&mut self, dims: [usize; 4]) -> Result<(Tensor, Tensor)> {
        let bound = 1.0 / ((dims[1] * dims[2] * dims[3]) as f64).sqrt();
        Ok((
            self.uniform(&dims, bound)?,
            self.uniform(&[dims[1]], bound)?,
        ))
    }

    /// PyTorch's default for a linear layer's weight (out, in) and bias:
    /// U(-1/sqrt(in), 1/sqrt(in)) for both (`nn.Linear.reset_parameters`).
    pub fn torch_default_linear(&mut self, out: usize, fan_in: usize) -> Result<(Tensor, Tensor)> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        Ok((
            self.uniform(&[out, fan_in], bound)?,
            self.uniform(&[out], bound)?,
        ))
    }

    /// N(0, std^2) values of the given dimensions.
    pub fn normal(&mut self, dims: &[usize], std: f64) -> Result<Tensor> {
        let dist = Normal::new(0.0, std).expect("a finite, positive standard deviation");
        let n = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| dist.sample(&mut self.rng) as f32).collect();
        Ok(Tensor::from_vec(v, dims, &self.device)?)
    }

    fn uniform(&mut self, dims: &[usize], bound: f64) -> Result<Tensor> {
        let n = dims.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| self.rng.random_range(-bound..bound) as f32)
            .collect();
        Ok(Tensor::from_vec(v, dims, &self.device)?)
    }

    pub fn constant(&self, dims: &[usize], value: f64) -> Result<Tensor> {
        Ok((Tensor::ones(dims, DType::F32, &self.device)? * value)?)
    }
}
