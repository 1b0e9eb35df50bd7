//! Reading the generated model: the layer fields of `struct Model` and `Model::forward` as a
//! list of `let` statements with the variables each one reads.
//!
//! The accepted shape (what burn-import 0.22 generates with `partition(false)`):
//! * one non-generic `struct Model` with named fields; a field's *layer kind* is the last
//!   segment of its declared type (`Conv2d`, `BatchNorm`, `Linear`, `AdaptiveAvgPool2d`; any
//!   other type is a layer the tap does not see, e.g. `MaxPool2d`);
//! * exactly one `impl Model { fn forward(&self, <input>: Tensor<4>) -> Tensor<2> }`;
//! * its body: `let` statements, then a tail expression (the logits). Each `let` binds one
//!   plain, not previously bound name (no `mut`, `ref`, patterns or `let ... else`);
//! * `self` appears only as the whole value of a `let`: `self.<field>.forward(<input>)`, one
//!   argument that does not mention `self` (so each layer call is one statement and can be
//!   rewritten as a whole);
//! * a value may bind names of its own (a block, a closure) but none that shadows a variable
//!   of the forward: liveness is computed on names;
//! * every `Conv2d` and `BatchNorm` field is called exactly once (a tap index names one layer,
//!   and a layer that is never called would escape the tap).
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::Ident;
use quote::{ToTokens, quote};
use syn::visit::Visit;
use syn::{Expr, FnArg, ImplItem, ImplItemFn, Item, Pat, Stmt, Type};

use crate::Weights;
use crate::error::{RewriteError, show_item};
use crate::reads::Reads;

/// What the tap needs to know about a field of `Model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerKind {
    /// `Conv2d`: called through `tap.conv`.
    Conv,
    /// `BatchNorm`: called through `tap.batch_norm`.
    BatchNorm,
    /// `Linear`: the last one is the classification head.
    Linear,
    /// `AdaptiveAvgPool2d`: the first one is the global pooling.
    GlobalPool,
    /// Any other module (max pooling, ...): called as generated.
    Other,
}

impl LayerKind {
    fn of(ty: &Type) -> Self {
        let name = match ty {
            Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        match name.as_deref() {
            Some("Conv2d") => Self::Conv,
            Some("BatchNorm") => Self::BatchNorm,
            Some("Linear") => Self::Linear,
            Some("AdaptiveAvgPool2d") => Self::GlobalPool,
            _ => Self::Other,
        }
    }

    /// Whether every call goes through the tap (and so must happen exactly once).
    pub(crate) fn is_tapped(self) -> bool {
        matches!(self, Self::Conv | Self::BatchNorm)
    }
}

/// `self.<field>.forward(<input>)`, the whole value of a `let`.
pub(crate) struct LayerCall {
    pub field: Ident,
    pub kind: LayerKind,
    pub input: Expr,
}

/// One `let` of the forward.
pub(crate) struct Statement {
    /// The statement as generated (emitted unchanged unless it is a tapped layer call).
    pub local: syn::Local,
    /// The name it binds.
    pub binds: Ident,
    /// Its value, when that is a layer call.
    pub call: Option<LayerCall>,
    /// The forward's variables (bound earlier, or the input) that its value reads.
    pub reads: BTreeSet<String>,
}

/// `Model::forward`, read.
pub(crate) struct Forward {
    /// The input parameter.
    pub input: Ident,
    pub statements: Vec<Statement>,
    /// The tail expression (the logits).
    pub tail: Expr,
    /// The forward's variables the tail reads.
    pub tail_reads: BTreeSet<String>,
}

/// Reads `Model::forward` of a generated file, checking the whole accepted shape.
pub(crate) fn read(file: &syn::File, weights: Weights) -> Result<Forward, RewriteError> {
    let fields = model_fields(file)?;
    let forward_fn = find_forward(file)?;
    let input = check_signature(forward_fn)?;
    let forward = read_body(forward_fn, input, &fields)?;
    check_tapped_fields_called(&fields, &forward)?;
    if weights == Weights::Embedded {
        check_embedded_states(file)?;
    }
    Ok(forward)
}

/// Field name → layer kind, from the one `struct Model`.
fn model_fields(file: &syn::File) -> Result<BTreeMap<String, LayerKind>, RewriteError> {
    let structs: Vec<&syn::ItemStruct> = file
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Struct(s) if s.ident == "Model" => Some(s),
            _ => None,
        })
        .collect();
    let [model] = structs[..] else {
        return Err(RewriteError::new(format!(
            "expected one `struct Model`, found {}",
            structs.len()
        )));
    };
    if !model.generics.params.is_empty() {
        let generics = &model.generics;
        return Err(RewriteError::new(format!(
            "`{}` is generic; expected burn 0.22's non-generic `struct Model` (the tapped code \
             is written for it)",
            show_item(quote!(struct Model #generics;)).trim_end_matches(';')
        )));
    }
    let syn::Fields::Named(named) = &model.fields else {
        return Err(RewriteError::new(
            "`struct Model` has no named fields; expected one named field per layer",
        ));
    };
    Ok(named
        .named
        .iter()
        .filter_map(|f| {
            f.ident
                .as_ref()
                .map(|id| (id.to_string(), LayerKind::of(&f.ty)))
        })
        .collect())
}

/// The one `fn forward` of an inherent `impl Model`.
fn find_forward(file: &syn::File) -> Result<&ImplItemFn, RewriteError> {
    let forwards: Vec<&ImplItemFn> = file
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Impl(imp) if imp.trait_.is_none() && is_model(&imp.self_ty) => Some(imp),
            _ => None,
        })
        .flat_map(|imp| &imp.items)
        .filter_map(|item| match item {
            ImplItem::Fn(f) if f.sig.ident == "forward" => Some(f),
            _ => None,
        })
        .collect();
    match forwards[..] {
        [forward] => Ok(forward),
        _ => Err(RewriteError::new(format!(
            "expected one `fn forward` in an `impl Model`, found {}",
            forwards.len()
        ))),
    }
}

