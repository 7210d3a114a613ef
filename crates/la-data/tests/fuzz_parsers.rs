//! Fuzz-style property tests of the parsers of untrusted bytes in la-data other than image
//! decoding (in `fuzz_images.rs`): IDX files (raw and gzipped), the CSV table of contents and
//! the row selection syntax. Each starts from a valid input built here and checks, over a few
//! hundred seeded mutations (see `mutate/mod.rs`), that the parser returns `Ok` or a typed
//! error naming the file, and never panics. A huge declared IDX size is refused before
//! anything is allocated in proportion to it.

mod common;
mod largest;
mod mutate;

use std::io::Write;
use std::path::Path;

use la_data::{CsvSource, Decoder, Error, IdxSource, Selection, Strictness, Verify};
use rand::Rng;
use tempfile::TempDir;

use common::gradient;
use largest::largest_allocation;
use mutate::{Case, Field};

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
