//! Markdown output: tables, and generated blocks between `<!-- bench:NAME:begin -->` and
//! `<!-- bench:NAME:end -->` markers that a rerun replaces without touching the text around.

/// A Markdown table.
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Cells, row by row (as many as `header`).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// The table as Markdown, one line per row, `|` inside cells escaped.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.header);
        out += &format!("|{}\n", "---|".repeat(self.header.len()));
        for row in &self.rows {
            out += &line(row);
        }
        out
    }
}

/// `md` with its prose lines wrapped at `width` columns; code fences, table rows and HTML
/// comments are left as they are, and no line is made to start with a character that would
/// change its meaning (a list dash, a heading hash, a table pipe).
pub fn wrap(md: &str, width: usize) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in md.lines() {
        let t = line.trim_start();
        if t.starts_with("```") {
            fenced = !fenced;
        }
        if fenced || t.starts_with("```") || t.starts_with('|') || t.starts_with("<!--") {
            out += line;
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        for word in line.split(' ') {
            let starts_badly = word.starts_with(['-', '#', '|', '>', '+', '*'])
                || word.starts_with("```")
                || word.trim_end_matches('.').parse::<f64>().is_ok() && word.ends_with('.');
            if !current.is_empty() && current.len() + 1 + word.len() > width && !starts_badly {
                out += &current;
                out.push('\n');
                current.clear();
            } else if !current.is_empty() {
                current.push(' ');
            }
            current += word;
        }
        out += &current;
        out.push('\n');
    }
    out
}

/// The opening and closing markers of the generated block `name`: a plain name is a benchmark
/// block (`bench:NAME`), a name with a namespace (`quality:NAME`) is used as it is.
pub fn markers(name: &str) -> (String, String) {
    let id = if name.contains(':') {
        name.to_string()
    } else {
        format!("bench:{name}")
    };
    (format!("<!-- {id}:begin -->"), format!("<!-- {id}:end -->"))
}

/// A heading line outside code fences: byte offset of its start and of the next line, level.
struct Heading<'a> {
    start: usize,
    next: usize,
    level: usize,
    line: &'a str,
}

fn headings(doc: &str) -> Vec<Heading<'_>> {
    let mut out = Vec::new();
    let (mut offset, mut fenced) = (0, false);
    for line in doc.split_inclusive('\n') {
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && text.starts_with('#') {
            let level = text.chars().take_while(|&c| c == '#').count();
            if text[level..].starts_with(' ') {
                out.push(Heading {
                    start: offset,
                    next: offset + line.len(),
                    level,
                    line: text,
                });
            }
        }
        offset += line.len();
    }
    out
}

/// The byte range of the section under the heading line `heading` (heading line included, up to
/// the next heading of the same or a higher level).
fn section(doc: &str, heading: &str) -> Option<std::ops::Range<usize>> {
    let all = headings(doc);
    let i = all.iter().position(|h| h.line == heading)?;
    let end = all[i + 1..]
        .iter()
        .find(|h| h.level <= all[i].level)
        .map_or(doc.len(), |h| h.start);
    Some(all[i].start..end)
}

/// The byte range of block `name`, from the start of its opening marker to the end of its
/// closing one.
fn block(doc: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let (begin, end) = markers(name);
    let start = doc.find(&begin)?;
    let stop = start + doc[start..].find(&end)? + end.len();
    Some(start..stop)
}

/// Whether the section `heading` holds text of its own besides block `name`: hand-written prose
/// (and figures) that the generated block does not replace.
pub fn section_has_prose(doc: &str, heading: &str, name: &str) -> bool {
    let Some(range) = section(doc, heading) else {
        return false;
    };
    let mut text = doc[range.clone()].to_string();
    if let Some(b) = block(doc, name).filter(|b| range.contains(&b.start)) {
        text.replace_range(b.start - range.start..b.end - range.start, "");
    }
    text.lines().skip(1).any(|l| !l.trim().is_empty())
}

