//! The rewriter on small hand-written models: one it accepts (the expected output written out
//! by hand from the rules), and every shape it must refuse, each with its reason.
use task2vec_probe_codegen::{RewriteError, Weights, rewrite};

/// Both codes parsed and printed the same way: equal iff equal as syntax (formatting aside).
fn normalized(code: &str) -> String {
    let file = syn::parse_file(code).unwrap_or_else(|e| panic!("does not parse: {e}\n{code}"));
    prettyplease::unparse(&file)
}

const FIELDS: &str = "
    conv2d1: Conv2d,
    batchnormalization1: BatchNorm,
    conv2d2: Conv2d,
    globalaveragepool1: AdaptiveAvgPool2d,
    linear1: Linear,
    #[module(skip)]
    device: Device,
";

/// The forward body of the accepted model: conv, BN, relu, a residual (two live variables
/// between statements 4 and 5), global pooling, flatten, linear.
const GOOD_BODY: &str = "
        let conv2d1_out1 = self.conv2d1.forward(input);
        let batchnormalization1_out1 = self.batchnormalization1.forward(conv2d1_out1);
        let relu1_out1 = burn::tensor::activation::relu(batchnormalization1_out1);
        let conv2d2_out1 = self.conv2d2.forward(relu1_out1.clone());
        let add1_out1 = conv2d2_out1.add(relu1_out1);
        let globalaveragepool1_out1 = self.globalaveragepool1.forward(add1_out1);
        let flatten1_out1 = globalaveragepool1_out1.flatten::<2>(1, 3);
        let linear1_out1 = self.linear1.forward(flatten1_out1);
        linear1_out1
";

fn model(fields: &str, body: &str) -> String {
    format!(
        "use burn::prelude::*;
         #[derive(Module, Debug)]
         pub struct Model {{ {fields} }}
         static EMBEDDED_STATES: &[u8] = &[];
         impl Model {{
             pub fn new(device: &Device) -> Self {{ unreachable!() }}
         }}
         impl Model {{
             #[allow(clippy::let_and_return, clippy::approx_constant)]
             pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {{ {body} }}
         }}"
    )
}

fn good_body_with(from: &str, to: &str) -> String {
    assert!(
        GOOD_BODY.contains(from),
        "test bug: {from:?} not in the good body"
    );
    GOOD_BODY.replacen(from, to, 1)
}

fn refused(source: &str) -> RewriteError {
    match rewrite(source, Weights::AtRunTime) {
        Ok(code) => panic!("accepted, expected an error; produced:\n{code}"),
        Err(e) => e,
    }
}

/// The error names what it should: every `needle` appears in the message.
fn assert_mentions(error: &RewriteError, needles: &[&str]) {
    for needle in needles {
        assert!(
            error.message().contains(needle),
            "{needle:?} not in the message: {error}"
        );
    }
}

