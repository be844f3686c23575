//! TYPE A line-end conversion for data connections, streaming and chunk-independent.
//!
//! On the wire an ASCII file's lines end in CRLF (RFC 959 §3.1.1.1); on disk they end
//! in the local convention, `\n` here. The sessions decide when a transfer is ASCII;
//! adapters run these converters over the bytes. A chunk boundary may fall between CR
//! and LF: the converters remember it, so any split of the input gives the same output.

/// Converts local `\n` line ends to CRLF for sending. A `\n` already preceded by a CR
/// is left alone, so a file with CRLF line ends is not doubled.
#[derive(Clone, Debug, Default)]
pub struct ToNetwork {
    last_was_cr: bool,
}

impl ToNetwork {
    /// A converter at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the converted form of `input` to `output`.
    pub fn convert(&mut self, input: &[u8], output: &mut Vec<u8>) {
        output.reserve(input.len() + input.len() / 32);
        let mut start = 0;
        for position in memchr::memchr_iter(b'\n', input) {
            let preceded_by_cr = if position == 0 {
                self.last_was_cr
            } else {
                input[position - 1] == b'\r'
            };
            output.extend_from_slice(&input[start..position]);
            if !preceded_by_cr {
                output.push(b'\r');
            }
            output.push(b'\n');
            start = position + 1;
        }
        output.extend_from_slice(&input[start..]);
        if let Some(&last) = input.last() {
            self.last_was_cr = last == b'\r';
        }
    }
}

/// Converts CRLF line ends from the network to local `\n` for storing. A CR that is not
/// followed by LF is kept.
#[derive(Clone, Debug, Default)]
pub struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    /// A converter at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the converted form of `input` to `output`. A CR at the very end is held
    /// back until the next call (or [`finish`](Self::finish)) shows what follows it.
    pub fn convert(&mut self, input: &[u8], output: &mut Vec<u8>) {
        output.reserve(input.len());
        let mut rest = input;
        if self.pending_cr {
            self.pending_cr = false;
            if rest.first() != Some(&b'\n') {
                output.push(b'\r');
            }
        }
        while let Some(position) = memchr::memchr(b'\r', rest) {
            output.extend_from_slice(&rest[..position]);
            match rest.get(position + 1) {
                Some(b'\n') => {}
                Some(_) => output.push(b'\r'),
                None => self.pending_cr = true,
            }
            rest = &rest[position + 1..];
        }
        output.extend_from_slice(rest);
    }

    /// Flushes a CR held back at the end of the data.
    pub fn finish(&mut self, output: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            output.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_network(chunks: &[&[u8]]) -> Vec<u8> {
        let mut converter = ToNetwork::new();
        let mut output = Vec::new();
        for chunk in chunks {
            converter.convert(chunk, &mut output);
        }
        output
    }

    fn from_network(chunks: &[&[u8]]) -> Vec<u8> {
        let mut converter = FromNetwork::new();
        let mut output = Vec::new();
        for chunk in chunks {
            converter.convert(chunk, &mut output);
        }
        converter.finish(&mut output);
        output
    }

    #[test]
    fn known_answers() {
        assert_eq!(to_network(&[b"a\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(to_network(&[b"a\r\nb"]), b"a\r\nb");
        assert_eq!(to_network(&[b"a\r", b"\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(to_network(&[b"\n\n"]), b"\r\n\r\n");
        assert_eq!(from_network(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(from_network(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(from_network(&[b"a\rb\r"]), b"a\rb\r");
        assert_eq!(from_network(&[b"a\r", b"", b"b"]), b"a\rb");
    }

    #[test]
    fn any_split_gives_the_same_output() {
        let inputs: [&[u8]; 3] = [b"x\r\ny\nz\r\r\n\n\r", b"\r\n\r\n", b"plain"];
        for input in inputs {
            let whole_out = to_network(&[input]);
            let whole_in = from_network(&[input]);
            for split in 0..=input.len() {
                let (left, right) = input.split_at(split);
                assert_eq!(to_network(&[left, right]), whole_out);
                assert_eq!(from_network(&[left, right]), whole_in);
            }
        }
    }

    #[test]
    fn round_trip_of_local_text() {
        let text = b"line one\nline two\n\nlast";
        assert_eq!(from_network(&[&to_network(&[text])]), text);
    }
}
