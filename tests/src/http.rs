//! Plain HTTP/1.1 over a socket, enough to read the relay's pages and a node's metrics: the
//! exchange is what a test asserts on, headers included.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Send `request` to `base` (`http://host:port/…`) and read until the server closes the
/// connection; the whole response, status line and headers included.
pub fn exchange(base: &str, request: &str) -> String {
    let host = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("a host");
    let mut stream = TcpStream::connect(host).expect("the web server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the whole response");
    response
}

/// `GET url`: the body of a `200 OK` answer (panics on any other status).
pub fn get(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    let path = rest.find('/').map_or("/", |slash| &rest[slash..]);
    let response = exchange(
        url,
        &format!("GET {path} HTTP/1.1\r\nHost: pws\r\nConnection: close\r\n\r\n"),
    );
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "GET {url}: {response}"
    );
    let (_, body) = response
        .split_once("\r\n\r\n")
        .expect("headers end with an empty line");
    body.to_string()
}