#[test]
fn accepted_model_is_tapped_and_cut_at_single_live_variables() {
    let code = rewrite(&model(FIELDS, GOOD_BODY), Weights::Embedded).unwrap();
    assert!(code.starts_with("// @generated"), "{code}");
    // Written by hand from the rules: live variables before statements 1..8 are {input},
    // {conv2d1_out1}, {batchnormalization1_out1}, {relu1_out1}, {conv2d2_out1, relu1_out1},
    // {add1_out1} (the pooling's input), ...: boundaries before statements 1, 2, 3, 4 and 6.
    let expected = r#"
        #[allow(clippy::all, unused_variables, clippy::redundant_clone)]
        impl Model {
            /// Runs segment `k`: from boundary `k` to boundary `k + 1` (see `BOUNDARIES`).
            pub(crate) fn segment(&self, k: usize, x: Tensor<4>, tap: &mut dyn crate::tap::LayerTap) -> Tensor<4> {
                match k {
                    0 => {
                        let input = x;
                        let conv2d1_out1 = tap.conv(0, &self.conv2d1, input);
                        conv2d1_out1
                    }
                    1 => {
                        let conv2d1_out1 = x;
                        let batchnormalization1_out1 = tap.batch_norm(0, &self.batchnormalization1, conv2d1_out1);
                        batchnormalization1_out1
                    }
                    2 => {
                        let batchnormalization1_out1 = x;
                        let relu1_out1 = burn::tensor::activation::relu(batchnormalization1_out1);
                        relu1_out1
                    }
                    3 => {
                        let relu1_out1 = x;
                        let conv2d2_out1 = tap.conv(1, &self.conv2d2, relu1_out1.clone());
                        let add1_out1 = conv2d2_out1.add(relu1_out1);
                        add1_out1
                    }
                    _ => panic!("segment {k} out of range (the graph has 4)"),
                }
            }

            /// From the last boundary (the global pooling's input) to the pooled features.
            pub(crate) fn pool(&self, x: Tensor<4>, tap: &mut dyn crate::tap::LayerTap) -> Tensor<2> {
                let add1_out1 = x;
                let globalaveragepool1_out1 = self.globalaveragepool1.forward(add1_out1);
                let flatten1_out1 = globalaveragepool1_out1.flatten::<2>(1, 3);
                flatten1_out1
            }

            /// The classification head: pooled features to logits.
            pub(crate) fn head(&self, features: Tensor<2>) -> Tensor<2> {
                let flatten1_out1 = features;
                let linear1_out1 = self.linear1.forward(flatten1_out1);
                linear1_out1
            }

            pub(crate) fn conv(&self, i: usize) -> &burn::nn::conv::Conv2d {
                match i {
                    0 => &self.conv2d1,
                    1 => &self.conv2d2,
                    _ => panic!("conv {i} out of range"),
                }
            }

            pub(crate) fn batch_norm(&self, i: usize) -> &burn::nn::BatchNorm {
                match i {
                    0 => &self.batchnormalization1,
                    _ => panic!("batch norm {i} out of range"),
                }
            }

            pub(crate) fn head_layer(&self) -> &burn::nn::Linear {
                &self.linear1
            }
        }

        /// Statement boundaries where exactly one activation is live, in forward order.
        pub(crate) const BOUNDARIES: &[crate::graph::Boundary] = &[
            crate::graph::Boundary { convs_before: 0, bns_before: 0, after: "input", variable: "input" },
            crate::graph::Boundary { convs_before: 1, bns_before: 0, after: "conv2d1_out1", variable: "conv2d1_out1" },
            crate::graph::Boundary { convs_before: 1, bns_before: 1, after: "batchnormalization1_out1", variable: "batchnormalization1_out1" },
            crate::graph::Boundary { convs_before: 1, bns_before: 1, after: "relu1_out1", variable: "relu1_out1" },
            crate::graph::Boundary { convs_before: 2, bns_before: 1, after: "add1_out1", variable: "add1_out1" },
        ];

        /// The generated conv fields, in forward order.
        pub(crate) const CONV_FIELDS: &[&str] = &["conv2d1", "conv2d2"];
        /// The generated BatchNorm fields, in forward order.
        pub(crate) const BN_FIELDS: &[&str] = &["batchnormalization1"];
        /// The generated field of the classification layer.
        pub(crate) const HEAD_FIELD: &str = "linear1";

        pub(crate) fn embedded_weights() -> &'static [u8] {
            EMBEDDED_STATES
        }
    "#;
    assert_eq!(normalized(&code), normalized(expected));
}

#[test]
fn weights_loaded_at_run_time_get_no_embedded_accessor() {
    let code = rewrite(&model(FIELDS, GOOD_BODY), Weights::AtRunTime).unwrap();
    assert!(!code.contains("embedded_weights"), "{code}");
    assert!(code.contains("HEAD_FIELD"), "{code}");
}

#[test]
fn a_variable_read_only_inside_a_macro_stays_live() {
    // `relu1_out1` is read by the macro in statement 5 only: before statement 5 two variables
    // are live, so there is no boundary there (a missed read would cut the residual apart).
    let body = good_body_with(
        "conv2d2_out1.add(relu1_out1)",
        "residual!(conv2d2_out1, relu1_out1)",
    );
    let code = rewrite(&model(FIELDS, &body), Weights::AtRunTime).unwrap();
    assert!(code.contains("the graph has 4"), "{code}");
    assert!(!code.contains(r#"after: "conv2d2_out1""#), "{code}");
}

#[test]
fn refuses_a_file_that_does_not_parse() {
    let e = refused("pub struct Model { conv2d1: Conv2d ");
    assert_mentions(&e, &["does not parse as Rust"]);
}

#[test]
fn refuses_a_non_let_statement() {
    let body = good_body_with(
        "let relu1_out1 =",
        "batchnormalization1_out1.clone();\n let relu1_out1 =",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 3 of `Model::forward`",
            "batchnormalization1_out1.clone();",
            "expected `let <name> = <value>;`",
        ],
    );
}

#[test]
fn refuses_a_macro_statement() {
    let body = good_body_with("let relu1_out1 =", "println!(\"here\");\n let relu1_out1 =");
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 3 of `Model::forward`",
            "expected `let <name> = <value>;`",
        ],
    );
}

