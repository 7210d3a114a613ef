//! Minimum-cost one-to-one assignment (Kuhn-Munkres with potentials, O(rows^2 cols)).

/// For a `rows x cols` cost matrix (row-major, `rows <= cols`), the column assigned to each
/// row such that the total cost is minimal and no column is used twice.
pub(crate) fn min_cost_assignment(cost: &[i64], rows: usize, cols: usize) -> Vec<usize> {
    debug_assert!(rows <= cols && cost.len() == rows * cols);
    let a = |i: usize, j: usize| cost[(i - 1) * cols + (j - 1)];
    // Potentials u (rows) and v (columns), 1-based with a sentinel column 0; p[j] is the row
    // matched to column j, way[j] the previous column on the augmenting path.
    let (mut u, mut v) = (vec![0i64; rows + 1], vec![0i64; cols + 1]);
    let (mut p, mut way) = (vec![0usize; cols + 1], vec![0usize; cols + 1]);
    for i in 1..=rows {
        p[0] = i;
        let mut j0 = 0;
        let mut min_v = vec![i64::MAX; cols + 1];
        let mut used = vec![false; cols + 1];
        loop {
            used[j0] = true;
            let (i0, mut delta, mut j1) = (p[j0], i64::MAX, 0);
            for j in 1..=cols {
                if !used[j] {
                    let cur = a(i0, j) - u[i0] - v[j];
                    if cur < min_v[j] {
                        min_v[j] = cur;
                        way[j] = j0;
                    }
                    if min_v[j] < delta {
                        delta = min_v[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=cols {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_v[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        while j0 != 0 {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        }
    }
    let mut assignment = vec![0; rows];
    for j in 1..=cols {
        if p[j] != 0 {
            assignment[p[j] - 1] = j - 1;
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::min_cost_assignment;

    /// The best total over every injective map of rows to columns, by brute force.
    fn brute(cost: &[i64], rows: usize, cols: usize, row: usize, used: &mut Vec<bool>) -> i64 {
        if row == rows {
            return 0;
        }
        let mut best = i64::MAX;
        for j in 0..cols {
            if !used[j] {
                used[j] = true;
                best = best.min(cost[row * cols + j] + brute(cost, rows, cols, row + 1, used));
                used[j] = false;
            }
        }
        best
    }

    #[test]
    fn optimal_on_random_rectangular_matrices() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as i64 % 20 - 5
        };
        for (rows, cols) in [(1, 1), (2, 2), (3, 5), (4, 4), (5, 7), (6, 6), (2, 7)] {
            for _ in 0..20 {
                let cost: Vec<i64> = (0..rows * cols).map(|_| next()).collect();
                let a = min_cost_assignment(&cost, rows, cols);
                let mut seen = vec![false; cols];
                for &j in &a {
                    assert!(!seen[j], "column {j} used twice");
                    seen[j] = true;
                }
                let total: i64 = a.iter().enumerate().map(|(i, &j)| cost[i * cols + j]).sum();
                assert_eq!(total, brute(&cost, rows, cols, 0, &mut vec![false; cols]));
            }
        }
    }
}
