use std::io::Cursor;

use bytes::Buf;
use socketioxide_core::{
    Str, Value,
    packet::{Packet, PacketData},
    parser::ParseError,
};

pub fn deserialize_packet(data: Str) -> Result<(Packet, Option<usize>), ParseError> {
    if data.is_empty() {
        return Err(ParseError::InvalidPacketType);
    }
    // It is possible to parse the packet from a byte slice because separators are only ASCII
    let mut reader = Cursor::new(data.as_str());
    let index = reader.get_u8();
    let index = (b'0'..=b'6')
        .contains(&index)
        .then_some(index)
        .ok_or(ParseError::InvalidPacketType)?;

    let attachments: Option<usize> = if index == b'5' || index == b'6' {
        Some(read_attachments(&mut reader).ok_or(ParseError::InvalidAttachments)?)
    } else {
        None
    };

    // Custom nsps will start with a slash
    let (ns, query) = if reader.has_remaining().then(|| reader.chunk()[0]) == Some(b'/') {
        read_nsp(&mut reader, &data)
    } else {
        (Str::from("/"), None)
    };
    let ack = read_ack(&mut reader);

    let data = data.slice(reader.position() as usize..);
    fn str(data: Str) -> Value {
        Value::Str(data, None)
    }
    let inner = match index {
        b'0' => PacketData::Connect(match query {
            // iorelay: the namespace query of a client without an auth payload
            // (socket.io-client 2.x) stands in for it, as an object of strings.
            Some(query) if data.is_empty() => Some(str(query_as_auth(&query))),
            _ => (!data.is_empty()).then(|| str(data)),
        }),
        b'1' => PacketData::Disconnect,
        b'2' => PacketData::Event(str(data), ack),
        b'3' => PacketData::EventAck(str(data), ack.ok_or(ParseError::InvalidPacketType)?),
        b'5' => PacketData::BinaryEvent(str(data), ack),
        b'6' => PacketData::BinaryAck(str(data), ack.ok_or(ParseError::InvalidPacketType)?),
        _ => return Err(ParseError::InvalidPacketType),
    };
    Ok((Packet { inner, ns }, attachments))
}

fn read_attachments(reader: &mut Cursor<&str>) -> Option<usize> {
    let data = *reader.get_ref();
    let start_index = reader.position() as usize;
    loop {
        match reader.has_remaining().then(|| reader.get_u8()) {
            Some(c) if c.is_ascii_digit() => (),
            Some(b'-') if reader.position() as usize > start_index => {
                break data[start_index..reader.position() as usize - 1]
                    .parse()
                    .ok();
            }
            _ => {
                reader.set_position(reader.position() - 1);
                break None;
            }
        }
    }
}

/// Reads the namespace and, since iorelay's change, its query: socket.io-client
/// 2.x sends `0/chat?name=x,` (the Socket.IO v4 protocol, where Node's server
/// parses the namespace as a URL), so the namespace ends at `?` and the query
/// runs to the `,`.
fn read_nsp(reader: &mut Cursor<&str>, data: &Str) -> (Str, Option<Str>) {
    let start_index = reader.position() as usize;
    let mut query_index = None;
    let end = loop {
        match reader.has_remaining().then(|| reader.get_u8()) {
            Some(b',') => break reader.position() as usize - 1,
            // It maybe possible depending on clients that ns does not end with a comma
            // if it is the end of the packet
            // e.g `1/custom`
            None => break reader.position() as usize,
            Some(b'?') if query_index.is_none() => query_index = Some(reader.position() as usize),
            Some(_) => (),
        }
    };
    match query_index {
        Some(query) => (
            data.slice(start_index..query - 1),
            Some(data.slice(query..end)),
        ),
        None => (data.slice(start_index..end), None),
    }
}

/// A namespace query as a JSON object of strings (percent-decoded; the first of
/// repeated keys wins), the shape of a Socket.IO v5 `auth` payload.
fn query_as_auth(query: &str) -> Str {
    let mut auth = serde_json::Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        auth.entry(key.into_owned())
            .or_insert_with(|| serde_json::Value::String(value.into_owned()));
    }
    // A map of strings always serializes.
    Str::from(serde_json::Value::Object(auth).to_string())
}

fn read_ack(reader: &mut Cursor<&str>) -> Option<i64> {
    let start_index = reader.position() as usize;
    let data = *reader.get_ref();
    loop {
        match reader.has_remaining().then(|| reader.chunk()[0]) {
            Some(c) if c.is_ascii_digit() => reader.advance(1),
            Some(b'[' | b'{') if reader.position() as usize > start_index => {
                break data[start_index..reader.position() as usize].parse().ok();
            }
            _ => break None,
        }
    }
}

#[cfg(test)]
mod tests {
    use socketioxide_core::parser::ParseError;

    use crate::de::deserialize_packet;

    /// Every `Str` slice done by the parser must land on a char boundary.
    #[test]
    fn multibyte_packets_do_not_panic() {
        for packet in [
            "2/é,[\"é\"]",
            "2/é",
            "2/é,",
            "2é",
            "21é",
            "2/é,1é",
            "2/é,1[\"é\"]",
            "0/é,{\"é\":\"é\"}",
            "0/é?é=%C3,",
            "0/é?",
            "51-/é,1[\"é\"]",
            "51é",
            "é",
        ] {
            let _ = deserialize_packet(packet.into());
        }
    }

    #[test]
    fn data_is_empty() {
        let err = deserialize_packet("".into());
        assert!(matches!(err, Err(ParseError::InvalidPacketType)));
    }

    #[test]
    fn invalid_packet_type() {
        let err = deserialize_packet("7azdaz".into());
        assert!(matches!(err, Err(ParseError::InvalidPacketType)));
        let err = deserialize_packet("8".into());
        assert!(matches!(err, Err(ParseError::InvalidPacketType)));
    }

    #[test]
    fn ns_query_is_not_part_of_the_namespace() {
        use socketioxide_core::{Value, packet::PacketData};
        let (packet, _) = deserialize_packet("0/chat?name=A%C3%A9+b&token=t&name=2,".into()).unwrap();
        assert_eq!(packet.ns, "/chat");
        let PacketData::Connect(Some(Value::Str(auth, _))) = packet.inner else {
            panic!("no auth: {:?}", packet.inner);
        };
        let auth: serde_json::Value = serde_json::from_str(&auth).unwrap();
        assert_eq!(auth, serde_json::json!({"name": "Aé b", "token": "t"}));

        // An auth payload wins over the namespace query.
        let (packet, _) = deserialize_packet("0/chat?name=x,{\"name\":\"y\"}".into()).unwrap();
        assert_eq!(packet.ns, "/chat");
        assert!(matches!(packet.inner, PacketData::Connect(Some(Value::Str(ref a, _))) if *a == "{\"name\":\"y\"}"));

        // Without a comma, an empty query, a query on other packets.
        let (packet, _) = deserialize_packet("0/chat?".into()).unwrap();
        assert_eq!(packet.ns, "/chat");
        assert!(matches!(packet.inner, PacketData::Connect(Some(Value::Str(ref a, _))) if *a == "{}"));
        let (packet, _) = deserialize_packet("2/chat?x=1,[\"e\"]".into()).unwrap();
        assert_eq!(packet.ns, "/chat");
        let (packet, _) = deserialize_packet("0/?é=é,".into()).unwrap();
        assert_eq!(packet.ns, "/");
    }

    #[test]
    fn ns_without_comma_end() {
        let (packet, _) = deserialize_packet("0/custom".into()).unwrap();
        assert_eq!(packet.ns, "/custom");
    }
}
