//! AAC decoding with the Fraunhofer FDK AAC library (via `fdk-aac-sys`), raw access units
//! configured by the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1). AAC-LC, HE-AAC (SBR,
//! reported at the SBR output rate) and HE-AACv2 decode; more than two channels are
//! downmixed to stereo by the library.
//!
//! Timing: FDK's defaults add output latency (energy-interpolation concealment delays by a
//! frame; the PCM limiter has a look-ahead). Both are turned off (noise-substitution
//! concealment, limiter off), and whatever delay the library still reports in
//! `CStreamInfo::outputDelay` is subtracted from the output timestamps, so a sample comes
//! out at the pts it was encoded at. (The `fdk-aac` crate's safe decoder cannot set these
//! parameters, hence the direct binding.)

use fdk_aac_sys as sys;

use crate::codec::aac::AudioConfig;
use crate::frame::AudioFrame;
use crate::packet::{Packet, StreamInfo};
use crate::time::rescale;
use crate::{Error, Result};

use super::AudioDecoder;

/// AAC decoder (FDK AAC): raw access units in, interleaved f32 PCM out at the stream's output
/// rate (the SBR rate for HE-AAC).
pub(crate) struct AacDecoder {
    handle: sys::HANDLE_AACDECODER,
    timebase: u32,
    pcm: Vec<i16>,
    errors: u64,
    /// Next expected pts (in output samples), to absorb container rounding jitter.
    next_pts: Option<i64>,
}

// SAFETY: the decoder handle is owned exclusively by this struct and only used through
// `&mut self`; FDK keeps no thread-local state.
unsafe impl Send for AacDecoder {}

impl Drop for AacDecoder {
    fn drop(&mut self) {
        // SAFETY: handle came from aacDecoder_Open and is closed once.
        unsafe { sys::aacDecoder_Close(self.handle) }
    }
}

impl AacDecoder {
    /// A decoder configured from the stream's AudioSpecificConfig, or an AAC-LC one built from
    /// its sample rate and channels (48 kHz stereo when unknown) when the config is empty.
    pub fn new(info: &StreamInfo) -> Result<AacDecoder> {
        let asc = if info.config.is_empty() {
            let rate = if info.sample_rate > 0 { info.sample_rate } else { 48000 };
            AudioConfig::lc(rate, info.channels.clamp(1, 2)).to_bytes()
        } else {
            info.config.to_vec()
        };
        // SAFETY: plain C calls on a handle we own; pointers outlive the calls.
        unsafe {
            let handle = sys::aacDecoder_Open(sys::TRANSPORT_TYPE_TT_MP4_RAW, 1);
            if handle.is_null() {
                return Err(Error::Decode("cannot open the AAC decoder".into()));
            }
            let dec = AacDecoder {
                handle,
                timebase: info.timebase.max(1),
                pcm: vec![0; 8 * 2048],
                errors: 0,
                next_pts: None,
            };
            let configure = |asc: &[u8]| {
                let mut p = asc.as_ptr() as *mut u8;
                let len = asc.len() as u32;
                sys::aacDecoder_ConfigRaw(handle, &mut p, &len) == sys::AAC_DECODER_ERROR_AAC_DEC_OK
            };
            if !configure(&asc) {
                // ADTS headers often carry a wrong profile (Main/SSR/LTP for plain LC
                // streams; FFmpeg ignores it). FDK decodes LC only: retry as LC.
                let relabelled =
                    AudioConfig::parse(&asc).ok().filter(|c| matches!(c.object_type, 1 | 3 | 4)).map(|c| {
                        let mut lc = c;
                        lc.object_type = 2;
                        lc.to_bytes()
                    });
                if !relabelled.is_some_and(|lc| configure(&lc)) {
                    return Err(Error::Decode(format!(
                        "AAC configuration rejected (AudioSpecificConfig {:02x?})",
                        asc
                    )));
                }
            }
            sys::aacDecoder_SetParam(handle, sys::AACDEC_PARAM_AAC_CONCEAL_METHOD, 1);
            sys::aacDecoder_SetParam(handle, sys::AACDEC_PARAM_AAC_PCM_LIMITER_ENABLE, 0);
            sys::aacDecoder_SetParam(handle, sys::AACDEC_PARAM_AAC_PCM_MAX_OUTPUT_CHANNELS, 2);
            Ok(dec)
        }
    }
}

