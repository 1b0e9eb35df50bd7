//! REPORT.md, its CSVs and the E2 chart (drawn by task2vec-embedding's plots).
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use task2vec_embedding::plot::{Line, LineChartOptions, line_chart};

use super::analysis::{
    Analysis, DOMAIN_FEATURES, LabelAnalysis, MANTEL_PERMUTATIONS, RetestAnalysis, TASK2VEC,
    TASK2VEC_UNIT_MEAN, TaskResult, TopK,
};

/// E0's target: self-retrieval@1 of the Task2Vec distances (issue 9).
pub const RETEST_TARGET: f64 = 0.95;
/// E5's targets for the Task2Vec distances: Spearman ρ against the partition distance, and the
/// Mantel p-value it must come under (issue 9).
pub const LABELS_RHO_TARGET: f64 = 0.5;
/// E3's target: Spearman ρ between ‖F‖₁ and the held-out error (issue 9, on `glyphs-sample`).
pub const E3_TARGET: f64 = 0.6;
pub const LABELS_P_TARGET: f64 = 0.01;

/// What the header of the report states about the run.
pub struct RunInfo {
    pub suite: String,
    pub probe: String,
    pub probe_sha256: String,
    pub method: String,
    pub image_size: usize,
    pub seed: u64,
    pub version: String,
    pub total_seconds: f64,
    /// The resolved options every task embedding was made with (its provenance).
    pub options: std::collections::BTreeMap<String, serde_json::Value>,
    /// The options that differ from the library's defaults (`task2vec embed` with no flag),
    /// as `name = value`; empty when the run used the defaults.
    pub non_default: Vec<String>,
}

/// The headline numbers of a run as JSON (`summary.json`): what `ci/fidelity/collect.py`
/// tabulates for docs/fidelity.md, so a study reads numbers, not Markdown.
pub fn summary_json(info: &RunInfo, tasks: &[TaskResult], a: &Analysis) -> Result<String> {
    use serde_json::{Map, Value, json};
    let n = tasks.len().max(1) as f64;
    let mantel =
        |m: &task2vec_embedding::stats::Mantel| json!({"rho": m.statistic, "p": m.p_value});
    let mut e2 = Map::new();
    for r in &a.top_k.rankings {
        e2.insert(
            r.name.to_string(),
            json!({"top1": r.curve.first(), "mantel": mantel(&r.mantel)}),
        );
    }
    let mut e0 = Map::new();
    if let Some(retest) = &a.retest {
        for score in &retest.scores {
            e0.insert(
                score.name.to_string(),
                json!({"self_retrieval": score.self_retrieval(), "ratio": score.ratio()}),
            );
        }
    }
    let mut e5 = Map::new();
    for c in &a.labels.correlations {
        e5.insert(
            c.name.to_string(),
            json!({"partition": c.partition.as_ref().map(mantel), "one_minus_ami": c.ami.as_ref().map(mantel)}),
        );
    }
    let summary = json!({
        "suite": info.suite,
        "probe": info.probe,
        "options": info.options,
        "non_default": info.non_default,
        "tasks": tasks.len(),
        "seconds_per_task": tasks.iter().map(|t| t.seconds).sum::<f64>() / n,
        "retest_seconds_per_task": a.retest.as_ref().map(|r| r.seconds / n),
        "e0": Value::Object(e0),
        "e2": {"random_top1": a.top_k.random.first(), "rankings": Value::Object(e2)},
        "e3": {
            "pearson_norm": a.complexity.pearson_norm,
            "spearman_norm": a.complexity.spearman_norm,
            "spearman_trivial": a.complexity.spearman_trivial,
        },
        "e5": {"pairs": a.labels.pairs.len(), "correlations": Value::Object(e5)},
    });
    Ok(serde_json::to_string_pretty(&summary)? + "\n")
}

