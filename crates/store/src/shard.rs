//! Sharding a suite over the array jobs of a batch engine: which shard this process is (from a
//! flag or the engine's own environment variables) and which tasks each shard runs.
use std::fmt;
use std::str::FromStr;

use crate::error::StoreError;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: usize,
    /// How many shards the suite is split into.
    pub count: usize,
}

impl Shard {
    /// Checks `index < count` and `count ≥ 1`.
    pub fn new(index: usize, count: usize) -> Result<Shard, StoreError> {
        if count == 0 {
            return Err(StoreError::Shard(
                "the number of shards must be at least 1".into(),
            ));
        }
        if index >= count {
            return Err(StoreError::Shard(format!(
                "shard index {index} is out of range for {count} shard(s) (indices are 0-based)"
            )));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = StoreError;

    /// `I/N`: shard I (0-based) of N.
    fn from_str(s: &str) -> Result<Shard, StoreError> {
        let bad = || StoreError::Shard(format!("`{s}` is not a shard: write I/N, e.g. 0/4"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }
}

/// Where a shard came from (printed, so that a user sees why a job ran what it ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSource {
    /// `--shard I/N`.
    Flag,
    /// `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` or `_MIN`/`_MAX`.
    Slurm,
    /// `JOB_COMPLETION_INDEX` (Kubernetes Indexed Job) with `--shards N`.
    Kubernetes,
    /// `AWS_BATCH_JOB_ARRAY_INDEX` / `AWS_BATCH_JOB_ARRAY_SIZE`.
    AwsBatch,
    /// `BATCH_TASK_INDEX` / `BATCH_TASK_COUNT` (Google Cloud Batch).
    GcpBatch,
}

impl fmt::Display for ShardSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShardSource::Flag => "--shard",
            ShardSource::Slurm => "Slurm array (SLURM_ARRAY_TASK_ID)",
            ShardSource::Kubernetes => "Kubernetes Indexed Job (JOB_COMPLETION_INDEX)",
            ShardSource::AwsBatch => "AWS Batch array (AWS_BATCH_JOB_ARRAY_INDEX)",
            ShardSource::GcpBatch => "Google Cloud Batch (BATCH_TASK_INDEX)",
        })
    }
}

/// This process's shard: `flag` (`--shard I/N`) if given, else the first engine whose index
/// variable is set (Slurm, Kubernetes, AWS Batch, Google Cloud Batch), else none (the whole
/// suite). `shards` (`--shards N`) gives the count where the engine does not export it
/// (Kubernetes) and must agree with it where it does. `env` reads a variable (`std::env::var`
/// in the CLI, a map in tests).
pub fn resolve_shard(
    flag: Option<Shard>,
    shards: Option<usize>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<(Shard, ShardSource)>, StoreError> {
    if let Some(shard) = flag {
        if let Some(n) = shards
            && n != shard.count
        {
            return Err(StoreError::Shard(format!(
                "--shard {shard} and --shards {n} disagree on the number of shards"
            )));
        }
        return Ok(Some((shard, ShardSource::Flag)));
    }
    let number = |name: &str| -> Result<Option<usize>, StoreError> {
        match env(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                StoreError::Shard(format!("{name}={v:?} is not a non-negative integer"))
            }),
        }
    };
    let agree = |count: usize, source: ShardSource| -> Result<usize, StoreError> {
        match shards {
            Some(n) if n != count => Err(StoreError::Shard(format!(
                "--shards {n} disagrees with the {source}, which has {count} task(s)"
            ))),
            _ => Ok(count),
        }
    };
    if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let min = number("SLURM_ARRAY_TASK_MIN")?;
        let max = number("SLURM_ARRAY_TASK_MAX")?;
        let count = number("SLURM_ARRAY_TASK_COUNT")?;
        let min_v = min.unwrap_or(0);
        let count = match (count, min, max) {
            (Some(c), Some(lo), Some(hi)) if hi >= lo && hi - lo + 1 != c => {
                return Err(StoreError::Shard(format!(
                    "the Slurm array {lo}-{hi} has {c} tasks: arrays with a step or gaps cannot \
                     be mapped to shards, submit --array=0-{} or pass --shard I/N",
                    c - 1
                )));
            }
            (Some(c), _, _) => c,
            (None, Some(lo), Some(hi)) if hi >= lo => hi - lo + 1,
            _ => {
                return Err(StoreError::Shard(
                    "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor \
                     SLURM_ARRAY_TASK_MIN/MAX: pass --shard I/N"
                        .into(),
                ));
            }
        };
        let index = id.checked_sub(min_v).ok_or_else(|| {
            StoreError::Shard(format!(
                "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min_v}"
            ))
        })?;
        let count = agree(count, ShardSource::Slurm)?;
        return Ok(Some((Shard::new(index, count)?, ShardSource::Slurm)));
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let count = shards.ok_or_else(|| {
            StoreError::Shard(
                "JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job) but Kubernetes does not \
                 export the number of completions: pass --shards N (the Job's completions)"
                    .into(),
            )
        })?;
        return Ok(Some((Shard::new(index, count)?, ShardSource::Kubernetes)));
    }
    for (index_var, count_var, source) in [
        (
            "AWS_BATCH_JOB_ARRAY_INDEX",
            "AWS_BATCH_JOB_ARRAY_SIZE",
            ShardSource::AwsBatch,
        ),
        (
            "BATCH_TASK_INDEX",
            "BATCH_TASK_COUNT",
            ShardSource::GcpBatch,
        ),
    ] {
        if let Some(index) = number(index_var)? {
            let count = match (number(count_var)?, shards) {
                (Some(c), _) => agree(c, source)?,
                (None, Some(n)) => n,
                (None, None) => {
                    return Err(StoreError::Shard(format!(
                        "{index_var} is set but {count_var} is not: pass --shards N"
                    )));
                }
            };
            return Ok(Some((Shard::new(index, count)?, source)));
        }
    }
    if let Some(n) = shards {
        return Err(StoreError::Shard(format!(
            "--shards {n} without a shard index: pass --shard I/{n} or run inside an array job"
        )));
    }
    Ok(None)
}

