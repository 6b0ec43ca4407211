//! The arguments of one Socket.IO event, however many there are.
//!
//! socketioxide hands a handler its event's arguments as one value when the
//! target type is not tuple-like and as a sequence when it is. Relaying an
//! event unchanged (echo, client relay, forwarding) needs every argument,
//! binary ones included, so this type presents itself as a tuple of any
//! length to both the deserializer and the serializer: `emit(.., &args)`
//! then sends the same number of arguments that came in.

use std::fmt;

use rmpv::Value;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

/// All arguments of an event, in order; binary arguments are `Value::Binary`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventArgs(pub Vec<Value>);

impl EventArgs {
    /// Number of arguments.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the event carried no argument.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for EventArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = EventArgs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence of event arguments")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<EventArgs, S::Error> {
                let mut args = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(arg) = seq.next_element::<Value>()? {
                    args.push(arg);
                }
                Ok(EventArgs(args))
            }
        }
        // A tuple hint makes socketioxide pass the whole argument list.
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

impl Serialize for EventArgs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for arg in &self.0 {
            tuple.serialize_element(arg)?;
        }
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_argument_in_order() {
        let args: EventArgs = serde_json::from_str(r#"["a",1,{"b":[true,null]}]"#).expect("parse");
        assert_eq!(args.len(), 3);
        assert_eq!(
            serde_json::to_string(&args).expect("render"),
            r#"["a",1,{"b":[true,null]}]"#
        );
    }

    #[test]
    fn empty_is_empty() {
        let args: EventArgs = serde_json::from_str("[]").expect("parse");
        assert!(args.is_empty());
    }
}
