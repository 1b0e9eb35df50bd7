//! Rewrites burn-import's straight-line `Model::forward` into tapped segments.
//!
//! burn-import generates, for a graph whose input is `input`:
//! ```text
//! pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
//!     let conv2d1_out1 = self.conv2d1.forward(input);
//!     let batchnormalization1_out1 = self.batchnormalization1.forward(conv2d1_out1);
//!     ...
//!     let gemm1_out1 = self.linear1.forward(flatten1_out1);
//!     gemm1_out1
//! }
//! ```
//! From it we generate (in `<model>_tapped.rs`, included next to the model):
//! * `segment(k, x, tap)`: the statements between boundary k and boundary k+1, where a boundary
//!   is a statement boundary at which exactly ONE variable is live (so the whole state of the
//!   network is one 4-D activation there: a valid split point);
//! * `pool(x, tap)`: from the last boundary (the input of the global pooling) to the input of the
//!   final linear layer: the pooled features;
//! * `head(features)`: the final linear layer(s) and whatever follows: the logits;
//! * `BOUNDARIES`, `CONV_FIELDS`, `BN_FIELDS`, `HEAD_FIELD`: metadata for the runtime.
//!
//! Every `self.conv2dN.forward(x)` becomes `tap.conv(i, &self.conv2dN, x)` and every
//! `self.batchnormalizationN.forward(x)` becomes `tap.batch_norm(j, &self.batchnormalizationN, x)`,
//! with i, j the order of appearance (= the conv/BN order of the layout).
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

struct Statement {
    /// Variable bound by `let`, if any.
    binds: String,
    /// The whole statement, without its `;`.
    text: String,
    /// Earlier-bound variables it reads.
    uses: BTreeSet<String>,
    convs: usize,
    bns: usize,
}

