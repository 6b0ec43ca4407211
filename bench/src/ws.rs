//! A minimal WebSocket client (RFC 6455): the upgrade request, masked client
//! frames, unmasked server frames, fragmentation, ping/pong and close.
//!
//! Written for holding tens of thousands of connections in one process: one
//! small read buffer per connection, no per-message task or channel.

use anyhow::{Context, Result, bail};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Frame opcodes.
pub mod opcode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// UTF-8 text.
    pub const TEXT: u8 = 0x1;
    /// Binary.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Last frame of its message.
    pub fin: bool,
    /// Opcode.
    pub opcode: u8,
    /// Unmasked payload.
    pub payload: Bytes,
}

/// Largest message the client accepts (servers of the benchmark send small ones).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Decodes one frame from the front of `buf`; `Ok(None)` until the frame is complete.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<Frame>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let b0 = buf[0];
    let b1 = buf[1];
    if b0 & 0x70 != 0 {
        bail!("websocket frame with reserved bits set (no extension was negotiated)");
    }
    let fin = b0 & 0x80 != 0;
    let op = b0 & 0x0F;
    let masked = b1 & 0x80 != 0;
    let (len, mut header) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(raw), 10)
        }
        n => (u64::from(n), 2),
    };
    let len = usize::try_from(len).context("frame length")?;
    if len > MAX_MESSAGE {
        bail!("websocket frame of {len} bytes is over the client's limit");
    }
    let mask = if masked {
        if buf.len() < header + 4 {
            return Ok(None);
        }
        let m = [
            buf[header],
            buf[header + 1],
            buf[header + 2],
            buf[header + 3],
        ];
        header += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < header + len {
        buf.reserve(header + len - buf.len());
        return Ok(None);
    }
    buf.advance(header);
    let mut payload = buf.split_to(len);
    if let Some(mask) = mask {
        apply_mask(&mut payload, mask);
    }
    Ok(Some(Frame {
        fin,
        opcode: op,
        payload: payload.freeze(),
    }))
}