/// The shard of every task, balanced by expected cost: tasks in decreasing cost (ties by
/// position) each go to the shard with the least total so far (ties to the lowest index) —
/// the longest-processing-time rule, whose largest shard is at most 4/3 of the optimum. Pure
/// and deterministic: every process of an array computes the same map from the same suite.
pub fn assign_shards(costs: &[u64], count: usize) -> Vec<usize> {
    assert!(count >= 1, "at least one shard");
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0u128; count];
    let mut shard_of = vec![0; costs.len()];
    for task in order {
        let (best, _) = load
            .iter()
            .enumerate()
            .min_by_key(|&(i, &l)| (l, i))
            .expect("count ≥ 1");
        shard_of[task] = best;
        load[best] += u128::from(costs[task]);
    }
    shard_of
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn shard(i: usize, n: usize) -> Shard {
        Shard::new(i, n).unwrap()
    }

    #[test]
    fn flags_parse_and_refuse_nonsense() {
        assert_eq!("2/3".parse::<Shard>().unwrap(), shard(2, 3));
        for bad in ["3/3", "1/0", "1", "a/b", "-1/3", "1/3/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn each_engine_is_read_by_its_own_conventions() {
        let none = env(&[]);
        assert_eq!(resolve_shard(None, None, &none).unwrap(), None);
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_MAX", "6"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(
            resolve_shard(None, None, &slurm).unwrap(),
            Some((shard(1, 3), ShardSource::Slurm))
        );
        // Older Slurm without COUNT.
        let slurm_minmax = env(&[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "1"),
        ]);
        assert_eq!(
            resolve_shard(None, None, &slurm_minmax).unwrap(),
            Some((shard(0, 2), ShardSource::Slurm))
        );
        // A stepped array (1-9:4 → 1, 5, 9) cannot be mapped.
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "9"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert!(resolve_shard(None, None, &stepped).is_err());
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert!(
            resolve_shard(None, None, &k8s)
                .unwrap_err()
                .to_string()
                .contains("--shards")
        );
        assert_eq!(
            resolve_shard(None, Some(4), &k8s).unwrap(),
            Some((shard(2, 4), ShardSource::Kubernetes))
        );
        assert!(resolve_shard(None, Some(2), &k8s).is_err(), "index 2 of 2");
        let aws = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "10"),
        ]);
        assert_eq!(
            resolve_shard(None, None, &aws).unwrap(),
            Some((shard(0, 10), ShardSource::AwsBatch))
        );
        assert!(
            resolve_shard(None, Some(9), &aws).is_err(),
            "disagreeing count"
        );
        let gcp = env(&[("BATCH_TASK_INDEX", "1"), ("BATCH_TASK_COUNT", "2")]);
        assert_eq!(
            resolve_shard(None, None, &gcp).unwrap(),
            Some((shard(1, 2), ShardSource::GcpBatch))
        );
        // The flag wins over the environment.
        assert_eq!(
            resolve_shard(Some(shard(0, 1)), None, &slurm).unwrap(),
            Some((shard(0, 1), ShardSource::Flag))
        );
        assert!(
            resolve_shard(None, Some(3), &none).is_err(),
            "--shards alone"
        );
        let garbage = env(&[
            ("SLURM_ARRAY_TASK_ID", "x"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ]);
        assert!(resolve_shard(None, None, &garbage).is_err());
    }

    #[test]
    fn costs_are_balanced_by_the_longest_first_rule() {
        // 8, 7, 6, 5, 4 over 2 shards: 8→0, 7→1, 6→1 (13), 5→0 (13), 4→0 (17)… ties to index 0.
        let shards = assign_shards(&[5, 8, 4, 7, 6], 2);
        assert_eq!(shards, vec![0, 0, 0, 1, 1]);
    }

    proptest! {
        #[test]
        fn every_task_belongs_to_exactly_one_shard_and_no_shard_is_overloaded(
            costs in proptest::collection::vec(1u64..10_000, 0..200),
            count in 1usize..17,
        ) {
            let shard_of = assign_shards(&costs, count);
            prop_assert_eq!(shard_of.len(), costs.len());
            prop_assert!(shard_of.iter().all(|&s| s < count));
            // Deterministic.
            prop_assert_eq!(&assign_shards(&costs, count), &shard_of);
            // The tasks of the shards, taken together, are the suite, each once.
            let mut seen = vec![0; costs.len()];
            for s in 0..count {
                for (t, _) in shard_of.iter().enumerate().filter(|&(_, &x)| x == s) {
                    seen[t] += 1;
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
            // LPT bound: no shard exceeds the average load plus the largest task.
            let total: u64 = costs.iter().sum();
            let largest = costs.iter().copied().max().unwrap_or(0);
            for s in 0..count {
                let load: u64 = costs.iter().zip(&shard_of).filter(|&(_, &x)| x == s).map(|(c, _)| c).sum();
                prop_assert!(load as f64 <= total as f64 / count as f64 + largest as f64);
            }
        }
    }
}