/// Writes `path` atomically ([`task2vec_common::write_file_atomic`]), creating its directory.
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(task2vec_common::write_file_atomic(
        path,
        contents.as_bytes(),
    )?)
}

/// E2's curves as a line chart (k on x, average taxonomic distance on y) at `path` (.svg or
/// .png): the rankings as measured series, random neighbours and the taxonomy as references.
pub fn top_k_chart(curves: &TopK, path: &Path) -> Result<()> {
    let line = |name: &str, values: &[f64], reference: bool| Line {
        name: name.to_string(),
        points: curves
            .k
            .iter()
            .zip(values)
            .map(|(&k, &v)| (k as f64, v))
            .collect(),
        reference,
    };
    let lines: Vec<Line> = curves
        .rankings
        .iter()
        .map(|r| line(r.name, &r.curve, false))
        .chain([
            line("random neighbours", &curves.random, true),
            line("taxonomy (oracle)", &curves.oracle, true),
        ])
        .collect();
    let opts = LineChartOptions {
        title: Some("Average taxonomic distance of the k nearest tasks".into()),
        x_label: "k (number of nearest tasks)".into(),
        y_label: "average taxonomic distance".into(),
    };
    Ok(line_chart(&lines, path, &opts)?)
}

/// A CSV document from a header and rows (quoting as RFC 4180 needs).
fn csv_text(header: &[String], rows: impl IntoIterator<Item = Vec<String>>) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().context("finishing a CSV document")?;
    Ok(String::from_utf8(bytes)?)
}

/// The CSVs next to the report: per-task results and the E2 curves.
pub fn tasks_csv(tasks: &[TaskResult], analysis: &Analysis) -> Result<String> {
    let header = [
        "task",
        "taxonomy",
        "samples",
        "classes",
        "seconds",
        "probe_error",
        "l1_norm",
        "distance_to_trivial",
    ]
    .map(String::from);
    let rows = tasks.iter().enumerate().map(|(i, t)| {
        let trivial = analysis
            .complexity
            .to_trivial
            .as_ref()
            .map_or(String::new(), |d| format!("{:.6e}", d[i]));
        vec![
            t.id.clone(),
            t.taxonomy.join("/"),
            t.samples.to_string(),
            t.classes.to_string(),
            format!("{:.2}", t.seconds),
            format!("{:.4}", t.probe_error),
            format!("{:.6e}", analysis.complexity.l1_norm[i]),
            trivial,
        ]
    });
    csv_text(&header, rows)
}

/// E0 per query: each twin, its twin's distance, and what was nearest, under each distance.
pub fn retest_csv(tasks: &[TaskResult], r: &RetestAnalysis) -> Result<String> {
    let header = [
        "distance",
        "task",
        "twin",
        "twin_distance",
        "found_twin",
        "nearest_task",
        "nearest_twin",
        "nearest_distance",
    ]
    .map(String::from);
    let twin = |k: usize| ["A", "B"][k].to_string();
    let mut rows = Vec::new();
    for score in &r.scores {
        for (i, t) in tasks.iter().enumerate() {
            for k in 0..2 {
                let miss = score.misses.iter().find(|m| m.task == i && m.twin == k);
                let (nearest_task, nearest_twin, nearest) = match miss {
                    Some(m) => (m.found_task, m.found_twin, m.found_distance),
                    None => (i, 1 - k, score.twin_distances[i]),
                };
                rows.push(vec![
                    score.name.to_string(),
                    t.id.clone(),
                    twin(k),
                    format!("{:.6e}", score.twin_distances[i]),
                    miss.is_none().to_string(),
                    tasks[nearest_task].id.clone(),
                    twin(nearest_twin),
                    format!("{nearest:.6e}"),
                ]);
            }
        }
    }
    csv_text(&header, rows)
}

