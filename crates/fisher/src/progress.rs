//! Progress reporting without a terminal dependency: the pipeline reports stages and steps to a
//! [`Progress`] sink; the CLI draws bars (rate, ETA) from it, a library user may ignore it.

/// Receives the progress of long stages (caching, head fit, Fisher).
pub trait Progress {
    /// A stage named `name` with `total` steps begins.
    fn start(&self, name: &str, total: u64);
    /// `steps` more steps of the current stage are done.
    fn advance(&self, steps: u64);
    /// The current stage is over; `summary` says how it ended (e.g. the head's loss).
    fn finish(&self, summary: &str);
    /// A one-off informational line (per-class counts, chosen subset, ...).
    fn note(&self, _line: &str) {}
}

/// Ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _name: &str, _total: u64) {}
    fn advance(&self, _steps: u64) {}
    fn finish(&self, _summary: &str) {}
}
