//! Task suites: TOML files listing tasks defined over fetched sources
//! (`$TASK2VEC_HOME/datasets/<source>/`, written by `cargo xtask fetch <source>`).
//!
//! ```toml
//! name = "quick"
//! description = "..."
//! seed = 0                        # default subsample seed for every task
//!
//! [[task]]
//! id = "fashion/footwear"
//! source = "fashion-mnist"
//! path = ""                       # folder inside the source (e.g. a script, a category)
//! taxonomy = ["fashion-mnist", "footwear"]   # ancestors, root first
//! max_samples = 300
//! classes = ["Sandal", "Sneaker", "Ankle boot"]   # optional subset, in label order
//! # max_classes = 5               # optional: keep the first k (after `classes`)
//! # groups = [{ name = "tops", classes = ["Shirt", "Coat"] }, ...]  # label = group
//! # label_by = "file-tag"         # label = file-name tag (text before the first `_`)
//! # tags = ["sans-regular", "sans-bold"]   # keep only files with these tags (label order
//! #                                         # for file-tag tasks)
//!
//! [[task]]                        # a dataset of your own instead of a fetched source
//! id = "mine/birds"
//! dataset = "data/birds"          # ImageFolder, CSV manifest or IDX files; relative paths are
//!                                 # resolved against the suite file's folder
//! # taxonomy and max_samples are optional for such tasks (default: none, every image)
//! ```
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Sample, SampleSource};
use crate::error::DataError;

/// Name of the marker `cargo xtask fetch` writes into a source folder once it is complete.
pub const FETCHED_MARKER: &str = "FETCHED.toml";

/// The data home (`$TASK2VEC_HOME`, default `~/.cache/task2vec`): the one resolver of the
/// workspace, re-exported under the name this module has always used.
pub use task2vec_common::home_dir as default_home;

/// Folder of a fetched source: `<home>/datasets/<source>`.
pub fn source_dir(home: &Path, source: &str) -> PathBuf {
    home.join("datasets").join(source)
}

/// A list of tasks with a shared default seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// The suite's name (`cargo xtask reproduce --suite NAME`, the file's stem by convention).
    pub name: String,
    /// One line for humans: what the suite is for.
    #[serde(default)]
    pub description: String,
    /// Default subsample seed of every task that sets none.
    #[serde(default)]
    pub seed: u64,
    /// The tasks, in file order (ids unique; checked by [`Suite::parse`]).
    #[serde(rename = "task")]
    pub tasks: Vec<Task>,
}

/// How a task labels the samples of its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelRule {
    /// Label = the source's class (after `classes` / `max_classes` / `groups`).
    #[default]
    Class,
    /// Label = the file-name tag (the stem's text before its first `_`), in `tags` order.
    FileTag,
}

/// A class group for tasks that merge classes (`groups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's label name in the task.
    pub name: String,
    /// The source classes merged into this label.
    pub classes: Vec<String>,
}

/// One task of a suite: a source, a selection and labelling rule, its taxonomy path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Unique id within the suite, `group/name` by convention (also the output folder name).
    pub id: String,
    /// The fetched source it reads (`$TASK2VEC_HOME/datasets/<source>`, see [`source_dir`]);
    /// empty for a task that names its own `dataset`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// A dataset of the user's own (ImageFolder, CSV manifest or IDX) instead of a fetched
    /// source. [`Suite::load`] resolves a relative path against the suite file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<PathBuf>,
    /// Folder inside the source (a script, a category); empty for the source's root.
    #[serde(default)]
    pub path: String,
    /// Ancestor names, root first; see [`Task::taxonomic_distance`]. Optional for `dataset`
    /// tasks.
    #[serde(default)]
    pub taxonomy: Vec<String>,
    /// Size of the seeded class-stratified subsample the task is embedded on; every image when
    /// absent (allowed for `dataset` tasks only: [`ALL_SAMPLES`]).
    #[serde(default = "all_samples", skip_serializing_if = "is_all_samples")]
    pub max_samples: usize,
    /// Keep only these source classes, in this (label) order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Keep the first k classes (after `classes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_classes: Option<usize>,
    /// Merge classes into labels: each sample's label is its class's group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
    /// What a sample's label is: its class (default) or its file-name tag.
    #[serde(default)]
    pub label_by: LabelRule,
    /// Keep only files with these file-name tags (the label order of `file-tag` tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Overrides the suite's seed for this task's subsample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Free text for humans (why the task exists, what it contrasts).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// `max_samples` of a task that sets none: every image of its dataset.
