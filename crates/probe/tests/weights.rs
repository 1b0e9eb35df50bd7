//! Loading weight files: the formats, and clear errors for the wrong file.
mod common;

use std::path::Path;

use burn::tensor::Device;
use common::*;
use task2vec_probe::formula::{state_dict_of, write_safetensors};
use task2vec_probe::{Probe, ProbeError, ProbeKind};

/// A fresh directory under the system temp dir, removed on drop (no tempfile dependency:
/// the probe's dev-dependencies stay those of task2vec-fisher, so both share one build).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("task2vec-probe-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(dir: &Path, name: &str, tensors: &[(String, Vec<usize>, Vec<f32>)]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, write_safetensors(tensors)).unwrap();
    path
}

#[test]
fn a_safetensors_file_with_torchvision_names_loads() {
    let dir = TempDir::new();
    let path = write(
        dir.path(),
        "tiny.safetensors",
        &state_dict_of(ProbeKind::TinyResnet),
    );
    let device = Device::flex();
    let from_file = Probe::load(ProbeKind::TinyResnet, Some(&path), &device).unwrap();
    let formula = Probe::with_formula_weights(ProbeKind::TinyResnet, &device).unwrap();
    assert_eq!(from_file.weights_sha256(), formula.weights_sha256());
    let x = formula_input([1, 3, 32, 32], &device);
    assert_eq!(
        values(from_file.logits(x.clone())),
        values(formula.logits(x.clone()))
    );
    // And the formula weights are not the compiled-in ones.
    assert!(
        max_abs_diff(
            &values(Probe::tiny(&device).logits(x.clone())),
            &values(formula.logits(x))
        ) > 1e-3
    );
}

#[test]
fn another_architecture_is_a_clear_error() {
    let dir = TempDir::new();
    let path = write(
        dir.path(),
        "r34.safetensors",
        &state_dict_of(ProbeKind::Resnet34),
    );
    let err = Probe::load(ProbeKind::Resnet18, Some(&path), &Device::flex()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ProbeError::WrongWeights { .. }), "{msg}");
    assert!(
        msg.contains("r34.safetensors") && msg.contains("does not hold `resnet18` weights"),
        "{msg}"
    );
    assert!(msg.contains("unexpected tensor"), "{msg}");
}

#[test]
fn a_missing_tensor_is_named() {
    let dir = TempDir::new();
    let mut tensors = state_dict_of(ProbeKind::TinyResnet);
    tensors.retain(|(name, _, _)| name != "layer2.0.conv2.weight");
    let path = write(dir.path(), "partial.safetensors", &tensors);
    let err = Probe::load(ProbeKind::TinyResnet, Some(&path), &Device::flex()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("1 missing tensor(s) (first: `layer2.0.conv2.weight`)"),
        "{msg}"
    );
}

#[test]
fn an_extra_tensor_is_named() {
    let dir = TempDir::new();
    let mut tensors = state_dict_of(ProbeKind::TinyResnet);
    tensors.push(("layer5.0.conv1.weight".into(), vec![2], vec![0.0, 0.0]));
    let path = write(dir.path(), "extra.safetensors", &tensors);
    let msg = Probe::load(ProbeKind::TinyResnet, Some(&path), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("1 unexpected tensor(s) (first: `layer5.0.conv1.weight`)"),
        "{msg}"
    );
}

#[test]
fn a_misshapen_tensor_is_an_error() {
    let dir = TempDir::new();
    let mut tensors = state_dict_of(ProbeKind::TinyResnet);
    let fc = tensors.iter_mut().find(|(n, _, _)| n == "fc.bias").unwrap();
    *fc = ("fc.bias".into(), vec![11], vec![0.0; 11]);
    let path = write(dir.path(), "shape.safetensors", &tensors);
    let msg = Probe::load(ProbeKind::TinyResnet, Some(&path), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("1 shape error(s)"), "{msg}");
}

#[test]
fn nan_weights_are_an_error() {
    let dir = TempDir::new();
    let mut tensors = state_dict_of(ProbeKind::TinyResnet);
    let (_, _, v) = tensors
        .iter_mut()
        .find(|(n, _, _)| n == "layer1.0.bn2.running_var")
        .unwrap();
    v[3] = f32::NAN;
    let path = write(dir.path(), "nan.safetensors", &tensors);
    let msg = Probe::load(ProbeKind::TinyResnet, Some(&path), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`layer1.0.bn2.running_var`") && msg.contains("NaN"),
        "{msg}"
    );
}

#[test]
fn unreadable_files_are_errors() {
    let dir = TempDir::new();
    let device = Device::flex();
    let missing = dir.path().join("none.pth");
    let msg = Probe::load(ProbeKind::Resnet18, Some(&missing), &device)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("none.pth"), "{msg}");
    let odd = dir.path().join("weights.h5");
    std::fs::write(&odd, b"x").unwrap();
    let msg = Probe::load(ProbeKind::Resnet18, Some(&odd), &device)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unsupported weights format"), "{msg}");
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file").unwrap();
    let msg = Probe::load(ProbeKind::TinyResnet, Some(&garbage), &device)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("garbage.safetensors"), "{msg}");
    let garbage = dir.path().join("garbage.pth");
    std::fs::write(&garbage, b"not a pickle").unwrap();
    let msg = Probe::load(ProbeKind::TinyResnet, Some(&garbage), &device)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("garbage.pth"), "{msg}");
}

/// Runs the `#[ignore]`d test `name` of this binary in a child process with `env`: the only
/// race-free way to test code that reads the process environment (`set_var` in a test is
/// unsound: the harness runs tests on threads, and other tests read the environment too).
fn run_in_child(name: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--ignored", "--exact", "--nocapture", name]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The message when no weights are cached, checked in a child process (see [`run_in_child`])
/// whose `EXPECT_PROBES_DIR` says where `$TASK2VEC_HOME` should have sent the loader.
#[test]
#[ignore = "run by no_cached_weights_says_how_to_fetch_them in a child process"]
fn child_no_cached_weights() {
    let want = std::env::var_os("EXPECT_PROBES_DIR").expect("run by its parent test");
    let msg = Probe::load(ProbeKind::Resnet34, None, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cargo xtask fetch-probe resnet34"), "{msg}");
    let want = Path::new(&want).join("resnet34.pth");
    assert!(msg.contains(&want.display().to_string()), "{msg}");
}

#[test]
fn no_cached_weights_says_how_to_fetch_them() {
    let home = TempDir::new();
    let probes = home.path().join("probes");
    run_in_child(
        "child_no_cached_weights",
        &[
            ("TASK2VEC_HOME", home.path().as_os_str()),
            ("EXPECT_PROBES_DIR", probes.as_os_str()),
        ],
    );
    // An empty TASK2VEC_HOME counts as unset (it once meant "the current directory" here and
    // "the default" to `cargo xtask fetch-probe`): the loader looks in ~/.cache/task2vec.
    let user = TempDir::new();
    let probes = user.path().join(".cache/task2vec/probes");
    run_in_child(
        "child_no_cached_weights",
        &[
            ("TASK2VEC_HOME", "".as_ref()),
            ("HOME", user.path().as_os_str()),
            ("EXPECT_PROBES_DIR", probes.as_os_str()),
        ],
    );
}
