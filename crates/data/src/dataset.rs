//! The [`Dataset`] view: class names, (source, label) samples, and the operations the estimator
//! needs (class selection, stratified subsampling, fingerprint, validation, image decoding).
//! Views are cheap: IDX pixels are shared behind an `Arc`, image files are read on demand.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::DataError;
use crate::formats::{self, idx::IdxImages};

/// Where a sample's pixels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleSource {
    /// An image file, relative to the dataset's root directory.
    File(PathBuf),
    /// The n-th image of the dataset's IDX images file.
    Idx(usize),
}

impl fmt::Display for SampleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `/` on every platform so that fingerprints do not depend on the OS.
            SampleSource::File(p) => {
                let parts: Vec<_> = p
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect();
                write!(f, "{}", parts.join("/"))
            }
            SampleSource::Idx(i) => write!(f, "idx:{i}"),
        }
    }
}

/// One labelled sample; `label` indexes [`Dataset::classes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Where the image comes from (a file under the dataset root, or an IDX record).
    pub source: SampleSource,
    /// Index into [`Dataset::classes`].
    pub label: usize,
}

/// Which on-disk layout a dataset was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A directory with one subdirectory of images per class.
    ImageFolder,
    /// A CSV file of `path,label` rows, paths relative to the file.
    CsvManifest,
    /// MNIST-style IDX image and label files.
    Idx,
}

/// What to do with an image that cannot be decoded (see [`Dataset::scan_images`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnBadImage {
    /// Stop at the first bad image with an error naming the file.
    #[default]
    Fail,
    /// Drop bad images from the dataset and report them.
    Skip,
}

/// Whether the consumer needs the labels: a task embedding does, a domain embedding
/// (mean activations) does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelUse {
    /// Labels are used: validation requires at least two classes, none empty.
    Required,
    /// Labels are not used (domain embeddings): any non-empty dataset will do.
    Ignored,
}

/// A sample that [`Dataset::scan_images`] dropped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedImage {
    /// The image file.
    pub path: PathBuf,
    /// Why it could not be decoded (the decoder's message).
    pub reason: String,
}

/// Identifies the exact sample list and labelling of a dataset view; recorded in every
/// embedding's provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Number of samples in the view.
    pub n_samples: usize,
    /// Number of classes (labels) in the view.
    pub n_classes: usize,
    /// Hex sha256 over the class names and the `(source, label)` list (see [`Dataset::fingerprint`]).
    pub sha256: String,
}

/// A labelled image collection, or a view of one (class subset, subsample, relabelling).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub(crate) classes: Vec<String>,
    pub(crate) samples: Vec<Sample>,
    /// The path the user opened (file or directory); used in messages.
    pub(crate) origin: PathBuf,
    /// Directory that [`SampleSource::File`] paths are relative to.
    pub(crate) root: PathBuf,
    pub(crate) format: Format,
    pub(crate) idx: Option<Arc<IdxImages>>,
}

impl Dataset {
    /// Opens a dataset, detecting its layout:
    /// * a directory with one subfolder per class (ImageFolder; files in nested folders count
    ///   for the top-level class; classes sorted by name),
    /// * a `.csv` file with rows `path,label` (paths relative to the CSV; an optional header
    ///   `path,label`),
    /// * MNIST-style IDX: an `*-images-idx3-ubyte[.gz]` file next to its
    ///   `*-labels-idx1-ubyte[.gz]`, or a directory holding `train-images-idx3-ubyte[.gz]`.
    ///   Class names come from a `classes.txt` (one per line) beside the images, else `0..K`.
    pub fn open(path: &Path) -> Result<Dataset, DataError> {
        formats::open(path)
    }

    /// Opens images whose labels will be ignored (domain embeddings): a flat folder of images
    /// becomes one class `unlabeled`; any other layout opens as with [`Dataset::open`].
    pub fn open_unlabeled(path: &Path) -> Result<Dataset, DataError> {
        formats::open_unlabeled(path)
    }

    /// Builds a dataset from parts (used by format readers and by tests of other crates).
    /// Checks that every label names a class.
    pub fn from_files(
        root: &Path,
        classes: Vec<String>,
        samples: Vec<(PathBuf, usize)>,
    ) -> Result<Dataset, DataError> {
        for (path, label) in &samples {
            if *label >= classes.len() {
                return Err(DataError::LabelWithoutName {
                    path: root.join(path),
                    label: *label,
                    n_names: classes.len(),
                });
            }
        }
        Ok(Dataset {
            classes,
            samples: samples
                .into_iter()
                .map(|(p, label)| Sample {
                    source: SampleSource::File(p),
                    label,
                })
                .collect(),
            origin: root.to_path_buf(),
            root: root.to_path_buf(),
            format: Format::ImageFolder,
            idx: None,
        })
    }

