//! `tidewater-broker dump-log FILE... [--deep-iteration] [--print-data]`, like Kafka's
//! kafka-dump-log.sh: prints every batch of `.log` files (and every record with
//! `deep_iteration`, their keys and values too with `print_data`), checks `.index` and
//! `.timeindex` files against their `.log`, and prints producer snapshots (Tidewater's
//! and Kafka's). Reads what Apache Kafka wrote as well as what Tidewater wrote. Reports
//! corruption with its byte position; the result says whether everything was valid.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::batch::{self, BatchHeader, HEADER_SIZE};
use crate::producer_state::ProducerStateManager;

/// What `dump_files` prints beyond batch headers (kafka-dump-log.sh's flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpOptions {
    /// One line per record: offset, timestamp, sizes, sequence (`--deep-iteration`).
    pub deep_iteration: bool,
    /// Record keys and values too (`--print-data`); implies `deep_iteration`.
    pub print_data: bool,
}

/// Prints like kafka-dump-log.sh to `out`; returns whether everything was valid.
pub fn dump_files(paths: &[PathBuf], opts: DumpOptions, out: &mut dyn Write) -> io::Result<bool> {
    let mut all_valid = true;
    for path in paths {
        writeln!(out, "Dumping {}", path.display())?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = match path.extension().and_then(|e| e.to_str()) {
            Some("log") => dump_log(path, opts, out),
            Some("index") => check_index(path, out),
            Some("timeindex") => check_time_index(path, out),
            Some("snapshot") => dump_snapshot(path, out),
            _ => {
                writeln!(out, "Ignoring unknown file {name}")?;
                Ok(false)
            }
        };
        // A file that cannot be read (missing, or its .log missing) is reported and
        // counts as invalid; the other files are still dumped.
        let valid = match result {
            Ok(v) => v,
            Err(e) => {
                writeln!(out, "Could not read {} (or its .log): {e}", path.display())?;
                false
            }
        };
        all_valid &= valid;
    }
    Ok(all_valid)
}

fn base_offset_of(path: &Path) -> i64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Every complete, CRC-checked batch of a `.log` file, plus the first problem found.
struct LogScan {
    batches: Vec<(u64, BatchHeader, bool)>,
    problem: Option<(u64, String)>,
}

fn scan_log(path: &Path) -> io::Result<(File, LogScan)> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut pos = 0u64;
    let mut batches = Vec::new();
    let mut problem = None;
    let mut expected = base_offset_of(path);
    while pos < size {
        let mut head = [0u8; HEADER_SIZE];
        if size - pos < HEADER_SIZE as u64 {
            problem = Some((
                pos,
                format!(
                    "{} trailing bytes are not a complete batch header",
                    size - pos
                ),
            ));
            break;
        }
        file.read_exact_at(&mut head, pos)?;
        let Some(h) = BatchHeader::parse(&head) else {
            break;
        };
        if let Err(reason) = h.check_shape() {
            problem = Some((pos, reason.to_string()));
            break;
        }
        if pos + h.total_size() as u64 > size {
            problem = Some((
                pos,
                format!(
                    "batch of {} bytes runs past the end of the file ({size} bytes)",
                    h.total_size()
                ),
            ));
            break;
        }
        let mut bytes = vec![0u8; h.total_size()];
        file.read_exact_at(&mut bytes, pos)?;
        let crc_ok = batch::crc_valid(&bytes, &h);
        batches.push((pos, h, crc_ok));
        if h.base_offset < expected && problem.is_none() {
            problem = Some((
                pos,
                format!(
                    "offset {} is below the previous batch's next offset {expected}",
                    h.base_offset
                ),
            ));
        }
        expected = h.next_offset();
        pos += h.total_size() as u64;
    }
    Ok((file, LogScan { batches, problem }))
}

