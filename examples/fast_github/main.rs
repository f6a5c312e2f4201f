//! A fast fake GitHub API for the load comparison and the agent-fleet replay
//! (`benches/load/compare.sh`, `examples/fleet_replay.rs`). The test suite's fake (axum, one global
//! lock, a SHA-256 per answer) would be the bottleneck; this one is raw HTTP/1.1 on tokio with
//! prebuilt bodies, so every proxy in front of it is measured, not the fake.
//!
//! ```sh
//! cargo run --release --example fast_github -- --listen 127.0.0.1:0 --threads 2
//! ```
//! prints `listening on http://ADDR` and serves until killed. What it answers is in `github.rs`.
//!
//! The HTTP layer understands what proxies and load generators send: keep-alive, `Connection:
//! close`, `Content-Length` and chunked request bodies, pipelined requests. Nothing else.

mod github;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use github::{Options, World};

/// Request heads larger than this are refused: no client of ours sends one.
const MAX_HEAD: usize = 64 * 1024;
/// Request bodies (GraphQL documents, comments) larger than this are refused.
const MAX_BODY: usize = 1024 * 1024;

/// One request, as much as the fake needs of it.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub if_none_match: Option<String>,
    pub body: Vec<u8>,
    close: bool,
    content_length: usize,
    chunked: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: fast_github [--listen ADDR] [--threads N] [--limit N] [--repos N] [--pulls N]\n\
         tokens `ghp_bench_<login>` are known (as <login>); any other token is answered 401"
    );
    std::process::exit(2)
}

fn main() {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut threads = 2usize;
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        let number = || value.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--listen" => listen = value.parse().unwrap_or_else(|_| usage()),
            "--threads" => threads = number() as usize,
            "--limit" => options.limit = number(),
            "--repos" => options.repos = number() as usize,
            "--pulls" => options.pulls = number(),
            _ => usage(),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build();
    let runtime = runtime.unwrap_or_else(|e| {
        eprintln!("fast_github: no runtime: {e}");
        std::process::exit(1)
    });
    if let Err(e) = runtime.block_on(serve(listen, options)) {
        eprintln!("fast_github: {e}");
        std::process::exit(1);
    }
}

async fn serve(listen: SocketAddr, mut options: Options) -> io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    options.base = format!("http://{addr}");
    let world = Arc::new(World::new(options));
    println!("listening on http://{addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        let world = world.clone();
        tokio::spawn(async move {
            // A client that goes away mid-request is not our problem.
            let _ = connection(stream, world).await;
        });
    }
}

/// Serve one connection's requests, in order, until it closes.
async fn connection(mut stream: TcpStream, world: Arc<World>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(8 * 1024);
    let finder = memmem::Finder::new(b"\r\n\r\n");
    loop {
        let head_end = loop {
            if let Some(i) = finder.find(&buf) {
                break i + 4;
            }
            if buf.len() > MAX_HEAD || !read_more(&mut stream, &mut buf).await? {
                return Ok(());
            }
        };
        let Some(mut req) = parse_head(&buf[..head_end]) else {
            stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await?;
            return Ok(());
        };
        buf.drain(..head_end);
        if req.chunked {
            read_chunked(&mut stream, &mut buf, &mut req.body).await?;
        } else if req.content_length > 0 {
            if req.content_length > MAX_BODY {
                return Ok(());
            }
            while buf.len() < req.content_length {
                if !read_more(&mut stream, &mut buf).await? {
                    return Ok(());
                }
            }
            req.body = buf.drain(..req.content_length).collect();
        }
        out.clear();
        let body = world.answer(&req, &mut out);
        match body {
            // Small bodies go out with the head, in one write.
            Some(body) if body.len() <= 32 * 1024 => {
                out.extend_from_slice(&body);
                stream.write_all(&out).await?;
            }
            Some(body) => {
                stream.write_all(&out).await?;
                stream.write_all(&body).await?;
            }
            None => stream.write_all(&out).await?,
        }
        if req.close {
            return Ok(());
        }
    }
}

/// Read what is available into `buf`; false at end of stream.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.reserve(16 * 1024);
    Ok(stream.read_buf(buf).await? > 0)
}

/// Decode a chunked body from `buf` (reading more as needed) into `body`.
async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>, body: &mut Vec<u8>) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked body");
    loop {
        let line_end = loop {
            if let Some(i) = memmem::find(buf, b"\r\n") {
                break i;
            }
            if buf.len() > MAX_HEAD || !read_more(stream, buf).await? {
                return Err(bad());
            }
        };
        let line = std::str::from_utf8(&buf[..line_end]).map_err(|_| bad())?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).map_err(|_| bad())?;
        if body.len() + size > MAX_BODY {
            return Err(bad());
        }
        // The chunk, its CRLF; after the last (empty) chunk, the final CRLF (no trailers expected).
        let need = line_end + 2 + size + 2;
        while buf.len() < need {
            if !read_more(stream, buf).await? {
                return Err(bad());
            }
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        buf.drain(..need);
        if size == 0 {
            return Ok(());
        }
    }
}

/// The request line and the few headers the fake looks at.
fn parse_head(head: &[u8]) -> Option<Request> {
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        close: version == "HTTP/1.0",
        ..Request::default()
    };
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("authorization") {
            req.authorization = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("if-none-match") {
            req.if_none_match = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-length") {
            req.content_length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            req.chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            req.close = value.eq_ignore_ascii_case("close");
        }
    }
    Some(req)
}
