//! The activations of a task's images at the split point, held within a memory budget.
//!
//! Caching every image at the split point is what makes the head fit and the Fisher stage
//! cheap, but at `skip_layers 0` and 224² it costs 0.57 MiB per ResNet-18 image: 10,000 images
//! would need 5.7 GB. [`ActivationSink`] therefore keeps the activations in memory only while
//! they fit the budget (`--cache-budget`, [`DEFAULT_CACHE_BUDGET`]); past it, every row goes to
//! an anonymous temporary file and batches are read back on demand.
//!
//! The spill file is read with plain positioned reads, not memory-mapped: pages of a mapping
//! that have been read count in the process's resident memory until the kernel reclaims them,
//! while the page cache behind `read` does not, so the process stays flat in dataset size.
//! The file has no name (`O_TMPFILE` where the OS has it): a killed run leaves nothing behind.
//!
//! Spilling never changes a result: rows are stored as the exact f32 values and a batch read
//! back is the same tensor the in-memory cache would give.
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{FisherError, Result};
use crate::estimator::{FisherInputs, host_f32};

/// Bytes of split-point activations kept in memory before the cache spills to disk: 512 MiB.
/// With one Fisher batch's autodiff graph (≈ 1.2 GB for ResNet-18 at 224², batch 32) the
/// process then stays under 2 GB whatever the number of images (docs/performance.md §6).
pub const DEFAULT_CACHE_BUDGET: u64 = 512 << 20;

/// Parses a cache budget as the command line writes it: bytes, or a number with a binary unit
/// (`512M`, `2G`, `1.5GiB`, `64k`); `0` spills everything.
pub fn parse_cache_budget(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let not_a_size = || {
        crate::error::invalid(
            "cache-budget",
            format!("`{text}` is not a size (e.g. 512M, 2G)"),
        )
    };
    if number.is_empty() {
        return Err(not_a_size());
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(crate::error::invalid(
                "cache-budget",
                format!("unknown unit `{other}` in `{text}` (use bytes, K, M, G or T)"),
            ));
        }
    };
    let value: f64 = number.parse().map_err(|_| not_a_size())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(crate::error::invalid(
            "cache-budget",
            format!("`{text}` is too large"),
        ));
    }
    Ok(bytes as u64)
}

/// Where the activations live.
enum Storage {
    /// The batches as they were pushed, on the probe's device. Not concatenated: a
    /// concatenation would hold every row twice at its peak.
    Memory(Chunks),
    /// Rows of little-endian f32 in an unnamed temporary file.
    Spilled(Spill),
    /// Not kept: only the pooled features were needed (e.g. the Fisher runs on augmented views).
    NotKept,
}

/// Row blocks in order; `starts[i]` is the first row of `tensors[i]`.
struct Chunks {
    tensors: Vec<Tensor<4>>,
    starts: Vec<usize>,
}

impl Chunks {
    fn new(tensors: Vec<Tensor<4>>) -> Self {
        let mut starts = Vec::with_capacity(tensors.len());
        let mut row = 0;
        for t in &tensors {
            starts.push(row);
            row += t.dims()[0];
        }
        Self { tensors, starts }
    }

    /// The rows `indices` (all in range): one slice per run of consecutive rows within a
    /// block, concatenated when there is more than one.
    fn gather(&self, indices: &[usize]) -> Tensor<4> {
        let mut slices = Vec::new();
        for (first, len) in consecutive_runs(indices) {
            // A run may cross from one pushed batch into the next: one slice per block.
            let mut row = first;
            while row < first + len {
                let block = self.starts.partition_point(|&s| s <= row) - 1;
                let offset = row - self.starts[block];
                let take = (self.tensors[block].dims()[0] - offset).min(first + len - row);
                slices.push(self.tensors[block].clone().narrow(0, offset, take));
                row += take;
            }
        }
        if slices.len() == 1 {
            slices.pop().expect("one slice")
        } else {
            Tensor::cat(slices, 0)
        }
    }
}

/// The maximal runs of consecutive rows in `indices`, in order, as `(first row, length)`:
/// what one slice or one read serves.
fn consecutive_runs(indices: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut k = 0;
    std::iter::from_fn(move || {
        let first = *indices.get(k)?;
        let len = 1 + indices[k + 1..]
            .iter()
            .zip(first + 1..)
            .take_while(|(i, expected)| **i == *expected)
            .count();
        k += len;
        Some((first, len))
    })
}

