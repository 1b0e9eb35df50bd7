//! Augmented views of the Fisher images (`--augment ref|crop`, docs/reference.md §3.5).
//!
//! REF computes its Fisher on fresh RandomResizedCrop(224) + horizontal-flip views of the task's
//! images (torchvision's train transform); without them the Fisher is taken on exactly the
//! images the head memorised, where a confident head's gradients nearly vanish. Here every
//! `(sample, draw)` gets its own view, seeded by `(seed, sample, draw)` alone — so the same
//! seed gives the same views whatever the batch size, and two draws of one image differ.
//!
//! A view is made as torchvision makes it: an area fraction uniform in [0.08, 1] and a log-uniform
//! aspect ratio in [3/4, 4/3] (ten tries, then the whole image centre-cropped to the nearest
//! allowed ratio), the crop resized straight to `size × size` (triangle filter, i.e. bilinear
//! with antialiasing), flipped with probability ½ for `ref`; then normalised as the probe
//! normalises and forwarded to the split point.
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use image::imageops::FilterType;
use rand::Rng;
use rayon::prelude::*;
use task2vec_data::Dataset;
use task2vec_probe::{Preprocess, Probe};

use crate::error::{FisherError, Result};
use crate::estimator::FisherInputs;
use crate::options::Augment;
use crate::sampler::{Stream, stream_rng};

/// RandomResizedCrop's area range (share of the image) and aspect-ratio range (w / h).
pub const SCALE: (f64, f64) = (0.08, 1.0);
/// See [`SCALE`].
pub const RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);

/// Stored images are at most this many times the input size on their shorter side: a crop of
/// 8 % of the area spans ≈ 28 % of a side, so this keeps its detail at full resolution while
/// bounding memory for large photos.
const MAX_SIDE_FACTOR: u32 = 4;

/// A crop rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width (≥ 1).
    pub width: u32,
    /// Height (≥ 1).
    pub height: u32,
}

/// torchvision's `RandomResizedCrop.get_params` for a `width × height` image.
pub fn random_resized_crop(width: u32, height: u32, rng: &mut impl Rng) -> CropBox {
    let (w, h) = (width as f64, height as f64);
    let area = w * h;
    let (log_lo, log_hi) = (RATIO.0.ln(), RATIO.1.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(SCALE.0..=SCALE.1);
        let ratio = rng.random_range(log_lo..=log_hi).exp();
        let cw = (target * ratio).sqrt().round();
        let ch = (target / ratio).sqrt().round();
        if cw >= 1.0 && ch >= 1.0 && cw <= w && ch <= h {
            let (cw, ch) = (cw as u32, ch as u32);
            return CropBox {
                x: rng.random_range(0..=width - cw),
                y: rng.random_range(0..=height - ch),
                width: cw,
                height: ch,
            };
        }
    }
    // Fallback: the largest centred crop with the ratio clamped to the allowed range.
    let in_ratio = w / h;
    let (cw, ch) = if in_ratio < RATIO.0 {
        (w, (w / RATIO.0).round())
    } else if in_ratio > RATIO.1 {
        ((h * RATIO.1).round(), h)
    } else {
        (w, h)
    };
    let (cw, ch) = (cw.max(1.0) as u32, ch.max(1.0) as u32);
    CropBox {
        x: (width - cw) / 2,
        y: (height - ch) / 2,
        width: cw,
        height: ch,
    }
}

/// One augmented `size × size` view of `image`.
pub fn view(image: &RgbImage, size: u32, flip: bool, rng: &mut impl Rng) -> RgbImage {
    let b = random_resized_crop(image.width(), image.height(), rng);
    let crop = image::imageops::crop_imm(image, b.x, b.y, b.width, b.height).to_image();
    let mut out = image::imageops::resize(&crop, size, size, FilterType::Triangle);
    if flip && rng.random_bool(0.5) {
        image::imageops::flip_horizontal_in_place(&mut out);
    }
    out
}

