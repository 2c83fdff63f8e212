"""Training loops, the fast loader, saving, interrupts and divergence, on a small real FashionMNIST subset."""

from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402

from lessons_src import set_seed  # noqa: E402
from lessons_src.data import (  # noqa: E402
    CLASS_NAMES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    load_fashion_mnist,
    normalize,
    to_tensors,
)
from lessons_src.models import SourceFashionMLP, TutorialMLP  # noqa: E402
from lessons_src.plotting import (  # noqa: E402
    LiveCurve,
    plot_accuracy_history,
    plot_confusion_matrix,
    plot_loss_history,
    plot_misclassified,
    plot_per_class_accuracy,
)
from lessons_src.training import (  # noqa: E402
    EpochSampler,
    History,
    TensorLoader,
    TrainingDiverged,
    accuracy,
    check_hyperparameters,
    confusion_matrix,
    epoch_order,
    evaluate,
    fit,
    load_weights,
    per_class_accuracy,
    predict,
    save_weights,
    train_epoch,
)
from lessons_src.validation import validate_hyperparameters  # noqa: E402
from tests.idx_fixtures import write_learnable_fashion_mnist  # noqa: E402

N_TRAIN, N_TEST = 1280, 500


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """torchvision FashionMNIST datasets over small learnable stand-in IDX files: training mechanics need
    no real data (the real data is tested in test_data.py and by the notebooks)."""
    root = tmp_path_factory.mktemp("fake-fashion-mnist")
    write_learnable_fashion_mnist(root / "FashionMNIST" / "raw", n_train=N_TRAIN, n_test=N_TEST)
    return load_fashion_mnist(root=root)


@pytest.fixture(scope="module")
def data(datasets):
    """(X, y, X_test, y_test): 1280 training and 500 test images, as tensors."""
    train_set, test_set = datasets
    X, y = to_tensors(train_set)
    X_test, y_test = to_tensors(test_set)
    return X[:N_TRAIN], y[:N_TRAIN], X_test[:N_TEST], y_test[:N_TEST]


def small_run(data, num_epochs=3, *, seed=0, lr=0.05, history=None, model=None, optimizer=None,
              loss_fn=None, **kwargs):
    """Train seed 003's small network on the subset; return (model, optimizer, history)."""
    X, y, X_test, y_test = data
    if model is None:
        set_seed(seed)
        model = SourceFashionMLP()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    history = fit(model, kwargs.pop("train_loader", TensorLoader(X, y, 64, shuffle=True, seed=seed)),
                  TensorLoader(X_test, y_test, 100), loss_fn or nn.NLLLoss(), optimizer, num_epochs,
                  history=history, **kwargs)
    return model, optimizer, history


# --- models -------------------------------------------------------------------------------------
def test_tutorial_mlp_returns_logits_with_the_tutorials_layer_names():
    set_seed(0)
    model = TutorialMLP()
    logits = model(torch.rand(5, 1, 28, 28))
    assert logits.shape == (5, 10) and (logits < 0).any()  # no ReLU after the last layer
    assert list(model.state_dict()) == [f"linear_relu_stack.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]


@pytest.mark.parametrize("batchnorm", [False, True])
def test_source_model_returns_log_probabilities_without_biases(batchnorm):
    model = SourceFashionMLP(input_batchnorm=batchnorm)
    output = model(torch.rand(4, 1, 28, 28))
    assert output.shape == (4, 10) and torch.allclose(output.exp().sum(dim=1), torch.ones(4))
    assert model.linear1.bias is None and model.output.bias is None
    assert isinstance(model.normalize, nn.BatchNorm2d) == batchnorm


def test_normalization_constants_are_the_training_sets():
    X, _ = to_tensors(load_fashion_mnist()[0])  # the real training set
    assert math.isclose(X.mean().item(), FASHION_MNIST_MEAN, abs_tol=1e-4)
    assert math.isclose(X.std().item(), FASHION_MNIST_STD, abs_tol=1e-4)
    Z = normalize(X[:5000])
    assert abs(Z.mean().item()) < 0.05 and abs(Z.std().item() - 1) < 0.05


# --- fit and History ----------------------------------------------------------------------------
def test_fit_records_one_entry_per_epoch_and_the_loss_falls(data):
    model, _, history = small_run(data, num_epochs=3)
    assert history.num_epochs == 3 and history.interrupted is None
    for values in (history.train_loss, history.val_loss, history.val_accuracy, history.seconds, history.lr):
        assert len(values) == 3
    assert len(history.step_loss) == 3 * math.ceil(N_TRAIN / 64)
    assert history.train_loss[-1] < history.train_loss[0] < history.step_loss[0]
    assert history.val_loss[-1] < history.val_loss[0]
    assert all(0 <= a <= 1 for a in history.val_accuracy) and history.val_accuracy[-1] > 0.6
    assert all(s > 0 for s in history.seconds) and history.total_seconds == sum(history.seconds)
    assert history.lr == [0.05] * 3


def test_fit_applies_a_scheduler_once_per_epoch(data):
    set_seed(0)
    model = SourceFashionMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2], gamma=0.1)
    _, _, history = small_run(data, 3, model=model, optimizer=optimizer, scheduler=scheduler)
    assert history.lr == pytest.approx([0.1, 0.1, 0.01])