/// E5's pairs: two labellings of one pool, the ground truths and every ranked distance.
pub fn label_pairs_csv(tasks: &[TaskResult], l: &LabelAnalysis) -> Result<String> {
    let header: Vec<String> = [
        "task_a",
        "task_b",
        "pool",
        "variation_of_information",
        "one_minus_ami",
    ]
    .into_iter()
    .map(String::from)
    .chain(l.correlations.iter().map(|c| c.name.to_string()))
    .collect();
    let rows = l.pairs.iter().map(|p| {
        [
            tasks[p.a].id.clone(),
            tasks[p.b].id.clone(),
            tasks[l.pools[p.pool][0]].id.clone(),
            format!("{:.6}", p.partition),
            format!("{:.6}", p.one_minus_ami),
        ]
        .into_iter()
        .chain(p.distances.iter().map(|d| format!("{d:.6e}")))
        .collect()
    });
    csv_text(&header, rows)
}

pub fn top_k_csv(curves: &TopK) -> Result<String> {
    let header: Vec<String> = std::iter::once("k".to_string())
        .chain(curves.rankings.iter().map(|r| r.name.to_string()))
        .chain(["random".into(), "taxonomy".into()])
        .collect();
    let rows = (0..curves.k.len()).map(|i| {
        std::iter::once(curves.k[i].to_string())
            .chain(curves.rankings.iter().map(|r| format!("{:.6}", r.curve[i])))
            .chain([
                format!("{:.6}", curves.random[i]),
                format!("{:.6}", curves.oracle[i]),
            ])
            .collect()
    });
    csv_text(&header, rows)
}

