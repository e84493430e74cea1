//! AAC helpers: AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) and the ADTS header
//! (ISO/IEC 13818-7 §6.2, ISO/IEC 14496-3 §1.A.2).

use super::bits::{BitReader, BitWriter};
use crate::{Error, Result};

/// Sampling frequencies by index (ISO/IEC 14496-3 Table 1.18).
pub const SAMPLE_RATES: [u32; 13] =
    [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// Samples per channel in one AAC-LC access unit.
pub const FRAME_SAMPLES: u32 = 1024;

/// The 4-bit sampling_frequency_index of `rate` in Hz (index into [`SAMPLE_RATES`]); `None`
/// when the rate has no index (it then needs the explicit 24-bit form, which ADTS cannot carry).
pub fn sample_rate_index(rate: u32) -> Option<u8> {
    SAMPLE_RATES.iter().position(|&r| r == rate).map(|i| i as u8)
}

/// The fields of an AudioSpecificConfig the pipeline needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioConfig {
    /// Audio object type: 2 = AAC-LC, 5 = SBR (HE-AAC), 29 = PS (HE-AACv2).
    pub object_type: u8,
    /// Core sampling rate signalled in the config (for HE-AAC the output rate is the
    /// extension rate, see `output_rate`).
    pub sample_rate: u32,
    /// Channel count: channelConfiguration 1..=6 as is, 7 as 8 channels; 2 (a guess the decoder
    /// refines) when the layout is given by a program_config_element instead.
    pub channels: u16,
    /// SBR output rate when signalled explicitly.
    pub ext_sample_rate: Option<u32>,
}

impl AudioConfig {
    /// An AAC-LC config (object type 2) at `sample_rate` Hz with `channels` channels.
    pub fn lc(sample_rate: u32, channels: u16) -> AudioConfig {
        AudioConfig { object_type: 2, sample_rate, channels, ext_sample_rate: None }
    }

    /// The rate decoded audio comes out at, in Hz: the explicit SBR extension rate when
    /// signalled, else the core rate.
    pub fn output_rate(&self) -> u32 {
        self.ext_sample_rate.unwrap_or(self.sample_rate)
    }

    /// Parse an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1). Errors when it is truncated,
    /// uses a reserved sampling index or a rate of 0.
    pub fn parse(asc: &[u8]) -> Result<AudioConfig> {
        let bad = || Error::invalid("truncated AudioSpecificConfig");
        let mut r = BitReader::new(asc);
        let read_aot = |r: &mut BitReader| -> Result<u8> {
            let a = r.read(5).map_err(|_| bad())? as u8;
            Ok(if a == 31 { 32 + r.read(6).map_err(|_| bad())? as u8 } else { a })
        };
        let read_rate = |r: &mut BitReader| -> Result<u32> {
            let idx = r.read(4).map_err(|_| bad())?;
            if idx == 15 {
                r.read(24).map_err(|_| bad())
            } else {
                SAMPLE_RATES
                    .get(idx as usize)
                    .copied()
                    .ok_or_else(|| Error::invalid(format!("reserved AAC sampling index {idx}")))
            }
        };
        let mut object_type = read_aot(&mut r)?;
        let sample_rate = read_rate(&mut r)?;
        let chan_cfg = r.read(4).map_err(|_| bad())?;
        let mut ext_sample_rate = None;
        if object_type == 5 || object_type == 29 {
            ext_sample_rate = Some(read_rate(&mut r)?);
            object_type = read_aot(&mut r)?.max(2).min(object_type);
            object_type = if object_type == 2 { 5 } else { object_type };
        }
        if sample_rate == 0 {
            return Err(Error::invalid("AAC sampling rate 0"));
        }
        let channels = match chan_cfg {
            1..=6 => chan_cfg as u16,
            7 => 8,
            // 0 = defined by a program_config_element; assume stereo, the decoder knows.
            _ => 2,
        };
        Ok(AudioConfig { object_type, sample_rate, channels, ext_sample_rate })
    }

    /// Serialise a 2-byte AAC-LC style config (object type < 31, standard rates).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.write(5, self.object_type.min(30) as u32);
        match sample_rate_index(self.sample_rate) {
            Some(i) => w.write(4, i as u32),
            None => {
                w.write(4, 15);
                w.write(24, self.sample_rate);
            }
        }
        w.write(4, if self.channels == 8 { 7 } else { self.channels.min(6) as u32 });
        w.write(3, 0); // GASpecificConfig: frameLength 1024, no core coder, no extension
        w.finish()
    }
}