fn dump_log(path: &Path, opts: DumpOptions, out: &mut dyn Write) -> io::Result<bool> {
    writeln!(out, "Log starting offset: {}", base_offset_of(path))?;
    let (file, scan) = match scan_log(path) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "Could not read {}: {e}", path.display())?;
            return Ok(false);
        }
    };
    let mut valid = true;
    for (pos, h, crc_ok) in &scan.batches {
        valid &= crc_ok;
        let ts_kind = if h.is_log_append_time() {
            "LogAppendTime"
        } else {
            "CreateTime"
        };
        writeln!(
            out,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: {pos} {ts_kind}: {} firstTimestamp: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {crc_ok}",
            h.base_offset,
            h.last_offset(),
            h.records_count,
            h.base_sequence,
            h.last_sequence(),
            h.producer_id,
            h.producer_epoch,
            h.partition_leader_epoch,
            h.is_transactional(),
            h.is_control(),
            h.max_timestamp,
            h.first_timestamp,
            h.total_size(),
            h.magic,
            h.compression_name(),
            h.crc,
        )?;
        if !crc_ok {
            writeln!(
                out,
                "Found invalid batch at position {pos}: CRC-32C mismatch"
            )?;
        }
        if (opts.deep_iteration || opts.print_data) && *crc_ok {
            let mut bytes = vec![0u8; h.total_size()];
            file.read_exact_at(&mut bytes, *pos)?;
            match batch::decode_records(&bytes) {
                Ok(set) => {
                    for r in set.records {
                        let ts = if h.is_log_append_time() {
                            h.max_timestamp
                        } else {
                            r.timestamp
                        };
                        let keys: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
                        write!(
                            out,
                            "| offset: {} {ts_kind}: {ts} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
                            r.offset,
                            r.key.as_ref().map_or(-1, |k| k.len() as i64),
                            r.value.as_ref().map_or(-1, |v| v.len() as i64),
                            // Kafka's DefaultRecord: no sequence without a producer id;
                            // kafka-protocol counts on from the batch's -1.
                            if h.base_sequence < 0 { -1 } else { r.sequence },
                            keys.join(","),
                        )?;
                        if opts.print_data {
                            write!(
                                out,
                                " key: {} payload: {}",
                                r.key
                                    .as_ref()
                                    .map_or("null".into(), |k| String::from_utf8_lossy(k)),
                                r.value
                                    .as_ref()
                                    .map_or("null".into(), |v| String::from_utf8_lossy(v)),
                            )?;
                        }
                        writeln!(out)?;
                    }
                }
                Err(e) => {
                    valid = false;
                    writeln!(out, "Found undecodable batch at position {pos}: {e}")?;
                }
            }
        }
    }
    if let Some((pos, reason)) = scan.problem {
        valid = false;
        writeln!(out, "Found invalid data at position {pos}: {reason}")?;
    }
    Ok(valid)
}

fn companion_log(path: &Path) -> PathBuf {
    path.with_extension("log")
}

/// The index file's entries, without the zero-filled tail Kafka leaves in the index
/// of a segment it did not close (its active segment's preallocated
/// `segment.index.bytes`, e.g. in `__cluster_metadata`). Like Kafka's
/// DumpLogSegments, the first entry may be all zeros (offset = base, position 0), a
/// later one only as the start of that tail; `None` (reported) for a partial entry.
fn read_entries(path: &Path, size: usize, out: &mut dyn Write) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = std::fs::read(path)?;
    if !bytes.len().is_multiple_of(size) {
        writeln!(
            out,
            "Found a partial index entry at position {}",
            bytes.len() - bytes.len() % size
        )?;
        return Ok(None);
    }
    let zero_tail = bytes.iter().rev().take_while(|b| **b == 0).count();
    let in_use = (bytes.len() - zero_tail).div_ceil(size).max(1) * size;
    if in_use < bytes.len() {
        writeln!(
            out,
            "{} preallocated empty entries follow position {in_use}",
            (bytes.len() - in_use) / size
        )?;
        bytes.truncate(in_use);
    }
    Ok(Some(bytes))
}

