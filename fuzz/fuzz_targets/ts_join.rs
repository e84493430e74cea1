//! MPEG-TS segment joiner (`media::remux::tsjoin`) on arbitrary segments: the input is split
//! into 1..8 segments, each pushed with its own discontinuity flag, then `finish`; the
//! independent checker `check_ts` runs on the input and on the output.
//!
//! Input layout (so that a raw `.ts` with a small header prepended is a good seed):
//!
//! ```text
//! byte 0        segments = 1 + (byte & 7)
//! byte 1        discontinuity flags, bit i = segment i
//! 2 bytes each  (segments - 1) cut points, u16 LE: bit 15 set = byte offset (bits 0-14),
//!               else a packet offset (x 188); sorted and clamped to the rest
//! rest          the transport stream bytes
//! ```
//!
//! Invariants (from the module's contract, hold for any input):
//! - `push_segment` into a `Vec` never fails ("damaged input never fails; only write errors
//!   are returned");
//! - the output is whole 188-byte packets, all written packets are counted in
//!   `SegmentInfo::packets`, and `check_ts` finds them all in sync (no skipped bytes);
//! - continuity counters are rewritten per output PID, so `check_ts` reports no continuity
//!   error in the output;
//! - null packets (PID 0x1FFF) are dropped, so none is in the output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::remux::tsjoin::{check_ts, TsJoiner};

const PKT: usize = 188;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let nseg = 1 + (data[0] & 7) as usize;
    let flags = data[1];
    let hdr = 2 + 2 * (nseg - 1);
    if data.len() < hdr {
        return;
    }
    let ts = &data[hdr..];
    let mut cuts: Vec<usize> = data[2..hdr]
        .chunks_exact(2)
        .map(|c| {
            let v = u16::from_le_bytes([c[0], c[1]]) as usize;
            let at = if v & 0x8000 != 0 { v & 0x7fff } else { v * PKT };
            at.min(ts.len())
        })
        .collect();
    cuts.sort_unstable();
    cuts.push(ts.len());

    // The checker on the raw input: must not panic.
    let _ = check_ts(ts);

    let mut j = TsJoiner::new(Vec::new());
    let mut start = 0usize;
    let mut written = 0usize;
    for (i, &end) in cuts.iter().enumerate() {
        let seg = &ts[start..end];
        start = end;
        let info = j.push_segment(seg, flags & (1 << i) != 0).expect("push_segment into a Vec failed");
        assert!(info.skipped_bytes <= seg.len(), "skipped {} of {} bytes", info.skipped_bytes, seg.len());
        written += info.packets;
    }
    assert_eq!(j.segments(), nseg);
    let out = j.finish().expect("finish failed");

    assert_eq!(out.len() % PKT, 0, "output is not whole packets: {} bytes", out.len());
    assert_eq!(out.len() / PKT, written, "SegmentInfo::packets does not add up to the output");
    let c = check_ts(&out);
    assert_eq!(c.skipped_bytes, 0, "output out of sync");
    assert_eq!(c.packets, written);
    assert_eq!(c.cc_errors, 0, "continuity errors in the output: {:?}", c.cc_errors_by_pid);
    assert!(!c.pids.contains_key(&0x1fff), "null packets in the output");
});
