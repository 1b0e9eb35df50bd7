//! One module per subcommand; each exposes `Args` (clap) and `run(Args) -> anyhow::Result<()>`.
pub mod cluster;
pub mod distance;
pub mod embed;
pub mod expert;
pub mod import;
pub mod info;
pub mod matrix;
pub mod model2vec;
pub mod plot;
pub mod probe;
pub mod run;
pub mod select;

/// `--force` relaxes the provenance rules to the structural ones (same probe and layout).
pub(crate) fn compatibility(force: bool) -> task2vec_embedding::Compatibility {
    if force {
        task2vec_embedding::Compatibility::Structural
    } else {
        task2vec_embedding::Compatibility::Strict
    }
}

/// The library names embeddings by their task; the user typed files. Adds the files of the
/// embeddings an error is about (`embeddings[i]` was loaded from the i-th file `inputs` expand
/// to, as `io::load_embeddings` does).
pub(crate) fn naming_files(
    err: task2vec_embedding::Error,
    embeddings: &[task2vec_embedding::Embedding],
    inputs: &[std::path::PathBuf],
) -> anyhow::Error {
    use task2vec_embedding::Error as E;
    let names: Vec<&str> = match &err {
        E::Incompatible { a, b, .. }
        | E::MixedSettings { a, b, .. }
        | E::Unrepresentable { a, b, .. } => vec![a, b],
        E::ZeroFisher { name, .. } => vec![name],
        _ => vec![],
    };
    let files = task2vec_embedding::io::expand_embedding_paths(inputs).unwrap_or_default();
    let named: Vec<String> = embeddings
        .iter()
        .zip(&files)
        .filter(|(e, _)| names.contains(&e.name()))
        .map(|(_, f)| f.display().to_string())
        .collect();
    if named.is_empty() {
        anyhow::Error::new(err)
    } else {
        anyhow::Error::new(err).context(format!("in {}", named.join(" and ")))
    }
}
