//! Writing HTML by hand: escaping, the shell every page shares (head, inline style, links
//! between the pages) and the small pieces several pages draw.

use std::fmt::Write;

/// `text` with the five characters that mean something in HTML (`& < > " '`) replaced by
/// their entities: safe inside an element and inside a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The style of every page: small, inline, no web fonts. Thumbnails of tiny images are
/// scaled up without smoothing.
const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222;background:#fafafa}
nav{padding:.6em 0;border-bottom:1px solid #ddd;margin-bottom:1em}
nav a{margin-right:1.2em}
h1{font-size:1.5em}h2{font-size:1.2em;margin:1.2em 0 .4em}
a{color:#1a5fb4}
table{border-collapse:collapse;margin:.4em 0}
td,th{padding:.2em .7em;text-align:right;border-bottom:1px solid #e4e4e4}
th:first-child,td:first-child{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:1em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em;width:36em}
.card h2{margin:0 0 .3em}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;vertical-align:-1px;margin-right:.3em}
.strip{display:flex;gap:3px;margin:.4em 0;overflow:hidden}
.strip img,.strip .noimg{width:60px;height:60px}
.grid{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:132px;background:#fff;border:1px solid #ddd;border-radius:4px;padding:4px}
figure img,figure .noimg{width:128px;height:128px}
img{object-fit:contain;image-rendering:pixelated;background:#eee;display:block}
figcaption{font-size:11px;overflow-wrap:anywhere;line-height:1.3}
figure.low{border:2px solid #c01c28}
.flag{color:#c01c28;font-weight:600}
.noimg{background:#eee;color:#777;font-size:11px;display:flex;align-items:center;justify-content:center}
.bar{display:flex;height:.8em;width:100%;border-radius:2px;overflow:hidden;margin:.2em 0}
.pairs{display:flex;flex-wrap:wrap;gap:1em}
.pair{display:flex;gap:4px;background:#fff;border:1px solid #ddd;padding:4px;align-items:center}
.note{background:#fff7e0;border-left:3px solid #e5a50a;padding:.3em .6em;margin:.3em 0}
.muted{color:#666}
";

/// The pages every page links to: (file, title).
pub struct Nav {
    /// Whether duplicates.html exists.
    pub duplicates: bool,
}

/// The start of a page titled `title`: doctype, head with the style, the links to the other
/// pages, and the heading.
pub fn page_start(title: &str, nav: &Nav) -> String {
    let mut s = String::with_capacity(8 * 1024);
    let title = escape(title);
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<nav>\
         <a href=\"index.html\">Overview</a><a href=\"index.html#map\">Map</a>\
         <a href=\"outliers.html\">Outliers</a>"
    );
    if nav.duplicates {
        s.push_str("<a href=\"duplicates.html\">Near-duplicates</a>");
    }
    let _ = write!(s, "</nav>\n<h1>{title}</h1>\n");
    s
}

/// The end of a page.
pub fn page_end(mut s: String) -> String {
    s.push_str("</body>\n</html>\n");
    s
}

/// A thumbnail: the image of `item` when one was made (`size`: its width and height), else
/// a grey box saying so. `alt` is the item's name (escaped here); `class` styles its size.
pub fn thumb(item: usize, size: Option<(u32, u32)>, alt: &str) -> String {
    match size {
        Some((w, h)) => format!(
            "<img src=\"{}\" width=\"{w}\" height=\"{h}\" alt=\"{}\" title=\"{}\" loading=\"lazy\">",
            super::thumbs::file_name(item),
            escape(alt),
            escape(alt)
        ),
        None => format!(
            "<div class=\"noimg\" title=\"{}\">no image</div>",
            escape(alt)
        ),
    }
}

/// A coloured square.
pub fn swatch(colour: [u8; 3]) -> String {
    format!(
        "<span class=\"swatch\" style=\"background:{}\"></span>",
        hex(colour)
    )
}

/// `#rrggbb`.
pub fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The file name of cluster `c`'s page.
pub fn cluster_page(c: u32) -> String {
    format!("cluster_{c:03}.html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_every_special_character_and_nothing_else() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(
            escape("photos/été 2019/IMG_01.jpg"),
            "photos/été 2019/IMG_01.jpg"
        );
        // Already-escaped text is escaped again: the file name is shown as it is.
        assert_eq!(escape("a&amp;b"), "a&amp;amp;b");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn a_thumbnail_escapes_its_name_in_both_attributes() {
        let t = thumb(7, Some((32, 32)), "x\" onerror=\"alert(1)");
        assert!(t.starts_with("<img src=\"thumbs/7.jpg\""), "{t}");
        assert!(!t.contains("\" onerror"), "{t}");
        assert_eq!(t.matches("&quot; onerror=&quot;").count(), 2, "{t}");
        let missing = thumb(7, None, "<b>");
        assert!(
            missing.contains("&lt;b&gt;") && !missing.contains("<img"),
            "{missing}"
        );
    }

    #[test]
    fn page_links_duplicates_only_when_there_are_some() {
        let with = page_end(page_start("A & B", &Nav { duplicates: true }));
        let without = page_start("A", &Nav { duplicates: false });
        assert!(with.contains("<title>A &amp; B</title>") && with.ends_with("</html>\n"));
        assert!(with.contains("duplicates.html") && !without.contains("duplicates.html"));
    }
}
