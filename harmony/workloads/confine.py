"""Every file a workload reads stays inside the project's directory (the one holding
harmony.yaml), symlinks followed: its manifests files, directories and the files in them, its
Kustomize directories and the directories they take resources from, its local chart and every
file packed from it, its values files. A path outside is bad input (exit 2) naming its key.

Why: harmony.yaml is often someone else's (a repository cloned to try it), and what a workload
reads goes to the cluster, in the clear (a values file becomes the HelmChart's valuesContent;
a manifest's objects are applied). Without this bound, `values_files: [../../.aws/credentials]`
or a symlink in a chart to ~/.ssh/id_ed25519 would send that file to whoever can read the
cluster. No key widens the bound: the file asking for more would be the file not to trust, and
the repository's root (where `find` stops) is no safe bound either, as a home directory kept in
git would make it ~. A project that shares files with another (a monorepo) keeps its
harmony.yaml in a directory holding both (`-f` names one of several such files).

Kustomize is run with its own bound (`--load-restrictor LoadRestrictionsRootOnly`: a
kustomization's files are in or below its directory, symlinks followed), which still lets it
take resources (and generators, transformers) from any directory (`resources: [../../base]`,
the usual overlay): those are walked here, every kustomization they lead to, and each must be
inside the project.
"""

from __future__ import annotations

import os
from pathlib import Path

from harmony import shown, yamlfiles
from harmony.errors import BadInput

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")  # as kustomize looks
# The fields whose entries may be directories of other kustomizations, which Kustomize loads
# with a new root each, wherever they are (its load restrictor bounds only a root's own files).
KUSTOMIZE_DIRECTORIES = ("resources", "bases", "components", "generators", "transformers", "validators")


class ProjectFiles:
    """The files of one project, each checked to be inside its directory."""

    def __init__(self, project_file: Path):
        self.project_file, self.root = project_file, project_file.parent.resolve()

    def named(self, given: str, key: str) -> Path:
        """The path harmony.yaml gives at `key` (relative to its directory, or absolute)."""
        return self.found(self.root / given, key, given)

    def found(self, path: Path, key: str, given: str | None = None) -> Path:
        """`path` (a file found in a directory the project names), resolved, symlinks followed:
        BadInput naming `key` where it is outside the project's directory."""
        resolved = Path(os.path.realpath(path))  # a symlink loop is left for reading it to refuse, not raised
        if not resolved.is_relative_to(self.root):
            what = shown.value(given if given is not None else self.relative(path))
            raise BadInput(f"{self.project_file}: {key}: {what} is outside the project's directory {self.root} "
                           "(symlinks followed): harmony reads a workload's files only from inside it; copy the "
                           "file into the project")
        return resolved

    def kustomization(self, directory: Path, key: str) -> None:
        """BadInput where the kustomization in `directory`, or one it takes resources from,
        names a local file or directory outside the project (a URL is Kustomize's to fetch)."""
        seen, todo = set(), [directory]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            file = next((current / name for name in KUSTOMIZATION_FILES if (current / name).is_file()), None)
            spec = yamlfiles.load(self.found(file, key)) if file else None
            for field in KUSTOMIZE_DIRECTORIES:
                entries = spec.get(field) if isinstance(spec, dict) else None
                for entry in entries if isinstance(entries, list) else []:
                    path = current / str(entry)
                    if not path.exists():
                        continue  # a URL, or a path Kustomize will say is missing
                    inside = self.found(path, f"{key} ({self.relative(file)}, {field})", str(entry))
                    if inside.is_dir():
                        todo.append(inside)

    def relative(self, path: Path) -> str:
        """`path` as written from the project's directory, without following its symlinks."""
        try:
            return str(path.absolute().relative_to(self.root))
        except ValueError:
            return str(path)
