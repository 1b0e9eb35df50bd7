//! task2vec-fisher (placeholder; see ARCHITECTURE.md).