pub const ALL_SAMPLES: usize = usize::MAX;

fn all_samples() -> usize {
    ALL_SAMPLES
}

fn is_all_samples(n: &usize) -> bool {
    *n == ALL_SAMPLES
}

impl Suite {
    /// Reads and checks a suite file (unique ids, consistent rules) and resolves the relative
    /// `dataset` paths of its tasks against the file's folder.
    pub fn load(path: &Path) -> Result<Suite, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let mut suite = Suite::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        for task in &mut suite.tasks {
            if let Some(d) = &mut task.dataset
                && d.is_relative()
            {
                *d = base.join(&*d);
            }
        }
        Ok(suite)
    }

    /// Parses suite TOML; `path` is used in messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Suite, DataError> {
        let invalid = |message: String| DataError::InvalidSuite {
            path: path.to_path_buf(),
            message,
        };
        let mut suite: Suite = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut ids = BTreeSet::new();
        for task in &mut suite.tasks {
            if !ids.insert(task.id.clone()) {
                return Err(invalid(format!("task id `{}` appears twice", task.id)));
            }
            task.check()
                .map_err(|m| invalid(format!("task `{}`: {m}", task.id)))?;
            task.seed.get_or_insert(suite.seed);
        }
        if suite.tasks.is_empty() {
            return Err(invalid("the suite lists no tasks".to_string()));
        }
        Ok(suite)
    }

    /// The task with this id, if the suite has one.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// Sources the suite needs, sorted.
    pub fn sources(&self) -> Vec<String> {
        let set: BTreeSet<_> = self
            .tasks
            .iter()
            .filter(|t| t.dataset.is_none())
            .map(|t| t.source.clone())
            .collect();
        set.into_iter().collect()
    }
}