impl AudioDecoder for AacDecoder {
    fn decode(&mut self, pkt: &Packet, out: &mut Vec<AudioFrame>) -> Result<()> {
        if pkt.data.is_empty() {
            return Ok(());
        }
        // SAFETY: buffers outlive the calls; sizes are passed alongside.
        let (rate, ch, n, delay) = unsafe {
            let mut p = pkt.data.as_ptr() as *mut u8;
            let size = pkt.data.len() as u32;
            let mut valid = size;
            if sys::aacDecoder_Fill(self.handle, &mut p, &size, &mut valid) != sys::AAC_DECODER_ERROR_AAC_DEC_OK {
                self.errors += 1;
                return Ok(());
            }
            let e = sys::aacDecoder_DecodeFrame(self.handle, self.pcm.as_mut_ptr(), self.pcm.len() as i32, 0);
            if e != sys::AAC_DECODER_ERROR_AAC_DEC_OK {
                self.errors += 1;
                return Ok(());
            }
            let si = sys::aacDecoder_GetStreamInfo(self.handle);
            if si.is_null() {
                self.errors += 1;
                return Ok(());
            }
            let si = &*si;
            (
                si.sampleRate.max(0) as u32,
                si.numChannels.max(0) as u16,
                si.frameSize.max(0) as usize,
                si.outputDelay as i64,
            )
        };
        if rate == 0 || ch == 0 || n == 0 || n * ch as usize > self.pcm.len() {
            self.errors += 1;
            return Ok(());
        }
        let pts = rescale(pkt.pts, self.timebase, rate) - delay;
        let pts = match self.next_pts {
            // Absorb sub-millisecond rounding jitter of container timestamps.
            Some(np) if (pts - np).abs() <= (rate as i64 / 1000).max(1) => np,
            _ => pts,
        };
        self.next_pts = Some(pts + n as i64);
        let samples = self.pcm[..n * ch as usize].iter().map(|&s| s as f32 / 32768.0).collect();
        out.push(AudioFrame { pts, sample_rate: rate, channels: ch, samples });
        Ok(())
    }

    fn flush(&mut self, _out: &mut Vec<AudioFrame>) -> Result<()> {
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::MediaKind;

    /// Decoded audio laid out by pts (priming before 0 dropped), mono.
    pub(crate) fn decode_file(path: &std::path::Path) -> Vec<f32> {
        let (_, mut d) = crate::demux::open(path).unwrap();
        let s = d.streams().iter().find(|s| s.kind == MediaKind::Audio).unwrap().clone();
        let mut dec = AacDecoder::new(&s).unwrap();
        let mut frames = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            if p.stream == s.index {
                dec.decode(&p, &mut frames).unwrap();
            }
        }
        let mut out = Vec::new();
        for f in frames {
            let ch = f.channels as usize;
            for (i, s) in f.samples.chunks(ch).enumerate() {
                if f.pts + i as i64 >= 0 {
                    out.push(s.iter().sum::<f32>() / ch as f32);
                }
            }
        }
        out
    }

    #[test]
    fn decoder_adds_no_delay() {
        // The fixture's 440 Hz tone starts at its time zero (after the edit list removes the
        // encoder priming); FFmpeg decodes it with the onset at sample 2.
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/a_high_bframes.mp4");
        let pcm = decode_file(&p);
        let onset = pcm.iter().position(|v| v.abs() > 0.01).unwrap();
        assert!(onset < 48, "onset at sample {onset}");
        assert!((pcm.len() as i64 - 4 * 48000).abs() < 1024, "{} samples", pcm.len());
    }
}
