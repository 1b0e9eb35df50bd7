//! task2vec-model2vec (placeholder; see ARCHITECTURE.md).