/// A parsed ADTS header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdtsHeader {
    /// Object type, sampling rate and channels the header declares (ADTS profile + 1).
    pub config: AudioConfig,
    /// Header length: 7, or 9 with CRC.
    pub header_len: usize,
    /// Whole frame length including the header.
    pub frame_len: usize,
    /// Raw data blocks in the frame (usually 1).
    pub blocks: u8,
}

impl AdtsHeader {
    /// Parse the header at the start of `b` (needs 7 bytes).
    pub fn parse(b: &[u8]) -> Result<AdtsHeader> {
        if b.len() < 7 {
            return Err(Error::invalid("truncated ADTS header"));
        }
        if b[0] != 0xff || b[1] & 0xf6 != 0xf0 {
            return Err(Error::invalid("no ADTS syncword"));
        }
        let protection_absent = b[1] & 1 == 1;
        let profile = (b[2] >> 6) + 1;
        let sf_idx = (b[2] >> 2) & 0xf;
        let chan = ((b[2] & 1) << 2) | (b[3] >> 6);
        let frame_len = (((b[3] & 3) as usize) << 11) | ((b[4] as usize) << 3) | ((b[5] >> 5) as usize);
        let blocks = (b[6] & 3) + 1;
        let sample_rate = *SAMPLE_RATES
            .get(sf_idx as usize)
            .ok_or_else(|| Error::invalid(format!("ADTS: reserved sampling index {sf_idx}")))?;
        let header_len = if protection_absent { 7 } else { 9 };
        if frame_len < header_len {
            return Err(Error::invalid("ADTS frame shorter than its header"));
        }
        let channels = match chan {
            0 => 2,
            7 => 8,
            c => c as u16,
        };
        Ok(AdtsHeader {
            config: AudioConfig { object_type: profile, sample_rate, channels, ext_sample_rate: None },
            header_len,
            frame_len,
            blocks,
        })
    }

    /// A 7-byte header (no CRC) for one raw AAC frame of `payload_len` bytes.
    pub fn write(config: &AudioConfig, payload_len: usize) -> [u8; 7] {
        let len = payload_len + 7;
        // ADTS carries the MPEG-2 profile (object type - 1) of the core coder: HE-AAC (5, 29)
        // is written as LC at the core rate, its SBR/PS data being implicit in the payload.
        let aot = if matches!(config.object_type, 1..=4) { config.object_type } else { 2 };
        let profile = aot - 1;
        let sf = sample_rate_index(config.sample_rate).unwrap_or(3);
        let chan = if config.channels == 8 { 7 } else { config.channels.min(7) as u8 };
        [
            0xff,
            0xf1,
            (profile << 6) | (sf << 2) | (chan >> 2),
            ((chan & 3) << 6) | ((len >> 11) & 3) as u8,
            ((len >> 3) & 0xff) as u8,
            (((len & 7) << 5) as u8) | 0x1f,
            0xfc,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_roundtrip() {
        // 0x1190: AAC-LC 48 kHz stereo; 0x1210: AAC-LC 44.1 kHz stereo.
        let c = AudioConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!(c, AudioConfig::lc(48000, 2));
        assert_eq!(c.to_bytes(), vec![0x11, 0x90]);
        let c = AudioConfig::parse(&[0x12, 0x08]).unwrap();
        assert_eq!((c.sample_rate, c.channels), (44100, 1));
        assert!(AudioConfig::parse(&[0x11]).is_err());
        assert!(AudioConfig::parse(&[]).is_err());
    }

    #[test]
    fn he_aac_reports_extension_rate() {
        // AOT 5, 24 kHz core, stereo, 48 kHz extension, then AOT 2.
        let mut w = BitWriter::new();
        w.write(5, 5);
        w.write(4, 6);
        w.write(4, 2);
        w.write(4, 3);
        w.write(5, 2);
        let c = AudioConfig::parse(&w.finish()).unwrap();
        assert_eq!(c.output_rate(), 48000);
        assert_eq!(c.object_type, 5);
    }

    #[test]
    fn adts_roundtrip() {
        let cfg = AudioConfig::lc(44100, 2);
        let h = AdtsHeader::write(&cfg, 300);
        let p = AdtsHeader::parse(&h).unwrap();
        assert_eq!(p.config, cfg);
        assert_eq!(p.frame_len, 307);
        assert_eq!(p.header_len, 7);
        assert!(AdtsHeader::parse(&h[..5]).is_err());
        assert!(AdtsHeader::parse(&[0xff, 0x00, 0, 0, 0, 0, 0]).is_err());
    }
}
