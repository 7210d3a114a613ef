//! Per-channel normalisation of 8-bit RGB images into `(N, 3, H, W)` f32 tensors, and back.

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Maps a sample `v` of channel `c` to `(v / 255 - mean[c]) / std[c]`, and back.
///
/// ```
/// use la_data::Normalize;
/// let n = Normalize::IMAGENET;
/// let image = image::RgbImage::from_pixel(2, 2, image::Rgb([255, 128, 0]));
/// let t = n.to_tensor(&[image.clone()], &candle_core::Device::Cpu)?;
/// assert_eq!(t.dims(), &[1, 3, 2, 2]);
/// let red = t.get(0)?.get(0)?.get(0)?.get(0)?.to_scalar::<f32>()?;
/// assert!((red - (1.0 - 0.485) / 0.229).abs() < 1e-6);
/// assert_eq!(n.to_images(&t)?[0], image);
/// # Ok::<(), la_data::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    mean: [f32; 3],
    std: [f32; 3],
}

impl Normalize {
    /// The ImageNet statistics torchvision's pretrained models (vgg16_bn included) expect:
    /// mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225). The same values as timm's
    /// `vgg16_bn.tv_in1k` configuration; la-data does not depend on the model crates, so a
    /// model variant with other statistics passes its own to [`Normalize::new`].
    pub const IMAGENET: Normalize = Normalize {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Custom statistics; every std must be positive and every value finite.
    pub fn new(mean: [f32; 3], std: [f32; 3]) -> Result<Self> {
        if !mean.iter().all(|m| m.is_finite()) {
            return Err(Error::config(
                "normalisation mean",
                format!("{mean:?}"),
                "finite values",
            ));
        }
        if !std.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(Error::config(
                "normalisation std",
                format!("{std:?}"),
                "finite values > 0",
            ));
        }
        Ok(Normalize { mean, std })
    }

    /// The per-channel means.
    pub fn mean(&self) -> [f32; 3] {
        self.mean
    }

    /// The per-channel standard deviations.
    pub fn std(&self) -> [f32; 3] {
        self.std
    }

    /// Normalises images of one size into an `(N, 3, H, W)` f32 tensor on `device`.
    pub fn to_tensor(&self, images: &[RgbImage], device: &Device) -> Result<Tensor> {
        let (w, h) = images.first().map_or((0, 0), |i| i.dimensions());
        if let Some(bad) = images.iter().find(|i| i.dimensions() != (w, h)) {
            return Err(Error::ImageSize {
                what: "a batch of images".into(),
                width: bad.width(),
                height: bad.height(),
                expected: format!("{w}x{h} like the first image"),
            });
        }
        let plane = (w * h) as usize;
        let mut data = vec![0f32; images.len() * 3 * plane];
        let table = self.table();
        data.par_chunks_mut(3 * plane.max(1))
            .zip(images.par_iter())
            .for_each(|(out, image)| write_chw(&table, image, out));
        Ok(Tensor::from_vec(
            data,
            (images.len(), 3, h as usize, w as usize),
            device,
        )?)
    }

    /// Undoes the normalisation: an `(N, 3, H, W)` or `(3, H, W)` tensor (any float dtype, any
    /// device) to 8-bit images, rounding and clipping to `[0, 255]`.
    pub fn to_images(&self, tensor: &Tensor) -> Result<Vec<RgbImage>> {
        let t = match tensor.rank() {
            3 => tensor.unsqueeze(0)?,
            _ => tensor.clone(),
        };
        let dims = t.dims().to_vec();
        if dims.len() != 4 || dims[1] != 3 {
            return Err(Error::TensorShape {
                what: "un-normalising images",
                shape: tensor.dims().to_vec(),
                expected: "(N, 3, H, W) or (3, H, W)",
            });
        }
        let (h, w) = (dims[2], dims[3]);
        let values = t
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let plane = h * w;
        let images = values
            .chunks(3 * plane.max(1))
            .take(dims[0])
            .map(|chw| {
                RgbImage::from_fn(w as u32, h as u32, |x, y| {
                    let at = y as usize * w + x as usize;
                    image::Rgb(std::array::from_fn(|c| {
                        let v = (chw[c * plane + at] * self.std[c] + self.mean[c]) * 255.0;
                        v.round().clamp(0.0, 255.0) as u8
                    }))
                })
            })
            .collect();
        Ok(images)
    }

