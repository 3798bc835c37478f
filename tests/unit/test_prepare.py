"""Host preparation decided from facts: only what is missing is done."""

from harmony.k3s.facts import parse
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


def test_rhel_family_hosts_get_rancher_s_repository_as_the_install_script_picks_it():
    assert prepare.rpm_repo_path({"centos", "rhel", "fedora"}, "7") == "centos/7"
    assert prepare.rpm_repo_path({"rhel", "fedora"}, "8.9") == "centos/8"
    assert prepare.rpm_repo_path({"rocky", "rhel", "centos", "fedora"}, "9.3") == "centos/9"
    assert prepare.rpm_repo_path({"fedora"}, "40") == "centos/8"
    assert prepare.rpm_repo_path({"debian"}, "12") is None
    repo = prepare.rpm_repo("centos/9")
    assert "baseurl=https://rpm.rancher.io/k3s/stable/common/centos/9/noarch" in repo
    assert "gpgcheck=1" in repo and "gpgkey=https://rpm.rancher.io/public.key" in repo


def test_selinux_needs_the_policy_only_where_enforcing_and_missing():
    rhel = prepare.rpm_repo_path({"rhel"}, "9.4")
    assert prepare.selinux_problem(False, False, None, False) is None  # permissive or absent
    assert prepare.selinux_problem(True, True, None, True) is None  # the policy is there
    assert prepare.selinux_problem(True, False, rhel, False) is None  # harmony installs it
    assert "only on the RHEL family" in prepare.selinux_problem(True, False, None, False)
    assert "an airgapped host cannot fetch it" in prepare.selinux_problem(True, False, rhel, True)


def test_the_fact_reports_selinux_and_the_os():
    state = parse(["selinux\tEnforcing", "os\trocky rhel centos fedora\t9.3", "selinux_policy\tk3s"])
    assert state.enforcing and state.selinux_policy
    assert state.os_family == {"rocky", "rhel", "centos", "fedora"} and state.os_version == "9.3"
    assert not parse(["selinux\tPermissive"]).enforcing


def test_an_enforcing_host_runs_k3s_under_selinux_unless_the_user_says_otherwise():
    import yaml

    from harmony.k3s import cluster, render
    from harmony.k3s.settings import from_data

    def config(data, enforcing):
        settings = from_data(data, "h")
        return yaml.safe_load(render.config_yaml(settings, "h", cluster.plan([("h", settings)]), "h", enforcing))

    assert config({}, True)["selinux"] is True and "selinux" not in config({}, False)
    assert config({"k3s_config": {"selinux": False}}, True)["selinux"] is False
