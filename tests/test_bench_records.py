"""The numbers the README and lessons 08-09 quote about training are the ones the bench scripts recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def record(name: str) -> dict:
    return json.loads((ROOT / "bench" / f"{name}.json").read_text(encoding="utf-8"))


def performance_row(label: str) -> str:
    """The README's Performance row whose first cell starts with ``label``."""
    rows = [line for line in README.splitlines() if line.startswith(f"| {label}")]
    assert len(rows) == 1, f"expected one Performance row starting {label!r}, found {len(rows)}"
    return rows[0]


def spread(s: dict) -> str:
    return f"{s['mean']:.1f} ± {s['std']:.1f} %"


def test_the_loader_speed_row_is_training_speed_json():
    speed = record("training_speed")
    slow = speed["train epoch, DataLoader + ToTensor (s): median, min"][0]
    fast = speed["train epoch, TensorLoader (s): median, min"][0]
    row = performance_row("one epoch of lesson 08")
    assert f"{slow} s vs {fast} s ({speed['speed-up (medians)']}×" in row, row
    assert speed["max |loss difference| over one epoch"] == 0 and "identical losses" in row


def test_the_recipe_rows_are_training_recipes_json_and_the_good_recipe_time_is_training_speed_json():
    recipes, speed = record("training_recipes"), record("training_speed")
    good = performance_row("the good recipe")
    assert f"{speed['good recipe: training seconds for 7 epochs (evaluation excluded)']} s" in good, good
    assert spread(recipes["good"]["after 7 epochs"]) + " validation" in good, good
    assert spread(recipes["good"]["test accuracy, measured once at the end"]) + " test" in good, good
    official = performance_row("the official recipe")
    assert spread(recipes["official"]["after 10 epochs"]) + " validation" in official, official


def test_the_batchnorm_row_is_training_batchnorm_json():
    gains = record("training_batchnorm")["gain over raw pixels, per seed (points), after epochs 1, 3, 10"]
    means = [sum(g) / len(g) for g in gains["BatchNorm2d(1) on the input"]]
    row = performance_row("source tutorial 003")
    assert "+{:.1f} points after 1 epoch, +{:.1f} after 3, +{:.1f} after 10".format(*means) in row, row


def test_the_lesson_table_run_times_and_the_series_row_are_series_time_json():
    import re

    seconds = record("series_time")["seconds per notebook"]
    table = README.split("<!-- lesson-table:start -->")[1].split("<!-- lesson-table:end -->")[0]
    for line in table.splitlines():
        name = re.search(r"\]\(notebooks/([^)]+\.ipynb)\)", line)
        if name:
            minutes = float(line.strip().strip("|").split("|")[-2])
            assert minutes == round(seconds[name.group(1)] / 60, 1), (name.group(1), minutes, seconds[name.group(1)])
    assert set(seconds) == set(re.findall(r"\]\(notebooks/([^)]+\.ipynb)\)", table))
    total = record("series_time")["whole series (s)"]
    longest = max(seconds, key=seconds.get)
    row = performance_row("restart-and-run-all of the whole series")
    assert f"{total:.0f} s ({total / 60:.1f} min; longest: lesson {longest[:2]}, {seconds[longest]:.0f} s)" in row, row


def test_the_busy_neighbour_row_is_busy_neighbour_json():
    busy = record("busy_neighbour")
    row = performance_row("lesson 08, the training lesson this bar was set for, while another program keeps one core "
                          "busy")
    assert f"{busy['beside one busy process']['seconds']:.1f} s on 1 thread" in row
    assert f"{busy['alone']['seconds']:.1f} s alone on 2 threads" in row
    assert busy["beside one busy process"]["setup"].endswith("threads: 1") and busy["alone"]["setup"].endswith("2")


