"""The explorers' text readouts: small pure functions from a result to one line of HTML.

Each readout is made of parts that are each kept on one line (:func:`whole`), so a narrow window
breaks it between parts, never inside a formula.

They live apart from the widgets so that tests (and a static export) can format a readout
without ipywidgets; the widgets only put the returned string into an ``HTML`` control.
"""

from __future__ import annotations

import numpy as np

from lessons_src import descent
from lessons_src.descent import OPTIMIZER_LABELS, DescentPath
from lessons_src.language import tr
from lessons_src.minibatch import NoiseCloud
from lessons_src.plotting import OPTIMIZER_COLORS
from lessons_src.surfaces import Surface


def whole(text: str) -> str:
    """``text`` kept on one line: a readout breaks between its parts, never inside a formula."""
    return f"<span style='white-space:nowrap'>{text}</span>"


def parts(*texts: str, sep: str = " | ") -> str:
    """The texts joined by ``sep``, each kept whole."""
    return sep.join(whole(text) for text in texts)


def warning(text: str) -> str:
    """``text`` in bold dark red: a diverged run, a rate ≥ 1, a refused control value."""
    return f"<b style='color:#b00'>{text}</b>"


def describe_path(path: DescentPath, surface: Surface) -> str:
    """One line of HTML: final loss and distance to the nearest minimum, or where it diverged."""
    if path.diverged_at == 0:
        return warning(tr("start is outside the region: nothing to run"))
    if path.diverged:
        return parts(warning(tr("diverged at step {step}", step=path.diverged_at)) + ":",
                     tr("the steps grew until the point left the plot"),
                     tr("(largest stable lr at the minimum: {lr:.3g})", lr=surface.max_stable_lr()), sep=" ")
    distances = [path.distance_to(m) for m in surface.minima]
    nearest = int(np.argmin(distances))
    which = "" if len(surface.minima) == 1 else (tr(" (the global one)") if nearest == 0 else tr(" (a local one)"))
    return parts(tr("after {steps} steps: loss {loss:.4g},", steps=path.num_steps, loss=path.final_loss),
                 tr("distance to the nearest minimum{which} {distance:.3g}", which=which,
                    distance=distances[nearest]), sep=" ")


def describe_rate(rate: float) -> str:
    """A per-step rate: how many steps make the distance 1000× smaller, or a warning when it grows."""
    if rate >= 1:
        return warning(f"{rate:.4f}") + tr(" (≥ 1: the distance grows)")
    return f"<b>{rate:.4f}</b>" + tr(" (1000× closer in {steps:.0f} steps)", steps=np.log(1e-3) / np.log(rate))


def describe_rates(surface: Surface, lr: float, momentum: float) -> str:
    """HTML: the theoretical rates of GD and momentum on a quadratic surface, and γ* for this lr."""
    lams = surface.curvatures()
    gd, heavy = descent.gd_rate(lr, lams), descent.momentum_rate(lr, momentum, lams)
    star = (f"γ* = (1 − √(η·λmin))² = <b>{descent.critical_momentum(lr, float(lams[0])):.4f}</b>"
            if lr * lams[0] <= 1 else tr("γ*: undefined (η·λmin > 1)"))
    return parts(f"λ = {lams[0]:.3g}, {lams[-1]:.3g}", tr("rate per step: GD {rate}", rate=describe_rate(gd)),
                 tr("momentum {rate}", rate=describe_rate(heavy)), star)


def describe_distances(paths: dict[str, DescentPath], minimum: np.ndarray) -> str:
    """HTML, one part per labelled path: its distance to ``minimum`` at the end, or where it diverged."""
    return parts(*(
        warning(f"{label}: " + tr("diverged at step {step}", step=path.diverged_at)) if path.diverged else
        f"{label}: " + tr("distance {distance:.3g} after {steps} steps", distance=path.distance_to(minimum),
                          steps=path.num_steps)
        for label, path in paths.items()))


def describe_runs(paths: dict[str, DescentPath], surface: Surface) -> str:
    """HTML, one line per optimizer: where it ended, or the step at which it diverged."""
    lines = []
    for name, path in paths.items():
        label = f"<b style='color:{OPTIMIZER_COLORS[name]}'>{tr(OPTIMIZER_LABELS[name])}</b>"
        if path.diverged:
            lines.append(whole(f"{label}: " + warning(tr("diverged at step {step}", step=path.diverged_at))))
        else:
            distance = min(path.distance_to(m) for m in surface.minima)
            lines.append(parts(f"{label}: " + tr("loss − L* {gap:.3g},", gap=path.final_loss - surface.min_loss),
                               tr("distance to the nearest minimum{which} {distance:.3g}", which="",
                                  distance=distance), sep=" "))
    return "<br>".join(lines) or tr("tick at least one optimizer")


def describe_cloud(cloud: NoiseCloud, num_samples: int) -> str:
    """One line of HTML: iterations per epoch, measured and theoretical variance, share of downhill batches."""
    head = f"<b>B = {cloud.batch_size}</b>: " + tr("{iterations} iterations per epoch (drop_last)",
                                                    iterations=cloud.iterations_per_epoch)
    if cloud.batch_size >= num_samples:
        return whole(head) + " | " + parts(tr("every batch is the whole data set,"),
                                           tr("so every batch gradient <i>is</i> ∇L:"), tr("variance 0,"),
                                           tr("the factor (m − B)/(m − 1) = 0"), sep=" ")
    return parts(head, tr("variance of g_B: measured <b>{measured:.4g}</b>, theory {theory:.4g}",
                          measured=cloud.measured_variance, theory=cloud.theory_variance),
                 tr("variance × B = {product:.3g}", product=cloud.measured_variance * cloud.batch_size),
                 tr("{share:.0%} of the batch gradients point downhill (g_B·∇L > 0)", share=cloud.share_downhill))
