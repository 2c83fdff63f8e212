"""Fault tour of data, training and checkpoints: every bad input or fault ends in a clear error or an exact state.

Each test injects one fault (a corrupt file, a bad hyper-parameter, wrong labels, NaN, a real
SIGINT, a broken checkpoint, a read-only folder...) and asserts what the learner gets: an error
that names the argument or file and the remedy, a visible diverged state, or a resumed run that is
bit-identical to one that was never stopped. Small random data keeps it fast; nothing here hangs
(subprocesses run under timeouts).
"""

from __future__ import annotations

import errno
import gzip
import json
import math
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lessons_src import data
from lessons_src.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lessons_src.data import CorruptDataError, DataNotFoundError, load_fashion_mnist, raw_dir
from lessons_src.history import History
from lessons_src.training import (
    EpochSampler,
    TensorLoader,
    TrainingDiverged,
    confusion_matrix,
    evaluate,
    fit,
    load_weights,
    predict,
    save_weights,
    train_epoch,
)
from tests.idx_fixtures import idx_bytes, write_fake_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
NUM_EPOCHS, BATCH_SIZE, TEST_BATCH_SIZE = 3, 32, 25
_generator = torch.Generator().manual_seed(0)
X_TRAIN, Y_TRAIN = torch.randn(240, 1, 8, 8, generator=_generator), torch.randint(0, 10, (240,), generator=_generator)
X_TEST, Y_TEST = torch.randn(60, 1, 8, 8, generator=_generator), torch.randint(0, 10, (60,), generator=_generator)
STEPS, TEST_BATCHES = 240 // BATCH_SIZE + 1, 60 // TEST_BATCH_SIZE + 1  # 8 training steps, 3 test batches


