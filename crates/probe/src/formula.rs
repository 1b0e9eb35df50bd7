//! Deterministic "formula" weights and inputs, bit-for-bit equal to ci/probe/common.py
//! (`formula_tensor`, `formula_input`).
//!
//! They let the golden tests check every probe graph against PyTorch without committing
//! or downloading weights: the export script computes PyTorch's outputs with these weights,
//! and the tests load the same values through the torchvision-name loading path.
//! Only integer hashing is involved, so both languages agree exactly.

use crate::layout::LayoutFile;

/// 32-bit FNV-1a of a string (the per-tensor seed).
pub fn fnv1a32(text: &str) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `n` values in [0, 1), a pure function of (seed, index).
pub fn uniform01(seed: u32, n: usize) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let mut x = (i * 0x9E37_79B1 + u64::from(seed)) & 0xFFFF_FFFF;
            x ^= x >> 16;
            x = (x * 0x045D_9F3B) & 0xFFFF_FFFF;
            x ^= x >> 16;
            x = (x * 0x045D_9F3B) & 0xFFFF_FFFF;
            x ^= x >> 16;
            // 24 bits: exact in f32.
            ((x >> 8) as f64 / f64::from(1u32 << 24)) as f32
        })
        .collect()
}

/// The value of the state-dict entry `name` (torch naming) of `shape`.
pub fn formula_tensor(name: &str, shape: &[usize]) -> Vec<f32> {
    let n = shape.iter().product::<usize>().max(1);
    let u = uniform01(fnv1a32(name), n);
    let leaf = name.rsplit('.').next().unwrap_or(name);
    match leaf {
        "running_mean" => u.iter().map(|&u| 0.2f32 * (2.0f32 * u - 1.0f32)).collect(),
        "running_var" => u.iter().map(|&u| 0.5f32 + u).collect(),
        "weight" if shape.len() == 1 => u.iter().map(|&u| 0.5f32 + u).collect(),
        "bias" => u.iter().map(|&u| 0.1f32 * (2.0f32 * u - 1.0f32)).collect(),
        _ => {
            let fan_in: usize = shape[1..].iter().product();
            let scale = (3.0f64 / fan_in as f64).sqrt() as f32;
            u.iter().map(|&u| scale * (2.0f32 * u - 1.0f32)).collect()
        }
    }
}

/// The formula input of `shape` (values in [-1, 1)).
pub fn formula_input(shape: &[usize]) -> Vec<f32> {
    let n = shape.iter().product();
    uniform01(fnv1a32("input"), n)
        .iter()
        .map(|&u| 2.0f32 * u - 1.0f32)
        .collect()
}

/// The formula state dict of `kind` (torchvision-style names, torch shapes, values).
pub fn state_dict_of(kind: crate::ProbeKind) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    state_dict(&crate::layout::LayoutFile::parse(
        crate::graph::info(kind).layout_json,
    ))
}

/// Every tensor of a probe (torch names, shapes) with its formula value.
pub(crate) fn state_dict(layout: &LayoutFile) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut tensors: Vec<(String, Vec<usize>)> = Vec::new();
    for conv in &layout.convs {
        let shape = vec![
            conv.out_channels,
            conv.in_channels / conv.groups,
            conv.kernel[0],
            conv.kernel[1],
        ];
        tensors.push((format!("{}.weight", conv.name), shape));
        if conv.bias {
            tensors.push((format!("{}.bias", conv.name), vec![conv.out_channels]));
        }
    }
    for bn in &layout.batch_norms {
        for leaf in ["weight", "bias", "running_mean", "running_var"] {
            tensors.push((format!("{}.{leaf}", bn.name), vec![bn.channels]));
        }
    }
    tensors.push((
        format!("{}.weight", layout.head),
        layout.head_shape.to_vec(),
    ));
    tensors.push((format!("{}.bias", layout.head), vec![layout.head_shape[0]]));
    tensors
        .into_iter()
        .map(|(name, shape)| {
            let values = formula_tensor(&name, &shape);
            (name, shape, values)
        })
        .collect()
}

/// Serialises f32 tensors in the safetensors format (8-byte little-endian header length, JSON
/// header with dtype/shape/data_offsets, then the raw little-endian data).
pub fn write_safetensors(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, values) in tensors {
        let end = offset + values.len() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for (_, _, values) in tensors {
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vector() {
        // FNV-1a 32-bit test vectors (Fowler/Noll/Vo): "" -> 0x811c9dc5, "a" -> 0xe40c292c.
        assert_eq!(fnv1a32(""), 0x811c_9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c_292c);
    }

    #[test]
    fn uniform_values_match_numpy() {
        // ci/probe: common.uniform01(common.fnv1a32("input"), 3) * 2**24 with numpy.
        let got: Vec<u32> = uniform01(fnv1a32("input"), 3)
            .iter()
            .map(|&u| (u * 16_777_216.0) as u32)
            .collect();
        assert_eq!(got, NUMPY_TICKS);
    }

    const NUMPY_TICKS: [u32; 3] = [7_798_169, 11_077_849, 12_688_930];
}
