//! Which failed dials are final for now: the other side answered that nothing listens there
//! (connection refused) or the network has no route to it. Anything else — a timeout, a
//! handshake that stalled — may succeed on a later attempt and deserves the wait.

use std::error::Error;
use std::io;

use libp2p::TransportError;
use libp2p::swarm::DialError;

/// Why `error` says the address cannot be reached now, if it does: every address tried was
/// refused or unreachable.
pub fn definite(error: &DialError) -> Option<String> {
    let DialError::Transport(attempts) = error else {
        return None;
    };
    let reasons: Option<Vec<String>> = attempts
        .iter()
        .map(|(_, error)| match error {
            TransportError::MultiaddrNotSupported(addr) => {
                Some(format!("{addr} is not an address this peer can dial"))
            }
            TransportError::Other(error) => definite_io(error),
        })
        .collect();
    reasons
        .filter(|reasons| !reasons.is_empty())
        .map(|reasons| reasons.join("; "))
}

/// The refused or unreachable error inside `error`, in its own words, looking through the
/// layers that wrap it. Some layers (`io::Error`, libp2p's either-errors) skip the error
/// they wrap when asked for their source, so an `io::Error` is opened by hand, and a layer
/// that only shows the operating system's error in its words is read by its number.
fn definite_io(error: &(dyn Error + 'static)) -> Option<String> {
    // The innermost such error says it plainest.
    let mut found = None;
    let mut next = Some(error);
    while let Some(error) = next {
        next = error.source();
        let io = error.downcast_ref::<io::Error>();
        let kind = match io {
            Some(io) => io.kind(),
            None => {
                os_error_in_words(&error.to_string()).map_or(io::ErrorKind::Other, |e| e.kind())
            }
        };
        if is_definite(kind) {
            found = Some(error.to_string());
        }
        if let Some(inner) = io.and_then(io::Error::get_ref) {
            next = Some(inner);
        }
    }
    found
}

fn is_definite(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::AddrNotAvailable
    )
}

/// The operating system's error a message ends with, as `io::Error` writes it:
/// `Connection refused (os error 111)`.
fn os_error_in_words(message: &str) -> Option<io::Error> {
    let code = message.strip_suffix(')')?.rsplit_once("(os error ")?.1;
    Some(io::Error::from_raw_os_error(code.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use libp2p::Multiaddr;

    use super::*;

    fn failed(errors: Vec<io::Error>) -> DialError {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        DialError::Transport(
            errors
                .into_iter()
                .map(|e| (addr.clone(), TransportError::Other(e)))
                .collect(),
        )
    }

    #[test]
    fn a_refusal_is_definite_even_when_wrapped() {
        let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(definite(&failed(vec![refused()])).is_some());
        let wrapped = io::Error::other(io::Error::other(refused()));
        let reason = definite(&failed(vec![wrapped])).expect("definite");
        assert!(reason.contains("refused"), "{reason}");
    }

    /// A layer that shows the refusal only in its words, and gives no source.
    #[test]
    fn a_refusal_is_read_from_words_of_the_operating_system() {
        #[derive(Debug)]
        struct Opaque(io::Error);
        impl std::fmt::Display for Opaque {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
        impl Error for Opaque {}
        let refused = io::Error::from_raw_os_error(111);
        let opaque = io::Error::other(Opaque(refused));
        let reason = definite(&failed(vec![opaque])).expect("definite");
        assert!(reason.contains("refused"), "{reason}");
        assert!(os_error_in_words("Connection timed out (os error 110)").is_some());
        assert!(os_error_in_words("refused").is_none());
    }

    #[test]
    fn a_timeout_or_one_open_attempt_may_still_succeed() {
        let timed_out = || io::Error::from(io::ErrorKind::TimedOut);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(definite(&failed(vec![timed_out()])), None);
        assert_eq!(definite(&failed(vec![refused, timed_out()])), None);
        assert_eq!(definite(&failed(Vec::new())), None);
        assert_eq!(definite(&DialError::Aborted), None);
    }
}
