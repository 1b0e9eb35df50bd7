//! A suite run (feature `embed`): the tasks of a suite that belong to this shard, each
//! embedded into the store unless it holds the result already; failures are recorded and the
//! run goes on. Also the status of a suite in a store, and its task embeddings for matrices.
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use task2vec_data::{Dataset, Suite, Task};
use task2vec_embedding::Embedding;
use task2vec_fisher::Progress;

use crate::runner::{RunError, Runner, load_embedding};
use crate::shard::{Shard, assign_shards};
use crate::store::{Entry, Lookup, Store};

/// Where a task of a suite stands in a store.
#[derive(Debug, Clone)]
pub enum TaskStatus {
    /// Its result is stored.
    Done(Entry),
    /// The last attempt failed with this error (or its dataset cannot be read now).
    Failed(String),
    /// Not computed yet.
    Missing,
}

/// What happened to one task of a run.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Computed now and stored, in this many seconds.
    Computed(f64),
    /// The store held it already.
    Reused,
    /// Failed (recorded in the store) with this error.
    Failed(String),
}

/// What a run reports as it goes.
pub trait RunObserver {
    /// The run starts: `tasks` of the suite's `of` belong to this shard.
    fn start(&mut self, tasks: usize, of: usize);
    /// Task `position` (1-based) of the shard, `id`, ended so.
    fn outcome(&mut self, position: usize, id: &str, outcome: &Outcome);
    /// Per-stage progress of the task being embedded.
    fn progress(&self) -> &dyn Progress;
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Tasks computed now.
    pub computed: usize,
    /// Tasks the store already held.
    pub reused: usize,
    /// `(task id, error)` of each failed task.
    pub failed: Vec<(String, String)>,
}

/// The expected cost of each task (images × input pixels), from the suite alone where it can
/// (`max_samples`, capped by the options' `max_samples`), else by listing its dataset (a task
/// whose dataset cannot be listed costs 1: every process still computes the same map).
pub fn task_costs(suite: &Suite, home: &Path, runner: &Runner) -> Vec<u64> {
    let input = runner
        .options()
        .resolve(runner.probe())
        .map(|r| r.input_size() as u64)
        .unwrap_or(224);
    let cap = runner.options().max_samples.unwrap_or(usize::MAX);
    suite
        .tasks
        .iter()
        .map(|task| {
            let mut images = task.max_samples.min(cap);
            if images == usize::MAX {
                images = task.materialize(home).map(|d| d.len()).unwrap_or(1);
            }
            (images as u64).max(1).saturating_mul(input * input)
        })
        .collect()
}

/// The positions (in suite order) of the tasks `shard` runs; every task when `shard` is None.
pub fn shard_tasks(
    suite: &Suite,
    home: &Path,
    runner: &Runner,
    shard: Option<Shard>,
) -> Vec<usize> {
    match shard {
        None => (0..suite.tasks.len()).collect(),
        Some(s) => {
            let shard_of = assign_shards(&task_costs(suite, home, runner), s.count);
            (0..suite.tasks.len())
                .filter(|&t| shard_of[t] == s.index)
                .collect()
        }
    }
}

/// A task's dataset and the key of its result.
fn resolve(runner: &Runner, task: &Task, home: &Path) -> Result<(Dataset, crate::Key), RunError> {
    let dataset = task.materialize(home)?;
    let key = runner.result_key(&task.id, &dataset)?;
    Ok((dataset, key))
}

