//! The two 64-byte rolling hashes behind kopia's dynamic splitters.
//!
//! Both are pure functions of the last 64 bytes rolled in, so the splitter can
//! skip bytes freely as long as it rebuilds the hash from the right window.

use super::buzhash_table::BUZHASH32_TABLE;

/// Rolling window size of every dynamic splitter (bytes).
pub const WINDOW_SIZE: usize = 64;

/// Modulus of the rabinkarp64 hash: the polynomial rollinghash v4.0.0
/// `rabinkarp64.New()` derives from Go `math/rand` seed 1 (degree 53).
pub const RABINKARP64_POLYNOMIAL: u64 = 0x2e_3e3e_4a30_5605;

const RK_DEGREE: u32 = 63 - RABINKARP64_POLYNOMIAL.leading_zeros();
/// Shift that brings the top 8 bits of a reduced value down to 0..=255.
const RK_TOP_SHIFT: u32 = RK_DEGREE - 8;

/// `x^k · b mod P` for a byte `b`, by repeated doubling (compile time only).
const fn rk_shifted_byte(b: u64, k: u32) -> u64 {
    let mut v = b;
    let mut i = 0;
    while i < k {
        v <<= 1;
        if v & (1 << RK_DEGREE) != 0 {
            v ^= RABINKARP64_POLYNOMIAL;
        }
        i += 1;
    }
    v
}

/// `MOD[t]` clears bits `53..61` holding `t` and adds `t · x^53 mod P`.
const RK_MOD_TABLE: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ((i as u64) << RK_DEGREE) ^ rk_shifted_byte(i as u64, RK_DEGREE);
        i += 1;
    }
    t
};

/// `OUT[b] = b · x^(8·64) mod P`: the leaving byte's term after the next shift by `x^8`.
const RK_OUT_TABLE: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = rk_shifted_byte(i as u64, 8 * WINDOW_SIZE as u32);
        i += 1;
    }
    t
};

/// A rolling hash over a 64-byte window, in the form the splitter's inner loop needs.
pub(crate) trait Roll {
    /// Hash of a whole window (oldest byte first).
    fn of_window(window: &[u8; WINDOW_SIZE]) -> u64;
    /// Hash after `incoming` enters and `outgoing` (the byte 64 positions earlier) leaves.
    fn roll(h: u64, outgoing: u8, incoming: u8) -> u64;
}

/// buzhash32: `H' = rotl32(H, 1) ^ T[out] ^ T[in]` (the leaving byte's rotation is 64 mod 32 = 0).
#[derive(Debug, Clone)]
pub(crate) struct Buz;

impl Roll for Buz {
    fn of_window(window: &[u8; WINDOW_SIZE]) -> u64 {
        let mut h = 0u32;
        for (j, &b) in window.iter().enumerate() {
            h ^= BUZHASH32_TABLE[b as usize].rotate_left(((WINDOW_SIZE - 1 - j) % 32) as u32);
        }
        h as u64
    }

    #[inline(always)]
    fn roll(h: u64, outgoing: u8, incoming: u8) -> u64 {
        // Combine the two table values first: the loop-carried chain is then only
        // rotate + xor (2 cycles) instead of rotate + xor + xor.
        let d = BUZHASH32_TABLE[outgoing as usize] ^ BUZHASH32_TABLE[incoming as usize];
        ((h as u32).rotate_left(1) ^ d) as u64
    }
}

/// rabinkarp64: `H' = (H · x^8 + in) mod P`, minus the leaving byte's term.
#[derive(Debug, Clone)]
pub(crate) struct Rabin;

impl Roll for Rabin {
    fn of_window(window: &[u8; WINDOW_SIZE]) -> u64 {
        window.iter().fold(0u64, |h, &b| rk_append(h, b))
    }

    #[inline(always)]
    fn roll(h: u64, outgoing: u8, incoming: u8) -> u64 {
        rk_append(h, incoming) ^ RK_OUT_TABLE[outgoing as usize]
    }
}

