//! On-disk framing for the quorum's files, and crash-safe recovery.
//!
//! Every file is a sequence of frames `[len: u32 LE][crc32c(payload): u32 LE][payload]`.
//! The log file is append-only; small state files (vote, purge point, snapshot) hold
//! one frame and are replaced atomically (write temp, fsync, rename, fsync dir).
//! Recovery ([`decode_frames`], pure) keeps the longest prefix of whole, CRC-valid
//! frames; everything after is a torn tail from a crash mid-append and is cut off.
//! This module knows bytes and files, not raft: callers choose what payloads mean.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const HEADER: usize = 8;
/// Larger "frames" can only be garbage from a torn or corrupt length field.
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// Appends one frame holding `payload` to `out`.
pub(crate) fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The valid frames of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    /// (byte offset of the frame, payload), in file order.
    pub frames: Vec<(u64, &'a [u8])>,
    /// Length of the valid prefix; bytes beyond it are a torn tail.
    pub valid_len: u64,
}

/// Splits `buf` into frames, stopping at the first incomplete or corrupt one.
pub(crate) fn decode_frames(buf: &[u8]) -> Decoded<'_> {
    let mut frames = Vec::new();
    let mut pos = 0usize;
    while buf.len() - pos >= HEADER {
        let len = u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        let crc = u32::from_le_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]]);
        let start = pos + HEADER;
        if len > MAX_FRAME || buf.len() - start < len {
            break;
        }
        let payload = &buf[start..start + len];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        frames.push((pos as u64, payload));
        pos = start + len;
    }
    Decoded {
        frames,
        valid_len: pos as u64,
    }
}