    /// Undoes the normalisation on the tensor's device: an `(N, 3, H, W)` tensor of normalised
    /// values back to sample values in `[0, 1]` (the raw pixels, without rounding).
    pub fn to_unit_range(&self, tensor: &Tensor) -> Result<Tensor> {
        if tensor.rank() != 4 || tensor.dim(1)? != 3 {
            return Err(Error::TensorShape {
                what: "un-normalising images",
                shape: tensor.dims().to_vec(),
                expected: "(N, 3, H, W)",
            });
        }
        let per_channel = |v: [f32; 3]| {
            Tensor::new(&v, tensor.device())?
                .to_dtype(tensor.dtype())?
                .reshape((1, 3, 1, 1))
        };
        Ok(tensor
            .broadcast_mul(&per_channel(self.std)?)?
            .broadcast_add(&per_channel(self.mean)?)?)
    }

    /// The normalised value of every sample value, per channel.
    pub(crate) fn table(&self) -> [[f32; 256]; 3] {
        std::array::from_fn(|c| {
            std::array::from_fn(|v| (v as f32 / 255.0 - self.mean[c]) / self.std[c])
        })
    }
}

/// Writes `image` as three normalised planes into `out` (length `3 * w * h`).
pub(crate) fn write_chw(table: &[[f32; 256]; 3], image: &RgbImage, out: &mut [f32]) {
    let plane = (image.width() * image.height()) as usize;
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, p) in image.pixels().enumerate() {
        r[i] = table[0][usize::from(p[0])];
        g[i] = table[1][usize::from(p[1])];
        b[i] = table[2][usize::from(p[2])];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_values_match_a_naive_loop() {
        let n = Normalize::new([0.1, 0.5, 0.9], [0.2, 0.25, 0.5]).unwrap();
        let images: Vec<RgbImage> = (0..2)
            .map(|k| {
                RgbImage::from_fn(3, 2, |x, y| {
                    image::Rgb([(x * 50 + k) as u8, (y * 90) as u8, 255 - x as u8])
                })
            })
            .collect();
        let t = n.to_tensor(&images, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[2, 3, 2, 3]);
        let all: Vec<Vec<Vec<Vec<f32>>>> = (0..2)
            .map(|k| t.get(k).unwrap().to_vec3::<f32>().unwrap())
            .collect();
        for (k, image) in images.iter().enumerate() {
            for (x, y, p) in image.enumerate_pixels() {
                for c in 0..3 {
                    let expected = (f32::from(p[c]) / 255.0 - n.mean[c]) / n.std[c];
                    let got = all[k][c][y as usize][x as usize];
                    assert!((got - expected).abs() < 1e-6, "({k},{c},{y},{x})");
                }
            }
        }
        assert_eq!(n.to_images(&t).unwrap(), images);
        assert_eq!(
            n.to_images(&t.get(1).unwrap()).unwrap(),
            vec![images[1].clone()]
        );
    }

    #[test]
    fn to_unit_range_gives_back_the_sample_values() {
        let n = Normalize::new([0.1, 0.5, 0.9], [0.2, 0.25, 0.5]).unwrap();
        let image = RgbImage::from_fn(2, 3, |x, y| image::Rgb([(x * 90) as u8, (y * 70) as u8, 7]));
        let t = n
            .to_tensor(std::slice::from_ref(&image), &Device::Cpu)
            .unwrap();
        let unit = n.to_unit_range(&t).unwrap().get(0).unwrap();
        let planes = unit.to_vec3::<f32>().unwrap();
        for (x, y, p) in image.enumerate_pixels() {
            for (c, plane) in planes.iter().enumerate() {
                let got = plane[y as usize][x as usize];
                assert!(
                    (got - f32::from(p[c]) / 255.0).abs() < 1e-6,
                    "({c},{y},{x})"
                );
            }
        }
        assert!(
            n.to_unit_range(&unit).is_err(),
            "a (3, H, W) tensor is refused"
        );
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert!(Normalize::new([0.0; 3], [1.0, 0.0, 1.0]).is_err());
        assert!(Normalize::new([f32::NAN, 0.0, 0.0], [1.0; 3]).is_err());
        let mixed = [RgbImage::new(2, 2), RgbImage::new(2, 3)];
        assert!(Normalize::IMAGENET.to_tensor(&mixed, &Device::Cpu).is_err());
        let wrong = Tensor::zeros((1, 4, 2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(
            Normalize::IMAGENET.to_images(&wrong),
            Err(Error::TensorShape { .. })
        ));
    }

    #[test]
    fn to_images_clips_out_of_range_values() {
        let t = Tensor::new(&[[[[100f32]], [[-100f32]], [[0f32]]]], &Device::Cpu).unwrap();
        let image = &Normalize::IMAGENET.to_images(&t).unwrap()[0];
        assert_eq!(
            image.get_pixel(0, 0).0,
            [255, 0, (0.406f32 * 255.0).round() as u8]
        );
    }
}
