//! Incremental parser of a server-sent event stream: the `data` of each
//! event, with comments (fal's keep-alive pings) and other fields skipped.
//!
//! Lines end in LF, CRLF or CR. An event ends at a blank line; its `data`
//! lines are joined with LF, and one space after the colon is dropped.

/// Parser state fed with raw bytes as they arrive.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the line not yet ended.
    partial: Vec<u8>,
    /// Whether the last byte pushed was a CR, so that a following LF belongs
    /// to the same line end.
    after_cr: bool,
    /// `data` lines of the event being read.
    data: Vec<String>,
    /// Finished events not yet taken.
    ready: std::collections::VecDeque<String>,
}

impl SseParser {
    /// Feeds bytes of the stream.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.partial);
                    self.line(&String::from_utf8_lossy(&line));
                }
                _ => {
                    self.after_cr = false;
                    self.partial.push(byte);
                }
            }
        }
    }

    /// Takes the data of the next finished event.
    pub(crate) fn next_event(&mut self) -> Option<String> {
        self.ready.pop_front()
    }

    /// Ends the stream. Returns the next finished event, or the data of an
    /// event the server closed the stream in without the blank line that
    /// should end it.
    pub(crate) fn finish(&mut self) -> Option<String> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&String::from_utf8_lossy(&line));
        }
        if !self.data.is_empty() {
            let data = std::mem::take(&mut self.data).join("\n");
            self.ready.push_back(data);
        }
        self.next_event()
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            if !self.data.is_empty() {
                let data = std::mem::take(&mut self.data).join("\n");
                self.ready.push_back(data);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            self.data.push(value.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(parser: &mut SseParser) -> Vec<String> {
        std::iter::from_fn(|| parser.next_event()).collect()
    }

    #[test]
    fn splits_events_and_skips_comments() {
        let mut parser = SseParser::default();
        parser.push(b": ping\n\ndata: {\"a\":1}\n\nevent: x\ndata:{\"b\":2}\n\n");
        assert_eq!(events(&mut parser), ["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn handles_chunks_split_anywhere_and_crlf() {
        let text = b"data: one\r\n\r\ndata: two\r\ndata: lines\r\n\r\n";
        for split in 0..text.len() {
            let mut parser = SseParser::default();
            parser.push(&text[..split]);
            parser.push(&text[split..]);
            assert_eq!(events(&mut parser), ["one", "two\nlines"], "split at {split}");
        }
    }

    #[test]
    fn finish_returns_unterminated_event() {
        let mut parser = SseParser::default();
        parser.push(b"data: {\"status\":\"COMPLETED\"}");
        assert_eq!(parser.next_event(), None);
        assert_eq!(parser.finish().as_deref(), Some("{\"status\":\"COMPLETED\"}"));
        assert_eq!(parser.finish(), None);
    }

    #[test]
    fn bare_cr_ends_lines() {
        let mut parser = SseParser::default();
        parser.push(b"data: a\r\rdata: b\r\r");
        assert_eq!(events(&mut parser), ["a", "b"]);
    }
}