/// The report itself. Figures are referenced by relative path.
pub fn markdown(info: &RunInfo, tasks: &[TaskResult], a: &Analysis) -> String {
    let mut s = String::new();
    let n = tasks.len();
    let mean_seconds = tasks.iter().map(|t| t.seconds).sum::<f64>() / n.max(1) as f64;
    let _ = writeln!(
        s,
        "# Task2Vec reproduction report — suite `{}`\n",
        info.suite
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(
        s,
        "| probe | `{}` (weights sha256 `{}`) |",
        info.probe, info.probe_sha256
    );
    let _ = writeln!(s, "| estimator | `{}` |", info.method);
    let _ = writeln!(s, "| input size | {}² |", info.image_size);
    let _ = writeln!(
        s,
        "| options | {} (all of them: `estimator.hyperparameters` in any embedding's JSON, or `summary.json`) |",
        if info.non_default.is_empty() {
            "the defaults of `task2vec embed`".to_string()
        } else {
            format!(
                "differ from the defaults of `task2vec embed` in: `{}`",
                info.non_default.join("`, `")
            )
        }
    );
    let _ = writeln!(s, "| seed | {} |", info.seed);
    let _ = writeln!(s, "| software | task2vec-rs {} |", info.version);
    let _ = writeln!(s, "| tasks | {n} |");
    let _ = writeln!(
        s,
        "| wall time | {:.0} s in all this run; {:.1} s per task on average (embedding + domain embedding + linear probe; tasks embedded by an earlier run count their original time) |\n",
        info.total_seconds, mean_seconds
    );

    retest_section(&mut s, tasks, a.retest.as_ref());

    let _ = writeln!(s, "## E1 — clustered distance matrix (paper Fig. 2)\n");
    let _ = writeln!(
        s,
        "Symmetric Task2Vec distance (`cosine`), complete linkage with optimal leaf ordering.\n\n![E1](E1-distance-matrix.png)\n\nMatrix: [E1-distance-matrix.csv](E1-distance-matrix.csv). 2-D map (classical MDS, coloured by the first taxonomy level where the tasks differ): ![map](E1-map.png)\n"
    );

    let _ = writeln!(s, "## E2 — nearest tasks vs taxonomy (paper Fig. 3)\n");
    let _ = writeln!(
        s,
        "Average taxonomic distance (levels to the common ancestor) of each task's k nearest tasks. Lower is better; `random` is the exact expectation for random neighbours, `taxonomy` the best any distance can do.\n\n![E2](E2-top-k.svg)\n"
    );
    let names: Vec<&str> = a.top_k.rankings.iter().map(|r| r.name).collect();
    let _ = writeln!(
        s,
        "| k | {} | random | taxonomy |\n|---|{}---|---|",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    let shown: Vec<usize> = [1usize, 2, 3, 5, 10, 20, 50]
        .into_iter()
        .filter(|&k| k < n)
        .collect();
    for k in shown {
        let i = k - 1;
        let cells: Vec<String> = a
            .top_k
            .rankings
            .iter()
            .map(|r| format!("{:.3}", r.curve[i]))
            .collect();
        let _ = writeln!(
            s,
            "| {k} | {} | {:.3} | {:.3} |",
            cells.join(" | "),
            a.top_k.random[i],
            a.top_k.oracle[i]
        );
    }
    let _ = writeln!(
        s,
        "\nSpearman correlation between each distance and the taxonomic distance over all {} task pairs, with a one-sided Mantel permutation p-value ({} permutations of the tasks):\n",
        n * (n - 1) / 2,
        a.top_k
            .rankings
            .first()
            .map_or(0, |r| r.mantel.permutations)
    );
    let _ = writeln!(
        s,
        "| ranking | Spearman ρ | Mantel p | top-1 vs random |\n|---|---|---|---|"
    );
    for r in &a.top_k.rankings {
        let verdict = if r.curve[0] < a.top_k.random[0] {
            "closer"
        } else {
            "NOT closer"
        };
        let _ = writeln!(
            s,
            "| {} | **{:.3}** | {:.4} | {verdict} ({:.3} vs {:.3}) |",
            r.name, r.mantel.statistic, r.mantel.p_value, r.curve[0], a.top_k.random[0]
        );
    }
    let _ = writeln!(
        s,
        "\nThe paper's distance is the first row. The unit-mean row divides each embedding by its mean Fisher value first: the paper's `cosine` keeps the embeddings' overall scale, which mostly says how well the task head fits (a perfectly fitted head has a vanishing Fisher). The domain row ranks tasks by their images alone (no labels): our label-free baseline, the mean |pre-BatchNorm conv output| of every filter after the split point — richer than the paper's \"mean feature activations\" (one pooled penultimate vector), and not a comparison the paper makes in its taxonomy figure. The last row is the paper's own \"mean feature activations\" baseline: the mean pooled penultimate feature vector of the task's images.\n"
    );
    let rho_of = |name: &str| {
        a.top_k
            .rankings
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.mantel.statistic)
    };
    if let (Some(task), Some(baseline)) = (rho_of(TASK2VEC), rho_of(DOMAIN_FEATURES)) {
        let _ = writeln!(
            s,
            "Target (issue 9): the Task2Vec ranking at least as close to the taxonomy as the paper's mean-feature baseline (ρ {task:.3} vs {baseline:.3}): {}. On a suite whose tasks differ mostly in their images, a label-free baseline is hard to beat; docs/fidelity.md discusses it.\n",
            verdict(task >= baseline)
        );
    }

    let _ = writeln!(s, "## E3 — complexity vs difficulty\n");
    let c = &a.complexity;
    let _ = writeln!(
        s,
        "Difficulty = held-out error of a linear probe (the task head, fitted as for the embedding) on a 20% split of each task. Complexity = ‖hessian‖₁{}.\n",
        if c.to_trivial.is_some() {
            " and d_sym(t, t0) to the trivial embedding"
        } else {
            " (this estimator has no prior, so no trivial embedding t0 exists: only the norm is reported)"
        }
    );
    let corr = |v: Option<f64>| v.map_or("undefined".to_string(), |v| format!("{v:.3}"));
    let _ = writeln!(
        s,
        "| measure | Pearson r with error | Spearman ρ with error |\n|---|---|---|\n| ‖hessian‖₁ | {} | {} |",
        corr(c.pearson_norm),
        corr(c.spearman_norm)
    );
    if c.pearson_norm.is_none() {
        let _ = writeln!(
            s,
            "\n(undefined: every task has the same held-out error or the same norm, so there is nothing to correlate)\n"
        );
    }
    if let Some(rho) = c.spearman_trivial {
        let _ = writeln!(s, "| d_sym(t, t0) | — | {rho:.3} |");
    }
    if let Some(rho) = c.spearman_norm {
        let _ = writeln!(
            s,
            "\nTarget (issue 9, on `glyphs-sample`): Spearman ρ(‖hessian‖₁, error) ≥ {E3_TARGET}: {} here ({rho:.3}).",
            verdict(rho >= E3_TARGET)
        );
    }
    let _ = writeln!(s, "\nPer-task values: [tasks.csv](tasks.csv).\n");

    let _ = writeln!(
        s,
        "## E4 — task vs domain embeddings on shared images (paper Fig. 1)\n"
    );
    if a.shared.is_empty() {
        let _ = writeln!(s, "This suite has no two tasks on the same images.\n");
    } else {
        let _ = writeln!(
            s,
            "Pairs of tasks on identical images with different labels. Distances are divided by the median distance over all task pairs (of the same kind of embedding): a domain embedding sees only the images, so it cannot tell these tasks apart (relative distance ≈ 0); a task embedding can.\n"
        );
        let _ = writeln!(
            s,
            "| task A | task B | task distance | relative | domain distance | relative |\n|---|---|---|---|---|---|"
        );
        for p in &a.shared {
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {:.3} | {:.4} | {:.3} |",
                p.a, p.b, p.task_distance, p.task_relative, p.domain_distance, p.domain_relative
            );
        }
        s.push('\n');
    }
    labels_section(&mut s, tasks, &a.labels);
    s
}

