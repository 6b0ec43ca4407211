//! A minimal HTTP/1.1 keep-alive client for Engine.IO long-polling: GET and
//! POST with `Content-Length` bodies, responses with `Content-Length` or
//! chunked bodies, reconnecting when the server closes the connection.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result, bail};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::net;
use crate::ws::find_header_end;

/// What the head of a response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Length of the head, blank line included.
    pub head_len: usize,
    /// `Content-Length`, if given.
    pub content_length: Option<usize>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// `Connection: close` (or HTTP/1.0).
    pub close: bool,
}

/// Parses a response head at the front of `buf`; `Ok(None)` while incomplete.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>> {
    let Some(head_len) = find_header_end(buf) else {
        if buf.len() > 64 * 1024 {
            bail!("response headers too long");
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1 response: {status_line:?}");
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut out = ResponseHead {
        status,
        head_len,
        content_length: None,
        chunked: false,
        close: version == "HTTP/1.0",
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            out.content_length = Some(value.parse().context("bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            out.chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                out.close = true;
            } else if v.contains("keep-alive") {
                out.close = false;
            }
        }
    }
    Ok(Some(out))
}

/// Decodes a complete chunked body at the front of `buf`: the body and the
/// bytes consumed, `Ok(None)` while incomplete.
pub fn decode_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + line_end]).context("chunk size")?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .with_context(|| format!("bad chunk size {size_hex:?}"))?;
        pos += line_end + 2;
        if size == 0 {
            // Trailers end with an empty line; usually there are none.
            loop {
                let Some(end) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

/// Builds a request; `body` makes it a POST.
pub fn request_bytes(host: &str, path: &str, body: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + body.map_or(0, <[u8]>::len));
    match body {
        Some(body) => {
            out.extend_from_slice(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\
                     Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(body);
        }
        None => out.extend_from_slice(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n")
                .as_bytes(),
        ),
    }
    out
}

/// `request` with `headers` inserted after its request line (and its default
/// `Content-Type` dropped when `headers` sets one).
fn with_headers(request: &[u8], headers: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let replaces_type = headers.to_ascii_lowercase().contains("content-type:");
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !(replaces_type && l.to_ascii_lowercase().starts_with("content-type:")))
        .collect();
    let extra: Vec<&str> = headers.split("\r\n").filter(|l| !l.is_empty()).collect();
    lines.splice(1..1, extra);
    format!("{}\r\n\r\n{body}", lines.join("\r\n")).into_bytes()
}

/// One keep-alive HTTP connection from a fixed source address.
pub struct HttpConn {
    src: IpAddr,
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    buf: BytesMut,
}

impl HttpConn {
    /// A connection to `addr` from `src`, opened on first use.
    pub fn new(src: IpAddr, addr: SocketAddr, host: String) -> Self {
        HttpConn {
            src,
            addr,
            host,
            stream: None,
            buf: BytesMut::new(),
        }
    }

    /// Sends a request and reads the whole response: status and body.
    pub async fn request(&mut self, path: &str, body: Option<&[u8]>) -> Result<(u16, Bytes)> {
        self.request_with_headers(path, body, "").await
    }

    /// [`Self::request`] with `headers` (`Name: value\r\n` lines) added; a
    /// `Content-Type` among them replaces the default one.
    pub async fn request_with_headers(
        &mut self,
        path: &str,
        body: Option<&[u8]>,
        headers: &str,
    ) -> Result<(u16, Bytes)> {
        let stream = match self.stream.as_mut() {
            Some(s) => s,
            None => {
                self.buf.clear();
                self.stream
                    .insert(net::connect_from(self.src, self.addr).await?)
            }
        };
        let mut req = request_bytes(&self.host, path, body);
        if !headers.is_empty() {
            req = with_headers(&req, headers);
        }
        if let Err(e) = stream.write_all(&req).await {
            self.stream = None;
            return Err(e).context("http write");
        }
        match read_response(stream, &mut self.buf).await {
            Ok((head, body)) => {
                if head.close {
                    self.stream = None;
                }
                Ok((head.status, body))
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

async fn read_response(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<(ResponseHead, Bytes)> {
    loop {
        if let Some(head) = parse_response_head(buf)? {
            if head.chunked {
                loop {
                    if let Some((body, used)) = decode_chunked(&buf[head.head_len..])? {
                        buf.advance(head.head_len + used);
                        return Ok((head, Bytes::from(body)));
                    }
                    fill(stream, buf).await?;
                }
            }
            let len = head.content_length.unwrap_or(0);
            while buf.len() < head.head_len + len {
                fill(stream, buf).await?;
            }
            buf.advance(head.head_len);
            let body = buf.split_to(len).freeze();
            return Ok((head, body));
        }
        fill(stream, buf).await?;
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<()> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(4096);
    }
    let n = stream.read_buf(buf).await.context("http read")?;
    if n == 0 {
        bail!("connection closed by the server");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nhello";
        let head = parse_response_head(raw).expect("ok").expect("complete");
        assert_eq!(head.status, 200);
        assert_eq!(head.content_length, Some(5));
        assert_eq!(head.head_len, raw.len() - 5);
        assert!(!head.chunked && !head.close);

        let raw =
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = parse_response_head(raw).expect("ok").expect("complete");
        assert_eq!(head.status, 400);
        assert!(head.chunked && head.close);

        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\n").expect("ok"),
            None
        );
        assert!(parse_response_head(b"SSH-2.0\r\n\r\n").is_err());
        let head = parse_response_head(b"HTTP/1.0 200 OK\r\n\r\n")
            .expect("ok")
            .expect("c");
        assert!(head.close);
    }

    #[test]
    fn decodes_chunked_bodies() {
        let raw = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\nNEXT";
        let (body, used) = decode_chunked(raw).expect("ok").expect("complete");
        assert_eq!(body, b"Wikipedia");
        assert_eq!(&raw[used..], b"NEXT");
        assert_eq!(decode_chunked(b"4\r\nWi").expect("ok"), None);
        assert_eq!(decode_chunked(b"4\r\nWiki\r\n0\r\n").expect("ok"), None);
        assert!(decode_chunked(b"zz\r\n").is_err());
    }

    #[test]
    fn builds_requests() {
        let get = request_bytes(
            "127.0.0.1:3000",
            "/socket.io/?EIO=4&transport=polling",
            None,
        );
        let get = String::from_utf8(get).expect("utf8");
        assert!(get.starts_with("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"));
        assert!(get.contains("Host: 127.0.0.1:3000\r\n"));
        let post = request_bytes("h:1", "/p", Some(b"40"));
        let post = String::from_utf8(post).expect("utf8");
        assert!(post.contains("Content-Length: 2\r\n\r\n40"));
    }
}
