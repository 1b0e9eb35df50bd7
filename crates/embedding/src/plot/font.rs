//! Finding and registering the TrueType font plot text is drawn with.

use std::path::PathBuf;
use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::error::{Error, Result};

/// Family name the figures ask plotters for.
pub(super) const FAMILY: &str = "sans-serif";

const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

fn find() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("TASK2VEC_FONT") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::Plot(format!(
                "TASK2VEC_FONT={} is not a file",
                p.display()
            )))
        };
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Plot(
                "no TrueType font found for plot text: install one (Debian/Ubuntu: \
             `apt-get install fonts-dejavu-core`) or set TASK2VEC_FONT=/path/to/font.ttf"
                    .into(),
            )
        })
}

/// Register the font with plotters once per process.
pub(super) fn ensure_registered() -> Result<()> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let path = find().map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // plotters keeps fonts for the whole process: leaking the one file is intended.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a usable TrueType font", path.display()))
    })
    .clone()
    .map_err(Error::Plot)
}
