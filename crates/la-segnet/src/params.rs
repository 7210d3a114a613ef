//! What the layers hold: named variables with their role, so that optimisers can form
//! parameter groups and checkpoints can save and restore everything by name.

use candle_core::{Tensor, Var};

/// Which part of the network a variable belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamGroup {
    /// The VGG encoder.
    Encoder,
    /// The mirrored decoder of the auto-encoder.
    Decoder,
    /// The projection head of the embedding.
    Head,
}

/// What a variable is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A convolution or linear weight: trained, with weight decay.
    Weight,
    /// A convolution or linear bias: trained, without weight decay.
    Bias,
    /// A batch-norm scale: trained, without weight decay.
    NormWeight,
    /// A batch-norm shift: trained, without weight decay.
    NormBias,
    /// A batch-norm running mean: updated by training-mode forward passes, not by gradients.
    RunningMean,
    /// A batch-norm running variance: updated like the running mean.
    RunningVar,
}

impl Role {
    /// Whether an optimiser updates it.
    pub fn is_trained(self) -> bool {
        !matches!(self, Role::RunningMean | Role::RunningVar)
    }

    /// Whether weight decay applies: only to convolution and linear weights, as in the
    /// reference implementations (never to batch-norm parameters or biases).
    pub fn takes_weight_decay(self) -> bool {
        self == Role::Weight
    }
}

/// A named variable of a model.
#[derive(Debug, Clone)]
pub struct Param {
    /// Checkpoint name, e.g. `encoder.features.0.weight`.
    pub name: String,
    /// The variable itself (shared with the model: updating it updates the model).
    pub var: Var,
    /// The part of the network.
    pub group: ParamGroup,
    /// What it is for.
    pub role: Role,
}

/// Anything made of named variables.
pub trait HasParams {
    /// Every variable, trained or not, in a fixed order.
    fn variables(&self) -> Vec<Param>;

    /// The variables an optimiser updates.
    fn trainable(&self) -> Vec<Param> {
        self.variables()
            .into_iter()
            .filter(|p| p.role.is_trained())
            .collect()
    }

    /// Number of trained scalars.
    fn parameter_count(&self) -> usize {
        self.trainable().iter().map(|p| p.var.elem_count()).sum()
    }
}

/// A variable's tensor, detached from autograd when its layer is frozen.
pub(crate) fn value(var: &Var, frozen: bool) -> Tensor {
    if frozen {
        var.as_tensor().detach()
    } else {
        var.as_tensor().clone()
    }
}

/// Builds a [`Param`] named `{prefix}.{suffix}`.
pub(crate) fn param(prefix: &str, suffix: &str, var: &Var, group: ParamGroup, role: Role) -> Param {
    Param {
        name: format!("{prefix}.{suffix}"),
        var: var.clone(),
        group,
        role,
    }
}
