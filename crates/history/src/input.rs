//! A history's input, read once: a regular file, or anything else (a pipe, a FIFO, `<(...)`,
//! standard input as `-`) read to its end at once.
//!
//! A reader may need to look at an input more than once (its first bytes to tell its format,
//! then all of it). A regular file can be opened again; a pipe cannot: what was read is gone,
//! and opening `/dev/stdin` or a FIFO again gives an empty stream, which would be checked as an
//! empty history. So every input that is not a regular file is read whole when opened, and
//! [`Source::reader`] hands out its bytes again.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A UTF-8 byte order mark, which some editors write at the start of a file; readers skip it.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The name that stands for standard input.
pub const STDIN: &str = "-";

/// Where a history's bytes come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A regular file, opened again as often as needed.
    File(PathBuf),
    /// The whole content of a stream (pipe, FIFO, device, standard input), read once.
    Bytes(Arc<[u8]>),
}

impl Source {
    /// Opens `path`: `-` is standard input; a regular file is kept by name; anything else is
    /// read to its end now.
    pub fn open(path: &Path) -> io::Result<Source> {
        if path.as_os_str() == STDIN {
            return read_whole(io::stdin().lock());
        }
        let meta = std::fs::metadata(path)?;
        if meta.is_file() {
            return Ok(Source::File(path.to_path_buf()));
        }
        if meta.is_dir() {
            return Err(io::Error::other("is a directory"));
        }
        read_whole(std::fs::File::open(path)?)
    }

    /// A reader over the whole input, from its first byte.
    pub fn reader(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Source::File(p) => Box::new(std::fs::File::open(p)?),
            Source::Bytes(b) => Box::new(io::Cursor::new(Arc::clone(b))),
        })
    }

    /// The input's size in bytes, if known (0 if not).
    pub fn len_hint(&self) -> u64 {
        match self {
            Source::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
            Source::Bytes(b) => b.len() as u64,
        }
    }

    /// The first `n` bytes (fewer if the input is shorter).
    pub fn head(&self, n: usize) -> io::Result<Vec<u8>> {
        let mut head = Vec::with_capacity(n.min(1 << 20));
        self.reader()?.take(n as u64).read_to_end(&mut head)?;
        Ok(head)
    }

    /// All of the input's bytes.
    pub fn bytes(&self) -> io::Result<Vec<u8>> {
        match self {
            Source::File(p) => std::fs::read(p),
            Source::Bytes(b) => Ok(b.to_vec()),
        }
    }

    /// Whether the input's last byte is a newline (a file a crash cut is not).
    pub fn ends_with_newline(&self) -> bool {
        use std::io::{Seek, SeekFrom};
        match self {
            Source::Bytes(b) => b.last() == Some(&b'\n'),
            Source::File(p) => {
                let mut last = [0u8; 1];
                std::fs::File::open(p)
                    .and_then(|mut f| {
                        f.seek(SeekFrom::End(-1))?;
                        f.read_exact(&mut last)
                    })
                    .is_ok_and(|()| last[0] == b'\n')
            }
        }
    }

    /// Whether this is a regular file (which may have a run's files beside it).
    pub fn is_file(&self) -> bool {
        matches!(self, Source::File(_))
    }
}

fn read_whole(mut r: impl Read) -> io::Result<Source> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    Ok(Source::Bytes(bytes.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_read_once_and_handed_out_again() {
        let dir = std::env::temp_dir().join(format!("fl-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, b"abc\n").unwrap())
        };
        let source = Source::open(&fifo).unwrap();
        writer.join().unwrap();
        assert_eq!(source.head(2).unwrap(), b"ab");
        assert_eq!(source.bytes().unwrap(), b"abc\n");
        assert!(source.ends_with_newline());
        assert!(!source.is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