#[test]
fn refuses_a_layer_called_twice() {
    let body = good_body_with(
        "self.conv2d2.forward(relu1_out1.clone())",
        "self.conv2d1.forward(relu1_out1.clone())",
    );
    let fields = FIELDS.replace("conv2d2: Conv2d,", "");
    let e = refused(&model(&fields, &body));
    assert_mentions(
        &e,
        &[
            "statement 4",
            "calls `self.conv2d1` again (first called by statement 1)",
        ],
    );
}

#[test]
fn refuses_a_conv_that_forward_never_calls() {
    let fields = format!("{FIELDS} conv2d9: Conv2d,");
    let e = refused(&model(&fields, GOOD_BODY));
    assert_mentions(&e, &["field `conv2d9`", "never called by `forward`"]);
}

#[test]
fn refuses_a_layer_call_nested_in_an_expression() {
    let body = good_body_with(
        "self.conv2d2.forward(relu1_out1.clone())",
        "self.conv2d2.forward(relu1_out1.clone()).mul_scalar(2.0)",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &["statement 4", "uses `self` other than as the whole value"],
    );
}

#[test]
fn refuses_self_in_a_layer_input() {
    let body = good_body_with(
        "self.conv2d1.forward(input)",
        "self.conv2d1.forward(self.device.clone())",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &["statement 1", "uses `self` other than as the whole value"],
    );
}

#[test]
fn refuses_a_layer_call_with_two_inputs() {
    let body = good_body_with(
        "self.conv2d1.forward(input)",
        "self.conv2d1.forward(input, 1)",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(&e, &["statement 1", "found 2 arguments"]);
}

#[test]
fn refuses_a_call_on_an_unknown_field() {
    let body = good_body_with(
        "self.conv2d2.forward(relu1_out1.clone())",
        "self.conv2d3.forward(relu1_out1.clone())",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 4",
            "`self.conv2d3`, which is not a field of `struct Model`",
        ],
    );
}

#[test]
fn refuses_no_global_pooling() {
    let body = good_body_with(
        "self.globalaveragepool1.forward(add1_out1)",
        "add1_out1.mean_dim(3).mean_dim(2)",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(&e, &["no global pooling", "AdaptiveAvgPool2d"]);
}

#[test]
fn refuses_no_final_linear_layer() {
    let body = good_body_with("self.linear1.forward(flatten1_out1)", "flatten1_out1");
    let e = refused(&model(FIELDS, &body));
    assert_mentions(&e, &["no classification layer", "`Linear`"]);
}

#[test]
fn refuses_a_conv_after_the_pooling() {
    let body = good_body_with(
        "let flatten1_out1 = globalaveragepool1_out1",
        "let conv2d2_out1 = self.conv2d2.forward(globalaveragepool1_out1);\n let flatten1_out1 = conv2d2_out1",
    )
    .replacen(
        "let conv2d2_out1 = self.conv2d2.forward(relu1_out1.clone());\n        let add1_out1 = conv2d2_out1.add(relu1_out1);",
        "let add1_out1 = relu1_out1;",
        1,
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 6",
            "a conv or BatchNorm after the global pooling (statement 5)",
        ],
    );
}

#[test]
fn refuses_two_live_variables_at_the_pooling() {
    // The residual's second operand is read after the pooling: two variables live there.
    let body = good_body_with(
        "let flatten1_out1 = globalaveragepool1_out1.flatten::<2>(1, 3);",
        "let flatten1_out1 = globalaveragepool1_out1.flatten::<2>(1, 3).add(relu1_out1.flatten::<2>(1, 3));",
    )
    .replacen("conv2d2_out1.add(relu1_out1)", "conv2d2_out1.add(relu1_out1.clone())", 1);
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 6",
            "exactly one variable live before the global pooling",
            "relu1_out1",
        ],
    );
}

#[test]
fn refuses_a_rebound_name() {
    let body = good_body_with(
        "let add1_out1 = conv2d2_out1",
        "let relu1_out1 = conv2d2_out1",
    )
    .replacen("forward(add1_out1)", "forward(relu1_out1)", 1);
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 5",
            "rebinds `relu1_out1` (already bound by statement 3)",
        ],
    );
}

