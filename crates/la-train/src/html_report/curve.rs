//! The curve of `--clusters auto` (the criterion at every K tried) as a small inline SVG.

use std::fmt::Write;

use crate::evaluate::KChoice;

const W: f64 = 440.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;

/// An SVG of the criterion against K, the chosen K marked in red; `None` when the curve has
/// no finite value.
pub fn k_curve_svg(choice: &KChoice) -> Option<String> {
    let points: Vec<(usize, f64)> = choice
        .curve
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let (k_lo, k_hi) = (
        points.iter().map(|p| p.0).min()?,
        points.iter().map(|p| p.0).max()?,
    );
    let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let x = |k: usize| {
        let span = (k_hi - k_lo).max(1) as f64;
        LEFT + (k - k_lo) as f64 / span * (W - LEFT - RIGHT)
    };
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" role=\"img\" font-size=\"11\" font-family=\"sans-serif\">\
         <rect width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>\
         <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#888\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#888\"/>",
        b = H - BOTTOM,
        r = W - RIGHT,
    );
    for (v, anchor) in [(hi, "hanging"), (lo, "auto")] {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"{anchor}\">\
             {v:.3}</text>",
            LEFT - 4.0,
            y(v)
        );
    }
    let every = points.len().div_ceil(12).max(1);
    for (i, (k, _)) in points.iter().enumerate() {
        if i % every == 0 || *k == choice.chosen {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{k}</text>",
                x(*k),
                H - BOTTOM + 14.0
            );
        }
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">K</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 4.0
    );
    let line: Vec<String> = points
        .iter()
        .map(|&(k, v)| format!("{:.1},{:.1}", x(k), y(v)))
        .collect();
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"#1a5fb4\" stroke-width=\"1.5\" points=\"{}\"/>",
        line.join(" ")
    );
    for &(k, v) in &points {
        let (r, fill) = if k == choice.chosen {
            (5.0, "#c01c28")
        } else {
            (2.5, "#1a5fb4")
        };
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{fill}\"><title>K = {k}: \
             {v:.4}</title></circle>",
            x(k),
            y(v)
        );
    }
    s.push_str("</svg>");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_has_a_point_per_finite_value_and_marks_the_choice() {
        let choice = KChoice {
            criterion: "silhouette".into(),
            curve: vec![(2, 0.2), (3, 0.5), (4, f64::NAN), (5, 0.3)],
            chosen: 3,
        };
        let svg = k_curve_svg(&choice).unwrap();
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("#c01c28").count(), 1);
        assert!(svg.contains("K = 3: 0.5000"));
        // The highest value is at the top of the plot, the lowest at the bottom.
        assert!(svg.contains(&format!("cy=\"{TOP:.1}\"")));
        assert!(svg.contains(&format!("cy=\"{:.1}\"", H - BOTTOM)));
        let empty = KChoice {
            curve: vec![(2, f64::NAN)],
            ..choice
        };
        assert!(k_curve_svg(&empty).is_none());
    }
}
