//! A tiny seeded mutator for the fuzz-style parser tests (`fuzz_parsers.rs` and
//! `fuzz_images.rs` here, `fuzz_parsers.rs` in la-vgg and la-segnet, which include this file by
//! path). Seeded `rand` rather than proptest: no new crates (proptest 1.12 would bring a second
//! rand, 0.10, and regex-syntax), and the mutations wanted (flips, truncations, insertions,
//! length fields) are a few lines each, where proptest's shrinking would add little.
//!
//! Each case starts from a valid input built by the test and applies one to four random
//! mutations: byte flips, bytes set to boundary values, truncation, insertion of random or
//! repeated bytes, deletion, duplication of a chunk, and overwriting a known length field
//! (its position given by the test) with a boundary value. Case `i` of a test is seeded with
//! `seed + i`, so a failure names the seed that reproduces it; [`run`] catches a panic only to
//! say which case it was, and fails the test with every failing case listed.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A length or count field of the valid input: where it is and how it is encoded.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Offset of its first byte.
    pub at: usize,
    /// Width in bytes: 2, 4 or 8.
    pub width: usize,
    /// Byte order.
    pub big_endian: bool,
}

impl Field {
    /// A big-endian field of `width` bytes at `at`.
    pub fn be(at: usize, width: usize) -> Self {
        Field {
            at,
            width,
            big_endian: true,
        }
    }

    /// A little-endian field of `width` bytes at `at`.
    pub fn le(at: usize, width: usize) -> Self {
        Field {
            at,
            width,
            big_endian: false,
        }
    }
}

/// One case's random source and the list of what it did, for the failure message.
pub struct Case {
    rng: StdRng,
    log: String,
}

impl Case {
    /// The case's random numbers.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Notes what the case did (shown if it fails).
    pub fn note(&mut self, what: impl std::fmt::Display) {
        let _ = write!(self.log, "{what}; ");
    }

    /// Random bytes, up to `max_len` of them.
    pub fn random_bytes(&mut self, max_len: usize) -> Vec<u8> {
        let n = self.rng.random_range(0..=max_len);
        self.note(format_args!("{n} random bytes"));
        (0..n).map(|_| self.rng.random()).collect()
    }

    /// A copy of `valid` with one to four mutations; `fields` are its length fields.
    pub fn mutate(&mut self, valid: &[u8], fields: &[Field]) -> Vec<u8> {
        let mut bytes = valid.to_vec();
        for _ in 0..self.rng.random_range(1..=4) {
            self.mutate_once(&mut bytes, fields);
        }
        bytes
    }