/// XORs `data` with the 4-byte mask.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Appends one complete, masked client frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, op: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | (op & 0x0F));
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// The HTTP upgrade request for `path` (with query) on `host` (`host:port`).
pub fn upgrade_request(host: &str, path: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Checks the upgrade response at the front of `buf`: `Ok(Some(len))` with the
/// header length once complete and `101`, `Ok(None)` while incomplete.
pub fn parse_upgrade_response(buf: &[u8]) -> Result<Option<usize>> {
    let Some(end) = find_header_end(buf) else {
        if buf.len() > 16 * 1024 {
            bail!("upgrade response headers too long");
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("upgrade response is not UTF-8")?;
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "101" {
        bail!("websocket upgrade refused: {status_line}");
    }
    Ok(Some(end))
}

/// Length of the HTTP head including the blank line, if it is complete.
pub fn find_header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// A complete message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Text message (Engine.IO packets are text here).
    Text(Bytes),
    /// Binary message.
    Binary(Bytes),
}

/// A client WebSocket connection.
pub struct WsConn {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    rng: u32,
    fragments: Option<(u8, BytesMut)>,
}

/// The key the client sends; the load tool does not check the server's answer key.
const CLIENT_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl WsConn {
    /// Performs the upgrade handshake on a connected stream.
    pub async fn handshake(
        mut stream: TcpStream,
        host: &str,
        path: &str,
        seed: u32,
    ) -> Result<Self> {
        stream
            .write_all(upgrade_request(host, path, CLIENT_KEY).as_bytes())
            .await
            .context("send upgrade request")?;
        let mut rbuf = BytesMut::with_capacity(1024);
        loop {
            if let Some(end) = parse_upgrade_response(&rbuf)? {
                rbuf.advance(end);
                break;
            }
            let n = stream
                .read_buf(&mut rbuf)
                .await
                .context("read upgrade response")?;
            if n == 0 {
                bail!("connection closed during the websocket upgrade");
            }
        }
        Ok(WsConn {
            stream,
            rbuf,
            wbuf: Vec::new(),
            rng: seed | 1,
            fragments: None,
        })
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift32: masks only need to vary, not to be secret, in a load test.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x.to_ne_bytes()
    }

    /// Sends one frame.
    pub async fn send(&mut self, op: u8, payload: &[u8]) -> Result<()> {
        let mask = self.next_mask();
        self.wbuf.clear();
        encode_frame(&mut self.wbuf, op, payload, mask);
        self.stream
            .write_all(&self.wbuf)
            .await
            .context("websocket write")?;
        if self.wbuf.capacity() > 64 * 1024 {
            self.wbuf = Vec::new();
        }
        Ok(())
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.send(opcode::TEXT, text.as_bytes()).await
    }

    /// Receives the next message, answering pings. Cancel-safe except while a
    /// pong is being written, which is a few bytes.
    pub async fn recv(&mut self) -> Result<Message> {
        loop {
            while let Some(frame) = decode_frame(&mut self.rbuf)? {
                if let Some(msg) = self.on_frame(frame).await? {
                    return Ok(msg);
                }
            }
            if self.rbuf.capacity() - self.rbuf.len() < 512 {
                self.rbuf.reserve(4096);
            }
            let n = self
                .stream
                .read_buf(&mut self.rbuf)
                .await
                .context("websocket read")?;
            if n == 0 {
                bail!("connection closed by the server");
            }
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> Result<Option<Message>> {
        match frame.opcode {
            opcode::TEXT | opcode::BINARY => {
                if self.fragments.is_some() {
                    bail!("new message inside a fragmented one");
                }
                if frame.fin {
                    return Ok(Some(to_message(frame.opcode, frame.payload)));
                }
                self.fragments = Some((frame.opcode, BytesMut::from(&frame.payload[..])));
                Ok(None)
            }
            opcode::CONTINUATION => {
                let Some((op, mut acc)) = self.fragments.take() else {
                    bail!("continuation frame without a message");
                };
                if acc.len() + frame.payload.len() > MAX_MESSAGE {
                    bail!("fragmented message over the client's limit");
                }
                acc.extend_from_slice(&frame.payload);
                if frame.fin {
                    return Ok(Some(to_message(op, acc.freeze())));
                }
                self.fragments = Some((op, acc));
                Ok(None)
            }
            opcode::PING => {
                self.send(opcode::PONG, &frame.payload).await?;
                Ok(None)
            }
            opcode::PONG => Ok(None),
            opcode::CLOSE => bail!("websocket closed by the server"),
            other => bail!("unknown websocket opcode {other}"),
        }
    }
}

fn to_message(op: u8, payload: Bytes) -> Message {
    if op == opcode::BINARY {
        Message::Binary(payload)
    } else {
        Message::Text(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | op];
        let len = payload.len();
        if len < 126 {
            out.push(len as u8);
        } else if len <= 0xFFFF {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_small_medium_and_large_frames() {
        for size in [0usize, 5, 125, 126, 300, 65_535, 65_536, 100_000] {
            let payload = vec![b'a'; size];
            let mut buf = BytesMut::from(&server_frame(true, opcode::TEXT, &payload)[..]);
            let frame = decode_frame(&mut buf).expect("decode").expect("complete");
            assert_eq!(frame.opcode, opcode::TEXT);
            assert!(frame.fin);
            assert_eq!(frame.payload.len(), size);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn waits_for_incomplete_frames_byte_by_byte() {
        let bytes = server_frame(true, opcode::TEXT, &[b'x'; 300]);
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let got = decode_frame(&mut buf).expect("decode");
            assert_eq!(got.is_some(), i == bytes.len() - 1, "at byte {i}");
        }
    }

    #[test]
    fn decodes_back_to_back_frames() {
        let mut bytes = server_frame(true, opcode::TEXT, b"2");
        bytes.extend(server_frame(true, opcode::PING, b"p"));
        bytes.extend(server_frame(false, opcode::TEXT, b"4"));
        let mut buf = BytesMut::from(&bytes[..]);
        let a = decode_frame(&mut buf).expect("ok").expect("frame");
        let b = decode_frame(&mut buf).expect("ok").expect("frame");
        let c = decode_frame(&mut buf).expect("ok").expect("frame");
        assert_eq!((a.opcode, &a.payload[..]), (opcode::TEXT, &b"2"[..]));
        assert_eq!(b.opcode, opcode::PING);
        assert!(!c.fin);
        assert!(decode_frame(&mut buf).expect("ok").is_none());
    }

    #[test]
    fn client_frames_are_masked_and_round_trip() {
        for size in [3usize, 126, 70_000] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            encode_frame(&mut out, opcode::TEXT, &payload, [1, 2, 3, 4]);
            assert_eq!(out[0], 0x81);
            assert_ne!(out[1] & 0x80, 0, "mask bit");
            let mut buf = BytesMut::from(&out[..]);
            let frame = decode_frame(&mut buf).expect("decode").expect("complete");
            assert_eq!(&frame.payload[..], &payload[..]);
        }
    }

    #[test]
    fn known_masked_frame() {
        // RFC 6455 section 5.7: a masked "Hello".
        let mut out = Vec::new();
        encode_frame(&mut out, opcode::TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            out,
            vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn rejects_reserved_bits_and_huge_frames() {
        let mut buf = BytesMut::from(&[0xC1u8, 0x01, b'a'][..]);
        assert!(decode_frame(&mut buf).is_err());
        let mut huge = vec![0x81u8, 127];
        huge.extend_from_slice(&(u64::MAX).to_be_bytes());
        let mut buf = BytesMut::from(&huge[..]);
        assert!(decode_frame(&mut buf).is_err());
    }

    #[test]
    fn upgrade_response() {
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n0{\"sid\":1}";
        assert_eq!(parse_upgrade_response(ok).expect("ok"), Some(ok.len() - 10));
        assert_eq!(
            parse_upgrade_response(b"HTTP/1.1 101 Sw").expect("ok"),
            None
        );
        assert!(parse_upgrade_response(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_err());
        let req = upgrade_request(
            "127.0.0.1:3000",
            "/socket.io/?EIO=4&transport=websocket",
            CLIENT_KEY,
        );
        assert!(req.starts_with("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }
}
