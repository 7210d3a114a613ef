//! A structural check of JPEG files: that the marker sequence reaches the end-of-image marker.
//!
//! The JPEG decoder is lenient: a file cut short decodes "successfully", the missing part
//! filled with gray. Walking the markers (no decoding: segment lengths are skipped, the
//! entropy-coded data scanned for the next marker) finds such files for the cost of one pass
//! over the bytes. Data after the end-of-image marker (as in phones' "motion photos") is fine.

/// `Err` with the reason if `bytes` start like a JPEG (SOI marker) but are cut short.
/// Other formats pass.
pub(crate) fn check_complete(bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(&[0xff, 0xd8]) {
        return Ok(());
    }
    let cut = |what: &str| Err(format!("the file ends inside {what}: it is truncated"));
    let mut i = 2;
    loop {
        // Extraneous bytes between segments are tolerated, as libjpeg does (with a warning).
        while i < bytes.len() && bytes[i] != 0xff {
            i += 1;
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while i < bytes.len() && bytes[i] == 0xff {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return cut("the marker sequence, before the end-of-image marker");
        };
        i += 1;
        match marker {
            0xd9 => return Ok(()),
            0xd0..=0xd7 | 0x01 => {}
            _ => {
                let Some(len) = bytes.get(i..i + 2) else {
                    return cut("a segment header");
                };
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                if len < 2 || i + len > bytes.len() {
                    return cut(&format!("segment 0xFF{marker:02X}"));
                }
                i += len;
                if marker == 0xda {
                    i = skip_entropy_coded(bytes, i);
                }
            }
        }
    }
}

/// The position of the first marker after entropy-coded data starting at `i` (stuffed
/// `FF 00` bytes and restart markers belong to the data), or the end of `bytes`.
fn skip_entropy_coded(bytes: &[u8], mut i: usize) -> usize {
    while i + 1 < bytes.len() {
        if bytes[i] == 0xff {
            match bytes[i + 1] {
                0x00 | 0xd0..=0xd7 => i += 2,
                _ => return i,
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made marker sequence: SOI, APP0 (length 4), SOS (length 3) then entropy data
    /// with a stuffed byte and a restart marker, then EOI.
    const MINIMAL: [u8; 19] = [
        0xff, 0xd8, // SOI
        0xff, 0xe0, 0x00, 0x04, 0xaa, 0xbb, // APP0
        0xff, 0xda, 0x00, 0x03, 0x01, // SOS header
        0x12, 0xff, 0x00, 0xff, 0xd0, // data: stuffed FF, RST0
        0x34,
    ];

    #[test]
    fn complete_sequences_pass_and_cut_ones_fail() {
        let mut full = MINIMAL.to_vec();
        full.extend([0xff, 0xd9]);
        assert_eq!(check_complete(&full), Ok(()));
        // Trailing data after EOI (an appended video, padding) is fine.
        let mut trailing = full.clone();
        trailing.extend(b"ftypmp42 and more");
        assert_eq!(check_complete(&trailing), Ok(()));
        // Every proper prefix is truncated.
        for n in 2..full.len() {
            assert!(check_complete(&full[..n]).is_err(), "prefix of {n} bytes");
        }
        // Not a JPEG: not our business.
        assert_eq!(check_complete(b"\x89PNG"), Ok(()));
    }

    #[test]
    fn real_encoder_output_passes_and_its_halves_fail() {
        let image =
            image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([x as u8 * 5, y as u8 * 6, 200]));
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&image)
            .unwrap();
        assert_eq!(check_complete(&bytes), Ok(()));
        assert!(check_complete(&bytes[..bytes.len() / 2]).is_err());
        assert!(check_complete(&bytes[..bytes.len() - 1]).is_err());
    }
}
