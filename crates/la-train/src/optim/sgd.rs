//! Stochastic gradient descent with momentum, Nesterov momentum and per-group
//! weight decay, step for step as `torch.optim.SGD`.

use std::collections::{HashMap, HashSet};

use candle_core::Tensor;
use candle_core::backprop::GradStore;
use la_segnet::Param;
use serde::{Deserialize, Serialize};

use super::Optimizer;
use crate::{Error, Result};

/// The hyper-parameters of [`Sgd`]. `Default` is the Local Aggregation paper's optimiser:
/// learning rate 0.03, momentum 0.9, weight decay 1e-4, no dampening, no Nesterov.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// The learning rate (>= 0). By default, 0.03.
    pub lr: f64,
    /// The momentum factor (>= 0; 0 disables momentum buffers). By default, 0.9.
    pub momentum: f64,
    /// The dampening of the gradient added to the momentum buffer (0..=1). By default, 0.
    pub dampening: f64,
    /// The L2 penalty (>= 0), applied only to parameters whose role takes weight decay
    /// (convolution and linear weights; never batch-norm parameters or biases).
    /// By default, 1e-4.
    pub weight_decay: f64,
    /// Nesterov momentum (needs momentum > 0 and no dampening). By default, disabled.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 0.03,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 1e-4,
            nesterov: false,
        }
    }
}

impl SgdConfig {
    /// Checks every field (the same conditions as `torch.optim.SGD`).
    pub fn check(&self) -> Result<()> {
        let non_negative = |field, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::config(field, v, "a finite number >= 0"))
            }
        };
        non_negative("sgd.lr", self.lr)?;
        non_negative("sgd.momentum", self.momentum)?;
        non_negative("sgd.weight_decay", self.weight_decay)?;
        if !(0.0..=1.0).contains(&self.dampening) {
            return Err(Error::config("sgd.dampening", self.dampening, "0 to 1"));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::config(
                "sgd.nesterov",
                format!(
                    "true with momentum {} and dampening {}",
                    self.momentum, self.dampening
                ),
                "momentum > 0 and dampening 0 for Nesterov momentum",
            ));
        }
        Ok(())
    }
}

/// One optimised parameter and its state.
#[derive(Debug)]
struct Slot {
    param: Param,
    /// The weight decay of this parameter's group (0 where the role takes none).
    weight_decay: f64,
    /// The momentum buffer, created by the first step that sees a gradient.
    buffer: Option<Tensor>,
}

/// SGD exactly as `torch.optim.SGD` (maximize off), per parameter `p` with gradient `g`:
///
/// ```text
/// d = g + weight_decay * p                    (weight decay of p's group)
/// buf = d                                     (first step)
/// buf = momentum * buf + (1 - dampening) * d  (later steps)
/// d = d + momentum * buf   if nesterov,  else  d = buf      (when momentum > 0)
/// p = p - lr * d
/// ```
///
/// Two parameter groups: roles that take weight decay ([`la_segnet::Role::takes_weight_decay`])
/// get `weight_decay`, all others none. Running statistics are not optimised.
///
/// ```
/// use candle_core::{DType, Device, Var};
/// use la_segnet::{Param, ParamGroup, Role};
/// use la_train::{Optimizer, Sgd, SgdConfig};
///
/// let w = Var::new(&[1f32, -2.], &Device::Cpu)?;
/// let param = Param { name: "w".into(), var: w.clone(), group: ParamGroup::Head, role: Role::Weight };
/// let config = SgdConfig { lr: 0.1, momentum: 0.0, weight_decay: 0.0, ..Default::default() };
/// let mut sgd = Sgd::new(vec![param], config)?;
/// // loss = sum(w^2) / 2, so the gradient is w.
/// sgd.backward_step(&(w.as_tensor().sqr()?.sum_all()? * 0.5)?)?;
/// assert_eq!(w.to_vec1::<f32>()?, [0.9, -1.8]);
/// # Ok::<(), la_train::Error>(())
/// ```
#[derive(Debug)]
pub struct Sgd {
    slots: Vec<Slot>,
    config: SgdConfig,
}

impl Optimizer for Sgd {
    type Config = SgdConfig;

    fn new(params: Vec<Param>, config: SgdConfig) -> Result<Self> {
        config.check()?;
        let mut seen = HashSet::new();
        let mut slots = Vec::new();
        for param in params.into_iter().filter(|p| p.role.is_trained()) {
            if !seen.insert(param.name.clone()) {
                return Err(Error::Mismatch {
                    what: "SGD parameters".into(),
                    problems: vec![format!("{} appears twice", param.name)],
                });
            }
            let weight_decay = if param.role.takes_weight_decay() {
                config.weight_decay
            } else {
                0.0
            };
            slots.push(Slot {
                param,
                weight_decay,
                buffer: None,
            });
        }
        Ok(Self { slots, config })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let c = &self.config;
        for slot in &mut self.slots {
            let Some(grad) = grads.get(slot.param.var.as_tensor()) else {
                continue;
            };
            let p = slot.param.var.as_tensor().detach();
            let mut d = grad.detach();
            if slot.weight_decay != 0.0 {
                d = (d + p.affine(slot.weight_decay, 0.0)?)?;
            }
            if c.momentum != 0.0 {
                let buf = match slot.buffer.take() {
                    None => d.copy()?,
                    Some(buf) => {
                        (buf.affine(c.momentum, 0.0)? + d.affine(1.0 - c.dampening, 0.0)?)?
                    }
                };
                d = if c.nesterov {
                    (d + buf.affine(c.momentum, 0.0)?)?
                } else {
                    buf.clone()
                };
                slot.buffer = Some(buf);
            }
            slot.param.var.set(&(p - d.affine(c.lr, 0.0)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut state = HashMap::new();
        for slot in &self.slots {
            if let Some(buf) = &slot.buffer {
                state.insert(slot.param.name.clone(), buf.copy()?);
            }
        }
        Ok(state)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let mut problems = Vec::new();
        for (name, t) in state {
            match self.slots.iter().find(|s| &s.param.name == name) {
                None => problems.push(format!("unexpected momentum buffer {name}")),
                Some(s) if t.dims() != s.param.var.dims() => problems.push(format!(
                    "momentum buffer {name} has shape {:?}, expected {:?}",
                    t.dims(),
                    s.param.var.dims()
                )),
                Some(_) if !t.dtype().is_float() => problems.push(format!(
                    "momentum buffer {name} has dtype {:?}, expected a float type",
                    t.dtype()
                )),
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(Error::Mismatch {
                what: "SGD state".into(),
                problems,
            });
        }
        for slot in &mut self.slots {
            slot.buffer = match state.get(&slot.param.name) {
                None => None,
                Some(t) => {
                    let var = &slot.param.var;
                    Some(t.to_dtype(var.dtype())?.to_device(var.device())?.copy()?)
                }
            };
        }
        Ok(())
    }
}

impl Sgd {
    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// The names of the optimised parameters and the weight decay each gets, in order.
    pub fn weight_decays(&self) -> Vec<(&str, f64)> {
        self.slots
            .iter()
            .map(|s| (s.param.name.as_str(), s.weight_decay))
            .collect()
    }
}
