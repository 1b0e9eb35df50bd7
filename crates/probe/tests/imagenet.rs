//! EfficientNet-Lite0 with its real ImageNet weights: numbers against PyTorch and classes of
//! real photos. Needs the assets of ci/probe/fetch_test_assets.sh in $TASK2VEC_TEST_ASSETS:
//! without them these tests fail under `CI=true` and are skipped loudly elsewhere
//! (`common::test_assets`).
mod common;

use std::path::PathBuf;

use burn::tensor::Device;
use common::*;
use task2vec_probe::imagenet::{class_name, top_k};
use task2vec_probe::{Probe, ProbeKind};

fn assets() -> Option<PathBuf> {
    test_assets("EfficientNet-Lite0's ImageNet weights")
}

fn load(dir: &std::path::Path) -> Probe {
    Probe::load(
        ProbeKind::EfficientNetLite0,
        Some(&dir.join("efficientnet-lite0.pth")),
        &Device::flex(),
    )
    .expect("efficientnet-lite0.pth loads")
}

#[test]
fn imagenet_weights_match_pytorch() {
    let Some(dir) = assets() else { return };
    let probe = load(&dir);
    let golden = golden("efficientnet-lite0-imagenet");
    let sha = golden["weights"].as_str().unwrap();
    assert!(
        sha.ends_with(probe.weights_sha256()),
        "{sha} vs {}",
        probe.weights_sha256()
    );
    check_golden(&probe, &golden, [2, 3, 64, 64], 1e-4);
}

#[test]
fn real_photos_get_the_right_classes() {
    let Some(dir) = assets() else { return };
    let probe = load(&dir);
    let device = Device::flex();
    let pre = probe.preprocessor(224);
    let x = pre
        .batch_from_files(&[dir.join("eagle.jpg"), dir.join("dog.jpg")], &device)
        .unwrap();
    let logits = values(probe.imagenet_logits(x).unwrap());
    let top = |i: usize| top_k(&logits[i * 1000..(i + 1) * 1000], 5);
    let names = |t: &[(usize, f32)]| {
        t.iter()
            .map(|&(c, _)| class_name(c).unwrap())
            .collect::<Vec<_>>()
    };
    let eagle = top(0);
    eprintln!("eagle.jpg: {:?}", names(&eagle));
    assert!(
        eagle.iter().any(|&(c, _)| c == 22),
        "bald eagle (22) not in the top-5 of eagle.jpg"
    );
    let dog = top(1);
    eprintln!("dog.jpg: {:?}", names(&dog));
    // ImageNet's dog classes are 151..=268.
    assert!(
        (151..=268).contains(&dog[0].0),
        "dog.jpg's top-1 is not a dog: {:?}",
        names(&dog)
    );
}
