//! H.264 bitstream helpers on arbitrary bytes (Annex B / AVCC splitting, avcC records,
//! SPS/PPS parsing, emulation prevention removal and insertion), on the whole input and on
//! each NAL found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::codec::h264::{self, AvcConfig, Pps, Sps};

fn per_nal(nal: &[u8]) {
    let _ = h264::nal_type(nal);
    let rbsp = h264::unescape_rbsp(nal);
    assert!(rbsp.len() <= nal.len(), "unescape_rbsp grew its input");
    // escape_rbsp inverts unescape_rbsp for an RBSP ending in its stop bit, and leaves no
    // start-code prefix inside the payload.
    if rbsp.last().is_some_and(|&b| b != 0) {
        let esc = h264::escape_rbsp(&rbsp);
        assert_eq!(h264::unescape_rbsp(&esc), rbsp, "escape_rbsp does not round trip");
        assert!(!esc.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2), "escape_rbsp left 00 00 0x");
    }
    let _ = Sps::parse(nal);
    let _ = Pps::parse(nal);
}

fuzz_target!(|data: &[u8]| {
    // Annex B.
    let mut total = 0usize;
    for nal in h264::annexb_nals(data) {
        assert!(!nal.is_empty(), "annexb_nals yielded an empty NAL");
        assert_ne!(nal.last(), Some(&0), "annexb_nals kept a trailing zero byte");
        total += nal.len();
        per_nal(nal);
    }
    assert!(total <= data.len());
    let _ = h264::looks_like_annexb(data);
    let _ = h264::annexb_has_idr(data);
    let avcc = h264::annexb_to_avcc(data);
    // annexb_to_avcc writes 4-byte lengths: it must split back cleanly.
    let back = h264::avcc_nals(&avcc, 4).expect("avcc_nals rejected annexb_to_avcc output");
    assert_eq!(back.len(), h264::annexb_nals(data).count());

    // Length-prefixed (AVCC) with every legal and some illegal prefix sizes.
    for len_size in [1usize, 2, 3, 4, 0, 8] {
        match h264::avcc_nals(data, len_size) {
            Ok(nals) => {
                assert!(matches!(len_size, 1 | 2 | 4));
                for nal in &nals {
                    assert!(!nal.is_empty());
                    per_nal(nal);
                }
                let ab = h264::avcc_to_annexb(data, len_size).expect("avcc_to_annexb disagrees with avcc_nals");
                assert_eq!(ab.len(), nals.iter().map(|n| n.len() + 4).sum::<usize>());
            }
            Err(_) => assert!(h264::avcc_to_annexb(data, len_size).is_err()),
        }
    }

    // avcC record; a parsed record must survive a serialise/parse round trip.
    if let Ok(c) = AvcConfig::parse(data) {
        assert!(matches!(c.nal_length_size, 1 | 2 | 4));
        for s in c.sps.iter().chain(c.pps.iter()) {
            per_nal(s);
        }
        let _ = c.codec_string();
        let _ = c.parameter_sets_annexb();
        let bytes = c.to_bytes();
        let again = AvcConfig::parse(&bytes).expect("AvcConfig::to_bytes output does not parse");
        assert_eq!(again, c, "AvcConfig round trip changed the record");
    }

    // The whole input as one NAL.
    per_nal(data);
});
