//! Rendered glyphs: one ImageFolder per writing system, classes = letters the fonts really
//! have (glyph id ≠ 0, non-empty outline, in every font used), samples = every font style of
//! the script × seeded light augmentation (scale, rotation, shift). Images are 32×32 8-bit
//! grayscale, black glyph on white.
//!
//! Layout: `glyphs/<Script>/U+XXXX/<style>_<family>_<k>.png`, e.g.
//! `glyphs/Latin/U+0041/bold_serif_02.png`; the file tag (text before the first `_`) is the
//! style (`regular`, `bold`, `italic`, `bolditalic`), so a suite can label the same images
//! by letter or by style.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, point};
use anyhow::{Context, bail, ensure};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_script::{Script, UnicodeScript};

/// Output size (pixels per side).
pub const SIZE: u32 = 32;
/// Render at this multiple of SIZE and box-filter down: anti-aliasing for rotated glyphs.
const SUPERSAMPLE: u32 = 4;
/// At most this many letters (classes) per script.
pub const MAX_CLASSES: usize = 20;
/// At least this many samples per letter (fonts × augmentations, rounded up per font).
pub const MIN_SAMPLES_PER_CLASS: usize = 16;
/// Scripts with fewer usable letters are skipped (and reported).
const MIN_CLASSES: usize = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTable {
    pub script: Vec<ScriptSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    pub name: String,
    pub fonts: Vec<String>,
    pub unicode: Vec<String>,
    #[serde(default)]
    pub range: Option<[u32; 2]>,
    pub family: Vec<String>,
}

impl ScriptTable {
    pub fn load(path: &Path) -> anyhow::Result<ScriptTable> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let t: ScriptTable =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(t)
    }
}

/// A font file of the package, split into family key and style.
#[derive(Debug, Clone)]
struct FontFile {
    path: PathBuf,
    /// `NotoSansDevanagari` → `Devanagari`; `NotoSerif` → ``.
    key: String,
    /// `sans`, `serif`, `kufiarabic`, … (file-name part, lowercase).
    family: String,
    /// `regular`, `bold`, `italic`, `bolditalic`.
    style: String,
}

fn list_fonts(dir: &Path) -> anyhow::Result<Vec<FontFile>> {
    let mut fonts = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = e?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("ttf" | "otf")
        ) {
            continue;
        }
        let Some((fam, style)) = stem.split_once('-') else {
            continue;
        };
        let (prefix, key) = if let Some(k) = fam.strip_prefix("NotoSans") {
            ("sans", k)
        } else if let Some(k) = fam.strip_prefix("NotoSerif") {
            ("serif", k)
        } else if let Some(k) = fam.strip_prefix("Noto") {
            ("", k)
        } else {
            continue;
        };
        // Family tag: `sans`, `serif`, `sansdisplay`, `kufiarabic`, `serifdevanagari`…
        let family = format!("{prefix}{}", key.to_lowercase());
        fonts.push(FontFile {
            path: path.clone(),
            key: key.to_string(),
            family: if family.is_empty() {
                "noto".into()
            } else {
                family
            },
            style: style.to_lowercase(),
        });
    }
    fonts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(fonts)
}

/// The prefix/key split above maps `NotoSansDisplay` and `NotoSerifDisplay` to key `Display`,
/// `NotoSans` and `NotoSerif` to key ``.
fn script_fonts<'a>(spec: &ScriptSpec, fonts: &'a [FontFile]) -> Vec<&'a FontFile> {
    fonts
        .iter()
        .filter(|f| spec.fonts.contains(&f.key))
        .collect()
}

fn is_letter(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::UppercaseLetter
            | GeneralCategory::LowercaseLetter
            | GeneralCategory::TitlecaseLetter
            | GeneralCategory::OtherLetter
    )
}