# --- a small run with everything that makes resuming hard: BatchNorm, dropout, momentum, a schedule --------
def make_run(seed: int = 0):
    """(model, optimizer, scheduler), seeded."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(64), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(32, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)


def train(model, optimizer, scheduler, *, history=None, on_loss=None, on_epoch_end=None, train_loader=None):
    """fit for NUM_EPOCHS epochs; ``on_loss(call)`` runs before every loss (training steps and test batches)."""
    calls = [0]

    def loss_fn(output, y):
        calls[0] += 1
        if on_loss is not None:
            on_loss(calls[0])
        return nn.functional.cross_entropy(output, y)

    loader = train_loader or TensorLoader(X_TRAIN, Y_TRAIN, BATCH_SIZE, shuffle=True, seed=1)
    return fit(model, loader, TensorLoader(X_TEST, Y_TEST, TEST_BATCH_SIZE), loss_fn, optimizer, NUM_EPOCHS,
               scheduler=scheduler, history=history, on_epoch_end=on_epoch_end)


def sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def sigint_at(call_number: int):
    return lambda call: sigint() if call == call_number else None


def assert_same_run(history, model, reference, reference_model) -> None:
    """Every History field but wall-clock seconds equal, every weight and buffer bit-identical."""
    fields = {key: value for key, value in vars(history).items() if "seconds" not in key}
    assert fields == {key: value for key, value in vars(reference).items() if "seconds" not in key}
    for (name, value), expected in zip(model.state_dict().items(), reference_model.state_dict().values(), strict=True):
        assert torch.equal(value, expected), name


def assert_clear(message: str) -> None:
    """A message a learner can read: short, no terminal colour codes, never advice to unpickle unsafely."""
    assert "\x1b" not in message and "weights_only=False" not in message and len(message) < 700, message


@pytest.fixture(scope="module")
def reference():
    """The unbroken run: (model, history)."""
    model, optimizer, scheduler = make_run()
    return model, train(model, optimizer, scheduler)


# --- interrupts: a real SIGINT at each point, resumed in this process or from a checkpoint --------------
INTERRUPT_POINTS = {  # how to interrupt, where fit says it stopped, the position it records
    # call numbers of the loss function: epoch 1 is calls 1-8 (steps) and 9-11 (test batches), epoch 2 from 12
    "in the middle of an epoch": (dict(on_loss=sigint_at(STEPS + TEST_BATCHES + 4)), "during epoch 2, after step 4",
                                  (2, 4)),
    "during evaluation": (dict(on_loss=sigint_at(2 * STEPS + TEST_BATCHES + 2)), "during the evaluation of epoch 2",
                          (2, STEPS)),
    "between epochs": (dict(on_epoch_end=lambda h: sigint() if h.num_epochs == 1 else None), "after epoch 1", (2, 0)),
}


@pytest.mark.parametrize("point", INTERRUPT_POINTS)
def test_sigint_then_fit_with_the_history_is_bit_identical(point, reference):
    kwargs, where, position = INTERRUPT_POINTS[point]
    model, optimizer, scheduler = make_run()
    with pytest.warns(UserWarning, match=f"interrupted {where}"):
        history = train(model, optimizer, scheduler, **kwargs)
    assert history.interrupted == where and history.position == position
    history = train(model, optimizer, scheduler, history=history)
    assert history.interrupted is None
    assert_same_run(history, model, reference[1], reference[0])


@pytest.mark.parametrize("point", INTERRUPT_POINTS)
def test_sigint_then_a_checkpoint_resumed_into_fresh_objects_is_bit_identical(point, reference, tmp_path):
    kwargs, where, _ = INTERRUPT_POINTS[point]
    model, optimizer, scheduler = make_run()
    with pytest.warns(UserWarning, match="interrupted"):
        history = train(model, optimizer, scheduler, **kwargs)
    save_checkpoint(tmp_path / "run.pt", model, optimizer, scheduler=scheduler, history=history)
    torch.rand(100), np.random.rand(5)  # other work in between moves the generators
    model, optimizer, scheduler = make_run(seed=1)  # fresh objects, different initial weights
    history = load_checkpoint(tmp_path / "run.pt", model, optimizer, scheduler=scheduler)
    assert history.interrupted == where
    history = train(model, optimizer, scheduler, history=history)
    assert_same_run(history, model, reference[1], reference[0])


def test_an_evaluation_interrupt_does_not_train_the_epoch_again(reference):
    model, optimizer, scheduler = make_run()
    with pytest.warns(UserWarning):
        history = train(model, optimizer, scheduler, on_loss=sigint_at(STEPS + 1))  # first test batch of epoch 1
    assert (history.num_epochs, history.partial_steps, history.partial_trained) == (0, STEPS, True)
    assert len(history.step_loss) == STEPS
    calls = []
    history = train(model, optimizer, scheduler, history=history, on_loss=calls.append)
    assert len(calls) == TEST_BATCHES + (NUM_EPOCHS - 1) * (STEPS + TEST_BATCHES)  # no training step repeated


def test_an_interrupt_inside_the_forward_pass_puts_generator_and_batchnorm_back(reference):
    model, optimizer, scheduler = make_run()
    forwards = [0]

    def stop_in_forward(module, inputs):  # runs after BatchNorm and dropout of the same forward pass
        forwards[0] += 1
        if forwards[0] == STEPS + TEST_BATCHES + 3:
            raise KeyboardInterrupt

    handle = model[5].register_forward_pre_hook(stop_in_forward)
    with pytest.warns(UserWarning, match="during epoch 2, after step 2"):
        history = train(model, optimizer, scheduler)
    handle.remove()
    history = train(model, optimizer, scheduler, history=history)
    assert_same_run(history, model, reference[1], reference[0])


def test_a_second_sigint_stops_a_hanging_loader_at_once():
    class HangsAtStep3:
        def __iter__(self):
            for step, batch in enumerate(TensorLoader(X_TRAIN, Y_TRAIN, BATCH_SIZE)):
                if step == 2:  # two Ctrl-C from outside while the loader is stuck (e.g. on a network drive)
                    for delay in (0.2, 0.4):
                        threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()
                    time.sleep(20)
                yield batch

    start = time.perf_counter()
    model, optimizer, scheduler = make_run()
    with pytest.warns(UserWarning, match="during epoch 1, after step 2"):
        history = train(model, optimizer, scheduler, train_loader=HangsAtStep3())
    assert time.perf_counter() - start < 10 and history.partial_steps == 2


def test_a_dataloader_with_an_epoch_sampler_resumes_mid_epoch_exactly():
    loader = DataLoader(TensorDataset(X_TRAIN, Y_TRAIN), batch_size=BATCH_SIZE, sampler=EpochSampler(240, seed=1))
    reference_model, optimizer, scheduler = make_run()
    reference = train(reference_model, optimizer, scheduler, train_loader=loader)
    model, optimizer, scheduler = make_run()
    with pytest.warns(UserWarning, match="after step 4"):
        history = train(model, optimizer, scheduler, on_loss=sigint_at(STEPS + TEST_BATCHES + 4), train_loader=loader)
    history = train(model, optimizer, scheduler, history=history, train_loader=loader)
    # every iter() of a DataLoader draws a seed from torch's generator: skipping must not draw it twice
    assert_same_run(history, model, reference, reference_model)


def test_resuming_a_shuffled_dataloader_mid_epoch_warns_that_the_order_changes():
    loader = DataLoader(TensorDataset(X_TRAIN, Y_TRAIN), batch_size=BATCH_SIZE, shuffle=True)
    model, optimizer, scheduler = make_run()
    with pytest.warns(UserWarning):
        history = train(model, optimizer, scheduler, on_loss=sigint_at(3), train_loader=loader)
    with pytest.warns(UserWarning, match=r"DataLoader\(shuffle=True\).*EpochSampler"):
        train(model, optimizer, scheduler, history=history, train_loader=loader)


CHILD = """
import json, os, sys, time, torch
from pathlib import Path
from lessons_src.checkpoint import load_checkpoint, save_checkpoint
from tests.test_faults_training import make_run, train
torch.set_num_threads(1)
mode, path = sys.argv[1], Path(sys.argv[2])
model, optimizer, scheduler = make_run()
if mode == "interrupt":
    def slow_down(call):  # from step 3 on, each step waits a little, so that the signal lands mid-run
        if call == 3:
            path.with_suffix(".started").touch()
        if call >= 3:
            time.sleep(0.05)
    history = train(model, optimizer, scheduler, on_loss=slow_down)
    save_checkpoint(path, model, optimizer, scheduler=scheduler, history=history)
    print(json.dumps([history.interrupted, history.num_epochs]))
