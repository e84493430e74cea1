//! An MSB-first bit reader with Exp-Golomb codes (ITU-T H.264 §7.2, §9.1) and a bit writer.

/// Reads bits MSB first; every read past the end is an error, never a panic.
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize, // in bits
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Error of a [`BitReader`] read past the end of its data.
pub struct OutOfBits;

impl<'a> BitReader<'a> {
    /// A reader positioned at the first (most significant) bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }
    /// Bits read so far (the position of the next bit).
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Bits not yet read.
    pub fn bits_left(&self) -> usize {
        self.data.len() * 8 - self.pos.min(self.data.len() * 8)
    }
    /// Read one bit (0 or 1).
    pub fn read_bit(&mut self) -> Result<u32, OutOfBits> {
        if self.pos >= self.data.len() * 8 {
            return Err(OutOfBits);
        }
        let b = (self.data[self.pos / 8] >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(b as u32)
    }
    /// Read `n` bits (at most 32) as an unsigned number, first bit most significant.
    pub fn read(&mut self, n: u32) -> Result<u32, OutOfBits> {
        debug_assert!(n <= 32);
        let mut v: u64 = 0;
        for _ in 0..n {
            v = (v << 1) | self.read_bit()? as u64;
        }
        Ok(v as u32)
    }
    /// Skip `n` bits; fails without moving when fewer are left.
    pub fn skip(&mut self, n: usize) -> Result<(), OutOfBits> {
        if self.bits_left() < n {
            return Err(OutOfBits);
        }
        self.pos += n;
        Ok(())
    }
    /// ue(v)
    pub fn read_ue(&mut self) -> Result<u32, OutOfBits> {
        let mut zeros = 0;
        while self.read_bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(OutOfBits);
            }
        }
        if zeros == 0 {
            return Ok(0);
        }
        let rest = self.read(zeros)? as u64;
        Ok(((1u64 << zeros) - 1 + rest).min(u32::MAX as u64) as u32)
    }
    /// se(v)
    pub fn read_se(&mut self) -> Result<i32, OutOfBits> {
        let k = self.read_ue()? as i64;
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) } as i32)
    }
}

/// Writes bits MSB first.
#[derive(Default)]
pub struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Append the low `bits` bits of `value`, most significant first.
    pub fn write(&mut self, bits: u32, value: u32) {
        for i in (0..bits).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1) as u64;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }
    /// ue(v): unsigned Exp-Golomb (§9.1).
    pub fn write_ue(&mut self, v: u32) {
        let x = v as u64 + 1;
        let len = 64 - x.leading_zeros(); // bits of x
        self.write(len - 1, 0);
        for i in (0..len).rev() {
            self.write(1, ((x >> i) & 1) as u32);
        }
    }
    /// se(v): signed Exp-Golomb (§9.1.1).
    pub fn write_se(&mut self, v: i32) {
        let k = if v > 0 { 2 * v as i64 - 1 } else { -2 * v as i64 };
        self.write_ue(k as u32);
    }
    /// Pads with zero bits to a byte boundary and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn exp_golomb() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0000]);
        assert_eq!(r.read_ue(), Ok(0));
        assert_eq!(r.read_ue(), Ok(1));
        assert_eq!(r.read_ue(), Ok(2));
        assert_eq!(r.read_ue(), Ok(3));
        let mut r = BitReader::new(&[0]);
        assert_eq!(r.read_ue(), Err(OutOfBits));
        // The writer is the reader's inverse.
        let mut w = BitWriter::new();
        let vals = [0u32, 1, 2, 3, 7, 8, 254, 3600, 65535, 1 << 20];
        vals.iter().for_each(|&v| w.write_ue(v));
        [0i32, 1, -1, 2, -26, 25].iter().for_each(|&v| w.write_se(v));
        w.write(1, 1);
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for &v in &vals {
            assert_eq!(r.read_ue(), Ok(v));
        }
        for v in [0i32, 1, -1, 2, -26, 25] {
            assert_eq!(r.read_se(), Ok(v));
        }
        assert_eq!(r.read_bit(), Ok(1));
        let mut r = BitReader::new(&[0b0100_1100]);
        assert_eq!(r.read_se(), Ok(1));
        assert_eq!(r.read_se(), Ok(-1));
    }
    #[test]
    fn writer_roundtrip() {
        let mut w = BitWriter::new();
        w.write(5, 2);
        w.write(4, 4);
        w.write(4, 2);
        let b = w.finish();
        let mut r = BitReader::new(&b);
        assert_eq!(r.read(5), Ok(2));
        assert_eq!(r.read(4), Ok(4));
        assert_eq!(r.read(4), Ok(2));
    }
}