/// Replaces `path` with a single frame holding `payload`, atomically and durably.
pub(crate) fn write_atomic(path: &Path, payload: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut bytes = Vec::with_capacity(payload.len() + HEADER);
    encode_frame(payload, &mut bytes);
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Reads a file written by [`write_atomic`]; `None` if it does not exist.
pub(crate) fn read_atomic(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let decoded = decode_frames(&bytes);
    match decoded.frames.as_slice() {
        [(_, payload)] if decoded.valid_len as usize == bytes.len() => Ok(Some(payload.to_vec())),
        // Atomic replacement means a damaged file is not a torn write but real damage.
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is corrupt (bad length or checksum)", path.display()),
        )),
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The payloads found in a log file, each with its frame's byte offset.
pub(crate) type Recovered = Vec<(u64, Vec<u8>)>;

/// An append-only file of frames.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl LogFile {
    /// Opens (creating) the file, cuts a torn tail, and returns the valid payloads
    /// with their byte offsets.
    pub fn open(path: &Path) -> io::Result<(Self, Recovered)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        let decoded = decode_frames(&buf);
        if decoded.valid_len < buf.len() as u64 {
            tracing::warn!(
                path = %path.display(),
                valid = decoded.valid_len,
                len = buf.len(),
                "cutting torn tail of the metadata log"
            );
            file.set_len(decoded.valid_len)?;
            file.sync_all()?;
        }
        let payloads = decoded
            .frames
            .iter()
            .map(|(o, p)| (*o, p.to_vec()))
            .collect();
        let len = decoded.valid_len;
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
                len,
            },
            payloads,
        ))
    }

    /// Appends the payloads as frames and fsyncs; returns each frame's offset.
    pub fn append(&mut self, payloads: &[Vec<u8>]) -> io::Result<Vec<u64>> {
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(payloads.len());
        for p in payloads {
            offsets.push(self.len + bytes.len() as u64);
            encode_frame(p, &mut bytes);
        }
        // Positioned write at the known end: a failed earlier write cannot shift frames.
        use std::io::{Seek, SeekFrom};
        self.file.seek(SeekFrom::Start(self.len))?;
        self.file.write_all(&bytes)?;
        self.file.sync_data()?;
        self.len += bytes.len() as u64;
        Ok(offsets)
    }

    /// Drops every frame from `offset` on.
    pub fn truncate(&mut self, offset: u64) -> io::Result<()> {
        self.file.set_len(offset)?;
        self.file.sync_all()?;
        self.len = offset.min(self.len);
        Ok(())
    }

    /// Replaces the whole file with `payloads` (temp file + rename); returns offsets.
    pub fn rewrite(&mut self, payloads: &[Vec<u8>]) -> io::Result<Vec<u64>> {
        let tmp = self.path.with_extension("rewrite");
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(payloads.len());
        for p in payloads {
            offsets.push(bytes.len() as u64);
            encode_frame(p, &mut bytes);
        }
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        sync_dir(&self.path)?;
        self.file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        self.len = bytes.len() as u64;
        Ok(offsets)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode_frame(p, &mut out);
        }
        out
    }

    #[test]
    fn frames_round_trip() {
        let buf = frames(&[b"a", b"", b"hello"]);
        let d = decode_frames(&buf);
        assert_eq!(d.valid_len, buf.len() as u64);
        let got: Vec<&[u8]> = d.frames.iter().map(|(_, p)| *p).collect();
        assert_eq!(got, vec![&b"a"[..], b"", b"hello"]);
        assert_eq!(d.frames[1].0, 9);
    }

    /// Cut at every byte and flip every bit of the last frame: recovery keeps exactly
    /// the frames that are whole and intact.
    #[test]
    fn torn_or_flipped_tail_is_cut_at_the_last_good_frame() {
        let seed = *b"tidewater-quorum-log-file-cuts!!";
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 256,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
        );
        let strategy = (
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8),
            any::<u64>(),
            any::<u64>(),
        );
        let result = runner.run(&strategy, |(payloads, cut, flip)| {
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            let buf = frames(&refs);
            let boundaries: Vec<usize> = refs
                .iter()
                .scan(0, |end, p| {
                    *end += HEADER + p.len();
                    Some(*end)
                })
                .collect();
            let cut = (cut % (buf.len() as u64 + 1)) as usize;
            let whole = boundaries.iter().filter(|b| **b <= cut).count();
            let d = decode_frames(&buf[..cut]);
            prop_assert_eq!(d.frames.len(), whole);
            prop_assert_eq!(
                d.valid_len as usize,
                if whole == 0 { 0 } else { boundaries[whole - 1] }
            );
            // A flipped bit inside the last frame loses that frame only.
            let last_start = boundaries.len().checked_sub(2).map_or(0, |i| boundaries[i]);
            let mut damaged = buf.clone();
            let bit = last_start * 8 + (flip as usize % ((buf.len() - last_start) * 8));
            damaged[bit / 8] ^= 1 << (bit % 8);
            let d = decode_frames(&damaged);
            prop_assert_eq!(d.frames.len(), refs.len() - 1);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e} (seed {:?})", std::str::from_utf8(&seed));
        }
    }

    #[test]
    fn log_file_recovers_after_a_torn_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (mut log, existing) = LogFile::open(&path).unwrap();
        assert!(existing.is_empty());
        let offsets = log.append(&[b"one".to_vec(), b"two".to_vec()]).unwrap();
        assert_eq!(offsets, vec![0, 11]);
        drop(log);
        // Simulate a crash mid-append: half a frame at the end.
        let mut torn = frames(&[b"three"]);
        torn.truncate(6);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&torn)
            .unwrap();
        let (mut log, existing) = LogFile::open(&path).unwrap();
        assert_eq!(existing, vec![(0, b"one".to_vec()), (11, b"two".to_vec())]);
        assert_eq!(fs::metadata(&path).unwrap().len(), 22);
        assert_eq!(log.append(&[b"four".to_vec()]).unwrap(), vec![22]);
        log.truncate(11).unwrap();
        assert_eq!(log.rewrite(&[b"two".to_vec()]).unwrap(), vec![0]);
        drop(log);
        let (_, existing) = LogFile::open(&path).unwrap();
        assert_eq!(existing, vec![(0, b"two".to_vec())]);
    }

    #[test]
    fn atomic_files_detect_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vote");
        assert_eq!(read_atomic(&path).unwrap(), None);
        write_atomic(&path, b"{\"term\":3}").unwrap();
        assert_eq!(
            read_atomic(&path).unwrap().as_deref(),
            Some(&b"{\"term\":3}"[..])
        );
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(&path, bytes).unwrap();
        assert_eq!(
            read_atomic(&path).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