def test_fit_steps_a_scheduler_after_every_batch_when_asked(data):
    set_seed(0)
    model = SourceFashionMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    steps_per_epoch = math.ceil(N_TRAIN / 64)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=2 * steps_per_epoch)
    _, _, history = small_run(data, 2, model=model, optimizer=optimizer, scheduler=scheduler, scheduler_step="batch")
    twin = torch.optim.lr_scheduler.OneCycleLR(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.5),
                                               max_lr=0.2, total_steps=2 * steps_per_epoch)
    lrs = []
    for _ in range(2 * steps_per_epoch):
        lrs.append(twin.get_last_lr()[0])
        twin.optimizer.step()
        twin.step()
    assert scheduler.last_epoch == 2 * steps_per_epoch
    assert history.lr == [lrs[0], lrs[steps_per_epoch]]  # the lr each epoch started with
    assert optimizer.param_groups[0]["lr"] == twin.get_last_lr()[0]


def test_fit_gives_reduce_lr_on_plateau_the_validation_loss_of_every_epoch(data):
    seen = []

    class Spy(torch.optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics):
            seen.append(metrics)
            super().step(metrics)

    set_seed(0)
    model = SourceFashionMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = Spy(optimizer, factor=0.5, patience=0, threshold=10.0)  # no epoch "improves" by 1000 %
    _, _, history = small_run(data, 3, model=model, optimizer=optimizer, scheduler=scheduler)
    assert seen == history.val_loss
    assert history.lr == pytest.approx([0.05, 0.025, 0.0125])
    with pytest.raises(ValueError, match="scheduler_step must be 'epoch' for ReduceLROnPlateau"):
        small_run(data, 1, model=model, optimizer=optimizer, scheduler=scheduler, scheduler_step="batch")


def test_train_loss_is_the_mean_of_the_batch_losses(data):
    _, _, history = small_run(data, num_epochs=2)
    per_epoch = math.ceil(N_TRAIN / 64)
    for epoch in range(2):
        losses = history.step_loss[epoch * per_epoch:(epoch + 1) * per_epoch]
        assert history.train_loss[epoch] == pytest.approx(sum(losses) / per_epoch)


def test_evaluate_averages_over_batches_in_eval_mode_without_gradients():
    model = SourceFashionMLP(input_batchnorm=True)
    X, y = torch.rand(30, 1, 28, 28), torch.randint(0, 10, (30,))
    loader = [(X[:20], y[:20]), (X[20:], y[20:])]  # batches of unequal size
    running_mean = model.normalize.running_mean.clone()
    loss, acc = evaluate(model, loader, nn.NLLLoss())
    assert not model.training and torch.equal(model.normalize.running_mean, running_mean)
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        batch_losses = [nn.NLLLoss()(model(Xb), yb).item() for Xb, yb in loader]
        output = model(X)
    assert loss == pytest.approx(sum(batch_losses) / 2)  # over batches, not examples
    assert acc == pytest.approx(accuracy(output, y))


