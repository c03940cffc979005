"""Extracts the Videos API from OpenAI's published OpenAPI document into videos-openapi.yaml beside this file.

Source: openai/openai-openapi `openapi.yaml` (MIT licence), revision of 2026-08-21, as kept in
../shared/spec/openai-openapi.yaml of the workspace. Only the `/videos*` paths and the schemas they reference
(transitively) are kept, so the contract tests run on a clean clone without the 3 MB document.

    python tests/spec/_extract.py [path/to/openai-openapi.yaml]
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "spec" / "openai-openapi.yaml"


def refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    spec = yaml.safe_load(source.read_text())
    paths = {p: v for p, v in spec["paths"].items() if p.startswith("/videos")}
    for item in paths.values():  # drop the documentation examples (curl lines naming OpenAI's host): not contract
        for op in item.values():
            if isinstance(op, dict):
                op.pop("x-oaiMeta", None)
    schemas = spec["components"]["schemas"]
    wanted: set[str] = set()
    refs(paths, wanted)
    done: set[str] = set()
    while wanted - done:
        name = (wanted - done).pop()
        done.add(name)
        refs(schemas[name], wanted)
    out = {
        "openapi": spec["openapi"],
        "info": {"title": "OpenAI Videos API (extract)", "version": spec["info"]["version"],
                 "x-source": "openai/openai-openapi openapi.yaml, MIT licence, revision 2026-08-21"},
        "paths": paths,
        "components": {"schemas": {k: schemas[k] for k in sorted(done)}},
    }
    (HERE / "videos-openapi.yaml").write_text(yaml.safe_dump(out, sort_keys=False, width=120))


if __name__ == "__main__":
    main()
