//! The forward's variables an expression reads (for liveness), and what would make that set
//! wrong: `self` (a layer call hidden in an expression) or a name bound inside the expression
//! that shadows a variable of the forward.
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// Collects the forward's variables an expression reads, and what would make that set wrong.
pub(crate) struct Reads<'a> {
    /// The forward's variables bound so far (and the statement binding each).
    bound: &'a BTreeMap<String, usize>,
    pub(crate) reads: BTreeSet<String>,
    mentions_self: bool,
    /// Names bound inside the expression that are also variables of the forward.
    shadows: BTreeSet<String>,
}

impl<'a> Reads<'a> {
    pub(crate) fn new(bound: &'a BTreeMap<String, usize>) -> Self {
        Self {
            bound,
            reads: BTreeSet::new(),
            mentions_self: false,
            shadows: BTreeSet::new(),
        }
    }

    fn name(&mut self, name: String) {
        if name == "self" {
            self.mentions_self = true;
        } else if self.bound.contains_key(&name) {
            self.reads.insert(name);
        }
    }

    /// Macro arguments are unparsed tokens: every identifier there that names a variable
    /// counts as a read (never fewer reads than the truth, so never a wrong split point).
    fn tokens(&mut self, tokens: TokenStream) {
        for tree in tokens {
            match tree {
                TokenTree::Ident(id) => self.name(id.to_string()),
                TokenTree::Group(group) => self.tokens(group.stream()),
                TokenTree::Punct(_) | TokenTree::Literal(_) => {}
            }
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.mentions_self {
            return Err(
                "uses `self` other than as the whole value `self.<field>.forward(<input>)`; \
                 expected every layer call to be its own `let`"
                    .into(),
            );
        }
        if let Some(name) = self.shadows.first() {
            return Err(format!(
                "binds `{name}` inside its value, shadowing a variable of the forward; the \
                 liveness analysis reads names and cannot tell the two apart"
            ));
        }
        Ok(())
    }
}

impl<'ast> Visit<'ast> for Reads<'_> {
    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        if path.qself.is_none()
            && let Some(ident) = path.path.get_ident()
        {
            self.name(ident.to_string());
        }
        syn::visit::visit_expr_path(self, path);
    }

    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        if self.bound.contains_key(&pat.ident.to_string()) {
            self.shadows.insert(pat.ident.to_string());
        }
        syn::visit::visit_pat_ident(self, pat);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}
