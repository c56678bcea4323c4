"""The results study's paragraphs per paper: the deep dive, "Making Music with LSTMs", the
sequential models, the representations, grammar errors, the frame models, lowered caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.results_groups import REPRESENTATIONS
from bench.results_plots import equal_training
from bench.results_tables import duration_text, number
from bench.results_text import _at_the_cap_text, _equal_tokens_text, _trained_to


def _deep_dive_text(by_key: dict[str, dict[str, Any]], training: dict[str, dict[str, Any]]) -> str:
    keys = [k for k in ("lstm-deepdive-simple", "lstm-deepdive-complex", "transformer-deepdive")
            if k in by_key]
    if len(keys) < 2:
        return ""
    nll = {k: by_key[k]["nll"] for k in keys}
    best = min(nll, key=nll.get)
    parts = [f"{k} {nll[k]:.3f} ({_trained_to(training[k], inside=True)})" for k in keys]
    text = ("**LSTMs vs Transformer (\"A Deep Dive into Music Generation\").** The report gives no "
            "likelihoods: it found no difference between the music of its simple and complex "
            "LSTMs, "
            "and judged its 12 x 1024 Transformer (REMI, 9 hours of training) by far the best by "
            "ear. "
            f"Our validation NLL on remi tokens: {', '.join(parts)}; the lowest is {best}.")
    simple, complex_ = nll.get("lstm-deepdive-simple"), nll.get("lstm-deepdive-complex")
    if simple is not None and complex_ is not None:
        close = abs(simple - complex_) <= 0.05 * min(simple, complex_)
        text += (" The two LSTMs are within 5 % of each other, which agrees with the "
                 "report." if close else
                 " The two LSTMs differ by more than 5 %, unlike the report's impression of their "
                 "music.")
    if "transformer-deepdive" in nll:
        text += (" The Transformer is the best, as the report found."
                 if best == "transformer-deepdive" else
                 " The Transformer is not the best here; with 100M parameters it is the model that "
                 "most needs the compute it was cut off from and more data than ours.")
    names = {"lstm-deepdive-simple": "simple LSTM", "lstm-deepdive-complex": "complex LSTM",
             "transformer-deepdive": "Transformer"}
    equal = _equal_tokens_text([(names[k], training.get(k) or {}) for k in keys], "was")
    lstms = [k for k in keys if k != "transformer-deepdive"]
    if not equal and len(lstms) == 2 and len(keys) == 3:
        # the cut Transformer stopped before the LSTMs' first validation: compare the two LSTMs
        equal = _equal_tokens_text([(names[k], training.get(k) or {}) for k in lstms], "was")
    return text + equal


def _making_music_text(by_key: dict[str, dict[str, Any]],
                       training: dict[str, dict[str, Any]]) -> str:
    """The report's finding: the vocabulary (word) model trains to a fit that generalises,
    the note-state (bi-axial) one barely learns. Compared in bits per note on the same
    validation pieces, and by how far each one's validation loss fell from its first epoch."""
    keys = [k for k in ("bilstm-attention", "biaxial-lstm") if k in by_key]
    if len(keys) < 2:
        return ""
    names = {"bilstm-attention": "the word model (BiLSTM-attention)",
             "biaxial-lstm": "the bi-axial LSTM"}

    def fell(key: str) -> float | None:
        curve = (training.get(key) or {}).get("curve") or []
        if len(curve) < 2 or curve[0]["val_nll"] <= 0:
            return None
        return 1.0 - min(point["val_nll"] for point in curve) / curve[0]["val_nll"]

    bits = {k: (by_key[k].get("whole_pieces") or {}).get("bits_per_note") for k in keys}
    parts = [f"{names[k]} {bits[k]:.2f} bits per note" if bits[k] is not None
             else f"{names[k]} (no bits per note)"
             for k in keys]
    drops = {k: fell(k) for k in keys}
    text = ("**Word model vs note-state model (\"Making Music with LSTMs\").** The report found "
            "the "
            "vocabulary approach easier to train to a model that generalises: its word model's "
            "validation "
            "loss fell steadily (over-fitting after about 50 epochs), while the bi-axial "
            "note-state model's "
            "loss barely moved and its music sounded the same for every input. On our validation "
            "pieces: "
            + ", ".join(parts) + ".")
    if all(v is not None for v in bits.values()):
        better = min(keys, key=lambda k: bits[k])
        text += (" The word model predicts the held-out music better, which agrees with the report."
                 if better == "bilstm-attention" else
                 " The bi-axial LSTM predicts the held-out music better, which differs from the "
                 "report.")
    if all(v is not None for v in drops.values()):
        text += (" From its first epoch to its best, the validation loss fell "
                 + " and ".join(f"{drops[k]:.0%} for {names[k]}" for k in keys) + ".")
    steps = "; ".join(f"{names[k]}: {_trained_to(training.get(k) or {})}" for k in keys)
    return text + f" Trained: {steps}."


