//! Fuzz-style property tests of every parser of untrusted bytes in la-data: IDX files (raw
//! and gzipped), the CSV table of contents, images through `Decoder` (PNG, JPEG and the JPEG
//! marker walk behind it) and the row selection syntax. Each starts from a valid input built
//! here and checks, over a few hundred seeded mutations (see `mutate/mod.rs`), that the parser
//! returns `Ok` or a typed error naming the file, and never panics. Huge declared sizes are
//! refused before anything is allocated in proportion to them: this binary's allocator records
//! the largest single allocation of each thread.

mod common;
mod mutate;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::Path;

use la_data::{CsvSource, Decoder, Error, IdxSource, Selection, Strictness, Verify};
use rand::Rng;
use tempfile::TempDir;

use common::{gradient, jpeg_bytes, png_claiming, with_exif_orientation};
use mutate::{Case, Field};

/// Forwards to the system allocator and records the largest single request of each thread.
struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// The largest single allocation this thread makes while running `f`.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

/// `Ok` if `err`'s message names one of `paths`.
fn names_one_of(err: &Error, paths: &[&Path]) -> Result<(), String> {
    let message = err.to_string();
    if paths
        .iter()
        .any(|p| message.contains(&p.display().to_string()))
    {
        return Ok(());
    }
    Err(format!("the error does not name the file: {message}"))
}

// ---- IDX ----