    /// Class names; a sample's `label` indexes this list.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }
    /// The samples, in dataset order (the order every view and the fingerprint use).
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }
    /// Whether the dataset has no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
    /// Label of sample `i`. Panics if `i >= len()`, like slice indexing.
    pub fn label(&self, i: usize) -> usize {
        self.samples[i].label
    }
    /// Every sample's label, in dataset order.
    pub fn labels(&self) -> Vec<usize> {
        self.samples.iter().map(|s| s.label).collect()
    }
    /// The path the user opened (directory, manifest or IDX file); used in messages.
    pub fn origin(&self) -> &Path {
        &self.origin
    }
    /// The on-disk layout the dataset was read from.
    pub fn format(&self) -> Format {
        self.format
    }
    /// Absolute path of sample `i`'s image file (`None` for IDX samples).
    pub fn sample_path(&self, i: usize) -> Option<PathBuf> {
        match &self.samples.get(i)?.source {
            SampleSource::File(p) => Some(self.root.join(p)),
            SampleSource::Idx(_) => None,
        }
    }

    /// Number of samples per class, in class order (classes with no samples included).
    pub fn class_counts(&self) -> Vec<(String, usize)> {
        let mut counts = vec![0usize; self.classes.len()];
        for s in &self.samples {
            counts[s.label] += 1;
        }
        self.classes.iter().cloned().zip(counts).collect()
    }

    /// Keeps the named classes and relabels them `0..k` in the given order.
    pub fn select_classes(&self, names: &[&str]) -> Result<Dataset, DataError> {
        let mut new_label = vec![None; self.classes.len()];
        for (k, name) in names.iter().enumerate() {
            let old = self.class_index(name)?;
            if new_label[old].is_some() {
                return Err(DataError::DuplicateClass {
                    path: self.origin.clone(),
                    name: name.to_string(),
                });
            }
            new_label[old] = Some(k);
        }
        let classes = names.iter().map(|s| s.to_string()).collect();
        Ok(self.relabel(classes, |s| new_label[s.label]))
    }

    /// Merges classes into groups: sample labels become the index of the group that lists the
    /// sample's class; classes in no group are dropped. A class may appear in one group only.
    pub fn group_classes(&self, groups: &[(&str, Vec<&str>)]) -> Result<Dataset, DataError> {
        let mut new_label = vec![None; self.classes.len()];
        for (g, (_, members)) in groups.iter().enumerate() {
            for name in members {
                let old = self.class_index(name)?;
                if new_label[old].is_some() {
                    return Err(DataError::DuplicateClass {
                        path: self.origin.clone(),
                        name: name.to_string(),
                    });
                }
                new_label[old] = Some(g);
            }
        }
        let classes = groups.iter().map(|(g, _)| g.to_string()).collect();
        Ok(self.relabel(classes, |s| new_label[s.label]))
    }

    /// General relabelling: `f` gives each sample's new label (an index into `classes`), or
    /// `None` to drop it. Sample order is kept.
    pub fn relabel(&self, classes: Vec<String>, f: impl Fn(&Sample) -> Option<usize>) -> Dataset {
        let samples = self
            .samples
            .iter()
            .filter_map(|s| {
                f(s).map(|label| {
                    assert!(label < classes.len(), "relabel: label {label} out of range");
                    Sample {
                        source: s.source.clone(),
                        label,
                    }
                })
            })
            .collect();
        Dataset {
            classes,
            samples,
            ..self.clone_empty()
        }
    }

    /// The same images as one class `unlabeled` (for domain embeddings).
    pub fn without_labels(&self) -> Dataset {
        self.relabel(vec!["unlabeled".to_string()], |_| Some(0))
    }

    /// Deterministic class-stratified subsample of at most `max_samples` samples: each class
    /// keeps a share proportional to its size (largest remainders; every non-empty class keeps
    /// at least one sample when `max_samples >= number of non-empty classes`), chosen by a
    /// seeded shuffle. Original order is kept.
    pub fn take(&self, max_samples: usize, seed: u64) -> Dataset {
        if self.samples.len() <= max_samples {
            return self.clone();
        }
        let by_class = self.indices_by_class();
        let quotas = stratified_quotas(
            &by_class.iter().map(Vec::len).collect::<Vec<_>>(),
            max_samples,
        );
        self.keep_per_class(by_class, &quotas, seed)
    }

    /// Deterministic subsample of at most `per_class` samples from every class.
    pub fn take_per_class(&self, per_class: usize, seed: u64) -> Dataset {
        let by_class = self.indices_by_class();
        let quotas: Vec<usize> = by_class.iter().map(|v| v.len().min(per_class)).collect();
        self.keep_per_class(by_class, &quotas, seed)
    }

    /// Deterministic class-stratified split into two disjoint halves that together hold every
    /// sample (a retest: the same task embedded twice from different images). Each class's
    /// samples are shuffled by a seeded stream of their own and split into ⌊n/2⌋ and ⌈n/2⌉;
    /// the larger share of a class with an odd count goes to the first half and the second in
    /// turn, so the halves' sizes differ by at most one. Both halves keep the class list and the
    /// original sample order. A class with a single sample is in one half only, which then
    /// fails [`Dataset::validate`] in the other.
    pub fn halves(&self, seed: u64) -> (Dataset, Dataset) {
        let mut first = Vec::with_capacity(self.samples.len() / 2 + 1);
        let mut second = Vec::with_capacity(self.samples.len() / 2 + 1);
        let mut odd = 0usize;
        for (c, mut idx) in self.indices_by_class().into_iter().enumerate() {
            // Streams with the top bit set: never one of `take`'s per-class streams.
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream((1 << 63) | c as u64);
            idx.shuffle(&mut rng);
            let mut cut = idx.len() / 2;
            if !idx.len().is_multiple_of(2) {
                cut += usize::from(odd.is_multiple_of(2));
                odd += 1;
            }
            first.extend_from_slice(&idx[..cut]);
            second.extend_from_slice(&idx[cut..]);
        }
        let view = |mut kept: Vec<usize>| {
            kept.sort_unstable();
            Dataset {
                classes: self.classes.clone(),
                samples: kept.into_iter().map(|i| self.samples[i].clone()).collect(),
                ..self.clone_empty()
            }
        };
        (view(first), view(second))
    }

    /// sha256 over `class\t<name>\n` for each class, then `<source>\t<label>\n` for each
    /// sample, where `<source>` is the file path relative to the dataset root with `/`
    /// separators, or `idx:<n>`.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        for c in &self.classes {
            h.update(format!("class\t{c}\n").as_bytes());
        }
        for s in &self.samples {
            h.update(format!("{}\t{}\n", s.source, s.label).as_bytes());
        }
        Fingerprint {
            n_samples: self.samples.len(),
            n_classes: self.classes.len(),
            sha256: task2vec_common::hex(&h.finalize()),
        }
    }

    /// sha256 over the [`Dataset::fingerprint`] and the bytes of every sample, in order: the
    /// sha256 of each image file's bytes, or of an IDX sample's pixels. Unlike the fingerprint
    /// (names and labels only), it changes when an image is replaced by another of the same
    /// name: result stores key on it. Reads every file once; the error names the file.
    pub fn content_sha256(&self) -> Result<String, DataError> {
        let mut h = Sha256::new();
        h.update(self.fingerprint().sha256.as_bytes());
        h.update(b"\n");
        for s in &self.samples {
            let digest = match &s.source {
                SampleSource::File(rel) => {
                    let path = self.root.join(rel);
                    task2vec_common::sha256_file(&path)
                        .map_err(|e| DataError::io(&path, e.source))?
                }
                SampleSource::Idx(n) => {
                    let idx = self.idx.as_ref().expect("IDX sample without IDX storage");
                    task2vec_common::sha256_bytes(idx.image(*n).as_raw())
                }
            };
            h.update(digest.as_bytes());
            h.update(b"\n");
        }
        Ok(task2vec_common::hex(&h.finalize()))
    }

    /// Checks that the dataset can be used to fit a task head: at least one sample, at least
    /// two classes, and no class without samples.
    pub fn validate(&self) -> Result<(), DataError> {
        self.validate_for(LabelUse::Required)
    }

    /// Like [`Dataset::validate`]; with [`LabelUse::Ignored`] only "not empty" is required.
    pub fn validate_for(&self, labels: LabelUse) -> Result<(), DataError> {
        if self.samples.is_empty() {
            return Err(DataError::NoSamples {
                path: self.origin.clone(),
            });
        }
        if labels == LabelUse::Ignored {
            return Ok(());
        }
        if self.classes.len() < 2 {
            return Err(DataError::TooFewClasses {
                path: self.origin.clone(),
                found: self.classes.len(),
            });
        }
        if let Some((class, _)) = self.class_counts().into_iter().find(|(_, n)| *n == 0) {
            return Err(DataError::ClassWithoutSamples {
                path: self.origin.clone(),
                class,
            });
        }
        Ok(())
    }

    /// Decodes sample `i`. Images keep their own size and colour mode; IDX samples are 8-bit
    /// grayscale. The error names the file.
    pub fn load_image(&self, i: usize) -> Result<image::DynamicImage, DataError> {
        let sample = self.samples.get(i).ok_or(DataError::IndexOutOfRange {
            index: i,
            len: self.samples.len(),
        })?;
        match &sample.source {
            SampleSource::File(rel) => decode_file(&self.root.join(rel)),
            SampleSource::Idx(n) => {
                let idx = self.idx.as_ref().expect("IDX sample without IDX storage");
                Ok(image::DynamicImage::ImageLuma8(idx.image(*n)))
            }
        }
    }

    /// Decodes every image once. With [`OnBadImage::Fail`] the first bad file is an error;
    /// with [`OnBadImage::Skip`] bad files are dropped and returned in the report.
    pub fn scan_images(
        &self,
        policy: OnBadImage,
    ) -> Result<(Dataset, Vec<SkippedImage>), DataError> {
        let mut keep = Vec::with_capacity(self.samples.len());
        let mut skipped = Vec::new();
        for (i, s) in self.samples.iter().enumerate() {
            match self.load_image(i) {
                Ok(_) => keep.push(s.clone()),
                Err(DataError::BadImage { path, reason }) if policy == OnBadImage::Skip => {
                    skipped.push(SkippedImage { path, reason })
                }
                Err(e) => return Err(e),
            }
        }
        Ok((
            Dataset {
                classes: self.classes.clone(),
                samples: keep,
                ..self.clone_empty()
            },
            skipped,
        ))
    }

    fn class_index(&self, name: &str) -> Result<usize, DataError> {
        self.classes
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| DataError::UnknownClass {
                path: self.origin.clone(),
                name: name.to_string(),
                known: self.classes.join(", "),
            })
    }

    fn indices_by_class(&self) -> Vec<Vec<usize>> {
        let mut by_class = vec![Vec::new(); self.classes.len()];
        for (i, s) in self.samples.iter().enumerate() {
            by_class[s.label].push(i);
        }
        by_class
    }

    fn keep_per_class(&self, by_class: Vec<Vec<usize>>, quotas: &[usize], seed: u64) -> Dataset {
        // One stream per class, derived from the seed and the class index, so that a class's
        // choice does not depend on the sizes of the other classes.
        let mut kept = Vec::new();
        for (c, mut idx) in by_class.into_iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(c as u64);
            idx.shuffle(&mut rng);
            kept.extend_from_slice(&idx[..quotas[c]]);
        }
        kept.sort_unstable();
        Dataset {
            classes: self.classes.clone(),
            samples: kept.into_iter().map(|i| self.samples[i].clone()).collect(),
            ..self.clone_empty()
        }
    }

    fn clone_empty(&self) -> Dataset {
        Dataset {
            classes: Vec::new(),
            samples: Vec::new(),
            origin: self.origin.clone(),
            root: self.root.clone(),
            format: self.format,
            idx: self.idx.clone(),
        }
    }
}

