//! The one error of the rewrite: what was found, where, and what was expected.
use std::fmt;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

/// Why the generated code could not be rewritten. The message names the statement of
/// `Model::forward` (1-based, and its text) or the item at fault, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteError {
    message: String,
}

impl RewriteError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// An error about statement `number` (1-based) of `Model::forward`.
    pub(crate) fn at(number: usize, statement: &impl ToTokens, problem: impl fmt::Display) -> Self {
        Self::new(format!(
            "statement {number} of `Model::forward` (`{}`): {problem}",
            show(statement)
        ))
    }

    /// The message, without any prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RewriteError {}

/// Longest statement text quoted in a message; longer ones are cut (the number locates them).
const SHOWN_CHARS: usize = 160;

/// One-line source text of a statement or expression, as rustfmt-like code rather than the
/// spaced-out token stream (`self . conv2d1 . forward (x)`).
pub(crate) fn show(tokens: &impl ToTokens) -> String {
    // prettyplease prints whole files only: wrap the tokens as the body of a function.
    let text = match syn::parse2::<syn::File>(quote!(fn wrapper() { #tokens })) {
        Ok(file) => {
            let printed = prettyplease::unparse(&file);
            let lines: Vec<&str> = printed.lines().map(str::trim).collect();
            // Drop `fn wrapper() {` and the closing `}`.
            let body = lines.get(1..lines.len().saturating_sub(1)).unwrap_or(&[]);
            body.join(" ")
                .replace("( ", "(")
                .replace(" )", ")")
                .replace("[ ", "[")
                .replace(" ]", "]")
                .replace(" .", ".")
        }
        Err(_) => tokens.to_token_stream().to_string(),
    };
    if text.chars().count() > SHOWN_CHARS {
        let cut: String = text.chars().take(SHOWN_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// One-line source text of an item (a signature with an empty body, a struct header).
pub(crate) fn show_item(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => tokens.to_string(),
    }
}
