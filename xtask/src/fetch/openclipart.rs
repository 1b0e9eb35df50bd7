//! Openclipart (Debian `openclipart-png`): `png/<category>/<subcategory>/**/*.png` becomes one
//! ImageFolder per category, `openclipart/<category>/<subcategory>/<name>.png`, images fitted
//! into 64×64 (aspect kept), alpha flattened on white, RGB. Files directly in a category folder
//! (no subcategory) are left out; so are subcategories with fewer than MIN_PER_CLASS images and
//! categories left with fewer than two subcategories, and the few drawings over MAX_PIXELS.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use image::{DynamicImage, Rgb, RgbImage, imageops::FilterType};

pub const SIZE: u32 = 64;
pub const MIN_PER_CLASS: usize = 10;
/// Larger drawings are left out (and reported).
pub const MAX_PIXELS: u64 = 40_000_000;

#[derive(Debug)]
pub struct Report {
    /// category → (subcategory, images written)
    pub categories: BTreeMap<String, Vec<(String, usize)>>,
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Lists `png_root/<cat>/<sub>/**/*.png` as (cat, sub, relative name with `-` for deeper
/// folders, path).
fn list(png_root: &Path) -> anyhow::Result<Vec<(String, String, String, PathBuf)>> {
    let mut out = Vec::new();
    for cat in sorted_dirs(png_root)? {
        let cat_name = name_of(&cat);
        for sub in sorted_dirs(&cat)? {
            let sub_name = name_of(&sub);
            let mut stack = vec![sub.clone()];
            while let Some(dir) = stack.pop() {
                for e in
                    std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
                {
                    let p = e?.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")) {
                        let rel = p.strip_prefix(&sub).unwrap().with_extension("");
                        let flat: Vec<String> = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        out.push((cat_name.clone(), sub_name.clone(), flat.join("-"), p));
                    }
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn sorted_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Converts the extracted package tree into `out/<cat>/<sub>/*.png`.
pub fn convert(extracted: &Path, out: &Path) -> anyhow::Result<Report> {
    let png_root = extracted.join("usr/share/openclipart/png");
    let files = list(&png_root)?;
    let mut per_class: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (c, s, _, _) in &files {
        *per_class.entry((c.clone(), s.clone())).or_default() += 1;
    }
    let mut classes_per_cat: BTreeMap<String, usize> = BTreeMap::new();
    for ((c, _), n) in &per_class {
        if *n >= MIN_PER_CLASS {
            *classes_per_cat.entry(c.clone()).or_default() += 1;
        }
    }
    let keep = |c: &str, s: &str| {
        per_class[&(c.to_string(), s.to_string())] >= MIN_PER_CLASS
            && classes_per_cat.get(c).copied().unwrap_or(0) >= 2
    };
    let todo: Vec<_> = files
        .into_iter()
        .filter(|(c, s, _, _)| keep(c, s))
        .collect();

    let bar = indicatif::ProgressBar::new(todo.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "openclipart [{bar:30}] {pos}/{len} images {per_sec} ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Workers pull the next image from a shared counter (folders differ a lot in cost).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(String, String), (PathBuf, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (bar, next, todo, png_root) = (bar.clone(), &next, &todo, &png_root);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((c, s, name, path)) = todo.get(i) else {
                            break;
                        };
                        let dest = out.join(c).join(s).join(format!("{name}.png"));
                        let r = convert_one(path, &dest);
                        bar.inc(1);
                        done.push(r.map(|()| (c.clone(), s.clone())).map_err(|e| {
                            let rel = path.strip_prefix(png_root).unwrap_or(path).to_path_buf();
                            (rel, e.root_cause().to_string())
                        }));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    bar.finish_and_clear();
    let mut categories: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for r in results {
        match r {
            Ok((c, s)) => *categories.entry(c).or_default().entry(s).or_default() += 1,
            Err(e) => unreadable.push(e),
        }
    }
    Ok(Report {
        categories: categories
            .into_iter()
            .map(|(c, m)| (c, m.into_iter().collect()))
            .collect(),
        unreadable,
    })
}

fn convert_one(src: &Path, dest: &Path) -> anyhow::Result<()> {
    // A few drawings are huge (up to 21k×30k pixels, 2.5 GB decoded): leave those out rather
    // than hold gigabytes per worker.
    let (w, h) = image::ImageReader::open(src)?
        .with_guessed_format()?
        .into_dimensions()
        .with_context(|| format!("reading the size of {}", src.display()))?;
    if w as u64 * h as u64 > MAX_PIXELS {
        anyhow::bail!("too large to convert ({w}×{h} pixels)");
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    let mut reader = image::ImageReader::open(src)?.with_guessed_format()?;
    reader.limits(limits);
    let img = reader
        .decode()
        .with_context(|| format!("decoding {}", src.display()))?;
    std::fs::create_dir_all(dest.parent().unwrap())?;
    fit_on_white(&img)
        .save(dest)
        .with_context(|| format!("writing {}", dest.display()))
}

/// Alpha-composites on white, scales the longer side to SIZE, centres on a white square.
pub fn fit_on_white(img: &DynamicImage) -> RgbImage {
    let rgba = img.to_rgba8();
    let flat = RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as f32 / 255.0;
        let mix = |c: u8| (c as f32 * a + 255.0 * (1.0 - a)).round() as u8;
        Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    });
    // Trim white margins: many drawings sit small in a large transparent canvas.
    let flat = trim_white(&flat);
    let (w, h) = (flat.width().max(1), flat.height().max(1));
    let s = SIZE as f32 / w.max(h) as f32;
    let (nw, nh) = (
        ((w as f32 * s).round() as u32).clamp(1, SIZE),
        ((h as f32 * s).round() as u32).clamp(1, SIZE),
    );
    let small = image::imageops::resize(&flat, nw, nh, FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(SIZE, SIZE, Rgb([255, 255, 255]));
    image::imageops::overlay(
        &mut canvas,
        &small,
        ((SIZE - nw) / 2) as i64,
        ((SIZE - nh) / 2) as i64,
    );
    canvas
}

/// The smallest box holding every pixel darker than near-white (the whole image if none is).
fn trim_white(img: &RgbImage) -> RgbImage {
    let ink = |x: u32, y: u32| img.get_pixel(x, y).0.iter().any(|&c| c < 250);
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, _) in img.enumerate_pixels() {
        if ink(x, y) {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 == u32::MAX {
        return img.clone();
    }
    image::imageops::crop_imm(img, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

    #[test]
    fn transparent_pixels_become_white_margins_are_trimmed_and_aspect_is_kept() {
        // 40×30: a 20×10 opaque black block at (5, 5), the rest fully transparent black.
        let img = RgbaImage::from_fn(40, 30, |x, y| {
            let inside = (5..25).contains(&x) && (5..15).contains(&y);
            Rgba([0, 0, 0, if inside { 255 } else { 0 }])
        });
        let out = fit_on_white(&DynamicImage::ImageRgba8(img));
        assert_eq!(out.dimensions(), (SIZE, SIZE));
        // The block alone is kept, scaled to 64×32 and centred: rows 0..16 and 48..64 are padding.
        assert_eq!(out.get_pixel(5, 2).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(5, 32).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(60, 32).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(60, 60).0, [255, 255, 255]);
        // Half-transparent red on white is pink: 255*0.5 + 255*0.5, 0*0.5 + 255*0.5.
        let half = RgbaImage::from_pixel(2, 2, Rgba([255, 0, 0, 128]));
        let p = fit_on_white(&DynamicImage::ImageRgba8(half))
            .get_pixel(32, 32)
            .0;
        assert_eq!(p, [255, 127, 127]);
    }
}
