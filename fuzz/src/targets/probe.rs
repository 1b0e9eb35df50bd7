//! Probe weight files through `Probe::load` (`crates/probe/src/weights.rs`, read only here):
//! `.safetensors` and `.pth` with torchvision names, `.bpk` with the generated ones, each
//! loaded into tiny-resnet (the one probe small enough to load thousands of times).
//!
//! The seeds are tiny-resnet's formula weights (`task2vec_probe::formula`) in each format,
//! written here byte by byte (safetensors by the probe's own writer, `.pth` as the ZIP that
//! `torch.save` writes, `.bpk` by burn-pack's writer), plus a small foreign file per format.
use std::path::Path;

use task2vec_probe::formula::{state_dict_of, write_safetensors};
use task2vec_probe::{Device, Probe, ProbeKind};

use super::{Outcome, Target, Verdict, case};

type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

fn run_file(dir: &Path, name: &str) -> Verdict {
    match Probe::load(
        ProbeKind::TinyResnet,
        Some(&dir.join(name)),
        &Device::flex(),
    ) {
        Ok(p) => Ok(Outcome::Accepted(format!("{} filters", p.total_filters()))),
        Err(e) => Ok(Outcome::Refused(e.to_string())),
    }
}

const DICTIONARY: &[&[u8]] = &[
    &[0xff, 0xff, 0xff, 0xff],
    &[0, 0, 0, 0x80],
    &[0, 0, 0xc0, 0x7f],
    &[0, 0, 0x80, 0x7f],
    b"\"dtype\":\"F64\"",
    b"\"dtype\":\"BF16\"",
    b"\"shape\":[]",
    b"\"shape\":[4294967296]",
    b"\"data_offsets\":[0,4294967296]",
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"torch\nFloatStorage\n",
    b"torch\nHalfStorage\n",
    b"BURN",
];

pub fn safetensors_target() -> Target {
    Target {
        name: "probe-safetensors",
        about: "tiny-resnet weights in .safetensors via Probe::load",
        mutable: &["weights.safetensors"],
        dictionary: DICTIONARY,
        prefixes_refused: &["weights.safetensors"],
        max_len: 1 << 20,
        run: |dir| run_file(dir, "weights.safetensors"),
        seeds: || {
            let file = |b: Vec<u8>| case([("weights.safetensors", b)]);
            vec![
                (
                    "ok-tiny-resnet".into(),
                    file(write_safetensors(&state_dict_of(ProbeKind::TinyResnet))),
                ),
                ("bad-foreign".into(), file(write_safetensors(&foreign()))),
            ]
        },
    }
}

pub fn pth_target() -> Target {
    Target {
        name: "probe-pth",
        about: "tiny-resnet weights in torch's ZIP .pth via Probe::load",
        mutable: &["weights.pth"],
        dictionary: DICTIONARY,
        prefixes_refused: &["weights.pth"],
        max_len: 1 << 20,
        run: |dir| run_file(dir, "weights.pth"),
        seeds: || {
            let file = |b: Vec<u8>| case([("weights.pth", b)]);
            vec![
                (
                    "ok-tiny-resnet".into(),
                    file(torch_zip(&state_dict_of(ProbeKind::TinyResnet))),
                ),
                ("bad-foreign".into(), file(torch_zip(&foreign()))),
                ("bad-not-a-zip".into(), file(b"PK\x03\x04garbage".to_vec())),
            ]
        },
    }
}

pub fn bpk_target() -> Target {
    Target {
        name: "probe-bpk",
        about: "tiny-resnet weights in burn's .bpk via Probe::load",
        mutable: &["weights.bpk"],
        dictionary: DICTIONARY,
        prefixes_refused: &["weights.bpk"],
        max_len: 1 << 20,
        run: |dir| run_file(dir, "weights.bpk"),
        seeds: || {
            let file = |b: Vec<u8>| case([("weights.bpk", b)]);
            vec![
                (
                    "ok-tiny-resnet".into(),
                    file(burnpack(&generated_names(&state_dict_of(
                        ProbeKind::TinyResnet,
                    )))),
                ),
                ("bad-foreign".into(), file(burnpack(&foreign()))),
            ]
        },
    }
}

/// Two tensors of no probe.
fn foreign() -> Tensors {
    vec![
        (
            "encoder.weight".into(),
            vec![2, 2],
            vec![1.0, 2.0, 3.0, 4.0],
        ),
        ("encoder.bias".into(), vec![2], vec![0.5, -0.5]),
    ]
}