fn check_index(path: &Path, out: &mut dyn Write) -> io::Result<bool> {
    let base = base_offset_of(path);
    let (_, scan) = scan_log(&companion_log(path))?;
    let Some(bytes) = read_entries(path, 8, out)? else {
        return Ok(false);
    };
    let mut valid = true;
    let mut prev: Option<i64> = None;
    for (i, e) in bytes.chunks_exact(8).enumerate() {
        let offset = base + i64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]]));
        let position = u64::from(u32::from_be_bytes([e[4], e[5], e[6], e[7]]));
        writeln!(out, "offset: {offset} position: {position}")?;
        let at = (i * 8) as u64;
        if prev.is_some_and(|p| offset <= p) {
            valid = false;
            writeln!(
                out,
                "Index entry at position {at}: offset {offset} is not increasing"
            )?;
        }
        prev = Some(offset);
        match scan.batches.iter().find(|(p, _, _)| *p == position) {
            Some((_, h, _)) if h.last_offset() == offset => {}
            Some((_, h, _)) => {
                valid = false;
                writeln!(
                    out,
                    "Index entry at position {at}: index offset {offset}, log offset {}",
                    h.last_offset()
                )?;
            }
            None => {
                valid = false;
                writeln!(
                    out,
                    "Index entry at position {at}: position {position} is not the start of a batch in the log"
                )?;
            }
        }
    }
    Ok(valid)
}

fn check_time_index(path: &Path, out: &mut dyn Write) -> io::Result<bool> {
    let base = base_offset_of(path);
    let (_, scan) = scan_log(&companion_log(path))?;
    let Some(bytes) = read_entries(path, 12, out)? else {
        return Ok(false);
    };
    let mut valid = true;
    let mut prev: Option<i64> = None;
    for (i, e) in bytes.chunks_exact(12).enumerate() {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&e[..8]);
        let ts = i64::from_be_bytes(ts);
        let offset = base + i64::from(u32::from_be_bytes([e[8], e[9], e[10], e[11]]));
        writeln!(out, "timestamp: {ts} offset: {offset}")?;
        let at = (i * 12) as u64;
        if prev.is_some_and(|p| ts <= p) {
            valid = false;
            writeln!(
                out,
                "Time index entry at position {at}: timestamp {ts} is not increasing"
            )?;
        }
        prev = Some(ts);
        match scan
            .batches
            .iter()
            .find(|(_, h, _)| h.base_offset <= offset && offset <= h.last_offset())
        {
            Some((_, h, _)) if h.max_timestamp == ts => {}
            Some((_, h, _)) => {
                valid = false;
                writeln!(
                    out,
                    "Time index entry at position {at}: indexed timestamp {ts}, log timestamp {}",
                    h.max_timestamp
                )?;
            }
            None => {
                valid = false;
                writeln!(
                    out,
                    "Time index entry at position {at}: offset {offset} is not in the log"
                )?;
            }
        }
    }
    Ok(valid)
}

fn dump_snapshot(path: &Path, out: &mut dyn Write) -> io::Result<bool> {
    let bytes = std::fs::read(path)?;
    match ProducerStateManager::decode(&bytes) {
        Ok(state) => {
            let mut entries: Vec<_> = state.entries().collect();
            entries.sort_by_key(|e| e.producer_id);
            for e in entries {
                writeln!(
                    out,
                    "producerId: {} producerEpoch: {} lastSequence: {} lastOffset: {} lastTimestamp: {} batches: {}",
                    e.producer_id,
                    e.producer_epoch,
                    e.last_sequence,
                    e.last_offset,
                    e.last_timestamp,
                    e.batches.len()
                )?;
            }
            Ok(true)
        }
        Err(reason) => {
            writeln!(out, "Invalid producer snapshot: {reason}")?;
            Ok(false)
        }
    }
}
