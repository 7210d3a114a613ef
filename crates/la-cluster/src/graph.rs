//! Weighted graphs over the items of a data set in compressed rows: the kNN graphs of spectral
//! clustering and of the manifold layout, and their normalised adjacency.

use rayon::prelude::*;

/// A weighted graph in compressed rows (each row's columns sorted, no repeats).
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    starts: Vec<usize>,
    columns: Vec<u32>,
    weights: Vec<f64>,
}

impl Graph {
    /// The symmetric connectivity graph of `neighbours[i]`, the nearest other items of each
    /// item `i`: edges weigh 1 when the relation holds both ways and 1/2 when it holds one way
    /// (`(C + C^T) / 2` for the 0/1 kNN matrix C, as scikit-learn's spectral clustering).
    pub fn knn_connectivity(neighbours: &[Vec<u32>]) -> Self {
        let mut edges: Vec<Vec<(u32, f64)>> = vec![Vec::new(); neighbours.len()];
        for (i, list) in neighbours.iter().enumerate() {
            for &j in list {
                if j as usize != i {
                    edges[i].push((j, 0.5));
                    edges[j as usize].push((i as u32, 0.5));
                }
            }
        }
        Graph::from_rows(edges)
    }

    /// The graph whose row `i` holds the edges `rows[i]` (column, weight); repeated columns
    /// of a row are summed.
    pub fn from_rows(rows: Vec<Vec<(u32, f64)>>) -> Self {
        let (mut starts, mut columns, mut weights) = (vec![0], Vec::new(), Vec::new());
        for mut row in rows {
            row.sort_by_key(|e| e.0);
            for (j, w) in row {
                if columns.len() > *starts.last().expect("starts with 0")
                    && columns.last() == Some(&j)
                {
                    *weights.last_mut().expect("an edge was pushed") += w;
                } else {
                    columns.push(j);
                    weights.push(w);
                }
            }
            starts.push(columns.len());
        }
        Graph {
            starts,
            columns,
            weights,
        }
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// The neighbours of `i` and their weights.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.starts[i]..self.starts[i + 1];
        self.columns[range.clone()]
            .iter()
            .zip(&self.weights[range])
            .map(|(&j, &w)| (j as usize, w))
    }

    /// The weight of the edge from `i` to `j`, if there is one.
    pub fn weight(&self, i: usize, j: usize) -> Option<f64> {
        let range = self.starts[i]..self.starts[i + 1];
        let at = self.columns[range.clone()]
            .binary_search(&(j as u32))
            .ok()?;
        Some(self.weights[range.start + at])
    }

    /// Every edge as (from, to, weight), row by row.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        (0..self.len()).flat_map(move |i| self.row(i).map(move |(j, w)| (i, j, w)))
    }

    /// The degree (sum of edge weights) of every vertex.
    pub fn degrees(&self) -> Vec<f64> {
        (0..self.len())
            .map(|i| self.row(i).map(|e| e.1).sum())
            .collect()
    }

    /// `y = (I + D^-1/2 W D^-1/2) x / 2` for a row-major n x b block `x`: the normalised
    /// adjacency shifted so that its eigenvalues lie in [0, 1], the largest first.
    pub fn apply_shifted(&self, scale: &[f64], x: &[f64], y: &mut [f64], b: usize) {
        y.par_chunks_exact_mut(b).enumerate().for_each(|(i, out)| {
            out.copy_from_slice(&x[i * b..(i + 1) * b]);
            for (j, w) in self.row(i) {
                let a = w * scale[i] * scale[j];
                for (o, xj) in out.iter_mut().zip(&x[j * b..(j + 1) * b]) {
                    *o += a * xj;
                }
            }
            out.iter_mut().for_each(|o| *o *= 0.5);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_way_edges_weigh_half_and_mutual_ones_one() {
        // 0 <-> 1 mutual, 2 -> 0 one way, 3 isolated from the lists but named by nobody.
        let g = Graph::knn_connectivity(&[vec![1], vec![0], vec![0], vec![]]);
        assert_eq!(g.row(0).collect::<Vec<_>>(), [(1, 1.0), (2, 0.5)]);
        assert_eq!(g.row(2).collect::<Vec<_>>(), [(0, 0.5)]);
        assert_eq!(g.row(3).count(), 0);
        assert_eq!(g.degrees(), [1.5, 1.0, 0.5, 0.0]);
    }

    #[test]
    fn shifted_operator_matches_the_dense_formula() {
        let g = Graph::knn_connectivity(&[vec![1, 2], vec![2], vec![0], vec![1]]);
        let d = g.degrees();
        let scale: Vec<f64> = d.iter().map(|x| 1.0 / x.sqrt()).collect();
        let n = 4;
        let mut dense = vec![0.0; n * n];
        for i in 0..n {
            for (j, w) in g.row(i) {
                dense[i * n + j] = w;
            }
        }
        let x: Vec<f64> = (0..n * 2).map(|v| v as f64 * 0.3 - 1.0).collect();
        let mut y = vec![0.0; n * 2];
        g.apply_shifted(&scale, &x, &mut y, 2);
        for i in 0..n {
            for c in 0..2 {
                let ax: f64 = (0..n)
                    .map(|j| dense[i * n + j] * x[j * 2 + c] / (d[i] * d[j]).sqrt())
                    .sum();
                let want = 0.5 * (x[i * 2 + c] + ax);
                assert!((y[i * 2 + c] - want).abs() < 1e-12);
            }
        }
    }
}
