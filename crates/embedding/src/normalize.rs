//! Rescalings of an embedding that keep only part of what it says.

use serde_json::Value;

use crate::embedding::Embedding;
use crate::error::{Error, Result};

/// Key of [`Provenance::extra`](crate::Provenance::extra) that names the rescaling applied.
pub const NORMALIZATION_KEY: &str = "normalization";

/// `e` divided by its mean Fisher value (`hessian` and `scale` alike), so that the mean Fisher
/// value becomes 1. Provenance records `"normalization": "unit_mean"`.
///
/// Why: the paper's `cosine` distance normalises two embeddings by their element-wise sum,
/// which keeps their overall scale. A task whose head fits perfectly has a vanishing Fisher
/// everywhere and then looks far from every other task. Dividing by the mean first leaves only
/// the pattern across filters (a ranking the reproduction adds, not the paper's).
///
/// Errors when the mean is not a positive finite number (an embedding whose values sum past
/// `f64::MAX`: a valid embedding is never all zero).
pub fn unit_mean(e: &Embedding) -> Result<Embedding> {
    let mean = e.hessian().mean().unwrap_or(0.0);
    if !(mean > 0.0 && mean.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "embedding of task {:?} has mean Fisher value {mean}: cannot divide by it",
            e.name()
        )));
    }
    let scale = e.has_prior().then(|| e.scale() / mean);
    let mut meta = e.meta().clone();
    meta.extra
        .insert(NORMALIZATION_KEY.into(), Value::from("unit_mean"));
    Embedding::new(e.hessian() / mean, scale, e.layout().clone(), meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layout, Provenance};

    #[test]
    fn divides_hessian_and_prior_by_the_mean_fisher_value() {
        // mean(1, 3, 8) = 4: by hand, 1/4, 3/4, 8/4; the prior 2, 4, 8 becomes 0.5, 1, 2.
        let e = Embedding::new(
            vec![1.0, 3.0, 8.0],
            Some(vec![2.0, 4.0, 8.0].into()),
            Layout::single("all", 3),
            Provenance::default(),
        )
        .unwrap();
        let u = unit_mean(&e).unwrap();
        assert_eq!(u.hessian().to_vec(), vec![0.25, 0.75, 2.0]);
        assert_eq!(u.scale().to_vec(), vec![0.5, 1.0, 2.0]);
        assert_eq!(u.layout(), e.layout());
        assert_eq!(u.meta().extra[NORMALIZATION_KEY], "unit_mean");
    }

    #[test]
    fn keeps_an_embedding_without_prior_without_prior() {
        let e = Embedding::from_hessian(vec![1.0, 3.0, 8.0], Provenance::default()).unwrap();
        let u = unit_mean(&e).unwrap();
        assert_eq!(u.hessian().to_vec(), vec![0.25, 0.75, 2.0]);
        assert!(!u.has_prior());
    }

    #[test]
    fn refuses_a_mean_that_overflows() {
        let e = Embedding::from_hessian(vec![f64::MAX, f64::MAX], Provenance::default()).unwrap();
        let err = unit_mean(&e).unwrap_err();
        assert!(err.to_string().contains("mean Fisher value inf"), "{err}");
    }
}