def test_the_fast_recipe_row_is_fast_recipe_json():
    fast = record("fast_recipe")
    chosen = fast["candidates"][fast["chosen_on_validation"]]
    assert fast["chosen_on_validation"] == max(
        (name for name, c in fast["candidates"].items() if c["train_seconds_median"] <= fast["budget_s"]),
        key=lambda name: fast["candidates"][name]["val_mean"]), "the choice is made on validation, within the budget"
    row = performance_row("a recipe for 90 %")
    test = fast["chosen_test_accuracy"]
    assert f"{chosen['train_seconds_median']:.1f} s of training" in row
    assert f"{100 * chosen['val_mean']:.1f} % validation accuracy" in row
    assert f"{100 * test['mean']:.1f} ± {100 * test['std']:.1f} % test accuracy" in row
    assert fast["meets_target"] == (min(test["runs"]) >= 0.90 and chosen["train_seconds_median"] <= 30)


def ms(value: float) -> str:
    """A redraw time as the README writes it: one decimal below 10 ms, whole milliseconds above."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def test_the_kernel_redraw_times_in_the_performance_rows_are_the_redraw_records():
    surface = record("explorer_redraw")
    flat, with_3d = surface["contour + path + loss (ms)"], surface["with the 3-D panel (ms)"]
    row = performance_row("loss-surface explorer: redraw")
    assert f"kernel {ms(flat['lr'])} ms median ({ms(with_3d['lr'])} ms with the 3-D panel)" in row, row
    row = performance_row("loss-surface explorer: turning the 3-D view")
    assert f"kernel {ms(with_3d['3-D elevation'])} ms / {ms(flat['lr, Rosenbrock (1000 steps)'])} ms" in row, row

    momentum = record("momentum_redraw")
    controls = momentum["momentum explorer, ravine, 100 steps (ms)"].values()
    row = performance_row("momentum explorer")
    assert f"kernel {ms(min(controls))}–{ms(max(controls))} ms" in row, row
    ravine = momentum["optimizer comparison, all five, ravine, 100 steps (ms)"]
    rosenbrock = momentum["optimizer comparison, all five, Rosenbrock, 200 steps (ms)"]
    lr, gamma = "Adam's lr (one path recomputed)", "γ (two paths recomputed)"
    row = performance_row("optimizer comparison")
    assert (f"kernel {ms(ravine[lr])} / {ms(ravine[gamma])} ms, {ms(rosenbrock[lr])} / {ms(rosenbrock[gamma])} ms"
            in row), row

    cloud = record("minibatch_redraw")["noise-cloud explorer (ms)"]
    row = performance_row("noise-cloud explorer")
    assert (f"kernel {ms(cloud['batch size, every value'])} ms median over every batch size "
            f"({ms(cloud['batch size 1-8'])} ms for B ≤ 8, {ms(cloud['batch size 128-569'])} ms for B ≥ 128)"
            in row), row

    schedule = record("schedule_redraw")["schedule explorer (ms)"]
    row = performance_row("schedule explorer")
    assert f"kernel {ms(schedule['schedule (dropdown)'])} / {ms(schedule['lr (slider)'])} ms" in row, row
    # the bars: 50 ms for a control, 100 ms with the 3-D panel; a whole-figure switch (the noise cloud's point) has none
    assert max(flat.values()) <= 50 and max(with_3d.values()) <= 100, surface
    assert max(v for block in momentum.values() if isinstance(block, dict) for v in block.values()) <= 50, momentum
    assert max(v for k, v in cloud.items() if k.startswith("batch")) <= 50, cloud
    assert max(schedule.values()) <= 50, schedule


def thousands(n: int) -> str:
    """A count as the README writes it: 45 924."""
    return f"{n:,}".replace(",", " ")


def test_the_data_parallel_row_is_ddp_throughput_json():
    throughput = record("ddp_throughput")
    small, big = (throughput["results"][f"global batch {b}"] for b in (64, 512))
    processes, threads = "2 processes × 1 thread", "1 process × 2 threads"
    row = performance_row("data-parallel SGD (14)")
    rate = {name: " / ".join(thousands(c[name]["examples per second"]) for c in (small, big))
            for name in (processes, threads)}
    assert f"{rate[processes]} examples/s against {rate[threads]}" in row, row
    reduce_ms = [small[processes]["all_reduce (ms)"], big[processes]["all_reduce (ms)"]]
    megabytes = throughput["settings"]["gradient bytes per all-reduce"] / 1e6
    assert f"the all-reduce of {megabytes:.1f} MB takes {min(reduce_ms):.0f}–{max(reduce_ms):.0f} ms" in row, row
    shares = " / ".join(f"{100 * c[processes]['all-reduce share']:.0f} %" for c in (small, big))
    assert f"{shares} of a step" in row, row


def test_the_linear_scaling_row_is_linear_scaling_json():
    scaling = record("linear_scaling")
    runs, seeds = scaling["runs"], len(scaling["settings"]["seeds"])
    final = {name: r["final_val_accuracy_mean"] for name, r in runs.items()}
    row = performance_row("the linear scaling rule (14)")
    assert f"{scaling['settings']['num_epochs']} epochs" in row and f"{seeds} seeds" in row, row
    assert (f"{final['batch 512, lr 0.02']:.1%} at the same lr, {final['batch 512, lr 0.16']:.1%} at 8× the lr, "
            f"{final['batch 512, lr 0.16, warm-up']:.1%} with warm-up, against {final['batch 64, lr 0.02']:.1%}"
            ).replace("%", " %") in row, row
    big = [r for r in runs.values() if r["batch_size"] == 512]
    breaks = min((r for r in big if not r["warmup"] and r["diverged_seeds"]), key=lambda r: r["factor"])
    warmed = next(r for r in big if r["warmup"] and r["factor"] == breaks["factor"])
    assert (f"without warm-up {breaks['diverged_seeds']} of {seeds} seeds diverge at {breaks['factor']}×"
            + (", none with it" if warmed["diverged_seeds"] == 0 else "")) in row, row
    limit = min((r for r in big if r["warmup"] and r["diverged_seeds"] == seeds), key=lambda r: r["factor"])
    assert f"{limit['factor']}× diverges even with warm-up" in row, row
    assert all(r["diverged_seeds"] == 0 for r in big if r["warmup"] and r["factor"] < limit["factor"])


def performance_rows() -> list[str]:
    """The rows of the README's Performance table."""
    section = README.split("## Performance", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ")]


def numbers_before(words: str, rows: list[str]) -> list[int]:
    """Every number written before ``words`` in the rows: "31 / 29 ms median" gives 31 and 29."""
    found = []
    for row in rows:
        for group in re.findall(r"(?<!≤ )(?<![\d.])((?:\d+ / )*\d+) " + re.escape(words), row):
            found += [int(n) for n in group.split(" / ")]
    return found


def test_the_browser_latencies_in_the_performance_rows_are_browser_latency_json():
    controls = record("browser_latency")["controls"]
    rows = [row for row in performance_rows() if "browser" in row and "BENCH_NEIGHBOUR" not in row]
    for words, key in (("ms median", "median_ms"), ("ms p95", "p95_ms")):
        want = sorted(round(c[key]) for c in controls.values())
        assert sorted(numbers_before(words, rows)) == want, f"the README's browser {words} are not the record's"
    settles = sorted(round(c["fast_drag"]["settle_ms"]) for c in controls.values() if "floor" not in c.get("name", ""))
    written = sorted(numbers_before("ms after a drag", rows) + numbers_before("ms after the last key", rows))
    assert set(written) <= set(settles), f"a settle time in the README is not the record's: {written} vs {settles}"


def test_a_notebook_reads_a_record_from_any_folder_and_a_wrong_name_is_named(tmp_path, monkeypatch):
    import pytest

    from lessons_src.records import bench_record

    monkeypatch.chdir(tmp_path)  # as from notebooks/zh/ or a learner's copy: the record is found all the same
    assert bench_record("series_time") == record("series_time")
    with pytest.raises(FileNotFoundError, match=r"name must be one of \[.*'series_time'.*\]; run bench/nope.py"):
        bench_record("nope")