#[test]
fn refuses_a_value_that_shadows_a_variable() {
    let body = good_body_with(
        "burn::tensor::activation::relu(batchnormalization1_out1)",
        "{ let conv2d1_out1 = batchnormalization1_out1; burn::tensor::activation::relu(conv2d1_out1) }",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 3",
            "binds `conv2d1_out1` inside its value, shadowing",
        ],
    );
}

#[test]
fn refuses_a_pattern_binding() {
    let body = good_body_with("let relu1_out1 =", "let mut relu1_out1 =");
    let e = refused(&model(FIELDS, &body));
    assert_mentions(&e, &["statement 3", "binding one plain name"]);
}

#[test]
fn refuses_let_else() {
    let body = good_body_with(
        "let add1_out1 = conv2d2_out1.add(relu1_out1);",
        "let add1_out1 = conv2d2_out1.add(relu1_out1) else { panic!() };",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(&e, &["statement 5", "found `let ... else`"]);
}

#[test]
fn refuses_a_forward_without_a_tail_expression() {
    let body = GOOD_BODY.replace("        linear1_out1\n", "");
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 8",
            "expected the last statement to be the returned expression",
        ],
    );
}

#[test]
fn refuses_another_forward_signature() {
    let source = model(FIELDS, GOOD_BODY).replace(
        "pub fn forward(&self, input: Tensor<4>) -> Tensor<2>",
        "pub fn forward(&self, input: Tensor<4>) -> Tensor<4>",
    );
    let e = refused(&source);
    assert_mentions(
        &e,
        &[
            "expected `fn forward(&self, <input>: Tensor<4>) -> Tensor<2>`",
            "found `fn forward(&self, input: Tensor<4>) -> Tensor<4>`",
        ],
    );
}

#[test]
fn refuses_a_generic_model() {
    let source =
        model(FIELDS, GOOD_BODY).replace("pub struct Model {", "pub struct Model<B: Backend> {");
    let e = refused(&source);
    assert_mentions(&e, &["`struct Model<B: Backend>` is generic"]);
}

#[test]
fn refuses_a_model_without_forward() {
    let source = model(FIELDS, GOOD_BODY).replace("pub fn forward(", "pub fn forward_all(");
    let e = refused(&source);
    assert_mentions(
        &e,
        &["expected one `fn forward` in an `impl Model`, found 0"],
    );
}

#[test]
fn refuses_embedded_weights_without_their_static() {
    let source = model(FIELDS, GOOD_BODY).replace("static EMBEDDED_STATES", "static OTHER_STATES");
    let e = rewrite(&source, Weights::Embedded).unwrap_err();
    assert_mentions(&e, &["expected `static EMBEDDED_STATES`"]);
}

#[test]
fn refuses_the_linear_layer_before_the_pooling() {
    let body = "
        let conv2d1_out1 = self.conv2d1.forward(input);
        let batchnormalization1_out1 = self.batchnormalization1.forward(conv2d1_out1);
        let conv2d2_out1 = self.conv2d2.forward(batchnormalization1_out1);
        let linear1_out1 = self.linear1.forward(conv2d2_out1);
        let globalaveragepool1_out1 = self.globalaveragepool1.forward(linear1_out1);
        globalaveragepool1_out1.flatten::<2>(1, 3)
    ";
    let e = refused(&model(FIELDS, body));
    assert_mentions(
        &e,
        &[
            "statement 4",
            "the last linear layer comes before the global pooling (statement 5)",
        ],
    );
}

#[test]
fn refuses_an_unused_input() {
    let body = good_body_with(
        "self.conv2d1.forward(input)",
        "self.conv2d1.forward(zeros())",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "expected only the input `input` to be live at the start",
            "found {}",
        ],
    );
}

#[test]
fn refuses_two_live_variables_before_the_head() {
    // The tail reads the pooled map as well as the logits: it is live across the head.
    let body = good_body_with(
        "        linear1_out1\n",
        "        linear1_out1.add(globalaveragepool1_out1.flatten::<2>(1, 3))\n",
    );
    let e = refused(&model(FIELDS, &body));
    assert_mentions(
        &e,
        &[
            "statement 8",
            "exactly one variable live before the classification layer",
            "globalaveragepool1_out1",
        ],
    );
}