fn is_model(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Model"))
}

/// `fn forward(&self, <input>: Tensor<4>) -> Tensor<2>`, nothing more; returns `<input>`.
fn check_signature(forward: &ImplItemFn) -> Result<Ident, RewriteError> {
    let sig = &forward.sig;
    // The whole signature, compared as tokens with the one expected: any qualifier, generic,
    // lifetime or other receiver/type makes it differ.
    let input = match sig.inputs.iter().nth(1) {
        Some(FnArg::Typed(t)) => plain_name(&t.pat),
        _ => None,
    };
    if let Some(input) = input {
        let expected = quote!(fn forward(&self, #input: Tensor<4>) -> Tensor<2>);
        if sig.to_token_stream().to_string() == expected.to_string() {
            return Ok(input.clone());
        }
    }
    Err(RewriteError::new(format!(
        "expected `fn forward(&self, <input>: Tensor<4>) -> Tensor<2>` (one image batch in, \
         logits out), found `{}`",
        show_item(quote!(#sig {})).trim_end_matches(" {}")
    )))
}

/// The name bound by `name` or `name: Type`; `None` for `mut`, `ref`, `@` and other patterns.
fn plain_name(pat: &Pat) -> Option<&Ident> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none() => {
            Some(&p.ident)
        }
        Pat::Type(t) => plain_name(&t.pat),
        _ => None,
    }
}

fn read_body(
    forward: &ImplItemFn,
    input: Ident,
    fields: &BTreeMap<String, LayerKind>,
) -> Result<Forward, RewriteError> {
    let Some((last, lets)) = forward.block.stmts.split_last() else {
        return Err(RewriteError::new("`Model::forward` has an empty body"));
    };
    // Where each of the forward's variables is bound: 0 for the input, else its statement.
    let mut bound_by: BTreeMap<String, usize> = BTreeMap::from([(input.to_string(), 0)]);
    let mut called_by: BTreeMap<String, usize> = BTreeMap::new();
    let mut statements = Vec::with_capacity(lets.len());
    for (index, stmt) in lets.iter().enumerate() {
        let number = index + 1;
        let err = |problem: String| RewriteError::at(number, stmt, problem);
        let Stmt::Local(local) = stmt else {
            return Err(err(
                "expected `let <name> = <value>;` (only the last statement may be an expression)"
                    .into(),
            ));
        };
        if !local.attrs.is_empty() {
            return Err(err("expected a `let` without attributes".into()));
        }
        let binds = plain_name(&local.pat)
            .cloned()
            .ok_or_else(|| err("expected `let <name> = ...` binding one plain name".into()))?;
        let Some(init) = &local.init else {
            return Err(err(
                "expected `let <name> = <value>;`, found no value".into()
            ));
        };
        if init.diverge.is_some() {
            return Err(err(
                "expected `let <name> = <value>;`, found `let ... else`".into(),
            ));
        }
        if let Some(&earlier) = bound_by.get(&binds.to_string()) {
            let by = match earlier {
                0 => "the forward's input".to_string(),
                n => format!("statement {n}"),
            };
            return Err(err(format!(
                "rebinds `{binds}` (already bound by {by}); the split-point analysis needs \
                 every name bound once"
            )));
        }
        let call = layer_call(&init.expr, fields).map_err(err)?;
        let mut reads = Reads::new(&bound_by);
        reads.visit_expr(call.as_ref().map_or(&*init.expr, |c| &c.input));
        reads.check().map_err(err)?;
        let reads = reads.reads;
        if let Some(call) = &call
            && call.kind.is_tapped()
            && let Some(first) = called_by.insert(call.field.to_string(), number)
        {
            return Err(err(format!(
                "calls `self.{}` again (first called by statement {first}); a tap index must \
                 name one layer",
                call.field
            )));
        }
        bound_by.insert(binds.to_string(), number);
        statements.push(Statement {
            local: local.clone(),
            binds,
            call,
            reads,
        });
    }
    let number = lets.len() + 1;
    let Stmt::Expr(tail, None) = last else {
        return Err(RewriteError::at(
            number,
            last,
            "expected the last statement to be the returned expression (the logits)",
        ));
    };
    let mut reads = Reads::new(&bound_by);
    reads.visit_expr(tail);
    reads
        .check()
        .map_err(|problem| RewriteError::at(number, last, problem))?;
    Ok(Forward {
        input,
        statements,
        tail: tail.clone(),
        tail_reads: reads.reads,
    })
}

/// `Some` when `value` is `self.<field>.forward(<input>)`; an error when it looks like a layer
/// call (`self.<field>.forward`) but has another shape.
fn layer_call(
    value: &Expr,
    fields: &BTreeMap<String, LayerKind>,
) -> Result<Option<LayerCall>, String> {
    let Expr::MethodCall(call) = value else {
        return Ok(None);
    };
    let Expr::Field(receiver) = &*call.receiver else {
        return Ok(None);
    };
    let (Expr::Path(base), syn::Member::Named(field)) = (&*receiver.base, &receiver.member) else {
        return Ok(None);
    };
    if !base.path.is_ident("self") || call.method != "forward" {
        return Ok(None);
    }
    let expected = "expected `self.<field>.forward(<input>)` with one input";
    if !call.attrs.is_empty() || !receiver.attrs.is_empty() || call.turbofish.is_some() {
        return Err(format!("{expected}, without attributes or turbofish"));
    }
    let mut args = call.args.iter();
    let (Some(input), None) = (args.next(), args.next()) else {
        return Err(format!("{expected}, found {} arguments", call.args.len()));
    };
    let Some(&kind) = fields.get(&field.to_string()) else {
        return Err(format!(
            "calls `self.{field}`, which is not a field of `struct Model`"
        ));
    };
    Ok(Some(LayerCall {
        field: field.clone(),
        kind,
        input: input.clone(),
    }))
}

fn check_tapped_fields_called(
    fields: &BTreeMap<String, LayerKind>,
    forward: &Forward,
) -> Result<(), RewriteError> {
    let called: BTreeSet<String> = forward
        .statements
        .iter()
        .filter_map(|s| s.call.as_ref().map(|c| c.field.to_string()))
        .collect();
    match fields
        .iter()
        .find(|(name, kind)| kind.is_tapped() && !called.contains(*name))
    {
        Some((name, kind)) => Err(RewriteError::new(format!(
            "field `{name}` of `struct Model` ({kind:?}) is never called by `forward`; expected \
             every conv and BatchNorm to be called once, as `self.{name}.forward(..)`, so that \
             the tap sees it"
        ))),
        None => Ok(()),
    }
}

fn check_embedded_states(file: &syn::File) -> Result<(), RewriteError> {
    let found = file
        .items
        .iter()
        .any(|item| matches!(item, Item::Static(s) if s.ident == "EMBEDDED_STATES"));
    if found {
        Ok(())
    } else {
        Err(RewriteError::new(
            "expected `static EMBEDDED_STATES` (burn-import's embedded weights, \
             `LoadStrategy::Embedded`), found none",
        ))
    }
}