def _sequential_text(by_key: dict[str, dict[str, Any]], training: dict[str, dict[str, Any]],
                     tokenizers: dict[str, str]) -> str:
    names = {"rnn": "plain RNN", "lstm-sequential": "LSTM", "lstm-attention": "LSTM with attention"}
    present = [k for k in names if k in by_key]
    if len(present) < 2:
        return ""

    def f1(key: str) -> float:
        classes = (by_key[key].get("whole_pieces") or {}).get("classes") or {}
        chosen = [classes[c]["f1"] for c in ("note", "duration") if c in classes]
        return float(np.mean(chosen)) if chosen else by_key[key].get("macro_f1", 0.0)

    by_f1 = max(present, key=f1)
    by_nll = min(present, key=lambda k: by_key[k]["nll"])
    if "lstm-attention" not in present:
        verdict = "the report's best, the LSTM with attention, is not measured yet"
    else:
        verdict = (f"which {'agrees with' if by_f1 == 'lstm-attention' else 'differs from'} the "
                   f"report")
    scores = ", ".join(f"{names[k]} {f1(k):.3f}" for k in present)
    steps = ", ".join(f"{names[k]} {_trained_to(training[k])}" for k in present)
    runner_up = max((k for k in present if k != by_f1), key=f1)
    margin = f1(by_f1) - f1(runner_up)
    close = (f", though only {margin:.3f} ahead of the {names[runner_up]}: too close to call"
             if margin < 0.01 else "")
    named = [(names[k], training.get(k) or {}) for k in present]
    return ("**RNN vs LSTM vs LSTM with attention (\"Music generation with sequential models\").** "
            "The "
            "report found the LSTM with attention best by precision / recall / F1 over its note "
            "and "
            f"duration classes. Ours (mean of the note and duration F1, table above): {scores}; "
            f"the "
            f"{names[by_f1]} is best ({verdict}){close}, and the {names[by_nll]} has the lowest "
            f"NLL. They read {tokenizers[present[0]]} tokens; trained: {steps}."
            + _equal_tokens_text(named, "was") + _at_the_cap_text(named))


def _comparable(curves: dict[str, Sequence[dict[str, Any]]], by_key: dict[str, dict[str, Any]],
                x: str) -> dict[str, Sequence[dict[str, Any]]]:
    """The curves to compare at equal training `x`: with two finished runs, the runs still
    training count only once they have gone as far as the shortest finished one, so that a
    run in its first epoch does not pull the comparison back to it."""
    finished = [name for name in curves if REPRESENTATIONS[name] in by_key]
    if len(finished) < 2:
        return curves
    reach = min(curves[name][-1][x] for name in finished)
    return {name: curve for name, curve in curves.items() if name in finished
            or curve[-1][x] >= reach}


def _representation_text(by_key: dict[str, dict[str, Any]], training: dict[str, dict[str, Any]],
                         per_note: dict[str, Sequence[dict[str, Any]]] | None = None) -> str:
    bits = {tokenizer: (by_key[key].get("whole_pieces") or {}).get("bits_per_note")
            for tokenizer, key in REPRESENTATIONS.items() if key in by_key}
    bits = {k: v for k, v in bits.items() if v is not None}
    compared = {x: _comparable(per_note or {}, by_key, x) for x in ("notes_seen", "tokens_seen")}
    same_notes, same_steps = (equal_training(curves, x) for x, curves in compared.items())
    if len(bits) < 2 and same_notes is None:
        return ""
    text = ("**Which representation wins.** Nats per token are not comparable across vocabularies "
            "(a scheme that spends more tokens per note has an easier job per token), so the same "
            "Transformer preset is compared in bits per note.")
    if len(bits) >= 2:
        order = sorted(bits, key=bits.get)
        text += (" The total NLL of whole validation pieces divided by the notes their tokens "
                 "hold, "
                 "in bits, for each run's kept model; lower is better: "
                 + ", ".join(f"{k} {bits[k]:.2f}" for k in order) + ".")
        hours = {k: (training.get(REPRESENTATIONS[k]) or {}).get("seconds") for k in order}
        if all(hours.values()) and max(hours.values()) > 1.2 * min(hours.values()):
            text += (f" {order[0]} is lowest, but these runs trained for different times ("
                     + ", ".join(f"{k} {duration_text(hours[k])}" for k in order)
                     + "), so the verdict comes from equal training instead.")
        else:
            text += f" {order[0]} wins."
    winners = []
    for equal, x, amount_text, why in (
            (same_notes, "notes_seen", lambda n: f"{number(n, 0)} training notes",
             "the same music heard"),
            (same_steps, "tokens_seen", lambda n: f"{n / 1e6:.2f} M training tokens",
             "the same steps, so the same compute")):
        if equal is None:
            continue
        amount, reached = equal
        order = sorted(reached, key=reached.get)
        winners.append(order[0])
        unread = [k for k in compared[x] if k not in reached]
        text += (f" At the same {amount_text(amount)} ({why}; the shortest run's last epoch): "
                 + ", ".join(f"{k} {reached[k]:.2f}" for k in order)
                 + f"; {order[0]} is lowest there"
                 + (f" ({', '.join(unread)}: no validation by then)." if unread else "."))
        if len(winners) == 1:
            text += (" These come from the learning curves (validation NLL per token x the "
                     "validation "
                     "split's tokens per note / ln 2, each run's best by then, interpolated "
                     "between "
                     "the two validations around that point where a run has none there).")
    if len(winners) == 2:
        text += (f" At equal training **{winners[0]} wins** by both measures."
                 if winners[0] == winners[1]
                 else f" At equal training the winner depends on the measure: {winners[0]} per "
                 f"note "
                      f"heard, {winners[1]} per step of compute.")
    return text + (" A scheme that also encodes velocity, tempo or meter pays for them in the same "
                   "bits, and a window of 256 tokens holds fewer notes in a verbose scheme.")


