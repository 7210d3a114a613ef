//! The plans against torchvision's `vgg*_bn().features`, and the names and stages derived
//! from them.

mod common;

use la_vgg::{Depth, FeatureInfo, FeatureLayer, Layer, TensorRole, VggConfig, tensor_specs};

/// torchvision's numbering, printed by (torchvision 0.29.2):
///
/// ```python
/// import torchvision
/// for name in ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]:
///     m = getattr(torchvision.models, name)()
///     f = m.features
///     convs = [(i, l.out_channels) for i, l in enumerate(f) if l.__class__.__name__ == "Conv2d"]
///     pools = [i for i, l in enumerate(f) if l.__class__.__name__ == "MaxPool2d"]
///     sd = m.state_dict()
///     n = sum(v.numel() for k, v in sd.items()
///             if k.startswith("features.") and not k.endswith("num_batches_tracked"))
///     print(name, len(f), [c[0] for c in convs], [c[1] for c in convs], pools, n)
/// ```
struct Torchvision {
    depth: Depth,
    len: usize,
    conv_indices: &'static [usize],
    conv_out: &'static [usize],
    pools: [usize; 5],
    elements: usize,
}

const TORCHVISION: [Torchvision; 4] = [
    Torchvision {
        depth: Depth::Vgg11,
        len: 29,
        conv_indices: &[0, 4, 8, 11, 15, 18, 22, 25],
        conv_out: &[64, 128, 256, 256, 512, 512, 512, 512],
        pools: [3, 7, 14, 21, 28],
        elements: 9_231_488,
    },
    Torchvision {
        depth: Depth::Vgg13,
        len: 35,
        conv_indices: &[0, 3, 7, 10, 14, 17, 21, 24, 28, 31],
        conv_out: &[64, 64, 128, 128, 256, 256, 512, 512, 512, 512],
        pools: [6, 13, 20, 27, 34],
        elements: 9_416_768,
    },
    Torchvision {
        depth: Depth::Vgg16,
        len: 44,
        conv_indices: &common::VGG16_CONV_INDICES,
        conv_out: &common::VGG16_CONV_OUT,
        pools: [6, 13, 23, 33, 43],
        elements: common::VGG16_FEATURE_ELEMENTS,
    },
    Torchvision {
        depth: Depth::Vgg19,
        len: 53,
        conv_indices: &[0, 3, 7, 10, 14, 17, 20, 23, 27, 30, 33, 36, 40, 43, 46, 49],
        conv_out: &[
            64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512,
        ],
        pools: [6, 13, 26, 39, 52],
        elements: 20_046_400,
    },
];

fn convs(layers: &[FeatureLayer]) -> Vec<(usize, usize, usize)> {
    layers
        .iter()
        .filter_map(|l| match *l {
            FeatureLayer::Conv {
                index,
                in_channels,
                out_channels,
            } => Some((index, in_channels, out_channels)),
            FeatureLayer::Pool { .. } => None,
        })
        .collect()
}

#[test]
fn plans_number_layers_as_torchvision() {
    for tv in &TORCHVISION {
        let config = VggConfig {
            depth: tv.depth,
            ..Default::default()
        };
        let layers = config.features().unwrap();
        let convs = convs(&layers);
        let indices: Vec<usize> = convs.iter().map(|c| c.0).collect();
        let outs: Vec<usize> = convs.iter().map(|c| c.2).collect();
        assert_eq!(indices, tv.conv_indices, "{}", tv.depth);
        assert_eq!(outs, tv.conv_out, "{}", tv.depth);
        let pools: Vec<usize> = layers
            .iter()
            .filter(|l| matches!(l, FeatureLayer::Pool { .. }))
            .map(FeatureLayer::index)
            .collect();
        assert_eq!(pools, tv.pools, "{}", tv.depth);
        let last = layers.last().unwrap();
        assert_eq!(last.index() + last.span(), tv.len, "{}", tv.depth);
        // Each conv reads what the previous layer wrote.
        let ins: Vec<usize> = convs.iter().map(|c| c.1).collect();
        let mut expected_ins = vec![3];
        expected_ins.extend(&tv.conv_out[..tv.conv_out.len() - 1]);
        assert_eq!(ins, expected_ins, "{}", tv.depth);
        assert_eq!(config.pools(), 5);
        assert_eq!(config.out_channels().unwrap(), 512);
    }
}

#[test]
fn plan_constants_are_torchvision_cfgs() {
    // torchvision cfgs "A", "B", "D", "E" with 'M' written as 0.
    let cfgs: [(&[Layer], &[usize]); 4] = [
        (
            la_vgg::VGG11,
            &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        ),
        (
            la_vgg::VGG13,
            &[
                64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0,
            ],
        ),
        (
            la_vgg::VGG16,
            &[
                64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
            ],
        ),
        (
            la_vgg::VGG19,
            &[
                64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512,
                512, 512, 0,
            ],
        ),
    ];
    for (plan, cfg) in cfgs {
        let as_numbers: Vec<usize> = plan
            .iter()
            .map(|l| match l {
                Layer::Conv(c) => *c,
                Layer::Pool => 0,
            })
            .collect();
        assert_eq!(as_numbers, cfg);
    }
}