/// Splits `total` over classes of the given sizes proportionally (largest remainder), giving
/// each non-empty class at least one slot when there are enough slots.
fn stratified_quotas(sizes: &[usize], total: usize) -> Vec<usize> {
    let n: usize = sizes.iter().sum();
    let mut quotas: Vec<usize> = sizes.iter().map(|&s| s * total / n).collect();
    let non_empty = sizes.iter().filter(|&&s| s > 0).count();
    if total >= non_empty {
        for (q, &s) in quotas.iter_mut().zip(sizes) {
            if s > 0 && *q == 0 {
                *q = 1;
            }
        }
    }
    let mut assigned: usize = quotas.iter().sum();
    // Hand out the remaining slots by largest fractional remainder (ties: lower class index).
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&c| std::cmp::Reverse((sizes[c] * total) % n.max(1)));
    while assigned < total {
        let before = assigned;
        for &c in &order {
            if assigned < total && quotas[c] < sizes[c] {
                quotas[c] += 1;
                assigned += 1;
            }
        }
        if assigned == before {
            break;
        }
    }
    // The "at least one" rule may overshoot: take back from the largest quotas.
    while assigned > total {
        let c = (0..quotas.len()).max_by_key(|&c| quotas[c]).unwrap();
        quotas[c] -= 1;
        assigned -= 1;
    }
    quotas
}

