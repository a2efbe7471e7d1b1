//! Messages between the node and its sandbox workers: a 4-byte big-endian length, then CBOR.

use std::io::{self, Read, Write};

use pws_net::protocol::{from_cbor, to_cbor};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest message either side accepts: a task request (4 MiB) or an answer (an 8 MiB
/// result plus logs), with room to spare.
const MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;

fn encode(message: &impl Serialize) -> Vec<u8> {
    let body = to_cbor(message);
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn length(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a sandbox message of {len} bytes exceeds {MAX_FRAME_BYTES}"),
        ));
    }
    Ok(len)
}

/// The body as read; memory grows with what arrived, not with what the header announced.
fn whole(body: Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
    if body.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "a sandbox message ended after {} of {len} bytes",
                body.len()
            ),
        ));
    }
    Ok(body)
}

fn decode<T: DeserializeOwned>(body: Vec<u8>) -> io::Result<T> {
    from_cbor(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Blocking read for the worker; `None` at a clean end of input.
pub fn read<T: DeserializeOwned>(input: &mut impl Read) -> io::Result<Option<T>> {
    let mut header = [0u8; 4];
    match input.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = length(header)?;
    let mut body = Vec::new();
    input.take(len as u64).read_to_end(&mut body)?;
    decode(whole(body, len)?).map(Some)
}

pub fn write(output: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    output.write_all(&encode(message))?;
    output.flush()
}

/// Async read for the node; `None` when the worker closed its output.
pub async fn read_async<T: DeserializeOwned>(
    input: &mut (impl tokio::io::AsyncRead + Unpin),
) -> io::Result<Option<T>> {
    let mut header = [0u8; 4];
    match input.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = length(header)?;
    let mut body = Vec::new();
    input.take(len as u64).read_to_end(&mut body).await?;
    decode(whole(body, len)?).map(Some)
}

pub async fn write_async(
    output: &mut (impl tokio::io::AsyncWrite + Unpin),
    message: &impl Serialize,
) -> io::Result<()> {
    output.write_all(&encode(message)).await?;
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use pws_net::protocol::TaskRequest;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut buffer = Vec::new();
        write(&mut buffer, &TaskRequest::new("1")).unwrap();
        let mut input = &buffer[..];
        assert_eq!(
            read::<TaskRequest>(&mut input).unwrap(),
            Some(TaskRequest::new("1"))
        );
        assert_eq!(read::<TaskRequest>(&mut input).unwrap(), None);
    }

    #[test]
    fn a_frame_shorter_than_its_header_says_is_an_error() {
        let mut frame = (30u32 * 1024 * 1024).to_be_bytes().to_vec();
        frame.extend_from_slice(b"abc");
        let error = read::<TaskRequest>(&mut &frame[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut input = &u32::MAX.to_be_bytes()[..];
        assert!(read::<TaskRequest>(&mut input).is_err());
    }
}