# --- the fast path ------------------------------------------------------------------------------
def test_tensor_loader_serves_every_example_once_per_epoch_in_a_seeded_order():
    X, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    loader = TensorLoader(X, y, batch_size=4, shuffle=True, seed=1)
    epochs = [[batch for batch in loader] for _ in range(2)]
    assert len(loader) == 3 and [len(b[1]) for b in epochs[0]] == [4, 4, 2]
    orders = [torch.cat([b[1] for b in batches]) for batches in epochs]
    assert all(sorted(order.tolist()) == list(range(10)) for order in orders)
    assert not torch.equal(orders[0], orders[1])  # a new order every epoch
    assert torch.equal(orders[0], epoch_order(10, 0, seed=1)) and torch.equal(orders[1], epoch_order(10, 1, seed=1))
    assert all(torch.equal(Xb.squeeze(1).long(), yb) for Xb, yb in epochs[0])
    in_order = TensorLoader(X, y, batch_size=4)
    assert torch.equal(torch.cat([yb for _, yb in in_order]), y)


def test_epoch_sampler_gives_a_dataloader_the_same_order():
    sampler = EpochSampler(10, seed=4)
    loader = DataLoader(list(range(10)), batch_size=3, sampler=sampler)
    first, second = torch.cat(list(loader)), torch.cat(list(loader))
    assert torch.equal(first, epoch_order(10, 0, seed=4)) and torch.equal(second, epoch_order(10, 1, seed=4))
    sampler.set_epoch(0)
    assert torch.equal(torch.cat(list(loader)), first)


def test_fast_loader_gives_the_dataloader_loss_trajectory(datasets, data):
    """DataLoader + ToTensor and TensorLoader: same start, same order → the same losses, step by step."""
    X, y, _, _ = data
    set_seed(0)
    slow_model = TutorialMLP()
    fast_model = TutorialMLP()
    fast_model.load_state_dict(slow_model.state_dict())
    slow_loader = DataLoader(Subset(datasets[0], range(N_TRAIN)), batch_size=64, sampler=EpochSampler(N_TRAIN, seed=5))
    fast_loader = TensorLoader(X, y, 64, shuffle=True, seed=5)
    histories = []
    for model, loader in ((slow_model, slow_loader), (fast_model, fast_loader)):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        histories.append(small_run(data, 2, model=model, optimizer=optimizer, train_loader=loader,
                                   loss_fn=nn.CrossEntropyLoss())[2])
    slow, fast = histories
    assert len(slow.step_loss) == len(fast.step_loss) == 2 * 20
    assert torch.allclose(torch.tensor(slow.step_loss), torch.tensor(fast.step_loss), rtol=1e-5, atol=1e-6)
    for p, q in zip(slow_model.parameters(), fast_model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5)


# --- saving and loading -------------------------------------------------------------------------
def test_saved_weights_load_into_a_fresh_model_with_identical_accuracy(data, tmp_path):
    model, _, history = small_run(data, num_epochs=1)
    path = save_weights(model, tmp_path / "sub" / "model.pt")
    fresh = load_weights(SourceFashionMLP(), path)
    test_loader = TensorLoader(data[2], data[3], 100)
    assert evaluate(fresh, test_loader, nn.NLLLoss()) == evaluate(model, test_loader, nn.NLLLoss())
    assert evaluate(fresh, test_loader, nn.NLLLoss())[1] == history.val_accuracy[-1]
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left