/// The generator of one view: a function of `(seed, sample, draw)` only.
pub fn view_rng(seed: u64, sample: usize, draw: u64) -> rand_chacha::ChaCha8Rng {
    // SplitMix64 finaliser over the three numbers: distinct triples give unrelated seeds.
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let key = mix(mix(mix(seed) ^ sample as u64) ^ draw);
    stream_rng(key, Stream::Augment)
}

/// The Fisher images, turned into fresh views at the split point on demand. Images are kept
/// decoded (shorter side capped at [`MAX_SIDE_FACTOR`] × the input size) while they fit the
/// memory budget; the others are decoded from the dataset again for every view (a batch's in
/// parallel), so memory does not grow with the number of images past the budget. Either way a
/// view is the same pixels.
pub struct AugmentedInputs<'p> {
    data: Dataset,
    /// Dataset index of each sample.
    indices: Vec<usize>,
    /// The decoded image of each sample that fitted the budget (a prefix of the samples).
    held: Vec<RgbImage>,
    /// Shorter side of a decoded image is shrunk to at most this ([`MAX_SIDE_FACTOR`]).
    side_cap: u32,
    probe: &'p Probe,
    split: usize,
    preprocess: Preprocess,
    flip: bool,
    seed: u64,
    device: Device,
}

impl<'p> AugmentedInputs<'p> {
    /// Views of the images `indices` of `data` (in that order: sample `k` of the inputs is
    /// image `indices[k]`), holding at most `budget` bytes of decoded images. `augment` must
    /// not be [`Augment::None`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        data: &Dataset,
        indices: &[usize],
        augment: Augment,
        probe: &'p Probe,
        split: usize,
        input_size: usize,
        seed: u64,
        budget: u64,
        device: &Device,
    ) -> Result<Self> {
        if augment == Augment::None {
            return Err(FisherError::Unsupported(
                "AugmentedInputs with --augment none: use the cached activations".into(),
            ));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= data.len()) {
            return Err(FisherError::InvalidTask(format!(
                "image {bad} of a dataset of {} images",
                data.len()
            )));
        }
        // The view is already square at the input size: the probe's normalisation only, no
        // second resize or centre crop.
        let preprocess = Preprocess {
            crop_fraction: 1.0,
            ..probe.preprocessor(input_size)
        };
        let side_cap = MAX_SIDE_FACTOR * input_size as u32;
        let mut held = Vec::new();
        let mut held_bytes = 0u64;
        for &i in indices {
            let image = shrink_to(data.load_image(i)?.to_rgb8(), side_cap);
            held_bytes += image.as_raw().len() as u64;
            if held_bytes > budget {
                break;
            }
            held.push(image);
        }
        Ok(Self {
            data: data.clone(),
            indices: indices.to_vec(),
            held,
            side_cap,
            probe,
            split,
            preprocess,
            flip: augment.flips(),
            seed,
            device: device.clone().without_autodiff(),
        })
    }
}

/// `image` scaled down (aspect kept) so that its shorter side is at most `cap`.
fn shrink_to(image: RgbImage, cap: u32) -> RgbImage {
    let shorter = image.width().min(image.height());
    if shorter <= cap {
        return image;
    }
    let scale = cap as f64 / shorter as f64;
    let w = ((image.width() as f64 * scale).round() as u32).max(1);
    let h = ((image.height() as f64 * scale).round() as u32).max(1);
    image::imageops::resize(&image, w, h, FilterType::Triangle)
}