pub(crate) fn decode_file(path: &Path) -> Result<image::DynamicImage, DataError> {
    let bad = |reason: String| DataError::BadImage {
        path: path.to_path_buf(),
        reason,
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format().is_none() {
        return Err(bad("unrecognised image format".to_string()));
    }
    reader.decode().map_err(|e| bad(e.to_string()))
}

/// Sorts class names naturally: numerically when every name is an integer, else by string.
pub(crate) fn sort_class_names(names: &mut [String]) {
    if names.iter().all(|n| n.parse::<u64>().is_ok()) {
        names.sort_by_key(|n| n.parse::<u64>().unwrap());
    } else {
        names.sort();
    }
}

/// Index of each class name, for readers that see names before labels.
pub(crate) fn name_index(names: &[String]) -> BTreeMap<&str, usize> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_proportional_and_sum_to_total() {
        assert_eq!(stratified_quotas(&[100, 100], 10), vec![5, 5]);
        assert_eq!(stratified_quotas(&[90, 10], 10), vec![9, 1]);
        // 1000*7/1010 = 6.93 -> 6 + remainder; 10*7/1010 = 0.07 -> at least 1.
        assert_eq!(stratified_quotas(&[1000, 10], 7), vec![6, 1]);
        assert_eq!(stratified_quotas(&[3, 0, 3], 4), vec![2, 0, 2]);
        // Fewer slots than classes: no minimum, proportional rounding only.
        assert_eq!(stratified_quotas(&[5, 5, 5], 2).iter().sum::<usize>(), 2);
    }

    #[test]
    fn halves_are_disjoint_complete_stratified_and_deterministic() {
        // Classes of 7, 10 and 3 samples (two odd counts), labels interleaved.
        let sizes = [7usize, 10, 3];
        let mut samples = Vec::new();
        for (c, &n) in sizes.iter().enumerate() {
            for k in 0..n {
                samples.push((PathBuf::from(format!("{c}/{k}.png")), c));
            }
        }
        samples.sort_by_key(|(p, _)| p.file_name().unwrap().to_owned());
        let ds = Dataset::from_files(
            Path::new("/data"),
            vec!["a".into(), "b".into(), "c".into()],
            samples,
        )
        .unwrap();
        let files = |d: &Dataset| -> Vec<String> {
            d.samples().iter().map(|s| s.source.to_string()).collect()
        };
        let (a, b) = ds.halves(5);
        // Disjoint and complete.
        let mut both: Vec<String> = files(&a).into_iter().chain(files(&b)).collect();
        both.sort();
        let mut all = files(&ds);
        all.sort();
        assert_eq!(both, all);
        // Stratified: ⌊n/2⌋ or ⌈n/2⌉ of each class; the odd classes' extra sample alternates.
        let counts = |d: &Dataset| -> Vec<usize> { d.class_counts().iter().map(|c| c.1).collect() };
        assert_eq!(counts(&a), vec![4, 5, 1]);
        assert_eq!(counts(&b), vec![3, 5, 2]);
        assert_eq!(a.classes(), ds.classes());
        // Original order kept, labels kept.
        let position = |f: &String| files(&ds).iter().position(|g| g == f).unwrap();
        let order: Vec<usize> = files(&a).iter().map(position).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]));
        for s in a.samples() {
            let original = ds.samples().iter().find(|t| t.source == s.source).unwrap();
            assert_eq!(original.label, s.label);
        }
        // Deterministic per seed; another seed gives another split.
        assert_eq!(files(&ds.halves(5).0), files(&a));
        assert_eq!(files(&ds.halves(5).1), files(&b));
        assert_ne!(files(&ds.halves(6).0), files(&a));
    }
}