def test_a_failed_save_leaves_the_old_file_untouched(tmp_path, monkeypatch):
    path = save_weights(nn.Linear(2, 2), tmp_path / "model.pt")
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. the stop button pressed while writing

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_weights(nn.Linear(2, 2), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


# --- interrupts, divergence, bad hyper-parameters -----------------------------------------------
def interrupt_after(num_epochs):
    def callback(history):
        if history.num_epochs == num_epochs:
            raise KeyboardInterrupt
    return callback


def same_run(history, reference, model, reference_model):
    """History fields (all but wall-clock seconds) and weights bit-identical."""
    fields = {k: v for k, v in vars(history).items() if "seconds" not in k}
    assert fields == {k: v for k, v in vars(reference).items() if "seconds" not in k}
    for (name, p), q in zip(model.state_dict().items(), reference_model.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_interrupt_keeps_model_and_history_and_resuming_matches_an_uninterrupted_run(data):
    with pytest.warns(UserWarning, match="interrupted after epoch 2"):
        model, optimizer, history = small_run(data, 4, on_epoch_end=interrupt_after(2))
    assert history.num_epochs == 2 and history.interrupted == "after epoch 2"
    model, _, history = small_run(data, 4, model=model, optimizer=optimizer, history=history)
    assert history.num_epochs == 4 and history.interrupted is None
    reference_model, _, reference = small_run(data, 4)
    same_run(history, reference, model, reference_model)


def test_interrupt_in_the_middle_of_an_epoch_records_its_steps_and_resumes_there(data):
    X, y, _, _ = data
    fast = TensorLoader(X, y, 64, shuffle=True)

    class StopsInEpoch2:
        sampler = fast.sampler

        def __len__(self):
            return len(fast)

        def __iter__(self):
            for i, batch in enumerate(fast):
                if self.sampler.epoch == 2 and i == 5:  # epoch index 1 was just drawn
                    raise KeyboardInterrupt
                yield batch

    with pytest.warns(UserWarning, match="during epoch 2, after step 5"):
        model, optimizer, history = small_run(data, 3, train_loader=StopsInEpoch2())
    assert history.num_epochs == 1 and history.interrupted == "during epoch 2, after step 5"
    assert history.partial_steps == 5 and len(history.step_loss) == len(fast) + 5 and history.position == (2, 5)
    model, _, history = small_run(data, 3, model=model, optimizer=optimizer, history=history)
    reference_model, _, reference = small_run(data, 3)
    same_run(history, reference, model, reference_model)


def test_fit_with_a_complete_history_does_nothing(data):
    model, optimizer, history = small_run(data, 1)
    weights = model.linear1.weight.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small_run(data, 1, model=model, optimizer=optimizer, history=history)
    assert history.num_epochs == 1 and torch.equal(model.linear1.weight, weights)


def test_a_huge_learning_rate_stops_training_naming_epoch_step_and_lr(data):
    X, y, X_test, y_test = data
    set_seed(0)
    model = TutorialMLP()
    history = History()
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+ with SGD at lr = 100\b") as caught:
        fit(model, TensorLoader(X, y, 64), TensorLoader(X_test, y_test, 100), nn.CrossEntropyLoss(),
            torch.optim.SGD(model.parameters(), lr=100.0), 3, history=history)
    assert caught.value.epoch == 1 and caught.value.lr == 100.0 and not math.isfinite(caught.value.loss)
    assert history.num_epochs == 0


@pytest.mark.parametrize("check_every", [1, 4, 50])
def test_divergence_names_the_first_bad_step_whatever_the_check_interval(check_every):
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    calls = []

    def loss_fn(output, y):
        calls.append(1)
        loss = nn.functional.cross_entropy(output, y)
        return loss * float("inf") if len(calls) >= 7 else loss

    loader = [(torch.randn(4, 3), torch.randint(0, 2, (4,))) for _ in range(10)]
    with pytest.raises(TrainingDiverged, match="step 7 ") as caught:
        train_epoch(model, loader, loss_fn, optimizer, epoch=3, check_every=check_every)
    assert caught.value.step == 7 and caught.value.epoch == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": 0}, "lr must be"), ({"lr": -0.1}, "lr must be"), ({"lr": float("nan")}, "lr must be"),
    ({"batch_size": 0}, "batch_size must be"), ({"batch_size": 2.0}, "batch_size must be"),
    ({"batch_size": True}, "batch_size must be"), ({"num_epochs": -1}, "num_epochs must be"),
    ({"momentum": 1.0}, "momentum must be"), ({"momentum": -0.5}, "momentum must be"),
])
def test_invalid_hyperparameters_raise_value_error_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        validate_hyperparameters(**kwargs)
    assert check_hyperparameters is validate_hyperparameters  # the older name still imports