/// `doc` with block `name` holding `body`: between its markers where they exist (all other bytes
/// unchanged); otherwise a new block right under the heading line `heading`; otherwise a new
/// section `heading` with the block at the end of the document.
pub fn upsert_block(doc: &str, name: &str, heading: &str, body: &str) -> String {
    let (begin, end) = markers(name);
    let mut body = body.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let content = format!("{begin}\n{body}{end}");
    if let Some(b) = block(doc, name) {
        return format!("{}{content}{}", &doc[..b.start], &doc[b.end..]);
    }
    if let Some(h) = headings(doc).into_iter().find(|h| h.line == heading) {
        let newline = if doc[..h.next].ends_with('\n') {
            ""
        } else {
            "\n"
        };
        return format!("{}{newline}\n{content}\n{}", &doc[..h.next], &doc[h.next..]);
    }
    let mut out = doc.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out + &format!("{heading}\n\n{content}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Benchmarks\n\nIntro.\n\n## la-data\n\nProse | with a pipe,  \
        two spaces.\n\n```\n# not a heading\ncargo run\n```\n\n| old | table |\n|---|---|\n\n\
        ### sub\n\nMore.\n\n## la-cluster\n\nCluster prose.\n";

    #[test]
    fn wraps_prose_only() {
        let md = "one two three four five six\n| a long table row stays as it is |\n```\ncode that is long stays\n```\n<!-- a long comment stays -->\nx - y #z\n";
        assert_eq!(
            wrap(md, 10),
            "one two\nthree four\nfive six\n| a long table row stays as it is |\n```\n\
             code that is long stays\n```\n<!-- a long comment stays -->\nx - y #z\n"
        );
        assert_eq!(
            wrap("aaaa bbbb 1. cc\n", 9),
            "aaaa bbbb 1.\ncc\n",
            "no line starts with 1."
        );
        assert_eq!(wrap("short\n\nnext\n", 80), "short\n\nnext\n");
    }

    #[test]
    fn renders_a_table_escaping_pipes() {
        let mut t = Table::new(&["op", "ms"]);
        t.rows.push(vec!["a|b".into(), "1.5".into()]);
        assert_eq!(t.render(), "| op | ms |\n|---|---|\n| a\\|b | 1.5 |\n");
    }

    #[test]
    fn a_new_block_goes_under_its_heading_and_nothing_else_changes() {
        let out = upsert_block(DOC, "data", "## la-data", "| x |\n");
        let block = "\n<!-- bench:data:begin -->\n| x |\n<!-- bench:data:end -->\n";
        let at = DOC.find("## la-data\n").unwrap() + "## la-data\n".len();
        assert_eq!(out, format!("{}{block}{}", &DOC[..at], &DOC[at..]));
        assert_eq!(out.replacen(block, "", 1), DOC, "prose kept byte for byte");
    }

    #[test]
    fn a_rerun_replaces_only_between_the_markers() {
        let first = upsert_block(DOC, "data", "## la-data", "first\n");
        let second = upsert_block(&first, "data", "## la-data", "second, longer\nbody");
        let (begin, end) = markers("data");
        let (b1, b2) = (first.find(&begin).unwrap(), second.find(&begin).unwrap());
        assert_eq!(first[..b1], second[..b2], "text before the block unchanged");
        let (e1, e2) = (first.find(&end).unwrap(), second.find(&end).unwrap());
        assert_eq!(first[e1..], second[e2..], "text after the block unchanged");
        assert!(second.contains(&format!("{begin}\nsecond, longer\nbody\n{end}")));
        assert_eq!(
            upsert_block(&second, "data", "## la-data", "first\n"),
            first
        );
    }

    #[test]
    fn markers_placed_by_hand_are_respected_wherever_they_are() {
        let doc =
            "## la-ops\n\nText.\n\n<!-- bench:ops:begin -->\nold\n<!-- bench:ops:end -->\nTail \n";
        let out = upsert_block(doc, "ops", "## la-ops", "new\n");
        assert_eq!(
            out,
            "## la-ops\n\nText.\n\n<!-- bench:ops:begin -->\nnew\n<!-- bench:ops:end -->\nTail \n"
        );
    }

    #[test]
    fn a_missing_section_is_appended() {
        let out = upsert_block(DOC, "ops", "## la-ops", "t\n");
        assert_eq!(
            out,
            format!("{DOC}\n## la-ops\n\n<!-- bench:ops:begin -->\nt\n<!-- bench:ops:end -->\n")
        );
        let out = upsert_block("no newline", "x", "## x", "t");
        assert_eq!(markers("quality:a").0, "<!-- quality:a:begin -->");
        assert_eq!(
            out,
            "no newline\n\n## x\n\n<!-- bench:x:begin -->\nt\n<!-- bench:x:end -->\n"
        );
    }

    #[test]
    fn headings_inside_code_fences_do_not_end_a_section() {
        let range = section(DOC, "## la-data").unwrap();
        let text = &DOC[range];
        assert!(text.contains("### sub") && text.contains("More."));
        assert!(!text.contains("## la-cluster"));
        assert!(section(DOC, "## la-ops").is_none());
    }

    #[test]
    fn prose_is_what_the_section_holds_besides_the_block() {
        assert!(section_has_prose(DOC, "## la-data", "data"));
        assert!(!section_has_prose(DOC, "## la-ops", "ops"));
        let fresh = upsert_block(DOC, "ops", "## la-ops", "t\n");
        assert!(!section_has_prose(&fresh, "## la-ops", "ops"));
        let with = upsert_block(DOC, "data", "## la-data", "t\n");
        assert!(section_has_prose(&with, "## la-data", "data"));
        let only = "## a\n\n<!-- bench:a:begin -->\nt\n<!-- bench:a:end -->\n\n## b\n\nB.\n";
        assert!(!section_has_prose(only, "## a", "a"));
        assert!(section_has_prose(only, "## b", "b"));
    }
}
