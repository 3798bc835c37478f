"""Object names as the API validates them (apimachinery's pkg/util/validation/validation.go,
and which rule each kind uses: pkg/apis/core/validation ValidateNamespaceName (a DNS-1123
label), ValidateServiceName (a DNS-1035 label); most others NameIsDNSSubdomain), and
`generateName` (apiserver's names.SimpleNameGenerator: the prefix and 5 random characters)."""

from __future__ import annotations

import random
import re

SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
RULES = {  # kind: (regex, longest, what a bad name is told)
    "subdomain": (SUBDOMAIN, 253, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                  f"'example.com', regex used for validation is '{SUBDOMAIN}')"),
    "label": (LABEL, 63, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
              "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
              f"for validation is '{LABEL}')"),
    "dns1035": (DNS1035, 63, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                "with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                f"'abc-123', regex used for validation is '{DNS1035}')"),
}
RULE_OF_KIND = {"Namespace": "label", "Service": "dns1035"}
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # apiserver's utilrand alphabet: no vowels, no look-alikes


def problems(kind: str, name: str) -> list[tuple[str, str, str]]:
    """What is wrong with `name` for an object of `kind`, as validation errors."""
    pattern, longest, told = RULES[RULE_OF_KIND.get(kind, "subdomain")]
    found = []
    if len(name) > longest:
        found.append(("metadata.name", f'Invalid value: "{name}"', f"must be no more than {longest} characters"))
    if not re.fullmatch(pattern, name):
        found.append(("metadata.name", f'Invalid value: "{name}"', told))
    return found


def generate(prefix: str) -> str:
    """A name from `generateName`: the prefix (cut to leave room) and 5 random characters."""
    return prefix[:58] + "".join(random.choice(ALPHANUMS) for _ in range(5))
