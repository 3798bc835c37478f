"""Property-based tests (hypothesis): whatever accepted data the inventory holds, the rendered
config.yaml parses back to exactly that data; what k3s could not read is refused; and no value
can inject a key of its own."""

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from harmony.errors import BadInput
from harmony.k3s import cluster, render
from harmony.k3s.settings import from_data
from harmony.k3sconfig import CONFIG_KEY, LABEL_NAME, MAX_VALUE, OWNED_CONFIG_KEYS

# One-line text, as every k3s flag takes: no control characters, no line or paragraph separators.
one_line = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
# Values as YAML would mistake them: quotes, unicode, YAML's special words, huge values.
tricky_text = st.one_of(
    st.text(one_line, max_size=200),
    st.sampled_from(["yes", "no", "on", "off", "null", "~", "true", "1e3", "0x1F", "- a", "a: b",
                     "'", '"', "#x", "&a", "*a", "!!python/object", "---", "...", "{a: 1}", "[1]"]),
    st.text(alphabet="abc:-#'\" ", min_size=1000, max_size=MAX_VALUE),
)
scalar = st.one_of(tricky_text, st.integers(), st.booleans(), st.floats(allow_nan=False))
config_key = st.from_regex(CONFIG_KEY, fullmatch=True).filter(lambda k: k.rstrip("+") not in OWNED_CONFIG_KEYS
                                                              and k.rstrip("+") != "tls-san")
label_name = st.from_regex(LABEL_NAME, fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(extra=st.dictionaries(config_key, st.one_of(scalar, st.lists(scalar, max_size=5)), max_size=8),
       labels=st.dictionaries(label_name, st.one_of(st.just(""), label_name), max_size=5))
def test_config_yaml_parses_back_to_exactly_the_data(extra, labels):
    settings_ = from_data({"k3s_config": extra, "k3s_node_labels": labels, "k3s_node_name": "n1"}, "h")
    shape = cluster.plan([("h", settings_)])
    parsed = yaml.safe_load(render.config_yaml(settings_, "host", shape, "h"))
    expected = {**extra, "node-name": "n1", "tls-san": ["h"]}
    if labels:
        expected["node-label"] = [f"{k}={v}" for k, v in sorted(labels.items())]
    assert parsed == expected


@settings(max_examples=200, deadline=None)
@given(before=st.text(one_line, max_size=20), control=st.sampled_from(["\n", "\r", "\x00", "\x1b", "\x85",
                                                                        "\u2028", "\u2029", "\x7f"]),
       after=st.text(one_line, max_size=20))
def test_a_value_k3s_cannot_read_is_refused(before, control, after):
    with pytest.raises(BadInput, match="k3s_config.*a value k3s cannot read"):
        from_data({"k3s_config": {"node-ip": before + control + after}}, "h")
    with pytest.raises(BadInput, match="k3s_node_labels"):
        from_data({"k3s_node_labels": {"site": before + control + after}}, "h")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_a_setting_name_cannot_smuggle_yaml(key):
    try:
        settings_ = from_data({"k3s_config": {key: "x"}}, "h")
    except BadInput:
        return  # refused with a clear message
    parsed = yaml.safe_load(render.config_yaml(settings_, "host", cluster.plan([("h", settings_)]), "h"))
    assert set(parsed) == {key, "node-name", "tls-san"}