pub fn rewrite(source: &str) -> Result<String, String> {
    let (param, body) = forward_body(source)?;
    let mut pieces = split_statements(body);
    let ret = pieces.pop().ok_or("empty forward")?.trim().to_string();
    if ret.is_empty() {
        return Err("forward has no tail expression".into());
    }

    // Rewrite layer calls and collect the statements.
    let mut known: BTreeSet<String> = BTreeSet::from([param.clone()]);
    let mut conv_fields = Vec::new();
    let mut bn_fields = Vec::new();
    let mut statements = Vec::new();
    for piece in pieces {
        let piece = piece.trim();
        let rest = piece
            .strip_prefix("let ")
            .ok_or_else(|| format!("not a let statement: {piece}"))?;
        let eq = rest.find('=').ok_or_else(|| format!("no `=`: {piece}"))?;
        let binds = rest[..eq]
            .trim()
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if !is_ident(&binds) {
            return Err(format!("unsupported binding pattern: {piece}"));
        }
        let (text, convs) = replace_calls(piece, "conv2d", "tap.conv", &mut conv_fields)?;
        let (text, bns) = replace_calls(
            &text,
            "batchnormalization",
            "tap.batch_norm",
            &mut bn_fields,
        )?;
        let uses = identifiers(&rest[eq + 1..])
            .into_iter()
            .filter(|id| known.contains(id))
            .collect();
        known.insert(binds.clone());
        statements.push(Statement {
            binds,
            text,
            uses,
            convs,
            bns,
        });
    }
    let ret_uses: BTreeSet<String> = identifiers(&ret)
        .into_iter()
        .filter(|id| known.contains(id))
        .collect();

    // live_after[i]: variables bound at or before statement i-1 (i = 0: the input) and read later.
    let n = statements.len();
    let mut live_after: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n + 1];
    let mut live = ret_uses.clone();
    live_after[n] = live.clone();
    for i in (0..n).rev() {
        live.remove(&statements[i].binds);
        live.extend(statements[i].uses.iter().cloned());
        live_after[i] = live.clone();
    }

    let pool_at = statements
        .iter()
        .position(|s| {
            s.text.contains("self.globalaveragepool") || s.text.contains("self.adaptiveavgpool")
        })
        .ok_or("no global average pooling in forward")?;
    let head_at = statements
        .iter()
        .rposition(|s| s.text.contains("self.linear"))
        .ok_or("no final linear layer in forward")?;
    if head_at < pool_at {
        return Err("the final linear layer comes before the pooling".into());
    }
    if statements[pool_at..].iter().any(|s| s.convs + s.bns > 0) {
        return Err("a conv or BatchNorm after the global pooling".into());
    }

    // Boundaries before the pooling statement with exactly one live variable.
    let mut boundaries = Vec::new(); // (statement index, variable)
    for (i, live) in live_after.iter().enumerate().take(pool_at + 1) {
        if live.len() == 1 {
            boundaries.push((i, live.iter().next().cloned().unwrap_or_default()));
        }
    }
    if boundaries.first().map(|b| b.0) != Some(0) || boundaries.last().map(|b| b.0) != Some(pool_at)
    {
        return Err("the input and the pooling's input must be boundaries".into());
    }
    let features = single(&live_after[head_at]).ok_or("more than one live variable at the head")?;

    let mut out = String::new();
    out.push_str(
        "// @generated by crates/probe/build/tapped.rs from the burn-import forward above.\n",
    );
    out.push_str(
        "#[allow(clippy::all, unused_variables, clippy::redundant_clone)]\nimpl Model {\n",
    );
    out.push_str(
        "    /// Runs segment `k`: from boundary `k` to boundary `k + 1` (see `BOUNDARIES`).\n",
    );
    out.push_str("    pub(crate) fn segment(&self, k: usize, x: Tensor<4>, tap: &mut dyn crate::tap::LayerTap) -> Tensor<4> {\n        match k {\n");
    for (k, pair) in boundaries.windows(2).enumerate() {
        let ((from, var_in), (to, var_out)) = (&pair[0], &pair[1]);
        writeln!(
            out,
            "            {k} => {{\n                let {var_in} = x;"
        )
        .unwrap();
        for s in &statements[*from..*to] {
            writeln!(out, "                {};", s.text).unwrap();
        }
        writeln!(out, "                {var_out}\n            }}").unwrap();
    }
    let segments = boundaries.len() - 1;
    writeln!(out, "            _ => panic!(\"segment {{k}} out of range (the graph has {segments})\"),\n        }}\n    }}\n").unwrap();

    let (_, pool_in) = boundaries.last().cloned().unwrap_or_default();
    out.push_str(
        "    /// From the last boundary (the global pooling's input) to the pooled features.\n",
    );
    out.push_str("    pub(crate) fn pool(&self, x: Tensor<4>, tap: &mut dyn crate::tap::LayerTap) -> Tensor<2> {\n");
    writeln!(out, "        let {pool_in} = x;").unwrap();
    for s in &statements[pool_at..head_at] {
        writeln!(out, "        {};", s.text).unwrap();
    }
    writeln!(out, "        {features}\n    }}\n").unwrap();

    out.push_str("    /// The classification head: pooled features to logits.\n");
    out.push_str("    pub(crate) fn head(&self, features: Tensor<2>) -> Tensor<2> {\n");
    writeln!(out, "        let {features} = features;").unwrap();
    for s in &statements[head_at..] {
        writeln!(out, "        {};", s.text).unwrap();
    }
    writeln!(out, "        {ret}\n    }}\n").unwrap();

    let head_field = statements[head_at]
        .text
        .split("self.")
        .nth(1)
        .and_then(|s| s.split('.').next())
        .unwrap_or("linear1")
        .to_string();
    // Accessors used by the runtime (the generated fields are private to this module).
    out.push_str(
        "    pub(crate) fn conv(&self, i: usize) -> &burn::nn::conv::Conv2d {\n        match i {\n",
    );
    for (i, f) in conv_fields.iter().enumerate() {
        writeln!(out, "            {i} => &self.{f},").unwrap();
    }
    out.push_str("            _ => panic!(\"conv {i} out of range\"),\n        }\n    }\n\n");
    out.push_str("    pub(crate) fn batch_norm(&self, i: usize) -> &burn::nn::BatchNorm {\n        match i {\n");
    for (i, f) in bn_fields.iter().enumerate() {
        writeln!(out, "            {i} => &self.{f},").unwrap();
    }
    out.push_str("            _ => panic!(\"batch norm {i} out of range\"),\n        }\n    }\n\n");
    writeln!(out, "    pub(crate) fn head_layer(&self) -> &burn::nn::Linear {{\n        &self.{head_field}\n    }}\n}}\n").unwrap();

    out.push_str(
        "/// Statement boundaries where exactly one activation is live, in forward order.\n",
    );
    out.push_str("pub(crate) const BOUNDARIES: &[crate::graph::Boundary] = &[\n");
    let mut convs_before = HashMap::new();
    let (mut c, mut b) = (0, 0);
    for (i, s) in statements.iter().enumerate() {
        convs_before.insert(i, (c, b));
        c += s.convs;
        b += s.bns;
    }
    convs_before.insert(n, (c, b));
    for (i, var) in &boundaries {
        let (c, b) = convs_before[i];
        let after = if *i == 0 {
            param.clone()
        } else {
            statements[i - 1].binds.clone()
        };
        writeln!(out, "    crate::graph::Boundary {{ convs_before: {c}, bns_before: {b}, after: {after:?}, variable: {var:?} }},").unwrap();
    }
    out.push_str("];\n\n");
    writeln!(out, "/// The generated conv fields, in forward order.\npub(crate) const CONV_FIELDS: &[&str] = &{conv_fields:?};").unwrap();
    writeln!(out, "/// The generated BatchNorm fields, in forward order.\npub(crate) const BN_FIELDS: &[&str] = &{bn_fields:?};").unwrap();
    writeln!(out, "/// The generated field of the classification layer.\npub(crate) const HEAD_FIELD: &str = {head_field:?};").unwrap();
    Ok(out)
}