#[inline(always)]
fn rk_append(h: u64, b: u8) -> u64 {
    ((h << 8) | b as u64) ^ RK_MOD_TABLE[((h >> RK_TOP_SHIFT) & 0xff) as usize]
}

/// A rolling hash `R` with its own 64-byte window, starting like an object's
/// splitter: window of zero bytes, hash 0.
#[derive(Debug, Clone)]
struct Window<R> {
    window: [u8; WINDOW_SIZE],
    oldest: usize,
    sum: u64,
    hash: std::marker::PhantomData<R>,
}

impl<R: Roll> Window<R> {
    fn new() -> Self {
        Window {
            window: [0; WINDOW_SIZE],
            oldest: 0,
            sum: 0,
            hash: std::marker::PhantomData,
        }
    }

    fn roll(&mut self, b: u8) {
        let out = self.window[self.oldest];
        self.window[self.oldest] = b;
        self.oldest = (self.oldest + 1) % WINDOW_SIZE;
        self.sum = R::roll(self.sum, out, b);
    }
}

/// buzhash32 rolling hash with its own window, as `rollinghash/buzhash32` computes it.
///
/// Starts like an object's splitter: window = 64 zero bytes, hash 0. Mainly for
/// debugging and tests; the splitter itself does not keep a per-byte window.
#[derive(Debug, Clone)]
pub struct Buzhash32(Window<Buz>);

impl Default for Buzhash32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Buzhash32 {
    /// A hash over 64 zero bytes (value 0).
    pub fn new() -> Self {
        Buzhash32(Window::new())
    }

    /// Rolls one byte in (and the oldest one out).
    pub fn roll(&mut self, b: u8) {
        self.0.roll(b);
    }

    /// The current hash value (rollinghash `Sum32`).
    pub fn sum32(&self) -> u32 {
        self.0.sum as u32
    }
}

/// rabinkarp64 rolling hash with its own window, as `rollinghash/rabinkarp64` computes it.
///
/// Starts like an object's splitter: window = 64 zero bytes, hash 0.
#[derive(Debug, Clone)]
pub struct RabinKarp64(Window<Rabin>);

impl Default for RabinKarp64 {
    fn default() -> Self {
        Self::new()
    }
}

impl RabinKarp64 {
    /// A hash over 64 zero bytes (value 0).
    pub fn new() -> Self {
        RabinKarp64(Window::new())
    }

    /// Rolls one byte in (and the oldest one out).
    pub fn roll(&mut self, b: u8) {
        self.0.roll(b);
    }

    /// The current hash value (rollinghash `Sum64`), always below 2^53.
    pub fn sum64(&self) -> u64 {
        self.0.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_of(bytes: &[u8]) -> [u8; WINDOW_SIZE] {
        let mut w = [0u8; WINDOW_SIZE];
        let n = bytes.len().min(WINDOW_SIZE);
        w[WINDOW_SIZE - n..].copy_from_slice(&bytes[bytes.len() - n..]);
        w
    }

    #[test]
    fn zero_window_hashes_to_zero() {
        assert_eq!(Buz::of_window(&[0; WINDOW_SIZE]), 0);
        assert_eq!(Rabin::of_window(&[0; WINDOW_SIZE]), 0);
    }

    #[test]
    fn rolling_equals_window_hash() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut b = Buzhash32::new();
        let mut r = RabinKarp64::new();
        for i in 0..data.len() {
            b.roll(data[i]);
            r.roll(data[i]);
            let w = window_of(&data[..=i]);
            assert_eq!(b.sum32() as u64, Buz::of_window(&w), "buzhash at {i}");
            assert_eq!(r.sum64(), Rabin::of_window(&w), "rabinkarp at {i}");
            assert!(r.sum64() < 1 << 53);
        }
    }

    #[test]
    fn polynomial_degree() {
        assert_eq!(RK_DEGREE, 53);
        assert_eq!(RK_OUT_TABLE[0], 0);
        assert_eq!(RK_MOD_TABLE[0], 0);
    }
}
