//! A data-only pickle reader for the messages python-socketio ≤ 5.13 publishes.
//!
//! Those versions `pickle.dumps` every queue message. Unpickling in Python can
//! import modules and call anything (`GLOBAL` + `REDUCE`), so anyone who can
//! publish on the channel could run code in a Python reader. This reader only
//! knows the opcodes that build plain data (None, bools, ints, floats, str,
//! bytes, lists, tuples, dicts, sets, the memo) and rejects every opcode that
//! names a global, calls, builds an object or reaches outside the byte string.
//! It executes nothing by construction, and it bounds the work a hostile
//! message can cause: shared references expand under a node budget and
//! nesting under a depth limit, so a "billion laughs" pickle fails fast.

use std::collections::HashMap;
use std::fmt;

/// A Python value, as far as a queue message may contain one.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` (Python ints are unbounded; larger ones are refused).
    Int(i128),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// `bytes` or `bytearray`.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<PyValue>),
    /// A `tuple` (several event arguments in python-socketio's convention).
    Tuple(Vec<PyValue>),
    /// A `dict`, in insertion order.
    Dict(Vec<(PyValue, PyValue)>),
    /// A `set` or `frozenset`.
    Set(Vec<PyValue>),
}

/// Why a pickle was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickleError {
    /// The pickle uses an opcode that does more than build data (import, call, object construction, ...).
    Forbidden(&'static str),
    /// The bytes are not a well-formed pickle of plain data.
    Malformed(String),
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PickleError::Forbidden(op) => write!(f, "forbidden pickle opcode {op}"),
            PickleError::Malformed(why) => write!(f, "malformed pickle: {why}"),
        }
    }
}

impl std::error::Error for PickleError {}

/// Deepest nesting accepted (python-socketio messages are a few levels deep).
pub const MAX_DEPTH: usize = 64;

/// Most values one pickle may build (a queue message holds a few dozen).
/// Bounds the memory a hostile message costs, whatever its size.
pub const MAX_VALUES: usize = 1_000_000;

/// Integers wider than this many bytes do not fit [`PyValue::Int`].
const MAX_INT_BYTES: usize = 16;

fn malformed(why: impl Into<String>) -> PickleError {
    PickleError::Malformed(why.into())
}

/// An object under construction. Containers hold ids, not values, because
/// pickle memo references alias: a list memoized before its `APPENDS` must
/// show those items when it is fetched again.
enum Node {
    Leaf(PyValue),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Set(Vec<usize>),
}

/// One entry of the unpickler's stack: an object or a MARK.
#[derive(Clone, Copy)]
enum Slot {
    Object(usize),
    Mark,
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Slot>,
    memo: HashMap<u32, usize>,
}

