//! Image preprocessing per probe: decode, grayscale → RGB, resize the shorter side, centre
//! crop, normalise.
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use image::DynamicImage;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

use crate::ProbeError;

/// How a probe wants its input images.
///
/// Pixels are scaled to [0, 1], then each channel is normalised as `(p - mean) / std`.
/// The shorter side is resized to `size / crop_fraction` and the centre `size × size` is kept
/// (torchvision's Resize(256) + CenterCrop(224) for `size` 224 and fraction 0.875).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Side of the square network input.
    pub size: usize,
    /// The crop's share of the resized shorter side (1.0: resize straight to `size`).
    pub crop_fraction: f32,
    /// Per-channel mean (RGB) of pixels in [0, 1].
    pub mean: [f32; 3],
    /// Per-channel standard deviation (RGB) of pixels in [0, 1].
    pub std: [f32; 3],
}

impl Preprocess {
    /// torchvision's ImageNet normalisation (ResNets).
    pub fn imagenet(size: usize) -> Preprocess {
        Preprocess {
            size,
            crop_fraction: 0.875,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// EfficientNet-Lite's TF-style scaling `(x - 127) / 128` of 0..255 pixels
    /// (MEAN_RGB = 127, STDDEV_RGB = 128 in the reference efficientnet_lite_builder.py).
    pub fn efficientnet_lite(size: usize) -> Preprocess {
        Preprocess {
            size,
            crop_fraction: 0.875,
            mean: [127.0 / 255.0; 3],
            std: [128.0 / 255.0; 3],
        }
    }

    /// The same normalisation at another input size.
    pub fn with_size(mut self, size: usize) -> Preprocess {
        self.size = size;
        self
    }

    /// Checks the options once (a zero size or a crop fraction outside (0, 1] is an error).
    pub fn validate(&self) -> Result<(), ProbeError> {
        if self.size == 0 {
            return Err(ProbeError::Preprocess("size must be positive".into()));
        }
        if !(self.crop_fraction > 0.0 && self.crop_fraction <= 1.0) {
            return Err(ProbeError::Preprocess(format!(
                "crop fraction {} is not in (0, 1]",
                self.crop_fraction
            )));
        }
        // NaN fails this too.
        if self.std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(ProbeError::Preprocess("std must be positive".into()));
        }
        Ok(())
    }

    /// One image as normalised CHW values (3 × size × size).
    pub fn image_to_chw(&self, image: &DynamicImage) -> Result<Vec<f32>, ProbeError> {
        self.validate()?;
        let rgb = image.to_rgb8(); // grayscale and alpha images become plain RGB
        let (w, h) = rgb.dimensions();
        if w == 0 || h == 0 {
            return Err(ProbeError::Preprocess("empty image".into()));
        }
        let shorter = (self.size as f32 / self.crop_fraction)
            .round()
            .max(self.size as f32) as u32;
        let (nw, nh) = if w <= h {
            (
                shorter,
                ((h as f64 * shorter as f64 / w as f64).round() as u32).max(shorter),
            )
        } else {
            (
                ((w as f64 * shorter as f64 / h as f64).round() as u32).max(shorter),
                shorter,
            )
        };
        let resized = image::imageops::resize(&rgb, nw, nh, FilterType::Triangle);
        let s = self.size as u32;
        let (left, top) = ((nw - s) / 2, (nh - s) / 2);
        let n = self.size * self.size;
        let mut out = vec![0f32; 3 * n];
        for y in 0..s {
            for x in 0..s {
                let p = resized.get_pixel(left + x, top + y);
                let i = (y * s + x) as usize;
                for c in 0..3 {
                    out[c * n + i] = (f32::from(p[c]) / 255.0 - self.mean[c]) / self.std[c];
                }
            }
        }
        Ok(out)
    }

    /// A batch `[N, 3, size, size]` on `device`.
    pub fn batch(&self, images: &[DynamicImage], device: &Device) -> Result<Tensor<4>, ProbeError> {
        let mut values = Vec::with_capacity(images.len() * 3 * self.size * self.size);
        for image in images {
            values.extend(self.image_to_chw(image)?);
        }
        let data = TensorData::new(values, [images.len(), 3, self.size, self.size]);
        Ok(Tensor::from_data(data, device))
    }

    /// Decodes the files (JPEG or PNG) and makes a batch.
    pub fn batch_from_files<P: AsRef<Path>>(
        &self,
        paths: &[P],
        device: &Device,
    ) -> Result<Tensor<4>, ProbeError> {
        let images = paths
            .iter()
            .map(|p| load_image(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch(&images, device)
    }
}

/// Decodes an image file (JPEG or PNG).
pub fn load_image(path: &Path) -> Result<DynamicImage, ProbeError> {
    image::ImageReader::open(path)
        .map_err(|error| ProbeError::Io {
            path: path.to_path_buf(),
            error,
        })?
        .with_guessed_format()
        .map_err(|error| ProbeError::Io {
            path: path.to_path_buf(),
            error,
        })?
        .decode()
        .map_err(|error| ProbeError::Image {
            path: path.to_path_buf(),
            error,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grayscale_becomes_three_equal_normalised_channels() {
        // A 4x8 gray image with value 51 (= 0.2): resized and cropped to 4x4, all pixels 0.2.
        let gray = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(4, 8, image::Luma([51])));
        let p = Preprocess {
            size: 4,
            crop_fraction: 1.0,
            mean: [0.1, 0.2, 0.0],
            std: [0.5, 1.0, 0.25],
        };
        let chw = p.image_to_chw(&gray).unwrap();
        assert_eq!(chw.len(), 3 * 16);
        let expect = [(0.2 - 0.1) / 0.5, 0.0, 0.2 / 0.25];
        for c in 0..3 {
            for v in &chw[c * 16..(c + 1) * 16] {
                assert!(
                    (v - expect[c]).abs() < 1e-6,
                    "channel {c}: {v} vs {}",
                    expect[c]
                );
            }
        }
    }

    #[test]
    fn centre_crop_keeps_the_middle() {
        // 6 wide, 2 high: left third black, middle white, right third black. Shorter side 2 ->
        // size 2 without resizing; the centre 2x2 is columns 2..4, all white.
        let mut img = image::RgbImage::new(6, 2);
        for y in 0..2 {
            for x in 2..4 {
                img.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let p = Preprocess {
            size: 2,
            crop_fraction: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        let chw = p.image_to_chw(&DynamicImage::ImageRgb8(img)).unwrap();
        assert!(chw.iter().all(|&v| (v - 1.0).abs() < 1e-6), "{chw:?}");
    }

    #[test]
    fn invalid_options_are_errors() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::new(4, 4));
        assert!(Preprocess::imagenet(0).image_to_chw(&img).is_err());
        let mut p = Preprocess::imagenet(4);
        p.crop_fraction = 1.5;
        assert!(p.image_to_chw(&img).is_err());
    }
}