#[test]
fn vgg16_bn_names_end_at_features_40_and_41() {
    let specs = tensor_specs(&VggConfig::default()).unwrap();
    assert_eq!(specs.len(), 13 * 6);
    let last: Vec<(&str, TensorRole)> = specs[specs.len() - 6..]
        .iter()
        .map(|s| (s.name.as_str(), s.role))
        .collect();
    assert_eq!(
        last,
        [
            ("features.40.weight", TensorRole::ConvWeight),
            ("features.40.bias", TensorRole::ConvBias),
            ("features.41.weight", TensorRole::BnWeight),
            ("features.41.bias", TensorRole::BnBias),
            ("features.41.running_mean", TensorRole::RunningMean),
            ("features.41.running_var", TensorRole::RunningVar),
        ]
    );
    // Names and shapes in state-dict order, written down independently in tests/common.
    let got: Vec<(String, Vec<usize>)> = specs.into_iter().map(|s| (s.name, s.shape)).collect();
    assert_eq!(got, common::vgg16_features());
}

#[test]
fn specs_count_every_element_of_torchvision_features() {
    for tv in &TORCHVISION {
        let config = VggConfig {
            depth: tv.depth,
            ..Default::default()
        };
        let specs = tensor_specs(&config).unwrap();
        let elements: usize = specs
            .iter()
            .map(|s| s.shape.iter().product::<usize>())
            .sum();
        assert_eq!(elements, tv.elements, "{}", tv.depth);
        for s in &specs {
            let owner_is_bn = !matches!(s.role, TensorRole::ConvWeight | TensorRole::ConvBias);
            let conv_index = s.layer_index - usize::from(owner_is_bn);
            assert!(tv.conv_indices.contains(&conv_index), "{}", s.name);
        }
    }
}

#[test]
fn feature_info_follows_timm() {
    // timm's VGG.__init__ appends, at each 'M', (prev_chs, net_stride, features.{len(layers)-1})
    // before adding the pool, then (prev_chs, 32, features.{len(layers)-1}) after the loop.
    // For vgg16_bn, pools sit at 6, 13, 23, 33, 43 (torchvision, above), so the modules are
    // 5, 12, 22, 32, 42 and finally 43.
    let info = VggConfig::default().feature_info().unwrap();
    let expected = [
        (64, 1, 5),
        (128, 2, 12),
        (256, 4, 22),
        (512, 8, 32),
        (512, 16, 42),
        (512, 32, 43),
    ]
    .map(|(channels, reduction, module_index)| FeatureInfo {
        channels,
        reduction,
        module_index,
    });
    assert_eq!(info, expected);
}

#[test]
fn width_divisor_and_input_channels_scale_the_plan() {
    let config = VggConfig {
        width_divisor: 16,
        in_channels: 1,
        ..Default::default()
    };
    let layers = config.features().unwrap();
    let convs = convs(&layers);
    let outs: Vec<usize> = convs.iter().map(|c| c.2).collect();
    assert_eq!(outs, common::VGG16_CONV_OUT.map(|c| c / 16));
    assert_eq!(convs[0], (0, 1, 4));
    assert_eq!(
        layers[2],
        FeatureLayer::Pool {
            index: 6,
            channels: 4
        }
    );
    assert_eq!(config.out_channels().unwrap(), 32);
    let specs = tensor_specs(&config).unwrap();
    assert_eq!(specs[0].shape, [4, 1, 3, 3]);
    assert_eq!(config.to_string(), "vgg16_bn (width 1/16, 1 input channel)");
    assert_eq!(
        VggConfig::default().to_string(),
        "vgg16_bn (full width, 3 input channels)"
    );
}

#[test]
fn invalid_configs_name_the_field() {
    let cases = [
        (
            VggConfig {
                width_divisor: 0,
                ..Default::default()
            },
            "width_divisor = 0",
        ),
        (
            VggConfig {
                width_divisor: 3,
                ..Default::default()
            },
            "width_divisor = 3",
        ),
        (
            VggConfig {
                width_divisor: 128,
                ..Default::default()
            },
            "does not divide 64",
        ),
        (
            VggConfig {
                in_channels: 0,
                ..Default::default()
            },
            "in_channels = 0",
        ),
    ];
    for (config, needle) in cases {
        let err = config.features().unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
        assert!(tensor_specs(&config).is_err());
        assert!(config.feature_info().is_err());
    }
    assert!(
        VggConfig {
            width_divisor: 64,
            ..Default::default()
        }
        .validate()
        .is_ok()
    );
}