/// `met` or `missed` for a measured value against its target.
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// E0, at the top of the report: can each task find itself again?
fn retest_section(s: &mut String, tasks: &[TaskResult], r: Option<&RetestAnalysis>) {
    let _ = writeln!(s, "## E0 — retest: does each task find its own twin?\n");
    let Some(r) = r else {
        let _ = writeln!(
            s,
            "Not measured: some tasks have no twins (fewer than 2 tasks, or results of an older run).\n"
        );
        return;
    };
    let n = tasks.len();
    let main: f64 = tasks.iter().map(|t| t.seconds).sum();
    let _ = writeln!(
        s,
        "Every task is embedded twice more, each time from one half of its images (a class-stratified split with seed {}; {} and {} images in all), twin A with seed {} and twin B with seed {} (both derived from the run seed), task embedding only. Each of the {} twins asks which of the other {} twin embeddings is nearest (the E1 distances on the same normalisation); it should be its own twin. An embedding that cannot find its own task again cannot rank other tasks. The twins took {:.0} s ({:.1} s per task; the tasks' own embeddings took {:.0} s).\n",
        r.split_seed,
        r.samples[0],
        r.samples[1],
        r.seeds[0],
        r.seeds[1],
        2 * n,
        2 * n - 1,
        r.seconds,
        r.seconds / n.max(1) as f64,
        main
    );
    let _ = writeln!(
        s,
        "| distance | self-retrieval@1 | target | median twin distance / median distance between tasks |\n|---|---|---|---|"
    );
    for score in &r.scores {
        let rate = score.self_retrieval();
        let _ = writeln!(
            s,
            "| {} | **{:.1} %** ({}/{}) | ≥ {:.0} %: {} | {:.3} ({:.4e} / {:.4e}) |",
            score.name,
            100.0 * rate,
            score.hits,
            score.queries,
            100.0 * RETEST_TARGET,
            verdict(rate >= RETEST_TARGET),
            score.ratio(),
            score.twin_median,
            score.other_median
        );
    }
    for score in &r.scores {
        if score.misses.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "\nTwins that did not find their twin under {} (what was nearest instead):\n",
            score.name
        );
        for m in &score.misses {
            let twin = |k: usize| ["A", "B"][k];
            let _ = writeln!(
                s,
                "* {} ({}) → {} ({}) at {:.4e}; its twin at {:.4e}",
                tasks[m.task].id,
                twin(m.twin),
                tasks[m.found_task].id,
                twin(m.found_twin),
                m.found_distance,
                m.twin_distance
            );
        }
    }
    let _ = writeln!(s, "\nPer twin: [E0-retest.csv](E0-retest.csv).\n");
}

