//! The rewriter on a real burn-import 0.22 output (tiny-resnet's, as `cargo xtask codegen`
//! commits it in crates/probe/generated; see fixtures/README.md): the result equals, as syntax,
//! what the previous string-matching rewriter wrote for it.
use task2vec_probe_codegen::{Weights, rewrite};

/// burn-import's model code for tiny-resnet (the committed one: only parsed here).
const GENERATED: &str = include_str!("../../generated/tiny_resnet.rs");

fn normalized(code: &str) -> String {
    let file = syn::parse_file(code).unwrap_or_else(|e| panic!("does not parse: {e}"));
    prettyplease::unparse(&file)
}

#[test]
fn tiny_resnet_matches_the_reference_rewrite() {
    let generated = GENERATED;
    let reference = include_str!("fixtures/tiny_resnet_tapped.rs");
    let tapped = rewrite(generated, Weights::Embedded).unwrap_or_else(|e| panic!("{e}"));
    let (tapped, reference) = (normalized(&tapped), normalized(reference));
    // A readable first difference before the full comparison.
    if let Some((line, (got, want))) = tapped
        .lines()
        .zip(reference.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!("line {}: got {got:?}, expected {want:?}", line + 1);
    }
    assert_eq!(tapped, reference);
}

#[test]
fn tiny_resnet_taps_every_layer_once() {
    // The tiny ResNet ([1,1,1,1] BasicBlocks, crates/probe/README.md): 12 convs and 12
    // BatchNorms, each called once through the tap (prettyplease may break `tap` and
    // `.conv(..)` over two lines, hence the match on `.conv(`); the accessors are `fn conv(`.
    let tapped = rewrite(GENERATED, Weights::Embedded).unwrap();
    assert_eq!(tapped.matches(".conv(").count(), 12, "{tapped}");
    assert_eq!(tapped.matches(".batch_norm(").count(), 12, "{tapped}");
    assert_eq!(
        tapped.matches("self.maxpool2d1.forward(").count(),
        1,
        "{tapped}"
    );
}