def test_fit_and_loader_reject_invalid_hyperparameters(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        TensorLoader(X, y, 0)
    with pytest.raises(ValueError, match="num_epochs must be an int >= 0, got -1"):
        small_run(data, -1)
    model = SourceFashionMLP()
    for lr in (0.0, -1.0):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        optimizer.param_groups[0]["lr"] = lr
        with pytest.raises(ValueError, match="lr must be"):
            small_run(data, 1, model=model, optimizer=optimizer)


# --- metrics and plots --------------------------------------------------------------------------
def test_confusion_matrix_and_per_class_accuracy_by_hand():
    predicted, labels = torch.tensor([0, 1, 1, 2, 2, 2]), torch.tensor([0, 1, 2, 2, 2, 0])
    confusion = confusion_matrix(predicted, labels, num_classes=3)
    assert confusion.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]
    assert per_class_accuracy(confusion).tolist() == pytest.approx([0.5, 1.0, 2 / 3])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=60))
def test_confusion_matrix_counts_every_example_once(pairs):
    predicted, labels = torch.tensor(pairs).T
    confusion = confusion_matrix(predicted, labels, num_classes=5)
    assert confusion.sum() == len(pairs)
    assert confusion.trace().item() == (predicted == labels).sum().item()
    assert confusion.sum(dim=1).tolist() == torch.bincount(labels, minlength=5).tolist()


def test_predict_matches_evaluate(data):
    model, _, history = small_run(data, 1)
    predicted, labels = predict(model, TensorLoader(data[2], data[3], 128))
    assert torch.equal(labels, data[3]) and predicted.dtype == torch.int64
    assert (predicted == labels).double().mean().item() == pytest.approx(history.val_accuracy[-1])


def test_plots_draw_on_the_given_axes_and_the_live_curve_moves(data):
    _, _, history = small_run(data, 2)
    fig, (ax1, ax2, ax3, ax4) = plt.subplots(1, 4)
    assert plot_loss_history(ax1, history) is ax1 and len(ax1.lines) == 2
    assert plot_accuracy_history(ax2, history) is ax2 and len(ax2.lines) == 1
    confusion = confusion_matrix(torch.randint(0, 10, (50,)), torch.randint(0, 10, (50,)))
    assert plot_confusion_matrix(ax3, confusion, CLASS_NAMES) is ax3 and len(ax3.texts) == 100
    assert plot_per_class_accuracy(ax4, per_class_accuracy(confusion + 1), CLASS_NAMES) is ax4
    grid = plot_misclassified(plt.figure(), data[0][:7], [1] * 7, [2] * 7, CLASS_NAMES, cols=4)
    assert len(grid.axes) == 8 and grid.axes[0].get_title() == "said Trouser\nis Pullover"
    curve = LiveCurve(plt.figure())
    curve(history)
    assert list(curve.accuracy_line.get_ydata()) == pytest.approx([100 * a for a in history.val_accuracy])
    assert list(curve.train_line.get_xdata()) == [1, 2] and curve.ax_loss.get_xlim()[1] >= 2
    assert curve.ax_accuracy.get_ylim()[0] > 0  # rescaled from the empty frame's 0–100
    plt.close("all")


# --- self-checks --------------------------------------------------------------------------------
def test_a_history_saved_with_the_old_test_field_names_loads_as_validation_numbers():
    from lessons_src.history import History

    fields = History().to_dict()
    fields = {("test_" + k[4:] if k.startswith("val_") else k): v for k, v in fields.items()}
    fields["test_loss"], fields["test_accuracy"] = [0.5], [0.8]
    with pytest.warns(UserWarning, match="earlier version of the course"):
        history = History.from_dict(fields)
    assert history.val_loss == [0.5] and history.val_accuracy == [0.8]
    with pytest.raises(ValueError, match="no field"):
        History.from_dict({**History().to_dict(), "bogus": 1})