/// Runs the tasks of `shard` (all when None): each is reused from the store or embedded and
/// stored; a failure (an error or a panic) is recorded in the store under the task's request
/// key and the run goes on.
pub fn run_suite(
    runner: &Runner,
    store: &Store,
    suite: &Suite,
    home: &Path,
    shard: Option<Shard>,
    observer: &mut dyn RunObserver,
) -> Result<RunSummary, RunError> {
    let positions = shard_tasks(suite, home, runner, shard);
    observer.start(positions.len(), suite.tasks.len());
    let mut summary = RunSummary::default();
    for (k, &t) in positions.iter().enumerate() {
        let task = &suite.tasks[t];
        let started = Instant::now();
        let request = runner.request_key(task);
        let attempt = catch_unwind(AssertUnwindSafe(|| {
            let (dataset, key) = resolve(runner, task, home)?;
            runner.ensure(store, &key, &task.id, &dataset, observer.progress())
        }));
        let outcome = match attempt {
            Ok(Ok((_, true))) => {
                store.clear_failure(&request)?;
                summary.computed += 1;
                Outcome::Computed(started.elapsed().as_secs_f64())
            }
            Ok(Ok((_, false))) => {
                store.clear_failure(&request)?;
                summary.reused += 1;
                Outcome::Reused
            }
            Ok(Err(RunError::Store(e))) => return Err(RunError::Store(e)),
            Ok(Err(e)) => failed(store, &request, &task.id, e.to_string(), &mut summary)?,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                failed(
                    store,
                    &request,
                    &task.id,
                    format!("panicked: {what}"),
                    &mut summary,
                )?
            }
        };
        observer.outcome(k + 1, &task.id, &outcome);
    }
    Ok(summary)
}

fn failed(
    store: &Store,
    request: &crate::Key,
    id: &str,
    error: String,
    summary: &mut RunSummary,
) -> Result<Outcome, RunError> {
    store.record_failure(request, &error)?;
    summary.failed.push((id.to_string(), error.clone()));
    Ok(Outcome::Failed(error))
}

/// Where each task of `shard` (all when None) stands in the store, in suite order.
pub fn suite_status(
    runner: &Runner,
    store: &Store,
    suite: &Suite,
    home: &Path,
    shard: Option<Shard>,
) -> Result<Vec<(String, TaskStatus)>, RunError> {
    let mut out = Vec::new();
    for t in shard_tasks(suite, home, runner, shard) {
        let task = &suite.tasks[t];
        let status = match resolve(runner, task, home) {
            Err(e) => TaskStatus::Failed(format!("its dataset cannot be read: {e}")),
            Ok((_, key)) => match store.lookup(&key)? {
                Lookup::Done(entry) => TaskStatus::Done(entry),
                _ => match store.failure(&runner.request_key(task))? {
                    Some(f) => TaskStatus::Failed(f.error),
                    None => TaskStatus::Missing,
                },
            },
        };
        out.push((task.id.clone(), status));
    }
    Ok(out)
}

/// The task embeddings of every task of the suite, in suite order, from the store; an error
/// naming every task whose result is not there.
pub fn suite_embeddings(
    runner: &Runner,
    store: &Store,
    suite: &Suite,
    home: &Path,
) -> Result<Vec<Embedding>, SuiteIncomplete> {
    let status = suite_status(runner, store, suite, home, None).map_err(|e| SuiteIncomplete {
        missing: vec![],
        error: Some(e.to_string()),
    })?;
    let mut embeddings = Vec::new();
    let mut missing = Vec::new();
    for (id, s) in status {
        match s {
            TaskStatus::Done(entry) => match load_embedding(&entry) {
                Ok(e) => embeddings.push(e),
                Err(e) => missing.push(format!("{id} (unreadable: {e})")),
            },
            TaskStatus::Failed(e) => missing.push(format!("{id} (failed: {e})")),
            TaskStatus::Missing => missing.push(id),
        }
    }
    if missing.is_empty() {
        Ok(embeddings)
    } else {
        Err(SuiteIncomplete {
            missing,
            error: None,
        })
    }
}

/// The store does not hold every task of the suite (with these options).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct SuiteIncomplete {
    /// The tasks without a result.
    pub missing: Vec<String>,
    /// An error that stopped the lookup itself.
    pub error: Option<String>,
}

impl SuiteIncomplete {
    fn describe(&self) -> String {
        match &self.error {
            Some(e) => e.clone(),
            None => format!(
                "the store lacks {} task(s) of the suite with these options (run `task2vec run` first): {}",
                self.missing.len(),
                self.missing.join(", ")
            ),
        }
    }
}
