"""Self-checks accept right answers and reject wrong ones; seeding and device picking."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lessons_src import pick_device, set_seed
from lessons_src.checks import CheckResult, check_answer, check_label_of, check_pixels_per_image


@pytest.mark.parametrize(
    ("check", "right", "wrong"),
    [
        (check_pixels_per_image, 784, 28),
        (lambda a: check_label_of("Sneaker", a), 7, 6),
        (lambda a: check_label_of("T-shirt/top", a), 0, 1),
    ],
)
def test_each_check_accepts_right_and_rejects_wrong(check, right, wrong):
    ok, bad, empty = check(right), check(wrong), check(...)
    assert isinstance(ok, CheckResult) and ok and repr(ok).startswith("✓")
    assert not bad and repr(bad).startswith("✗") and "Hint" in repr(bad)
    assert not empty and "no answer yet" in repr(empty)


def test_check_answer_compares_tensors_arrays_and_strings():
    assert check_answer(torch.tensor([1.0, 2.0]), [1.0, 2.0], what="v", hint="h")
    assert not check_answer(np.array([1.0, 2.0, 3.0]), [1.0, 2.0], what="v", hint="h")
    assert not check_answer(float("nan"), 1.0, what="v", hint="h")
    assert not check_answer("a string", 1.0, what="v", hint="h")
    assert check_answer(" Adam ", "adam", what="name", hint="h")


def test_check_label_of_rejects_unknown_class():
    with pytest.raises(ValueError, match="class_name must be one of"):
        check_label_of("Hat", 3)


def test_set_seed_makes_every_generator_repeat():
    set_seed(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_seed(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_set_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be"):
        set_seed(seed)


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")


def test_lesson_01_checks_accept_right_and_reject_wrong():
    from lessons_src.checks import check_gradient_at_2_minus_1, check_max_stable_lr_ravine

    # by hand: r1 = 2 − 2 + 1 = 1, r2 = 4 − 6 + 1 = −1 → ∇L = (−2 + 6, −2 + 2)
    assert check_gradient_at_2_minus_1((4.0, 0.0)) and not check_gradient_at_2_minus_1((-4.0, 0.0))
    assert "the way downhill" in repr(check_gradient_at_2_minus_1((-4.0, 0.0)))
    assert "∂L/∂w1 is right" in repr(check_gradient_at_2_minus_1((4.0, 1.0)))
    assert check_max_stable_lr_ravine(0.1) and not check_max_stable_lr_ravine(0.2)
    assert "shallow direction" in repr(check_max_stable_lr_ravine(4.0))
    assert "fastest lr" in repr(check_max_stable_lr_ravine(2 / 20.5))
    assert not check_max_stable_lr_ravine(...)


def gradient_descent(grad, start, lr, num_steps):
    points = [np.asarray(start, dtype=float)]
    for _ in range(num_steps):
        points.append(points[-1] - lr * grad(points[-1]))
    return np.array(points)


def test_gradient_descent_check_accepts_a_loop_and_names_each_slip():
    from lessons_src.checks import check_gradient_descent

    def in_place(grad, start, lr, num_steps):
        w, points = np.array(start, dtype=float), []
        points.append(w)
        for _ in range(num_steps):
            w -= lr * grad(w)
            points.append(w)
        return np.array(points)

    def uphill(grad, start, lr, num_steps):
        return gradient_descent(lambda w: -grad(w), start, lr, num_steps)

    def no_lr(grad, start, lr, num_steps):
        return gradient_descent(grad, start, 1.0, num_steps)

    def no_start(grad, start, lr, num_steps):
        return gradient_descent(grad, start, lr, num_steps)[1:]

    def stale_gradient(grad, start, lr, num_steps):
        g = grad(np.asarray(start, dtype=float))
        return gradient_descent(lambda w: g, start, lr, num_steps)

    assert check_gradient_descent(gradient_descent)
    for fn, words in ((in_place, "changed in place"), (uphill, "uphill"), (no_lr, "learning rate is missing"),
                      (no_start, "start point w₀ is missing"), (stale_gradient, "current point")):
        result = check_gradient_descent(fn)
        assert not result and words in repr(result), (fn.__name__, repr(result))


def test_threads_to_use_leaves_busy_cores_alone():
    from lessons_src.runtime import threads_to_use

    assert threads_to_use(2, 0.0, 2) == 2
    assert threads_to_use(2, 0.3, 2) == 2  # a little background work: keep both
    assert threads_to_use(2, 1.0, 2) == 1
    assert threads_to_use(2, 3.0, 2) == 1  # never fewer than one
    assert threads_to_use(8, 2.0, 4) == 4  # never more than allowed
    with pytest.raises(ValueError, match="busy_elsewhere"):
        threads_to_use(2, -1.0, 2)


@pytest.mark.skipif(not Path("/proc/stat").exists() or (os.cpu_count() or 1) < 2, reason="needs Linux, 2 cores")
def test_use_free_cores_sees_a_busy_process():
    import subprocess
    import sys

    from lessons_src import use_free_cores
    from lessons_src.runtime import busy_cores_elsewhere

    before = torch.get_num_threads()
    spin = "import time\nend = time.time() + 20\nwhile time.time() < end: pass"
    spinner = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.5)
        assert busy_cores_elsewhere(0.5) > 0.7
        assert use_free_cores() <= max(1, (os.cpu_count() or 1) - 1)
    finally:
        spinner.kill()
        spinner.wait()
        torch.set_num_threads(before)


def test_use_free_cores_goes_back_up_keeps_a_servers_limit_and_leaves_other_systems_alone(monkeypatch):
    import subprocess
    import sys

    from lessons_src import runtime

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda sample_seconds=0.3: 0.0)
        torch.set_num_threads(1)  # as after a busy moment
        assert runtime.use_free_cores() == min(runtime.MAX_THREADS, len(runtime._usable_cpus()))
        monkeypatch.undo()
        monkeypatch.setattr(runtime, "_cpu_ticks", lambda cpus: (_ for _ in ()).throw(OSError("no /proc")))
        torch.set_num_threads(1)
        assert runtime.busy_cores_elsewhere() is None and runtime.use_free_cores() == 1  # left as it was
    finally:
        torch.set_num_threads(before)
    limited = subprocess.run([sys.executable, "-c", "from lessons_src import use_free_cores; print(use_free_cores())"],
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, check=True)
    assert limited.stdout.strip() == "1", limited