/// torch names → the names burn-import generated for tiny-resnet (`conv2d<i>`,
/// `batchnormalization<i>`, `linear1`, in graph order; BatchNorm's weight/bias are
/// gamma/beta), with the linear weight transposed to burn's `[in, out]`.
fn generated_names(torch: &Tensors) -> Tensors {
    let (mut conv, mut bn) = (0, 0);
    let mut out = Vec::new();
    for (name, shape, values) in torch {
        let leaf = name.rsplit('.').next().expect("a dotted name");
        let module = &name[..name.len() - leaf.len() - 1];
        let field = if module == "fc" {
            "linear1".to_string()
        } else if name.contains(".bn")
            || module.starts_with("bn")
            || module.ends_with("downsample.1")
        {
            if leaf == "weight" {
                bn += 1;
            }
            format!("batchnormalization{bn}")
        } else {
            if leaf == "weight" {
                conv += 1;
            }
            format!("conv2d{conv}")
        };
        let leaf = match (field.starts_with("batch"), leaf) {
            (true, "weight") => "gamma",
            (true, "bias") => "beta",
            (_, l) => l,
        };
        let (shape, values) = if field == "linear1" && shape.len() == 2 {
            let (o, i) = (shape[0], shape[1]);
            let t: Vec<f32> = (0..i * o).map(|k| values[(k % o) * i + k / o]).collect();
            (vec![i, o], t)
        } else {
            (shape.clone(), values.clone())
        };
        out.push((format!("{field}.{leaf}"), shape, values));
    }
    out
}

fn burnpack(tensors: &Tensors) -> Vec<u8> {
    let entries = tensors
        .iter()
        .map(|(name, shape, values)| {
            let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            burn_pack::Tensor::new(
                name.clone(),
                burn_pack::DType::F32,
                shape.clone(),
                None,
                burn_pack::Bytes::from_bytes_vec(raw),
            )
        })
        .collect();
    burn_pack::Writer::new(entries)
        .into_bytes()
        .expect("in memory")
        .to_vec()
}

/// A state dict as `torch.save` writes it (PyTorch ≥ 1.6): a stored ZIP with
/// `data.pkl` (protocol 2: an `OrderedDict` of `torch._utils._rebuild_tensor_v2` calls whose
/// storages are persistent ids), one `data/<i>` entry per storage, `byteorder`, `version`.
fn torch_zip(tensors: &Tensors) -> Vec<u8> {
    let mut pkl = b"\x80\x02ccollections\nOrderedDict\n)R(".to_vec();
    let text = |p: &mut Vec<u8>, s: &str| {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    };
    let int = |p: &mut Vec<u8>, v: usize| {
        p.push(b'J');
        p.extend_from_slice(&(v as i32).to_le_bytes());
    };
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, (name, shape, values)) in tensors.iter().enumerate() {
        text(&mut pkl, name);
        pkl.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        pkl.push(b'(');
        text(&mut pkl, "storage");
        pkl.extend_from_slice(b"ctorch\nFloatStorage\n");
        text(&mut pkl, &i.to_string());
        text(&mut pkl, "cpu");
        int(&mut pkl, values.len());
        pkl.extend_from_slice(b"tQ");
        int(&mut pkl, 0);
        pkl.push(b'(');
        for &d in shape {
            int(&mut pkl, d);
        }
        pkl.extend_from_slice(b"t(");
        let mut stride = 1;
        let mut strides = vec![0; shape.len()];
        for (k, &d) in shape.iter().enumerate().rev() {
            strides[k] = stride;
            stride *= d;
        }
        for s in strides {
            int(&mut pkl, s);
        }
        pkl.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)RtR");
        entries.push((
            format!("weights/data/{i}"),
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ));
    }
    pkl.extend_from_slice(b"u.");
    entries.insert(0, ("weights/data.pkl".into(), pkl));
    entries.push(("weights/byteorder".into(), b"little".to_vec()));
    entries.push(("weights/version".into(), b"3\n".to_vec()));
    stored_zip(&entries)
}

/// A ZIP archive with every entry stored (no compression).
fn stored_zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u32.to_le_bytes()); // time, date
            v.extend_from_slice(&crc.sum().to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    let n = entries.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}
