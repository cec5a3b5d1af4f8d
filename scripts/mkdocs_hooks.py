"""MkDocs hooks of the documentation site (mkdocs.yml `hooks:`).

`OPTIONAL_PAGES` are nav entries whose file another change adds: while the
file is missing from docs/, its entry is dropped from the nav instead of
failing `mkdocs build --strict`. Every other nav entry must exist.
"""

import os

OPTIONAL_PAGES = ("large-vocabulary.md",)


def _prune(items, docs_dir):
    kept = []
    for item in items:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                value = _prune(value, docs_dir)
                if not value:
                    continue
            elif value in OPTIONAL_PAGES and not os.path.exists(
                os.path.join(docs_dir, value)
            ):
                continue
            kept.append({title: value})
        elif item in OPTIONAL_PAGES and not os.path.exists(
            os.path.join(docs_dir, item)
        ):
            continue
        else:
            kept.append(item)
    return kept


def on_config(config):
    if config["nav"]:
        config["nav"] = _prune(config["nav"], config["docs_dir"])
    return config
