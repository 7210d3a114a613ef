//! How gradients add up in candle's backward pass, which the workspace patches
//! (vendor/README.md: a tensor's first gradient is stored as computed instead of added into
//! zeros): single consumers, several consumers, the rules that subtract, broadcasts, strided
//! gradients and la-ops' custom ops, each against hand-computed values.

use candle_core::{Device, Result, Tensor, Var};
use la_ops::conv2d;

fn var(values: &[f32], shape: &[usize]) -> Result<Var> {
    Var::from_tensor(&Tensor::from_slice(values, shape, &Device::Cpu)?)
}

fn grad_of(loss: &Tensor, x: &Var) -> Result<Tensor> {
    let grads = loss.backward()?;
    Ok(grads.get(x).expect("x takes part in the loss").clone())
}

fn flat(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1()
}

#[test]
fn one_consumer_passes_its_gradient_on_unchanged() -> Result<()> {
    let x = var(&[1., -2., 3.], &[3])?;
    let c = Tensor::new(&[0.5f32, -4., 8.], &Device::Cpu)?;
    let dx = grad_of(&(x.as_tensor() * &c)?.sum_all()?, &x)?;
    assert_eq!(flat(&dx)?, [0.5, -4., 8.]);
    Ok(())
}

#[test]
fn several_consumers_add_their_gradients() -> Result<()> {
    let x = var(&[1., 2.], &[2])?;
    let (a, b) = (
        Tensor::new(&[3f32, 5.], &Device::Cpu)?,
        Tensor::new(&[7f32, 11.], &Device::Cpu)?,
    );
    let loss = ((x.as_tensor() * &a)?.sum_all()? + (x.as_tensor() * &b)?.sum_all()?)?;
    assert_eq!(flat(&grad_of(&loss, &x)?)?, [10., 16.]);
    // The same tensor on both sides of one op: d(x + x)/dx = 2.
    let twice = (x.as_tensor() + x.as_tensor())?.sum_all()?;
    assert_eq!(flat(&grad_of(&twice, &x)?)?, [2., 2.]);
    Ok(())
}

#[test]
fn subtracting_rules_negate_a_first_gradient_and_subtract_a_second() -> Result<()> {
    let x = var(&[1., 2.], &[2])?;
    let c = Tensor::new(&[4f32, 4.], &Device::Cpu)?;
    // d(c - x)/dx = -1: the first gradient of x, negated.
    let minus = (&c - x.as_tensor())?.sum_all()?;
    assert_eq!(flat(&grad_of(&minus, &x)?)?, [-1., -1.]);
    // d(3x - x)/dx = 3 - 1: a second gradient, subtracted from the first.
    let both = ((x.as_tensor() * 3.)? - x.as_tensor())?.sum_all()?;
    assert_eq!(flat(&grad_of(&both, &x)?)?, [2., 2.]);
    // d(-x)/dx and d cos(x)/dx = -sin(x).
    assert_eq!(
        flat(&grad_of(&x.as_tensor().neg()?.sum_all()?, &x)?)?,
        [-1., -1.]
    );
    let dcos = grad_of(&x.as_tensor().cos()?.sum_all()?, &x)?;
    assert_eq!(flat(&dcos)?, [-(1f32.sin()), -(2f32.sin())]);
    Ok(())
}

#[test]
fn broadcast_and_strided_gradients_are_stored_dense() -> Result<()> {
    // A bias broadcast over 3 rows receives the sum of its rows' gradients.
    let b = var(&[1., 2.], &[1, 2])?;
    let rows = Tensor::new(&[[1f32, 10.], [2., 20.], [3., 30.]], &Device::Cpu)?;
    let loss = (rows.broadcast_add(b.as_tensor())? * &rows)?.sum_all()?;
    let db = grad_of(&loss, &b)?;
    assert_eq!((db.dims(), flat(&db)?), (&[1, 2][..], vec![6., 60.]));
    // A transposed use of x: its gradient arrives transposed and is stored as a dense tensor.
    let x = var(&[1., 2., 3., 4., 5., 6.], &[2, 3])?;
    let c = Tensor::new(&[[1f32, 2.], [3., 4.], [5., 6.]], &Device::Cpu)?;
    let dx = grad_of(&(x.as_tensor().t()? * &c)?.sum_all()?, &x)?;
    assert!(dx.is_contiguous());
    assert_eq!(flat(&dx)?, [1., 3., 5., 2., 4., 6.]);
    Ok(())
}

#[test]
fn custom_op_gradients_used_once_or_twice_give_the_same_bits() -> Result<()> {
    let xs: Vec<f32> = (0..2 * 3 * 5 * 5)
        .map(|i| ((i * 37 % 23) as f32 - 11.) / 7.)
        .collect();
    let ws: Vec<f32> = (0..4 * 3 * 9)
        .map(|i| ((i * 13 % 17) as f32 - 8.) / 9.)
        .collect();
    let w = Tensor::from_slice(&ws, (4, 3, 3, 3), &Device::Cpu)?;
    let x = var(&xs, &[2, 3, 5, 5])?;
    let y = conv2d(x.as_tensor(), &w, None, 1)?;
    // The convolution's output reaches the loss twice (1x and 2x) or once (3x): 1 + 2 = 3
    // exactly, so its input gradient is the same bit for bit.
    let twice = (y.sum_all()? + (&y * 2.)?.sum_all()?)?;
    let once = (&y * 3.)?.sum_all()?;
    let bits =
        |t: Tensor| -> Result<Vec<u32>> { Ok(flat(&t)?.iter().map(|v| v.to_bits()).collect()) };
    assert_eq!(bits(grad_of(&twice, &x)?)?, bits(grad_of(&once, &x)?)?);
    Ok(())
}
