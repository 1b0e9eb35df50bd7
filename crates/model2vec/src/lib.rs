//! task2vec-model2vec: learning expert (model) embeddings m_i = F_i + b_i — F_i the Task2Vec
//! embedding of the task expert i was trained on, b_i a learned bias — and evaluating expert
//! selection with them (the paper's Model2Vec; docs/reference.md §12).
//!
//! Not started: no issue has been worked on yet, so the crate has no items.
#![warn(missing_docs)]