/// An unnamed temporary file of rows; reads are serialised (one seek + read per run of rows).
struct Spill {
    file: Mutex<File>,
    /// The directory the file lives in, for messages (the file itself has no name).
    dir: PathBuf,
}

/// Split-point activations `[rows, C, H, W]` of the cached images, in memory or spilled.
pub struct SplitActivations {
    rows: usize,
    /// `[C, H, W]` of one row.
    row_shape: [usize; 3],
    device: Device,
    storage: Storage,
}

impl SplitActivations {
    /// Activations held in memory as given.
    pub fn in_memory(activations: Tensor<4>) -> Self {
        let [rows, c, h, w] = activations.dims();
        Self {
            rows,
            row_shape: [c, h, w],
            device: activations.device().without_autodiff(),
            storage: Storage::Memory(Chunks::new(vec![activations])),
        }
    }

    /// A cache of `rows` images whose activations were not kept (only their features).
    pub fn not_kept(rows: usize, row_shape: [usize; 3], device: &Device) -> Self {
        Self {
            rows,
            row_shape,
            device: device.clone().without_autodiff(),
            storage: Storage::NotKept,
        }
    }

    /// Number of images.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `[C, H, W]` of one image's activations.
    pub fn row_shape(&self) -> [usize; 3] {
        self.row_shape
    }

    /// Whether the rows were written to disk because they exceeded the budget.
    pub fn is_spilled(&self) -> bool {
        matches!(self.storage, Storage::Spilled(_))
    }

    /// Whether the activations were kept at all.
    pub fn is_kept(&self) -> bool {
        !matches!(self.storage, Storage::NotKept)
    }

    /// Bytes of activations held in memory (0 when spilled or not kept).
    pub fn resident_bytes(&self) -> u64 {
        match self.storage {
            Storage::Memory(_) => self.total_bytes(),
            _ => 0,
        }
    }

    /// Bytes of all rows, wherever they are.
    pub fn total_bytes(&self) -> u64 {
        (self.rows * row_floats(self.row_shape) * 4) as u64
    }

    /// The rows `indices`, in that order (a row may repeat), as one tensor.
    pub fn gather(&self, indices: &[usize]) -> Result<Tensor<4>> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.rows) {
            return Err(FisherError::InvalidTask(format!(
                "activation row {bad} of a cache of {} images",
                self.rows
            )));
        }
        match &self.storage {
            Storage::NotKept => Err(FisherError::Unsupported(
                "the activation cache kept only pooled features (made for a Fisher on augmented \
                 views); make it with Task2Vec::cache to keep the split-point activations"
                    .into(),
            )),
            _ if indices.is_empty() => {
                let [c, h, w] = self.row_shape;
                Ok(Tensor::zeros([0, c, h, w], &self.device))
            }
            Storage::Memory(chunks) => Ok(chunks.gather(indices)),
            Storage::Spilled(spill) => {
                let values = spill.read_rows(indices, row_floats(self.row_shape))?;
                let [c, h, w] = self.row_shape;
                let data = TensorData::new(values, [indices.len(), c, h, w]);
                Ok(Tensor::from_data(data, &self.device))
            }
        }
    }
}

impl FisherInputs for SplitActivations {
    fn len(&self) -> usize {
        self.rows
    }

    fn views(&self, items: &[(usize, u64)]) -> Result<Tensor<4>> {
        // Without augmentation every draw of a sample is the same row.
        let indices: Vec<usize> = items.iter().map(|&(i, _)| i).collect();
        self.gather(&indices)
    }

    fn device(&self) -> Device {
        self.device.clone()
    }
}

/// Some rows of a cache, as the Fisher inputs of a task: sample `k` is row `rows[k]` (e.g. the
/// Fisher half of the images under `--head-split`), read from wherever the cache keeps them.
pub struct RowSubset<'a> {
    /// The whole cache.
    pub cache: &'a SplitActivations,
    /// Cache row of each sample.
    pub rows: &'a [usize],
}

