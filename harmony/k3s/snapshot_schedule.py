"""k3s's own scheduled etcd snapshots, as the data key `k3s_etcd_snapshots` (harmony.yaml:
`cluster.k3s.etcd_snapshots`) sets them: the flags every server's config.yaml gets.

k3s takes them itself (docs.k3s.io cli/etcd-snapshot): `etcd-snapshot-schedule-cron` (default
`0 */12 * * *`), `etcd-snapshot-retention` (default 5), and with `etcd-s3` a copy of each in an
S3 bucket (`etcd-s3-bucket`, `-endpoint`, `-region`, `-folder`, `-access-key`, `-secret-key`).
The S3 keys come from environment variables on the controller that the data names
(`access_key_env`, `secret_key_env`), never from the data itself; they reach the servers only in
config.yaml, which harmony writes 0600, and no message shows them. Only embedded etcd is
snapshotted: `harmony.k3s.cluster.plan` refuses the key for a cluster of one server (SQLite).
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

from harmony import shown, values
from harmony.datakeys import CONTROL, bad_value

KEY = "k3s_etcd_snapshots"
S3 = {"bucket": "etcd-s3-bucket", "endpoint": "etcd-s3-endpoint", "region": "etcd-s3-region",
      "folder": "etcd-s3-folder"}
S3_SECRETS = {"access_key_env": "etcd-s3-access-key", "secret_key_env": "etcd-s3-secret-key"}
FLAG_PREFIXES = ("etcd-snapshot", "etcd-s3", "etcd-disable-snapshots")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# robfig/cron's standard parser, which k3s uses: five fields, or a descriptor (@daily, @every 6h).
CRON = re.compile(r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every \d+[smh](\d+[smh])*"
                  r"|[0-9*/,?A-Za-z-]+( [0-9*/,?A-Za-z-]+){4})$")


def flags(data: Mapping, host_name: str) -> dict[str, Any]:
    """The config.yaml flags the data's `k3s_etcd_snapshots` makes ({} without it); BadInput names
    what is wrong."""
    given = data.get(KEY)
    if given is None:
        return {}
    if not isinstance(given, Mapping) or set(given) - {"schedule", "retention", "s3"}:
        raise bad_value(host_name, KEY, "must be a mapping of schedule, retention and s3")
    taken = sorted(k for k in (data.get("k3s_config") or {}) if str(k).rstrip("+").startswith(FLAG_PREFIXES))
    if taken:
        raise bad_value(host_name, KEY, f"and k3s_config both set snapshots ({', '.join(taken)}): keep one")
    result: dict[str, Any] = {}
    if "schedule" in given:
        schedule = given["schedule"]
        if not isinstance(schedule, str) or not CRON.fullmatch(schedule.strip()):
            raise bad_value(host_name, KEY, f"schedule {shown.value(schedule)} is not a cron spec: five fields "
                                            "(minute hour day month weekday) like '0 */6 * * *', or @daily, @every 6h")
        result["etcd-snapshot-schedule-cron"] = schedule.strip()
    if "retention" in given:
        retention = given["retention"]
        if isinstance(retention, bool) or not isinstance(retention, int) or retention < 1:
            raise bad_value(host_name, KEY, f"retention must be a whole number of snapshots, 1 or more, "
                                            f"not {shown.value(retention)}")
        result["etcd-snapshot-retention"] = retention
    if "s3" in given:
        result.update(_s3(given["s3"], host_name))
    return result


def _s3(s3: Any, host_name: str) -> dict[str, Any]:
    """The `etcd-s3*` flags: the bucket (required), where it is, and its keys read from the
    controller's environment."""
    if not isinstance(s3, Mapping) or set(s3) - set(S3) - set(S3_SECRETS) or not s3.get("bucket"):
        raise bad_value(host_name, KEY, "s3 must be a mapping with a bucket, and maybe endpoint, region, folder, "
                                        "access_key_env and secret_key_env")
    result: dict[str, Any] = {"etcd-s3": True}
    for key, flag in S3.items():
        value = s3.get(key)
        if value is None:
            continue
        problem = "must be a string" if not isinstance(value, str) else (
            values.host_problem(value) if key == "endpoint" else
            "holds a control character" if CONTROL.search(value) else None)
        if problem:
            raise bad_value(host_name, KEY, f"s3.{key} {shown.value(value)} {problem}")
        result[flag] = value
    if len(set(S3_SECRETS) & set(s3)) == 1:
        raise bad_value(host_name, KEY, "s3 needs both access_key_env and secret_key_env, or neither (k3s then "
                                        "uses the host's own credentials, an instance role)")
    for key, flag in S3_SECRETS.items():
        if key not in s3:
            continue
        variable = s3[key]
        if not isinstance(variable, str) or not VARIABLE.fullmatch(variable):
            raise bad_value(host_name, KEY, f"s3.{key} must name an environment variable, not {shown.value(variable)}")
        if not os.environ.get(variable):
            raise bad_value(host_name, KEY, f"s3.{key} names ${variable}, which is not set in harmony's environment")
        result[flag] = os.environ[variable]
    return result