def _grammar_text(by_key: dict[str, dict[str, Any]]) -> str:
    masked = {key: r["grammar_errors_per_100_masked"] for key, r in by_key.items()
              if r.get("grammar_errors_per_100_masked") is not None}
    if not masked:
        return ""
    unmasked = ", ".join(f"{key} {by_key[key]['grammar_errors_per_100_unmasked']:.1f}"
                         for key in masked)
    outcome = ("every model makes none, as the method guarantees."
               if all(v == 0 for v in masked.values())
               else "some errors remain, which points at a bug in a grammar (see the table).")
    return ("**Grammar masking.** The LSTM-vs-Transformer paper enforces the token grammar at "
            "sampling "
            "time by masking invalid tokens (the sequential-models report does the same with its "
            "output filter). Sampled without the mask, our token models make these "
            f"many grammar errors per 100 tokens: {unmasked}. With the mask, {outcome}")


def _frame_text(by_key: dict[str, dict[str, Any]]) -> str:
    frames = [key for key, r in by_key.items() if r["kind"] == "frame"]
    if not frames:
        return ""
    density = ", ".join(f"{key} {by_key[key]['density_predicted']:.2f} predicted vs "
                        f"{by_key[key]['density_real']:.2f} real" for key in frames)
    ratio = {key: by_key[key]["density_predicted"] / max(by_key[key]["density_real"], 1e-9)
             for key in frames}
    sparse = [key for key in frames if ratio[key] < 0.5]
    dense = [key for key in frames if ratio[key] > 1.5]
    parts = []
    if sparse:
        parts.append(f"{', '.join(sparse)} predict{'s' if len(sparse) == 1 else ''} "
                     "far fewer notes than the music has, as the reports warn")
    if dense:
        parts.append(f"{', '.join(dense)} still put{'s' if len(dense) == 1 else ''} many keys near "
                     f"probability 0.5 and so over-predict{'s' if len(dense) == 1 else ''}")
    seen = ("Here " + "; ".join(parts)
            + ".") if parts else "All are within 50 % of the real density."
    return ("**Frame models (\"Deep Musician\", \"Making Music with LSTMs\", the piano-roll LSTM "
            "of "
            "\"A Deep Dive\").** Their loss is a binary cross-entropy per key and step, not "
            "comparable "
            "with the token models' NLL. Deep Musician and Making Music with LSTMs both report "
            "that "
            "such models learn that most keys are silent and end up predicting (nearly) empty "
            "rolls; "
            "Deep Musician's density metric (notes sounding per step) measures it. After "
            "thresholding "
            f"at 0.5: {density}. {seen} The pictures sample each key instead of thresholding.")


def _lowered_caps_text(results: Sequence[dict[str, Any]], settings: dict[str, Any]) -> str:
    """The runs whose wall-clock cap was set below the study's (--model-hours: what a
    session's budget allowed), read from each run's own record so that it stays true
    whatever flags regenerate the page."""
    lowered = []
    for result in results:
        cap = (result.get("training") or {}).get("cap_hours")
        if not cap:
            continue
        if result.get("group") == "symbolic" and settings.get("pair_max_hours"):
            usual = settings["pair_max_hours"]
        elif result.get("key") == "transformer-deepdive" and settings.get("big_max_hours"):
            usual = settings["big_max_hours"]
        else:
            usual = settings["max_hours"]
        if cap < usual - 1e-9:
            floor = "" if result.get("key") == "transformer-deepdive" else " past its step floor"
            lowered.append(f"`{result['key']}` {cap:g} h{floor}")
    if not lowered:
        return ""
    return (" These runs had a lower cap, what one session of a 2-core machine allowed: "
            + ", ".join(lowered) + "; their rows are a budget, not convergence.")
