"""metrics.jsonl: the one reader, its schema, and the loss curves drawn from it."""

from __future__ import annotations

from ml_core.metrics_log import loss_curves, read_metrics, training_loss, validation_nll


def test_metrics_reading_skips_bad_lines(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        '{"type": "step", "step": 10, "loss": 2.5}\n'
        '{"type": "epoch", "epoch": 1, "step": 10, "train_loss": 2.6, "val_nll": 2.7}\n'
        'not json\n[1, 2]\n'
        '{"type": "step", "step": 20, "loss": 2.0}\n{"type": "epoch", "step": 30, "val_nll": '
        '"x"}\n')
    rows = read_metrics(tmp_path)
    assert len(rows) == 4
    assert loss_curves(rows) == {"train_loss": ([10.0, 20.0], [2.5, 2.0]),
                                     "val_loss": ([10.0], [2.7])}
    assert read_metrics(tmp_path / "missing") == []


def test_loss_curves_read_what_composer_train_logs():
    rows = [{"type": "step", "step": 20, "loss": 2.0}, {"type": "step", "step": 40, "loss": 1.8},
            {"type": "epoch", "epoch": 1, "step": 40, "train_loss": 1.9, "val_nll": 1.7}]
    curves = loss_curves(rows)
    assert curves["train_loss"] == ([20.0, 40.0], [2.0, 1.8])
    assert curves["val_loss"] == ([40.0], [1.7])


def test_records_of_another_kind_or_without_a_step_draw_nothing(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"type": "step", "loss": 2.0}\n{"type": "step", "step": 5, "loss": true}\n'
                   '{"type": "evaluation", "step": 6, "loss": 1.0}\n'
                   '{"type": "step", "step": 7, "loss": 1.5}')   # no final newline: torn
    records = read_metrics(log)                  # the file itself works as well as its folder
    assert len(records) == 4
    assert training_loss(records) == ([7.0], [1.5])
    assert validation_nll(records) == ([], [])
    assert loss_curves(records) == {"train_loss": ([7.0], [1.5])}
    assert len(read_metrics(log, max_lines=2)) == 2
