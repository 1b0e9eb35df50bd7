//! Where the forward can be cut: statement boundaries at which exactly one variable is live.
use std::collections::BTreeSet;

use proc_macro2::Ident;

use crate::error::RewriteError;
use crate::forward::{Forward, LayerKind, Statement};

/// A statement boundary with exactly one live variable: a split point.
pub(crate) struct Boundary {
    /// The boundary is just before `statements[before]` (0: the forward's input).
    pub before: usize,
    /// The one live variable.
    pub variable: String,
}

/// How the forward is cut into `segment`s, `pool` and `head`.
pub(crate) struct Cuts {
    /// In forward order; the first is the input, the last the global pooling's input.
    pub boundaries: Vec<Boundary>,
    /// Index of the global pooling statement (where `pool` starts).
    pub pool_at: usize,
    /// Index of the final linear layer (where `head` starts).
    pub head_at: usize,
    /// The final linear layer's field.
    pub head_field: Ident,
    /// The one variable live before the head: the pooled features.
    pub features: String,
}

pub(crate) fn cut(forward: &Forward) -> Result<Cuts, RewriteError> {
    let statements = &forward.statements;
    let live = live_before(forward);
    let at = |i: usize, problem: String| RewriteError::at(i + 1, &statements[i].local, problem);

    let pool_at = statements
        .iter()
        .position(|s| kind(s) == Some(LayerKind::GlobalPool))
        .ok_or_else(|| {
            RewriteError::new(
                "no global pooling in `Model::forward`: expected a `let` whose value is \
                 `self.<field>.forward(..)` on a field of type `AdaptiveAvgPool2d`",
            )
        })?;
    let (head_at, head_field) = statements
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, s)| match &s.call {
            Some(call) if call.kind == LayerKind::Linear => Some((i, call.field.clone())),
            _ => None,
        })
        .ok_or_else(|| {
            RewriteError::new(
                "no classification layer in `Model::forward`: expected a `let` whose value is \
                 `self.<field>.forward(..)` on a field of type `Linear`",
            )
        })?;
    if head_at < pool_at {
        return Err(at(
            head_at,
            format!(
                "the last linear layer comes before the global pooling (statement {}); \
                 expected pooling, then the classification layer",
                pool_at + 1
            ),
        ));
    }
    if let Some(i) = (pool_at..statements.len())
        .find(|&i| kind(&statements[i]).is_some_and(LayerKind::is_tapped))
    {
        return Err(at(
            i,
            format!(
                "a conv or BatchNorm after the global pooling (statement {}); expected only \
                 the classification head there",
                pool_at + 1
            ),
        ));
    }

    let boundaries: Vec<Boundary> = (0..=pool_at)
        .filter_map(|before| single(&live[before]).map(|variable| Boundary { before, variable }))
        .collect();
    if boundaries.first().map(|b| b.before) != Some(0) {
        return Err(RewriteError::new(format!(
            "expected only the input `{}` to be live at the start of `Model::forward`, found {:?}",
            forward.input, live[0]
        )));
    }
    if boundaries.last().map(|b| b.before) != Some(pool_at) {
        return Err(at(
            pool_at,
            format!(
                "expected exactly one variable live before the global pooling (its input), \
                 found {:?}",
                live[pool_at]
            ),
        ));
    }
    let features = single(&live[head_at]).ok_or_else(|| {
        at(
            head_at,
            format!(
                "expected exactly one variable live before the classification layer (the \
                 pooled features), found {:?}",
                live[head_at]
            ),
        )
    })?;
    Ok(Cuts {
        boundaries,
        pool_at,
        head_at,
        head_field,
        features,
    })
}

fn kind(statement: &Statement) -> Option<LayerKind> {
    statement.call.as_ref().map(|c| c.kind)
}

/// `live[i]`: the variables live just before `statements[i]` (`live[n]`: those the tail reads).
/// A variable is live from its binding up to its last read.
fn live_before(forward: &Forward) -> Vec<BTreeSet<String>> {
    let n = forward.statements.len();
    let mut live = vec![BTreeSet::new(); n + 1];
    let mut current = forward.tail_reads.clone();
    live[n] = current.clone();
    for (i, statement) in forward.statements.iter().enumerate().rev() {
        current.remove(&statement.binds.to_string());
        current.extend(statement.reads.iter().cloned());
        live[i] = current.clone();
    }
    live
}

fn single(set: &BTreeSet<String>) -> Option<String> {
    match set.len() {
        1 => set.first().cloned(),
        _ => None,
    }
}
