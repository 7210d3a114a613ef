//! The candle traits of the three batch-normalisation ops (forward, backward, running-estimate
//! update): each dispatches to the CPU kernels (`cpu`) or the CUDA ones (`cuda`, feature
//! `cuda`).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp3, InplaceOp2, Layout, Result, Shape, Tensor};

use super::cpu;
use super::{BatchNorm2d, BatchNorm2dBackward, OP, UpdateRunning};
use crate::cpu::dispatch_float;
#[cfg(feature = "cuda")]
use {super::cuda, crate::cuda::dispatch_gpu, candle_core::CudaStorage};

impl CustomOp3 for BatchNorm2d {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = dispatch_float!(OP, s1, cpu::forward(self, (s1, l1), (s2, l2), (s3, l3)))?;
        Ok((out, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
        s3: &CudaStorage,
        l3: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let out = dispatch_gpu!(OP, s1, cuda::forward(self, (s1, l1), (s2, l2), (s3, l3)))?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let stats = self
            .stats
            .get()
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: backward before forward")))?;
        let op = BatchNorm2dBackward {
            dims: self.dims,
            relu: self.config.relu,
            train: self.running.is_none(),
            weight: weight.contiguous()?,
            stats,
            param_grads: Arc::default(),
        };
        let param_grads = op.param_grads.clone();
        let dx = xs.apply_op3_no_bwd(res, &grad.contiguous()?, &op)?;
        let (dw, db) = param_grads
            .get()
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: no parameter gradients")))?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

impl CustomOp3 for BatchNorm2dBackward {
    fn name(&self) -> &'static str {
        "batch_norm2d_backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dx = dispatch_float!(OP, s1, cpu::backward(self, (s1, l1), (s2, l2), (s3, l3)))?;
        Ok((dx, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
        s3: &CudaStorage,
        l3: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let dx = dispatch_gpu!(OP, s1, cuda::backward(self, (s1, l1), (s2, l2), (s3, l3)))?;
        Ok((dx, l1.shape().clone()))
    }
}

impl InplaceOp2 for UpdateRunning {
    fn name(&self) -> &'static str {
        "batch_norm2d_running_update"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        cpu::update(self, (s1, l1), (s2, l2))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<()> {
        dispatch_gpu!(OP, &*s1, cuda::update(self, s1, l1, (s2, l2)))
    }
}