impl FisherInputs for RowSubset<'_> {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn views(&self, items: &[(usize, u64)]) -> Result<Tensor<4>> {
        let indices = items
            .iter()
            .map(|&(k, _)| {
                self.rows.get(k).copied().ok_or_else(|| {
                    FisherError::InvalidTask(format!("sample {k} of {} samples", self.rows.len()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.cache.gather(&indices)
    }

    fn device(&self) -> Device {
        self.cache.device.clone()
    }
}

fn row_floats([c, h, w]: [usize; 3]) -> usize {
    c * h * w
}

impl Spill {
    /// Reads the rows `indices` (each `floats` long), one seek and read per run of consecutive
    /// rows.
    fn read_rows(&self, indices: &[usize], floats: usize) -> Result<Vec<f32>> {
        let row_bytes = floats * 4;
        let mut bytes = vec![0u8; indices.len() * row_bytes];
        let mut file = self
            .file
            .lock()
            .map_err(|_| FisherError::Numerical("activation spill file lock poisoned".into()))?;
        let mut at = 0;
        for (first, len) in consecutive_runs(indices) {
            let target = &mut bytes[at..at + len * row_bytes];
            file.seek(SeekFrom::Start((first * row_bytes) as u64))
                .and_then(|_| file.read_exact(target))
                .map_err(|e| spill_error(&self.dir, "reading", &e))?;
            at += len * row_bytes;
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

fn spill_error(dir: &Path, action: &str, e: &std::io::Error) -> FisherError {
    FisherError::Io(format!(
        "{action} the activation spill file in {} (set TMPDIR or --cache-budget): {e}",
        dir.display()
    ))
}

/// Collects the split-point activations batch by batch: in memory while they fit `budget`
/// bytes, then (all of them) in a temporary file in `spill_dir`.
pub struct ActivationSink {
    budget: u64,
    spill_dir: PathBuf,
    keep: bool,
    rows: usize,
    row_shape: Option<[usize; 3]>,
    device: Option<Device>,
    chunks: Vec<Tensor<4>>,
    spill: Option<BufWriter<File>>,
}

impl ActivationSink {
    /// A sink that keeps at most `budget` bytes in memory and spills to `spill_dir` beyond.
    /// With `keep` false it only counts rows (the caller needs no activations).
    pub fn new(budget: u64, spill_dir: &Path, keep: bool) -> Self {
        Self {
            budget,
            spill_dir: spill_dir.to_path_buf(),
            keep,
            rows: 0,
            row_shape: None,
            device: None,
            chunks: Vec::new(),
            spill: None,
        }
    }

    /// Appends a batch `[n, C, H, W]`.
    pub fn push(&mut self, batch: Tensor<4>) -> Result<()> {
        let [n, c, h, w] = batch.dims();
        match self.row_shape {
            None => {
                self.row_shape = Some([c, h, w]);
                self.device = Some(batch.device().without_autodiff());
            }
            Some(shape) if shape != [c, h, w] => {
                return Err(FisherError::ProbeMismatch(format!(
                    "split-point activations changed shape from {shape:?} to {:?}",
                    [c, h, w]
                )));
            }
            Some(_) => {}
        }
        self.rows += n;
        if !self.keep {
            return Ok(());
        }
        if self.spill.is_none() && self.rows as u64 * (c * h * w * 4) as u64 > self.budget {
            let file = tempfile::tempfile_in(&self.spill_dir)
                .map_err(|e| spill_error(&self.spill_dir, "creating", &e))?;
            self.spill = Some(BufWriter::with_capacity(1 << 20, file));
            for chunk in std::mem::take(&mut self.chunks) {
                self.write(chunk)?;
            }
        }
        if self.spill.is_some() {
            self.write(batch)
        } else {
            self.chunks.push(batch);
            Ok(())
        }
    }

    fn write(&mut self, chunk: Tensor<4>) -> Result<()> {
        let values = host_f32(chunk)?;
        let writer = self
            .spill
            .as_mut()
            .expect("write is called with a spill file");
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        writer
            .write_all(&bytes)
            .map_err(|e| spill_error(&self.spill_dir, "writing", &e))
    }

    /// The activations of every pushed batch, in order.
    pub fn finish(self, device: &Device) -> Result<SplitActivations> {
        let row_shape = self.row_shape.unwrap_or([0, 0, 0]);
        let device = self
            .device
            .unwrap_or_else(|| device.clone().without_autodiff());
        let storage = if !self.keep {
            Storage::NotKept
        } else if let Some(writer) = self.spill {
            let file = writer
                .into_inner()
                .map_err(|e| spill_error(&self.spill_dir, "writing", e.error()))?;
            Storage::Spilled(Spill {
                file: Mutex::new(file),
                dir: self.spill_dir,
            })
        } else {
            Storage::Memory(Chunks::new(self.chunks))
        };
        Ok(SplitActivations {
            rows: self.rows,
            row_shape,
            device,
            storage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::random_inputs;

    fn host(t: Tensor<4>) -> Vec<f32> {
        host_f32(t).unwrap()
    }

    /// Pushes `x` in batches of 3 into a sink with `budget` and returns the result.
    fn collect(x: &Tensor<4>, budget: u64, keep: bool) -> SplitActivations {
        let dir = tempfile::tempdir().unwrap();
        let n = x.dims()[0];
        let mut sink = ActivationSink::new(budget, dir.path(), keep);
        let mut start = 0;
        while start < n {
            let len = 3.min(n - start);
            sink.push(x.clone().narrow(0, start, len)).unwrap();
            start += len;
        }
        sink.finish(&x.device()).unwrap()
    }

    #[test]
    fn spilled_rows_read_back_as_the_in_memory_rows() {
        let device = Device::flex();
        let x = random_inputs([10, 2, 3, 4], 7, &device);
        let row = 2 * 3 * 4 * 4;
        let all = host(x.clone());
        let memory = collect(&x, u64::MAX, true);
        // Spills on the third batch: two batches (6 rows) fit, nine do not.
        let spilled = collect(&x, 8 * row as u64, true);
        assert!(!memory.is_spilled() && spilled.is_spilled());
        assert_eq!(memory.resident_bytes(), 10 * row as u64);
        assert_eq!(spilled.resident_bytes(), 0);
        assert_eq!(spilled.total_bytes(), memory.total_bytes());
        for indices in [
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            vec![9, 0, 4, 4, 5, 6, 1],
            vec![3],
            vec![],
        ] {
            let a = host(memory.gather(&indices).unwrap());
            let b = host(spilled.gather(&indices).unwrap());
            assert_eq!(a, b, "rows {indices:?}");
            let expected: Vec<f32> = indices
                .iter()
                .flat_map(|&i| all[i * 24..(i + 1) * 24].to_vec())
                .collect();
            assert_eq!(a, expected, "rows {indices:?}");
        }
        assert_eq!(host(spilled.range(2, 5).unwrap()), all[2 * 24..7 * 24]);
        // Zero budget: the first batch already spills.
        assert!(collect(&x, 0, true).is_spilled());
    }

    #[test]
    fn out_of_range_rows_and_unkept_activations_are_errors() {
        let device = Device::flex();
        let x = random_inputs([4, 1, 2, 2], 1, &device);
        for budget in [u64::MAX, 0] {
            let cache = collect(&x, budget, true);
            let err = cache.gather(&[1, 4]).unwrap_err().to_string();
            assert!(err.contains("row 4 of a cache of 4"), "{err}");
        }
        let features_only = collect(&x, u64::MAX, false);
        assert_eq!(features_only.rows(), 4);
        assert!(!features_only.is_kept());
        let err = features_only.gather(&[0]).unwrap_err().to_string();
        assert!(err.contains("kept only pooled features"), "{err}");
    }

    #[test]
    fn consecutive_rows_form_one_run() {
        let runs = |i: &[usize]| consecutive_runs(i).collect::<Vec<_>>();
        assert_eq!(runs(&[]), vec![]);
        assert_eq!(
            runs(&[4, 5, 6, 2, 2, 3, 9]),
            vec![(4, 3), (2, 1), (2, 2), (9, 1)]
        );
        assert_eq!(runs(&[0, 1, 2, 3]), vec![(0, 4)]);
    }

    #[test]
    fn cache_budgets_parse_with_binary_units() {
        assert_eq!(parse_cache_budget("0").unwrap(), 0);
        assert_eq!(parse_cache_budget("1000").unwrap(), 1000);
        assert_eq!(parse_cache_budget("64k").unwrap(), 64 * 1024);
        assert_eq!(parse_cache_budget("512M").unwrap(), 512 << 20);
        assert_eq!(parse_cache_budget("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_cache_budget("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_cache_budget(" 2 gb ").unwrap(), 2 << 30);
        for bad in [
            "",
            "M",
            "-1G",
            "1.2.3G",
            "12 parsecs",
            "1e400",
            "99999999999T",
        ] {
            let err = parse_cache_budget(bad).unwrap_err().to_string();
            assert!(err.contains("cache-budget"), "{bad}: {err}");
        }
        let err = parse_cache_budget("-1G").unwrap_err().to_string();
        assert!(err.contains("`-1G` is not a size"), "{err}");
    }

    #[test]
    fn a_spill_directory_that_cannot_hold_files_is_an_error_naming_it() {
        let device = Device::flex();
        let x = random_inputs([2, 1, 2, 2], 1, &device);
        let missing = Path::new("/nonexistent/task2vec-spill");
        let mut sink = ActivationSink::new(0, missing, true);
        let err = sink.push(x).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/task2vec-spill"), "{err}");
        assert!(err.contains("creating the activation spill file"), "{err}");
    }
}
