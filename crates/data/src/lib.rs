//! task2vec-data (placeholder; see ARCHITECTURE.md).