/// Decodes a pickle (protocol 2 to 5) of plain data.
pub fn decode(input: &[u8]) -> Result<PyValue, PickleError> {
    let mut reader = Reader {
        input,
        pos: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let root = reader.run()?;
    // Shared references may expand; a tree larger than a few times the input is an attack.
    let mut budget = input
        .len()
        .saturating_mul(4)
        .saturating_add(4096)
        .min(2 * MAX_VALUES);
    reader.materialize(root, 0, &mut budget)
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.input.len())
            .ok_or_else(|| malformed("truncated"))?;
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self, width: usize) -> Result<u64, PickleError> {
        let bytes = self.take(width)?;
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(bytes);
        Ok(u64::from_le_bytes(buf))
    }

    fn length(&mut self, width: usize) -> Result<usize, PickleError> {
        let n = self.uint(width)?;
        usize::try_from(n).map_err(|_| malformed("length out of range"))
    }

    fn push_leaf(&mut self, value: PyValue) -> Result<(), PickleError> {
        self.push_node(Node::Leaf(value))
    }

    fn push_node(&mut self, node: Node) -> Result<(), PickleError> {
        if self.nodes.len() >= MAX_VALUES {
            return Err(malformed(format!("more than {MAX_VALUES} values")))?;
        }
        self.nodes.push(node);
        self.stack.push(Slot::Object(self.nodes.len() - 1));
        Ok(())
    }

    fn pop(&mut self) -> Result<usize, PickleError> {
        match self.stack.pop() {
            Some(Slot::Object(id)) => Ok(id),
            Some(Slot::Mark) => Err(malformed("unexpected MARK")),
            None => Err(malformed("stack underflow")),
        }
    }

    fn top(&self) -> Result<usize, PickleError> {
        match self.stack.last() {
            Some(Slot::Object(id)) => Ok(*id),
            Some(Slot::Mark) => Err(malformed("unexpected MARK")),
            None => Err(malformed("stack underflow")),
        }
    }

    /// Pops everything down to the topmost MARK (which goes too).
    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let mark = self
            .stack
            .iter()
            .rposition(|slot| matches!(slot, Slot::Mark))
            .ok_or_else(|| malformed("no MARK"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Object(id) => Some(id),
                Slot::Mark => None,
            })
            .collect())
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<usize>, PickleError> {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.pop()?);
        }
        items.reverse();
        Ok(items)
    }

    fn text(&mut self, width: usize) -> Result<(), PickleError> {
        let n = self.length(width)?;
        let bytes = self.take(n)?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| malformed("string is not UTF-8"))?
            .to_owned();
        self.push_leaf(PyValue::Str(text))?;
        Ok(())
    }

    fn bytes(&mut self, width: usize) -> Result<(), PickleError> {
        let n = self.length(width)?;
        let bytes = self.take(n)?.to_vec();
        self.push_leaf(PyValue::Bytes(bytes))?;
        Ok(())
    }

    fn long(&mut self, width: usize) -> Result<(), PickleError> {
        let n = self.length(width)?;
        if n > MAX_INT_BYTES {
            return Err(malformed("integer too large"));
        }
        let bytes = self.take(n)?;
        // Little-endian two's complement, sign-extended to 128 bits.
        let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut buf = [fill; MAX_INT_BYTES];
        buf[..n].copy_from_slice(bytes);
        self.push_leaf(PyValue::Int(i128::from_le_bytes(buf)))?;
        Ok(())
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| malformed("memo key not found"))?;
        self.stack.push(Slot::Object(id));
        Ok(())
    }

    fn append(&mut self, items: Vec<usize>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.nodes[target] {
            Node::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(malformed("APPEND to something that is not a list")),
        }
    }

    fn set_items(&mut self, items: Vec<usize>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(malformed("odd number of dict items"));
        }
        let target = self.top()?;
        match &mut self.nodes[target] {
            Node::Dict(dict) => {
                dict.extend(items.chunks_exact(2).map(|pair| (pair[0], pair[1])));
                Ok(())
            }
            _ => Err(malformed("SETITEM on something that is not a dict")),
        }
    }

    fn add_items(&mut self, items: Vec<usize>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.nodes[target] {
            Node::Set(set) => {
                set.extend(items);
                Ok(())
            }
            _ => Err(malformed("ADDITEMS on something that is not a set")),
        }
    }

    /// Runs the opcodes up to STOP; returns the id of the result.
    fn run(&mut self) -> Result<usize, PickleError> {
        if self.input.first() != Some(&0x80) {
            return Err(malformed("no PROTO header (protocol 2 or later expected)"));
        }
        loop {
            let op = self.byte()?;
            match op {
                // PROTO
                0x80 => {
                    if self.byte()? > 5 {
                        return Err(malformed("unknown pickle protocol"));
                    }
                }
                // FRAME: a length hint for buffered readers; the whole input is here.
                0x95 => {
                    self.take(8)?;
                }
                b'.' => {
                    let root = self.pop()?;
                    if !self.stack.is_empty() {
                        return Err(malformed("values left on the stack after STOP"));
                    }
                    if self.pos != self.input.len() {
                        return Err(malformed("bytes after STOP"));
                    }
                    return Ok(root);
                }
                b'(' => self.stack.push(Slot::Mark),
                b'0' => {
                    self.stack
                        .pop()
                        .ok_or_else(|| malformed("stack underflow"))?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.stack.push(Slot::Object(id));
                }
                b'N' => self.push_leaf(PyValue::None)?,
                0x88 => self.push_leaf(PyValue::Bool(true))?,
                0x89 => self.push_leaf(PyValue::Bool(false))?,
                b'J' => {
                    let bytes = self.take(4)?;
                    let n = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    self.push_leaf(PyValue::Int(n.into()))?;
                }
                b'K' => {
                    let n = self.uint(1)?;
                    self.push_leaf(PyValue::Int(n.into()))?;
                }
                b'M' => {
                    let n = self.uint(2)?;
                    self.push_leaf(PyValue::Int(n.into()))?;
                }
                0x8a => self.long(1)?,
                0x8b => self.long(4)?,
                b'G' => {
                    let bytes = self.take(8)?;
                    let mut buf = [0u8; 8];
                    buf.copy_from_slice(bytes);
                    self.push_leaf(PyValue::Float(f64::from_be_bytes(buf)))?;
                }
                0x8c => self.text(1)?,
                b'X' => self.text(4)?,
                0x8d => self.text(8)?,
                b'C' => self.bytes(1)?,
                b'B' => self.bytes(4)?,
                0x8e | 0x96 => self.bytes(8)?,
                b']' => self.push_node(Node::List(Vec::new()))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items))?;
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b')' => self.push_node(Node::Tuple(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let items = self.pop_n(usize::from(op - 0x84))?;
                    self.push_node(Node::Tuple(items))?;
                }
                b'}' => self.push_node(Node::Dict(Vec::new()))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Dict(Vec::new()))?;
                    self.set_items(items)?;
                }
                b's' => {
                    let pair = self.pop_n(2)?;
                    self.set_items(pair)?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                0x8f => self.push_node(Node::Set(Vec::new()))?,
                0x90 => {
                    let items = self.pop_mark()?;
                    self.add_items(items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Set(items))?;
                }
                b'q' => {
                    let key = self.uint(1)?;
                    self.memo_put(key as u32)?;
                }
                b'r' => {
                    let key = self.uint(4)?;
                    self.memo_put(key as u32)?;
                }
                0x94 => {
                    let key =
                        u32::try_from(self.memo.len()).map_err(|_| malformed("memo too large"))?;
                    self.memo_put(key)?;
                }
                b'h' => {
                    let key = self.uint(1)?;
                    self.memo_get(key as u32)?;
                }
                b'j' => {
                    let key = self.uint(4)?;
                    self.memo_get(key as u32)?;
                }
                other => return Err(forbidden_or_unknown(other)),
            }
        }
    }

    /// Builds the value tree of `id`, spending one unit of `budget` per node.
    fn materialize(
        &self,
        id: usize,
        depth: usize,
        budget: &mut usize,
    ) -> Result<PyValue, PickleError> {
        if depth > MAX_DEPTH {
            return Err(malformed(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| malformed("shared references expand too much"))?;
        let all = |ids: &[usize], budget: &mut usize| {
            ids.iter()
                .map(|id| self.materialize(*id, depth + 1, budget))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match &self.nodes[id] {
            Node::Leaf(value) => {
                // Strings and bytes are copied, so they spend their length too.
                let size = match value {
                    PyValue::Str(s) => s.len(),
                    PyValue::Bytes(b) => b.len(),
                    _ => 0,
                };
                *budget = budget
                    .checked_sub(size / 16)
                    .ok_or_else(|| malformed("shared references expand too much"))?;
                value.clone()
            }
            Node::List(items) => PyValue::List(all(items, budget)?),
            Node::Tuple(items) => PyValue::Tuple(all(items, budget)?),
            Node::Set(items) => PyValue::Set(all(items, budget)?),
            Node::Dict(pairs) => {
                let mut dict = Vec::with_capacity(pairs.len());
                for (key, value) in pairs {
                    dict.push((
                        self.materialize(*key, depth + 1, budget)?,
                        self.materialize(*value, depth + 1, budget)?,
                    ));
                }
                PyValue::Dict(dict)
            }
        })
    }
}

/// Names the opcodes that reach beyond data, so logs say what was attempted.
fn forbidden_or_unknown(op: u8) -> PickleError {
    let name = match op {
        b'c' => "GLOBAL",
        0x93 => "STACK_GLOBAL",
        b'R' => "REDUCE",
        b'b' => "BUILD",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        // Protocol 0 text opcodes and Python 2 strings: never written by Python 3 at protocol ≥ 2.
        b'I' | b'L' | b'F' | b'S' | b'V' | b'g' | b'p' | b'U' | b'T' => {
            return PickleError::Malformed(format!(
                "unsupported protocol-0 or Python 2 opcode {:?}",
                char::from(op)
            ));
        }
        _ => return PickleError::Malformed(format!("unknown opcode 0x{op:02x}")),
    };
    PickleError::Forbidden(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values() {
        // pickle.dumps({'a': [1, -2, 3.5, None, True], 'b': b'\x00\xff', 'c': ('x',)}, protocol=4)
        let bytes = b"\x80\x04\x95\x32\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00N\x88e\x8c\x01b\x94C\x02\x00\xff\x94\x8c\x01c\x94\x8c\x01x\x94\x85\x94u.";
        let value = decode(bytes).expect("plain data");
        assert_eq!(
            value,
            PyValue::Dict(vec![
                (
                    PyValue::Str("a".into()),
                    PyValue::List(vec![
                        PyValue::Int(1),
                        PyValue::Int(-2),
                        PyValue::Float(3.5),
                        PyValue::None,
                        PyValue::Bool(true),
                    ])
                ),
                (PyValue::Str("b".into()), PyValue::Bytes(vec![0, 255])),
                (
                    PyValue::Str("c".into()),
                    PyValue::Tuple(vec![PyValue::Str("x".into())])
                ),
            ])
        );
    }

    #[test]
    fn memo_references_alias_containers() {
        // l = []; pickle.dumps((l, l)) after l.append(1): MEMOIZE precedes the APPENDS.
        let bytes = b"\x80\x04]\x94K\x01a\x94h\x00\x86\x94.";
        let value = decode(bytes).expect("aliasing");
        let one = PyValue::List(vec![PyValue::Int(1)]);
        assert_eq!(value, PyValue::Tuple(vec![one.clone(), one]));
    }

    #[test]
    fn long_integers() {
        // LONG1 with 9 bytes: 2**64 and -(2**64)
        let big = b"\x80\x04\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.";
        assert_eq!(decode(big), Ok(PyValue::Int(1i128 << 64)));
        let negative = b"\x80\x04\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xff.";
        assert_eq!(decode(negative), Ok(PyValue::Int(-(1i128 << 64))));
        let huge = b"\x80\x04\x8a\x11\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01.";
        assert!(matches!(decode(huge), Err(PickleError::Malformed(_))));
    }

    #[test]
    fn code_execution_opcodes_are_forbidden() {
        // pickle.dumps(os.system, 0)-style GLOBAL + REDUCE: os.system('touch /tmp/pwned')
        let global_reduce =
            b"\x80\x02cos\nsystem\nq\x00X\x10\x00\x00\x00touch /tmp/pwnedq\x01\x85q\x02Rq\x03.";
        assert_eq!(decode(global_reduce), Err(PickleError::Forbidden("GLOBAL")));
        // STACK_GLOBAL (protocol 4 style)
        let stack_global = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";
        assert_eq!(
            decode(stack_global),
            Err(PickleError::Forbidden("STACK_GLOBAL"))
        );
        // REDUCE on plain data is still a call.
        let reduce = b"\x80\x04\x8c\x01x)R.";
        assert_eq!(decode(reduce), Err(PickleError::Forbidden("REDUCE")));
        for (op, name) in [
            (b'b', "BUILD"),
            (0x81, "NEWOBJ"),
            (0x92, "NEWOBJ_EX"),
            (b'Q', "BINPERSID"),
            (0x82, "EXT1"),
            (0x97, "NEXT_BUFFER"),
        ] {
            let bytes = [0x80, 0x04, b'N', b'N', op, b'.'];
            assert_eq!(decode(&bytes), Err(PickleError::Forbidden(name)));
        }
    }

    #[test]
    fn malformed_inputs_are_refused() {
        let cases: [&[u8]; 11] = [
            b"",
            b"\x80",
            b"\x80\x04",
            b"\x80\x04N",
            b"\x80\x04NN.",
            b"\x80\x04N.trailing",
            b"\x80\x09N.",
            b"\x80\x04X\xff\xff\xff\xffab.",
            b"\x80\x04\x8c\x02\xff\xfe.",
            b"\x80\x04Na.",
            b"\x80\x04h\x07.",
        ];
        for case in cases {
            assert!(
                matches!(decode(case), Err(PickleError::Malformed(_))),
                "{case:?} must be malformed"
            );
        }
        assert!(decode(b"(dp0\nS'a'\np1\nI1\ns.").is_err(), "protocol 0");
    }

    #[test]
    fn expansion_and_depth_are_bounded() {
        // Each level is a list holding the previous one twice: 2**40 nodes once expanded.
        let mut bytes = vec![0x80, 0x04, b']', b'q', 0, b'0'];
        for level in 0..40u8 {
            bytes.extend([
                b']',
                b'(',
                b'h',
                level,
                b'h',
                level,
                b'e',
                b'q',
                level + 1,
                b'0',
            ]);
        }
        bytes.extend([b'h', 40, b'.']);
        let err = decode(&bytes).expect_err("expansion");
        assert!(err.to_string().contains("expand"), "{err}");

        let mut deep = vec![0x80, 0x04];
        deep.extend(std::iter::repeat_n(b']', MAX_DEPTH + 2));
        deep.extend(std::iter::repeat_n(b'a', MAX_DEPTH + 1));
        deep.push(b'.');
        let err = decode(&deep).expect_err("too deep");
        assert!(err.to_string().contains("nested deeper"), "{err}");

        // Plenty of tiny values: refused before they cost much memory.
        let mut many = vec![0x80, 0x04, b'('];
        many.extend(std::iter::repeat_n(b'N', MAX_VALUES + 1));
        many.extend([b'l', b'.']);
        let err = decode(&many).expect_err("too many values");
        assert!(err.to_string().contains("more than"), "{err}");

        // A list that contains itself.
        let cycle = b"\x80\x04]\x94h\x00a.";
        assert!(decode(cycle).is_err());
    }
}