impl Task {
    fn check(&self) -> Result<(), String> {
        if self.id.is_empty() {
            return Err("`id` must not be empty".into());
        }
        if let Some(dataset) = &self.dataset {
            if !self.source.is_empty() || !self.path.is_empty() {
                return Err(
                    "a task reads either a fetched `source` (with its `path`) or its own \
                            `dataset`, not both"
                        .into(),
                );
            }
            if dataset.as_os_str().is_empty() {
                return Err("`dataset` must not be empty".into());
            }
            if self.max_samples == 0 {
                return Err("`max_samples` must be positive".into());
            }
            return self.check_labels();
        }
        if self.source.is_empty() {
            return Err("a task needs a fetched `source` or a `dataset` of its own".into());
        }
        if self.taxonomy.is_empty() {
            return Err("`taxonomy` must list at least one ancestor".into());
        }
        if self.max_samples == 0 || self.max_samples == ALL_SAMPLES {
            return Err(
                "`max_samples` must be positive (a task of a fetched source needs one)".into(),
            );
        }
        if self.max_classes.is_some_and(|k| k < 2) {
            return Err("`max_classes` must be at least 2".into());
        }
        if Path::new(&self.path).is_absolute() || self.path.split('/').any(|c| c == "..") {
            return Err("`path` must stay inside the source folder".into());
        }
        // `source` names a folder of `<home>/datasets/`: `../x` or `/x` would read elsewhere.
        let mut parts = Path::new(&self.source).components();
        if !matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        ) {
            return Err("`source` must be the name of a fetched source (one folder name)".into());
        }
        self.check_labels()
    }

    fn check_labels(&self) -> Result<(), String> {
        match self.label_by {
            LabelRule::FileTag => {
                if self.groups.is_some() {
                    return Err("`groups` and `label_by = \"file-tag\"` exclude each other".into());
                }
                if self.tags.as_ref().is_none_or(|t| t.len() < 2) {
                    return Err("`label_by = \"file-tag\"` needs at least 2 `tags`".into());
                }
            }
            LabelRule::Class => {
                if self.groups.as_ref().is_some_and(|g| g.len() < 2) {
                    return Err("`groups` needs at least 2 groups".into());
                }
            }
        }
        Ok(())
    }

    /// Levels from the deeper of the two tasks up to their closest common ancestor: 0 for the
    /// same taxonomy path, 1 for siblings, and so on ([`task2vec_common::taxonomic_distance`]).
    pub fn taxonomic_distance(&self, other: &Task) -> usize {
        task2vec_common::taxonomic_distance(&self.taxonomy, &other.taxonomy)
    }

    /// Folder the task reads: its own `dataset`, else `<home>/datasets/<source>/<path>`.
    pub fn data_dir(&self, home: &Path) -> PathBuf {
        if let Some(d) = &self.dataset {
            return d.clone();
        }
        let dir = source_dir(home, &self.source);
        if self.path.is_empty() {
            dir
        } else {
            dir.join(&self.path)
        }
    }

    /// Builds the task's dataset from its fetched source: opens it, applies the selection and
    /// labelling rule, takes the seeded stratified subsample, and validates the result.
    pub fn materialize(&self, home: &Path) -> Result<Dataset, DataError> {
        let source_root = source_dir(home, &self.source);
        if self.dataset.is_none() && !source_root.join(FETCHED_MARKER).is_file() {
            return Err(DataError::SourceNotFetched {
                path: source_root,
                source_name: self.source.clone(),
            });
        }
        let ds = self.build(&Dataset::open(&self.data_dir(home))?)?;
        ds.validate()?;
        Ok(ds)
    }

    /// Selection, subsample and labelling on an opened source, in this order:
    /// 1. keep files with the listed `tags`; 2. `classes`, then `max_classes`;
    /// 3. the seeded subsample of `max_samples`, stratified by the *source* classes;
    /// 4. relabel by `groups` or by file tag.
    ///
    /// Subsampling before relabelling makes tasks that differ only in their labelling rule
    /// (class vs group, letter vs style) see exactly the same images.
    pub fn build(&self, source: &Dataset) -> Result<Dataset, DataError> {
        let selected = self.select(source)?;
        let sampled = selected.take(self.max_samples, self.seed.unwrap_or(0));
        self.label(&sampled)
    }

    /// Steps 1–2 of [`Task::build`]: tags, then classes.
    pub fn select(&self, source: &Dataset) -> Result<Dataset, DataError> {
        let mut ds = source.clone();
        if let Some(tags) = &self.tags {
            let wanted: Vec<&str> = tags.iter().map(String::as_str).collect();
            ds = ds.relabel(ds.classes().to_vec(), |s| {
                file_tag(s).filter(|t| wanted.contains(t)).map(|_| s.label)
            });
        }
        if let Some(names) = &self.classes {
            ds = ds.select_classes(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        if let Some(k) = self.max_classes.filter(|&k| k < ds.classes().len()) {
            let names: Vec<String> = ds.classes()[..k].to_vec();
            ds = ds.select_classes(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        Ok(ds)
    }

    /// Step 4 of [`Task::build`]: labels by `groups` or by file tag (else unchanged).
    pub fn label(&self, selected: &Dataset) -> Result<Dataset, DataError> {
        let mut ds = selected.clone();
        if let Some(groups) = &self.groups {
            let groups: Vec<(&str, Vec<&str>)> = groups
                .iter()
                .map(|g| {
                    (
                        g.name.as_str(),
                        g.classes.iter().map(String::as_str).collect(),
                    )
                })
                .collect();
            ds = ds.group_classes(&groups)?;
        }
        if self.label_by == LabelRule::FileTag {
            let tags = self.tags.clone().unwrap_or_default();
            ds = ds.relabel(tags.clone(), |s| {
                file_tag(s).and_then(|t| tags.iter().position(|x| x == t))
            });
        }
        Ok(ds)
    }
}

/// The text before the first `_` of a file sample's stem (`sans-bold_03.png` → `sans-bold`).
fn file_tag(sample: &Sample) -> Option<&str> {
    match &sample.source {
        SampleSource::File(p) => p.file_stem()?.to_str()?.split('_').next(),
        SampleSource::Idx(_) => None,
    }
}
