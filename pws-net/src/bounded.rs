//! Sequences decoded with a cap on their length. A hostile message's cost must be bounded
//! while it is decoded, not after: a 4 MiB request holds millions of one-byte CBOR items, and
//! a `Vec` decoded whole would allocate for every one of them before anything could count
//! them. Fields use [`vec`] (or [`vec_flagging_excess`]) as their serde `deserialize_with`;
//! the allocation never exceeds the cap (plus one).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Error, IgnoredAny, SeqAccess, Visitor};

/// Decode a sequence of at most `N` elements; more is a decoding error.
pub fn vec<'de, D, T, const N: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_seq(BoundedVisitor::<T, N>::new(Excess::Fail))
}

/// Decode a sequence keeping at most `N + 1` elements and skipping the rest unread: a receiver
/// that answers an oversized request in words, rather than by dropping it, sees `N + 1`
/// elements and knows it is over the cap, at the cost of one element more.
pub fn vec_flagging_excess<'de, D, T, const N: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_seq(BoundedVisitor::<T, N>::new(Excess::KeepOne))
}

/// What to do with the first element past the cap.
enum Excess {
    Fail,
    KeepOne,
}

struct BoundedVisitor<T, const N: usize> {
    excess: Excess,
    elements: PhantomData<T>,
}

impl<T, const N: usize> BoundedVisitor<T, N> {
    fn new(excess: Excess) -> Self {
        Self {
            excess,
            elements: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for BoundedVisitor<T, N> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "a sequence of at most {N} elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        // The announced length is the sender's word: allocate for no more than the cap.
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N));
        while let Some(element) = seq.next_element()? {
            if elements.len() == N {
                if let Excess::Fail = self.excess {
                    return Err(A::Error::invalid_length(N + 1, &self));
                }
                elements.push(element);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                break;
            }
            elements.push(element);
        }
        Ok(elements)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use crate::protocol::{from_cbor, to_cbor};

    #[derive(Debug, Serialize, Deserialize)]
    struct Three {
        #[serde(deserialize_with = "super::vec::<_, _, 3>")]
        items: Vec<Option<u8>>,
    }

    #[derive(Debug, Deserialize)]
    struct ThreeOrMore {
        #[serde(deserialize_with = "super::vec_flagging_excess::<_, _, 3>")]
        items: Vec<Option<u8>>,
    }

    #[derive(Serialize)]
    struct Many {
        items: Vec<Option<u8>>,
    }

    #[test]
    fn up_to_the_cap_decodes() {
        let bytes = to_cbor(&Many {
            items: vec![Some(1), None, Some(3)],
        });
        let three: Three = from_cbor(&bytes).unwrap();
        assert_eq!(three.items, [Some(1), None, Some(3)]);
    }

    #[test]
    fn one_past_the_cap_is_malformed() {
        let bytes = to_cbor(&Many {
            items: vec![None; 4],
        });
        let error = from_cbor::<Three>(&bytes).unwrap_err();
        assert!(error.to_string().contains("at most 3"), "{error}");
    }

    #[test]
    fn past_the_cap_one_element_is_kept_and_the_rest_skipped() {
        let bytes = to_cbor(&Many {
            items: vec![Some(7); 1000],
        });
        let decoded: ThreeOrMore = from_cbor(&bytes).unwrap();
        assert_eq!(decoded.items, [Some(7); 4]);
        let within: ThreeOrMore = from_cbor(&to_cbor(&Many { items: vec![None] })).unwrap();
        assert_eq!(within.items, [None]);
    }

    /// An array header announcing 2^32 elements followed by a few: no allocation for the
    /// announced length, and an error once the cap is passed.
    #[test]
    fn an_announced_length_is_not_trusted() {
        let mut bytes = vec![0xa1, 0x65];
        bytes.extend_from_slice(b"items");
        bytes.extend_from_slice(&[0x9b, 0, 0, 0, 1, 0, 0, 0, 0]);
        bytes.extend_from_slice(&[0xf6; 8]);
        assert!(from_cbor::<Three>(&bytes).is_err());
    }
}
