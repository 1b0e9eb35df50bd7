//! task2vec-embedding (placeholder; see ARCHITECTURE.md).
