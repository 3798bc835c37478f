"""Host preparation decided from facts: only what is missing is done."""

from harmony.facts import parse
from harmony.k3s import prepare

ALL = {"br_netfilter", "overlay"}
RIGHT = dict(prepare.SYSCTLS)


def test_a_prepared_host_needs_nothing():
    assert prepare.missing_modules(ALL) == []
    assert prepare.wrong_sysctls(RIGHT, ALL) == {}


def test_missing_modules_and_wrong_settings_are_named():
    assert prepare.missing_modules({"overlay"}) == ["br_netfilter"]
    assert prepare.wrong_sysctls({**RIGHT, "net.ipv4.ip_forward": "0"}, ALL) == {"net.ipv4.ip_forward": "1"}


def test_the_bridge_settings_come_with_br_netfilter():
    # Without the module its settings do not exist yet: they are set once it is loaded.
    without = {"net.ipv4.ip_forward": "1"}
    assert prepare.wrong_sysctls(without, {"overlay"}) == {
        "net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1"}
    # A kernel without bridge support at all (the module loaded, no settings): nothing to set.
    assert prepare.wrong_sysctls(without, ALL) == {}


def test_the_fact_reports_modules_and_settings():
    state = parse(["module\tbr_netfilter", "sysctl\tnet.ipv4.ip_forward\t0"])
    assert state.modules == {"br_netfilter"} and state.sysctls == {"net.ipv4.ip_forward": "0"}


def test_the_files_keep_them_for_the_next_boot():
    assert prepare.modules_conf(["br_netfilter", "overlay"]).endswith("br_netfilter\noverlay\n")
    assert "net.ipv4.ip_forward = 1\n" in prepare.sysctl_conf(prepare.SYSCTLS)