    fn mutate_once(&mut self, bytes: &mut Vec<u8>, fields: &[Field]) {
        let len = bytes.len();
        let at = |rng: &mut StdRng| rng.random_range(0..=len.saturating_sub(1));
        match self.rng.random_range(0..8) {
            0 if len > 0 => {
                let (i, bit) = (at(&mut self.rng), self.rng.random_range(0..8));
                bytes[i] ^= 1 << bit;
                self.note(format_args!("flip bit {bit} of byte {i}"));
            }
            1 if len > 0 => {
                let i = at(&mut self.rng);
                let v = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff][self.rng.random_range(0..6)];
                bytes[i] = v;
                self.note(format_args!("byte {i} = {v:#04x}"));
            }
            2 => {
                let n = self.rng.random_range(0..=len);
                bytes.truncate(n);
                self.note(format_args!("truncate to {n}"));
            }
            3 => {
                let i = self.rng.random_range(0..=len);
                let n = self.rng.random_range(1..=16);
                let repeated = self.rng.random_bool(0.5);
                let fill: u8 = self.rng.random();
                let new: Vec<u8> = (0..n)
                    .map(|_| if repeated { fill } else { self.rng.random() })
                    .collect();
                bytes.splice(i..i, new);
                self.note(format_args!("insert {n} bytes at {i}"));
            }
            4 if len > 0 => {
                let i = at(&mut self.rng);
                let n = self.rng.random_range(1..=(len - i).min(64));
                bytes.drain(i..i + n);
                self.note(format_args!("delete {n} bytes at {i}"));
            }
            5 if len > 0 => {
                let i = at(&mut self.rng);
                let n = self.rng.random_range(1..=(len - i).min(64));
                let chunk = bytes[i..i + n].to_vec();
                let to = self.rng.random_range(0..=len);
                bytes.splice(to..to, chunk);
                self.note(format_args!("copy {n} bytes from {i} to {to}"));
            }
            _ if !fields.is_empty() => {
                let field = fields[self.rng.random_range(0..fields.len())];
                self.set_field(bytes, field);
            }
            _ => {}
        }
    }

    /// A copy of `text` with one of its decimal numbers (a shape, an offset, a count) replaced
    /// by a boundary value or a neighbour: a mutation that keeps JSON or CSV well-formed more
    /// often than a byte flip, so that it reaches the checks behind the syntax. `text` is
    /// returned unchanged if it holds no number.
    pub fn mutate_number(&mut self, text: &[u8]) -> Vec<u8> {
        const NUMBERS: [&str; 10] = [
            "0",
            "1",
            "2305843009213693951",
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "1e3",
            "1.5",
            "\"7\"",
        ];
        let starts =
            |i: usize| text[i].is_ascii_digit() && (i == 0 || !text[i - 1].is_ascii_digit());
        let runs: Vec<usize> = (0..text.len()).filter(|&i| starts(i)).collect();
        if runs.is_empty() {
            return text.to_vec();
        }
        let at = runs[self.rng.random_range(0..runs.len())];
        let len = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        let old: u128 = std::str::from_utf8(&text[at..at + len])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u128::MAX);
        let new = match self.rng.random_range(0..3) {
            0 => NUMBERS[self.rng.random_range(0..NUMBERS.len())].to_string(),
            1 => old.saturating_add(1).to_string(),
            _ => old.saturating_sub(1).to_string(),
        };
        self.note(format_args!("number at {at}: {old} -> {new}"));
        let mut out = text.to_vec();
        out.splice(at..at + len, new.bytes());
        out
    }

    /// Overwrites `field` (if the bytes still reach it) with a boundary value or a nearby one.
    fn set_field(&mut self, bytes: &mut [u8], field: Field) {
        let Some(slot) = bytes.get_mut(field.at..field.at + field.width) else {
            return;
        };
        let max = if field.width == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * field.width)) - 1
        };
        let old = read(slot, field.big_endian);
        let value = match self.rng.random_range(0..8) {
            0 => 0,
            1 => 1,
            2 => max,
            3 => max / 2 + 1,
            4 => old.wrapping_add(1) & max,
            5 => old.wrapping_sub(1) & max,
            6 => old.wrapping_mul(2) & max,
            _ => self.rng.random::<u64>() & max,
        };
        for (k, b) in slot.iter_mut().enumerate() {
            let shift = if field.big_endian {
                8 * (field.width - 1 - k)
            } else {
                8 * k
            };
            *b = (value >> shift) as u8;
        }
        self.note(format_args!("field at {} = {value}", field.at));
    }
}

fn read(slot: &[u8], big_endian: bool) -> u64 {
    let fold = |v: u64, b: &u8| (v << 8) | u64::from(*b);
    if big_endian {
        slot.iter().fold(0, fold)
    } else {
        slot.iter().rev().fold(0, fold)
    }
}

/// Runs `cases` cases of `check`, case `i` seeded with `seed + i`. `check` returns `Err`
/// with a reason when the outcome is wrong (e.g. an error that does not name the file); a
/// panic is caught and reported with the case's seed and mutations. Fails the test listing
/// every failing case.
pub fn run(
    name: &str,
    seed: u64,
    cases: u64,
    mut check: impl FnMut(&mut Case) -> Result<(), String>,
) {
    let mut failures = Vec::new();
    for i in 0..cases {
        let mut case = Case {
            rng: StdRng::seed_from_u64(seed + i),
            log: String::new(),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&mut case)));
        let reason = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(reason)) => reason,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(not a string)");
                format!("PANIC: {message}")
            }
        };
        failures.push(format!("{name} seed {}: {}-> {reason}", seed + i, case.log));
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