fn idx(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(values);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A mutated IDX file: the raw bytes mutated, then maybe gzipped; or the gzipped bytes
/// mutated; or random bytes.
fn mutated_idx(case: &mut Case, valid: &[u8], ndim: usize) -> Vec<u8> {
    let fields: Vec<Field> = (0..=ndim).map(|d| Field::be(4 * d, 4)).collect();
    match case.rng().random_range(0..4) {
        0 => case.mutate(valid, &fields),
        1 => {
            case.note("gzipped after");
            gzip(&case.mutate(valid, &fields))
        }
        2 => {
            case.note("gzipped before");
            case.mutate(&gzip(valid), &[])
        }
        _ => case.random_bytes(64),
    }
}

#[test]
fn idx_files_never_panic() {
    const IMAGES: u32 = 0x0803;
    const LABELS: u32 = 0x0801;
    let values: Vec<u8> = (0..3 * 5 * 4).map(|v| (v * 7) as u8).collect();
    let images = idx(IMAGES, &[3, 5, 4], &values);
    let labels = idx(LABELS, &[3], &[0, 2, 1]);
    let dir = TempDir::new().unwrap();
    let (images_path, labels_path) = (dir.path().join("images.idx"), dir.path().join("labels.gz"));
    mutate::run("idx", 1000, 400, |case| {
        let (i, l) = match case.rng().random_range(0..3) {
            0 => (mutated_idx(case, &images, 3), gzip(&labels)),
            1 => (images.clone(), mutated_idx(case, &labels, 1)),
            _ => (mutated_idx(case, &images, 3), mutated_idx(case, &labels, 1)),
        };
        std::fs::write(&images_path, &i).unwrap();
        std::fs::write(&labels_path, &l).unwrap();
        let mut source = IdxSource::new(&images_path);
        if case.rng().random_bool(0.7) {
            source.labels(&labels_path);
        }
        if case.rng().random_bool(0.5) {
            source.limit(case.rng().random_range(0..4));
        }
        match source.build() {
            Ok(dataset) => {
                for item in 0..dataset.len().min(3) {
                    let image = dataset
                        .decode(item, &Decoder::default())
                        .map_err(|e| format!("a built data set fails to decode: {e}"))?;
                    if image.width() % 32 != 0 || image.height() % 32 != 0 {
                        return Err(format!("item {item} is {:?}", image.dimensions()));
                    }
                }
                Ok(())
            }
            Err(err) => names_one_of(&err, &[&images_path, &labels_path]),
        }
    });
}

#[test]
fn idx_header_declaring_huge_dims_is_refused_before_allocating() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("huge.idx");
    let body = vec![0u8; 1 << 20];
    let cases = [
        // (dims, the values that follow, gzipped)
        (vec![u32::MAX; 3], &body[..100], false),
        (vec![u32::MAX; 3], &body[..100], true),
        (vec![60_000, 60_000, 60_000], &body[..], false),
        // 1 GiB declared, a megabyte of zeros (a kilobyte gzipped) present.
        (vec![1, 1 << 15, 1 << 15], &body[..], true),
    ];
    for (dims, values, gzipped) in cases {
        let raw = idx(0x0803, &dims, values);
        let bytes = if gzipped { gzip(&raw) } else { raw };
        std::fs::write(&path, &bytes).unwrap();
        let (result, largest) = largest_allocation(|| IdxSource::new(&path).build());
        let err = result.unwrap_err();
        // In u128, the product of three u32 cannot overflow; the error saturates at u64::MAX.
        let implied = 16 + dims.iter().map(|&d| u128::from(d)).product::<u128>();
        assert!(
            matches!(&err, Error::IdxLength { found, expected, .. }
                if *found == 16 + values.len() as u64 && u128::from(*expected) == implied.min(u64::MAX.into())),
            "{err}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
        // The file itself is read whole (at most 1 MiB); nothing in proportion to the claim.
        assert!(
            largest <= 3 << 20,
            "{dims:?}: largest allocation {largest} bytes"
        );
    }
}

#[test]
fn idx_of_no_images_of_a_huge_size_is_refused() {
    // A header alone is a complete file of 0 images; 65536 x 65536 does not fit in u32.
    let dir = TempDir::new().unwrap();
    let path = common::write(
        dir.path(),
        "none.idx",
        &idx(0x0803, &[0, 1 << 16, 1 << 16], &[]),
    );
    for limit in [None, Some(0), Some(5)] {
        let mut source = IdxSource::new(&path);
        if let Some(n) = limit {
            source.limit(n);
        }
        let err = source.build().unwrap_err();
        assert!(matches!(err, Error::NoImages { .. }), "{err}");
        assert_eq!(err.path(), Some(path.as_path()));
    }
}

// ---- CSV table of contents ----

/// A folder with three small images and a valid table of contents listing them.
fn csv_folder() -> (TempDir, Vec<u8>) {
    let dir = TempDir::new().unwrap();
    common::write_png(dir.path(), "a.png", &gradient(16, 20, 1));
    common::write_png(dir.path(), "sub/b.png", &gradient(24, 16, 2));
    common::write_jpeg(dir.path(), "c.jpg", &gradient(20, 20, 3));
    let csv = "Family,Genus,ImageName\n\
               Amanitaceae,Amanita,a.png\n\
               Boletaceae,\"Bole,tus\",sub/b.png\n\
               \"Amanitaceae\",,c.jpg\n";
    (dir, csv.as_bytes().to_vec())
}

/// Bytes that matter to a CSV parser, inserted at random places.
const CSV_TOKENS: [&[u8]; 9] = [
    b"\"",
    b",",
    b"\n",
    b"\r\n",
    b"\"\"",
    b"\xff\xfe",
    b"\0",
    b"\xc3",
    b"Genus",
];

#[test]
fn csv_table_of_contents_never_panics() {
    let (dir, valid) = csv_folder();
    let csv = dir.path().join("toc.csv");
    mutate::run("csv", 2000, 300, |case| {
        let mut bytes = case.mutate(&valid, &[]);
        for _ in 0..case.rng().random_range(0..3) {
            let token = CSV_TOKENS[case.rng().random_range(0..CSV_TOKENS.len())];
            let at = case.rng().random_range(0..=bytes.len());
            case.note(format_args!(
                "insert {:?} at {at}",
                String::from_utf8_lossy(token)
            ));
            bytes.splice(at..at, token.iter().copied());
        }
        std::fs::write(&csv, &bytes).unwrap();
        let mut source = CsvSource::new(&csv);
        if case.rng().random_bool(0.5) {
            source.label_column("Genus");
        }
        if case.rng().random_bool(0.3) {
            source.select("Family=Amanitaceae".parse().unwrap());
        }
        if case.rng().random_bool(0.3) {
            source.strictness(Strictness::Strict);
        }
        if case.rng().random_bool(0.3) {
            source.verify(Verify::Decode);
        }
        match source.build() {
            Ok(dataset) if dataset.is_empty() => Err("an empty data set".into()),
            Ok(_) => Ok(()),
            // An image's own error names the image; everything else names the table.
            Err(err) if err.path().is_some_and(|p| p.starts_with(dir.path())) => Ok(()),
            Err(err) => names_one_of(&err, &[&csv]),
        }
    });
}

#[test]
fn header_only_csv_says_it_has_no_rows() {
    let (dir, _) = csv_folder();
    let csv = dir.path().join("toc.csv");
    for header in [
        "Family,Genus,ImageName\n",
        "Genus,ImageName",
        "ImageName,Genus\r\n",
    ] {
        std::fs::write(&csv, header).unwrap();
        for label in [false, true] {
            let mut source = CsvSource::new(&csv);
            if label {
                source.label_column("Genus");
            }
            let err = source.build().unwrap_err();
            assert!(matches!(err, Error::NoImages { .. }), "{header:?}: {err}");
            assert_eq!(err.path(), Some(csv.as_path()));
            assert!(err.to_string().contains("no rows"), "{err}");
        }
    }
}

#[test]
fn odd_csv_tables_give_typed_errors_naming_the_table() {
    let (dir, _) = csv_folder();
    let csv = dir.path().join("toc.csv");
    let build = |text: &[u8]| {
        std::fs::write(&csv, text).unwrap();
        CsvSource::new(&csv).label_column("Genus").build()
    };
    let kind = |err: &Error| match err {
        Error::MissingColumn { .. } => "missing column",
        Error::Csv { .. } => "parse",
        Error::NoImages { .. } => "no image",
        _ => "other",
    };
    // (table, the kind of error expected)
    let cases: [(&[u8], &str); 6] = [
        (b"", "missing column"),
        (b"Genus,Image\nAmanita,a.png\n", "missing column"),
        (b"Genus,ImageName\nAmanita,a.png,extra\n", "parse"),
        (b"Genus,ImageName\nAman\xffita,a.png\n", "parse"),
        (b"Genus,ImageName\n\xc3\x28,a.png\n", "parse"),
        (b"Genus,ImageName\n,\n", "no image"),
    ];
    for (text, expected) in cases {
        let err = build(text).unwrap_err();
        assert_eq!(
            kind(&err),
            expected,
            "{:?}: {err}",
            String::from_utf8_lossy(text)
        );
        assert!(names_one_of(&err, &[&csv]).is_ok(), "{err}");
    }
    // Odd quoting and empty cells that are still valid CSV.
    let dataset = build(b"Genus,ImageName\n\"Ama\"\"nita\",\"a.png\"\n,sub/b.png\n").unwrap();
    assert_eq!(dataset.len(), 2);
    assert_eq!(dataset.class_names(), ["Ama\"nita"]);
    assert_eq!(dataset.labels(), [Some(0), None]);
}

// ---- Images ----

/// Small limits, so that a mutated size field cannot make a case slow.
const SMALL: Decoder = Decoder {
    max_side: 256,
    max_pixels: 1 << 16,
    min_side: 16,
};

fn png_bytes(image: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The chunks of a PNG as (offset, data length) while they fit in the bytes.
fn png_chunks(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        if at + 12 + len > bytes.len() {
            break;
        }
        chunks.push((at, len));
        at += 12 + len;
    }
    chunks
}

/// Every chunk length field, and the IHDR width and height.
fn png_fields(bytes: &[u8]) -> Vec<Field> {
    let mut fields: Vec<Field> = png_chunks(bytes)
        .into_iter()
        .map(|(at, _)| Field::be(at, 4))
        .collect();
    fields.extend([Field::be(16, 4), Field::be(20, 4)]);
    fields
}

/// Recomputes the CRC of every chunk that still parses, so that a mutation reaches the
/// decoder past the CRC check.
fn fix_png_crcs(bytes: &mut [u8]) {
    for (at, len) in png_chunks(bytes) {
        let mut crc = flate2::Crc::new();
        crc.update(&bytes[at + 4..at + 8 + len]);
        bytes[at + 8 + len..at + 12 + len].copy_from_slice(&crc.sum().to_be_bytes());
    }
}

/// The segments before the scan as (offset of the marker, marker byte).
fn jpeg_segments(bytes: &[u8]) -> Vec<(usize, u8)> {
    let mut segments = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xff && bytes[at + 1] != 0xda {
        segments.push((at, bytes[at + 1]));
        at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
    }
    segments
}

/// Offset of the SOF0 height (the width follows).
fn jpeg_sof0_size(bytes: &[u8]) -> Option<usize> {
    jpeg_segments(bytes)
        .into_iter()
        .find(|&(_, marker)| marker == 0xc0)
        .map(|(at, _)| at + 5)
}

/// Every segment length field before the scan, and the SOF0 height and width.
fn jpeg_fields(bytes: &[u8]) -> Vec<Field> {
    let mut fields: Vec<Field> = jpeg_segments(bytes)
        .into_iter()
        .map(|(at, _)| Field::be(at + 2, 2))
        .collect();
    if let Some(at) = jpeg_sof0_size(bytes) {
        fields.extend([Field::be(at, 2), Field::be(at + 2, 2)]);
    }
    fields
}

/// Decodes `bytes` as the file `name` in memory and from disk (probe and decode): each must
/// give an image within the limits or an error naming the file.
fn check_image(dir: &Path, name: &str, bytes: &[u8], decoder: &Decoder) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let within = |w: u32, h: u32| {
        let ok = w.max(h) <= decoder.max_side && w.min(h) >= decoder.min_side;
        ok.then_some(())
            .ok_or_else(|| format!("accepted a {w}x{h} image"))
    };
    let named = |err: Error| {
        if err.path() != Some(path.as_path()) {
            return Err(format!("the error is about {:?}: {err}", err.path()));
        }
        names_one_of(&err, &[&path])
    };
    match decoder.decode_bytes(bytes, &path) {
        Ok(image) => within(image.width(), image.height())?,
        Err(err) => named(err)?,
    }
    match decoder.probe(&path) {
        Ok((w, h)) => within(w, h)?,
        Err(err) => named(err)?,
    }
    match decoder.decode(&path) {
        Ok(image) => within(image.width(), image.height()),
        Err(err) => named(err),
    }
}