fn single(set: &BTreeSet<String>) -> Option<String> {
    if set.len() == 1 {
        set.iter().next().cloned()
    } else {
        None
    }
}

/// The parameter name and the body of `pub fn forward(&self, NAME: Tensor<4>) -> ... { BODY }`.
fn forward_body(source: &str) -> Result<(String, &str), String> {
    let start = source
        .find("pub fn forward(&self,")
        .ok_or("no `pub fn forward(&self, ..)`")?;
    let sig = &source[start + "pub fn forward(&self,".len()..];
    let colon = sig.find(':').ok_or("no forward parameter")?;
    let param = sig[..colon].trim().to_string();
    if !sig[colon..]
        .trim_start_matches(':')
        .trim_start()
        .starts_with("Tensor<4>")
    {
        return Err("forward's input is not a Tensor<4>".into());
    }
    let open = start + source[start..].find('{').ok_or("no forward body")?;
    let mut depth = 0usize;
    for (i, ch) in source[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((param, &source[open + 1..open + i]));
                }
            }
            _ => {}
        }
    }
    Err("unbalanced braces in forward".into())
}

/// Splits at `;` outside brackets; the last piece is the tail expression.
fn split_statements(body: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for ch in body.chars() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if ch == ';' && depth == 0 {
            pieces.push(std::mem::take(&mut current));
        } else {
            current.push(ch);
        }
    }
    pieces.push(current);
    pieces
}

/// Replaces `self.<prefix>N.forward(` by `<call>(i, &self.<prefix>N, `, numbering in order.
fn replace_calls(
    text: &str,
    prefix: &str,
    call: &str,
    fields: &mut Vec<String>,
) -> Result<(String, usize), String> {
    let needle = format!("self.{prefix}");
    let mut out = String::new();
    let mut rest = text;
    let mut count = 0;
    while let Some(pos) = rest.find(&needle) {
        let after = &rest[pos + needle.len()..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        let tail = &after[digits.len()..];
        if digits.is_empty() {
            out.push_str(&rest[..pos + needle.len()]);
            rest = after;
            continue;
        }
        let field = format!("{prefix}{digits}");
        let tail = tail
            .strip_prefix(".forward(")
            .ok_or_else(|| format!("`self.{field}` used other than by .forward(..): {text}"))?;
        if fields.contains(&field) {
            return Err(format!(
                "`{field}` is called twice; a tap index must name one layer"
            ));
        }
        out.push_str(&rest[..pos]);
        write!(out, "{call}({}, &self.{field}, ", fields.len()).unwrap();
        fields.push(field);
        count += 1;
        rest = tail;
    }
    out.push_str(rest);
    Ok((out, count))
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn identifiers(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|s| is_ident(s))
        .map(str::to_string)
        .collect()
}
