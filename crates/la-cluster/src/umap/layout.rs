//! UMAP's layout optimisation: stochastic gradient descent of the fuzzy cross-entropy, edges
//! sampled in proportion to their weight, each with a few random points pushed away
//! (umap-learn's `optimize_layout_euclidean`, one thread so that a seed fixes the result).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::graph::Graph;

/// Fixed settings of the optimisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// `a` of the similarity curve `1 / (1 + a d^(2b))`.
    pub a: f64,
    /// `b` of the curve.
    pub b: f64,
    /// Passes over the edges.
    pub epochs: usize,
    /// Random points pushed away per attractive sample.
    pub negative_rate: usize,
}

/// Gradients are clipped to this size per coordinate.
const CLIP: f32 = 4.0;

/// Moves the rows of `layout` (n x dim, row-major) so that the graph's neighbours come close
/// and other points stay apart; returns the optimised layout.
pub fn optimise(
    graph: &Graph,
    mut layout: Vec<f32>,
    dim: usize,
    s: Schedule,
    seed: u64,
) -> Vec<f32> {
    let n = graph.len();
    let max = graph.edges().map(|e| e.2).fold(0.0, f64::max);
    // Edges too weak to be sampled even once are dropped.
    let edges: Vec<(usize, usize, f64)> = graph
        .edges()
        .filter(|e| e.2 >= max / s.epochs as f64)
        .collect();
    let per_sample: Vec<f64> = edges.iter().map(|e| max / e.2).collect();
    let per_negative: Vec<f64> = per_sample
        .iter()
        .map(|p| p / s.negative_rate as f64)
        .collect();
    let mut next_sample = per_sample.clone();
    let mut next_negative = per_negative.clone();
    let mut rng = StdRng::seed_from_u64(seed);
    let (a, b) = (s.a as f32, s.b as f32);
    let mut alpha = 1.0f32;
    let mut current = vec![0f32; dim];
    for epoch in 0..s.epochs {
        let now = epoch as f64;
        for (e, &(j, k, _)) in edges.iter().enumerate() {
            if next_sample[e] > now {
                continue;
            }
            current.copy_from_slice(&layout[j * dim..(j + 1) * dim]);
            let other = &mut layout[k * dim..(k + 1) * dim];
            let d2 = squared_distance(&current, other);
            let coeff = if d2 > 0.0 {
                -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0)
            } else {
                0.0
            };
            for (c, o) in current.iter_mut().zip(other.iter_mut()) {
                let g = (coeff * (*c - *o)).clamp(-CLIP, CLIP);
                *c += g * alpha;
                *o -= g * alpha;
            }
            next_sample[e] += per_sample[e];
            let negatives = ((now - next_negative[e]) / per_negative[e]).max(0.0) as usize;
            for _ in 0..negatives {
                let k = rng.random_range(0..n);
                let other = &layout[k * dim..(k + 1) * dim];
                let d2 = squared_distance(&current, other);
                if d2 <= 0.0 {
                    continue;
                }
                let coeff = 2.0 * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0));
                for (c, o) in current.iter_mut().zip(other) {
                    *c += (coeff * (*c - *o)).clamp(-CLIP, CLIP) * alpha;
                }
            }
            next_negative[e] += negatives as f64 * per_negative[e];
            layout[j * dim..(j + 1) * dim].copy_from_slice(&current);
        }
        alpha = 1.0 - epoch as f32 / s.epochs as f32;
    }
    layout
}

fn squared_distance(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzzy cross-entropy of a layout (the quantity the descent lowers), by plain loops
    /// over every pair.
    fn cross_entropy(graph: &Graph, layout: &[f32], dim: usize, a: f64, b: f64) -> f64 {
        let n = graph.len();
        let mut total = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let d2: f64 = (0..dim)
                    .map(|c| f64::from(layout[i * dim + c] - layout[j * dim + c]).powi(2))
                    .sum();
                let q = (1.0 / (1.0 + a * d2.powf(b))).clamp(1e-6, 1.0 - 1e-6);
                let w = graph.weight(i, j).unwrap_or(0.0);
                total -= w * q.ln() + (1.0 - w) * (1.0 - q).ln();
            }
        }
        total
    }

    #[test]
    fn the_descent_brings_neighbours_together_and_lowers_the_cross_entropy() {
        // Two cliques of 6 points joined by nothing, starting interleaved on a line.
        let rows: Vec<Vec<(u32, f64)>> = (0..12u32)
            .map(|i| {
                (0..12u32)
                    .filter(|&j| j != i && j % 2 == i % 2)
                    .map(|j| (j, 1.0))
                    .collect()
            })
            .collect();
        let graph = Graph::from_rows(rows);
        let start: Vec<f32> = (0..12).flat_map(|i| [i as f32, 0.5 * i as f32]).collect();
        let s = Schedule {
            a: 1.577,
            b: 0.895,
            epochs: 200,
            negative_rate: 5,
        };
        let out = optimise(&graph, start.clone(), 2, s, 1);
        let (before, after) = (
            cross_entropy(&graph, &start, 2, s.a, s.b),
            cross_entropy(&graph, &out, 2, s.a, s.b),
        );
        assert!(after < 0.5 * before, "{before} -> {after}");
        let d =
            |i: usize, j: usize| squared_distance(&out[i * 2..i * 2 + 2], &out[j * 2..j * 2 + 2]);
        let within: f32 = (0..12).step_by(2).map(|i| d(0, i)).fold(0.0, f32::max);
        let between: f32 = (1..12)
            .step_by(2)
            .map(|i| d(0, i))
            .fold(f32::INFINITY, f32::min);
        assert!(within < between, "within {within}, between {between}");
        // The same seed gives the same layout.
        assert_eq!(optimise(&graph, start, 2, s, 1), out);
    }
}