#[test]
fn decoding_mutated_png_and_jpeg_never_panics() {
    let rgb = gradient(40, 32, 5);
    let rgba = image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(24, 20, |x, y| {
        image::Rgba([x as u8 * 9, y as u8 * 11, 77, (x * y) as u8])
    }));
    let gray16 = image::DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(20, 18, |x, y| {
        image::Luma([(x * 3000 + y * 7) as u16])
    }));
    let pngs = [
        png_bytes(&image::DynamicImage::ImageRgb8(rgb.clone())),
        png_bytes(&rgba),
        png_bytes(&gray16),
    ];
    let jpegs = [
        jpeg_bytes(&rgb),
        with_exif_orientation(&jpeg_bytes(&rgb), 6),
    ];
    let dir = TempDir::new().unwrap();
    mutate::run("png", 3000, 300, |case| {
        let valid = &pngs[case.rng().random_range(0..pngs.len())];
        let mut bytes = case.mutate(valid, &png_fields(valid));
        if case.rng().random_bool(0.6) {
            case.note("CRCs fixed");
            fix_png_crcs(&mut bytes);
        }
        check_image(dir.path(), "case.png", &bytes, &SMALL)
    });
    mutate::run("jpeg", 4000, 300, |case| {
        let valid = &jpegs[case.rng().random_range(0..jpegs.len())];
        let bytes = case.mutate(valid, &jpeg_fields(valid));
        check_image(dir.path(), "case.jpg", &bytes, &SMALL)
    });
}