/// E5: tasks that label the same images, against the partition distance between the labellings.
fn labels_section(s: &mut String, tasks: &[TaskResult], l: &LabelAnalysis) {
    if l.pools.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## E5 — labellings of one image pool vs their partition distance (paper Fig. 1)\n"
    );
    let pools: Vec<String> = l
        .pools
        .iter()
        .map(|p| format!("`{}` ({} labellings)", tasks[p[0]].id, p.len()))
        .collect();
    let _ = writeln!(
        s,
        "Tasks on identical image lists that differ only in their labels; pools (named by their first task): {}. Ground truth between two labellings of one pool = their variation of information (nats: what one labelling says that the other does not, both ways; a metric on partitions); pairs on different pools have none and are left out, so ρ is over the {} same-pool pair(s) only, and the Mantel permutations ({}) relabel tasks within their pool. The domain embeddings see only the images, so they cannot separate these tasks by construction (undefined: the same distance for every pair); the task embedding must. The last column is the same test against 1 − adjusted mutual information (the alternative ground truth, no target).\n",
        pools.join(", "),
        l.pairs.len(),
        MANTEL_PERMUTATIONS
    );
    let too_few = l.pairs.len() < 3;
    let _ = writeln!(
        s,
        "| distance | Spearman ρ with VI | Mantel p | target (Task2Vec) | Spearman ρ with 1 − AMI (Mantel p) |\n|---|---|---|---|---|"
    );
    for c in &l.correlations {
        let task2vec = [TASK2VEC, TASK2VEC_UNIT_MEAN].contains(&c.name);
        let (rho, p, target) = match c.partition {
            Some(m) => (
                format!("**{:.3}**", m.statistic),
                format!("{:.4}", m.p_value),
                if task2vec {
                    format!(
                        "ρ ≥ {LABELS_RHO_TARGET}, p < {LABELS_P_TARGET}: {}",
                        verdict(m.statistic >= LABELS_RHO_TARGET && m.p_value < LABELS_P_TARGET)
                    )
                } else {
                    "—".into()
                },
            ),
            None => (
                "undefined".into(),
                "—".into(),
                if task2vec && too_few {
                    "not measurable here (fewer than 3 pairs)".into()
                } else if task2vec {
                    format!(
                        "ρ ≥ {LABELS_RHO_TARGET}, p < {LABELS_P_TARGET}: {}",
                        verdict(false)
                    )
                } else {
                    "—".into()
                },
            ),
        };
        let ami = c.ami.map_or("undefined".to_string(), |m| {
            format!("{:.3} ({:.4})", m.statistic, m.p_value)
        });
        let _ = writeln!(s, "| {} | {rho} | {p} | {target} | {ami} |", c.name);
    }
    if too_few {
        let _ = writeln!(
            s,
            "\n(undefined: fewer than 3 same-pool pairs, too few for a rank correlation)"
        );
    }
    let _ = writeln!(
        s,
        "\n| task A | task B | VI | 1 − AMI | Task2Vec (cosine) |\n|---|---|---|---|---|"
    );
    for p in &l.pairs {
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} | {:.4} |",
            tasks[p.a].id,
            tasks[p.b].id,
            p.partition,
            p.one_minus_ami,
            p.distances.first().copied().unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(
        s,
        "\nEvery pair with every distance: [E5-label-pairs.csv](E5-label-pairs.csv).\n"
    );
}