/// Letters of `scripts` that `font` maps to a glyph with a non-empty outline.
fn letters(font: &FontVec, scripts: &[Script], range: Option<[u32; 2]>) -> Vec<char> {
    let mut out: Vec<char> = font
        .codepoint_ids()
        .filter(|(id, c)| {
            id.0 != 0
                && is_letter(*c)
                && scripts.contains(&c.script())
                && range.is_none_or(|[lo, hi]| (lo..=hi).contains(&(*c as u32)))
        })
        .map(|(_, c)| c)
        .filter(|&c| has_outline(font, c))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn has_outline(font: &FontVec, c: char) -> bool {
    let g = font
        .glyph_id(c)
        .with_scale_and_position(64.0, point(0.0, 0.0));
    font.outline_glyph(g)
        .is_some_and(|o| o.px_bounds().width() >= 1.0 && o.px_bounds().height() >= 1.0)
}

/// Up to `k` items spread evenly over `items` (deterministic).
fn spread<T: Copy>(items: &[T], k: usize) -> Vec<T> {
    if items.len() <= k {
        return items.to_vec();
    }
    (0..k).map(|i| items[i * items.len() / k]).collect()
}

/// A script left out, and why.
pub type Skipped = (String, String);

/// What one script became.
#[derive(Debug)]
pub struct ScriptReport {
    pub name: String,
    pub fonts: usize,
    pub classes: usize,
    pub samples_per_class: usize,
}

/// Renders every script of `table` from the fonts in `font_dir` into `out/<Script>/…`.
/// Returns the scripts rendered and the ones skipped with a reason.
pub fn render_all(
    table: &ScriptTable,
    font_dir: &Path,
    out: &Path,
) -> anyhow::Result<(Vec<ScriptReport>, Vec<Skipped>)> {
    let fonts = list_fonts(font_dir)?;
    ensure!(!fonts.is_empty(), "no fonts in {}", font_dir.display());
    let bar = indicatif::ProgressBar::new(table.script.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "glyphs [{bar:30}] {pos}/{len} scripts {per_sec} ETA {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut done = Vec::new();
    let mut skipped = Vec::new();
    for spec in &table.script {
        bar.set_message(spec.name.clone());
        match render_script(spec, &fonts, out)? {
            Ok(report) => done.push(report),
            Err(reason) => skipped.push((spec.name.clone(), reason)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((done, skipped))
}

/// `Ok(Err(reason))` when the script has too few usable letters.
fn render_script(
    spec: &ScriptSpec,
    fonts: &[FontFile],
    out: &Path,
) -> anyhow::Result<Result<ScriptReport, String>> {
    let scripts = spec
        .unicode
        .iter()
        .map(|n| {
            Script::from_full_name(&n.replace(' ', "_"))
                .with_context(|| format!("script {}: unknown Unicode script `{n}`", spec.name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let files = script_fonts(spec, fonts);
    if files.is_empty() {
        bail!(
            "script {}: no font file matches keys {:?}",
            spec.name,
            spec.fonts
        );
    }
    let mut loaded = Vec::new();
    for f in &files {
        let data =
            std::fs::read(&f.path).with_context(|| format!("reading {}", f.path.display()))?;
        let font =
            FontVec::try_from_vec(data).with_context(|| format!("parsing {}", f.path.display()))?;
        let chars = letters(&font, &scripts, spec.range);
        loaded.push((*f, font, chars));
    }
    // Fonts with the most letters first; a font joins only if the common letter set stays
    // large enough (some Tifinagh variants cover a subset).
    loaded.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then(a.0.path.cmp(&b.0.path)));
    let mut common: Vec<char> = loaded[0].2.clone();
    let mut used = vec![0usize];
    for (i, (_, _, chars)) in loaded.iter().enumerate().skip(1) {
        let next: Vec<char> = common
            .iter()
            .copied()
            .filter(|c| chars.binary_search(c).is_ok())
            .collect();
        if next.len() >= MAX_CLASSES.min(common.len()) {
            common = next;
            used.push(i);
        }
    }
    if common.len() < MIN_CLASSES {
        return Ok(Err(format!(
            "{} usable letters (fewer than {MIN_CLASSES})",
            common.len()
        )));
    }
    let chosen = spread(&common, MAX_CLASSES);
    // At least one augmented sample per font besides the clean one.
    let per_font = MIN_SAMPLES_PER_CLASS.div_ceil(used.len()).max(2);
    let dir = out.join(&spec.name);
    for &c in &chosen {
        let class_dir = dir.join(format!("U+{:04X}", c as u32));
        std::fs::create_dir_all(&class_dir)?;
        for &i in &used {
            let (file, font, _) = &loaded[i];
            for k in 0..per_font {
                let mut rng = ChaCha8Rng::seed_from_u64(seed_for(
                    &spec.name,
                    c,
                    &file.family,
                    &file.style,
                    k,
                ));
                let img = render(font, c, &Augment::sample(&mut rng, k == 0));
                let name = format!("{}_{}_{k:02}.png", file.style, file.family);
                img.save(class_dir.join(&name))
                    .with_context(|| format!("writing {}", class_dir.join(&name).display()))?;
            }
        }
    }
    Ok(Ok(ScriptReport {
        name: spec.name.clone(),
        fonts: used.len(),
        classes: chosen.len(),
        samples_per_class: per_font * used.len(),
    }))
}

/// Stable per-image seed, independent of rendering order.
fn seed_for(script: &str, c: char, family: &str, style: &str, k: usize) -> u64 {
    let h = Sha256::digest(format!("glyphs/{script}/{}/{family}/{style}/{k}", c as u32));
    u64::from_le_bytes(h[..8].try_into().unwrap())
}

/// Light augmentation: glyph size relative to the canvas, rotation, shift (in output pixels).
#[derive(Debug, Clone, Copy)]
pub struct Augment {
    pub size: f32,
    pub angle_deg: f32,
    pub dx: f32,
    pub dy: f32,
}

impl Augment {
    /// The first sample of each font is the clean glyph.
    fn sample(rng: &mut ChaCha8Rng, clean: bool) -> Augment {
        if clean {
            return Augment {
                size: 0.8,
                angle_deg: 0.0,
                dx: 0.0,
                dy: 0.0,
            };
        }
        Augment {
            size: rng.random_range(0.65..0.9),
            angle_deg: rng.random_range(-10.0..10.0),
            dx: rng.random_range(-2.0..2.0),
            dy: rng.random_range(-2.0..2.0),
        }
    }
}

/// Renders `c` so that its larger side spans `aug.size` of the canvas, centred, then rotated
/// and shifted; supersampled and box-filtered down to SIZE×SIZE.
pub fn render(font: &FontVec, c: char, aug: &Augment) -> image::GrayImage {
    let big = SIZE * SUPERSAMPLE;
    let probe = font
        .glyph_id(c)
        .with_scale_and_position(100.0, point(0.0, 0.0));
    let bounds = font.outline_glyph(probe).map(|o| o.px_bounds());
    let (w, h) = bounds.map_or((1.0, 1.0), |b| (b.width().max(1.0), b.height().max(1.0)));
    let scale = 100.0 * aug.size * big as f32 / w.max(h);
    let glyph = font
        .glyph_id(c)
        .with_scale_and_position(PxScale::from(scale), point(0.0, 0.0));
    // Draw the glyph centred, unrotated; then fill each supersampled output pixel by mapping
    // it back (inverse shift and rotation) and sampling bilinearly, so rotation leaves no holes.
    let mut upright = vec![0f32; (big * big) as usize];
    if let Some(outline) = font.outline_glyph(glyph) {
        let b = outline.px_bounds();
        let x0 = ((big as f32 - b.width()) / 2.0).round() as i64;
        let y0 = ((big as f32 - b.height()) / 2.0).round() as i64;
        outline.draw(|x, y, v| {
            let (px, py) = (x0 + x as i64, y0 + y as i64);
            if (0..big as i64).contains(&px) && (0..big as i64).contains(&py) {
                upright[(py as u32 * big + px as u32) as usize] = v;
            }
        });
    }
    let at = |x: i64, y: i64| -> f32 {
        if (0..big as i64).contains(&x) && (0..big as i64).contains(&y) {
            upright[(y as u32 * big + x as u32) as usize]
        } else {
            0.0
        }
    };
    let (sin, cos) = aug.angle_deg.to_radians().sin_cos();
    let c = big as f32 / 2.0;
    let (sx, sy) = (aug.dx * SUPERSAMPLE as f32, aug.dy * SUPERSAMPLE as f32);
    let mut cover = vec![0f32; (big * big) as usize];
    for y in 0..big {
        for x in 0..big {
            let (ox, oy) = (x as f32 + 0.5 - c - sx, y as f32 + 0.5 - c - sy);
            // Inverse rotation, back to pixel-centre coordinates of `upright`.
            let ux = cos * ox + sin * oy + c - 0.5;
            let uy = -sin * ox + cos * oy + c - 0.5;
            let (fx, fy) = (ux.floor(), uy.floor());
            let (tx, ty) = (ux - fx, uy - fy);
            let (ix, iy) = (fx as i64, fy as i64);
            cover[(y * big + x) as usize] = (1.0 - ty)
                * ((1.0 - tx) * at(ix, iy) + tx * at(ix + 1, iy))
                + ty * ((1.0 - tx) * at(ix, iy + 1) + tx * at(ix + 1, iy + 1));
        }
    }
    image::GrayImage::from_fn(SIZE, SIZE, |x, y| {
        let mut sum = 0.0;
        for sy in 0..SUPERSAMPLE {
            for sx in 0..SUPERSAMPLE {
                sum += cover[((y * SUPERSAMPLE + sy) * big + x * SUPERSAMPLE + sx) as usize];
            }
        }
        let v = sum / (SUPERSAMPLE * SUPERSAMPLE) as f32;
        image::Luma([255 - (v.clamp(0.0, 1.0) * 255.0).round() as u8])
    })
}

/// Names and taxonomy of the rendered scripts (for the suite generator and reports).
pub fn families(table: &ScriptTable) -> BTreeMap<String, Vec<String>> {
    table
        .script
        .iter()
        .map(|s| (s.name.clone(), s.family.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_picks_evenly_and_keeps_short_lists() {
        assert_eq!(spread(&[1, 2, 3], 5), vec![1, 2, 3]);
        assert_eq!(spread(&(0..10).collect::<Vec<_>>(), 5), vec![0, 2, 4, 6, 8]);
    }

    #[test]
    fn letters_are_letters_of_the_script() {
        assert!(is_letter('A') && is_letter('क') && !is_letter('1') && !is_letter('\u{093F}'));
        assert_eq!('क'.script(), Script::from_full_name("Devanagari").unwrap());
        assert!(Script::from_full_name("Old_Italic").is_some());
    }
}
