//! Which implementation an op takes for a device: la-ops' own kernels or the generic path.

use candle_core::Device;

/// Whether la-ops has its own kernels for tensors on `device`: always on the CPU, on CUDA with
/// the `cuda` feature; every other device takes the generic path.
pub(crate) fn has_kernels(device: &Device) -> bool {
    device.is_cpu() || (cfg!(feature = "cuda") && device.is_cuda())
}
