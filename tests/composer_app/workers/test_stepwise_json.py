"""loads_in_steps gives what json.loads gives, valid or not (issue 39: the recovery file is
decoded in small C calls so the GUI thread never waits long for the interpreter lock)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer_app.workers import stepwise_json
from composer_app.workers.stepwise_json import loads_in_steps

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
           | st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(values, st.sampled_from([None, 0, 2]),
       st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]))
def test_the_same_value_as_json_loads_whatever_the_layout(value, indent, separators):
    text = json.dumps(value, indent=indent, separators=separators)
    assert loads_in_steps(f" \n{text}\r\n ") == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(values, st.integers(0, 10_000),
       st.sampled_from(["", "x", ",", "]", "}", ":", '"', "{", "[", " "]))
def test_damaged_text_is_refused_exactly_when_json_loads_refuses_it(value, where, inserted):
    text = json.dumps(value)
    where %= len(text) + 1
    damaged = text[:where] + inserted + text[where + 1:]
    try:
        expected = json.loads(damaged)
    except json.JSONDecodeError:
        with pytest.raises(json.JSONDecodeError):
            loads_in_steps(damaged)
        return
    assert loads_in_steps(damaged) == expected


def test_deep_values_go_to_the_c_decoder_in_one_call_each(monkeypatch):
    calls = []
    decode = stepwise_json._DECODER.raw_decode
    monkeypatch.setattr(stepwise_json._DECODER, "raw_decode",
                        lambda text, at: calls.append(at) or decode(text, at))
    notes = [[60 + i, i * 480, 480, 90] for i in range(100)]
    payload = {"format": 1, "score": {"tracks": [{"name": "a", "notes": notes}]}}
    assert loads_in_steps(json.dumps(payload)) == payload
    assert len(calls) == 100 + 7     # one per note; keys and scalars above them
