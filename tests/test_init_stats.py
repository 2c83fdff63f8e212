"""Initialization schemes and the step-0 statistics, against torch.nn.init and autograd."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lessons_src.init_stats import FIXED_STD, SCHEMES, init_weights, layer_stats


def deep(depth: int = 6, width: int = 128) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(64, width), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


X = torch.randn(512, 64, generator=torch.Generator().manual_seed(0))
Y = torch.randint(0, 10, (512,), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_each_scheme_gives_its_weight_variance(scheme):
    torch.manual_seed(0)
    model = init_weights(deep(width=512), scheme)
    layer = model[2]  # 512 → 512
    want = {"default": 1 / (3 * 512), "xavier": 2 / (512 + 512), "kaiming": 2 / 512,
            "too small": FIXED_STD["too small"] ** 2, "too large": FIXED_STD["too large"] ** 2}[scheme]
    assert layer.weight.var().item() == pytest.approx(want, rel=0.02)
    if scheme != "default":
        assert torch.all(layer.bias == 0)


def test_kaiming_keeps_the_forward_signal_and_bad_scales_vanish_or_explode():
    stats = {}
    for scheme in SCHEMES:
        torch.manual_seed(0)
        stats[scheme] = layer_stats(init_weights(deep(), scheme), X, Y, nn.functional.cross_entropy)
    spread = [s.activation_std for s in stats["kaiming"]]
    assert max(spread) / min(spread) < 2
    assert stats["too small"][-1].activation_std < 1e-4 * stats["too small"][0].activation_std
    assert stats["too large"][-1].activation_std > 5 * stats["too large"][0].activation_std
    assert stats["too small"][0].weight_grad_norm < 1e-4 * stats["kaiming"][0].weight_grad_norm


def test_layer_stats_agree_with_backward_and_leave_the_model_alone():
    torch.manual_seed(0)
    model = init_weights(deep(), "kaiming")
    before = [p.detach().clone() for p in model.parameters()]
    stats = layer_stats(model, X, Y, nn.functional.cross_entropy)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    nn.functional.cross_entropy(model(X), Y).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [s.name for s in stats] == [str(i) for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    for s, layer in zip(stats, linears, strict=True):
        assert s.weight_grad_norm == pytest.approx(layer.weight.grad.norm().item(), rel=1e-5)
        assert s.grad_to_weight == pytest.approx(s.weight_grad_norm / s.weight_norm)
    assert stats[0].activation_std == pytest.approx(linears[0](X).std().item(), rel=1e-5)
    assert math.isfinite(stats[-1].output_grad_std)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="scheme must be one of"):
        init_weights(deep(), "he")
    with pytest.raises(ValueError, match="no nn.Linear"):
        init_weights(nn.ReLU(), "kaiming")
    with pytest.raises(ValueError, match="at least 2 examples"):
        layer_stats(deep(), X[:1], Y[:1], nn.functional.cross_entropy)


def test_the_plots_draw_one_line_per_scheme_and_a_running_mean():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from lessons_src.plotting import plot_layer_stats, plot_step_series, running_mean

    stats = {scheme: layer_stats(init_weights(deep(), scheme), X, Y, nn.functional.cross_entropy)
             for scheme in ("kaiming", "too small")}
    fig, ax = plt.subplots()
    assert plot_layer_stats(ax, stats, "activation_std") is ax and len(ax.lines) == 2
    assert ax.get_yscale() == "log" and list(ax.lines[0].get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert [line.get_label() for line in ax.lines] == ["kaiming", "too small"]
    plot_layer_stats(ax, {"my orthogonal": stats["kaiming"]}, "activation_std")  # a learner's own scheme
    assert ax.lines[-1].get_label() == "my orthogonal"
    assert np.allclose(running_mean([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
    plot_step_series(ax, [1.0, 2.0, 3.0, 4.0], window=3)
    assert np.allclose(ax.lines[-1].get_ydata(), [2, 3]) and list(ax.lines[-1].get_xdata()) == [3, 4]
    with pytest.raises(ValueError, match="window must be at most"):
        running_mean([1.0], 2)
    plt.close(fig)


def test_a_nan_or_inf_spoils_only_the_windows_that_hold_it():
    import numpy as np

    from lessons_src.plotting import running_mean

    for bad in (np.nan, np.inf):
        means = running_mean([1.0, bad, 3.0, 5.0, 7.0], 2)
        assert not np.isfinite(means[:2]).any() and np.allclose(means[2:], [4.0, 6.0])


def test_every_scheme_has_a_shown_name_english_as_its_key_and_translated_in_each_language():
    from lessons_src.init_stats import SCHEMES, scheme_name
    from lessons_src.language import use_language

    assert [scheme_name(s) for s in SCHEMES] == list(SCHEMES)
    try:
        for lang in ("zh", "ja"):
            use_language(lang)
            shown = [scheme_name(s) for s in SCHEMES]
            assert len(set(shown)) == len(SCHEMES) and shown[3] != "too small", (lang, shown)
    finally:
        use_language("en")
    with pytest.raises(ValueError, match="scheme must be one of"):
        scheme_name("he")