impl FisherInputs for AugmentedInputs<'_> {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn views(&self, items: &[(usize, u64)]) -> Result<Tensor<4>> {
        let size = self.preprocess.size;
        // Each view is a function of (seed, sample, draw) alone, so decoding the batch's
        // images in parallel gives the same values in the same order.
        let (data, indices, held) = (&self.data, &self.indices, &self.held);
        let preprocess = &self.preprocess;
        let (side_cap, seed, flip) = (self.side_cap, self.seed, self.flip);
        let per_view = items
            .par_iter()
            .map(|&(sample, draw)| -> Result<Vec<f32>> {
                let &index = indices.get(sample).ok_or_else(|| {
                    FisherError::InvalidTask(format!(
                        "sample {sample} of {} augmented images",
                        indices.len()
                    ))
                })?;
                let decoded;
                let image = match held.get(sample) {
                    Some(image) => image,
                    None => {
                        decoded = shrink_to(data.load_image(index)?.to_rgb8(), side_cap);
                        &decoded
                    }
                };
                let v = view(image, size as u32, flip, &mut view_rng(seed, sample, draw));
                Ok(preprocess.image_to_chw(&image::DynamicImage::ImageRgb8(v))?)
            })
            .collect::<Result<Vec<_>>>()?;
        let values: Vec<f32> = per_view.concat();
        let x = Tensor::<4>::from_data(
            TensorData::new(values, [items.len(), 3, size, size]),
            &self.device,
        );
        Ok(self.probe.forward_to(self.split, x))
    }

    fn device(&self) -> Device {
        self.device.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_stay_inside_and_follow_the_ranges() {
        let mut rng = view_rng(3, 0, 0);
        for (w, h) in [(28, 28), (640, 480), (50, 400), (1, 1), (3, 2)] {
            for _ in 0..200 {
                let b = random_resized_crop(w, h, &mut rng);
                assert!(b.width >= 1 && b.height >= 1);
                assert!(
                    b.x + b.width <= w && b.y + b.height <= h,
                    "{b:?} in {w}x{h}"
                );
            }
        }
        // On a large square image the first try almost always succeeds: areas and ratios stay
        // in range (up to rounding).
        for _ in 0..500 {
            let b = random_resized_crop(1000, 1000, &mut rng);
            let area = (b.width * b.height) as f64 / 1e6;
            let ratio = b.width as f64 / b.height as f64;
            assert!((0.079..=1.0).contains(&area), "area {area}");
            assert!((0.74..=1.35).contains(&ratio), "ratio {ratio}");
        }
    }

    #[test]
    fn the_fallback_is_the_centred_clamped_crop() {
        // A 1×100 strip: no crop with ratio ≥ 3/4 fits, so the fallback keeps the full width
        // and height w / (3/4) = 1.33 → 1, centred.
        let mut rng = view_rng(0, 0, 0);
        let b = random_resized_crop(1, 100, &mut rng);
        assert_eq!((b.x, b.width), (0, 1));
        assert!(b.height <= 2 && b.y >= 49, "{b:?}");
    }

    #[test]
    fn views_depend_on_seed_sample_and_draw_only() {
        let image = RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 7]));
        let a = view(&image, 16, true, &mut view_rng(1, 2, 3));
        let b = view(&image, 16, true, &mut view_rng(1, 2, 3));
        assert_eq!(a, b);
        assert_eq!(a.dimensions(), (16, 16));
        let others = [(1, 2, 4), (1, 3, 3), (2, 2, 3)];
        for (seed, sample, draw) in others {
            let c = view(&image, 16, true, &mut view_rng(seed, sample, draw));
            assert_ne!(a, c, "({seed}, {sample}, {draw}) gave the same view");
        }
    }

    #[test]
    fn crop_never_flips_and_ref_flips_about_half() {
        // A left-to-right ramp: a flipped view decreases along x.
        let image = RgbImage::from_fn(64, 64, |x, _| image::Rgb([x as u8 * 4, 0, 0]));
        let flipped = |flip: bool, draw: u64| {
            let v = view(&image, 8, flip, &mut view_rng(9, 0, draw));
            v.get_pixel(0, 0)[0] > v.get_pixel(7, 0)[0]
        };
        assert!((0..200).all(|d| !flipped(false, d)));
        let n = (0..400).filter(|&d| flipped(true, d)).count();
        // Binomial(400, ½): mean 200, sd 10; ±50 is 5 sd.
        assert!((150..=250).contains(&n), "{n} of 400 flipped");
    }

    #[test]
    fn large_images_are_shrunk_to_the_cap() {
        let img = RgbImage::new(1000, 600);
        let s = shrink_to(img, 256);
        assert_eq!(s.dimensions(), (427, 256));
        let small = RgbImage::new(20, 30);
        assert_eq!(shrink_to(small, 256).dimensions(), (20, 30));
    }
}