else:
    history = load_checkpoint(path, model, optimizer, scheduler=scheduler)
    history = train(model, optimizer, scheduler, history=history)
    save_checkpoint(path.with_suffix(".done.pt"), model, optimizer, scheduler=scheduler, history=history)
"""


def test_sigint_to_another_process_then_resume_in_a_fresh_one_is_bit_identical(tmp_path):
    script, path = tmp_path / "child.py", tmp_path / "run.pt"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    child = subprocess.Popen([sys.executable, str(script), "interrupt", str(path)], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not path.with_suffix(".started").exists():
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    where, _ = json.loads(out)
    assert where is not None, "the signal arrived after the run had ended"
    subprocess.run([sys.executable, str(script), "resume", str(path)], env=env, cwd=ROOT, check=True, timeout=120)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the children: the same thread count gives the same bits
    try:
        reference_model, optimizer, scheduler = make_run()
        reference = train(reference_model, optimizer, scheduler)
        model, optimizer, scheduler = make_run(seed=5)
        resumed = load_checkpoint(path.with_suffix(".done.pt"), model, optimizer, scheduler=scheduler)
    finally:
        torch.set_num_threads(threads)
    assert_same_run(resumed, model, reference, reference_model)


# --- hyper-parameters ------------------------------------------------------------------------------------
def test_lr_true_is_not_one():
    model, optimizer, scheduler = make_run()
    optimizer.param_groups[0]["lr"] = True
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got True"):
        train(model, optimizer, scheduler)


@pytest.mark.parametrize("lr", [np.float32(0.05), torch.tensor(0.05)], ids=["numpy", "torch"])
def test_lr_of_any_numeric_type_trains(lr):
    model, optimizer, _ = make_run()
    optimizer.param_groups[0]["lr"] = lr
    history = train(model, optimizer, None)
    assert history.num_epochs == NUM_EPOCHS and math.isclose(history.lr[0], 0.05, rel_tol=1e-6)


def test_numpy_integers_are_a_batch_size_and_a_number_of_epochs():
    loader = TensorLoader(X_TRAIN, Y_TRAIN, np.int64(64))
    model, optimizer, _ = make_run()
    history = fit(model, loader, loader, nn.CrossEntropyLoss(), optimizer, np.int64(1))
    assert loader.batch_size == 64 and type(loader.batch_size) is int and history.num_epochs == 1


def test_momentum_of_numpy_type_is_accepted_and_nan_momentum_is_not():
    model, optimizer, _ = make_run()
    optimizer.param_groups[0]["momentum"] = np.float32(0.9)
    assert train(model, optimizer, None).num_epochs == NUM_EPOCHS
    optimizer.param_groups[0]["momentum"] = float("nan")
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \[0, 1\), got nan"):
        train(model, optimizer, None, history=History())


@pytest.mark.parametrize("check_every", [0, -5, 2.5])
def test_check_every_must_be_a_positive_int(check_every):
    model, optimizer, _ = make_run()
    loader = TensorLoader(X_TRAIN, Y_TRAIN, BATCH_SIZE)
    with pytest.raises(ValueError, match="check_every must be an int >= 1"):
        fit(model, loader, loader, nn.CrossEntropyLoss(), optimizer, 1, check_every=check_every)


def test_scheduler_step_must_be_epoch_or_batch():
    model, optimizer, scheduler = make_run()
    loader = TensorLoader(X_TRAIN, Y_TRAIN, BATCH_SIZE)
    with pytest.raises(ValueError, match="scheduler_step must be 'epoch' or 'batch', got 'step'"):
        fit(model, loader, loader, nn.CrossEntropyLoss(), optimizer, 1, scheduler=scheduler, scheduler_step="step")


def test_a_scheduler_of_another_optimizer_is_refused():
    model, optimizer, _ = make_run()
    _, _, other_scheduler = make_run()
    loader = TensorLoader(X_TRAIN, Y_TRAIN, BATCH_SIZE)
    with pytest.raises(ValueError, match="scheduler must be built on the optimizer given to fit"):
        fit(model, loader, loader, nn.CrossEntropyLoss(), optimizer, 2, scheduler=other_scheduler)


def test_an_epoch_whose_steps_are_a_multiple_of_check_every_trains():
    model, optimizer, _ = make_run()
    loader = TensorLoader(X_TRAIN[:256], Y_TRAIN[:256], BATCH_SIZE)  # 8 steps, checked after 4 and 8
    losses = train_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, check_every=4)
    assert len(losses) == 8 and all(math.isfinite(loss) for loss in losses)


# --- shapes and labels -----------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [10, 60])
def test_one_hot_labels_in_evaluate_and_predict_say_use_argmax(batch_size):
    model, _, _ = make_run()
    one_hot = nn.functional.one_hot(Y_TEST, 10).float()
    loader = TensorLoader(X_TEST, one_hot, batch_size)
    for call in (lambda: evaluate(model, loader, nn.CrossEntropyLoss()), lambda: predict(model, loader)):
        with pytest.raises(ValueError, match=r"labels must be class indices of shape \(N,\).*y.argmax\(1\)"):
            call()


def test_one_hot_labels_in_fit_are_refused_before_any_step():
    model, optimizer, scheduler = make_run()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    loader = TensorLoader(X_TRAIN, nn.functional.one_hot(Y_TRAIN, 10).float(), BATCH_SIZE)
    with pytest.raises(ValueError, match=r"y.argmax\(1\)"):
        fit(model, loader, loader, nn.CrossEntropyLoss(), optimizer, 1)
    assert all(torch.equal(model.state_dict()[name], value) for name, value in before.items())


@pytest.mark.parametrize(("labels", "message"), [
    (Y_TRAIN.float(), r"integer tensor of class indices, got dtype torch.float32; use y.long\(\)"),
    (Y_TRAIN.unsqueeze(1), r"shape \(N,\), got shape \(32, 1\); use y.reshape\(-1\)"),
    (torch.where(Y_TRAIN == 3, 10, Y_TRAIN), r"labels must lie in \[0, 9\], got values from 0 to 10"),
], ids=["float", "column", "out of range"])
def test_wrong_labels_in_training_say_what_to_do_and_leave_batchnorm_alone(labels, message):
    model, optimizer, _ = make_run()
    running_mean = model[1].running_mean.clone()
    with pytest.raises(ValueError, match=message):
        train_epoch(model, TensorLoader(X_TRAIN, labels, BATCH_SIZE), nn.CrossEntropyLoss(), optimizer)
    assert torch.equal(model[1].running_mean, running_mean)


def test_a_batch_with_fewer_labels_than_examples_is_named():
    model, optimizer, _ = make_run()
    loader = [(X_TRAIN[:8], Y_TRAIN[:7])]
    with pytest.raises(ValueError, match="one label per example: 8 examples, 7 labels"):
        train_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)


def test_confusion_matrix_refuses_labels_outside_its_classes():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\], got values from 0 to 10"):
        confusion_matrix(torch.tensor([0, 1, 2]), torch.tensor([0, 10, 2]))


# --- NaN and divergence ----------------------------------------------------------------------------------
def test_a_nan_in_the_test_data_is_an_error_naming_the_inputs():
    X_bad = X_TEST.clone()
    X_bad[30, 0, 4, 4] = float("nan")
    model, _, _ = make_run()
    with pytest.raises(ValueError, match="the loss of batch 2 is nan: its inputs hold NaN or infinite values"):
        evaluate(model, TensorLoader(X_bad, Y_TEST, TEST_BATCH_SIZE), nn.CrossEntropyLoss())


def test_a_nan_pixel_in_the_training_data_blames_the_data_not_the_lr():
    X_bad = X_TRAIN.clone()
    X_bad[100, 0, 0, 0] = float("nan")  # batch 4 of the unshuffled order
    model, optimizer, _ = make_run()
    loader = TensorLoader(X_bad, Y_TRAIN, BATCH_SIZE)
    with pytest.raises(ValueError, match="inputs of epoch 1, step 4 hold NaN or infinite values") as caught:
        fit(model, loader, TensorLoader(X_TEST, Y_TEST, TEST_BATCH_SIZE), nn.CrossEntropyLoss(), optimizer, 1)
    assert "smaller lr" not in str(caught.value)


def test_nan_weights_give_a_test_loss_error_that_blames_the_model():
    model, _, _ = make_run()
    with torch.no_grad():
        model[5].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="inputs are finite: the model's outputs are not finite"):
        evaluate(model, TensorLoader(X_TEST, Y_TEST, TEST_BATCH_SIZE), nn.CrossEntropyLoss())


def test_adam_at_a_huge_lr_is_reported_as_divergence_naming_optimizer_and_lr():
    model, _, _ = make_run()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e6)
    history = History()
    loader = TensorLoader(X_TRAIN, Y_TRAIN, BATCH_SIZE, shuffle=True)
    with pytest.raises(TrainingDiverged, match=r"exploded .* at epoch 1, step \d+ with Adam at lr = 1e\+06") as caught:
        fit(model, loader, TensorLoader(X_TEST, Y_TEST, TEST_BATCH_SIZE), nn.CrossEntropyLoss(), optimizer, 2,
            history=history)
    assert math.isfinite(caught.value.loss) and caught.value.loss > 1000 * math.log(10)
    assert history.num_epochs == 0 and history.partial_steps == 0  # nothing recorded from the exploded epoch


# --- checkpoints -----------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    """A model, optimizer and scheduler with a checkpoint of them at tmp_path / 'run.pt'."""
    model, optimizer, scheduler = make_run()
    history = train(model, optimizer, scheduler)
    return model, optimizer, scheduler, save_checkpoint(tmp_path / "run.pt", model, optimizer, scheduler=scheduler,
                                                        history=history)


@pytest.mark.parametrize("content", [bytes(np.random.default_rng(seed).integers(0, 256, 300, dtype=np.uint8))
                                     for seed in range(3)] + [b"", b"hello world\n"],
                         ids=["garbage0", "garbage1", "garbage2", "empty", "text"])
def test_a_file_that_is_not_a_checkpoint_gets_a_short_message(tmp_path, content):
    path = tmp_path / "run.pt"
    path.write_bytes(content)
    model, optimizer, _ = make_run()
    for load in (lambda: load_checkpoint(path, model, optimizer), lambda: load_weights(model, path)):
        with pytest.raises(CheckpointError, match="is not a (checkpoint|weights file): it is empty, truncated") as err:
            load()
        assert_clear(str(err.value))
        assert err.value.__suppress_context__  # no torch traceback chained under it


def test_a_truncated_checkpoint_keeps_its_message_short(saved):
    model, optimizer, scheduler, path = saved
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated") as caught:
        load_checkpoint(path, model, optimizer, scheduler=scheduler)
    assert_clear(str(caught.value))


def test_a_whole_pickled_model_is_refused_with_how_to_save_it(tmp_path):
    model, optimizer, _ = make_run()
    torch.save(model, tmp_path / "model.pt")  # the whole object: loading it would run code
    with pytest.raises(CheckpointError, match=r"pickled Python object \(torch.nn.modules.container.Sequential\)"
                                              r".*save_checkpoint\(path, model, optimizer") as caught:
        load_checkpoint(tmp_path / "model.pt", model, optimizer)
    assert_clear(str(caught.value))


def test_a_weights_file_given_as_a_checkpoint_says_what_is_missing(tmp_path):
    model, optimizer, _ = make_run()
    path = save_weights(model, tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="holds only a model's weights.*no optimizer state.*load_weights"):
        load_checkpoint(path, model, optimizer)
    assert load_weights(model, path) is model  # the right loader takes it


def test_a_checkpoint_for_another_model_or_without_its_scheduler_is_refused(saved):
    _, _, _, path = saved
    other = nn.Linear(64, 10)
    other_optimizer = torch.optim.SGD(other.parameters(), lr=0.1)
    with pytest.raises(CheckpointError, match="the model in .* does not fit this Linear: .*Build the same model"):
        load_checkpoint(path, other, other_optimizer, scheduler=torch.optim.lr_scheduler.StepLR(other_optimizer, 1))
    model, optimizer, _ = make_run()
    with pytest.raises(CheckpointError, match="holds a scheduler's state: pass scheduler="):
        load_checkpoint(path, model, optimizer)


def test_a_checkpoint_names_a_missing_file_and_a_folder(tmp_path):
    model, optimizer, _ = make_run()
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing.pt", model, optimizer)
    with pytest.raises(IsADirectoryError, match="is a folder; give the path of the checkpoint itself"):
        load_checkpoint(tmp_path, model, optimizer)


def test_loading_with_another_thread_count_warns_that_bits_may_differ(saved):
    model, optimizer, scheduler, path = saved
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        with pytest.warns(UserWarning, match=f"saved with {threads} torch threads"):
            load_checkpoint(path, model, optimizer, scheduler=scheduler)
    finally:
        torch.set_num_threads(threads)


def test_saving_into_a_read_only_folder_names_the_path_and_keeps_the_old_file(saved, monkeypatch):
    model, optimizer, scheduler, path = saved
    before = path.read_bytes()
    real_open = os.open

    def read_only(file, flags, *args, **kwargs):
        if Path(file).parent == path.parent and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(PermissionError, match=f"cannot save to {path}: Permission denied. Choose a folder you can"):
        save_checkpoint(path, model, optimizer, scheduler=scheduler)
    assert path.read_bytes() == before


def test_a_stale_temporary_file_of_a_crashed_save_is_removed_by_the_next_save(saved):
    model, optimizer, scheduler, path = saved
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True, timeout=60)
    stale = path.with_name(f".{path.name}.{dead.stdout.strip()}.0123abcd.tmp")
    stale.write_bytes(b"half a checkpoint")
    older = path.with_name(f".{path.name}.x1y2z3.tmp")  # the naming of an earlier version
    older.write_bytes(b"")
    save_checkpoint(path, model, optimizer, scheduler=scheduler)
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.pt"]


def test_kill_9_during_a_save_leaves_a_loadable_file_and_the_next_save_cleans_up(saved):
    model, optimizer, scheduler, path = saved
    writer = subprocess.Popen([sys.executable, "-c", (
        "import torch\nfrom lessons_src.checkpoint import save_weights\nbig = torch.nn.Linear(3000, 3000)\n"
        f"save_weights(big, {str(path)!r})\nprint('saved once', flush=True)\n"
        f"while True:\n    save_weights(big, {str(path)!r})\n")], env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "saved once"
        time.sleep(0.3)
    finally:
        writer.kill()  # SIGKILL: no handler runs, no cleanup
        writer.wait(timeout=60)
    load_weights(nn.Linear(3000, 3000), path)  # whichever save finished last, never half of one
    save_checkpoint(path, model, optimizer, scheduler=scheduler)
    assert [p.name for p in path.parent.iterdir()] == ["run.pt"]


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask 022", "umask 027"])
def test_a_saved_file_has_the_mode_of_a_normal_file(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = save_weights(nn.Linear(2, 2), tmp_path / "model.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    path.chmod(0o640)
    save_weights(nn.Linear(2, 2), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # an existing file keeps its mode, as open("w") does


# --- data files ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"])
def test_a_label_outside_0_to_9_is_caught_at_load_time_naming_the_file(tmp_path, name):
    arrays = write_fake_fashion_mnist(raw_dir(tmp_path))
    labels = arrays[name].copy()
    labels[3] = 12
    (raw_dir(tmp_path) / name).write_bytes(idx_bytes(labels))
    with pytest.raises(CorruptDataError, match=f"{name} holds label 12 at position 3 .* Delete it and run again"):
        load_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", download=False)


def test_a_bad_label_inside_a_debian_archive_names_the_archive(tmp_path):
    debian = tmp_path / "debian"
    arrays = write_fake_fashion_mnist(debian, gz=True)
    labels = arrays["train-labels-idx1-ubyte"].copy()
    labels[0] = 200
    (debian / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(CorruptDataError, match=r"train-labels-idx1-ubyte.gz could not be .* holds label 200"):
        data.provision_fashion_mnist(tmp_path / "root", debian_dir=debian, download=False)


def test_a_read_only_empty_data_folder_names_course_data_dir(tmp_path, monkeypatch):
    real_mkdir = Path.mkdir

    def read_only_mkdir(self, *args, **kwargs):
        if tmp_path in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only_mkdir)
    with pytest.raises(DataNotFoundError, match=r"cannot be put there \(Permission denied\)") as caught:
        load_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", mirrors=["http://127.0.0.1:9/"])
    assert f"Set {data.DATA_ENV_VAR} to a folder you can write" in str(caught.value)


def test_an_existing_but_unwritable_data_folder_names_course_data_dir(tmp_path, monkeypatch):
    raw_dir(tmp_path).mkdir(parents=True)
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: Path(path) != raw_dir(tmp_path))
    with pytest.raises(DataNotFoundError, match=f"{data.DATA_ENV_VAR} to a folder you can write"):
        data.provision_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", download=False)


def test_an_explosion_is_reported_even_when_ctrl_c_came_on_the_epochs_last_step():
    model, _, _ = make_run()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e6)
    calls = [0]

    def loss_fn(output, y):
        calls[0] += 1
        if calls[0] == STEPS:  # the last training step of epoch 1
            sigint()
        return nn.functional.cross_entropy(output, y)

    loader, test_loader = TensorLoader(X_TRAIN, Y_TRAIN, BATCH_SIZE, shuffle=True), TensorLoader(X_TEST, Y_TEST, 60)
    with pytest.warns(UserWarning, match="interrupted"):
        history = fit(model, loader, test_loader, loss_fn, optimizer, 1)
    assert history.partial_steps == STEPS and history.num_epochs == 0
    with pytest.raises(TrainingDiverged, match=r"exploded .* at epoch 1, step \d+ with Adam at lr = 1e\+06"):
        fit(model, loader, test_loader, loss_fn, optimizer, 1, history=history)


@pytest.mark.parametrize("point", INTERRUPT_POINTS)
def test_random_numbers_drawn_between_the_stop_and_the_resume_change_nothing(point, reference, tmp_path):
    kwargs, _, _ = INTERRUPT_POINTS[point]
    model, optimizer, scheduler = make_run()
    with pytest.warns(UserWarning, match="interrupted"):
        history = train(model, optimizer, scheduler, **kwargs)
    torch.randn(3), np.random.rand(2)  # the learner runs another cell before resuming
    save_checkpoint(tmp_path / "run.pt", model, optimizer, scheduler=scheduler, history=history)
    fresh_model, fresh_optimizer, fresh_scheduler = make_run(seed=1)
    fresh_history = load_checkpoint(tmp_path / "run.pt", fresh_model, fresh_optimizer, scheduler=fresh_scheduler)
    torch.randn(3)
    assert_same_run(train(model, optimizer, scheduler, history=history), model, reference[1], reference[0])
    assert_same_run(train(fresh_model, fresh_optimizer, fresh_scheduler, history=fresh_history), fresh_model,
                    reference[1], reference[0])
