//! REPORT.md, its CSVs and the E2 chart (drawn by task2vec-embedding's plots).
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use task2vec_embedding::plot::{Line, LineChartOptions, line_chart};

use super::analysis::{Analysis, TaskResult, TopK};

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
    let _ = writeln!(s, "| seed | {} |", info.seed);
    let _ = writeln!(s, "| software | task2vec-rs {} |", info.version);
    let _ = writeln!(s, "| tasks | {n} |");
    let _ = writeln!(
        s,
        "| wall time | {:.0} s in all this run; {:.1} s per task on average (embedding + domain embedding + linear probe; tasks embedded by an earlier run count their original time) |\n",
        info.total_seconds, mean_seconds
    );

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
    s
}