#[test]
fn decoding_random_bytes_never_panics() {
    let dir = TempDir::new().unwrap();
    let prefixes: [&[u8]; 5] = [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8",
        b"\xff\xd8\xff",
        b"GIF89a",
    ];
    mutate::run("random image", 5000, 300, |case| {
        let prefix = prefixes[case.rng().random_range(0..prefixes.len())];
        let mut bytes = prefix.to_vec();
        bytes.extend(case.random_bytes(300));
        let name = ["x.png", "x.jpg", "x.bin"][case.rng().random_range(0..3)];
        check_image(dir.path(), name, &bytes, &SMALL)
    });
}

/// A baseline JPEG whose SOF0 claims `width` x `height` pixels.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg_bytes(&gradient(16, 16, 0));
    let at = jpeg_sof0_size(&bytes).expect("the encoder writes a SOF0 segment");
    bytes[at..at + 2].copy_from_slice(&height.to_be_bytes());
    bytes[at + 2..at + 4].copy_from_slice(&width.to_be_bytes());
    bytes
}

#[test]
fn decompression_bomb_headers_are_refused_by_the_limits() {
    let dir = TempDir::new().unwrap();
    let bombs = [
        ("bomb.png", png_claiming(60_000, 60_000)),
        ("bomb.jpg", jpeg_claiming(60_000, 60_000)),
        // Under the side limit, over the pixel count (Pillow's decompression-bomb threshold).
        ("wide.png", png_claiming(30_000, 30_000)),
        ("wide.jpg", jpeg_claiming(30_000, 30_000)),
    ];
    for (name, bytes) in bombs {
        let path = common::write(dir.path(), name, &bytes);
        let decoder = Decoder::default();
        let (results, largest) = largest_allocation(|| {
            [
                decoder.decode_bytes(&bytes, &path).map(drop),
                decoder.decode(&path).map(drop),
                decoder.probe(&path).map(drop),
            ]
        });
        for result in results {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::TooLarge { .. }), "{name}: {err}");
            assert!(err.to_string().contains(&path.display().to_string()));
        }
        assert!(
            largest < 1 << 20,
            "{name}: largest allocation {largest} bytes"
        );
    }
}

// ---- Row selections ----

#[test]
fn selection_parsing_never_panics_and_round_trips() {
    let pieces = [
        "Family",
        "=",
        ",",
        " ",
        "\t",
        "Amanitaceae",
        "é",
        "\u{200b}",
        "\0",
        "\"",
        "==",
        ",,",
    ];
    mutate::run("selection", 6000, 500, |case| {
        let n = case.rng().random_range(0..8);
        let spec: String = (0..n)
            .map(|_| pieces[case.rng().random_range(0..pieces.len())])
            .collect();
        case.note(format_args!("{spec:?}"));
        match spec.parse::<Selection>() {
            Ok(s) => {
                let again: Selection = s.to_string().parse().map_err(|e| format!("{e}"))?;
                if again != s || s.column().is_empty() || s.values().iter().any(String::is_empty) {
                    return Err(format!("{s:?} printed as {s} parses as {again:?}"));
                }
                Ok(())
            }
            Err(Error::InvalidSelection { .. }) => Ok(()),
            Err(err) => Err(format!("not an InvalidSelection: {err}")),
        }
    });
}
